"""Config flow: add a HAN meter (serial, TCP, MQTT) or a Corus gas converter, proven to read first.

Every path connects and waits (bounded) for real data before it creates or changes an entry, and
tells the person what to do when that fails. The unique id comes from the meter itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
import os
import re
from typing import Any, Final

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PASSWORD, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.util import dt as dt_util
import serialx
import voluptuous as vol

from .const import (
    BAUDRATES,
    CONF_AUTHENTICATION_KEY,
    CONF_BACKFILL_DAYS,
    CONF_BAUDRATE,
    CONF_CAPACITY_RULES,
    CONF_CAPACITY_TARIFF,
    CONF_CONNECTION,
    CONF_ENCRYPTION_KEY,
    CONF_PARITY,
    CONF_POLL_INTERVAL,
    CONF_SCALE_CURRENT,
    CONF_SCALE_ENERGY,
    CONF_SCALE_POWER,
    CONF_TIMEZONE,
    CONF_TOPICS,
    DEFAULT_BACKFILL_DAYS,
    DEFAULT_BAUDRATE,
    DEFAULT_CORUS_PORT,
    DEFAULT_PARITY,
    DEFAULT_POLL_INTERVAL,
    DOMAIN,
    HAN_CONNECTIONS,
    LOGGER,
    MAX_BACKFILL_DAYS,
    PARITIES,
    Connection,
)
from .coordinator import han_source_opener, security_keys
from .insight.capacity import CapacityRules
from .insight.tariffs import (
    CUSTOM,
    PERIOD_MINUTES,
    TARIFF_NAMES,
    InvalidRulesError,
    TariffError,
    default_tariff,
    format_number_list,
    parse_number_list,
    resolve_tariff,
    rules_from_options,
    rules_to_options,
)
from .protocol.corus.client import CorusClient
from .protocol.corus.errors import (
    CorusAuthenticationError,
    CorusConnectionError,
    CorusError,
    CorusTimeoutError,
    UnsupportedFirmwareError,
)
from .protocol.han.probe import (
    DEFAULT_PROBE_TIMEOUT,
    HanProbe,
    ProbeOutcome,
    ProbeResult,
    probe_han,
)
from .protocol.han.security import SecurityKeys

# Module attributes so tests can shorten the waits.
HAN_PROBE_TIMEOUT = DEFAULT_PROBE_TIMEOUT
# Readers publish at their own pace and may batch (Tibber Pulse firmware does): listen longer.
MQTT_PROBE_TIMEOUT = 60.0
CORUS_TIMEOUT = 20.0

MIN_POLL_INTERVAL = 60  # seconds; every session costs the converter's battery
MAX_POLL_INTERVAL = 86400

# HAN ports are 8N1 or 8E1 (most Norwegian Aidon and Kaifa meters: 8E1). Read at the wrong
# parity, the bytes whose parity bit is 0 arrive garbled: when every frame fails its checksum,
# the serial probe tries the other parity before giving up.
_OTHER_PARITY: Final = {"N": "E", "E": "N"}
_NO_METER_SEEN: Final = (
    ProbeOutcome.CANNOT_CONNECT,
    ProbeOutcome.NO_DATA,
    ProbeOutcome.BAD_FRAMES,
)

_KEY_PATTERN = re.compile(r"[0-9a-f]{32}")
_KEY_FIELDS = (CONF_ENCRYPTION_KEY, CONF_AUTHENTICATION_KEY)
_SCALE_FIELDS = (CONF_SCALE_CURRENT, CONF_SCALE_POWER, CONF_SCALE_ENERGY)


class CannotAddMeter(Exception):
    """Raised by `async_try_connect` with the translation key (and placeholders) to show."""

    def __init__(
        self,
        error_code: str,
        placeholders: Mapping[str, str] | None = None,
        *,
        field: str = "base",
    ) -> None:
        super().__init__(error_code)
        self.error_code = str(error_code)
        self.placeholders = dict(placeholders or {})
        self.field = field


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """Who answered: the entry's unique id (None when the meter sends no id) and a title.

    `corrected` holds settings that worked instead of the ones entered (the other parity).
    """

    unique_id: str | None
    title: str
    corrected: Mapping[str, Any] | None = None


# ------------------------------------------------------------------------- the one connect helper


async def async_try_connect(hass: HomeAssistant, data: Mapping[str, Any]) -> MeterIdentity:
    """Read from the configured meter or converter and say who it is.

    Raises `CannotAddMeter` with the error to show when nothing usable was read.
    """
    connection = Connection(data[CONF_CONNECTION])
    if connection is Connection.CORUS_TCP:
        return await _async_try_corus(hass, data)
    keys = security_keys(data)
    if connection is Connection.HAN_MQTT:
        result = await _async_probe_mqtt(hass, data[CONF_TOPICS], keys)
    else:
        result = await probe_han(han_source_opener(data), keys=keys, timeout=HAN_PROBE_TIMEOUT)
        if (
            connection is Connection.HAN_SERIAL
            and result.outcome is ProbeOutcome.BAD_FRAMES
            and (other := _OTHER_PARITY.get(data[CONF_PARITY])) is not None
        ):
            retried = {**data, CONF_PARITY: other}
            retry = await probe_han(
                han_source_opener(retried), keys=keys, timeout=HAN_PROBE_TIMEOUT
            )
            if retry.outcome not in _NO_METER_SEEN:
                LOGGER.info(
                    "%s: every frame failed its checksum at parity %s, parity %s works",
                    data[CONF_DEVICE],
                    data[CONF_PARITY],
                    other,
                )
                identity = _han_identity(connection, retried, retry)
                return replace(identity, corrected={CONF_PARITY: other})
    return _han_identity(connection, data, result)


def _han_identity(
    connection: Connection, data: Mapping[str, Any], result: ProbeResult
) -> MeterIdentity:
    LOGGER.debug("Probe of %s: %s", _connection_label(connection, data), result)
    timeout = MQTT_PROBE_TIMEOUT if connection is Connection.HAN_MQTT else HAN_PROBE_TIMEOUT
    placeholders = {"seconds": f"{timeout:g}", "detail": result.detail or ""}
    match result.outcome:
        case ProbeOutcome.OK:
            pass
        case ProbeOutcome.KEY_REQUIRED | ProbeOutcome.WRONG_KEY:
            raise CannotAddMeter(result.outcome, placeholders, field=CONF_ENCRYPTION_KEY)
        case ProbeOutcome.NO_DATA if connection is Connection.HAN_MQTT:
            raise CannotAddMeter("no_mqtt_messages", placeholders)
        case _:
            raise CannotAddMeter(result.outcome, placeholders)
    if result.manufacturer and result.meter_type:
        title = f"{result.manufacturer} {result.meter_type}"
    else:
        title = f"{result.manufacturer or 'HAN meter'} ({_connection_label(connection, data)})"
    return MeterIdentity(unique_id=result.meter_id, title=title)


async def _async_probe_mqtt(
    hass: HomeAssistant, topics: list[str], keys: SecurityKeys | None
) -> ProbeResult:
    """Listen to the topics and classify what arrives, like `probe_han` does for a stream."""
    # Imported here: MQTT is an optional after-dependency, needed only on this path.
    from homeassistant.components import mqtt  # noqa: PLC0415

    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise CannotAddMeter("mqtt_not_available")
    probe = HanProbe(keys=keys)
    settled = asyncio.Event()

    @callback
    def _received(message: mqtt.ReceiveMessage) -> None:
        payload = message.payload  # bytes (subscribed without decoding); typed str | bytes
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        if probe.feed_payload(data, topic=message.topic):
            settled.set()

    unsubscribes = []
    try:
        for topic in topics:
            unsubscribes.append(await mqtt.async_subscribe(hass, topic, _received, encoding=None))
        async with asyncio.timeout(MQTT_PROBE_TIMEOUT):
            await settled.wait()
    except TimeoutError:
        pass
    finally:
        for unsubscribe in unsubscribes:
            unsubscribe()
    return probe.result()


async def _async_try_corus(hass: HomeAssistant, data: Mapping[str, Any]) -> MeterIdentity:
    """Sign on and read the converter once (firmware map and all its parameters)."""
    client_options: dict[str, Any] = {
        "timezone": await dt_util.async_get_time_zone(data[CONF_TIMEZONE]),
        "timeout": CORUS_TIMEOUT,
    }
    if password := data.get(CONF_PASSWORD):
        client_options["password"] = password
    client = CorusClient(data[CONF_HOST], data[CONF_PORT], **client_options)
    try:
        reading = await client.read_all()
    except CorusAuthenticationError as err:
        raise CannotAddMeter("invalid_auth", field=CONF_PASSWORD) from err
    except UnsupportedFirmwareError as err:
        placeholders = {"map_id": err.map_id, "known_maps": ", ".join(err.known)}
        raise CannotAddMeter("unsupported_firmware", placeholders) from err
    except CorusTimeoutError as err:
        raise CannotAddMeter("timeout", {"detail": str(err)}) from err
    except CorusConnectionError as err:
        raise CannotAddMeter("cannot_connect", {"detail": str(err)}) from err
    except CorusError as err:
        raise CannotAddMeter("communication_error", {"detail": str(err)}) from err
    # No Corus parameter map holds a serial number: such entries have no unique id and
    # duplicates are refused by host and port instead.
    title = f"Corus {reading.firmware_map} ({data[CONF_HOST]})"
    return MeterIdentity(unique_id=None, title=title)


def _connection_label(connection: Connection, data: Mapping[str, Any]) -> str:
    if connection is Connection.HAN_SERIAL:
        return str(data[CONF_DEVICE])
    if connection is Connection.HAN_MQTT:
        return ", ".join(data[CONF_TOPICS])
    return f"{data[CONF_HOST]}:{data[CONF_PORT]}"


# ------------------------------------------------------------------------- input validation


def _normalized_key(value: str) -> str | None:
    """A key as 32 lower-case hex digits (spaces, colons and a 0x prefix tolerated), or None."""
    text = re.sub(r"[\s:]", "", value).lower().removeprefix("0x")
    return text if _KEY_PATTERN.fullmatch(text) else None


def _validated_keys(user_input: Mapping[str, Any], errors: dict[str, str]) -> dict[str, str]:
    """The keys the person entered, normalized; a bad one is reported in `errors`."""
    keys: dict[str, str] = {}
    for field in _KEY_FIELDS:
        if not (value := str(user_input.get(field) or "").strip()):
            continue
        if (key := _normalized_key(value)) is None:
            errors[field] = "invalid_key_format"
        else:
            keys[field] = key
    if CONF_AUTHENTICATION_KEY in keys and CONF_ENCRYPTION_KEY not in (*keys, *errors):
        errors[CONF_AUTHENTICATION_KEY] = "authentication_key_without_encryption_key"
    return keys


def _baudrate(value: Any) -> int | None:
    try:
        baudrate = int(value)
    except (TypeError, ValueError):
        return None
    return baudrate if baudrate > 0 else None


def _validated_topics(topics: list[str], errors: dict[str, str]) -> list[str]:
    # Imported here: MQTT is an optional after-dependency, needed only on this path.
    from homeassistant.components.mqtt import valid_subscribe_topic  # noqa: PLC0415

    cleaned = list(dict.fromkeys(topic.strip() for topic in topics if topic.strip()))
    try:
        for topic in cleaned:
            valid_subscribe_topic(topic)
    except vol.Invalid:
        errors[CONF_TOPICS] = "invalid_topic"
    if not cleaned:
        errors[CONF_TOPICS] = "invalid_topic"
    return cleaned


# ------------------------------------------------------------------------- schemas


def _key_fields() -> dict[vol.Marker, Any]:
    secret = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
    return {vol.Optional(field): secret for field in _KEY_FIELDS}


def _serial_schema(ports: list[SelectOptionDict]) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_DEVICE): SelectSelector(
                SelectSelectorConfig(
                    options=ports, custom_value=True, mode=SelectSelectorMode.DROPDOWN, sort=False
                )
            ),
            vol.Required(CONF_BAUDRATE, default=str(DEFAULT_BAUDRATE)): SelectSelector(
                SelectSelectorConfig(
                    options=[str(rate) for rate in BAUDRATES],
                    custom_value=True,
                    mode=SelectSelectorMode.DROPDOWN,
                    sort=False,
                )
            ),
            vol.Required(CONF_PARITY, default=DEFAULT_PARITY): SelectSelector(
                SelectSelectorConfig(
                    options=PARITIES, translation_key="parity", mode=SelectSelectorMode.DROPDOWN
                )
            ),
            **_key_fields(),
        }
    )


TCP_SCHEMA = vol.Schema(
    {vol.Required(CONF_HOST): TextSelector(), vol.Required(CONF_PORT): cv.port, **_key_fields()}
)


MQTT_SCHEMA = vol.Schema(
    {vol.Required(CONF_TOPICS): TextSelector(TextSelectorConfig(multiple=True)), **_key_fields()}
)


def _poll_interval_selector() -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=MIN_POLL_INTERVAL,
            max=MAX_POLL_INTERVAL,
            step=1,
            unit_of_measurement="s",
            mode=NumberSelectorMode.BOX,
        )
    )


def _corus_schema(*, time_zone: str, with_poll_interval: bool) -> vol.Schema:
    schema: dict[vol.Marker, Any] = {
        vol.Required(CONF_HOST): TextSelector(),
        vol.Required(CONF_PORT, default=DEFAULT_CORUS_PORT): cv.port,
        vol.Optional(CONF_PASSWORD): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
        vol.Required(CONF_TIMEZONE, default=time_zone): TextSelector(),
    }
    if with_poll_interval:
        poll_default = int(DEFAULT_POLL_INTERVAL.total_seconds())
        schema[vol.Required(CONF_POLL_INTERVAL, default=poll_default)] = _poll_interval_selector()
    return vol.Schema(schema)


def _port_options(ports: list[serialx.SerialPortInfo]) -> list[SelectOptionDict]:
    options = []
    for port in ports:
        details = [part for part in (port.manufacturer, port.product) if part]
        if port.serial_number:
            details.append(f"s/n {port.serial_number}")
        label = f"{port.device} ({', '.join(details)})" if details else port.device
        options.append(SelectOptionDict(value=port.device, label=label))
    return options


def _stable_device_path(device: str, ports: list[serialx.SerialPortInfo]) -> str:
    """The /dev/serial/by-id path for a typed /dev/ttyUSBn path (it survives re-plugging).

    URLs (socket://, rfc2217://, esphome://) and unknown paths are kept as typed. Blocking
    (resolves symlinks): run in the executor.
    """
    if "://" in device:
        return device
    real = os.path.realpath(device)
    for port in ports:
        if port.device == device or real in (port.resolved_device, os.path.realpath(port.device)):
            return port.device
    return device


def _list_serial_ports() -> list[serialx.SerialPortInfo]:
    """Blocking (reads sysfs): run in the executor."""
    try:
        return serialx.list_serial_ports()
    except OSError as err:
        LOGGER.debug("Listing serial ports failed: %s", err)
        return []


# ------------------------------------------------------------------------- the flow


class AmshanCorusConfigFlow(ConfigFlow, domain=DOMAIN):
    """Menu -> one form per connection kind -> probe -> entry. Also reconfigure and reauth."""

    VERSION = 1
    MINOR_VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> AmshanCorusOptionsFlow:
        """Tuning that doesn't change which meter is read."""
        return AmshanCorusOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the person choose how the meter is reached."""
        return self.async_show_menu(
            step_id="user", menu_options=[kind.value for kind in Connection]
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how an existing meter is reached; entities and history stay.

        A HAN meter may move between serial, TCP and MQTT (a USB cable replaced by a WiFi
        bridge): the menu offers all three, each form filled in when it is the current one.
        """
        connection = Connection(self._get_reconfigure_entry().data[CONF_CONNECTION])
        if connection is Connection.CORUS_TCP:
            return await self.async_step_corus_tcp()
        kinds = [kind.value for kind in Connection if kind in HAN_CONNECTIONS]
        return self.async_show_menu(step_id="reconfigure", menu_options=kinds)

    async def async_step_han_serial(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """HAN/P1 port on a local serial device or a serial URL."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        ports = await self.hass.async_add_executor_job(_list_serial_ports)
        if user_input is not None:
            typed = str(user_input[CONF_DEVICE]).strip()
            data: dict[str, Any] = {
                CONF_CONNECTION: Connection.HAN_SERIAL,
                CONF_DEVICE: await self.hass.async_add_executor_job(
                    _stable_device_path, typed, ports
                ),
                CONF_PARITY: user_input[CONF_PARITY],
            }
            if (baudrate := _baudrate(user_input[CONF_BAUDRATE])) is None:
                errors[CONF_BAUDRATE] = "invalid_baudrate"
            data[CONF_BAUDRATE] = baudrate
            data |= _validated_keys(user_input, errors)
            match = {CONF_DEVICE: data[CONF_DEVICE]}
            if not errors and (
                result := await self._async_finish(data, match, errors, placeholders)
            ):
                return result
        return self._show(
            Connection.HAN_SERIAL,
            _serial_schema(_port_options(ports)),
            user_input,
            errors,
            placeholders,
        )

    async def async_step_han_tcp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """HAN/P1 stream from a network bridge (ser2net, ESPHome stream server...)."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data: dict[str, Any] = {
                CONF_CONNECTION: Connection.HAN_TCP,
                CONF_HOST: str(user_input[CONF_HOST]).strip(),
                CONF_PORT: user_input[CONF_PORT],
            }
            data |= _validated_keys(user_input, errors)
            match = {CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}
            if not errors and (
                result := await self._async_finish(data, match, errors, placeholders)
            ):
                return result
        return self._show(Connection.HAN_TCP, TCP_SCHEMA, user_input, errors, placeholders)

    async def async_step_han_mqtt(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """HAN data that a reader (Tibber Pulse, AmsToMqttBridge...) publishes to MQTT."""
        # Imported here: MQTT is an optional after-dependency, needed only on this path.
        from homeassistant.components.mqtt import async_wait_for_mqtt_client  # noqa: PLC0415

        if not await async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_available")
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data: dict[str, Any] = {
                CONF_CONNECTION: Connection.HAN_MQTT,
                CONF_TOPICS: _validated_topics(user_input[CONF_TOPICS], errors),
            }
            data |= _validated_keys(user_input, errors)
            match = {CONF_TOPICS: data[CONF_TOPICS]}
            if not errors and (
                result := await self._async_finish(data, match, errors, placeholders)
            ):
                return result
        return self._show(Connection.HAN_MQTT, MQTT_SCHEMA, user_input, errors, placeholders)

    async def async_step_corus_tcp(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """An Itron/Actaris Corus gas volume converter behind a TCP modem or gateway."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        reconfiguring = self.source == SOURCE_RECONFIGURE
        if user_input is not None:
            data: dict[str, Any] = {
                CONF_CONNECTION: Connection.CORUS_TCP,
                CONF_HOST: str(user_input[CONF_HOST]).strip(),
                CONF_PORT: user_input[CONF_PORT],
                CONF_TIMEZONE: str(user_input[CONF_TIMEZONE]).strip(),
            }
            if password := user_input.get(CONF_PASSWORD):
                data[CONF_PASSWORD] = password
            if await dt_util.async_get_time_zone(data[CONF_TIMEZONE]) is None:
                errors[CONF_TIMEZONE] = "invalid_timezone"
            options = None
            if CONF_POLL_INTERVAL in user_input:
                options = {CONF_POLL_INTERVAL: int(user_input[CONF_POLL_INTERVAL])}
            match = {CONF_HOST: data[CONF_HOST], CONF_PORT: data[CONF_PORT]}
            if not errors and (
                result := await self._async_finish(data, match, errors, placeholders, options)
            ):
                return result
        schema = _corus_schema(
            time_zone=self.hass.config.time_zone, with_poll_interval=not reconfiguring
        )
        return self._show(Connection.CORUS_TCP, schema, user_input, errors, placeholders)

    # ----------------------------------------------------------------- reauth

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The converter refused the password, or the meter's key changed."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new password (Corus) or keys (HAN) and prove they work."""
        entry = self._get_reauth_entry()
        corus = entry.data[CONF_CONNECTION] == Connection.CORUS_TCP
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            secrets = (CONF_PASSWORD, *_KEY_FIELDS)
            data = {key: value for key, value in entry.data.items() if key not in secrets}
            if corus and (password := user_input.get(CONF_PASSWORD)):
                data[CONF_PASSWORD] = password
            elif not corus:
                data |= _validated_keys(user_input, errors)
            if not errors and (result := await self._async_finish(data, {}, errors, placeholders)):
                return result
        secret = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
        schema = vol.Schema({vol.Optional(CONF_PASSWORD): secret} if corus else _key_fields())
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders=placeholders,
        )

    # ----------------------------------------------------------------- shared tail of every step

    async def _async_finish(
        self,
        data: dict[str, Any],
        same_connection: dict[str, Any],
        errors: dict[str, str],
        placeholders: dict[str, str],
        options: dict[str, Any] | None = None,
    ) -> ConfigFlowResult | None:
        """Probe, then create (or update) the entry; None with `errors` filled when it failed.

        Refuses a connection another entry already uses before probing (a serial port can't
        be opened twice; it also saves the wait), and a meter that is already configured.
        """
        if same_connection:
            self._async_abort_entries_match(same_connection)
        entry = None
        if self.source in (SOURCE_RECONFIGURE, SOURCE_REAUTH):
            entry = self.hass.config_entries.async_get_known_entry(self.context["entry_id"])
        released = entry is not None and await self._async_release_serial_port(entry)
        reloading = False
        try:
            identity = await async_try_connect(self.hass, data)
            data = {**data, **(identity.corrected or {})}
            if entry is None:
                if identity.unique_id is not None:
                    await self.async_set_unique_id(identity.unique_id)
                    self._abort_if_unique_id_configured()
                return self.async_create_entry(title=identity.title, data=data, options=options)
            if entry.unique_id is not None or identity.unique_id is not None:
                await self.async_set_unique_id(identity.unique_id)
                self._abort_if_unique_id_mismatch(reason="wrong_device")
            reloading = True
            return self.async_update_reload_and_abort(entry, data=data)
        except CannotAddMeter as err:
            errors[err.field] = err.error_code
            placeholders.update(err.placeholders)
            return None
        finally:
            if released and entry is not None and not reloading:
                self.hass.config_entries.async_schedule_reload(entry.entry_id)

    async def _async_release_serial_port(self, entry: ConfigEntry) -> bool:
        """Unload a running serial entry so the probe can open its port (serialx locks it).

        True when unloaded: the caller reloads it, whatever the probe's outcome.
        """
        if entry.data[CONF_CONNECTION] != Connection.HAN_SERIAL:
            return False
        if entry.state is not ConfigEntryState.LOADED:
            return False
        return await self.hass.config_entries.async_unload(entry.entry_id)

    def _show(
        self,
        connection: Connection,
        schema: vol.Schema,
        user_input: Mapping[str, Any] | None,
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult:
        if user_input is None and self.source == SOURCE_RECONFIGURE:
            current = self._get_reconfigure_entry().data
            if current[CONF_CONNECTION] == connection:
                user_input = _form_values(current)
        return self.async_show_form(
            step_id=connection.value,
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data as the form shows it (the baud rate is a select of strings)."""
    values = dict(data)
    if CONF_BAUDRATE in values:
        values[CONF_BAUDRATE] = str(values[CONF_BAUDRATE])
    return values


class AmshanCorusOptionsFlow(OptionsFlowWithReload):
    """Poll interval (Corus); scale factors and the capacity tariff (HAN), from a menu.

    `OptionsFlowWithReload` reloads the entry when the options change, so the integration needs
    no update listener (which would conflict with the reconfigure flow's reload). Each HAN step
    saves the entry's options merged with its own, so one step never wipes another's.
    """

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """HAN: the menu; Corus: its one form."""
        if self.config_entry.data[CONF_CONNECTION] in HAN_CONNECTIONS:
            return self.async_show_menu(step_id="init", menu_options=_HAN_OPTION_STEPS)
        if user_input is not None:
            return self.async_create_entry(data=_clean_options(user_input))
        poll_default = int(DEFAULT_POLL_INTERVAL.total_seconds())
        days = NumberSelector(
            NumberSelectorConfig(
                min=1,
                max=MAX_BACKFILL_DAYS,
                step=1,
                unit_of_measurement="d",
                mode=NumberSelectorMode.BOX,
            )
        )
        schema = vol.Schema(
            {
                vol.Required(CONF_POLL_INTERVAL, default=poll_default): _poll_interval_selector(),
                vol.Required(CONF_BACKFILL_DAYS, default=DEFAULT_BACKFILL_DAYS): days,
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, self.config_entry.options),
        )

    async def async_step_scale_factors(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Per-quantity factors for meters behind current transformers."""
        if user_input is not None:
            return self._async_save(_clean_options(user_input))
        scale = NumberSelector(
            NumberSelectorConfig(min=0.001, max=100000, step="any", mode=NumberSelectorMode.BOX)
        )
        schema = vol.Schema({vol.Required(field, default=1.0): scale for field in _SCALE_FIELDS})
        return self.async_show_form(
            step_id="scale_factors",
            data_schema=self.add_suggested_values_to_schema(schema, self.config_entry.options),
        )

    async def async_step_capacity_tariff(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Which capacity-tariff rules the sensors follow; `custom` opens the rules form."""
        if user_input is not None:
            name = user_input[CONF_CAPACITY_TARIFF]
            if name == CUSTOM:
                return await self.async_step_capacity_custom()
            return self._async_save({CONF_CAPACITY_TARIFF: name}, drop=(CONF_CAPACITY_RULES,))
        current = self.config_entry.options.get(
            CONF_CAPACITY_TARIFF, default_tariff(self.hass.config.country)
        )
        schema = vol.Schema(
            {
                vol.Required(CONF_CAPACITY_TARIFF, default=current): SelectSelector(
                    SelectSelectorConfig(
                        options=list(TARIFF_NAMES),
                        translation_key=CONF_CAPACITY_TARIFF,
                        mode=SelectSelectorMode.LIST,
                    )
                )
            }
        )
        return self.async_show_form(step_id="capacity_tariff", data_schema=schema)

    async def async_step_capacity_custom(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The rules field by field, first filled in from the tariff chosen so far."""
        errors: dict[str, str] = {}
        current = self._current_rules()
        if user_input is not None:
            try:
                rules = rules_from_options(_custom_rules(user_input, current))
            except InvalidRulesError as err:
                errors[err.field if err.field in _CUSTOM_FIELDS else "base"] = err.problem.value
            else:
                return self._async_save(
                    {CONF_CAPACITY_TARIFF: CUSTOM, CONF_CAPACITY_RULES: rules_to_options(rules)}
                )
            values = user_input
        else:
            values = _custom_form_values(current)
        return self.async_show_form(
            step_id="capacity_custom",
            data_schema=self.add_suggested_values_to_schema(_custom_schema(), values),
            errors=errors,
        )

    def _current_rules(self) -> CapacityRules:
        """The entry's rules now (Norway's when the tariff is off or unreadable)."""
        options = self.config_entry.options
        try:
            tariff = resolve_tariff(
                options.get(CONF_CAPACITY_TARIFF),
                options.get(CONF_CAPACITY_RULES),
                country=self.hass.config.country,
            )
        except TariffError:
            return CapacityRules()
        return tariff.rules or CapacityRules()

    def _async_save(
        self, changes: Mapping[str, Any], drop: tuple[str, ...] = ()
    ) -> ConfigFlowResult:
        options = {
            key: value for key, value in self.config_entry.options.items() if key not in drop
        }
        return self.async_create_entry(data=options | dict(changes))


_HAN_OPTION_STEPS = ["scale_factors", "capacity_tariff"]
_CUSTOM_FIELDS = (
    "peaks",
    "one_per_day",
    "period_minutes",
    "months",
    "weekdays",
    "hours_from",
    "hours_to",
    "night_weight",
    "night_from",
    "night_to",
    "step_limits",
    "step_prices",
    "price_per_kw",
)
_TEXT_LISTS = ("step_limits", "step_prices")


def _custom_schema() -> vol.Schema:
    """Numbers are free boxes: the rules' own checks give the specific, translated errors."""
    whole = NumberSelector(NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX))
    hour = NumberSelector(
        NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX, unit_of_measurement="h")
    )
    decimal = NumberSelector(NumberSelectorConfig(step="any", mode=NumberSelectorMode.BOX))

    def choice(key: str, options: list[str], *, multiple: bool = False) -> SelectSelector:
        return SelectSelector(
            SelectSelectorConfig(
                options=options,
                translation_key=key,
                multiple=multiple,
                mode=SelectSelectorMode.DROPDOWN,
                sort=False,
            )
        )

    return vol.Schema(
        {
            vol.Required("peaks"): whole,
            vol.Required("one_per_day"): BooleanSelector(),
            vol.Required("period_minutes"): choice(
                "capacity_period", [str(minutes) for minutes in PERIOD_MINUTES]
            ),
            vol.Required("months"): choice(
                "month", [str(month) for month in range(1, 13)], multiple=True
            ),
            vol.Required("weekdays"): choice(
                "weekday", [str(day) for day in range(7)], multiple=True
            ),
            vol.Required("hours_from"): hour,
            vol.Required("hours_to"): hour,
            vol.Required("night_weight"): decimal,
            vol.Required("night_from"): hour,
            vol.Required("night_to"): hour,
            vol.Optional("step_limits"): TextSelector(),
            vol.Optional("step_prices"): TextSelector(),
            vol.Optional("price_per_kw"): decimal,
        }
    )


def _custom_form_values(rules: CapacityRules) -> dict[str, Any]:
    """`rules` as the custom form shows them (selects take strings, lists are one line)."""
    values = rules_to_options(rules)
    form = {key: values[key] for key in _CUSTOM_FIELDS}
    form["period_minutes"] = str(values["period_minutes"])
    form["months"] = [str(month) for month in values["months"]]
    form["weekdays"] = [str(day) for day in values["weekdays"]]
    form["night_weight"] = float(rules.night_weight)
    form["step_limits"] = format_number_list(rules.step_limits)
    form["step_prices"] = format_number_list(rules.step_prices)
    if rules.price_per_kw is None:
        del form["price_per_kw"]
    else:
        form["price_per_kw"] = float(rules.price_per_kw)
    return form


def _custom_rules(user_input: Mapping[str, Any], current: CapacityRules) -> dict[str, Any]:
    """The custom form's answers as the rules mapping `rules_from_options` checks.

    Raises `InvalidRulesError` for a number list that does not read. Public holidays the
    rules started from exclude (a preset's calendar) stay excluded: the form cannot show them.
    """
    rules: dict[str, Any] = {key: user_input.get(key) for key in _CUSTOM_FIELDS}
    rules["period_minutes"] = int(user_input["period_minutes"])
    for field in _TEXT_LISTS:
        rules[field] = list(parse_number_list(str(user_input.get(field) or ""), field))
    rules["step_prices"] = rules["step_prices"] or None
    rules["excluded_dates"] = [day.isoformat() for day in sorted(current.excluded_dates)]
    return rules


def _clean_options(user_input: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(user_input)
    for whole in (CONF_POLL_INTERVAL, CONF_BACKFILL_DAYS):
        if whole in options:
            options[whole] = int(options[whole])
    for field in _SCALE_FIELDS:
        if field in options:
            options[field] = float(options[field])
    return options
