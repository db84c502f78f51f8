"""A-XDR decoding of DLMS/COSEM `Data` values (IEC 62056-6-2 / Blue Book), plus the unit table.

`decode_data(buf)` turns the bytes of one tagged value into Python values:

| tag | A-XDR type | Python |
|---|---|---|
| 00 | null-data | None |
| 01 / 02 | array / structure | `Array` / `Structure` (lists) |
| 03 | boolean | bool |
| 04 | bit-string | `BitString` |
| 05 06 0F 10 11 12 14 15 | the integer types (double-long ... long64-unsigned) | int |
| 09 | octet-string | bytes |
| 0A / 0C | visible-string / utf8-string | str |
| 0D | bcd | int |
| 16 | enum | `EnumValue` (an int) |
| 17 / 18 | float32 / float64 | float |
| 19 / 1A / 1B | date-time / date / time | `CosemDateTime` / `CosemDate` / `CosemTime` |

Anything else raises `UnsupportedDataTypeError` naming the tag and its byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import IntEnum
import struct
from typing import Final

from .errors import DecodeError, UnsupportedDataTypeError


class DataType(IntEnum):
    """A-XDR `Data` CHOICE tags."""

    NULL_DATA = 0x00
    ARRAY = 0x01
    STRUCTURE = 0x02
    BOOLEAN = 0x03
    BIT_STRING = 0x04
    DOUBLE_LONG = 0x05
    DOUBLE_LONG_UNSIGNED = 0x06
    OCTET_STRING = 0x09
    VISIBLE_STRING = 0x0A
    UTF8_STRING = 0x0C
    BCD = 0x0D
    INTEGER = 0x0F
    LONG = 0x10
    UNSIGNED = 0x11
    LONG_UNSIGNED = 0x12
    LONG64 = 0x14
    LONG64_UNSIGNED = 0x15
    ENUM = 0x16
    FLOAT32 = 0x17
    FLOAT64 = 0x18
    DATE_TIME = 0x19
    DATE = 0x1A
    TIME = 0x1B


# DLMS physical unit enumeration (Blue Book, class 3 scaler_unit) -> the meter's unit symbol.
# 255 "count" and 254 "other" have no symbol (None).
UNITS: Final[dict[int, str]] = {
    1: "a",
    2: "mo",
    3: "wk",
    4: "d",
    5: "h",
    6: "min",
    7: "s",
    8: "°",
    9: "°C",
    10: "currency",
    11: "m",
    12: "m/s",
    13: "m3",
    14: "m3",  # corrected volume
    15: "m3/h",
    16: "m3/h",  # corrected volume flux
    17: "m3/d",
    18: "m3/d",  # corrected
    19: "l",
    20: "kg",
    21: "N",
    22: "Nm",
    23: "Pa",
    24: "bar",
    25: "J",
    26: "J/h",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    34: "C",
    35: "V",
    36: "V/m",
    37: "F",
    38: "Ω",
    39: "Ωm2/m",
    40: "Wb",
    41: "T",
    42: "A/m",
    43: "H",
    44: "Hz",
    45: "1/(Wh)",
    46: "1/(varh)",
    47: "1/(VAh)",
    48: "V2h",
    49: "A2h",
    50: "kg/s",
    51: "S",
    52: "K",
    53: "1/(V2h)",
    54: "1/(A2h)",
    55: "1/m3",
    56: "%",
    57: "Ah",
    60: "Wh/m3",
    61: "J/m3",
    62: "Mol %",
    63: "g/m3",
    64: "Pa s",
    65: "J/kg",
    66: "g/cm2",
    67: "atm",
    70: "dBm",
    71: "dBµV",
    72: "dB",
}


def unit_symbol(code: int) -> str | None:
    """The symbol of DLMS unit `code`, or None for count/other/unknown codes."""
    return UNITS.get(code)


class EnumValue(int):
    """An A-XDR `enum` (kept apart from plain integers so scaler_unit can be recognised)."""

    __slots__ = ()


class Array(list["Data"]):
    """An A-XDR `array`."""

    __slots__ = ()


class Structure(list["Data"]):
    """An A-XDR `structure`."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class BitString:
    """An A-XDR bit-string: `length` bits, first bit is the most significant of `data[0]`."""

    length: int
    data: bytes


@dataclass(frozen=True, slots=True)
class CosemDate:
    """COSEM date (5 bytes); None marks a field the meter left unspecified."""

    year: int | None
    month: int | None
    day: int | None
    weekday: int | None

    def __str__(self) -> str:
        return f"{_field(self.year, 4)}-{_field(self.month, 2)}-{_field(self.day, 2)}"


@dataclass(frozen=True, slots=True)
class CosemTime:
    """COSEM time (4 bytes); None marks a field the meter left unspecified."""

    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None

    def __str__(self) -> str:
        return f"{_field(self.hour, 2)}:{_field(self.minute, 2)}:{_field(self.second, 2)}"


