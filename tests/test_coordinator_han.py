"""The HAN coordinator over real I/O: a HanSimulator on 127.0.0.1, a pseudo-terminal, MQTT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import os
from typing import Any

from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.amshan_corus.const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BAUDRATE,
    CONF_ENCRYPTION_KEY,
    CONF_PARITY,
    CONF_SCALE_CURRENT,
    CONF_SCALE_ENERGY,
    CONF_SCALE_POWER,
    CONF_TOPICS,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.coordinator import (
    KEY_FAILURES_BEFORE_REAUTH,
    EnergyGuard,
    HanCoordinator,
)
from custom_components.amshan_corus.protocol.han.simulator import Cadence, HanSimulator
from tests.conftest import (
    AIDON_METER_ID,
    aidon_lists,
    han_frame,
    meter_entry,
    sensor_state,
    setup_entry,
    shared_vector,
    unload_entry,
    wait_until,
)
from tests.protocol.han.vectors import vector

METER_ID = AIDON_METER_ID
LIST_1, LIST_2, LIST_3 = aidon_lists()

pytestmark = pytest.mark.usefixtures("fast_han_timing")


def entry_for(connection: Connection, **data: Any) -> MockConfigEntry:
    return meter_entry(connection, **data)


def state_of(hass: HomeAssistant, key: str) -> State | None:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{METER_ID}_{key}")
    return None if entity_id is None else hass.states.get(entity_id)


def value_of(hass: HomeAssistant, key: str) -> str | None:
    state = state_of(hass, key)
    return None if state is None else state.state


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> HanCoordinator:
    coordinator = await setup_entry(hass, entry)
    assert isinstance(coordinator, HanCoordinator)
    return coordinator


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncIterator[HanSimulator]:
    """A simulated Aidon replaying the vectors' lists 1, 2 and 3 every ~33 ms."""
    server = HanSimulator("127.0.0.1", 0, capture=LIST_1 + LIST_2 + LIST_3, cadence=Cadence.FAST)
    await server.start()
    yield server
    await server.stop()


async def test_tcp_stream_gives_exact_states(hass: HomeAssistant, simulator: HanSimulator) -> None:
    """Lists 1/2/3 of the vectors, decoded over TCP, give exact states in the right units."""
    entry = entry_for(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port})
    coordinator = await setup(hass, entry)
    await wait_until(lambda: value_of(hass, "reactive_power_export_total") is not None)

    power = state_of(hass, "active_power_import")
    assert power is not None
    assert (power.state, power.attributes["unit_of_measurement"]) == ("0.28", "kW")
    assert power.attributes["device_class"] == "power"
    assert power.attributes["state_class"] == "measurement"
    energy = state_of(hass, "active_power_import_total")
    assert energy is not None
    # 0x0022ab8a = 2272138 with scaler +1 Wh: 22 721 380 Wh
    assert (energy.state, energy.attributes["unit_of_measurement"]) == ("22721.38", "kWh")
    assert energy.attributes["state_class"] == "total_increasing"
    assert energy.attributes["device_class"] == "energy"
    reactive = state_of(hass, "reactive_power_import_total")
    assert reactive is not None
    assert (reactive.state, reactive.attributes["unit_of_measurement"]) == ("582.43", "kvarh")
    assert reactive.attributes["device_class"] == "reactive_energy"
    assert value_of(hass, "reactive_power_export_total") == "1708.43"
    assert value_of(hass, "reactive_power_export") == "128"
    assert value_of(hass, "meter_id") == METER_ID
    assert value_of(hass, "meter_type") == "6525"
    assert value_of(hass, "list_ver_id") == "AIDON_V0001"
    # The export register reads 0: a lifetime total is never published as 0.
    assert state_of(hass, "active_power_export_total") is None
    assert coordinator.stats.guarded > 0
    # Per-phase values exist but are disabled by default.
    registry = er.async_get(hass)
    voltage_id = registry.async_get_entity_id("sensor", DOMAIN, f"{METER_ID}_voltage_l1")
    assert voltage_id is not None
    assert registry.async_get(voltage_id).disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert coordinator.data is not None
    # List 2 says 227.4 V, list 3 says 227.6 V; the replay loops over both.
    assert str(coordinator.data.value("voltage_l1")) in {"227.4", "227.6"}
    assert coordinator.stats.rejected == 0
    assert coordinator.stats.messages >= 1

    await unload_entry(hass, entry)
    await wait_until(lambda: simulator.clients == 0)


