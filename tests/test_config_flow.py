"""Config, reconfigure, reauth and options flows, probing real sources on 127.0.0.1 and a pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import contextlib
import json
import os
from pathlib import Path
import re
from typing import Any
from unittest.mock import AsyncMock, patch
from zoneinfo import ZoneInfo

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PASSWORD, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
import serialx
import voluptuous as vol

from custom_components.amshan_corus import (
    async_setup_entry as real_setup_entry,
    async_unload_entry as real_unload_entry,
    config_flow,
)
from custom_components.amshan_corus.const import (
    CONF_AUTHENTICATION_KEY,
    CONF_BACKFILL_DAYS,
    CONF_BAUDRATE,
    CONF_CONNECTION,
    CONF_ENCRYPTION_KEY,
    CONF_PARITY,
    CONF_POLL_INTERVAL,
    CONF_SCALE_CURRENT,
    CONF_SCALE_ENERGY,
    CONF_SCALE_POWER,
    CONF_TIMEZONE,
    CONF_TOPICS,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.insight.tariffs import RuleProblem
from custom_components.amshan_corus.protocol.corus.client import CorusClient
from custom_components.amshan_corus.protocol.corus.firmware import PARAMETER_MAP_VERSION
from custom_components.amshan_corus.protocol.corus.simulator import CorusSimulator, SimulatorFaults
from custom_components.amshan_corus.protocol.han.simulator import (
    AIDON_METER_ID,
    Cadence,
    HanSimulator,
)
from custom_components.amshan_corus.protocol.han.transport import ByteSource, open_serial

from .conftest import sensor_state, wait_until
from .protocol.han.sources import (
    ENCRYPTED,
    ENCRYPTED_KEYS,
    START,
    ByteServers,
    corrupted,
    free_port,
    list1_frame,
    list2_frame,
    unknown_frame,
)
from .rfc2217_meter import Rfc2217Meter

TRANSLATIONS = Path(config_flow.__file__).parent / "translations"
EK = ENCRYPTED_KEYS.encryption_key.hex()
AK = ENCRYPTED_KEYS.authentication_key.hex() if ENCRYPTED_KEYS.authentication_key else ""
OSLO = ZoneInfo("Europe/Oslo")
PROBE_TIMEOUT = 0.5  # seconds: every test source either answers at once or stays silent

type Serve = Callable[..., Awaitable[int]]


@pytest.fixture(autouse=True)
def fast_probe() -> Iterator[None]:
    """Listen for half a second instead of 25 s / 60 s (sources here answer at once or never)."""
    with (
        patch.object(config_flow, "HAN_PROBE_TIMEOUT", PROBE_TIMEOUT),
        patch.object(config_flow, "MQTT_PROBE_TIMEOUT", PROBE_TIMEOUT),
    ):
        yield


@pytest.fixture(autouse=True)
def mock_setup_entry() -> Iterator[AsyncMock]:
    """The runtime is tested elsewhere; here an entry only has to load and reload."""
    with (
        patch("custom_components.amshan_corus.async_setup_entry", return_value=True) as setup,
        patch("custom_components.amshan_corus.async_unload_entry", return_value=True),
    ):
        yield setup


@pytest.fixture
async def serve(socket_enabled: None) -> AsyncIterator[Serve]:
    """`await serve(chunks, close=False)` starts a byte server on 127.0.0.1; returns its port."""
    servers = ByteServers()
    yield servers.start
    await servers.stop()


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncIterator[HanSimulator]:
    """H2's simulated Aidon meter, fast cadence (list 2 within a fraction of a second)."""
    meter = HanSimulator(cadence=Cadence.FAST, seed=3, start_time=START)
    await meter.start()
    yield meter
    await meter.stop()