def _field(value: int | None, width: int) -> str:
    return "?" * width if value is None else f"{value:0{width}d}"


# Clock status bits (Blue Book 4.1.6.1); 0xFF means "not specified".
CLOCK_INVALID: Final = 0x01
CLOCK_DOUBTFUL: Final = 0x02
CLOCK_DIFFERENT_BASE: Final = 0x04
CLOCK_STATUS_INVALID: Final = 0x08
CLOCK_DST_ACTIVE: Final = 0x80


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """COSEM date-time (12 bytes).

    `deviation` is the Blue Book's "minutes of local time to UTC" (UTC = local + deviation),
    None when unspecified (0x8000). `clock_status` is None when unspecified (0xFF).
    """

    date: CosemDate
    time: CosemTime
    deviation: int | None
    clock_status: int | None

    def to_datetime(self, local_zone: tzinfo = UTC) -> datetime | None:
        """The moment as an aware datetime, or None when it is not a complete valid moment.

        `local_zone` is used only when the deviation is unspecified. A clock status with the
        invalid bit set, or an unspecified year/month/day/hour/minute, gives None: such a value
        is not a moment we can publish.
        """
        d, t = self.date, self.time
        if (
            d.year is None
            or d.month is None
            or d.day is None
            or t.hour is None
            or t.minute is None
            or (self.clock_status is not None and self.clock_status & CLOCK_INVALID)
        ):
            return None
        zone: tzinfo
        if self.deviation is None:
            zone = local_zone
        elif -720 <= self.deviation <= 720:  # the Blue Book's range: +-12 h
            zone = timezone(timedelta(minutes=-self.deviation))
        else:
            return None
        # In the repeated hour when DST ends, the DST bit says which of the two it is.
        fold = 0
        if self.clock_status is not None and not self.clock_status & CLOCK_DST_ACTIVE:
            fold = 1
        try:
            return datetime(
                d.year,
                d.month,
                d.day,
                t.hour,
                t.minute,
                t.second or 0,
                (t.hundredths or 0) * 10_000,
                tzinfo=zone,
                fold=fold,
            )
        except ValueError:
            return None


type Data = (
    None
    | bool
    | int
    | float
    | bytes
    | str
    | BitString
    | CosemDate
    | CosemTime
    | CosemDateTime
    | Array
    | Structure
)

_U16: Final = struct.Struct(">H")
_I16: Final = struct.Struct(">h")
# Fixed-size types: tag -> (size, unpacker, name for messages). Plain ints keep the hot
# path free of enum attribute lookups.
_FIXED: Final[dict[int, tuple[int, struct.Struct, str]]] = {
    0x05: (4, struct.Struct(">i"), "double-long"),
    0x06: (4, struct.Struct(">I"), "double-long-unsigned"),
    0x0F: (1, struct.Struct(">b"), "integer"),
    0x10: (2, struct.Struct(">h"), "long"),
    0x11: (1, struct.Struct(">B"), "unsigned"),
    0x12: (2, struct.Struct(">H"), "long-unsigned"),
    0x14: (8, struct.Struct(">q"), "long64"),
    0x15: (8, struct.Struct(">Q"), "long64-unsigned"),
    0x17: (4, struct.Struct(">f"), "float32"),
    0x18: (8, struct.Struct(">d"), "float64"),
}
_STRUCTURE: Final = 0x02
_OCTET_STRING: Final = 0x09
_UTF8_STRING: Final = 0x0C
MAX_DEPTH: Final = 16


def _need(buf: bytes, offset: int, size: int, what: str) -> None:
    if offset + size > len(buf):
        raise DecodeError(
            f"{what} at offset {offset} needs {size} bytes, only {max(len(buf) - offset, 0)} left"
        )


def decode_length(buf: bytes, offset: int) -> tuple[int, int]:
    """An A-XDR length (short form < 0x80, or 0x81..0x84 + that many bytes) -> (length, end)."""
    _need(buf, offset, 1, "length")
    first = buf[offset]
    if first < 0x80:
        return first, offset + 1
    size = first & 0x7F
    if not 1 <= size <= 4:
        raise DecodeError(f"invalid A-XDR length byte 0x{first:02X} at offset {offset}")
    _need(buf, offset + 1, size, "long-form length")
    return int.from_bytes(buf[offset + 1 : offset + 1 + size], "big"), offset + 1 + size


def encode_length(size: int) -> bytes:
    """An A-XDR length field (short form below 0x80)."""
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def parse_date(raw: bytes) -> CosemDate:
    """COSEM date from its 5 bytes."""
    year = _U16.unpack_from(raw)[0]
    return CosemDate(
        None if year == 0xFFFF else year,
        None if raw[2] >= 0xFD else raw[2],  # FD/FE: DST end/begin month
        None if raw[3] >= 0xFD else raw[3],  # FD/FE: second-last/last day
        None if raw[4] == 0xFF else raw[4],
    )


def parse_time(raw: bytes) -> CosemTime:
    """COSEM time from its 4 bytes."""
    return CosemTime(*(None if b == 0xFF else b for b in raw[:4]))


