"""Hourly registers are imported into long-term statistics at the meter's own hour."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.amshan_corus.const import CONF_TOPICS, Connection
from custom_components.amshan_corus.protocol.corus.client import CorusClient
from custom_components.amshan_corus.protocol.corus.simulator import CorusSimulator
from custom_components.amshan_corus.statistics import CORUS_SERIES, CorusBackfill, statistic_id
from tests.conftest import (
    StatisticRow,
    han_frame,
    meter_entry,
    setup_entry,
    shared_vector,
    statistic_rows,
    unload_entry,
)
from tests.protocol.han.vectors import vector

P1 = vector("P1-03")
GAS = statistic_id("kaifa-p1", "gas_volume")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before `hass`, which enabling custom integrations sets up."""


def readout(gas_hour: int, gas: str) -> bytes:
    """P1-03 (no CRC, which P1 allows): gas register `gas` stamped 2016-11-29 gas_hour:00."""
    return P1.replace(
        b"(161129200000W)(00981.443*m3)", f"(1611292{gas_hour - 20}0000W)({gas}*m3)".encode()
    ).replace(b"!6796", b"!")


async def gas_rows(hass: HomeAssistant) -> list[StatisticRow]:
    rows = await statistic_rows(hass, {GAS}, datetime(2016, 11, 28, tzinfo=dt_util.UTC))
    return rows.get(GAS, [])


async def test_gas_booked_at_meter_hour_and_restart(
    recorder_mock: Recorder, hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """DSMR gas rows start one hour before their stamp; a restart continues the sum."""
    entry = meter_entry(Connection.HAN_MQTT, unique_id="kaifa-p1", **{CONF_TOPICS: ["p1"]})
    await setup_entry(hass, entry)
    for hour, gas in ((20, "00981.443"), (21, "00981.943"), (22, "00983.443")):
        async_fire_mqtt_message(hass, "p1", readout(hour, gas))
        await hass.async_block_till_done()
    zone = dt_util.get_default_time_zone()

    def start(hour: int) -> datetime:
        stamp = datetime(2016, 11, 29, hour, tzinfo=zone)
        return (stamp - timedelta(hours=1)).astimezone(dt_util.UTC)

    assert await gas_rows(hass) == [
        (start(20), 981.443, 0.0),
        (start(21), 981.943, 0.5),
        (start(22), 983.443, 2.0),
    ]
    await unload_entry(hass, entry)

    # Restarted: the 22:00 value again is no new row, 23:00 continues the sum.
    await setup_entry(hass, entry)
    for hour, gas in ((22, "00983.443"), (23, "00984.000")):
        async_fire_mqtt_message(hass, "p1", readout(hour, gas))
        await hass.async_block_till_done()
    rows = await gas_rows(hass)
    assert rows[2:] == [(start(22), 983.443, 2.0), (start(23), 984.0, 2.557)]
    assert len(rows) == 4
    await unload_entry(hass, entry)


OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 11, 20, 12, 30, tzinfo=OSLO)
IDS = {key: statistic_id("corus-b0040", key) for key in CORUS_SERIES}


async def corus_rows(hass: HomeAssistant) -> dict[str, list[StatisticRow]]:
    rows = await statistic_rows(hass, IDS.values(), START - timedelta(days=3))
    return {key: rows.get(ident, []) for key, ident in IDS.items()}


async def test_corus_backfill_imports_the_hourly_database(
    recorder_mock: Recorder, hass: HomeAssistant, socket_enabled: None
) -> None:
    """Rows are the converter's hourly records: start end_date - 1 h, state the index, sum."""
    simulator = CorusSimulator("b0040", timezone=OSLO, start=START, speed=0.0)
    await simulator.start()
    try:
        entry = meter_entry(Connection.CORUS_TCP, unique_id="corus-b0040")
        entry.add_to_hass(hass)
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO)
        records = await client.read_database("hourly", START - timedelta(days=1), START)
        records.sort(key=lambda record: record.values["end_date"])
        assert len(records) == 23  # the hours ending 14:00 yesterday to 12:00 today

        def expected(key: str, count: int) -> list[tuple[datetime, float, float]]:
            first = records[0].values[key]
            return [
                (
                    (record.values["end_date"] - timedelta(hours=1)).astimezone(dt_util.UTC),
                    float(record.values[key]),
                    float(record.values[key] - first),
                )
                for record in records[:count]
            ]

        backfill = CorusBackfill(hass, entry, "corus-b0040", days=1, max_hours=10)
        first_run = await backfill.async_run(client, START)
        rows = await corus_rows(hass)
        count = len(rows["index_converted"])
        assert first_run == 2 * count
        assert 9 <= count <= 11
        assert rows == {key: expected(key, count) for key in CORUS_SERIES}

        # A restart (a new backfill seeded from the recorder) continues without double counting.
        restarted = CorusBackfill(hass, entry, "corus-b0040", days=1, max_hours=48)
        await restarted.async_run(client, START)
        assert await corus_rows(hass) == {key: expected(key, 23) for key in CORUS_SERIES}
        assert await restarted.async_run(client, START) == 0
    finally:
        await simulator.stop()