async def choose(hass: HomeAssistant, connection: Connection) -> FlowResult:
    """Open the flow and pick `connection` in the menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": connection.value}
    )


async def reconfigure(
    hass: HomeAssistant, entry: MockConfigEntry, connection: Connection
) -> FlowResult:
    """Start reconfiguring a HAN entry and pick `connection` in its menu."""
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["han_serial", "han_tcp", "han_mqtt"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": connection.value}
    )


def han_tcp_entry(
    port: int, unique_id: str | None = AIDON_METER_ID, **data: Any
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=unique_id,
        title="Aidon 6525",
        data={CONF_CONNECTION: Connection.HAN_TCP, CONF_HOST: "127.0.0.1", CONF_PORT: port, **data},
    )


# ----------------------------------------------------------------------------- menu


async def test_menu_offers_every_connection(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["han_serial", "han_tcp", "han_mqtt", "corus_tcp"]


# ----------------------------------------------------------------------------- HAN over TCP


async def test_tcp_creates_the_meter_from_the_simulator(
    hass: HomeAssistant, simulator: HanSimulator, mock_setup_entry: AsyncMock
) -> None:
    result = await choose(hass, Connection.HAN_TCP)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "han_tcp"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Aidon 6525"
    assert result["data"] == {
        CONF_CONNECTION: Connection.HAN_TCP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: simulator.port,
    }
    assert result["result"].unique_id == AIDON_METER_ID
    assert result["result"].options == {}
    assert len(mock_setup_entry.mock_calls) == 1


async def test_tcp_meter_without_id_falls_back_to_the_connection(
    hass: HomeAssistant, serve: Serve
) -> None:
    port = await serve([list1_frame()] * 3)
    result = await choose(hass, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"HAN meter (127.0.0.1:{port})"
    assert result["result"].unique_id is None

    # The same connection again is refused before anything is probed.
    result = await choose(hass, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_tcp_same_meter_twice_is_refused(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    han_tcp_entry(port=1).add_to_hass(hass)  # same meter, other (old) connection
    result = await choose(hass, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("chunks", "error", "detail_part"),
    [
        ([], "no_data", ""),
        ([corrupted(list2_frame())] * 5, "bad_frames", None),
        ([unknown_frame()] * 5, "undecodable", "C4"),
    ],
    ids=["silent", "checksums_fail", "unknown_format"],
)
async def test_tcp_errors_then_recovery(
    hass: HomeAssistant,
    serve: Serve,
    simulator: HanSimulator,
    chunks: list[bytes],
    error: str,
    detail_part: str | None,
) -> None:
    port = await serve(chunks)
    result = await choose(hass, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    placeholders = result["description_placeholders"]
    assert placeholders is not None
    assert placeholders["seconds"] == f"{PROBE_TIMEOUT:g}"
    if detail_part is not None:
        assert detail_part.lower() in placeholders["detail"].lower()

    # Fixing the input on the same form creates the entry.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == AIDON_METER_ID


async def test_tcp_nothing_listening_is_cannot_connect(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    port = free_port()
    result = await choose(hass, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert f"127.0.0.1:{port}" in result["description_placeholders"]["detail"]


async def test_tcp_encrypted_meter_needs_the_right_key(hass: HomeAssistant, serve: Serve) -> None:
    port = await serve([ENCRYPTED.data])
    result = await choose(hass, Connection.HAN_TCP)
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["errors"] == {CONF_ENCRYPTION_KEY: "key_required"}

    wrong = {CONF_HOST: "127.0.0.1", CONF_PORT: port, CONF_ENCRYPTION_KEY: "00" * 16}
    result = await hass.config_entries.flow.async_configure(flow_id, wrong)
    assert result["errors"] == {CONF_ENCRYPTION_KEY: "wrong_key"}
    assert "key" in result["description_placeholders"]["detail"]

    # Keys are accepted with spaces, colons, 0x and upper case, and stored normalized.
    spaced = " ".join(EK[i : i + 2] for i in range(0, 32, 2)).upper()
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_ENCRYPTION_KEY: spaced,
            CONF_AUTHENTICATION_KEY: "0x" + AK.upper(),
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Kamstrup (127.0.0.1:{port})"  # this list has no meter type
    assert result["data"] == {
        CONF_CONNECTION: Connection.HAN_TCP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port,
        CONF_ENCRYPTION_KEY: EK,
        CONF_AUTHENTICATION_KEY: AK,
    }


@pytest.mark.parametrize(
    ("keys", "errors"),
    [
        ({CONF_ENCRYPTION_KEY: "00112233"}, {CONF_ENCRYPTION_KEY: "invalid_key_format"}),
        ({CONF_ENCRYPTION_KEY: "zz" * 16}, {CONF_ENCRYPTION_KEY: "invalid_key_format"}),
        (
            {CONF_ENCRYPTION_KEY: EK, CONF_AUTHENTICATION_KEY: "ab" * 17},
            {CONF_AUTHENTICATION_KEY: "invalid_key_format"},
        ),
        (
            {CONF_AUTHENTICATION_KEY: AK},
            {CONF_AUTHENTICATION_KEY: "authentication_key_without_encryption_key"},
        ),
    ],
    ids=["short", "not_hex", "auth_key_too_long", "auth_key_alone"],
)
async def test_keys_are_checked_before_connecting(
    hass: HomeAssistant, keys: dict[str, str], errors: dict[str, str]
) -> None:
    result = await choose(hass, Connection.HAN_TCP)
    with patch.object(config_flow, "probe_han") as probe:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: 2001, **keys}
        )
    assert result["errors"] == errors
    probe.assert_not_called()


# ----------------------------------------------------------------------------- HAN serial


@pytest.fixture
async def pty_meter() -> AsyncIterator[str]:
    """A pseudo-terminal whose other end keeps sending Aidon list 1 + list 2 frames."""
    controller, device = os.openpty()
    os.set_blocking(controller, False)  # nobody reading: drop frames instead of blocking
    frames = list1_frame() + list2_frame()
    loop = asyncio.get_running_loop()
    sending: list[asyncio.TimerHandle] = []

    def send() -> None:  # keeps sending: opening a port may flush what came before
        with contextlib.suppress(OSError):
            os.write(controller, frames)
        sending.append(loop.call_later(0.05, send))

    send()
    yield os.ttyname(device)
    sending[-1].cancel()
    os.close(device)
    os.close(controller)


def port_info(device: str, resolved: str, **details: Any) -> serialx.SerialPortInfo:
    fields: dict[str, Any] = {
        "vid": 0x10C4,
        "pid": 0xEA60,
        "serial_number": "0001",
        "manufacturer": "Silicon Labs",
        "product": "CP2102 USB to UART Bridge Controller",
        "bcd_device": None,
        "interface_description": None,
        "interface_num": 0,
    }
    return serialx.SerialPortInfo(device=device, resolved_device=resolved, **(fields | details))


async def test_serial_lists_ports_and_stores_the_stable_by_id_path(
    hass: HomeAssistant, pty_meter: str, tmp_path: Path
) -> None:
    by_id = tmp_path / "usb-Silicon_Labs_CP2102_0001-if00-port0"
    by_id.symlink_to(pty_meter)
    ports = [port_info(str(by_id), pty_meter)]
    with patch.object(serialx, "list_serial_ports", return_value=ports):
        result = await choose(hass, Connection.HAN_SERIAL)
        assert result["step_id"] == "han_serial"
        device_selector = result["data_schema"].schema[CONF_DEVICE]
        assert device_selector.config["options"] == [
            {
                "value": str(by_id),
                "label": f"{by_id} (Silicon Labs, CP2102 USB to UART Bridge Controller, s/n 0001)",
            }
        ]
        assert device_selector.config["custom_value"] is True

        # Typing the /dev/pts/N (ttyUSBn) path stores the by-id path that survives re-plugging.
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: pty_meter, CONF_BAUDRATE: "2400", CONF_PARITY: "E"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Aidon 6525"
    assert result["result"].unique_id == AIDON_METER_ID
    assert result["data"] == {
        CONF_CONNECTION: Connection.HAN_SERIAL,
        CONF_DEVICE: str(by_id),
        CONF_BAUDRATE: 2400,
        CONF_PARITY: "E",
    }


async def test_serial_port_missing_and_bad_baud_rate(hass: HomeAssistant) -> None:
    with patch.object(serialx, "list_serial_ports", return_value=[]):
        result = await choose(hass, Connection.HAN_SERIAL)
        flow_id = result["flow_id"]
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {CONF_DEVICE: "/dev/serial/by-id/gone", CONF_BAUDRATE: "fast", CONF_PARITY: "N"},
        )
        assert result["errors"] == {CONF_BAUDRATE: "invalid_baudrate"}
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {CONF_DEVICE: "/dev/serial/by-id/gone", CONF_BAUDRATE: "115200", CONF_PARITY: "N"},
        )
    assert result["errors"] == {"base": "cannot_connect"}
    assert "/dev/serial/by-id/gone" in result["description_placeholders"]["detail"]


async def test_serial_url_through_serialx(hass: HomeAssistant, simulator: HanSimulator) -> None:
    """socket:// URLs (ser2net, ESP bridges) go through serialx like a local port."""
    url = f"socket://127.0.0.1:{simulator.port}"
    with patch.object(serialx, "list_serial_ports", return_value=[]):
        result = await choose(hass, Connection.HAN_SERIAL)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: url, CONF_BAUDRATE: "2400", CONF_PARITY: "N"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_DEVICE] == url
    assert result["result"].unique_id == AIDON_METER_ID


