"""Setting up, unloading and reloading entries leaves nothing behind."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.amshan_corus.const import CONF_TIMEZONE, CONF_TOPICS, Connection
from custom_components.amshan_corus.coordinator import HanCoordinator
from custom_components.amshan_corus.protocol.han.simulator import Cadence, HanSimulator
from tests.conftest import (
    aidon_lists,
    meter_entry,
    sensor_state,
    setup_entry,
    unload_entry,
    wait_until,
)

LIST_1, LIST_2, LIST_3 = aidon_lists()

pytestmark = pytest.mark.usefixtures("fast_han_timing")


async def test_tcp_setup_unload_reload(hass: HomeAssistant, socket_enabled: None) -> None:
    """Unload closes the socket and ends the reader; reload starts a fresh one."""
    server = HanSimulator("127.0.0.1", 0, capture=LIST_1 + LIST_2, cadence=Cadence.FAST)
    await server.start()
    try:
        entry = meter_entry(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: server.port})
        coordinator = await setup_entry(hass, entry)
        await wait_until(lambda: server.clients == 1 and coordinator.stats.messages > 0)

        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        reloaded = entry.runtime_data
        assert reloaded is not coordinator
        await wait_until(lambda: reloaded.stats.messages > 0)
        await wait_until(lambda: server.clients == 1)
        assert sensor_state(hass, entry, "active_power_import").state == "0.28"

        await unload_entry(hass, entry)
        await wait_until(lambda: server.clients == 0)
        messages = reloaded.stats.messages
        await asyncio.sleep(0.1)  # the simulator keeps sending: nobody reads any more
        assert reloaded.stats.messages == messages
    finally:
        await server.stop()


async def test_mqtt_unload_unsubscribes(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """After unload, payloads on the topic reach nobody."""
    entry = meter_entry(Connection.HAN_MQTT, **{CONF_TOPICS: ["han"]})
    coordinator = await setup_entry(hass, entry)
    assert isinstance(coordinator, HanCoordinator)
    async_fire_mqtt_message(hass, "han", LIST_1)
    await hass.async_block_till_done()
    assert coordinator.stats.messages == 1

    await unload_entry(hass, entry)
    async_fire_mqtt_message(hass, "han", LIST_1)
    await hass.async_block_till_done()
    assert coordinator.stats.messages == 1


async def test_mqtt_entry_without_mqtt_integration(hass: HomeAssistant) -> None:
    """An MQTT meter without the MQTT integration is a clear setup error, not a crash."""
    entry = meter_entry(Connection.HAN_MQTT, **{CONF_TOPICS: ["han"]})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "MQTT integration is not set up" in entry.reason


async def test_unreachable_converter_retries_setup(
    hass: HomeAssistant, socket_enabled: None, unused_tcp_port: int
) -> None:
    """A Corus converter that cannot be reached at start-up: ConfigEntryNotReady, retried."""
    entry = meter_entry(
        Connection.CORUS_TCP,
        unique_id="corus-1",
        **{CONF_HOST: "127.0.0.1", CONF_PORT: unused_tcp_port, CONF_TIMEZONE: "Europe/Oslo"},
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.reason is not None
    assert "Cannot connect to the gas converter" in entry.reason
