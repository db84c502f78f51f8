"""Meter list layouts and scaling rules, on bodies built byte by byte."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.axdr import encode_length
from custom_components.amshan_corus.protocol.han.dlms import decode_dlms
from custom_components.amshan_corus.protocol.han.errors import DecodeError, HanError
from custom_components.amshan_corus.protocol.han.meters import decode_body

from .vectors import vector


def obis(text: str) -> bytes:
    a, rest = text.split("-")
    b, rest = rest.split(":")
    return b"\x09\x06" + bytes([int(a), int(b), *(int(x) for x in rest.split(".")), 255])


def u32(value: int) -> bytes:
    return b"\x06" + value.to_bytes(4, "big")


def i16(value: int) -> bytes:
    return b"\x10" + value.to_bytes(2, "big", signed=True)


def text(value: str, tag: int = 0x0A) -> bytes:
    return bytes([tag, len(value)]) + value.encode()


def scaler_unit(scaler: int, unit: int) -> bytes:
    return b"\x02\x02\x0f" + scaler.to_bytes(1, "big", signed=True) + b"\x16" + bytes([unit])


def structure(*items: bytes) -> bytes:
    return b"\x02" + encode_length(len(items)) + b"".join(items)


def array(*items: bytes) -> bytes:
    return b"\x01" + encode_length(len(items)) + b"".join(items)


def kamstrup(meter_type: str, *pairs: bytes) -> bytes:
    return structure(
        text("Kamstrup_V0001"),
        obis("1-1:0.0.5"),
        text("5706567000000000"),
        obis("1-1:96.1.1"),
        text(meter_type),
        *pairs,
    )


def test_kamstrup_norway_energy_in_10_wh_and_current_in_centiamperes() -> None:
    body = kamstrup(
        "6841131BN243101040", obis("1-1:31.7.0"), u32(1234), obis("1-1:1.8.0"), u32(5000)
    )
    message = decode_dlms(body)
    assert message.value("current_l1") == D("12.34")
    assert message.value("active_power_import_total") == 50000
    assert message.readings["active_power_import_total"].unit == "Wh"


def test_kamstrup_sweden_energy_in_wh() -> None:
    body = kamstrup(
        "6841138BN245101090", obis("1-1:1.8.0"), u32(38062000), obis("1-1:3.8.0"), u32(7)
    )
    message = decode_dlms(body)
    assert message.value("active_power_import_total") == 38062000  # 38062 kWh on the display
    assert message.value("reactive_power_import_total") == 7


def test_kamstrup_ct_meter_current_in_milliamperes() -> None:
    body = kamstrup("6851234BN243101040", obis("1-1:31.7.0"), u32(91000))
    assert decode_dlms(body).value("current_l1") == D("91.000")


def test_kamstrup_null_padding_is_skipped() -> None:
    body = kamstrup("6861111BN242101040", obis("1-1:31.7.0"), u32(896), *[b"\x00"] * 4)
    message = decode_dlms(body)
    assert message.value("current_l1") == D("8.96")
    assert "current_l2" not in message.readings


def test_scaler_unit_beats_manufacturer_defaults() -> None:
    body = kamstrup("6841131BN243101040", obis("1-1:31.7.0"), u32(5), scaler_unit(0, 33))
    reading = decode_dlms(body).readings["current_l1"]
    assert (reading.value, reading.unit) == (5, "A")


def test_generic_self_describing_list() -> None:
    body = array(
        structure(obis("0-0:96.1.0"), text("12345678", 0x09)),
        structure(obis("0-0:42.0.0"), text("LGZ1030012345678", 0x09)),
        structure(obis("1-0:14.7.0"), b"\x12\x13\x88", scaler_unit(-2, 44)),
        structure(obis("1-0:33.7.0"), b"\x17\x3f\x40\x00\x00", scaler_unit(0, 255)),
        structure(obis("1-0:1.8.1"), u32(123456), scaler_unit(2, 30)),
        structure(obis("1-0:32.7.0"), i16(-1), scaler_unit(-1, 35)),
        structure(obis("0-1:96.1.0"), text("GAS0001", 0x09)),
        structure(obis("7-0:3.0.0"), u32(4890857), scaler_unit(-3, 13)),
    )
    message = decode_dlms(body)
    got = {name: (r.value, r.unit, r.obis) for name, r in message.readings.items()}
    assert got == {
        "meter_id": ("12345678", None, "0-0:96.1.0"),
        "0-0:42.0.0": ("LGZ1030012345678", None, "0-0:42.0.0"),
        "frequency": (D("50.00"), "Hz", "1-0:14.7.0"),
        "power_factor_l1": (D("0.75"), None, "1-0:33.7.0"),
        "1-0:1.8.1": (12345600, "Wh", "1-0:1.8.1"),
        "voltage_l1": (D("-0.1"), "V", "1-0:32.7.0"),
        "0-1:96.1.0": ("GAS0001", None, "0-1:96.1.0"),  # the M-Bus device, not the meter
        "7-0:3.0.0": (D("4890.857"), "m3", "7-0:3.0.0"),
        "meter_manufacturer": ("Landis+Gyr", None, None),
    }


def test_first_reading_of_a_name_wins() -> None:
    body = structure(obis("0-0:96.1.0"), text("A1", 0x09), obis("0-0:96.1.1"), text("B2", 0x09))
    message = decode_dlms(body)
    assert message.value("meter_id") == "A1"
    assert message.value("0-0:96.1.1") == "B2"


def test_binary_identifiers_become_hex() -> None:
    body = structure(obis("0-0:96.1.0"), b"\x09\x03\x00\xff\x10", obis("1-0:1.7.0"), u32(1))
    assert decode_dlms(body).value("meter_id") == "00ff10"


def test_kaifa_positional_lists_need_their_types() -> None:
    assert decode_dlms(structure(u32(5852))).value("active_power_import") == 5852
    with pytest.raises(DecodeError):
        decode_dlms(structure(text("x")))
    nine = [text("KFM_001", 9), text("6970631402614476", 9), text("MA304H3E", 9)]
    nine += [u32(v) for v in (100, 0, 0, 10, 1500, 2301)]
    message = decode_dlms(structure(*nine))
    assert message.value("current_l1") == D("1.500")
    assert message.value("voltage_l1") == D("230.1")
    wrong = [*nine[:8], text("oops", 9)]
    with pytest.raises(DecodeError):
        decode_dlms(structure(*wrong))
    not_kaifa = [text("XYZ_001", 9), *nine[1:]]  # Kaifa's mA/0.1 V would be guesses here
    with pytest.raises(DecodeError, match="no known list layout"):
        decode_dlms(structure(*not_kaifa))


def test_a_clock_alone_is_no_meter_message() -> None:
    body = structure(obis("0-0:1.0.0"), b"\x09\x0c" + bytes.fromhex("07e4011502100000ff800000"))
    with pytest.raises(DecodeError, match="no meter readings"):
        decode_dlms(body)


def test_system_title_names_the_manufacturer() -> None:
    manufacturer, readings = decode_body(
        [b"\x01\x00\x01\x07\x00\xff", 5],
        local_zone=UTC,
        system_title=b"SMSgp\x04\xc4\x46",
    )
    assert manufacturer == "Siemens"
    assert readings["active_power_import"].value == 5


@settings(max_examples=300)
@given(
    st.recursive(
        st.one_of(
            st.binary(max_size=14).map(lambda b: b"\x09" + bytes([len(b)]) + b),
            st.integers(0, 2**32 - 1).map(u32),
            st.just(b"\x00"),
            st.sampled_from([obis("1-0:1.7.0"), obis("0-0:96.1.0"), obis("1-1:31.7.0")]),
            st.integers(-128, 127).map(lambda s: scaler_unit(s, 27)),
        ),
        lambda children: st.lists(children, max_size=6).map(lambda items: structure(*items)),
        max_leaves=30,
    )
)
def test_random_lists_raise_only_han_errors(body: bytes) -> None:
    try:
        message = decode_dlms(body)
    except HanError:
        return
    assert message.readings


@pytest.mark.parametrize(
    ("clock", "utc"),
    [
        ("07e4011502100000ff000000", datetime(2020, 1, 21, 15, tzinfo=UTC)),  # the vector
        ("07e40701030c0000ff000080", datetime(2020, 7, 1, 11, tzinfo=UTC)),  # summer: still UTC+1
    ],
)
def test_aidon_clock_is_norwegian_standard_time(clock: str, utc: datetime) -> None:
    """Aidon NO writes deviation 0 but means local standard time (see meters._clock)."""
    info = vector("aidon_no_list3_info").hex().replace("07e4011502100000ff000000", clock)
    message = decode_dlms(bytes.fromhex(info))
    assert message.value("meter_datetime") == utc
    assert message.manufacturer == "Aidon"
