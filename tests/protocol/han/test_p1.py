"""P1 / IEC 62056-21 mode D readouts: framing, CRC-16/ARC, exact values, M-Bus channels, DST."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.crc import crc16_arc
from custom_components.amshan_corus.protocol.han.errors import (
    ChecksumError,
    DecodeError,
    FrameError,
    HanError,
)
from custom_components.amshan_corus.protocol.han.models import DemandPeak, Reading, Source
from custom_components.amshan_corus.protocol.han.p1 import (
    MAX_READOUT_LENGTH,
    P1Reader,
    decode_p1,
    parse_p1_readout,
    parse_p1_timestamp,
)

from .vectors import vector

OSLO = ZoneInfo("Europe/Oslo")
P1_VECTORS = [
    "p1_lg_e360_A",
    "p1_dsmr_B",
    "p1_ell_C",
    "p1_lg_e360_D",
    "p1_kamstrup",
    "P1-01",
    "P1-02",
    "P1-03",
]


def test_crc16_arc_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D


def test_landis_gyr_e360_all_values_exact() -> None:
    message = decode_p1(vector("p1_lg_e360_D"))
    assert message.source is Source.P1
    assert message.manufacturer == "Landis+Gyr"
    readings = message.readings
    assert readings["meter_manufacturer_id"] == Reading("LGF")
    assert readings["meter_type_id"] == Reading("E360")
    assert readings["meter_datetime"].value == datetime(2022, 2, 4, 11, 6, 50, tzinfo=OSLO)
    assert readings["meter_datetime"].value.utcoffset() == timedelta(hours=1)
    expected = {
        "active_power_import_total": ("10501.076", "kWh", "1-0:1.8.0"),
        "active_power_export_total": ("0.000", "kWh", "1-0:2.8.0"),
        "reactive_power_import_total": ("1761.087", "kVArh", "1-0:3.8.0"),
        "reactive_power_export_total": ("8.391", "kVArh", "1-0:4.8.0"),
        "active_power_import": ("2.301", "kW", "1-0:1.7.0"),
        "reactive_power_import": ("0.135", "kVAr", "1-0:3.7.0"),
        "active_power_import_l1": ("0.622", "kW", "1-0:21.7.0"),
        "active_power_import_l2": ("0.667", "kW", "1-0:41.7.0"),
        "active_power_import_l3": ("1.011", "kW", "1-0:61.7.0"),
        "reactive_power_export_l1": ("0.208", "kVAr", "1-0:24.7.0"),
        "reactive_power_import_l3": ("0.486", "kVAr", "1-0:63.7.0"),
        "voltage_l1": ("232.1", "V", "1-0:32.7.0"),
        "voltage_l2": ("233.1", "V", "1-0:52.7.0"),
        "voltage_l3": ("231.9", "V", "1-0:72.7.0"),
        "current_l1": ("2.8", "A", "1-0:31.7.0"),
        "current_l2": ("2.9", "A", "1-0:51.7.0"),
        "current_l3": ("4.8", "A", "1-0:71.7.0"),
    }
    for name, (value, unit, obis) in expected.items():
        assert readings[name] == Reading(Decimal(value), unit, obis), name
    assert len(readings) == 3 + 26  # ident fields + clock, and the 26 data lines after it


def test_no_float_truncation_518_309_kvarh() -> None:
    # amshan turns this into 518308 varh; the readout says 518.309 kVArh.
    reading = decode_p1(vector("p1_lg_e360_A")).readings["reactive_power_import_total"]
    assert reading.value == Decimal("518.309")
    assert isinstance(reading.value, Decimal)
    assert reading.unit == "kVArh"


def test_kamstrup_with_leading_crlf_and_units_as_sent() -> None:
    message = decode_p1(vector("p1_kamstrup"))
    assert message.manufacturer == "Kamstrup"
    assert "meter_type_id" not in message.readings  # "/KAM5" has no identification
    assert message.readings["active_power_import_total"].value == Decimal("60995.424")
    assert message.readings["reactive_power_export_total"].value == Decimal("12541.802")
    assert message.raw.startswith(b"/KAM5\r\n")


def test_ell_lowercase_units_and_enhanced_ident() -> None:
    readings = decode_p1(vector("p1_ell_C")).readings
    assert readings["meter_type_id"].value == "53833635_A"  # after the "\2" enhanced id
    assert readings["reactive_power_export_total"] == Reading(
        Decimal("185.707"), "kvarh", "1-0:4.8.0"
    )
    assert readings["active_power_import"].value == Decimal("6.000")


def test_dsmr_gas_channel_has_its_own_timestamp_and_id() -> None:
    readings = decode_p1(vector("p1_dsmr_B")).readings
    gas = readings["gas_volume"]
    assert gas == Reading(
        Decimal("4890.857"), "m3", "0-1:24.2.1", datetime(2018, 9, 24, 13, 0, tzinfo=OSLO)
    )
    assert gas.timestamp is not None
    assert gas.timestamp.utcoffset() == timedelta(hours=2)  # S: summer time
    # 0-1:96.1.0 is the gas meter's id, hex-coded ASCII; the electricity meter's is 96.1.1.
    assert readings["gas_meter_id"].value == "G1018340158872434"
    assert readings["meter_id"] == Reading("E2206017647934515", None, "0-0:96.1.1")
    assert readings["1-0:1.8.1"] == Reading(Decimal("11522.839"), "kWh", "1-0:1.8.1")
    assert readings["current_l1"] == Reading(1, "A", "1-0:31.7.0")
    assert readings["0-0:96.14.0"].value == "0002"
    assert readings["0-0:96.13.0"].value == ""
    assert "1-0:99.97.0" not in readings  # the power-failure log is not a reading


def test_two_mbus_channels_first_unfilled() -> None:
    readings = decode_p1(vector("P1-02")).readings
    assert readings["gas_volume"] == Reading(
        Decimal("246.138"), "m3", "0-2:24.2.1", datetime(2020, 4, 26, 22, 30, 1, tzinfo=OSLO)
    )
    assert readings["gas_meter_id"] == Reading("G0039001936990619", None, "0-2:96.1.0")
    assert not any(r.obis == "0-1:24.2.1" for r in readings.values())  # (00000000): no unit
    assert readings["meter_datetime"].value == datetime(2020, 4, 26, 22, 33, 25, tzinfo=OSLO)


@pytest.mark.parametrize(
    ("name", "volume", "stamp"),
    [
        ("P1-01", "0.107", datetime(2017, 1, 2, 16, 10, 5, tzinfo=OSLO)),
        ("P1-03", "981.443", datetime(2016, 11, 29, 20, 0, 0, tzinfo=OSLO)),
    ],
)
def test_dsmr5_and_42_gas(name: str, volume: str, stamp: datetime) -> None:
    gas = decode_p1(vector(name)).readings["gas_volume"]
    assert gas.value == Decimal(volume)
    assert gas.timestamp == stamp
    assert gas.unit == "m3"


def test_water_and_heat_channels_by_device_type() -> None:
    body = (
        b"/ISK5\\2M550T-1012\r\n\r\n"
        b"0-1:24.1.0(007)\r\n0-1:96.1.0(3132)\r\n0-1:24.2.1(200426223001S)(00012.345*m3)\r\n"
        b"0-2:24.1.0(004)\r\n0-2:24.2.1(200426223001S)(01.234*GJ)\r\n"
        b"0-3:24.1.0(003)\r\n0-3:24.2.1(200426223001S)(00100.000*m3)\r\n"
        b"0-4:24.1.0(003)\r\n0-4:24.2.1(200426223001S)(00200.000*m3)\r\n!"
    )
    readout = body + f"{crc16_arc(body):04X}\r\n".encode()
    readings = decode_p1(readout).readings
    assert readings["water_volume"].value == Decimal("12.345")
    assert readings["water_meter_id"].value == "12"
    assert readings["heat_energy"] == Reading(
        Decimal("1.234"), "GJ", "0-2:24.2.1", datetime(2020, 4, 26, 22, 30, 1, tzinfo=OSLO)
    )
    assert readings["gas_volume"].obis == "0-3:24.2.1"
    assert readings["gas_volume_4"].value == Decimal("200.000")


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("231029023000S", timedelta(hours=2)),  # the first 02:30 on DST end day
        ("231029023000W", timedelta(hours=1)),  # the repeated 02:30
        ("230615120000S", timedelta(hours=2)),
        ("230115120000W", timedelta(hours=1)),
    ],
)
def test_timestamp_dst_flag_resolves_fold(text: str, offset: timedelta) -> None:
    stamp = parse_p1_timestamp(text, OSLO)
    assert stamp.utcoffset() == offset
    assert stamp.replace(tzinfo=None) == datetime.strptime(text[:12], "%y%m%d%H%M%S")


def test_timestamp_other_timezone_and_errors() -> None:
    assert parse_p1_timestamp("230115120000W", UTC) == datetime(2023, 1, 15, 12, tzinfo=UTC)
    with pytest.raises(DecodeError, match="impossible"):
        parse_p1_timestamp("231345120000W")
    with pytest.raises(DecodeError, match="not a P1 timestamp"):
        parse_p1_timestamp("2301")


def test_decode_with_timezone_parameter() -> None:
    message = decode_p1(vector("p1_lg_e360_D"), timezone=ZoneInfo("Europe/Stockholm"))
    stamp = message.readings["meter_datetime"].value
    assert isinstance(stamp, datetime)
    assert stamp.tzinfo == ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize("name", P1_VECTORS)
def test_every_vector_frames_byte_by_byte(name: str) -> None:
    data = vector(name)
    reader = P1Reader()
    readouts = [r for byte in data for r in reader.feed(bytes([byte]))]
    readouts += reader.feed(b"\r\n")  # p1_lg_e360_A ends right after its CRC
    assert len(readouts) == 1
    assert (reader.frames, reader.rejected) == (1, 0)
    assert readouts[0].crc_checked is (name != "p1_dsmr_B")  # B has a bare "!"
    assert decode_p1(readouts[0]) == decode_p1(data)


def test_crc_is_checked_and_bad_readout_is_never_decoded() -> None:
    data = bytearray(vector("p1_lg_e360_D"))
    data[data.index(b"10501.076")] = ord("2")  # 20501.076 kWh
    with pytest.raises(ChecksumError, match="8012"):
        parse_p1_readout(bytes(data))
    reader = P1Reader()
    good = vector("p1_ell_C")
    out = reader.feed(bytes(data) + good)
    assert [decode_p1(r).readings["active_power_import_total"].value for r in out] == [
        Decimal("1605.055")
    ]
    assert (reader.frames, reader.rejected) == (1, 1)
    assert isinstance(reader.last_error, ChecksumError)


def test_stream_with_garbage_truncation_and_several_readouts() -> None:
    d, c = vector("p1_lg_e360_D"), vector("p1_ell_C")
    truncated = d[: len(d) // 2]
    stream = b"\x00\xff garbage\r\n" + d + truncated + c + b"noise" + d
    reader = P1Reader()
    for chunk_size in (1, 7, 64, len(stream)):
        reader = P1Reader()
        out = [
            r
            for i in range(0, len(stream), chunk_size)
            for r in reader.feed(stream[i : i + chunk_size])
        ]
        assert [r.raw[:5] for r in out] == [b"/LGF5", b"/ELL5", b"/LGF5"]
        assert reader.rejected == 1  # the truncated readout, cut by the next "/"


def test_buffer_stays_bounded_without_end_line() -> None:
    reader = P1Reader()
    for _ in range(50):
        assert reader.feed(b"/ABC5 x\r\n" + b"1-0:1.8.0(1*kWh)\r\n" * 100) == []
        assert len(reader._buffer) <= MAX_READOUT_LENGTH + 2000
    assert reader.rejected > 0


def test_one_huge_chunk_of_starts_is_linear() -> None:
    reader = P1Reader()
    assert reader.feed(b"/ABC5" * 200_000) == []  # quadratic work here would hang the test
    assert len(reader._buffer) <= MAX_READOUT_LENGTH
    assert reader.feed(vector("p1_ell_C"))[0].raw.startswith(b"/ELL5")
    assert reader.rejected == 2  # too long, then cut by the ELL readout


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"no slash", "starts with '/'"),
        (b"/LGF5E360\r\n1-0:1.8.0(1*kWh)\r\n", "no end line"),
        (b"/LGF5E360\r\n!12", "not '!' \\+ 4 hex digits"),
        (b"/lg\r\n!\r\n", "not a P1 ident line"),
    ],
)
def test_parse_errors_are_specific(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        parse_p1_readout(data)


def test_non_ascii_value_is_a_decode_error() -> None:
    body = b"/ABC5X\r\n\r\n1-0:1.8.0(1\xe9*kWh)\r\n!"
    with pytest.raises(DecodeError, match="non-ASCII"):
        decode_p1(body + f"{crc16_arc(body):04X}".encode())


@settings(max_examples=300)
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_arbitrary_bytes_only_han_errors(data: bytes, chunk: int) -> None:
    reader = P1Reader()
    for i in range(0, len(data), chunk):
        for readout in reader.feed(data[i : i + chunk]):
            with contextlib.suppress(HanError):
                decode_p1(readout)
    with contextlib.suppress(HanError):
        decode_p1(data)


@settings(max_examples=200)
@given(
    st.lists(
        st.sampled_from(
            [
                b"/",
                b"!",
                b"\r\n",
                b"ABC5",
                b"(1*kWh)",
                b"1-0:1.8.0",
                b"A077",
                b"\x00",
                b"0-1:24.2.1(",
                b"S)",
            ]
        ),
        max_size=80,
    )
)
def test_structured_noise_only_han_errors(parts: list[bytes]) -> None:
    data = b"".join(parts)
    reader = P1Reader()
    for readout in reader.feed(data):
        with contextlib.suppress(HanError):
            decode_p1(readout)


def test_invalid_clock_is_dropped_not_the_readout() -> None:
    body = (
        b"/KFM5KAIFA-METER\r\n\r\n0-0:1.0.0(000000000000W)\r\n1-0:1.7.0(02.027*kW)\r\n"
        b"0-1:24.1.0(003)\r\n0-1:24.2.1(991399999999W)(00981.443*m3)\r\n!"
    )
    readings = decode_p1(body + f"{crc16_arc(body):04X}\r\n".encode()).readings
    assert "meter_datetime" not in readings
    assert readings["active_power_import"].value == Decimal("2.027")
    assert readings["gas_volume"] == Reading(Decimal("981.443"), "m3", "0-1:24.2.1", None)


BRUSSELS = ZoneInfo("Europe/Brussels")
# SYNTH: a Fluvius (e-MUCS, DSMR 5.0.2 based) telegram written from the public layout: version,
# meter id, clock, tariff registers, 1.4.0 quarter average, 1.6.0 month peak, 98.1.0 history,
# powers, voltages, currents, breaker, limiter, gas on channel 1 (24.2.3). CRC-16/ARC 938D.
FLUVIUS = (
    b"/FLU5\\253769484_A\r\n\r\n"
    b"0-0:96.1.4(50217)\r\n"
    b"0-0:96.1.1(3153414733313031303231363035)\r\n"
    b"0-0:1.0.0(200512135409S)\r\n"
    b"1-0:1.8.1(000000.034*kWh)\r\n1-0:1.8.2(000015.758*kWh)\r\n"
    b"1-0:2.8.1(000000.000*kWh)\r\n1-0:2.8.2(000000.011*kWh)\r\n"
    b"1-0:1.4.0(02.351*kW)\r\n"
    b"1-0:1.6.0(200509134558S)(02.589*kW)\r\n"
    b"0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)"
    b"(200401000000S)(200305122139S)(05.980*kW)(200301000000W)(200210035421W)(04.318*kW)\r\n"
    b"0-0:96.14.0(0001)\r\n1-0:1.7.0(00.000*kW)\r\n1-0:2.7.0(00.000*kW)\r\n"
    b"1-0:21.7.0(00.000*kW)\r\n1-0:41.7.0(00.000*kW)\r\n1-0:61.7.0(00.000*kW)\r\n"
    b"1-0:22.7.0(00.000*kW)\r\n1-0:42.7.0(00.000*kW)\r\n1-0:62.7.0(00.000*kW)\r\n"
    b"1-0:32.7.0(234.7*V)\r\n1-0:52.7.0(234.7*V)\r\n1-0:72.7.0(234.7*V)\r\n"
    b"1-0:31.7.0(000.00*A)\r\n1-0:51.7.0(000.00*A)\r\n1-0:71.7.0(000.00*A)\r\n"
    b"0-0:96.3.10(1)\r\n0-0:17.0.0(999.9*kW)\r\n1-0:31.4.0(999*A)\r\n0-0:96.13.0()\r\n"
    b"0-1:24.1.0(003)\r\n0-1:96.1.1(37464C4F32313139303333373333)\r\n0-1:24.4.0(1)\r\n"
    b"0-1:24.2.3(200512134558S)(00112.384*m3)\r\n"
    b"!938D\r\n"
)


def test_fluvius_telegram_demand_lines() -> None:
    assert crc16_arc(FLUVIUS[: FLUVIUS.index(b"!") + 1]) == 0x938D
    message = decode_p1(FLUVIUS, timezone=BRUSSELS)
    assert message.readings["peak_demand_current_quarter"] == Reading(
        Decimal("2.351"), "kW", "1-0:1.4.0"
    )
    assert message.readings["peak_demand_month"] == Reading(
        Decimal("2.589"), "kW", "1-0:1.6.0", datetime(2020, 5, 9, 13, 45, 58, tzinfo=BRUSSELS)
    )
    april, march, february = message.demand_history
    assert april == DemandPeak(
        Decimal("3.695"),
        "kW",
        datetime(2020, 4, 23, 19, 25, 38, tzinfo=BRUSSELS),
        datetime(2020, 5, 1, tzinfo=BRUSSELS),
    )
    assert (march.value, march.at) == (
        Decimal("5.980"),
        datetime(2020, 3, 5, 12, 21, 39, tzinfo=BRUSSELS),
    )
    assert february.period_end == datetime(2020, 3, 1, tzinfo=BRUSSELS)
    assert message.value("meter_id") == "1SAG3101021605"
    assert message.value("voltage_l1") == Decimal("234.7")
    assert message.readings["gas_volume"] == Reading(
        Decimal("112.384"),
        "m3",
        "0-1:24.2.3",
        datetime(2020, 5, 12, 13, 45, 58, tzinfo=BRUSSELS),
    )


@pytest.mark.parametrize(
    ("line", "history"),
    [
        ("0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()", ()),  # a new meter: no month closed yet
        ("0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)", ()),
        ("0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)", ()),
        ("0-0:98.1.0(1)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(3695*V)", ()),
    ],
)
def test_demand_history_edge_cases_never_break_the_readout(
    line: str, history: tuple[DemandPeak, ...]
) -> None:
    body = f"/FLU5\\253769484_A\r\n\r\n1-0:1.4.0(00.120*kW)\r\n{line}\r\n!".encode()
    message = decode_p1(body + f"{crc16_arc(body):04X}\r\n".encode(), timezone=BRUSSELS)
    assert message.demand_history == history
    assert message.value("peak_demand_current_quarter") == Decimal("0.120")
