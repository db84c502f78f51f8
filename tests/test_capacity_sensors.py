"""Capacity-tariff sensors fed by a HAN meter over MQTT, and their state over a restart.

Frames are the simulator's Aidon 6525 lists with set values: power 1800 W all along, the
import register read by list 3 on the hour. Time is frozen at each frame's meter time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.amshan_corus.capacity import CAPACITY_SENSORS
from custom_components.amshan_corus.const import CONF_TOPICS, DOMAIN, Connection
from custom_components.amshan_corus.protocol.han.simulator import AidonNoMeter
from tests.conftest import AIDON_METER_ID, meter_entry, setup_entry, unload_entry

HOUR_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Oslo
TOPIC = "ams"


def value_of(hass: HomeAssistant, key: str) -> str | None:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{AIDON_METER_ID}_{key}")
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    return None if state is None else state.state


async def send(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, meter: AidonNoMeter, moment: datetime
) -> None:
    """The frame the meter sends at `moment` (list 3 on the hour, else list 1), at that time."""
    freezer.move_to(moment)
    async_fire_mqtt_message(hass, TOPIC, meter.frame_at(moment))
    await hass.async_block_till_done()


async def test_capacity_sensors_follow_the_hour_and_survive_a_restart(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Exact values mid-hour (power integrated), after the hour (register difference), after
    a restart (state restored from the Store)."""
    await hass.config.async_set_time_zone("Europe/Oslo")
    entry = meter_entry(Connection.HAN_MQTT, **{CONF_TOPICS: [TOPIC]})
    meter = AidonNoMeter(HOUR_START)
    meter.state.power_w = 1800.0
    meter.state.import_wh = 22721380.0
    freezer.move_to(HOUR_START)
    await setup_entry(hass, entry)
    # Before any reading: an empty month counts as mean 0, step 1; the rest is unknown.
    assert {d.key: value_of(hass, d.key) for d in CAPACITY_SENSORS} == {
        "capacity_energy_this_hour": "unknown",
        "capacity_estimated_hour": "unknown",
        "capacity_peaks_mean": "0.000",
        "capacity_step": "1",
        "capacity_headroom": "unknown",
        "capacity_peak_1": "unknown",
        "capacity_peak_2": "unknown",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "unknown",
    }

    await send(hass, freezer, meter, HOUR_START)  # list 3: the register at the hour's start
    for minute in range(4, 32, 4):  # list 1 every 4 minutes: 1.8 kW
        await send(hass, freezer, meter, HOUR_START + timedelta(minutes=minute, seconds=2))
    # 28 min 2 s at 1.8 kW = 0.841 kWh; 31 min 58 s more at 1.8 kW = 0.959 kWh.
    assert value_of(hass, "capacity_energy_this_hour") == "0.841"
    assert value_of(hass, "capacity_estimated_hour") == "1.800"
    assert value_of(hass, "capacity_peaks_mean") == "0.000"
    assert value_of(hass, "capacity_step") == "1"
    # Step 1 holds while the hour stays below 3 x 2 kWh = 6 kWh: 5.999 - 0.841 = 5.158 kWh
    # more, over the 31 min 58 s left.
    assert value_of(hass, "capacity_headroom") == "9.681"
    assert value_of(hass, "capacity_peak_1") == "unknown"

    for minute in range(32, 60, 4):
        await send(hass, freezer, meter, HOUR_START + timedelta(minutes=minute, seconds=2))
    meter.state.import_wh += 2500.0  # the register says 2.5 kWh, not the power's 1.8
    await send(hass, freezer, meter, HOUR_START + timedelta(hours=1))
    assert value_of(hass, "capacity_peak_1") == "2.500"
    assert value_of(hass, "capacity_peak_2") == "unknown"
    assert value_of(hass, "capacity_peak_1_hour") == "2026-01-05T09:00:00+00:00"
    assert value_of(hass, "capacity_peaks_mean") == "0.833"
    assert value_of(hass, "capacity_step") == "1"
    assert value_of(hass, "capacity_energy_this_hour") == "0.000"

    await unload_entry(hass, entry)
    await setup_entry(hass, entry)
    assert value_of(hass, "capacity_peak_1") == "2.500"
    assert value_of(hass, "capacity_peaks_mean") == "0.833"
    assert value_of(hass, "capacity_peak_1_hour") == "2026-01-05T09:00:00+00:00"
    # The running hour goes on from the restored register and power: 4 min 2 s at 1.8 kW.
    await send(hass, freezer, meter, HOUR_START + timedelta(hours=1, minutes=4, seconds=2))
    assert value_of(hass, "capacity_energy_this_hour") == "0.121"
    # A reload (as the options flow does) reads the state the unload wrote, peaks included.
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert value_of(hass, "capacity_peak_1") == "2.500"
    assert value_of(hass, "capacity_peaks_mean") == "0.833"
    await unload_entry(hass, entry)


async def test_unreadable_saved_state_starts_afresh(
    hass: HomeAssistant, mqtt_mock: Any, hass_storage: dict[str, Any]
) -> None:
    """A saved state of another version is logged and dropped; the sensors still come up."""
    entry = meter_entry(Connection.HAN_MQTT, **{CONF_TOPICS: [TOPIC]})
    hass_storage[f"{DOMAIN}.capacity.{entry.entry_id}"] = {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.capacity.{entry.entry_id}",
        "data": {"version": 99},
    }
    await setup_entry(hass, entry)
    assert value_of(hass, "capacity_peaks_mean") == "0.000"
    assert value_of(hass, "capacity_peak_1") == "unknown"
    await unload_entry(hass, entry)
