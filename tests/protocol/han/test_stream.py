"""The combined stream decoder and decode_any: chunkings, noise, corruption, lock-on, keys."""

from __future__ import annotations

import contextlib
from decimal import Decimal
import random

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.decode import decode_any
from custom_components.amshan_corus.protocol.han.errors import (
    ChecksumError,
    DecodeError,
    FrameError,
    HanError,
    KeyRequiredError,
    WrongKeyError,
)
from custom_components.amshan_corus.protocol.han.models import MeterMessage, Source
from custom_components.amshan_corus.protocol.han.stream import (
    RELOCK_AFTER_BYTES,
    MeterStreamDecoder,
    StreamFormat,
)

from .vectors import vector, vector_keys

FRAME_7D = b"\x7e" + vector("hdlc_aidon_list1_with_7d") + b"\x7e"  # Aidon list 1, 1661 W
FRAME_7E = b"\x7e" + vector("hdlc_kaifa_list1_with_7e") + b"\x7e"  # Kaifa list 1, 5502 W
KAIFA_LIST3 = vector("TIB-02")  # Kaifa NO list 3, 583 W
SEGMENTED = vector("SEG-01")  # 3 HDLC frames, one message, 182 W
HDLC_STREAM = [(FRAME_7D, 1661), (FRAME_7E, 5502), (KAIFA_LIST3, 583), (SEGMENTED, 182)]
NOISE = bytes(random.Random(7).randrange(256) for _ in range(300)).replace(b"\x7e", b"\x55")


def _feed(decoder: MeterStreamDecoder, data: bytes, chunk: int) -> list[MeterMessage]:
    return [m for i in range(0, len(data), chunk) for m in decoder.feed(data[i : i + chunk])]


def _powers(messages: list[MeterMessage]) -> list[object]:
    return [m.value("active_power_import") for m in messages]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000])
def test_hdlc_stream_in_any_chunking(chunk: int) -> None:
    data = b"".join(frame for frame, _ in HDLC_STREAM) * 3
    decoder = MeterStreamDecoder()
    messages = _feed(decoder, data, chunk)
    assert _powers(messages) == [w for _, w in HDLC_STREAM] * 3
    assert all(m.source is Source.HDLC for m in messages)
    assert decoder.format is StreamFormat.HDLC
    assert (decoder.bytes, decoder.messages, decoder.rejected, decoder.decode_errors) == (
        len(data),
        12,
        0,
        0,
    )
    assert decoder.frames == 3 * 6  # the segmented message is 3 frames


def test_split_at_every_offset() -> None:
    data = FRAME_7D + KAIFA_LIST3 + FRAME_7E
    for split in range(len(data) + 1):
        decoder = MeterStreamDecoder()
        messages = decoder.feed(data[:split]) + decoder.feed(data[split:])
        assert _powers(messages) == [1661, 583, 5502], split


@pytest.mark.parametrize(
    ("names", "keys"),
    [(("p1_lg_e360_D", "p1_ell_C"), None), (("ENC-11", "ENC-11"), "ENC-11")],
)
def test_p1_and_mbus_split_at_every_offset(names: tuple[str, str], keys: str | None) -> None:
    data = vector(names[0]) + vector(names[1])
    for split in range(0, len(data) + 1, 3):
        decoder = MeterStreamDecoder(keys=vector_keys(keys) if keys else None)
        messages = decoder.feed(data[:split]) + decoder.feed(data[split:])
        assert len(messages) == 2, split
        assert decoder.rejected == 0


def test_garbage_between_frames_and_before_lock() -> None:
    data = NOISE + FRAME_7D + NOISE[:50] + FRAME_7E + b"\x7e\x7e\x7e" + KAIFA_LIST3 + NOISE
    decoder = MeterStreamDecoder()
    assert _powers(_feed(decoder, data, 5)) == [1661, 5502, 583]


