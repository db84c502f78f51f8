"""A-XDR data types, lengths, COSEM date-time and the unit table."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.axdr import (
    UNITS,
    Array,
    BitString,
    CosemDate,
    CosemDateTime,
    CosemTime,
    EnumValue,
    Structure,
    decode_all,
    decode_data,
    decode_length,
    encode_length,
    looks_like_date_time,
    parse_date_time,
)
from custom_components.amshan_corus.protocol.han.errors import (
    DecodeError,
    UnsupportedDataTypeError,
)

OSLO = ZoneInfo("Europe/Oslo")


@pytest.mark.parametrize(
    ("hex_data", "expected"),
    [
        ("00", None),
        ("0301", True),
        ("0300", False),
        ("05fffffffe", -2),
        ("0600000118", 280),
        ("0f80", -128),
        ("10fff6", -10),
        ("11ff", 255),
        ("12ffff", 65535),
        ("14ffffffffffffffff", -1),
        ("15ffffffffffffffff", 2**64 - 1),
        ("0d42", 42),
        ("0903414243", b"ABC"),
        ("0a0b4149444f4e5f5630303031", "AIDON_V0001"),
        ("0c03c3a67a", "æz"),
        ("173fc00000", 1.5),
        ("18bff8000000000000", -1.5),
    ],
)
def test_simple_types(hex_data: str, expected: object) -> None:
    value = decode_all(bytes.fromhex(hex_data))
    assert value == expected
    assert type(value) is type(expected)


def test_enum_bitstring_and_containers() -> None:
    value = decode_all(bytes.fromhex("0203161b040ac04001020f001121"))
    assert isinstance(value, Structure)
    assert value[0] == 27
    assert isinstance(value[0], EnumValue)
    assert value[1] == BitString(10, b"\xc0\x40")
    assert isinstance(value[2], Array)
    assert value[2] == [0, 33]


def test_dates_and_times() -> None:
    value = decode_all(bytes.fromhex("02031a07e80507021b150b14001907e30c1001073b28ff8000ff"))
    assert isinstance(value, Structure)
    assert value[0] == CosemDate(2024, 5, 7, 2)
    assert str(value[0]) == "2024-05-07"
    assert value[1] == CosemTime(21, 11, 20, 0)
    assert str(value[1]) == "21:11:20"
    assert isinstance(value[2], CosemDateTime)
    assert value[2].to_datetime(OSLO) == datetime(2019, 12, 16, 7, 59, 40, tzinfo=OSLO)


def test_lengths_short_and_long_forms() -> None:
    assert decode_length(b"\x7f", 0) == (0x7F, 1)
    assert decode_length(b"\x81\xf8", 0) == (0xF8, 2)
    assert decode_length(b"\x82\x01\xd0", 0) == (0x1D0, 3)
    for size in (0, 0x7F, 0x80, 0xF8, 0x1D0, 70000):
        assert decode_length(encode_length(size), 0)[0] == size
    with pytest.raises(DecodeError, match="0x85"):
        decode_length(b"\x85\x00\x00\x00\x00\x00", 0)
    octets = decode_all(b"\x09\x81\x80" + bytes(0x80))
    assert octets == bytes(0x80)


def test_unknown_tag_names_tag_and_offset() -> None:
    with pytest.raises(UnsupportedDataTypeError, match=r"0x13 at offset 4"):
        decode_all(bytes.fromhex("02020f001300"))


def test_truncation_and_trailing_bytes() -> None:
    with pytest.raises(DecodeError, match="double-long-unsigned at offset 1 needs 4"):
        decode_all(bytes.fromhex("06000001"))
    with pytest.raises(DecodeError, match="unexpected bytes"):
        decode_all(bytes.fromhex("0f0000"))
    with pytest.raises(DecodeError):
        decode_all(bytes.fromhex("0201"))  # structure of one, nothing follows


def test_nesting_is_limited() -> None:
    with pytest.raises(DecodeError, match="nested deeper"):
        decode_all(b"\x01\x01" * 100 + b"\x00")


def test_date_time_deviation_sign_and_unspecified_fields() -> None:
    # Kaifa SE: deviation -60 (UTC = local - 60 min) is UTC+01:00.
    kaifa = parse_date_time(bytes.fromhex("07e509160311231effffc400"))
    assert kaifa.deviation == -60
    assert kaifa.to_datetime() == datetime(
        2021, 9, 22, 17, 35, 30, tzinfo=timezone(timedelta(hours=1))
    )
    # Deviation unspecified (0x8000): the local zone applies.
    local = parse_date_time(bytes.fromhex("07e1081003100005ff800000"))
    assert local.deviation is None
    assert local.to_datetime(OSLO) == datetime(2017, 8, 16, 16, 0, 5, tzinfo=OSLO)
    assert local.to_datetime(OSLO).utcoffset() == timedelta(hours=2)
    # Unspecified hour or clock status "invalid value": no moment to publish.
    assert parse_date_time(bytes.fromhex("07e1081003ff0005ff800000")).to_datetime() is None
    assert parse_date_time(bytes.fromhex("07e1081003100005ff800001")).to_datetime() is None
    assert parse_date_time(bytes.fromhex("ffff081003100005ff800000")).date.year is None


def test_dst_bit_picks_the_repeated_hour() -> None:
    # 2024-10-27 02:30 happens twice in Oslo; the DST-active bit says which.
    summer = parse_date_time(bytes.fromhex("07e80a1b07021e00ff800080")).to_datetime(OSLO)
    winter = parse_date_time(bytes.fromhex("07e80a1b07021e00ff800000")).to_datetime(OSLO)
    assert summer is not None
    assert winter is not None
    assert summer.astimezone(UTC) == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    assert winter.astimezone(UTC) == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)


def test_twelve_ascii_digits_are_not_a_date() -> None:
    assert not looks_like_date_time(b"181220000009")
    assert looks_like_date_time(bytes.fromhex("07e4011502100000ff000000"))


def test_unit_table() -> None:
    assert [UNITS[c] for c in (27, 28, 29, 30, 31, 32, 33, 35, 44, 13)] == [
        "W", "VA", "var", "Wh", "VAh", "varh", "A", "V", "Hz", "m3",
    ]  # fmt: skip
    assert 255 not in UNITS


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_errors(data: bytes) -> None:
    with contextlib.suppress(DecodeError):  # nothing else may come out
        decode_data(data)


@settings(max_examples=500)
@given(st.binary(min_size=12, max_size=12))
def test_any_date_time_bytes_give_a_moment_or_none(raw: bytes) -> None:
    value = parse_date_time(raw)
    for zone in (OSLO, UTC):
        moment = value.to_datetime(zone)
        assert moment is None or moment.tzinfo is not None
    assert parse_date_time(bytes.fromhex("07e4011502100000ff7fff00")).to_datetime() is None
