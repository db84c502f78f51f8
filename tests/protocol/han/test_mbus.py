"""M-Bus long-frame transport of DLMS APDUs."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from custom_components.amshan_corus.protocol.han.mbus import (
    MbusFrameReader,
    encode_mbus_frame as mbus,
)

from .vectors import vector

ENC_11 = vector("ENC-11")  # 2 frames: CI 00 (first), CI 11 (last, sequence 1)
ENC_12 = vector("ENC-12")


def test_two_segments_are_joined() -> None:
    reader = MbusFrameReader()
    frames = reader.feed(ENC_11)
    assert len(frames) == 1
    frame = frames[0]
    assert frame.apdu[:2] == b"\xdb\x08"
    # 250-5 and 20-5 data bytes after C, A, CI and the 01 67 addresses
    assert len(frame.apdu) == 245 + 15
    assert (frame.control, frame.address, frame.ci, frame.segments) == (0x53, 0xFF, 0x11, 2)
    assert frame.raw == ENC_11
    assert (reader.frames, reader.rejected, reader.buffered) == (2, 0, 0)


def test_single_frame_and_any_chunking() -> None:
    single = mbus(b"\x0f\x00\x00\x00\x01\x00\x02\x00", ci=0x10)
    stream = ENC_11 + b"\x00\x16garbage" + single + ENC_12
    for step in (1, 2, 7, 100, len(stream)):
        reader = MbusFrameReader()
        frames = [f for i in range(0, len(stream), step) for f in reader.feed(stream[i : i + step])]
        assert [f.segments for f in frames] == [2, 1, 2], step
        assert frames[1].apdu == b"\x0f\x00\x00\x00\x01\x00\x02\x00"


def test_bad_checksum_drops_the_message_and_resyncs() -> None:
    damaged = bytearray(ENC_11)
    damaged[100] ^= 0x01
    reader = MbusFrameReader()
    frames = reader.feed(bytes(damaged) + ENC_12)
    assert [f.apdu[:3] for f in frames] == [ENC_12[9:12]]
    assert reader.rejected == 1
    assert reader.incomplete == 1  # the last segment of the damaged message


def test_non_dlms_frames_are_ignored() -> None:
    reader = MbusFrameReader()
    assert reader.feed(mbus(b"\x00" * 8, ci=0x72)) == []
    assert reader.ignored == 1


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    reader = MbusFrameReader()
    reader.feed(data)
    reader.feed(ENC_11)
    assert reader.buffered <= 4 + 255 + 1  # at most one frame, less its last byte
