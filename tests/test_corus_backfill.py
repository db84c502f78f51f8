"""Corus hourly backfill: the 52-byte log summed over real TCP, first-import days, diagnostics.

The 52-byte hourly records carry no index, only each hour's consumption: rows are booked at
end_date - 1 h with `sum` (and `state`) the running total of the consumptions. These tests
use the recorder, so they also cover the insight diagnostics that need it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.amshan_corus.const import (
    CONF_BACKFILL_DAYS,
    CONF_CONNECTION,
    CONF_POLL_INTERVAL,
    CONF_TIMEZONE,
    CONF_TOPICS,
    DEFAULT_BACKFILL_DAYS,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.diagnostics import async_get_config_entry_diagnostics
from custom_components.amshan_corus.protocol.corus.client import CorusClient
from custom_components.amshan_corus.protocol.corus.databases import DatabaseRecord
from custom_components.amshan_corus.protocol.corus.errors import CorusConnectionError
from custom_components.amshan_corus.protocol.corus.simulator import (
    CorusSimulator,
    SimulatorFaults,
)
from custom_components.amshan_corus.statistics import (
    CORUS_INCREMENT_SERIES,
    CORUS_SERIES,
    CorusBackfill,
    statistic_id,
)
from tests.conftest import StatisticRow, meter_entry, setup_entry, statistic_rows
from tests.test_hourly_import import list_3

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 11, 20, 12, 30, tzinfo=OSLO)
DEVICE = "corus-057"
IDS = {key: statistic_id(DEVICE, key) for key in (*CORUS_SERIES, *CORUS_INCREMENT_SERIES)}
Row = StatisticRow


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before `hass`, which enabling custom integrations sets up."""


def corus_entry(**options: int) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Corus",
        unique_id=DEVICE,
        data={
            CONF_CONNECTION: Connection.CORUS_TCP,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: 4000,
            CONF_TIMEZONE: "Europe/Oslo",
        },
        options=options,
    )


def simulator_52(**faults: Any) -> CorusSimulator:
    """A converter whose hourly log has the 52-byte layout (consumptions, no indexes)."""
    return CorusSimulator(
        "b0040",
        timezone=OSLO,
        start=START,
        speed=0.0,
        history_days=3,
        layouts={"hourly": 52},
        faults=SimulatorFaults(**faults),
    )


async def rows(hass: HomeAssistant, since: datetime = START) -> dict[str, list[Row]]:
    found = await statistic_rows(hass, IDS.values(), since - timedelta(days=5))
    return {key: found[ident] for key, ident in IDS.items() if ident in found}


def running_sums(records: list[DatabaseRecord], key: str) -> list[Row]:
    """What the rows must be: start end_date - 1 h (UTC), state = sum = running total."""
    total, expected = Decimal(0), []
    for record in sorted(records, key=lambda r: r.values["end_date"]):  # type: ignore[arg-type,return-value]
        end, amount = record.values["end_date"], record.values[key]
        assert isinstance(end, datetime)
        assert isinstance(amount, Decimal)
        total += amount
        expected.append(
            ((end - timedelta(hours=1)).astimezone(dt_util.UTC), float(total), float(total))
        )
    return expected


async def test_first_import_days_come_from_the_options(hass: HomeAssistant) -> None:
    """31 days unless the options say otherwise; the options form offers the field."""
    entry = corus_entry(**{CONF_POLL_INTERVAL: 300})
    entry.add_to_hass(hass)
    assert CorusBackfill(hass, entry, DEVICE).days == DEFAULT_BACKFILL_DAYS == 31
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_POLL_INTERVAL: 300.0, CONF_BACKFILL_DAYS: 120.0}
    )
    assert entry.options == {CONF_POLL_INTERVAL: 300, CONF_BACKFILL_DAYS: 120}
    assert CorusBackfill(hass, entry, DEVICE).days == 120
    assert CorusBackfill(hass, entry, DEVICE, days=2).days == 2


