"""Data types beyond the vectors: ranges, no-value rules, time zones, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from custom_components.amshan_corus.protocol.corus import datatypes as dt
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusDecodeError,
    CorusEncodeError,
)

OSLO = ZoneInfo("Europe/Oslo")


def test_lengths_and_names() -> None:
    lengths = {name: kind.length for name, kind in dt.DATA_TYPES.items()}
    assert lengths == {
        "Byte": 1, "Word": 2, "EWord": 3, "ULong": 4, "EULong": 5, "Float": 4, "Float1": 2,
        "Float2": 2, "Float3": 2, "Index": 8, "Index9": 9, "Date": 4, "CorusString": 8,
        "Null2": 2, "Null4": 4,
    }  # fmt: skip
    with pytest.raises(CorusDecodeError):
        dt.data_type("Double")


@pytest.mark.parametrize("kind", list(dt.DATA_TYPES.values()))
def test_wrong_length_is_a_decode_error(kind: dt.DataType) -> None:
    with pytest.raises(CorusDecodeError, match=f"{kind.length} bytes"):
        kind.decode(bytes(kind.length + 1))


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (dt.BYTE, 255),  # all-FF means no value
        (dt.BYTE, -1),
        (dt.WORD, 65535),
        (dt.WORD, Decimal("1.5")),
        (dt.EULONG, 2**40),
        (dt.FLOAT1, Decimal("-0.01")),  # raw -1 is ff ff
        (dt.FLOAT1, Decimal(400)),
        (dt.FLOAT2, Decimal(-1)),
        (dt.FLOAT2, Decimal("327.67")),  # ff ff
        (dt.FLOAT3, Decimal(1638300)),
        (dt.FLOAT, Decimal("1e39")),
        (dt.FLOAT, "1.0"),
        (dt.INDEX, Decimal(-1)),
        (dt.INDEX, Decimal(2**32)),
        (dt.DATE, datetime(1999, 12, 31)),
        (dt.DATE, "2020-01-01"),
        (dt.CORUS_STRING, "€uro"),
        (dt.WORD, True),
    ],
)
def test_unencodable_values(kind: dt.DataType, value: dt.EncodableValue) -> None:
    with pytest.raises(CorusEncodeError):
        kind.encode(value)


def test_float1_scales_by_100_and_rounds() -> None:
    assert dt.FLOAT1.encode(Decimal("21.5")) == b"\x66\x08"
    assert dt.FLOAT1.encode(21.504) == b"\x66\x08"
    assert dt.FLOAT1.decode(dt.FLOAT1.encode(Decimal("-40.25"))) == Decimal("-40.25")


def test_float2_and_float3_choose_exponents() -> None:
    assert dt.FLOAT2.encode(Decimal("45")) == bytes.fromhex("94 91")  # 4500 x 10^-2
    assert dt.FLOAT2.encode(Decimal("1.0136")) == bytes.fromhex("f6 03")  # rounded, 10^-3
    assert dt.FLOAT3.encode(Decimal(20)) == bytes.fromhex("14 40")
    assert dt.FLOAT3.encode(Decimal("0.04")) == bytes.fromhex("00 00")  # rounds to 0.0
    assert dt.FLOAT3.decode(dt.FLOAT3.encode(Decimal(1638200))) == Decimal(1638200)


def test_date_time_zones() -> None:
    data = bytes.fromhex("9b da 8e 52")  # 2020-10-07 13:42:27 converter time
    local = dt.DATE.decode(data, OSLO)
    assert local == datetime(2020, 10, 7, 13, 42, 27, tzinfo=OSLO)
    assert isinstance(local, datetime)
    assert local.utcoffset() is not None
    # Aware datetimes are converted to the converter's zone before encoding.
    assert dt.DATE.encode(datetime(2020, 10, 7, 11, 42, 27, tzinfo=UTC), OSLO) == data
    # Naive ones are taken as converter-local time.
    assert dt.DATE.encode(datetime(2020, 10, 7, 13, 42, 27), OSLO) == data


def test_invalid_dates_raise_decode_errors() -> None:
    feb30 = dt.DATE.encode(datetime(2020, 2, 28)).hex()
    raw = int.from_bytes(bytes.fromhex(feb30), "little") + (2 << 17)  # day 30
    with pytest.raises(CorusDecodeError, match="invalid Date"):
        dt.DATE.decode(raw.to_bytes(4, "little"))


def test_index_fraction_out_of_range() -> None:
    with pytest.raises(CorusDecodeError):
        dt.INDEX.decode(bytes(4) + (100_000_000).to_bytes(4, "little"))
    assert dt.INDEX.encode(Decimal("1.000000004")) == dt.INDEX.encode(Decimal(1))


def test_index_round_trips_large_values() -> None:
    value = Decimal("1099511627774.99999999")
    assert dt.INDEX9.decode(dt.INDEX9.encode(value)) == value


def test_float_decodes_to_shortest_decimal() -> None:
    for text in ("0.1", "1013.25", "288.15", "-12.34", "3.4028235E+38", "1E-45"):
        value = Decimal(text)
        assert dt.FLOAT.decode(dt.FLOAT.encode(value)) == value
    assert str(dt.FLOAT.decode(dt.FLOAT.encode(Decimal(1000)))) == "1000"


def test_null_types() -> None:
    assert dt.NULL2.encode(0) == b"\x00\x00"
    assert dt.NULL4.decode(b"\xff\xff\xff\xff") is None
