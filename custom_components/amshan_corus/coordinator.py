"""Coordinators: one per configured meter; all I/O of the integration starts here.

`HanCoordinator` (push) owns one supervising task per entry: connect -> read -> decode ->
publish, reconnecting with exponential back-off and a no-data watchdog; the MQTT variant
subscribes to topics instead. `CorusCoordinator` (poll) runs one Corus session per interval.
Both publish a `MeterData`: the merged latest value of every reading, after the energy
guard has refused lifetime totals that are zero, go backwards or jump impossibly.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE, CONF_HOST, CONF_PASSWORD, CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_AUTHENTICATION_KEY,
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
    DEFAULT_BAUDRATE,
    DEFAULT_PARITY,
    DEFAULT_POLL_INTERVAL,
    DOMAIN,
    LOGGER,
    Connection,
)
from .protocol.corus.client import CorusClient
from .protocol.corus.errors import (
    CorusAuthenticationError,
    CorusConnectionError,
    CorusError,
    CorusTimeoutError,
    UnsupportedFirmwareError,
)
from .protocol.han.decode import PayloadDecoder
from .protocol.han.errors import DecodeError, DecryptionError, FrameError, HanError
from .protocol.han.models import DemandPeak, MeterMessage, ReadingValue
from .protocol.han.probe import SourceOpener
from .protocol.han.security import SecurityKeys
from .protocol.han.stream import MeterStreamDecoder
from .protocol.han.transport import DEFAULT_CONNECT_TIMEOUT, open_serial, open_tcp
from .statistics import CorusBackfill, HourlyImporter

if TYPE_CHECKING:
    from homeassistant.components.mqtt import ReceiveMessage

    from .capacity import CapacityFeed

type AmshanCorusConfigEntry = ConfigEntry[HanCoordinator | CorusCoordinator]

RAW_HISTORY: Final = 20
# Lifetime registers, by unit: the most a meter could plausibly add per hour. Generous on
# purpose (2 MW, 100 000 m³/h): the guard is there for decoding glitches (a flipped high
# digit, a 0, 100 000 000 W), not to second-guess real consumption.
_MAX_PER_HOUR: Final[Mapping[str, Decimal]] = {
    "Wh": Decimal(2_000_000),
    "kWh": Decimal(2_000),
    "MWh": Decimal(2),
    "varh": Decimal(2_000_000),
    "kvarh": Decimal(2_000),
    "Mvarh": Decimal(2),
    "VAh": Decimal(2_000_000),
    "kVAh": Decimal(2_000),
    "MJ": Decimal(7_200),
    "GJ": Decimal("7.2"),
    "m3": Decimal(100_000),
}
_CANONICAL_UNITS: Final = {"m³": "m3"}  # Home Assistant's spelling of a meter unit
# Clock slack added to the elapsed time so that two registers read a second apart pass.
_GUARD_SLACK: Final = timedelta(minutes=1)
# A register refused this many times in a row, consistently, is a real change (a replaced
# meter): accept it as the new baseline instead of refusing it forever.
_GUARD_CONFIRMATIONS: Final = 3

_CURRENT_UNITS: Final = frozenset({"A"})
_POWER_UNITS: Final = frozenset({"W", "kW", "MW", "var", "kvar", "Mvar", "VA", "kVA", "MVA"})
_ENERGY_UNITS: Final = frozenset({"Wh", "kWh", "MWh", "varh", "kvarh", "Mvarh", "VAh", "kVAh"})


@dataclass(frozen=True, slots=True)
class MeterValue:
    """The latest accepted value of one reading (scaled for current-transformer meters)."""

    value: ReadingValue
    unit: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterData:
    """What a coordinator publishes: every reading's last accepted value.

    `demand_history` is a Belgian meter's list of monthly peaks (0-0:98.1.0), kept from the
    last message that had one.
    """

    values: Mapping[str, MeterValue]
    manufacturer: str | None = None
    demand_history: tuple[DemandPeak, ...] = ()

    def value(self, key: str) -> ReadingValue | None:
        """The value of `key`, or None when the meter has not sent it (yet)."""
        item = self.values.get(key)
        return None if item is None else item.value


@dataclass(slots=True)
class MeterStats:
    """Counters and the last raw messages, for diagnostics and for the people reading them."""

    messages: int = 0
    rejected: int = 0  # frames failing their checksum or length checks; never published
    decode_errors: int = 0  # intact frames that are no meter message we can decode
    ignored: int = 0  # MQTT payloads that are no meter message (bridge debug text...)
    guarded: int = 0  # lifetime totals refused by the energy guard
    reconnects: int = 0
    watchdog_trips: int = 0
    polls: int = 0
    last_message: datetime | None = None
    last_error: str | None = None
    raw: deque[tuple[datetime, bytes]] = field(default_factory=lambda: deque(maxlen=RAW_HISTORY))


def is_lifetime_unit(unit: str | None) -> bool:
    """True for units of registers that only ever grow (energy, volume)."""
    return _CANONICAL_UNITS.get(unit or "", unit) in _MAX_PER_HOUR


class EnergyGuard:
    """Refuses lifetime totals that are zero, go backwards or jump impossibly.

    The Energy dashboard books any drop of a `total_increasing` sensor as a meter reset and
    the recovery as consumption, so one glitched frame would show as megawatt-hours used.
    Values are compared in the meter's own unit family; a change of unit restarts the key.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[Decimal, str, datetime]] = {}
        self._pending: dict[str, tuple[Decimal, datetime, int]] = {}

    def seed(self, key: str, value: Decimal, unit: str, when: datetime) -> None:
        """Start from a value known from before (a restored sensor state)."""
        unit = _CANONICAL_UNITS.get(unit, unit)
        if key not in self._last and value > 0:
            self._last[key] = (value, unit, when)

    def accept(self, key: str, value: ReadingValue, unit: str | None, now: datetime) -> bool:
        """Whether `value` may be published; remembers it when it may."""
        unit = _CANONICAL_UNITS.get(unit or "", unit)
        if unit is None or unit not in _MAX_PER_HOUR or not isinstance(value, int | Decimal):
            return True
        number = Decimal(value)
        if number <= 0:
            return False
        last = self._last.get(key)
        if last is None or last[1] != unit or self._plausible(last[0], last[2], number, now, unit):
            self._last[key] = (number, unit, now)
            self._pending.pop(key, None)
            return True
        pending = self._pending.get(key)
        if pending is not None and self._plausible(pending[0], pending[1], number, now, unit):
            if pending[2] + 1 >= _GUARD_CONFIRMATIONS:
                LOGGER.warning("%s changed for good (%s -> %s %s)", key, last[0], number, unit)
                self._last[key] = (number, unit, now)
                del self._pending[key]
                return True
            self._pending[key] = (number, now, pending[2] + 1)
        else:
            self._pending[key] = (number, now, 1)
        LOGGER.debug("Energy guard refused %s = %s %s (last %s)", key, number, unit, last[0])
        return False

    @staticmethod
    def _plausible(old: Decimal, since: datetime, new: Decimal, now: datetime, unit: str) -> bool:
        hours = Decimal((max(now - since, timedelta()) + _GUARD_SLACK).total_seconds()) / 3600
        return old <= new <= old + _MAX_PER_HOUR[unit] * hours