async def test_52_byte_log_is_summed_hour_by_hour(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Running sums of the hourly consumptions; a lost record stays a hole; nothing twice."""
    lost = datetime(2026, 11, 20, 3, tzinfo=OSLO)  # no record ends at 03:00
    async with simulator_52(missing_records=frozenset({lost})) as simulator:
        entry = corus_entry()
        entry.add_to_hass(hass)
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO)
        records = await client.read_database("hourly", START - timedelta(days=1), START)
        assert {len(record.raw) for record in records} == {52}
        assert len(records) == 22  # the hours ending Nov 19 14:00 to Nov 20 12:00, less one

        backfill = CorusBackfill(hass, entry, DEVICE, days=1, max_hours=10)
        first_run = await backfill.async_run(client, START)
        imported = await rows(hass)
        assert set(imported) == set(CORUS_INCREMENT_SERIES)  # no index series for this layout
        count = len(imported["consumption_converted_hourly"])
        assert first_run == 2 * count
        assert 9 <= count <= 11
        for key in CORUS_INCREMENT_SERIES:
            assert imported[key] == running_sums(records, key)[:count]

        # A restart seeds from the recorder's last row: the sums go on, nothing is counted twice.
        restarted = CorusBackfill(hass, entry, DEVICE, days=1, max_hours=48)
        assert await restarted.async_run(client, START) == 2 * (22 - count)
        imported = await rows(hass)
        for key in CORUS_INCREMENT_SERIES:
            assert imported[key] == running_sums(records, key)
        starts = [start for start, _, _ in imported["consumption_converted_hourly"]]
        assert (lost - timedelta(hours=1)).astimezone(dt_util.UTC) not in starts
        assert await restarted.async_run(client, START) == 0

        report = restarted.diagnostics()
        assert report["layout"] == "HOURLY_DB_52"
        assert (
            report["last_record_end"] == datetime(2026, 11, 20, 11, tzinfo=dt_util.UTC).isoformat()
        )
        assert report["rows_imported"] == 2 * (22 - count)
        series = report["series"]["consumption_converted_hourly"]
        assert series["rows_imported"] == 22 - count
        assert series["missed_hours"] == 1  # the lost 03:00 record (count <= 11: after the restart)
        assert series["outcomes"]["duplicate"] == 2  # each run re-reads the last record
        assert report["series"]["index_converted"]["rows_imported"] == 0


async def test_a_long_hole_in_the_log_is_stepped_over(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """A silence longer than a run's window does not stall the backfill at its edge."""
    hole = frozenset(datetime(2026, 11, 19, hour, tzinfo=OSLO) for hour in range(16, 24))
    async with simulator_52(missing_records=hole) as simulator:
        entry = corus_entry()
        entry.add_to_hass(hass)
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO)
        records = await client.read_database("hourly", START - timedelta(days=1), START)
        assert len(records) == 23 - len(hole)
        backfill = CorusBackfill(hass, entry, DEVICE, days=1, max_hours=4)
        runs = [await backfill.async_run(client, START) for _ in range(10)]
        assert runs[1:3] == [0, 0]  # the hole: the edge record again, then nothing
        assert runs[-1] == 0
        assert sum(runs) == 2 * len(records)
        imported = await rows(hass)
        for key in CORUS_INCREMENT_SERIES:
            assert imported[key] == running_sums(records, key)
        assert backfill.diagnostics()["series"]["consumption_unconverted_hourly"][
            "missed_hours"
        ] == len(hole)


async def test_a_failed_read_is_recorded_and_the_next_run_resumes(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    async with simulator_52(drop_mid_frame="database") as simulator:
        entry = corus_entry()
        entry.add_to_hass(hass)
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO, timeout=2.0)
        backfill = CorusBackfill(hass, entry, DEVICE, days=1, max_hours=6)
        with pytest.raises(CorusConnectionError):
            await backfill.async_run(client, START)
        report = backfill.diagnostics()
        assert report["last_error"]
        assert report["last_error_at"] == START.isoformat()
        assert report["rows_imported"] == 0
        simulator.faults.drop_mid_frame = None
        assert await backfill.async_run(client, START) > 0
        assert backfill.diagnostics()["last_error"] == report["last_error"]  # kept for the record