@pytest.mark.usefixtures("socket_enabled")
async def test_serial_wrong_parity_is_tried_the_other_way_and_stored(hass: HomeAssistant) -> None:
    """An 8E1 meter entered as 8N1 (a common Norwegian slip) is added with parity E, and runs."""
    async with Rfc2217Meter(list1_frame() + list2_frame(), baudrate=2400, parity="E") as meter:
        with (
            patch.object(serialx, "list_serial_ports", return_value=[]),
            patch("custom_components.amshan_corus.async_setup_entry", real_setup_entry),
            patch("custom_components.amshan_corus.async_unload_entry", real_unload_entry),
        ):
            result = await choose(hass, Connection.HAN_SERIAL)
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], {CONF_DEVICE: meter.url, CONF_BAUDRATE: "2400", CONF_PARITY: "N"}
            )
            assert result["type"] is FlowResultType.CREATE_ENTRY
            assert result["data"] == {
                CONF_CONNECTION: Connection.HAN_SERIAL,
                CONF_DEVICE: meter.url,
                CONF_BAUDRATE: 2400,
                CONF_PARITY: "E",
            }
            entry = result["result"]
            assert entry.unique_id == AIDON_METER_ID
            await wait_until(lambda: sensor_state(hass, entry, "meter_id") is not None)
            assert sensor_state(hass, entry, "meter_id").state == AIDON_METER_ID
            assert await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()
    # The probe at N, then at E; then the entry's own reader at E.
    assert meter.settings_seen == [(2400, "N"), (2400, "E"), (2400, "E")]


