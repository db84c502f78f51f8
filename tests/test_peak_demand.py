"""Belgian meters' own peaks as sensors: the quarter, the month's peak and its time, the
capacity tariff's 12-month average (2.5 kW floor) and this month's billed peak.

The meter is a HanSimulator on 127.0.0.1 replaying CRC-correct P1 telegrams (FAST: one every
~33 ms); Home Assistant's time zone is Brussels, whose calendar months the tariff counts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
import json
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.recorder.db_schema import StateAttributes
from homeassistant.const import CONF_HOST, CONF_PORT, EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.amshan_corus.const import CONF_SCALE_POWER, Connection
from custom_components.amshan_corus.protocol.han.simulator import Cadence, HanSimulator
from tests.conftest import (
    aidon_lists,
    meter_entry,
    sensor_state,
    setup_entry,
    unload_entry,
    wait_until,
)
from tests.protocol.han.test_p1 import FLUVIUS
from tests.test_sensor import p1_readout

pytestmark = pytest.mark.usefixtures("fast_han_timing")

BRUSSELS = ZoneInfo("Europe/Brussels")
FLUVIUS_HEADER = "FLU5\\253769484_A"
BELGIAN_KEYS = (
    "peak_demand_current_quarter",
    "peak_demand_month",
    "peak_demand_month_time",
    "peak_demand_12_month_average",
    "peak_demand_month_billed",
)
AVERAGE = "peak_demand_12_month_average"

type StartMeter = Callable[..., Awaitable[MockConfigEntry]]


@pytest.fixture(autouse=True)
async def brussels(hass: HomeAssistant) -> None:
    """A Flemish household (before any entry is set up: the decoder takes the zone then)."""
    await hass.config.async_set_time_zone("Europe/Brussels")


@pytest.fixture
async def start_meter(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[StartMeter]:
    """Start a simulator replaying `capture` and set up a HAN-over-TCP entry reading it."""
    servers: list[HanSimulator] = []
    entries: list[MockConfigEntry] = []

    async def start(
        capture: bytes, unique_id: str, options: dict[str, Any] | None = None
    ) -> MockConfigEntry:
        server = HanSimulator("127.0.0.1", 0, capture=capture, cadence=Cadence.FAST)
        await server.start()
        servers.append(server)
        entry = meter_entry(
            Connection.HAN_TCP, unique_id, **{CONF_HOST: "127.0.0.1", CONF_PORT: server.port}
        )
        entry.add_to_hass(hass)
        if options:
            hass.config_entries.async_update_entry(entry, options=options)
        await setup_entry(hass, entry)
        entries.append(entry)
        return entry

    yield start
    for entry in entries:
        await unload_entry(hass, entry)
    for server in servers:
        await server.stop()


def stamp(moment: datetime) -> str:
    """A P1 timestamp (YYMMDDhhmmss + S summer / W winter) of a Brussels wall-clock time."""
    local = moment.replace(tzinfo=BRUSSELS)
    return f"{local:%y%m%d%H%M%S}{'S' if local.dst() else 'W'}"


def history_line(peaks: list[tuple[date, str]]) -> str:
    """0-0:98.1.0 with one entry per (month, kW): closed at the next month's start, peak on the
    15th at 18:00 (newest first, as meters write it)."""
    entries = "".join(
        f"({stamp(datetime(month.year + month.month // 12, month.month % 12 + 1, 1))})"
        f"({stamp(datetime(month.year, month.month, 15, 18))})({value}*kW)"
        for month, value in peaks
    )
    return f"0-0:98.1.0({len(peaks)})(1-0:1.6.0)(1-0:1.6.0){entries}"


def fluvius(*lines: str, meter: str = "3153414733313031303231363036") -> bytes:
    """A Fluvius telegram (CRC-correct) with the given lines after its identification."""
    return p1_readout(
        [f"0-0:96.1.1({meter})", "0-0:1.0.0(261122040000W)", *lines], header=FLUVIUS_HEADER
    )


def states(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, str | None]:
    found = {key: sensor_state(hass, entry, key) for key in BELGIAN_KEYS}
    return {key: None if state is None else state.state for key, state in found.items()}


async def wait_for_sensors(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await wait_until(lambda: None not in states(hass, entry).values())


async def test_fluvius_meter_peaks_and_fewer_than_twelve_months(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """e-MUCS sample: May 2020's peak so far plus three closed months, four months counted."""
    entry = await start_meter(FLUVIUS, "1SAG3101021605")
    await wait_for_sensors(hass, entry)

    assert states(hass, entry) == {
        "peak_demand_current_quarter": "2.351",
        "peak_demand_month": "2.589",
        # 1-0:1.6.0(200509134558S): 13:45:58 summer time in Brussels.
        "peak_demand_month_time": "2020-05-09T11:45:58+00:00",
        # (2.589 + 3.695 + 5.980 + 4.318) / 4 = 4.1455, to the watt.
        AVERAGE: "4.146",
        "peak_demand_month_billed": "2.589",
    }
    for key in (*BELGIAN_KEYS[:2], *BELGIAN_KEYS[3:]):
        state = sensor_state(hass, entry, key)
        assert state.attributes["unit_of_measurement"] == "kW", key
        assert state.attributes["device_class"] == "power", key
        assert state.attributes["state_class"] == "measurement", key
    peak_time = sensor_state(hass, entry, "peak_demand_month_time")
    assert peak_time.attributes["device_class"] == "timestamp"
    assert "unit_of_measurement" not in peak_time.attributes
    assert "state_class" not in peak_time.attributes
    average = sensor_state(hass, entry, AVERAGE)
    months = average.attributes["months"]
    assert months[0] == {
        "month": "2020-05",
        "peak_kw": 2.589,
        "counted_kw": 2.589,
        "time": "2020-05-09T13:45:58+02:00",
    }
    assert [tuple(month.values()) for month in months[1:]] == [
        ("2020-04", 3.695, 3.695, "2020-04-23T19:25:38+02:00"),
        ("2020-03", 5.98, 5.98, "2020-03-05T12:21:39+01:00"),
        ("2020-02", 4.318, 4.318, "2020-02-10T03:54:21+01:00"),  # 200210035421W: winter time
    ]
    assert average.attributes["friendly_name"] == "Aidon 6525 Average monthly peak (12 months)"

    # All five on the meter's own device.
    registry = er.async_get(hass)
    devices = {
        registry.async_get(sensor_state(hass, entry, key).entity_id).device_id
        for key in (*BELGIAN_KEYS, "active_power_import")
    }
    assert len(devices) == 1


