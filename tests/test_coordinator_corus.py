"""The Corus coordinator against a CorusSimulator on 127.0.0.1: values, faults, guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from unittest.mock import patch
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.amshan_corus.const import (
    CONF_POLL_INTERVAL,
    CONF_TIMEZONE,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.coordinator import CorusCoordinator
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusCrcError,
    UnsupportedFirmwareError,
)
from custom_components.amshan_corus.protocol.corus.simulator import (
    CorusSimulator,
    SimulatorFaults,
)
from tests.conftest import (
    find_device,
    meter_entry,
    sensor_state,
    setup_entry,
    unload_entry,
    wait_until,
)

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 11, 20, 12, 30, tzinfo=OSLO)


@pytest.fixture
async def converter(socket_enabled: None) -> AsyncIterator[CorusSimulator]:
    """A b0040 converter whose clock stands still (exact, repeatable values)."""
    simulator = CorusSimulator("b0040", timezone=OSLO, start=START, speed=0.0)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture(autouse=True)
def quick_timeout() -> None:
    """Each Corus step gives up after 2 s (the default is 20 s for GSM gateways)."""
    with patch("custom_components.amshan_corus.coordinator.CORUS_TIMEOUT", 2.0):
        yield


def corus_entry(simulator: CorusSimulator, **data: object) -> MockConfigEntry:
    return meter_entry(
        Connection.CORUS_TCP,
        unique_id="corus-b0040",
        **{
            CONF_HOST: "127.0.0.1",
            CONF_PORT: simulator.port,
            CONF_TIMEZONE: "Europe/Oslo",
            **data,
        },
    )


async def test_values_units_and_device(hass: HomeAssistant, converter: CorusSimulator) -> None:
    """One session reads every parameter; entities show them exactly, in HA's units."""
    entry = corus_entry(converter)
    coordinator = await setup_entry(hass, entry)
    assert isinstance(coordinator, CorusCoordinator)
    expected = converter.expected_values()

    converted = sensor_state(hass, entry, "index_converted")
    assert Decimal(converted.state) == expected["index_converted"]
    assert converted.attributes["unit_of_measurement"] == "m³"
    assert converted.attributes["device_class"] == "gas"
    assert converted.attributes["state_class"] == "total_increasing"
    unconverted = sensor_state(hass, entry, "index_unconverted")
    assert Decimal(unconverted.state) == expected["index_unconverted"]
    flow = sensor_state(hass, entry, "flowrate_converted")
    assert Decimal(flow.state) == expected["flowrate_converted"]
    assert flow.attributes["unit_of_measurement"] == "m³/h"
    temperature = sensor_state(hass, entry, "temperature")
    assert Decimal(temperature.state) == expected["temperature"]
    assert temperature.attributes["unit_of_measurement"] == "°C"
    pressure = sensor_state(hass, entry, "pressure")
    assert Decimal(pressure.state) == expected["pressure"]
    assert pressure.attributes["unit_of_measurement"] == "bar"
    battery = sensor_state(hass, entry, "battery_days")
    assert (battery.state, battery.attributes["unit_of_measurement"]) == ("3650", "d")
    clock = sensor_state(hass, entry, "datetime")
    assert datetime.fromisoformat(clock.state) == START
    assert clock.attributes["device_class"] == "timestamp"
    assert sensor_state(hass, entry, "firmware_map").state == "b0040"

    device = find_device(hass, (DOMAIN, "corus-b0040"), entry)
    assert device is not None
    assert (device.manufacturer, device.model, device.sw_version) == (
        "Itron",
        "Corus (b0040)",
        "A3.00",
    )
    assert converter.stats.sessions == 1
    assert converter.stats.breaks == 1  # every session ends with the break message
    await unload_entry(hass, entry)


async def test_polls_on_the_interval_option(hass: HomeAssistant, converter: CorusSimulator) -> None:
    """The poll interval comes from the options; each poll is one session."""
    entry = corus_entry(converter)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_POLL_INTERVAL: 60})
    coordinator = await setup_entry(hass, entry)
    assert coordinator.update_interval == timedelta(seconds=60)

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await wait_until(lambda: coordinator.stats.polls == 2 and converter.stats.breaks == 2)
    assert converter.stats.sessions == 2
    assert coordinator.stats.polls == 2
    await unload_entry(hass, entry)