async def test_han_diagnostics_show_the_hourly_import_and_the_capacity_feed(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Aidon list 3 at 16, 17, 17 again and 19:00 (meter clock): 3 rows, a repeat, a hole."""
    freezer.move_to("2026-11-22T10:00:00+00:00")
    await hass.config.async_set_time_zone("UTC")  # the meter's local time, as Aidon sends it
    entry = meter_entry(Connection.HAN_MQTT, unique_id="aidon-6525", **{CONF_TOPICS: ["ams"]})
    await setup_entry(hass, entry)
    sent = ((16, 2272138), (17, 2272288), (17, 2272288), (19, 2272588))
    for step, (hour, register) in enumerate(sent):
        freezer.move_to(f"2026-11-22T1{step}:00:02+00:00")  # arrival time is not the meter's
        async_fire_mqtt_message(hass, "ams", list_3(hour, register))
        await hass.async_block_till_done()
    await async_wait_recording_done(hass)

    insight = (await async_get_config_entry_diagnostics(hass, entry))["insight"]
    assert insight["hourly"] == {
        "queued": 0,
        "series": {
            "active_power_import_total": {
                "last_start": "2020-01-21T18:00:00+00:00",  # closed by the 19:00 list 3
                "last_sum": "4.500",  # 22725.88 - 22721.38 kWh
                "pending_start": None,
                "rows_imported": 3,
                "missed_hours": 1,  # no list 3 at 18:00
                "outcomes": {"booked": 3, "duplicate": 1},
            }
        },
    }
    capacity = insight["capacity"]
    # 16-17:00 is known (1.5 kWh); 17-19:00 (3 kWh) cannot be split between its two hours.
    assert capacity["counts"] == {"unshared_register_span": 1}
    assert capacity["month"] == {
        "month": "2020-01-01",
        "peaks": [
            {
                "start": "2020-01-21T16:00:00+00:00",
                "value_kw": "1.500",
                "energy_kwh": "1.500",
                "exact": True,
            }
        ],
        "mean_kw": "0.500",  # the mean of the 3 daily peaks Norway counts
        "step_from_zero": 0,
    }
    assert capacity["period_start"] == "2020-01-21T19:00:00+00:00"
    assert capacity["energy_so_far_kwh"] == "0.000"
    assert capacity["estimated_energy_kwh"] == "0.280"  # list 3's 280 W for the whole hour


async def test_a_52_byte_converter_is_backfilled_at_setup(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Through the coordinator: the first poll imports the log of the last `backfill_days`."""
    async with CorusSimulator("057", timezone=OSLO, speed=0.0, history_days=3) as simulator:
        assert simulator.layouts["hourly"].length == 52  # this map's default
        entry = corus_entry(**{CONF_BACKFILL_DAYS: 1})
        entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_PORT: simulator.port}
        )
        await setup_entry(hass, entry)
        imported = await rows(hass)
        first = imported["consumption_converted_hourly"][0][0]
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO)
        records = await client.read_database("hourly", first)
        assert 23 <= len(records) <= 25  # a day of hours (the first may straddle the edge)
        for key in CORUS_INCREMENT_SERIES:
            assert imported[key] == running_sums(records, key)
        backfill = (await async_get_config_entry_diagnostics(hass, entry))["insight"]["backfill"]
        assert backfill["days"] == 1
        assert backfill["layout"] == "HOURLY_DB_52"
        assert backfill["rows_imported"] == 2 * len(records)
        assert backfill["last_error"] is None
        await hass.config_entries.async_unload(entry.entry_id)


async def test_the_repeated_hour_of_the_autumn_change_is_booked_once_each(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Oct 25 02:00 comes twice on the converter's clock (CEST, then CET): two hours, both kept."""
    start = datetime(2026, 10, 25, 12, 30, tzinfo=OSLO)
    simulator = CorusSimulator(
        "b0040", timezone=OSLO, start=start, speed=0.0, history_days=2, layouts={"hourly": 52}
    )
    async with simulator:
        entry = corus_entry()
        entry.add_to_hass(hass)
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO)
        backfill = CorusBackfill(hass, entry, DEVICE, days=1, max_hours=48)
        assert await backfill.async_run(client, start) == 2 * 24
        since = (start - timedelta(days=1)).astimezone(dt_util.UTC)
        hours = [p for p in simulator.periods("hourly") if p.start >= since]
        assert len(hours) == 24  # Oct 24 13:00 to Oct 25 11:00 local, 02:00-03:00 twice
        total, expected = Decimal(0), []
        for period in hours:
            total += period.converted_counts * simulator.pulse_weight
            expected.append((period.start.astimezone(dt_util.UTC), float(total), float(total)))
        assert (await rows(hass, start))["consumption_converted_hourly"] == expected