@pytest.mark.usefixtures("socket_enabled")
async def test_serial_wrong_baud_rate_fails_at_both_parities_then_recovers(
    hass: HomeAssistant,
) -> None:
    async with Rfc2217Meter(list1_frame() + list2_frame(), baudrate=9600, parity="E") as meter:
        with patch.object(serialx, "list_serial_ports", return_value=[]):
            result = await choose(hass, Connection.HAN_SERIAL)
            form = {CONF_DEVICE: meter.url, CONF_BAUDRATE: "2400", CONF_PARITY: "E"}
            result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
            assert result["errors"] == {"base": "bad_frames"}
            assert meter.settings_seen == [(2400, "E"), (2400, "N")]

            # Parity O is not a HAN setting worth a second try.
            form |= {CONF_PARITY: "O"}
            result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
            assert result["errors"] == {"base": "bad_frames"}
            assert meter.settings_seen[2:] == [(2400, "O")]

            form |= {CONF_BAUDRATE: "9600", CONF_PARITY: "E"}
            result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert meter.settings_seen[3:] == [(9600, "E")]
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_BAUDRATE] == 9600
    assert result["data"][CONF_PARITY] == "E"


# ----------------------------------------------------------------------------- HAN via MQTT


# HA 2026.10's mqtt_mock opens a mocked socket that starts MQTT's misc-loop timer and never
# closes it: even a bare `mqtt_mock` test fails that harness's lingering-timer check.
mqtt_lingering_timer = pytest.mark.parametrize("expected_lingering_timers", [True])


async def configure_while_publishing(
    hass: HomeAssistant, flow_id: str, user_input: dict[str, Any], topic: str, payloads: list[bytes]
) -> FlowResult:
    """Submit the MQTT form and publish `payloads` in turn while the probe listens."""
    task = asyncio.create_task(hass.config_entries.flow.async_configure(flow_id, user_input))
    index = 0
    while not task.done():
        if payloads:
            async_fire_mqtt_message(hass, topic, payloads[index % len(payloads)])
            index += 1
        await asyncio.sleep(0.01)
    return await task