def test_corrupt_frame_is_counted_and_never_published() -> None:
    for position in range(1, len(FRAME_7E) - 1):
        corrupt = bytearray(FRAME_7E)
        corrupt[position] ^= 0x01
        decoder = MeterStreamDecoder()
        messages = decoder.feed(FRAME_7D + bytes(corrupt) + FRAME_7E + FRAME_7D)
        # The damaged frame is dropped; the intact frames around it all come through.
        assert _powers(messages) == [1661, 5502, 1661], position
        assert decoder.rejected >= 1


def test_truncated_frame_then_intact_frames() -> None:
    for cut in (3, 10, len(KAIFA_LIST3) // 2, len(KAIFA_LIST3) - 2):
        decoder = MeterStreamDecoder()
        messages = decoder.feed(FRAME_7D + KAIFA_LIST3[:cut] + FRAME_7E + KAIFA_LIST3)
        assert _powers(messages)[0] == 1661
        assert _powers(messages)[-1] == 583
        assert 5502 in _powers(messages) or decoder.rejected >= 1


def test_p1_stream_locks_after_mixed_noise() -> None:
    readouts = [vector("p1_lg_e360_D"), vector("p1_ell_C"), vector("p1_kamstrup")]
    # Binary noise, a stray HDLC-looking start and M-Bus start bytes before the P1 data.
    data = NOISE + b"\x7e\xa0\x2a\x41\x68\x10\x10\x68" + NOISE + b"".join(readouts) * 2
    decoder = MeterStreamDecoder()
    messages = _feed(decoder, data, 13)
    assert [m.value("active_power_import_total") for m in messages] == [
        Decimal("10501.076"),
        Decimal("1605.055"),
        Decimal("60995.424"),
    ] * 2
    assert decoder.format is StreamFormat.P1
    assert all(m.source is Source.P1 for m in messages)


def test_mbus_stream_with_key() -> None:
    data = vector("ENC-11") * 3
    decoder = MeterStreamDecoder(keys=vector_keys("ENC-11"))
    messages = _feed(decoder, data, 17)
    assert len(messages) == 3
    assert decoder.format is StreamFormat.MBUS
    assert messages[0].source is Source.MBUS
    assert messages[0].value("active_power_import_total") == 12937


def test_encrypted_hdlc_right_key() -> None:
    decoder = MeterStreamDecoder(keys=vector_keys("ENC-01"))
    (message,) = decoder.feed(vector("ENC-01"))
    assert message.manufacturer == "Kamstrup"
    assert message.value("active_power_import") == 1083


def test_wrong_and_missing_key_are_reported() -> None:
    decoder = MeterStreamDecoder(keys=vector_keys("ENC-14"))  # another meter's key
    assert decoder.feed(vector("ENC-01")) == []
    assert (decoder.frames, decoder.rejected, decoder.decode_errors) == (1, 0, 1)
    assert isinstance(decoder.last_error, WrongKeyError)
    decoder = MeterStreamDecoder()
    assert decoder.feed(vector("ENC-25")) == []
    assert isinstance(decoder.last_error, KeyRequiredError)


def test_garbage_never_grows_memory() -> None:
    rnd = random.Random(3)
    decoder = MeterStreamDecoder()
    for _ in range(300):
        assert decoder.feed(bytes(rnd.randrange(256) for _ in range(1024))) == []
    buffered = sum(
        len(getattr(channel.framer, name))
        for channel in decoder._channels.values()
        for name in ("_buf", "_buffer")
        if hasattr(channel.framer, name)
    )
    assert buffered < 3 * 8192
    assert decoder.messages == 0
    assert decoder.format is None


def test_relock_when_the_format_changes() -> None:
    decoder = MeterStreamDecoder()
    assert _powers(decoder.feed(FRAME_7D)) == [1661]
    assert decoder.format is StreamFormat.HDLC
    readout = vector("p1_lg_e360_D")
    messages: list[MeterMessage] = []
    for _ in range(RELOCK_AFTER_BYTES // len(readout) + 3):
        messages += decoder.feed(readout)
    assert decoder.format is StreamFormat.P1
    assert messages
    assert messages[-1].value("active_power_import") == Decimal("2.301")


# --------------------------------------------------------------------------- decode_any


@pytest.mark.parametrize(
    ("data", "watts", "source"),
    [
        (FRAME_7D, 1661, Source.HDLC),  # frame with flags
        (vector("hdlc_aidon_list1_with_7d"), 1661, Source.HDLC),  # without flags
        (vector("aidon_no_list1_info"), 280, Source.DLMS),  # information field
        (vector("aidon_no_list1_info")[3:], 280, Source.DLMS),  # bare APDU
        (vector("kaifa_no_list1_body"), 5852, Source.DLMS),  # bare notification body
        (SEGMENTED, 182, Source.HDLC),  # three segments of one message
    ],
)
def test_decode_any_forms(data: bytes, watts: int, source: Source) -> None:
    (message,) = decode_any(data)
    assert message.value("active_power_import") == watts
    assert message.source is source


def test_decode_any_mbus_and_encrypted() -> None:
    (message,) = decode_any(vector("ENC-12"), keys=vector_keys("ENC-12"))
    assert message.source is Source.MBUS
    assert message.value("voltage_l1") == Decimal("230.8")
    (message,) = decode_any(vector("ENC-01"), keys=vector_keys("ENC-01"))
    assert (message.source, message.value("active_power_import")) == (Source.HDLC, 1083)


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"", DecodeError, "empty"),
        (b"\x02\x01", DecodeError, "offset 2"),
        (FRAME_7E[:-3] + b"\x00\x00\x7e", ChecksumError, "FCS"),
        (FRAME_7D[:20], FrameError, "length field says 42 bytes, the frame has 19"),
        (vector("ENC-11")[:-3] + b"\x00\x00\x16", FrameError, "M-Bus"),
        (b"/LGF5E360\r\n!FFFF\r\n", ChecksumError, "P1 readout CRC"),
    ],
)
def test_decode_any_errors(data: bytes, error: type[HanError], message: str) -> None:
    with pytest.raises(error, match=message):
        decode_any(data)


