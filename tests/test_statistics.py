"""Long-term statistics are compiled for the energy and gas totals (the Energy dashboard)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    statistics_during_period,
)

from custom_components.amshan_corus.const import CONF_TOPICS, Connection
from tests.conftest import meter_entry, sensor_state, setup_entry, unload_entry
from tests.protocol.han.vectors import vector

P1 = vector("P1-03")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before `hass`, which enabling custom integrations sets up."""


# DSMR 4.2 Kaifa with an M-Bus gas meter


def readout(tariff_1: str, gas: str) -> bytes:
    """P1-03 with other register values (and no CRC, which P1 allows)."""
    return (
        P1.replace(b"(001581.123*kWh)", f"({tariff_1}*kWh)".encode())
        .replace(b"(00981.443*m3)", f"({gas}*m3)".encode())
        .replace(b"!6796", b"!")
    )


async def test_energy_and_gas_statistics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Three readouts in the hour's last 5 minutes: hourly state and sum come out exact."""
    hour = datetime.fromisoformat("2026-11-22T12:00:00+00:00")
    last_period = hour.replace(minute=55)
    freezer.move_to(last_period)
    entry = meter_entry(Connection.HAN_MQTT, unique_id="kaifa-p1", **{CONF_TOPICS: ["p1"]})
    await setup_entry(hass, entry)
    for minute, (tariff_1, gas) in enumerate(
        (("001581.123", "00981.443"), ("001581.623", "00981.943"), ("001582.123", "00983.443")),
        start=56,
    ):
        freezer.move_to(hour.replace(minute=minute))
        async_fire_mqtt_message(hass, "p1", readout(tariff_1, gas))
        await hass.async_block_till_done()
    energy = sensor_state(hass, entry, "active_power_import_tariff_1")
    gas = sensor_state(hass, entry, "gas_volume")
    assert (energy.state, gas.state) == ("1582.123", "983.443")
    await async_wait_recording_done(hass)

    # Compiling the hour's last 5-minute period also compiles the hour (long-term statistics).
    freezer.move_to(hour.replace(hour=13, minute=1))
    do_adhoc_statistics(hass, start=last_period)
    await async_wait_recording_done(hass)
    for period, start in (("5minute", last_period), ("hour", hour)):
        statistics = await hass.async_add_executor_job(
            statistics_during_period,
            hass,
            start,
            None,
            {energy.entity_id, gas.entity_id},
            period,
            None,
            {"state", "sum"},
        )
        assert [(row["state"], row["sum"]) for row in statistics[energy.entity_id]] == [
            (1582.123, 1.0)
        ]
        assert [(row["state"], row["sum"]) for row in statistics[gas.entity_id]] == [(983.443, 2.0)]
    await unload_entry(hass, entry)
