"""Corus data types, decoded and encoded with one codec (the client and the simulator share it).

Public API:
- `Value`: what a decoded value can be: `int` (Byte), `Decimal` (every other number), a
  timezone-aware `datetime` (Date), `str` (CorusString) or `None` ("no value").
- `DataType`: `name`, `length`, `decode(data, tz=UTC) -> Value`, `encode(value, tz=UTC) -> bytes`.
- The instances `BYTE, WORD, EWORD, ULONG, EULONG, FLOAT, FLOAT1, FLOAT2, FLOAT3, INDEX, INDEX9,
  DATE, CORUS_STRING, NULL2, NULL4`, and `DATA_TYPES` / `data_type(name)` to find them by the
  names the maps and layouts use ("Byte", "Float3", "CorusString"...).

Rules (everything little-endian):
- A field of all 0xFF bytes means "no value" and decodes to None; encoding None gives all 0xFF.
  An encoder never produces all 0xFF for a real value (that value is out of range).
- Numbers are exact `Decimal`s. `Float` (IEEE-754 single) decodes to the shortest decimal that
  round-trips to the same float32 (`33 13 90 43` is 288.15, not iflag's 288.149994); NaN and
  infinity decode to None, as no converter value can mean them.
- `Float1`: int16 / 100 (temperatures); encoding multiplies by 100 (iflag 1.0.1 forgets to).
- `Float2`: bits 0-14 mantissa, bit 15 selects 10^-3 (0) or 10^-2 (1) (pressures).
- `Float3`: bits 0-13 mantissa, bits 14-15 = e, value = mantissa * 10^(e - 1), i.e. 10^-1 up to
  10^2 (flow rates). iflag's docstring says e - 2, its code says e - 1; the vectors generated
  with iflag 1.0.1 (`d2 04` = 123.4) and our simulator follow the code: **e - 1**.
  Encoding Float2/Float3 picks an exact form with the exponent nearest 10^0 (20 -> `14 40`, as
  in the vectors), else rounds (half-even) with the finest exponent that fits.
- `Index` (8 bytes): uint32 integer part + uint32 fraction in units of 1e-8; `Index9` (9 bytes)
  has a 40-bit integer part.
- `Date`: uint32 bit field (seconds 0-5, minutes 6-11, hours 12-16, day 17-21, month 22-25,
  year-2000 26-31) in the converter's local time; decoded as an aware datetime in `tz` (the
  converter's timezone, a parameter). All zeros or all 0xFF decode to None; other impossible
  dates raise `CorusDecodeError`. Encoding converts aware datetimes to `tz` first and takes
  naive ones as the converter's local time; years 2000-2063.
- `CorusString`: 8 bytes latin-1, NUL padded; a longer string is refused, not truncated.
- `Null2`/`Null4`: filler; decode to None always.

Every failure is a `CorusDecodeError` (decoding) or `CorusEncodeError` (encoding).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
import math
import struct
from typing import ClassVar

from .errors import CorusDecodeError, CorusEncodeError

type Value = int | Decimal | datetime | str | None
type EncodableValue = int | float | Decimal | datetime | str | None


def tidy_decimal(value: Decimal) -> Decimal:
    """Strip trailing zeros without switching to exponent notation (1000, not 1E+3)."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0 and normal.adjusted() < 28:  # 28: precision
        return normal.quantize(Decimal(1))
    return normal


