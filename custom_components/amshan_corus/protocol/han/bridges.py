"""Formats that bridges and gateways wrap meter data in before it reaches us.

- ASCII-hex text (AmsToMqttBridge / amsleser "raw" mode and similar): the frame, the
  information field or a bare notification body written as hex digits, perhaps with
  whitespace, `0x` prefixes and either case.
- The Tibber Pulse envelope (firmware >= 1.2.5): a protobuf-like message whose records carry
  zlib chunks of ONE compressed stream that runs across records and messages, so decoding is
  stateful (`TibberEnvelopeDecoder`). Older firmware sends the raw HDLC frame behind a short
  prefix starting with 0x08.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
import zlib

from .errors import DecodeError

_HEX_TEXT_SEPARATORS = re.compile(rb"(?<![0-9a-fA-F])0[xX]|[\s,:]+")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\r\n")


def is_text(data: bytes) -> bool:
    """True when `data` is printable ASCII text (a candidate for hex text, or a P1 readout)."""
    return bool(data) and all(byte in _TEXT_BYTES for byte in data)


def parse_hex_text(data: bytes | str) -> bytes:
    """The bytes written as hex digits in `data`.

    Whitespace, commas, colons and `0x` prefixes are ignored; case does not matter.
    Raises `DecodeError` naming the offending character and its position in `data`.
    """
    raw = data.encode("latin-1", "replace") if isinstance(data, str) else bytes(data)
    digits = bytearray()
    position = 0
    for match in _HEX_TEXT_SEPARATORS.finditer(raw):
        digits += _check_hex(raw, position, match.start())
        position = match.end()
    digits += _check_hex(raw, position, len(raw))
    if not digits:
        raise DecodeError("no hex digits in the text")
    if len(digits) % 2:
        raise DecodeError(f"odd number of hex digits ({len(digits)}): a digit is missing")
    return bytes.fromhex(digits.decode("ascii"))


def _check_hex(raw: bytes, start: int, end: int) -> bytes:
    for index in range(start, end):
        if raw[index] not in _HEX_DIGITS:
            shown = chr(raw[index]) if 0x20 < raw[index] < 0x7F else f"0x{raw[index]:02x}"
            raise DecodeError(f"not hex text: {shown!r} at position {index}")
    return raw[start:end]


# --------------------------------------------------------------------------- Tibber Pulse

TIBBER_TAG_P1 = "P1"
TIBBER_TAG_HAN = "HAN"

_WIRE_VARINT = 0
_WIRE_FIXED64 = 1
_WIRE_BYTES = 2
_WIRE_FIXED32 = 5


@dataclass(frozen=True, slots=True)
class TibberRecord:
    """One record of a Tibber envelope: a zlib chunk from interface `tag` ("P1" or "HAN")."""

    time_ms: int | None
    tag: str
    chunk: bytes
    length: int | None


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 64, 7):
        if pos >= len(data):
            raise DecodeError("Tibber envelope: truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise DecodeError("Tibber envelope: varint longer than 64 bits")


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a protobuf message; raises `DecodeError`."""
    fields: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError(f"Tibber envelope: field number 0 at offset {pos - 1}")
        value: int | bytes
        if wire == _WIRE_VARINT:
            value, pos = _read_varint(data, pos)
        elif wire in (_WIRE_FIXED64, _WIRE_FIXED32):
            size = 8 if wire == _WIRE_FIXED64 else 4
            if pos + size > len(data):
                raise DecodeError("Tibber envelope: truncated fixed-size field")
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        elif wire == _WIRE_BYTES:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise DecodeError(f"Tibber envelope: field {number} runs past the end")
            value = data[pos : pos + size]
            pos += size
        else:
            raise DecodeError(f"Tibber envelope: unsupported wire type {wire} at offset {pos}")
        fields.append((number, wire, value))
    return fields


def parse_tibber_envelope(data: bytes) -> list[TibberRecord]:
    """The records of a batched Tibber envelope; raises `DecodeError` if it is not one."""
    records: list[TibberRecord] = []
    for number, wire, value in _fields(data):
        if number != 2 or wire != _WIRE_BYTES:
            continue
        assert isinstance(value, bytes)
        time_ms: int | None = None
        tag: str | None = None
        chunk: bytes | None = None
        length: int | None = None
        for sub_number, sub_wire, sub_value in _fields(value):
            if sub_number == 1 and sub_wire == _WIRE_FIXED64:
                assert isinstance(sub_value, int)
                time_ms = sub_value
            elif sub_number == 2 and sub_wire == _WIRE_BYTES:
                assert isinstance(sub_value, bytes)
                tag = sub_value.decode("ascii", "replace")
            elif sub_number == 3 and sub_wire == _WIRE_BYTES:
                assert isinstance(sub_value, bytes)
                chunk = sub_value
            elif sub_number == 4 and sub_wire == _WIRE_VARINT:
                assert isinstance(sub_value, int)
                length = sub_value
        if tag is None or chunk is None:
            raise DecodeError("Tibber envelope: a record without interface tag or data")
        records.append(TibberRecord(time_ms, tag, chunk, length))
    if not records:
        raise DecodeError("Tibber envelope: no records")
    return records


class TibberEnvelopeDecoder:
    """Inflates the records of successive Tibber envelopes into the meter's byte stream.

    The compressed stream spans records and messages, so one decoder must see every payload
    of a topic in order. `unwrap()` returns (interface tag, bytes) pairs; the bytes are a
    P1 readout or HDLC frame(s), to be fed into a stream decoder.
    """

    def __init__(self) -> None:
        self._inflater: zlib._Decompress | None = None

    def unwrap(self, payload: bytes) -> list[tuple[str, bytes]]:
        """The inflated data of every record in `payload`; raises `DecodeError`."""
        out: list[tuple[str, bytes]] = []
        for record in parse_tibber_envelope(payload):
            data = self._inflate(record.chunk)
            if record.length is not None and record.length != len(data):
                raise DecodeError(
                    f"Tibber envelope: record inflated to {len(data)} bytes, "
                    f"its header says {record.length}"
                )
            out.append((record.tag, data))
        return out

    def _inflate(self, chunk: bytes) -> bytes:
        if self._inflater is not None and not self._inflater.eof:
            try:
                return self._inflater.decompress(chunk)
            except zlib.error:
                self._inflater = None  # stream broken: a new one may start with this chunk
        if not _starts_zlib_stream(chunk):
            raise DecodeError(
                "Tibber envelope: compressed data continues a stream whose start was not seen"
            )
        self._inflater = zlib.decompressobj()
        try:
            return self._inflater.decompress(chunk)
        except zlib.error as err:
            self._inflater = None
            raise DecodeError(f"Tibber envelope: bad compressed data ({err})") from err


def _starts_zlib_stream(chunk: bytes) -> bool:
    return (
        len(chunk) >= 2
        and chunk[0] & 0x0F == 8
        and chunk[0] >> 4 <= 7
        and (chunk[0] << 8 | chunk[1]) % 31 == 0
    )


def strip_tibber_prefix(payload: bytes) -> bytes | None:
    """The raw HDLC frame behind the short 0x08 prefix of the non-batched HAN variant."""
    if payload[:1] != b"\x08":
        return None
    start = payload.find(b"\x7e", 1, 64)
    return payload[start:] if start > 0 else None