@mqtt_lingering_timer
@pytest.mark.usefixtures("mqtt_mock")
async def test_mqtt_creates_the_meter(hass: HomeAssistant) -> None:
    result = await choose(hass, Connection.HAN_MQTT)
    assert result["step_id"] == "han_mqtt"
    payloads = [b"Debug: WiFi ps disable", list1_frame().hex().encode(), list2_frame()]
    result = await configure_while_publishing(
        hass, result["flow_id"], {CONF_TOPICS: [" ams/han ", "", "ams/han"]}, "ams/han", payloads
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Aidon 6525"
    assert result["data"] == {CONF_CONNECTION: Connection.HAN_MQTT, CONF_TOPICS: ["ams/han"]}
    assert result["result"].unique_id == AIDON_METER_ID


@mqtt_lingering_timer
@pytest.mark.usefixtures("mqtt_mock")
async def test_mqtt_errors(hass: HomeAssistant) -> None:
    result = await choose(hass, Connection.HAN_MQTT)
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_TOPICS: ["a/#/b"]})
    assert result["errors"] == {CONF_TOPICS: "invalid_topic"}
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_TOPICS: [" "]})
    assert result["errors"] == {CONF_TOPICS: "invalid_topic"}

    result = await configure_while_publishing(hass, flow_id, {CONF_TOPICS: ["ams/+"]}, "ams/x", [])
    assert result["errors"] == {"base": "no_mqtt_messages"}
    assert result["description_placeholders"]["seconds"] == f"{PROBE_TIMEOUT:g}"

    result = await configure_while_publishing(
        hass, flow_id, {CONF_TOPICS: ["ams/+"]}, "ams/x", [ENCRYPTED.data]
    )
    assert result["errors"] == {CONF_ENCRYPTION_KEY: "key_required"}

    result = await configure_while_publishing(
        hass, flow_id, {CONF_TOPICS: ["ams/+"]}, "ams/x", [b"Debug: Cap voltage critical!"]
    )
    assert result["errors"] == {"base": "undecodable"}


async def test_mqtt_not_set_up_aborts(hass: HomeAssistant) -> None:
    result = await choose(hass, Connection.HAN_MQTT)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_available"


# ----------------------------------------------------------------------------- Corus


@pytest.fixture
async def corus(socket_enabled: None) -> AsyncIterator[CorusSimulator]:
    """C1's simulated Corus converter (map b0040, announces and accepts "PASS")."""
    async with CorusSimulator("b0040", timezone=OSLO) as converter:
        yield converter


def corus_input(port: int, **extra: Any) -> dict[str, Any]:
    return {CONF_HOST: "127.0.0.1", CONF_PORT: port, CONF_TIMEZONE: "Europe/Oslo", **extra}


async def test_corus_creates_the_converter(hass: HomeAssistant, corus: CorusSimulator) -> None:
    hass.config.time_zone = "Europe/Stockholm"
    result = await choose(hass, Connection.CORUS_TCP)
    assert result["step_id"] == "corus_tcp"
    defaults = {
        str(key): key.default()
        for key in result["data_schema"].schema
        if key.default is not vol.UNDEFINED
    }
    assert defaults == {CONF_PORT: 4000, CONF_TIMEZONE: "Europe/Stockholm", CONF_POLL_INTERVAL: 300}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], corus_input(corus.port, **{CONF_POLL_INTERVAL: 600.0})
    )
    assert result.get("errors") is None, result["description_placeholders"]
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Corus b0040 (127.0.0.1)"
    assert result["data"] == {
        CONF_CONNECTION: Connection.CORUS_TCP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: corus.port,
        CONF_TIMEZONE: "Europe/Oslo",
    }
    assert result["options"] == {CONF_POLL_INTERVAL: 600}
    assert result["result"].unique_id is None  # no Corus map has a serial number
    await corus.wait_idle()
    assert corus.stats.signed_on == 1
    assert corus.stats.breaks == 1

    # The same converter (host and port) again is refused before signing on.
    result = await choose(hass, Connection.CORUS_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], corus_input(corus.port)
    )
    assert result["reason"] == "already_configured"
    assert corus.stats.sessions == 1


async def test_corus_password(hass: HomeAssistant, corus: CorusSimulator) -> None:
    corus.faults = SimulatorFaults(required_password="4711")
    result = await choose(hass, Connection.CORUS_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], corus_input(corus.port)
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], corus_input(corus.port, **{CONF_PASSWORD: "4711"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PASSWORD] == "4711"


async def test_corus_unsupported_firmware_map_is_named(
    hass: HomeAssistant, corus: CorusSimulator
) -> None:
    # A converter announcing a map nobody knows (written through the protocol, as a tool would).
    async with CorusClient("127.0.0.1", corus.port).session() as session:
        await session.write_parameters([(PARAMETER_MAP_VERSION, "FL_zz999")])
    result = await choose(hass, Connection.CORUS_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], corus_input(corus.port)
    )
    assert result["errors"] == {"base": "unsupported_firmware"}
    placeholders = result["description_placeholders"]
    assert placeholders["map_id"] == "zz999"
    assert placeholders["known_maps"].startswith("046, 054, 057")
    assert "b0040" in placeholders["known_maps"].split(", ")