async def test_reconnects_after_the_server_restarts(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    """Kill the server: entities go unavailable after the watchdog; restart: values flow again."""
    port = simulator.port
    entry = entry_for(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: port})
    coordinator = await setup(hass, entry)
    await wait_until(lambda: value_of(hass, "active_power_import") == "0.28")

    await simulator.stop()
    await wait_until(lambda: not coordinator.connected)
    await wait_until(lambda: value_of(hass, "active_power_import") == STATE_UNAVAILABLE)
    assert "no_data" in repr(coordinator.last_exception) or coordinator.last_exception is not None

    restarted = HanSimulator("127.0.0.1", port, capture=LIST_1 + LIST_2, cadence=Cadence.FAST)
    await restarted.start()
    try:
        messages = coordinator.stats.messages
        await wait_until(lambda: coordinator.stats.messages > messages + 2)
        await wait_until(lambda: value_of(hass, "active_power_import") == "0.28")
        assert coordinator.connected
        assert coordinator.stats.reconnects >= 1
        await unload_entry(hass, entry)
    finally:
        await restarted.stop()


async def test_silent_bridge_trips_the_watchdog(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    """A bridge that keeps the socket open but stops sending is detected and reconnected."""
    port = simulator.port
    entry = entry_for(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: port})
    coordinator = await setup(hass, entry)
    await wait_until(lambda: value_of(hass, "active_power_import") == "0.28")
    await simulator.stop()

    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", port)
    try:
        await wait_until(lambda: coordinator.stats.watchdog_trips >= 1)
        assert value_of(hass, "active_power_import") == STATE_UNAVAILABLE
        assert str(coordinator.last_exception).startswith("No meter message for 1 s")
        await wait_until(lambda: len(accepted) >= 2)  # it reconnected after the trip
        await unload_entry(hass, entry)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_corrupt_frames_are_counted_never_published(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """A frame failing its FCS (here: list 2 with a voltage byte changed) is never shown."""
    corrupt = bytearray(LIST_2)
    index = corrupt.find(bytes.fromhex("1208e2"))  # voltage L1 = 0x08e2 = 227.4 V
    corrupt[index + 2] = 0x00  # 204.8 V, FCS now wrong
    server = HanSimulator(
        "127.0.0.1", 0, capture=LIST_1 + bytes(corrupt) + LIST_3, cadence=Cadence.FAST
    )
    await server.start()
    try:
        entry = entry_for(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: server.port})
        coordinator = await setup(hass, entry)
        await wait_until(lambda: coordinator.stats.rejected >= 2)
        assert coordinator.data is not None
        assert str(coordinator.data.value("voltage_l1")) == "227.6"  # from list 3 only
        assert coordinator.stats.messages >= 1
        await unload_entry(hass, entry)
    finally:
        await server.stop()


async def test_serial_port_through_a_pseudo_terminal(hass: HomeAssistant) -> None:
    """The serialx path for real: frames written to a pty master reach the entities."""
    master, slave = os.openpty()
    try:
        entry = entry_for(
            Connection.HAN_SERIAL,
            **{CONF_DEVICE: os.ttyname(slave), CONF_BAUDRATE: 2400, CONF_PARITY: "N"},
        )
        coordinator = await setup(hass, entry)
        await wait_until(lambda: coordinator.connected)
        for frame in (LIST_1, LIST_2, LIST_3):
            os.write(master, frame)
        await wait_until(lambda: value_of(hass, "active_power_import_total") == "22721.38")
        assert value_of(hass, "meter_id") == METER_ID
        assert coordinator.stats.rejected == 0
        await unload_entry(hass, entry)
    finally:
        os.close(master)
        os.close(slave)


async def test_missing_serial_port_retries_quietly(hass: HomeAssistant) -> None:
    """A port that does not exist (USB unplugged) is retried with back-off, not a crash."""
    entry = entry_for(Connection.HAN_SERIAL, **{CONF_DEVICE: "/dev/serial/by-id/no-such-port"})
    coordinator = await setup(hass, entry)
    await wait_until(lambda: coordinator.stats.reconnects >= 2)
    assert not coordinator.connected
    assert coordinator.stats.last_error is not None
    assert "no-such-port" in coordinator.stats.last_error
    await wait_until(lambda: not coordinator.last_update_success)  # after the watchdog time
    message = str(coordinator.last_exception)
    assert message.startswith("Cannot reach the meter's port or bridge: ")
    assert "no-such-port" in message
    await unload_entry(hass, entry)


