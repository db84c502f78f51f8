"""Bridge formats: ASCII-hex text (AmsToMqttBridge raw mode) and the Tibber Pulse envelope."""

from __future__ import annotations

import contextlib
from decimal import Decimal
import zlib

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.bridges import (
    TibberEnvelopeDecoder,
    is_text,
    parse_hex_text,
    parse_tibber_envelope,
    strip_tibber_prefix,
)
from custom_components.amshan_corus.protocol.han.decode import PayloadDecoder, decode_any
from custom_components.amshan_corus.protocol.han.errors import DecodeError, HanError
from custom_components.amshan_corus.protocol.han.models import Source

from .vectors import vector

FRAME_7D = b"\x7e" + vector("hdlc_aidon_list1_with_7d") + b"\x7e"  # 1661 W
TIBBER_KAIFA = vector("TIB-02")  # Kaifa NO list 3, 583 W


# --------------------------------------------------------------------------- hex text


@pytest.mark.parametrize(
    "text",
    [
        "7ea02a41",
        "7EA02A41",
        "7e a0 2a 41",
        "0x7e 0xa0 0x2a 0x41",
        "0x7EA02A41",
        "7e:a0:2a:41",
        "7e,a0,2a,41",
        " 7e\ta0\r\n2a 41\n",
    ],
)
def test_hex_text_spellings(text: str) -> None:
    assert parse_hex_text(text) == b"\x7e\xa0\x2a\x41"
    assert parse_hex_text(text.encode()) == b"\x7e\xa0\x2a\x41"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zz", "not hex text: 'z' at position 0"),
        ("7ea0g1", "not hex text: 'g' at position 4"),
        ("Debug: WiFi ps disable", "not hex text: 'u' at position 3"),
        ("7ea", "odd number of hex digits"),
        ("  ", "no hex digits"),
        ('{"power": 1}', "not hex text: '{' at position 0"),
    ],
)
def test_hex_text_errors_name_the_position(text: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_hex_text(text)


def test_is_text() -> None:
    assert is_text(b"7e a0\r\n")
    assert not is_text(FRAME_7D)
    assert not is_text(b"")


@pytest.mark.parametrize(
    ("name", "watts"),
    [
        ("hdlc_aidon_list1_with_7d", 1661),  # frame without flags
        ("aidon_no_list1_info", 280),  # information field
        ("kaifa_no_list1_body", 5852),  # bare notification body
        ("TIB-02", 583),  # complete frame with flags
    ],
)
def test_decode_any_hex_text_of_every_form(name: str, watts: int) -> None:
    for text in (
        vector(name).hex(),
        vector(name).hex().upper(),
        " ".join(f"0x{b:02X}" for b in vector(name)),
    ):
        (message,) = decode_any(text.encode())
        assert message.value("active_power_import") == watts


def test_decode_any_hex_text_of_p1_readout() -> None:
    (message,) = decode_any(vector("p1_lg_e360_D").hex().encode())
    assert message.source is Source.P1
    assert message.value("active_power_import_total") == Decimal("10501.076")


def test_non_meter_text_is_a_clear_error() -> None:
    with pytest.raises(DecodeError, match="not hex text: 'u' at position 3"):
        decode_any(b"Debug: Cap voltage critical!")


# --------------------------------------------------------------------------- Tibber


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field_bytes(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _record(time_ms: int, tag: str, chunk: bytes, length: int) -> bytes:
    return (
        _varint(1 << 3 | 1)
        + time_ms.to_bytes(8, "little")
        + _field_bytes(2, tag.encode())
        + _field_bytes(3, chunk)
        + _varint(4 << 3)
        + _varint(length)
    )


class TibberPulse:
    """Builds envelopes the way the Pulse does: one zlib stream (2 KiB window) across
    records and messages, each chunk ended with a sync flush."""

    def __init__(self) -> None:
        self._zlib = zlib.compressobj(wbits=11)
        self._time = 1_700_000_000_000

    def envelope(self, *items: tuple[str, bytes]) -> bytes:
        records = b""
        for tag, data in items:
            chunk = self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
            self._time += 10_000
            records += _field_bytes(2, _record(self._time, tag, chunk, len(data)))
        return _varint(1 << 3) + _varint(7) + _varint(3 << 3) + _varint(1) + records


def test_tibber_envelope_records() -> None:
    pulse = TibberPulse()
    payload = pulse.envelope(("P1", vector("p1_lg_e360_D")), ("P1", vector("p1_ell_C")))
    records = parse_tibber_envelope(payload)
    assert [r.tag for r in records] == ["P1", "P1"]
    assert records[0].time_ms == 1_700_000_010_000
    assert records[1].length == len(vector("p1_ell_C"))
    unwrapped = TibberEnvelopeDecoder().unwrap(payload)
    assert unwrapped == [("P1", vector("p1_lg_e360_D")), ("P1", vector("p1_ell_C"))]


def test_tibber_p1_stream_across_messages() -> None:
    pulse = TibberPulse()
    first = pulse.envelope(("P1", vector("p1_lg_e360_D")), ("P1", vector("p1_ell_C")))
    second = pulse.envelope(("P1", vector("p1_kamstrup")))
    decoder = PayloadDecoder()
    assert [m.value("active_power_import_total") for m in decoder.decode(first)] == [
        Decimal("10501.076"),
        Decimal("1605.055"),
    ]
    (message,) = decoder.decode(second)
    assert message.value("active_power_import_total") == Decimal("60995.424")
    # The second message alone cannot be inflated: its stream started in the first.
    with pytest.raises(DecodeError, match="start was not seen"):
        PayloadDecoder().decode(second)


def test_tibber_han_record_with_hdlc_frame() -> None:
    payload = TibberPulse().envelope(("HAN", TIBBER_KAIFA))
    (message,) = decode_any(payload)
    assert message.source is Source.HDLC
    assert message.manufacturer == "Kaifa"
    assert message.value("active_power_import") == 583
    assert message.value("meter_id") == "6970631403757615"


def test_tibber_p1_telegram_split_over_records() -> None:
    telegram = vector("p1_lg_e360_D")
    pulse = TibberPulse()
    decoder = PayloadDecoder()
    assert decoder.decode(pulse.envelope(("P1", telegram[:300]))) == []
    (message,) = decoder.decode(pulse.envelope(("P1", telegram[300:])))
    assert message.value("active_power_import") == Decimal("2.301")


def test_tibber_non_batched_han_prefix() -> None:
    payload = b"\x08\x01\x10\x02\x1a\x03abc" + TIBBER_KAIFA
    assert strip_tibber_prefix(payload) == TIBBER_KAIFA
    (message,) = decode_any(payload)
    assert message.value("active_power_import") == 583


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x08", "truncated varint"),
        (b"\x08\x01", "no records"),
        (b"\x08\x01\x12\x05\x0a\x01", "runs past the end"),
        (b"\x08\x01\x12\x02\x08\x01", "without interface tag"),
        (b"\x08\x01\x12\x08\x12\x02P1\x1a\x02\x00\x00", "start was not seen"),
        (b"\x08\x01\x0b", "unsupported wire type"),
    ],
)
def test_tibber_errors(payload: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_any(payload)


def test_tibber_corrupt_chunk_then_new_stream_recovers() -> None:
    telegram = vector("p1_ell_C")
    decoder = PayloadDecoder()
    good = TibberPulse().envelope(("P1", telegram))
    bad = bytearray(good)
    bad[-20] ^= 0xFF  # inside the deflate data
    with contextlib.suppress(HanError):
        decoder.decode(bytes(bad))
    (message,) = decoder.decode(TibberPulse().envelope(("P1", telegram)))
    assert message.value("active_power_import_total") == Decimal("1605.055")


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_envelopes_only_han_errors(data: bytes) -> None:
    decoder = PayloadDecoder()
    with contextlib.suppress(HanError):
        decoder.decode(b"\x08" + data)
    with contextlib.suppress(HanError):
        parse_hex_text(data)


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_text_only_han_errors(text: str) -> None:
    with contextlib.suppress(HanError):
        decode_any(text.encode("utf-8"))