async def test_corus_connection_errors(
    hass: HomeAssistant, corus: CorusSimulator, serve: Serve
) -> None:
    result = await choose(hass, Connection.CORUS_TCP)
    flow_id = result["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, corus_input(corus.port, **{CONF_TIMEZONE: "Mars/Olympus_Mons"})
    )
    assert result["errors"] == {CONF_TIMEZONE: "invalid_timezone"}

    port = free_port()
    result = await hass.config_entries.flow.async_configure(flow_id, corus_input(port))
    assert result["errors"] == {"base": "cannot_connect"}
    assert str(port) in result["description_placeholders"]["detail"]

    corus.faults = SimulatorFaults(reply_delay=1.0)
    with patch.object(config_flow, "CORUS_TIMEOUT", 0.2):
        result = await hass.config_entries.flow.async_configure(flow_id, corus_input(corus.port))
    assert result["errors"] == {"base": "timeout"}
    corus.faults = SimulatorFaults()
    await corus.wait_idle()

    garbage = await serve([b"HTTP/1.1 400 Bad Request\r\n\r\n"])
    result = await hass.config_entries.flow.async_configure(flow_id, corus_input(garbage))
    assert result["errors"] == {"base": "communication_error"}
    assert result["description_placeholders"]["detail"]

    result = await hass.config_entries.flow.async_configure(flow_id, corus_input(corus.port))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_corus_reconfigure_keeps_the_options(
    hass: HomeAssistant, corus: CorusSimulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_CONNECTION: Connection.CORUS_TCP, **corus_input(1)},
        options={CONF_POLL_INTERVAL: 900},
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "corus_tcp"
    assert CONF_POLL_INTERVAL not in map(str, result["data_schema"].schema)  # an option
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], corus_input(corus.port)
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_CONNECTION: Connection.CORUS_TCP, **corus_input(corus.port)}
    assert entry.options == {CONF_POLL_INTERVAL: 900}


async def test_corus_reauth_with_the_new_password(
    hass: HomeAssistant, corus: CorusSimulator
) -> None:
    corus.faults = SimulatorFaults(required_password="new")
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={
            CONF_CONNECTION: Connection.CORUS_TCP,
            **corus_input(corus.port, **{CONF_PASSWORD: "old"}),
        },
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert set(map(str, result["data_schema"].schema)) == {CONF_PASSWORD}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "old"}
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_PASSWORD: "new"}
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == "new"


# ----------------------------------------------------------------------------- with the runtime


async def test_created_entry_runs_with_the_real_runtime(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    """What the flow stores is what the runtime reads: the sensors get the meter's values."""
    with (
        patch("custom_components.amshan_corus.async_setup_entry", real_setup_entry),
        patch("custom_components.amshan_corus.async_unload_entry", real_unload_entry),
    ):
        result = await choose(hass, Connection.HAN_TCP)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
        )
        entry = result["result"]
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        registry = er.async_get(hass)

        def state_of(key: str) -> str | None:
            entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{AIDON_METER_ID}_{key}")
            state = hass.states.get(entity_id) if entity_id else None
            return None if state is None else state.state

        for _ in range(250):  # entities appear with the first values (a frame every ~33 ms)
            if state_of("meter_id") and state_of("active_power_import") not in (None, "unknown"):
                break
            await asyncio.sleep(0.02)
        assert state_of("meter_id") == AIDON_METER_ID
        # Midday at the simulated prosumer: the meter's net flow is import or export, not both.
        flows = [float(state_of(f"active_power_{way}") or "nan") for way in ("import", "export")]
        assert min(flows) == 0
        assert max(flows) > 0
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


# ----------------------------------------------------------------------------- reconfigure


async def test_reconfigure_changes_the_connection_and_keeps_the_entry(
    hass: HomeAssistant, simulator: HanSimulator, mock_setup_entry: AsyncMock
) -> None:
    entry = han_tcp_entry(port=1, **{CONF_ENCRYPTION_KEY: EK})
    entry.add_to_hass(hass)
    result = await reconfigure(hass, entry, Connection.HAN_TCP)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "han_tcp"
    # The form is filled in with the current connection.
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested == {CONF_HOST: "127.0.0.1", CONF_PORT: 1, CONF_ENCRYPTION_KEY: EK}

    # The key is removed (left empty) and the port changed.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_CONNECTION: Connection.HAN_TCP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: simulator.port,
    }
    assert entry.unique_id == AIDON_METER_ID
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1  # reloaded