class AmshanCorusCoordinator(DataUpdateCoordinator[MeterData]):
    """What both coordinators share: the guard, the counters and publishing a merged state."""

    config_entry: AmshanCorusConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: AmshanCorusConfigEntry,
        *,
        update_interval: timedelta | None,
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=update_interval,
        )
        self.guard = EnergyGuard()
        self.stats = MeterStats()
        self._scale: dict[frozenset[str], Decimal] = {}
        self._device_fields: dict[str, str | None] = {}
        self.device_id: str | None = None  # the meter's device, registered by entry setup

    @property
    def device_key(self) -> str:
        """The identifier of the meter's device and the prefix of every unique_id."""
        return self.config_entry.unique_id or self.config_entry.entry_id

    def seed_restored(self, key: str, value: Decimal, unit: str, when: datetime) -> None:
        """Let the guard compare the first reading after a restart with the restored state."""
        scale = self._scale.get(_ENERGY_UNITS, Decimal(1)) if unit in _ENERGY_UNITS else Decimal(1)
        self.guard.seed(key, value / scale, unit, when)

    def _merge(
        self,
        readings: Mapping[str, tuple[ReadingValue, str | None, datetime | None, bool]],
        manufacturer: str | None,
        now: datetime,
        demand_history: tuple[DemandPeak, ...] = (),
    ) -> MeterData:
        """The new merged state: (value, unit, timestamp, scalable) per reading name."""
        values = dict(self.data.values) if self.data is not None else {}
        for key, (value, unit, timestamp, scalable) in readings.items():
            if not self.guard.accept(key, value, unit, now):
                self.stats.guarded += 1
                continue
            values[key] = MeterValue(
                self._scaled(value, unit) if scalable else value, unit, timestamp
            )
        if manufacturer is None and self.data is not None:
            manufacturer = self.data.manufacturer
        history = tuple(self._scaled_peak(peak) for peak in demand_history)
        if not history and self.data is not None:
            history = self.data.demand_history
        return MeterData(values=values, manufacturer=manufacturer, demand_history=history)

    def _scaled_peak(self, peak: DemandPeak) -> DemandPeak:
        """A history peak scaled as the month's peak (1-0:1.6.0) is, so the two compare."""
        value = self._scaled(peak.value, peak.unit)
        return replace(peak, value=value) if isinstance(value, Decimal) else peak

    def _scaled(self, value: ReadingValue, unit: str | None) -> ReadingValue:
        if not isinstance(value, int | Decimal) or unit is None:
            return value
        for units, scale in self._scale.items():
            if unit in units and scale != 1:
                return Decimal(value) * scale
        return value

    def device_fields(self, data: MeterData | None = None) -> dict[str, str | None]:
        """Manufacturer, model, serial number and firmware of the meter, as far as known."""
        raise NotImplementedError

    @callback
    def _update_device(self, **fields: str | None) -> None:
        """Keep model, serial and firmware of the meter's device current (lists 2/3 bring them)."""
        changed = {k: v for k, v in fields.items() if v and self._device_fields.get(k) != v}
        if not changed:
            return
        registry = dr.async_get(self.hass)
        if self.device_id is None or registry.async_get(self.device_id) is None:
            return  # before entry setup registered it (a Corus first refresh): entities bring them
        self._device_fields.update(changed)
        registry.async_update_device(self.device_id, **changed)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class HanTiming:
    """Timings of the HAN supervisor (injectable so tests stay quick)."""

    # The slowest meters send every 10 s (Kamstrup list 1), so three missed messages.
    watchdog: float = 30.0
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    connect_timeout: float = 15.0