async def test_the_monthly_peaks_are_not_recorded(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """What the recorder stores of the average's state: its unit and class, not the months."""
    entry = await start_meter(FLUVIUS, "1SAG3101021605")
    await wait_for_sensors(hass, entry)
    state = sensor_state(hass, entry, AVERAGE)
    assert len(state.attributes["months"]) == 4
    event = Event(
        EVENT_STATE_CHANGED, {"entity_id": state.entity_id, "old_state": None, "new_state": state}
    )
    recorded = json.loads(StateAttributes.shared_attrs_bytes_from_event(event, None))
    assert recorded == {
        "state_class": "measurement",
        "unit_of_measurement": "kW",
        "device_class": "power",
        "friendly_name": "Aidon 6525 Average monthly peak (12 months)",
    }


async def test_twelve_months_with_the_floor(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """A year of history: the newest 12 months count, each at least 2.5 kW; a low month is
    billed at 2.5 kW."""
    history = [
        (date(2026, 10, 1), "04.000"),
        (date(2026, 9, 1), "02.000"),  # counts 2.5
        (date(2026, 8, 1), "03.000"),
        (date(2026, 7, 1), "01.500"),  # counts 2.5
        (date(2026, 6, 1), "05.000"),
        (date(2026, 5, 1), "02.500"),
        (date(2026, 4, 1), "06.000"),
        (date(2026, 3, 1), "03.500"),
        (date(2026, 2, 1), "02.200"),  # counts 2.5
        (date(2026, 1, 1), "07.000"),
        (date(2025, 12, 1), "04.000"),
        (date(2025, 11, 1), "02.750"),  # 13th and 14th months back: not counted
        (date(2025, 10, 1), "09.999"),
    ]
    telegram = fluvius(
        "1-0:1.8.1(001234.567*kWh)",
        "1-0:1.4.0(00.412*kW)",
        f"1-0:1.6.0({stamp(datetime(2026, 11, 5, 8, 15))})(01.100*kW)",
        history_line(history),
        "1-0:1.7.0(00.412*kW)",
    )
    entry = await start_meter(telegram, "1SAG3101021606")
    await wait_for_sensors(hass, entry)

    assert states(hass, entry) == {
        "peak_demand_current_quarter": "0.412",
        "peak_demand_month": "1.100",
        "peak_demand_month_time": "2026-11-05T07:15:00+00:00",
        # Nov 2.5 (1.1) + Oct 4 + Sep 2.5 + Aug 3 + Jul 2.5 + Jun 5 + May 2.5 + Apr 6 + Mar 3.5
        # + Feb 2.5 + Jan 7 + Dec 4 = 45 kW over 12 months.
        AVERAGE: "3.750",
        "peak_demand_month_billed": "2.500",
    }
    months = sensor_state(hass, entry, AVERAGE).attributes["months"]
    assert [item["month"] for item in months] == [
        f"{month:%Y-%m}" for month in [date(2026, 11, 1), *(m for m, _ in history[:11])]
    ]
    assert months[0] == {
        "month": "2026-11",
        "peak_kw": 1.1,
        "counted_kw": 2.5,
        "time": "2026-11-05T08:15:00+01:00",
    }
    assert months[2] == {
        "month": "2026-09",
        "peak_kw": 2.0,
        "counted_kw": 2.5,
        "time": "2026-09-15T18:00:00+02:00",
    }


async def test_a_new_meter_without_history(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """No closed month yet (a count of 0 and one empty group): the floor is the average."""
    telegram = fluvius(
        "1-0:1.4.0(00.800*kW)",
        f"1-0:1.6.0({stamp(datetime(2026, 11, 22, 7, 30))})(00.800*kW)",
        "0-0:98.1.0(0)(1-0:1.6.0)(1-0:1.6.0)()",
    )
    entry = await start_meter(telegram, "1SAG3101021607")
    await wait_for_sensors(hass, entry)
    assert states(hass, entry) == {
        "peak_demand_current_quarter": "0.800",
        "peak_demand_month": "0.800",
        "peak_demand_month_time": "2026-11-22T06:30:00+00:00",
        AVERAGE: "2.500",
        "peak_demand_month_billed": "2.500",
    }
    assert sensor_state(hass, entry, AVERAGE).attributes["months"] == [
        {"month": "2026-11", "peak_kw": 0.8, "counted_kw": 2.5, "time": "2026-11-22T07:30:00+01:00"}
    ]


async def test_history_is_kept_from_the_last_telegram_with_one(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """Telegrams with and without 0-0:98.1.0 alternate: the average never loses the history."""
    without = FLUVIUS[: FLUVIUS.index(b"0-0:98.1.0")] + FLUVIUS[FLUVIUS.index(b"0-0:96.14.0") :]
    lines = without[without.index(b"\r\n\r\n") + 4 : without.index(b"!")].decode().split("\r\n")
    without = p1_readout(
        [line.replace("(02.351*kW)", "(01.234*kW)") for line in lines if line],
        header=FLUVIUS_HEADER,
    )
    entry = await start_meter(FLUVIUS + without, "1SAG3101021605")
    await wait_for_sensors(hass, entry)
    average_id, quarter_id = (
        sensor_state(hass, entry, key).entity_id for key in (AVERAGE, BELGIAN_KEYS[0])
    )
    seen: dict[str, list[str]] = {average_id: [], quarter_id: []}

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            seen[new.entity_id].append(new.state)

    unsubscribe = async_track_state_change_event(hass, list(seen), record)
    # Both telegrams, twice: without the history, the average would drop to May's 2.589.
    quarters = seen[quarter_id]
    await wait_until(lambda: quarters.count("1.234") >= 2 and quarters.count("2.351") >= 2)
    unsubscribe()
    assert seen[average_id] == []
    assert sensor_state(hass, entry, AVERAGE).state == "4.146"


async def test_power_scaling_scales_the_history_too(
    hass: HomeAssistant, start_meter: StartMeter
) -> None:
    """A power scale (current transformers) applies to the month's peak and its history alike."""
    entry = await start_meter(FLUVIUS, "1SAG3101021605", options={CONF_SCALE_POWER: 2})
    await wait_for_sensors(hass, entry)
    # 2 x (2.589 + 3.695 + 5.980 + 4.318) / 4
    assert states(hass, entry)[AVERAGE] == "8.291"
    assert states(hass, entry)["peak_demand_month"] == "5.178"


async def test_aidon_meter_has_none_of_them(hass: HomeAssistant, start_meter: StartMeter) -> None:
    """A Norwegian Aidon sends no demand registers: none of the Belgian sensors appear."""
    entry = await start_meter(b"".join(aidon_lists()), "7359992892587665")
    await wait_until(lambda: sensor_state(hass, entry, "active_power_import_total") is not None)
    assert states(hass, entry) == dict.fromkeys(BELGIAN_KEYS)
    keys = {
        item.unique_id.removeprefix(f"{entry.unique_id}_")
        for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    assert not keys & {*BELGIAN_KEYS}
    assert not [key for key in keys if key.startswith("peak_demand")]


def test_history_line_helper() -> None:
    """The test's own 98.1.0 builder writes what the e-MUCS sample has (DST flags included)."""
    line = history_line([(date(2020, 4, 1), "03.695"), (date(2020, 2, 1), "04.318")])
    assert line == (
        "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)"
        "(200501000000S)(200415180000S)(03.695*kW)"
        "(200301000000W)(200215180000W)(04.318*kW)"
    )
    assert stamp(datetime(2026, 10, 25, 2, 30)) == "261025023000S"  # the first 02:30 (fold 0)