async def test_mqtt_payloads_of_every_form(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Raw frames and ASCII hex are decoded; bridge debug text is ignored and counted."""
    entry = entry_for(Connection.HAN_MQTT, **{CONF_TOPICS: ["ams/raw", "ams/hex"]})
    coordinator = await setup(hass, entry)
    async_fire_mqtt_message(hass, "ams/raw", LIST_1)
    await hass.async_block_till_done()
    assert value_of(hass, "active_power_import") == "0.28"
    assert state_of(hass, "meter_id") is None  # list 1 has no id: appears with list 2

    async_fire_mqtt_message(hass, "ams/hex", LIST_3.hex().upper())
    async_fire_mqtt_message(hass, "ams/raw", "Debug: WiFi ps disable")
    await hass.async_block_till_done()
    assert value_of(hass, "meter_id") == METER_ID
    assert value_of(hass, "active_power_import_total") == "22721.38"
    assert coordinator.stats.ignored == 1
    assert coordinator.stats.messages == 2

    # A frame failing its checksum is counted, never published.
    corrupt = bytearray(LIST_3)
    corrupt[-5] ^= 0xFF
    async_fire_mqtt_message(hass, "ams/raw", bytes(corrupt))
    await hass.async_block_till_done()
    assert coordinator.stats.rejected + coordinator.stats.ignored >= 2
    assert value_of(hass, "active_power_import_total") == "22721.38"
    await unload_entry(hass, entry)


async def test_energy_guard_over_mqtt(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A total going backwards or jumping impossibly is not published; a real change is."""
    entry = entry_for(Connection.HAN_MQTT, **{CONF_TOPICS: ["ams"]})
    coordinator = await setup(hass, entry)
    list3 = shared_vector("aidon_no_list3_info")
    good = "060022ab8a"  # 2272138 (x10 Wh)

    def with_total(raw: str) -> bytes:
        return han_frame(list3.replace(good, raw))

    async_fire_mqtt_message(hass, "ams", with_total(good))
    await hass.async_block_till_done()
    assert value_of(hass, "active_power_import_total") == "22721.38"

    async_fire_mqtt_message(hass, "ams", with_total("060022ab80"))  # backwards by 100 Wh
    async_fire_mqtt_message(hass, "ams", with_total("0605f5e100"))  # 1 000 000 000 Wh at once
    await hass.async_block_till_done()
    assert value_of(hass, "active_power_import_total") == "22721.38"
    guarded = coordinator.stats.guarded

    async_fire_mqtt_message(hass, "ams", with_total("060022ab8b"))  # +10 Wh: plausible
    await hass.async_block_till_done()
    assert value_of(hass, "active_power_import_total") == "22721.39"
    assert coordinator.stats.guarded == guarded + 1  # only the export register's 0 again
    await unload_entry(hass, entry)


async def test_current_transformer_scaling(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Options scale current, power and energy of a CT meter; voltage is never scaled."""
    entry = entry_for(Connection.HAN_MQTT, **{CONF_TOPICS: ["ams"]})
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_SCALE_CURRENT: 40, CONF_SCALE_POWER: 40, CONF_SCALE_ENERGY: 40}
    )
    coordinator = await setup(hass, entry)
    async_fire_mqtt_message(hass, "ams", LIST_3)
    await hass.async_block_till_done()
    assert value_of(hass, "active_power_import") == "11.2"  # 280 W x 40
    assert value_of(hass, "active_power_import_total") == "908855.2"  # 22 721.38 kWh x 40
    assert coordinator.data is not None
    assert str(coordinator.data.value("current_l1")) == "52.0"  # 1.3 A x 40
    assert str(coordinator.data.value("voltage_l1")) == "227.6"
    await unload_entry(hass, entry)


ENC_KEY = "00112233445566778899AABBCCDDEEFF"
AUTH_KEY = "FFEEDDCCBBAA99887766554433221100"


async def test_encrypted_meter_with_its_keys(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A Kamstrup Omnipower's AES-GCM frames decode with the configured keys."""
    entry = meter_entry(
        Connection.HAN_MQTT,
        unique_id="omnipower",
        **{CONF_TOPICS: ["han"], CONF_ENCRYPTION_KEY: ENC_KEY, CONF_AUTHENTICATION_KEY: AUTH_KEY},
    )
    coordinator = await setup(hass, entry)
    async_fire_mqtt_message(hass, "han", vector("ENC-01"))
    await hass.async_block_till_done()
    assert coordinator.stats.decode_errors == 0
    assert sensor_state(hass, entry, "active_power_import").state == "1.083"  # 1083 W
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []
    await unload_entry(hass, entry)


async def test_missing_key_asks_for_it(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """Encrypted frames and no key: after a few frames, a reauth flow asks for the key."""
    entry = meter_entry(Connection.HAN_MQTT, unique_id="omnipower", **{CONF_TOPICS: ["han"]})
    coordinator = await setup(hass, entry)
    for _ in range(KEY_FAILURES_BEFORE_REAUTH):
        async_fire_mqtt_message(hass, "han", vector("ENC-01"))
        await hass.async_block_till_done()
    assert coordinator.stats.decode_errors == KEY_FAILURES_BEFORE_REAUTH
    assert coordinator.stats.last_error is not None
    assert coordinator.stats.last_error.startswith("KeyRequiredError")
    assert coordinator.data is None  # nothing published
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=2))  # the watchdog
    await hass.async_block_till_done()
    assert str(coordinator.last_exception).startswith("The meter's frames cannot be decrypted")
    await unload_entry(hass, entry)


async def test_only_corrupt_frames_say_check_baud_and_parity(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Bytes arrive but no frame passes its checksum (wrong baud rate or parity, typically)."""
    corrupt = bytearray(LIST_2)
    corrupt[-4] ^= 0x55
    server = HanSimulator("127.0.0.1", 0, capture=bytes(corrupt), cadence=Cadence.FAST)
    await server.start()
    try:
        entry = entry_for(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: server.port})
        coordinator = await setup(hass, entry)
        await wait_until(lambda: not coordinator.last_update_success)
        assert coordinator.stats.rejected > 0
        assert coordinator.data is None
        message = str(coordinator.last_exception)
        assert message.startswith("Data arrives, but no frame has passed its checksum for 1 s")
        await unload_entry(hass, entry)
    finally:
        await server.stop()


def test_energy_guard_rules() -> None:
    """Zero, backwards and impossible jumps are refused; a replaced meter is accepted at last."""
    guard = EnergyGuard()
    start = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert not guard.accept("total", 0, "Wh", start)  # 0 on a lifetime register: never
    assert guard.accept("total", 1_000_000, "Wh", start)
    assert not guard.accept("total", 999_999, "Wh", start)  # backwards
    # 2 MW for one hour (plus one minute of slack) is the most a meter could add.
    hour = start + timedelta(hours=1)
    assert not guard.accept("total", 1_000_000 + 2_034_000, "Wh", hour)
    assert guard.accept("total", 1_000_000 + 2_033_000, "Wh", hour)
    assert guard.accept("voltage", Decimal("0"), "V", hour)  # not a register: not guarded
    assert guard.accept("meter_id", "7359992892587665", None, hour)

    # A new meter (lower register) is refused until it has been consistent three times.
    later = [hour + timedelta(hours=n) for n in range(1, 4)]
    assert not guard.accept("total", 500, "Wh", later[0])
    assert not guard.accept("total", 600, "Wh", later[1])
    assert guard.accept("total", 700, "Wh", later[2])
    assert guard.accept("total", 800, "Wh", later[2])

    # Restored values seed the guard in Home Assistant's spelling of the unit.
    guard.seed("gas", Decimal("981.443"), "m³", start)
    assert not guard.accept("gas", Decimal("981.000"), "m3", start)
    assert guard.accept("gas", Decimal("981.500"), "m3", start)


async def test_tibber_pulse_payload(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """A Tibber Pulse's raw HDLC payload (Kaifa MA304H3E list 3) gives exact states."""
    entry = meter_entry(Connection.HAN_MQTT, unique_id="6970631403757615", **{CONF_TOPICS: ["t"]})
    coordinator = await setup(hass, entry)
    async_fire_mqtt_message(hass, "t", vector("TIB-02"))
    await hass.async_block_till_done()
    assert sensor_state(hass, entry, "active_power_import").state == "0.583"
    assert sensor_state(hass, entry, "active_power_import_total").state == "89207.322"
    assert sensor_state(hass, entry, "reactive_power_import_total").state == "40233.788"
    assert sensor_state(hass, entry, "meter_type").state == "MA304H3E"
    assert coordinator.data is not None
    assert str(coordinator.data.value("current_l1")) == "2.035"
    await unload_entry(hass, entry)