DEFAULT_HAN_TIMING: Final = HanTiming()
KEY_FAILURES_BEFORE_REAUTH: Final = 3


class _ByteSource(Protocol):
    async def read(self) -> bytes: ...
    async def close(self) -> None: ...


class HanCoordinator(AmshanCorusCoordinator):
    """A HAN/P1 meter pushing frames over serial, TCP or MQTT."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: AmshanCorusConfigEntry,
        *,
        timing: HanTiming | None = None,
    ) -> None:
        super().__init__(hass, entry, update_interval=None)
        self.timing = timing or DEFAULT_HAN_TIMING
        self.connection = Connection(entry.data[CONF_CONNECTION])
        self.timezone: tzinfo = dt_util.get_default_time_zone()
        self.keys = security_keys(entry.data)
        options = entry.options
        self._scale = {
            _CURRENT_UNITS: Decimal(str(options.get(CONF_SCALE_CURRENT, 1))),
            _POWER_UNITS: Decimal(str(options.get(CONF_SCALE_POWER, 1))),
            _ENERGY_UNITS: Decimal(str(options.get(CONF_SCALE_ENERGY, 1))),
        }
        self.connected = False
        self._backoff = self.timing.backoff_min
        self._stale_timer: CALLBACK_TYPE | None = None
        self._decoder: MeterStreamDecoder | None = None
        self._counted = (0, 0, 0)  # decoder counters already added to stats
        self._key_failures = 0  # frames failing decryption since the last good message
        self._at_last_message = (0, 0)  # (rejected, decode_errors) at the last good message
        self._reauth_started = False
        self.hourly = HourlyImporter(hass, entry, self.device_key)
        self.capacity: CapacityFeed | None = None  # set by the sensor platform, for diagnostics

    async def async_start(self) -> None:
        """Start receiving: the supervising task, or the MQTT subscriptions."""
        self._arm_watchdog()
        self.config_entry.async_on_unload(self._cancel_watchdog)
        if self.connection is Connection.HAN_MQTT:
            await self._async_subscribe_mqtt()
            return
        self.config_entry.async_create_background_task(
            self.hass, self._async_supervise(), name=f"{DOMAIN} {self.config_entry.title} reader"
        )

    async def _async_open(self) -> _ByteSource:
        opener = han_source_opener(
            self.config_entry.data, connect_timeout=self.timing.connect_timeout
        )
        return await opener()

    async def _async_supervise(self) -> None:
        """Connect, read, decode and publish for as long as the entry is loaded."""
        first = True
        while True:
            if not first:
                self.stats.reconnects += 1
            first = False
            source: _ByteSource | None = None
            try:
                source = await self._async_open()
                self._set_connected(True)
                await self._async_read(source)
            except TimeoutError:
                self.stats.watchdog_trips += 1
                self._connection_lost(f"no valid message for {self.timing.watchdog:g} s")
            except (HanError, OSError) as err:
                self._connection_lost(str(err) or type(err).__name__)
            except Exception as err:
                # A bug must not end the meter's reader for good: log it, reconnect.
                LOGGER.exception("%s: unexpected error while reading", self.config_entry.title)
                self._connection_lost(f"unexpected {type(err).__name__}: {err}")
            finally:
                self._count_decoder()
                if source is not None:
                    await source.close()
            await asyncio.sleep(self._backoff)
            self._backoff = min(self._backoff * 2, self.timing.backoff_max)

    async def _async_read(self, source: _ByteSource) -> None:
        """Read until the connection fails (raises).

        The watchdog counts valid messages, not bytes: a bridge streaming noise, or frames
        nobody can decode, is as dead as a silent one.
        """
        self._decoder = MeterStreamDecoder(keys=self.keys, timezone=self.timezone)
        self._counted = (0, 0, 0)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timing.watchdog) as watchdog:
            while True:
                messages = self._decoder.feed(await source.read())
                if messages:
                    watchdog.reschedule(loop.time() + self.timing.watchdog)
                    self._backoff = self.timing.backoff_min  # a good message resets it
                    for message in messages:
                        self._publish(message)
                self._count_decoder()

    def _count_decoder(self) -> None:
        """Add what the current decoder counted since last time to the entry's counters."""
        if (decoder := self._decoder) is None:
            return
        now = (decoder.rejected, decoder.decode_errors, decoder.messages)
        self.stats.rejected += now[0] - self._counted[0]
        failed = now[1] - self._counted[1]
        self.stats.decode_errors += failed
        self._counted = now
        if (error := decoder.last_error) is not None:
            self.stats.last_error = f"{type(error).__name__}: {error}"
            if failed and isinstance(error, DecryptionError):
                self._key_failed(failed)

    @callback
    def _key_failed(self, frames: int) -> None:
        """Frames that only a (right) key would open: after a few, ask the user for the key.

        A wrong or missing key fails every frame, so waiting helps nothing; the reauth flow
        (the config flow's reauth step) asks for the keys and proves them before saving.
        """
        self._key_failures += frames
        if self._key_failures >= KEY_FAILURES_BEFORE_REAUTH and not self._reauth_started:
            self._reauth_started = True
            LOGGER.warning(
                "%s: the meter's frames cannot be decrypted (%s); asking for the key",
                self.config_entry.title,
                self.stats.last_error,
            )
            self.config_entry.async_start_reauth(self.hass)

    @callback
    def _set_connected(self, connected: bool) -> None:
        if connected and not self.connected:
            LOGGER.info("%s: connected", self.config_entry.title)
        self.connected = connected

    @callback
    def _connection_lost(self, reason: str) -> None:
        if self.connected:
            LOGGER.info("%s: connection lost (%s)", self.config_entry.title, reason)
        else:
            LOGGER.debug("%s: cannot connect (%s)", self.config_entry.title, reason)
        self.connected = False
        self.stats.last_error = reason

    @callback
    def _publish(self, message: MeterMessage) -> None:
        now = dt_util.utcnow()
        self.stats.messages += 1
        self.stats.last_message = now
        self.stats.raw.append((now, message.raw))
        self._key_failures = 0
        self._at_last_message = (self.stats.rejected, self.stats.decode_errors)
        readings = {
            key: (reading.value, reading.unit, reading.timestamp, not _is_sub_meter(reading.obis))
            for key, reading in message.readings.items()
        }
        if not self.last_update_success:
            LOGGER.info("%s: meter data flows again", self.config_entry.title)
        previous = self.data.values if self.data is not None else {}
        data = self._merge(readings, message.manufacturer, now, message.demand_history)
        self.async_set_updated_data(data)
        self.hourly.async_observe(
            {key: item for key, item in data.values.items() if item is not previous.get(key)}
        )
        self._arm_watchdog()
        self._update_device(**self.device_fields())

    @override
    def device_fields(self, data: MeterData | None = None) -> dict[str, str | None]:
        """What the meter says about itself, for its device."""
        data = data or cast("MeterData | None", self.data)  # None until the first message
        if data is None:
            return {}
        return {
            "manufacturer": data.manufacturer or _str(data.value("meter_manufacturer")),
            "model": _str(data.value("meter_type")) or _str(data.value("meter_type_id")),
            "serial_number": _str(data.value("meter_id")),
            "sw_version": _str(data.value("list_ver_id")),
        }

    @callback
    def _arm_watchdog(self) -> None:
        """(Re)start the timer that turns the entities unavailable when messages stop."""
        self._cancel_watchdog()
        self._stale_timer = async_call_later(self.hass, self.timing.watchdog, self._stale)

    @callback
    def _cancel_watchdog(self) -> None:
        if self._stale_timer is not None:
            self._stale_timer()
            self._stale_timer = None

    @callback
    def _stale(self, _now: datetime) -> None:
        """No message for the watchdog time: say why, as precisely as the counters allow."""
        self._stale_timer = None
        self._count_decoder()
        stats = self.stats
        rejected, failed = self._at_last_message
        if self._key_failures:
            key = "no_data_key"  # frames arrive, but only the right key would open them
        elif stats.rejected > rejected:
            key = "no_data_checksum"  # bytes arrive, but no frame passes its checksum
        elif not self.connected and self.connection is not Connection.HAN_MQTT:
            key = "no_connection"
        elif stats.decode_errors > failed:
            key = "no_data_undecodable"
        else:
            key = "no_data"
        self.async_set_update_error(
            UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={
                    "seconds": f"{self.timing.watchdog:g}",
                    "error": stats.last_error or "",
                },
            )
        )

    async def _async_subscribe_mqtt(self) -> None:
        from homeassistant.components import mqtt  # noqa: PLC0415  only MQTT entries need it

        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise ConfigEntryError(translation_domain=DOMAIN, translation_key="mqtt_unavailable")
        for topic in self.config_entry.data[CONF_TOPICS]:
            # One decoder per topic: a Tibber Pulse's compressed stream spans its payloads.
            decoder = PayloadDecoder(self.keys, self.timezone)
            self.config_entry.async_on_unload(
                await mqtt.async_subscribe(
                    self.hass,
                    topic,
                    partial(self._mqtt_message, decoder),
                    encoding=None,
                )
            )
        self.connected = True  # to the MQTT integration; the broker link is its business

    @callback
    def _mqtt_message(self, decoder: PayloadDecoder, msg: ReceiveMessage) -> None:
        payload = msg.payload
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "replace")
        try:
            messages = decoder.decode(payload)
        except FrameError as err:
            self.stats.rejected += 1
            self.stats.last_error = f"{type(err).__name__}: {err}"
            return
        except DecryptionError as err:
            self.stats.decode_errors += 1
            self.stats.last_error = f"{type(err).__name__}: {err}"
            self._key_failed(1)
            return
        except DecodeError:
            # Bridges publish their own text on the same topic ("Debug: WiFi ps disable").
            self.stats.ignored += 1
            return
        for message in messages:
            self._publish(message)


