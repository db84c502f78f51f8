"""Diagnostics: redacted entry, merged values, counters and the last raw messages as hex."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.amshan_corus.const import (
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    CONF_TIMEZONE,
    CONF_TOPICS,
    Connection,
)
from custom_components.amshan_corus.protocol.corus.simulator import CorusSimulator
from tests.conftest import AIDON_METER_ID, NEWER_HARNESS, aidon_lists, meter_entry, setup_entry
from tests.protocol.han.vectors import vector

LIST_1, LIST_2, LIST_3 = aidon_lists()
KEY = "000102030405060708090a0b0c0d0e0f"


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mqtt_mock: Any,
    snapshot: SnapshotAssertion,
) -> None:
    """Keys, topics, meter ids and the title never leave; frames and counters do."""
    entry = meter_entry(
        Connection.HAN_MQTT,
        **{CONF_TOPICS: ["tibber/pulse"], CONF_ENCRYPTION_KEY: KEY, CONF_AUTHENTICATION_KEY: KEY},
    )
    await setup_entry(hass, entry)
    for frame in (LIST_1, LIST_2, LIST_3):
        async_fire_mqtt_message(hass, "tibber/pulse", frame)
        await hass.async_block_till_done()
    async_fire_mqtt_message(hass, "tibber/pulse", "Debug: Cap voltage critical!")
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    if not NEWER_HARNESS:  # snapshots are taken on the pinned harness (HA 2026.2.3)
        # The capacity tracker's live period and month follow the real clock (list 1 has none).
        assert diagnostics == snapshot(
            exclude=props("received", "last_message", "period_start", "month")
        )
    text = repr(diagnostics)
    assert KEY not in text
    assert AIDON_METER_ID not in text
    assert AIDON_METER_ID.encode().hex() not in text
    assert len(diagnostics["raw_messages"]) == 3
    assert diagnostics["counters"]["ignored"] == 1


async def test_corus_diagnostics(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, socket_enabled: None
) -> None:
    """A converter's host and password are redacted; its values and counters are there."""
    simulator = CorusSimulator("b0040", timezone=ZoneInfo("Europe/Oslo"), speed=0.0)
    await simulator.start()
    try:
        entry = meter_entry(
            Connection.CORUS_TCP,
            unique_id="corus-b0040",
            **{
                CONF_HOST: "127.0.0.1",
                CONF_PORT: simulator.port,
                CONF_PASSWORD: "PASS",
                CONF_TIMEZONE: "Europe/Oslo",
            },
        )
        await setup_entry(hass, entry)
        diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    finally:
        await simulator.stop()
    assert diagnostics["entry"]["data"][CONF_HOST] == "**REDACTED**"
    assert diagnostics["entry"]["data"][CONF_PASSWORD] == "**REDACTED**"
    assert diagnostics["entry"]["data"][CONF_PORT] == simulator.port
    assert diagnostics["values"]["firmware_map"] == {"value": "b0040", "unit": None}
    expected = simulator.expected_values()["index_converted"]
    assert diagnostics["values"]["index_converted"] == {"value": str(expected), "unit": "m³"}
    assert diagnostics["counters"]["polls"] == 1
    assert diagnostics["raw_messages"] == []
    # Without the recorder nothing is imported; the backfill says how it would read.
    backfill = diagnostics["insight"]["backfill"]
    assert (backfill["days"], backfill["max_hours"], backfill["rows_imported"]) == (31, 168, 0)
    assert backfill["last_error"] is None


@pytest.mark.parametrize("name", ["P1-02", "P1-03"])
async def test_p1_meter_ids_never_leave_in_raw_frames(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, mqtt_mock: Any, name: str
) -> None:
    """Ids in a P1 readout, as digits or as hex-spelled ASCII, are redacted from its hex dump."""
    entry = meter_entry(Connection.HAN_MQTT, unique_id="p1-meter", **{CONF_TOPICS: ["p1"]})
    coordinator = await setup_entry(hass, entry)
    readout = vector(name)
    async_fire_mqtt_message(hass, "p1", readout)
    await hass.async_block_till_done()
    ids = [str(coordinator.data.value(key)) for key in ("meter_id", "gas_meter_id")]
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    raw = diagnostics["raw_messages"][0]["hex"]
    for meter_id in ids:
        spellings = (meter_id.encode(), meter_id.encode().hex().upper().encode())
        assert any(spelling in readout for spelling in spellings)  # the readout carries it...
        assert not any(spelling.hex() in raw for spelling in spellings)  # ...diagnostics not
        assert meter_id not in repr(diagnostics)
    assert raw.startswith(readout[:20].hex())  # the rest of the readout is intact


async def test_every_sub_meter_id_is_redacted(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, mqtt_mock: Any
) -> None:
    """Cooling meters' and further channels' ids (cooling_meter_id, water_meter_id_4) too."""
    from custom_components.amshan_corus.protocol.han.crc import crc16_arc

    entry = meter_entry(Connection.HAN_MQTT, unique_id="p1-meter", **{CONF_TOPICS: ["p1"]})
    coordinator = await setup_entry(hass, entry)
    lines = [
        "0-0:96.1.1(E0044007312345678)",
        "1-0:1.7.0(00.500*kW)",
        "0-1:24.1.0(007)",
        "0-1:96.1.0(W1234567)",
        "0-1:24.2.1(250101115500W)(00123.456*m3)",
        "0-3:24.1.0(010)",
        "0-3:96.1.0(C9012345)",
        "0-3:24.2.1(250101115500W)(01234.500*kWh)",
        "0-4:24.1.0(007)",
        "0-4:96.1.0(W3456789)",
        "0-4:24.2.1(250101115500W)(00007.890*m3)",
    ]
    body = ("/ISK5\\2M550T-1012\r\n\r\n" + "".join(f"{line}\r\n" for line in lines) + "!").encode()
    async_fire_mqtt_message(hass, "p1", body + f"{crc16_arc(body):04X}\r\n".encode())
    await hass.async_block_till_done()
    keys = ("water_meter_id", "cooling_meter_id", "water_meter_id_4")
    assert [coordinator.data.value(key) for key in keys] == ["W1234567", "C9012345", "W3456789"]
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    for key in keys:
        assert diagnostics["values"][key] == "**REDACTED**"
    for meter_id in ("W1234567", "C9012345", "W3456789"):
        assert meter_id not in repr(diagnostics)
        assert meter_id.encode().hex() not in diagnostics["raw_messages"][0]["hex"]