async def test_reconfigure_moves_a_serial_meter_to_a_network_bridge(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    entry = serial_entry("/dev/serial/by-id/usb-FTDI_FT232R-if00-port0")
    entry.add_to_hass(hass)
    result = await reconfigure(hass, entry, Connection.HAN_TCP)
    assert result["step_id"] == "han_tcp"
    assert not any(key.description for key in result["data_schema"].schema)  # nothing to reuse
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {
        CONF_CONNECTION: Connection.HAN_TCP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: simulator.port,
    }
    assert entry.unique_id == AIDON_METER_ID


async def test_reconfigure_to_another_meter_is_refused(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    entry = han_tcp_entry(port=1, unique_id="6970631401234567")
    entry.add_to_hass(hass)
    result = await reconfigure(hass, entry, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_device"
    assert entry.data[CONF_PORT] == 1


async def test_reconfigure_onto_another_entrys_connection_is_refused(
    hass: HomeAssistant, simulator: HanSimulator
) -> None:
    han_tcp_entry(port=simulator.port, unique_id="other").add_to_hass(hass)
    entry = han_tcp_entry(port=1)
    entry.add_to_hass(hass)
    result = await reconfigure(hass, entry, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reconfigure_error_shows_the_form_again(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    entry = han_tcp_entry(port=1)
    entry.add_to_hass(hass)
    result = await reconfigure(hass, entry, Connection.HAN_TCP)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: free_port()}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}


async def test_reconfigure_serial_entry(hass: HomeAssistant, pty_meter: str) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=AIDON_METER_ID,
        data={
            CONF_CONNECTION: Connection.HAN_SERIAL,
            CONF_DEVICE: "/dev/ttyUSB9",
            CONF_BAUDRATE: 115200,
            CONF_PARITY: "N",
        },
    )
    entry.add_to_hass(hass)
    with patch.object(serialx, "list_serial_ports", return_value=[]):
        result = await reconfigure(hass, entry, Connection.HAN_SERIAL)
        assert result["step_id"] == "han_serial"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: pty_meter, CONF_BAUDRATE: "2400", CONF_PARITY: "E"}
        )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_DEVICE] == pty_meter
    assert entry.data[CONF_BAUDRATE] == 2400


@pytest.fixture
def serial_runtime(mock_setup_entry: AsyncMock) -> Iterator[None]:
    """Entries hold their serial port while loaded (exclusively, as the real reader does)."""
    held: dict[str, ByteSource] = {}

    async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> bool:
        held[entry.entry_id] = await open_serial(entry.data[CONF_DEVICE])
        return True

    async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> bool:
        await held.pop(entry.entry_id).close()
        return True

    mock_setup_entry.side_effect = setup
    with patch("custom_components.amshan_corus.async_unload_entry", side_effect=unload):
        yield


def serial_entry(device: str, unique_id: str = AIDON_METER_ID) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=unique_id,
        data={
            CONF_CONNECTION: Connection.HAN_SERIAL,
            CONF_DEVICE: device,
            CONF_BAUDRATE: 2400,
            CONF_PARITY: "N",
        },
    )


@pytest.mark.usefixtures("serial_runtime")
async def test_reconfigure_of_a_running_serial_entry_frees_its_port(
    hass: HomeAssistant, pty_meter: str
) -> None:
    entry = serial_entry(pty_meter)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    with patch.object(serialx, "list_serial_ports", return_value=[]):
        # A failing probe: the entry is loaded again (and holds its port) afterwards.
        result = await reconfigure(hass, entry, Connection.HAN_SERIAL)
        form = {CONF_DEVICE: "/dev/does-not-exist", CONF_BAUDRATE: "2400", CONF_PARITY: "E"}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
        assert result["errors"] == {"base": "cannot_connect"}
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED

        # The same port with another speed: probed while the entry is unloaded, then reloaded.
        # (Parity stays N: a Linux pty refuses PARENB when reopened, unlike a real UART.)
        form = {CONF_DEVICE: pty_meter, CONF_BAUDRATE: "9600", CONF_PARITY: "N"}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_BAUDRATE] == 9600
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("serial_runtime")
async def test_wrong_device_on_a_running_serial_entry_leaves_it_running(
    hass: HomeAssistant, pty_meter: str
) -> None:
    entry = serial_entry(pty_meter, unique_id="6970631401234567")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    with patch.object(serialx, "list_serial_ports", return_value=[]):
        result = await reconfigure(hass, entry, Connection.HAN_SERIAL)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE: pty_meter, CONF_BAUDRATE: "2400", CONF_PARITY: "N"}
        )
    assert result["reason"] == "wrong_device"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