# Each step of a Corus session (converters sit behind GSM or serial-to-TCP gateways).
CORUS_TIMEOUT: Final = 20.0


class CorusCoordinator(AmshanCorusCoordinator):
    """An Itron/Actaris Corus gas volume converter, read once per interval."""

    def __init__(self, hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> None:
        seconds = entry.options.get(CONF_POLL_INTERVAL)
        interval = timedelta(seconds=seconds) if seconds else DEFAULT_POLL_INTERVAL
        super().__init__(hass, entry, update_interval=interval)
        self.client: CorusClient | None = None
        self.backfill = CorusBackfill(hass, entry, self.device_key)

    @override
    async def _async_setup(self) -> None:
        """Build the client; the converter's time zone may need a file read (executor)."""
        data = self.config_entry.data
        name = data.get(CONF_TIMEZONE)
        timezone = await dt_util.async_get_time_zone(name) if name else None
        client_options: dict[str, Any] = {
            "timezone": timezone or dt_util.get_default_time_zone(),
            "timeout": CORUS_TIMEOUT,
        }
        if password := data.get(CONF_PASSWORD):
            client_options["password"] = password
        self.client = CorusClient(data[CONF_HOST], data[CONF_PORT], **client_options)

    @override
    async def _async_update_data(self) -> MeterData:
        self.stats.polls += 1
        assert self.client is not None  # made by _async_setup before the first refresh
        try:
            reading = await self.client.read_all()
        except CorusAuthenticationError as err:
            self.stats.last_error = str(err)
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_password"
            ) from err
        except UnsupportedFirmwareError as err:
            self.stats.last_error = str(err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="unsupported_firmware",
                translation_placeholders={"map_id": err.map_id},
            ) from err
        except CorusTimeoutError as err:
            self.stats.last_error = str(err)
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="timeout") from err
        except CorusConnectionError as err:
            self.stats.last_error = str(err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        except CorusError as err:
            self.stats.last_error = str(err)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="communication_error",
                translation_placeholders={"error": str(err)},
            ) from err
        now = dt_util.utcnow()
        self.stats.messages += 1
        self.stats.last_message = now
        readings = {
            name: (value.value, value.unit, None, False)
            for name, value in reading.values.items()
            if value.value is not None
        }
        readings["firmware_map"] = (reading.firmware_map, None, None, False)
        readings["ident"] = (reading.ident, None, None, False)
        clock = reading.value("datetime")
        if isinstance(clock, datetime) and clock.tzinfo is not None:
            # How far the converter's clock is off: its records are booked by that clock.
            offset = round((clock - now).total_seconds())
            readings["clock_offset"] = (offset, "s", None, False)
        data = self._merge(readings, "Itron", now)
        self._update_device(**self.device_fields(data))
        try:
            await self.backfill.async_run(self.client)
        except CorusError as err:  # the live values stand; the next poll resumes the backfill
            LOGGER.warning("%s: hourly backfill failed: %s", self.config_entry.title, err)
        return data

    @override
    def device_fields(self, data: MeterData | None = None) -> dict[str, str | None]:
        """What the converter says about itself, for its device."""
        data = data or cast("MeterData | None", self.data)  # None until the first message
        if data is None:
            return {}
        return {
            "manufacturer": "Itron",
            "model": f"Corus ({data.value('firmware_map')})",
            "sw_version": _str(data.value("firmware_version")),
        }