async def test_timeout_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant, converter: CorusSimulator
) -> None:
    """A converter that stops answering: unavailable (translated error); back when it answers."""
    entry = corus_entry(converter)
    coordinator = await setup_entry(hass, entry)
    converter.faults = SimulatorFaults(reply_delay=2.5)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert not coordinator.last_update_success
    assert sensor_state(hass, entry, "index_converted").state == STATE_UNAVAILABLE
    assert str(coordinator.last_exception) == "The gas converter did not answer in time"

    converter.faults = SimulatorFaults()
    for _ in range(50):  # the converter first finishes the session the client gave up on
        await coordinator.async_refresh()
        if coordinator.last_update_success:
            break
        await asyncio.sleep(0.1)
    await hass.async_block_till_done()
    assert coordinator.last_update_success
    state = sensor_state(hass, entry, "index_converted")
    assert Decimal(state.state) == converter.expected_values()["index_converted"]
    await unload_entry(hass, entry)


async def test_index_going_backwards_is_not_published(
    hass: HomeAssistant, converter: CorusSimulator
) -> None:
    """Set the converter's clock back a day: its indexes drop, the entities keep their value."""
    entry = corus_entry(converter)
    coordinator = await setup_entry(hass, entry)
    before = sensor_state(hass, entry, "index_converted").state
    converter.set_clock(START - timedelta(days=1))
    assert converter.expected_values()["index_converted"] < Decimal(before)

    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert sensor_state(hass, entry, "index_converted").state == before
    assert coordinator.stats.guarded == 2  # converted and unconverted index
    clock = sensor_state(hass, entry, "datetime")  # not a register: follows the converter
    assert datetime.fromisoformat(clock.state) == START - timedelta(days=1)
    await unload_entry(hass, entry)


async def test_wrong_password_is_a_setup_error(
    hass: HomeAssistant, converter: CorusSimulator
) -> None:
    """A refused password cannot heal by retrying: Home Assistant asks for the right one."""
    converter.faults = SimulatorFaults(required_password="SECRET")
    entry = corus_entry(converter, **{CONF_PASSWORD: "WRONG"})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "refused the password" in entry.reason
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_configured_password_is_used(hass: HomeAssistant, converter: CorusSimulator) -> None:
    """The converter's own password is sent when configured."""
    converter.faults = SimulatorFaults(required_password="SECRET")
    entry = corus_entry(converter, **{CONF_PASSWORD: "SECRET"})
    await setup_entry(hass, entry)
    assert sensor_state(hass, entry, "firmware_map").state == "b0040"
    await unload_entry(hass, entry)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            UnsupportedFirmwareError("x9999", ["b0040"]),
            "The gas converter uses parameter map x9999, which this integration does not know",
        ),
        (
            CorusCrcError("bad CRC"),
            "The gas converter's answer could not be read: bad CRC",
        ),
    ],
)
async def test_library_errors_become_translated_update_failures(
    hass: HomeAssistant, converter: CorusSimulator, error: Exception, message: str
) -> None:
    """Each library error maps to one translated message."""
    entry = corus_entry(converter)
    coordinator = await setup_entry(hass, entry)
    with patch.object(coordinator.client, "read_all", side_effect=error):
        await coordinator.async_refresh()
    assert not coordinator.last_update_success
    assert str(coordinator.last_exception) == message
    assert coordinator.stats.last_error == str(error)
    await unload_entry(hass, entry)


async def test_converter_clock_offset(
    hass: HomeAssistant, converter: CorusSimulator, freezer: FrozenDateTimeFactory
) -> None:
    """The converter's clock and how far it is off Home Assistant's, in seconds."""
    freezer.move_to(START + timedelta(seconds=75))  # the converter's clock stands at START
    entry = corus_entry(converter)
    await setup_entry(hass, entry)
    offset = sensor_state(hass, entry, "clock_offset")
    assert (offset.state, offset.attributes["unit_of_measurement"]) == ("-75", "s")
    assert entry.runtime_data.data.value("ident") == "/ACT7CORUS"
    await unload_entry(hass, entry)
