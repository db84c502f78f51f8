"""HDLC frame parsing and the stream framer: chunking, resync, segmentation, block transfer."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.crc import crc16_x25_ok
from custom_components.amshan_corus.protocol.han.errors import ChecksumError, FrameError
from custom_components.amshan_corus.protocol.han.hdlc import (
    MAX_FRAME_LENGTH,
    HdlcFrame,
    HdlcFrameReader,
    encode_hdlc_frame as hdlc,
    parse_hdlc_frame,
)

from .vectors import all_vectors, vector

AIDON_7D = vector("hdlc_aidon_list1_with_7d")  # without flags
KAIFA_7E = vector("hdlc_kaifa_list1_with_7e")
TIBBER = vector("TIB-02")  # with flags


def _flagged(inner: bytes) -> bytes:
    return b"\x7e" + inner + b"\x7e"


def _frame_with_fcs_ending_7d() -> bytes:
    """A frame whose last byte before the closing flag is 0x7D (the anchor dropped these)."""
    for n in range(100_000):
        frame = hdlc(b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00\x01\x01" + n.to_bytes(4, "big"))
        if frame[-2] == 0x7D:
            return frame
    raise AssertionError("no such frame found")


FCS_7D = _frame_with_fcs_ending_7d()
STREAM_FRAMES = [_flagged(AIDON_7D), _flagged(KAIFA_7E), TIBBER, FCS_7D]
STREAM = b"".join(STREAM_FRAMES)


def _infos(frames: list[HdlcFrame]) -> list[bytes]:
    return [f.information for f in frames]


EXPECTED_INFOS = [parse_hdlc_frame(f).information for f in STREAM_FRAMES]


def test_parse_frame_fields_and_raw_7d_data() -> None:
    frame = parse_hdlc_frame(AIDON_7D)
    assert frame.destination == b"\x41"
    assert frame.source == b"\x08\x83"
    assert frame.control == 0x13
    assert not frame.segmentation
    assert frame.information == AIDON_7D[8:-2]  # 0x7D inside stays data
    assert frame.raw == _flagged(AIDON_7D)
    assert parse_hdlc_frame(_flagged(AIDON_7D)) == frame


def test_parse_frame_with_7e_in_information() -> None:
    frame = parse_hdlc_frame(KAIFA_7E)
    assert (frame.destination, frame.source, frame.control) == (b"\x01", b"\x02\x01", 0x10)
    assert frame.information.endswith(b"\x15\x7e")


def test_parse_frame_without_information() -> None:
    frame = parse_hdlc_frame(vector("hdlc_empty_info"))
    assert frame.information == b""
    assert parse_hdlc_frame(vector("hdlc_short_info")).information == b"\x02\x01"


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("hdlc_stuffed", FrameError),  # stuffed bytes break the length
        ("hdlc_too_short", FrameError),
        ("hdlc_abort", FrameError),
    ],
)
def test_parse_rejects_bad_vectors(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_hdlc_frame(vector(name))


def test_parse_checks_hcs_and_fcs() -> None:
    bad_hcs = bytearray(AIDON_7D)
    bad_hcs[6] ^= 0x01
    with pytest.raises(ChecksumError, match="HCS"):
        parse_hdlc_frame(bytes(bad_hcs))
    bad_fcs = bytearray(AIDON_7D)
    bad_fcs[20] ^= 0x01
    with pytest.raises(ChecksumError, match="FCS"):
        parse_hdlc_frame(bytes(bad_fcs))
    with pytest.raises(FrameError, match="format type"):
        parse_hdlc_frame(b"\xb0" + AIDON_7D[1:])


def test_frame_with_fcs_ending_in_7d_is_valid() -> None:
    assert FCS_7D[-2] == 0x7D
    reader = HdlcFrameReader()
    assert len(reader.feed(FCS_7D)) == 1
    assert reader.rejected == 0


def test_whole_stream_one_chunk() -> None:
    reader = HdlcFrameReader()
    assert _infos(reader.feed(STREAM)) == EXPECTED_INFOS
    assert (reader.frames, reader.rejected) == (4, 0)
    assert reader.buffered == 1  # the last flag may open the next frame


def test_one_byte_at_a_time() -> None:
    reader = HdlcFrameReader()
    frames = [f for i in range(len(STREAM)) for f in reader.feed(STREAM[i : i + 1])]
    assert _infos(frames) == EXPECTED_INFOS


def test_split_at_every_offset() -> None:
    for cut in range(len(STREAM) + 1):
        reader = HdlcFrameReader()
        frames = reader.feed(STREAM[:cut]) + reader.feed(STREAM[cut:])
        assert _infos(frames) == EXPECTED_INFOS, cut


def test_shared_and_repeated_flags() -> None:
    shared = _flagged(AIDON_7D) + KAIFA_7E + b"\x7e"  # 7E ... 7E ... 7E
    assert len(HdlcFrameReader().feed(shared)) == 2
    repeated = b"\x7e\x7e\x7e" + _flagged(AIDON_7D) + b"\x7e\x7e" + _flagged(KAIFA_7E)
    assert len(HdlcFrameReader().feed(repeated)) == 2


def test_start_in_the_middle_and_garbage_between() -> None:
    stream = TIBBER[40:] + b"\x00\x7e\xa0\x12garbage\x7e" + _flagged(AIDON_7D) + b"\xc3"
    reader = HdlcFrameReader()
    assert _infos(reader.feed(stream + _flagged(KAIFA_7E))) == EXPECTED_INFOS[:2]


@pytest.mark.parametrize("flip", [0x01, 0x80, 0xFF])
def test_every_frame_survives_a_corrupted_neighbour(flip: int) -> None:
    first, middle, last = _flagged(AIDON_7D), TIBBER, _flagged(KAIFA_7E)
    good = parse_hdlc_frame(middle).information
    for i in range(len(middle)):
        corrupted = bytearray(middle)
        corrupted[i] ^= flip
        reader = HdlcFrameReader()
        infos = _infos(reader.feed(first + bytes(corrupted) + last))
        assert infos[0] == EXPECTED_INFOS[0], i
        assert infos[-1] == EXPECTED_INFOS[1], i
        assert len(infos) == 2, i  # the damaged frame is never passed on
        assert good not in infos
        if 2 <= i < len(middle) - 1:  # a damaged format type is just not a frame start
            assert reader.rejected >= 1, i


def test_truncated_frame_costs_only_itself() -> None:
    for cut in range(1, len(TIBBER) - 1):
        reader = HdlcFrameReader()
        infos = _infos(reader.feed(_flagged(AIDON_7D) + TIBBER[:cut] + _flagged(KAIFA_7E)))
        assert infos == EXPECTED_INFOS[:2], cut


def test_segmented_frames_are_reassembled() -> None:
    reader = HdlcFrameReader()
    frames = reader.feed(vector("SEG-01"))
    assert len(frames) == 1
    frame = frames[0]
    assert frame.information == bytes.fromhex(all_vectors()["SEG-01"].meta["plaintext_hex"])
    assert (frame.segments, frame.segmentation, frame.control) == (3, True, 0x13)
    assert frame.raw == vector("SEG-01")
    assert reader.frames == 3


def test_lost_segment_drops_the_message_not_the_next_one() -> None:
    segments = [hdlc(b"\xe6\xe7\x00" + b"A" * 20, segmented=True), hdlc(b"B" * 20, segmented=True)]
    final = hdlc(b"C" * 20)
    damaged = bytearray(segments[1])
    damaged[15] ^= 0x10
    reader = HdlcFrameReader()
    frames = reader.feed(segments[0] + bytes(damaged) + final + _flagged(AIDON_7D))
    assert _infos(frames) == [EXPECTED_INFOS[0]]
    assert reader.rejected == 1
    assert reader.incomplete == 2  # the first segment and the orphaned final frame


def test_general_block_transfer_blocks_are_joined() -> None:
    wire = vector("ENC-02")
    reader = HdlcFrameReader()
    frames = reader.feed(wire)
    assert len(frames) == 1
    info = frames[0].information
    assert info[:4] == bytes.fromhex("e6e700db")
    assert len(info) == 3 + 0x77 + 0x7A + 0x1F  # LLC + the three blocks' data
    assert frames[0].segments == 3
    assert frames[0].raw == wire


def test_block_out_of_sequence_is_passed_on_unjoined() -> None:
    block2 = hdlc(bytes.fromhex("e0400002000003aabbcc"))
    frames = HdlcFrameReader().feed(block2)
    assert frames[0].information == bytes.fromhex("e0400002000003aabbcc")


def test_memory_is_bounded() -> None:
    reader = HdlcFrameReader()
    reader.feed(bytes(range(0x7E)) * 10_000)
    assert reader.buffered == 0
    # Flags that claim the longest frame: the buffer holds at most one frame's worth.
    claims = (b"\x7e\xa7\xff\x03\x03\x13" + bytes(200)) * 500
    for i in range(0, len(claims), 997):
        reader.feed(claims[i : i + 997])
        assert reader.buffered <= MAX_FRAME_LENGTH + 1


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=12), st.randoms(use_true_random=False))
def test_any_chunking_of_frames_and_garbage(garbage: list[bytes], rnd: object) -> None:
    parts: list[bytes] = []
    for i, junk in enumerate(garbage):
        parts += [junk, STREAM_FRAMES[i % len(STREAM_FRAMES)]]
    stream = b"".join(parts)
    reader = HdlcFrameReader()
    infos: list[bytes] = []
    pos = 0
    while pos < len(stream):
        step = rnd.randint(1, 64)  # type: ignore[attr-defined]
        infos += _infos(reader.feed(stream[pos : pos + step]))
        pos += step
    expected = [EXPECTED_INFOS[i % len(STREAM_FRAMES)] for i in range(len(garbage))]
    assert infos == expected


@settings(max_examples=400)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    reader = HdlcFrameReader()
    for frame in reader.feed(data) + reader.feed(data):
        assert crc16_x25_ok(frame.raw[1:-1])
    assert reader.buffered <= MAX_FRAME_LENGTH + 1


@settings(max_examples=200)
@given(
    st.binary(max_size=300),
    st.sampled_from([b"\x41", b"\x01", b"\xce\xff"]),
    st.sampled_from([b"\x08\x83", b"\x03", b"\x00\x02\x00\x23"]),
    st.booleans(),
)
def test_encode_parse_round_trip(
    information: bytes, destination: bytes, source: bytes, segmented: bool
) -> None:
    wire = hdlc(information, destination=destination, source=source, segmented=segmented)
    frame = parse_hdlc_frame(wire)
    assert (frame.information, frame.destination, frame.source) == (
        information,
        destination,
        source,
    )
    assert (frame.segmentation, frame.raw) == (segmented, wire)