def parse_date_time(raw: bytes) -> CosemDateTime:
    """COSEM date-time from its 12 bytes (raises DecodeError for another length)."""
    if len(raw) != 12:
        raise DecodeError(f"a COSEM date-time has 12 bytes, got {len(raw)}")
    deviation = _I16.unpack_from(raw, 9)[0]
    return CosemDateTime(
        parse_date(raw[0:5]),
        parse_time(raw[5:9]),
        None if deviation == -0x8000 else deviation,
        None if raw[11] == 0xFF else raw[11],
    )


def looks_like_date_time(raw: bytes) -> bool:
    """Whether 12 bytes are a plausible COSEM date-time (not, say, 12 ASCII digits)."""
    if len(raw) != 12:
        return False
    month, day, weekday, hour, minute, second, hundredths = raw[2:9]
    deviation = _I16.unpack_from(raw, 9)[0]
    return (
        (1 <= month <= 12 or month >= 0xFD)
        and (1 <= day <= 31 or day >= 0xFD)
        and (1 <= weekday <= 7 or weekday == 0xFF)
        and (hour <= 23 or hour == 0xFF)
        and (minute <= 59 or minute == 0xFF)
        and (second <= 59 or second == 0xFF)
        and (hundredths <= 99 or hundredths == 0xFF)
        and (-720 <= deviation <= 720 or deviation == -0x8000)
    )


def decode_data(buf: bytes, offset: int = 0, depth: int = 0) -> tuple[Data, int]:
    """Decode one tagged A-XDR value at `offset` -> (value, offset after it)."""
    return _decode(buf, offset, depth, len(buf))


def _decode(buf: bytes, offset: int, depth: int, n: int) -> tuple[Data, int]:
    if offset >= n:
        raise DecodeError(f"data tag at offset {offset} needs 1 bytes, only 0 left")
    tag = buf[offset]
    pos = offset + 1
    if tag in (0x01, 0x02):  # array, structure (literals: a constant tuple)
        if depth >= MAX_DEPTH:
            raise DecodeError(f"data nested deeper than {MAX_DEPTH} levels at offset {offset}")
        if pos < n and buf[pos] < 0x80:
            count = buf[pos]
            pos += 1
        else:
            count, pos = decode_length(buf, pos)
        items: Array | Structure = Structure() if tag == _STRUCTURE else Array()
        append = items.append
        depth += 1
        for _ in range(count):
            item, pos = _decode(buf, pos, depth, n)
            append(item)
        return items, pos
    fixed = _FIXED.get(tag)
    if fixed is not None:
        size, unpacker, name = fixed
        if pos + size > n:
            _need(buf, pos, size, name)
        return unpacker.unpack_from(buf, pos)[0], pos + size
    if tag in (0x09, 0x0A, 0x0C):  # octet-string, visible-string, utf8-string
        if pos < n and buf[pos] < 0x80:
            size = buf[pos]
            pos += 1
        else:
            size, pos = decode_length(buf, pos)
        end = pos + size
        if end > n:
            _need(buf, pos, size, "string")
        raw = bytes(buf[pos:end])
        if tag == _OCTET_STRING:
            return raw, end
        return raw.decode("utf-8" if tag == _UTF8_STRING else "latin-1", errors="replace"), end
    if tag == DataType.NULL_DATA:
        return None, pos
    if tag in (DataType.ENUM, DataType.BOOLEAN, DataType.BCD):
        _need(buf, pos, 1, DataType(tag).name.lower())
        byte = buf[pos]
        if tag == DataType.ENUM:
            return EnumValue(byte), pos + 1
        if tag == DataType.BOOLEAN:
            return byte != 0, pos + 1
        return (byte >> 4) * 10 + (byte & 0x0F), pos + 1
    if tag == DataType.BIT_STRING:
        bits, pos = decode_length(buf, pos)
        size = (bits + 7) // 8
        _need(buf, pos, size, "bit-string")
        return BitString(bits, bytes(buf[pos : pos + size])), pos + size
    if tag == DataType.DATE_TIME:
        _need(buf, pos, 12, "date-time")
        return parse_date_time(bytes(buf[pos : pos + 12])), pos + 12
    if tag == DataType.DATE:
        _need(buf, pos, 5, "date")
        return parse_date(bytes(buf[pos : pos + 5])), pos + 5
    if tag == DataType.TIME:
        _need(buf, pos, 4, "time")
        return parse_time(bytes(buf[pos : pos + 4])), pos + 4
    raise UnsupportedDataTypeError(f"unsupported A-XDR data type 0x{tag:02X} at offset {offset}")


def decode_all(buf: bytes, offset: int = 0) -> Data:
    """Decode one value that must end exactly at the end of `buf`."""
    value, end = decode_data(buf, offset)
    if end != len(buf):
        raise DecodeError(f"{len(buf) - end} unexpected bytes after the data at offset {end}")
    return value