# ----------------------------------------------------------------------------- reauth (HAN key)


async def test_reauth_with_the_new_key(hass: HomeAssistant, serve: Serve) -> None:
    port = await serve([ENCRYPTED.data])
    entry = han_tcp_entry(port=port, unique_id=None, **{CONF_ENCRYPTION_KEY: "00" * 16})
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENCRYPTION_KEY: "11" * 16}
    )
    assert result["errors"] == {CONF_ENCRYPTION_KEY: "wrong_key"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENCRYPTION_KEY: EK, CONF_AUTHENTICATION_KEY: AK}
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_ENCRYPTION_KEY] == EK
    assert entry.data[CONF_AUTHENTICATION_KEY] == AK
    assert entry.data[CONF_PORT] == port


# ----------------------------------------------------------------------------- options


async def test_han_options_set_the_scale_factors_and_reload(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    entry = han_tcp_entry(port=1)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert len(mock_setup_entry.mock_calls) == 1

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["scale_factors", "capacity_tariff"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "scale_factors"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scale_factors"
    assert set(map(str, result["data_schema"].schema)) == {
        CONF_SCALE_CURRENT,
        CONF_SCALE_POWER,
        CONF_SCALE_ENERGY,
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCALE_CURRENT: 40, CONF_SCALE_POWER: 40.0, CONF_SCALE_ENERGY: 40}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_SCALE_CURRENT: 40.0,
        CONF_SCALE_POWER: 40.0,
        CONF_SCALE_ENERGY: 40.0,
    }
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 2  # reloaded so the factors take effect


async def test_corus_options_set_the_poll_interval(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={
            CONF_CONNECTION: Connection.CORUS_TCP,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: 4000,
            CONF_TIMEZONE: "Europe/Oslo",
        },
        options={CONF_POLL_INTERVAL: 300},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert set(map(str, result["data_schema"].schema)) == {CONF_POLL_INTERVAL, CONF_BACKFILL_DAYS}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_POLL_INTERVAL: 900.0, CONF_BACKFILL_DAYS: 90.0}
    )
    assert entry.options == {CONF_POLL_INTERVAL: 900, CONF_BACKFILL_DAYS: 90}


# ----------------------------------------------------------------------------- translations


def _used_keys() -> tuple[set[str], set[str]]:
    """Error and abort keys the flow can produce, read from its source and the probe outcomes."""
    source = Path(config_flow.__file__).read_text(encoding="utf-8")
    errors = set(re.findall(r'errors\[[^\]]+\] = "(\w+)"', source))
    errors |= set(re.findall(r'CannotAddMeter\(\s*"(\w+)"', source))
    errors |= {outcome.value for outcome in config_flow.ProbeOutcome} - {"ok"}
    aborts = set(re.findall(r'reason="(\w+)"', source)) | {
        "already_configured",  # _abort_if_unique_id_configured / _async_abort_entries_match
        "reconfigure_successful",  # async_update_reload_and_abort
        "reauth_successful",
    }
    return errors, aborts


@pytest.mark.parametrize("language", ["en", "nb", "sv", "nl"])
def test_translations_cover_the_flow(language: str) -> None:
    strings = json.loads((TRANSLATIONS / f"{language}.json").read_text(encoding="utf-8"))
    errors, aborts = _used_keys()
    config = strings["config"]
    assert set(config["step"]) == {
        "user",
        "reconfigure",
        "han_serial",
        "han_tcp",
        "han_mqtt",
        "corus_tcp",
        "reauth_confirm",
    }
    assert set(config["step"]["user"]["menu_options"]) == {kind.value for kind in Connection}
    assert set(config["error"]) == errors
    assert set(config["abort"]) == aborts
    for step_id, step in config["step"].items():
        # Every field explains itself (quality scale: config-flow uses data_description).
        assert set(step.get("data", {})) == set(step.get("data_description", {})), step_id
    options = strings["options"]
    assert set(options["step"]) == {"init", "scale_factors", "capacity_tariff", "capacity_custom"}
    assert set(options["step"]["init"]["menu_options"]) == {"scale_factors", "capacity_tariff"}
    for step_id, step in options["step"].items():
        assert set(step.get("data", {})) == set(step.get("data_description", {})), step_id
    assert set(options["error"]) == {problem.value for problem in RuleProblem}
    assert set(strings["selector"]["parity"]["options"]) == {"N", "E", "O"}