def _as_decimal(value: EncodableValue, type_name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise CorusEncodeError(f"{type_name} needs a number, got {type(value).__name__}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CorusEncodeError(f"{type_name} cannot encode {value}")
        return Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise CorusEncodeError(f"{type_name} cannot encode {value}")
    return Decimal(value)


class DataType:
    """One Corus data type: a fixed byte length and both directions of the codec."""

    name: ClassVar[str]
    length: ClassVar[int]
    is_filler: ClassVar[bool] = False  # Null2/Null4: no value, zeros in records

    def decode(self, data: bytes, tz: tzinfo = UTC) -> Value:
        """The value of `data` (exactly `length` bytes); None for "no value"."""
        if len(data) != self.length:
            raise CorusDecodeError(f"{self.name} needs {self.length} bytes, got {len(data)}")
        if data == b"\xff" * self.length:
            return None
        return self._decode(data, tz)

    def encode(self, value: EncodableValue, tz: tzinfo = UTC) -> bytes:
        """The `length` bytes of `value`; all 0xFF for None."""
        if value is None:
            return b"\xff" * self.length
        try:
            data = self._encode(value, tz)
        except (struct.error, OverflowError, InvalidOperation, ValueError) as err:
            raise CorusEncodeError(f"{self.name} cannot encode {value!r}: {err}") from err
        if data == b"\xff" * self.length:
            raise CorusEncodeError(f"{self.name} cannot encode {value!r} (reserved for no value)")
        return data

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        raise NotImplementedError

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class _Unsigned(DataType):
    """Unsigned little-endian integers (Word, EWord, ULong, EULong; Byte returns int)."""

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        return Decimal(int.from_bytes(data, "little"))

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        number = _as_decimal(value, self.name)
        if number != number.to_integral_value() or number < 0:
            raise CorusEncodeError(f"{self.name} needs a whole number >= 0, got {value}")
        return int(number).to_bytes(self.length, "little")


class ByteType(_Unsigned):
    name = "Byte"
    length = 1

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        return data[0]


class WordType(_Unsigned):
    name = "Word"
    length = 2


class EWordType(_Unsigned):
    name = "EWord"
    length = 3


class ULongType(_Unsigned):
    name = "ULong"
    length = 4


class EULongType(_Unsigned):
    name = "EULong"
    length = 5


class FloatType(DataType):
    """IEEE-754 single precision, decoded to the shortest round-tripping decimal."""

    name = "Float"
    length = 4

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        (number,) = struct.unpack("<f", data)
        if not math.isfinite(number):
            return None
        for digits in range(1, 10):
            text = f"{number:.{digits}g}"
            with suppress(OverflowError):  # rounding up near the float32 maximum
                if struct.pack("<f", float(text)) == data:
                    return tidy_decimal(Decimal(text))
        return tidy_decimal(Decimal(repr(number)))  # pragma: no cover - 9 digits always do

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        return struct.pack("<f", float(_as_decimal(value, self.name)))


def _scaled_integer(value: Decimal, exponent: int) -> Decimal:
    """`value / 10**exponent`, rounded to a whole number."""
    return value.scaleb(-exponent).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)


class Float1Type(DataType):
    """int16 hundredths (temperatures in database records)."""

    name = "Float1"
    length = 2

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        return Decimal(int.from_bytes(data, "little", signed=True)).scaleb(-2)

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        raw = int(_scaled_integer(_as_decimal(value, self.name), -2))
        return raw.to_bytes(2, "little", signed=True)


class _MantissaExponent(DataType):
    """A 2-byte mantissa with a small decimal exponent field (Float2, Float3)."""

    length = 2
    mantissa_bits: ClassVar[int]
    exponents: ClassVar[tuple[int, ...]]  # indexed by the exponent field
    _exact_order: ClassVar[tuple[int, ...]]  # fields by |exponent|

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        raw = int.from_bytes(data, "little")
        mantissa = raw & ((1 << self.mantissa_bits) - 1)
        return Decimal(mantissa).scaleb(self.exponents[raw >> self.mantissa_bits])

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        number = _as_decimal(value, self.name)
        if number < 0:
            raise CorusEncodeError(f"{self.name} cannot encode negative {value}")
        limit = (1 << self.mantissa_bits) - 1
        last = len(self.exponents) - 1
        for field in self._exact_order:  # exact: the exponent nearest 10^0 first
            scaled = number.scaleb(-self.exponents[field])
            if scaled <= limit - (field == last) and scaled == scaled.to_integral_value():
                return (int(scaled) | (field << self.mantissa_bits)).to_bytes(2, "little")
        for field, exponent in enumerate(self.exponents):  # rounded: the finest that fits
            mantissa = _scaled_integer(number, exponent)
            if mantissa <= limit - (field == last):  # the top code of the last is no value
                return (int(mantissa) | (field << self.mantissa_bits)).to_bytes(2, "little")
        raise CorusEncodeError(f"{self.name} cannot encode {value} (too large)")


class Float2Type(_MantissaExponent):
    """Pressures: 15-bit mantissa, bit 15 selects 10^-3 or 10^-2."""

    name = "Float2"
    mantissa_bits = 15
    exponents = (-3, -2)
    _exact_order = (1, 0)


class Float3Type(_MantissaExponent):
    """Flow rates: 14-bit mantissa, 2-bit field e, value = mantissa * 10^(e - 1)."""

    name = "Float3"
    mantissa_bits = 14
    exponents = (-1, 0, 1, 2)
    _exact_order = (1, 0, 2, 3)


class IndexType(DataType):
    """Volume index: unsigned integer part + uint32 fraction in units of 1e-8."""

    name = "Index"
    length = 8
    integer_length: ClassVar[int] = 4

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        integer = int.from_bytes(data[: self.integer_length], "little")
        fraction = int.from_bytes(data[self.integer_length :], "little")
        if fraction >= 100_000_000:
            raise CorusDecodeError(f"{self.name} fraction {fraction} is not below 1e8")
        return tidy_decimal(Decimal(integer) + Decimal(fraction).scaleb(-8))

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        number = _as_decimal(value, self.name)
        if number < 0:
            raise CorusEncodeError(f"{self.name} cannot encode negative {value}")
        hundred_millionths = int(_scaled_integer(number, -8))
        integer, fraction = divmod(hundred_millionths, 100_000_000)
        return integer.to_bytes(self.integer_length, "little") + fraction.to_bytes(4, "little")


class Index9Type(IndexType):
    """Volume index with a 40-bit integer part."""

    name = "Index9"
    length = 9
    integer_length = 5


class DateType(DataType):
    """Packed local date and time, see the module docstring."""

    name = "Date"
    length = 4

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        raw = int.from_bytes(data, "little")
        if raw == 0:
            return None
        try:
            return datetime(
                2000 + (raw >> 26),
                (raw >> 22) & 0x0F,
                (raw >> 17) & 0x1F,
                (raw >> 12) & 0x1F,
                (raw >> 6) & 0x3F,
                raw & 0x3F,
                tzinfo=tz,
            )
        except ValueError as err:
            raise CorusDecodeError(f"invalid Date {data.hex(' ')}: {err}") from err

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        if not isinstance(value, datetime):
            raise CorusEncodeError(f"Date needs a datetime, got {type(value).__name__}")
        local = value.astimezone(tz) if value.tzinfo is not None else value
        if not 2000 <= local.year <= 2063:
            raise CorusEncodeError(f"Date cannot encode year {local.year} (2000-2063)")
        raw = (
            (local.year - 2000) << 26
            | local.month << 22
            | local.day << 17
            | local.hour << 12
            | local.minute << 6
            | local.second
        )
        return raw.to_bytes(4, "little")


class CorusStringType(DataType):
    """8 bytes of latin-1 text, NUL padded."""

    name = "CorusString"
    length = 8

    def _decode(self, data: bytes, tz: tzinfo) -> Value:
        return data.rstrip(b"\x00").decode("latin-1")

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        if not isinstance(value, str):
            raise CorusEncodeError(f"CorusString needs a str, got {type(value).__name__}")
        data = value.encode("latin-1")  # UnicodeEncodeError is a ValueError: wrapped
        if len(data) > self.length:
            raise CorusEncodeError(f"CorusString holds 8 characters, got {len(data)}")
        return data.ljust(self.length, b"\x00")


class _Null(DataType):
    """Filler bytes without a value."""

    is_filler = True

    def decode(self, data: bytes, tz: tzinfo = UTC) -> Value:
        if len(data) != self.length:
            raise CorusDecodeError(f"{self.name} needs {self.length} bytes, got {len(data)}")
        return None

    def _encode(self, value: EncodableValue, tz: tzinfo) -> bytes:
        return b"\x00" * self.length


class Null2Type(_Null):
    name = "Null2"
    length = 2


class Null4Type(_Null):
    name = "Null4"
    length = 4


BYTE = ByteType()
WORD = WordType()
EWORD = EWordType()
ULONG = ULongType()
EULONG = EULongType()
FLOAT = FloatType()
FLOAT1 = Float1Type()
FLOAT2 = Float2Type()
FLOAT3 = Float3Type()
INDEX = IndexType()
INDEX9 = Index9Type()
DATE = DateType()
CORUS_STRING = CorusStringType()
NULL2 = Null2Type()
NULL4 = Null4Type()

DATA_TYPES: dict[str, DataType] = {
    t.name: t
    for t in (
        BYTE,
        WORD,
        EWORD,
        ULONG,
        EULONG,
        FLOAT,
        FLOAT1,
        FLOAT2,
        FLOAT3,
        INDEX,
        INDEX9,
        DATE,
        CORUS_STRING,
        NULL2,
        NULL4,
    )
}


def data_type(name: str) -> DataType:
    """The data type called `name` (as in the maps and layouts, e.g. "Float3")."""
    try:
        return DATA_TYPES[name]
    except KeyError:
        raise CorusDecodeError(f"unknown Corus data type {name!r}") from None