def test_decode_any_needs_key() -> None:
    with pytest.raises(KeyRequiredError):
        decode_any(vector("ENC-14"))


# --------------------------------------------------------------------------- properties


@settings(max_examples=300)
@given(st.binary(max_size=800), st.integers(min_value=1, max_value=97))
def test_arbitrary_bytes_in_any_chunking_only_counts(data: bytes, chunk: int) -> None:
    decoder = MeterStreamDecoder()
    for i in range(0, len(data), chunk):
        decoder.feed(data[i : i + chunk])
    assert decoder.bytes == len(data)


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from([FRAME_7D, FRAME_7E, KAIFA_LIST3, b"\x7e", b"\x68", b"/", b"!", NOISE[:9]])
        | st.binary(max_size=12),
        max_size=20,
    ),
    st.integers(min_value=1, max_value=64),
)
def test_frames_mixed_with_noise_decode_only_true_values(parts: list[bytes], chunk: int) -> None:
    decoder = MeterStreamDecoder()
    data = b"".join(parts)
    for message in _feed(decoder, data, chunk):
        assert message.value("active_power_import") in (1661, 5502, 583)


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_decode_any_arbitrary_bytes_only_han_errors(data: bytes) -> None:
    for prefix in (b"", b"\x7e", b"\x68", b"\xe6\xe7\x00", b"\x0f", b"\xdb\x08", b"/ABC5"):
        with contextlib.suppress(HanError):
            decode_any(prefix + data)


def test_decode_any_truncated_frame_without_flags_says_why() -> None:
    with pytest.raises(FrameError, match="length field says 42 bytes, the frame has 30"):
        decode_any(vector("hdlc_aidon_list1_with_7d")[:30])