def han_source_opener(
    data: Mapping[str, Any], *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
) -> SourceOpener:
    """How to open a HAN serial or TCP entry's byte stream (the reader and the flow's probe)."""
    if data[CONF_CONNECTION] == Connection.HAN_TCP:
        return partial(open_tcp, data[CONF_HOST], data[CONF_PORT], connect_timeout=connect_timeout)
    return partial(
        open_serial,
        data[CONF_DEVICE],
        baudrate=data.get(CONF_BAUDRATE, DEFAULT_BAUDRATE),
        parity=data.get(CONF_PARITY, DEFAULT_PARITY),
        connect_timeout=connect_timeout,
    )


def security_keys(data: Mapping[str, Any]) -> SecurityKeys | None:
    """The entry's decryption keys, or None for an unencrypted meter."""
    if not (key := data.get(CONF_ENCRYPTION_KEY)):
        return None
    auth = data.get(CONF_AUTHENTICATION_KEY)
    return SecurityKeys(bytes.fromhex(key), bytes.fromhex(auth) if auth else None)


def _is_sub_meter(obis: str | None) -> bool:
    """M-Bus channels (0-1:..., 0-2:...) are gas/water/heat meters: never CT-scaled."""
    return obis is not None and obis.startswith("0-") and not obis.startswith("0-0:")


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def create_coordinator(
    hass: HomeAssistant, entry: AmshanCorusConfigEntry
) -> HanCoordinator | CorusCoordinator:
    """The coordinator for this entry's kind of connection."""
    if entry.data[CONF_CONNECTION] == Connection.CORUS_TCP:
        return CorusCoordinator(hass, entry)
    return HanCoordinator(hass, entry)