LIST_3 = shared_vector("aidon_no_list3_info")  # 2020-01-21 16:00, import 22721.38 kWh
ENERGY = statistic_id("aidon-6525", "active_power_import_total")


def list_3(hour: int, register: int) -> bytes:
    """Aidon list 3 stamped 2020-01-21 `hour`:00 (meter time), import register x 10 Wh."""
    return han_frame(
        LIST_3.replace("07e4011502100000ff", f"07e40115021{hour - 16}0000ff").replace(
            "060022ab8a", f"06{register:08x}"
        )
    )


async def test_list_3_booked_at_meter_hour_and_restart(
    recorder_mock: Recorder, hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """The import total of list 3 stamped 17:00 closes the hour 16:00-17:00 (meter clock)."""
    freezer.move_to("2026-11-22T10:00:00+00:00")
    await hass.config.async_set_time_zone("UTC")  # the meter's local time, as Aidon sends it
    entry = meter_entry(Connection.HAN_MQTT, unique_id="aidon-6525", **{CONF_TOPICS: ["ams"]})
    await setup_entry(hass, entry)
    for step, (hour, register) in enumerate(((16, 2272138), (17, 2272288), (18, 2272488))):
        freezer.move_to(f"2026-11-22T1{step}:00:02+00:00")  # arrival time is not the meter's
        async_fire_mqtt_message(hass, "ams", list_3(hour, register))
        await hass.async_block_till_done()

    async def rows() -> list[StatisticRow]:
        found = await statistic_rows(hass, {ENERGY}, datetime(2020, 1, 21, tzinfo=dt_util.UTC))
        return found.get(ENERGY, [])

    def at(hour: int) -> datetime:
        return datetime(2020, 1, 21, hour, tzinfo=dt_util.UTC)

    assert await rows() == [
        (at(15), 22721.38, 0.0),
        (at(16), 22722.88, 1.5),
        (at(17), 22724.88, 3.5),
    ]
    await unload_entry(hass, entry)

    # Restarted: the 18:00 list 3 repeated is no new row; 19:00 continues the sum.
    await setup_entry(hass, entry)
    for step, (hour, register) in enumerate(((18, 2272488), (19, 2272588)), start=3):
        freezer.move_to(f"2026-11-22T1{step}:00:02+00:00")
        async_fire_mqtt_message(hass, "ams", list_3(hour, register))
        await hass.async_block_till_done()
    assert (await rows())[2:] == [(at(17), 22724.88, 3.5), (at(18), 22725.88, 4.5)]
    assert len(await rows()) == 4
    await unload_entry(hass, entry)


async def test_corus_backfill_steps_over_empty_windows(
    recorder_mock: Recorder, hass: HomeAssistant, socket_enabled: None
) -> None:
    """A converter with less history than the first import asks for is caught up, not stuck."""
    simulator = CorusSimulator("b0040", timezone=OSLO, start=START, speed=0.0, history_days=1)
    await simulator.start()
    try:
        entry = meter_entry(Connection.CORUS_TCP, unique_id="corus-b0040")
        entry.add_to_hass(hass)
        client = CorusClient("127.0.0.1", simulator.port, timezone=OSLO)
        backfill = CorusBackfill(hass, entry, "corus-b0040", days=3, max_hours=24)
        imported = [await backfill.async_run(client, START) for _ in range(4)]
        # Nov 17 12:30-Nov 18 12:30 is before the history (from Nov 19 00:00 Oslo): empty.
        assert imported[0] == 0
        assert sum(imported) > 0
        records = await client.read_database("hourly", START - timedelta(days=3), START)
        rows = await corus_rows(hass)
        assert len(rows["index_converted"]) == len(records) == 36  # Nov 19 01:00 to Nov 20 12:00
    finally:
        await simulator.stop()
