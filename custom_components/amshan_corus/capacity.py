"""Capacity-tariff sensors of a HAN meter: energy this hour, the month's peaks, step, headroom.

One `CapacityTracker` (insight/capacity.py) per HAN entry is fed from what the coordinator
publishes: import power and the import register, stamped with the meter's clock (the offset of
the last message carrying `meter_datetime` is applied to messages without one, so one clock
stamps everything). Its state is saved with a delayed `Store` and restored at setup.

The rules come from the entry's options (insight/tariffs.py); until one is chosen,
Norway's rule in Norway or with no country set, none in other countries. Restoring
the state under rules changed since re-values the month. Only the sensors the rules give
meaning to are made (a step needs step limits, a cost needs prices); capacity entities the
rules no longer have (all of them with the tariff `off`) are removed from the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, override
from zoneinfo import ZoneInfo

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import CONF_CAPACITY_RULES, CONF_CAPACITY_TARIFF, DOMAIN, LOGGER
from .coordinator import AmshanCorusConfigEntry, HanCoordinator, MeterData, MeterValue
from .entity import AmshanCorusEntity
from .insight.capacity import CapacityRules, CapacitySnapshot, CapacityTracker
from .insight.common import HOUR, InsightError, floor_to_period
from .insight.tariffs import Tariff, TariffError, resolve_tariff

STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 60  # seconds: at most one write a minute while readings stream in
_POWER_KEY: Final = "active_power_import"
_REGISTER_KEY: Final = "active_power_import_total"
_CLOCK_KEY: Final = "meter_datetime"
_KWH: Final = Decimal("0.001")
_CENT: Final = Decimal("0.01")


def _storage_key(entry_id: str) -> str:
    return f"{DOMAIN}.capacity.{entry_id}"


class CapacityFeed:
    """The tracker of one HAN entry, fed by the coordinator and persisted in a Store."""

    def __init__(
        self, hass: HomeAssistant, coordinator: HanCoordinator, rules: CapacityRules
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.timezone = ZoneInfo(hass.config.time_zone)
        self.tracker = CapacityTracker(rules, self.timezone)
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, _storage_key(coordinator.config_entry.entry_id)
        )
        self._seen: dict[str, MeterValue] = {}
        self._clock_offset: timedelta | None = None
        self._last_clock: datetime | None = None
        self._snapshot: CapacitySnapshot | None = None
        self._closed = False

    async def async_load(self) -> None:
        """Restore the saved tracker; a state it cannot read starts a fresh one."""
        saved = await self._store.async_load()
        if saved is None:
            return
        try:
            # Under the entry's rules: a month saved under other rules is re-valued.
            self.tracker = CapacityTracker.from_dict(saved, self.tracker.rules, self.timezone)
        except InsightError as err:
            LOGGER.warning("Capacity state not restored, starting afresh: %s", err)
            return
        if (latest := self.tracker.latest) is not None:
            # A clock from before the hour of the latest reading is old: a list 3 handed over
            # again at setup (a retained MQTT message) must not set the meter time back.
            self._last_clock = floor_to_period(latest, HOUR)

    async def async_close(self) -> None:
        """Stop taking readings and write the state now (the entry unloads).

        Awaited by the unload, so an entry set up again (a reload) reads what was written, and
        no delayed save of this feed can overwrite the next one's state afterwards. The delayed
        save covers Home Assistant's stop.
        """
        self._closed = True
        await self._store.async_save(self.tracker.to_dict())

    @callback
    def async_update(self) -> None:
        """Feed the readings the latest message brought (new `MeterValue` objects)."""
        data: MeterData | None = self.coordinator.data
        if data is None or self._closed:
            return
        fresh = {
            key: item
            for key in (_POWER_KEY, _REGISTER_KEY, _CLOCK_KEY)
            if (item := data.values.get(key)) is not None and self._seen.get(key) is not item
        }
        if not fresh:
            return
        self._seen.update(fresh)
        clock = fresh.get(_CLOCK_KEY)
        repeated = clock is not None and not self._take_clock(clock)
        now = dt_util.utcnow()
        moment = now if self._clock_offset is None else now + self._clock_offset
        if (power := fresh.get(_POWER_KEY)) is not None and isinstance(power.value, int | Decimal):
            self.tracker.add_power(moment, power.value, power.unit or "W")
        register = None if repeated else fresh.get(_REGISTER_KEY)
        if register is not None and isinstance(register.value, int | Decimal):
            self.tracker.add_register(moment, register.value, register.unit or "kWh")
        self._snapshot = None
        self._store.async_delay_save(lambda: self.tracker.to_dict(), SAVE_DELAY)

    def snapshot(self) -> CapacitySnapshot:
        """The tracker's snapshot, worked out once per message for all the sensors."""
        if self._snapshot is None:
            self._snapshot = self.tracker.snapshot()
        return self._snapshot

    def _take_clock(self, clock: MeterValue) -> bool:
        """Take the meter clock's offset; False when the clock is not later than the last one.

        Such a message repeats an earlier one (Aidon firmware repeating the previous hour's
        list 3, a message delivered twice): its clock would set the meter time back for the
        whole hour and its register is old. A clock really set back is taken again once it
        passes the last one taken.
        """
        value = clock.value
        if not isinstance(value, datetime) or value.tzinfo is None:
            return True
        if self._last_clock is not None and value <= self._last_clock:
            return False
        self._last_clock = value
        self._clock_offset = value - dt_util.utcnow()
        return True


def _kwh(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_KWH)


def _peak(rank: int) -> Callable[[CapacitySnapshot], Decimal | None]:
    def value(snapshot: CapacitySnapshot) -> Decimal | None:
        peaks = snapshot.month.peaks
        return _kwh(peaks[rank].value_kw) if len(peaks) > rank else None

    return value


@dataclass(frozen=True, kw_only=True)
class CapacitySensorEntityDescription(SensorEntityDescription):
    """A sensor computed from the tracker's snapshot, made when the rules give it meaning."""

    value_fn: Callable[[CapacitySnapshot], Decimal | int | datetime | None]
    exists_fn: Callable[[CapacityRules], bool] = lambda _: True
    last_reset_fn: Callable[[CapacitySnapshot, ZoneInfo], datetime] | None = None


def _has_steps(rules: CapacityRules) -> bool:
    return bool(rules.step_limits)


def _has_price(rules: CapacityRules) -> bool:
    return rules.step_prices is not None or rules.price_per_kw is not None


def _month_start(snapshot: CapacitySnapshot, timezone: ZoneInfo) -> datetime:
    month = snapshot.month.month
    return datetime(month.year, month.month, 1, tzinfo=timezone)


_ENERGY: dict[str, Any] = {
    "device_class": SensorDeviceClass.ENERGY,
    "native_unit_of_measurement": UnitOfEnergy.KILO_WATT_HOUR,
    "suggested_display_precision": 3,
}
_POWER: dict[str, Any] = {
    "device_class": SensorDeviceClass.POWER,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfPower.KILO_WATT,
    "suggested_display_precision": 3,
}

CAPACITY_SENSORS: tuple[CapacitySensorEntityDescription, ...] = (
    CapacitySensorEntityDescription(
        key="capacity_energy_this_hour",
        translation_key="capacity_energy_this_hour",
        value_fn=lambda snap: _kwh(snap.energy_so_far_kwh),
        **_ENERGY,
    ),
    CapacitySensorEntityDescription(
        key="capacity_estimated_hour",
        translation_key="capacity_estimated_hour",
        value_fn=lambda snap: _kwh(snap.estimated_energy_kwh),
        **_ENERGY,
    ),
    CapacitySensorEntityDescription(
        key="capacity_peaks_mean",
        translation_key="capacity_peaks_mean",
        value_fn=lambda snap: _kwh(snap.month.mean_kw),
        **_POWER,
    ),
    CapacitySensorEntityDescription(
        key="capacity_step",
        translation_key="capacity_step",
        # Grid companies number the steps from 1 (step 1 is 0-2 kW).
        value_fn=lambda snap: None if snap.month.step is None else snap.month.step + 1,
        exists_fn=_has_steps,
    ),
    CapacitySensorEntityDescription(
        key="capacity_headroom",
        translation_key="capacity_headroom",
        value_fn=lambda snap: _kwh(snap.headroom_kw),
        exists_fn=_has_steps,
        **_POWER,
    ),
    *(
        CapacitySensorEntityDescription(
            key=f"capacity_peak_{rank + 1}",
            translation_key="capacity_peak",
            translation_placeholders={"rank": str(rank + 1)},
            value_fn=_peak(rank),
            **_POWER,
        )
        for rank in range(3)
    ),
    CapacitySensorEntityDescription(
        key="capacity_peak_1_hour",
        translation_key="capacity_peak_hour",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda snap: snap.month.peaks[0].start if snap.month.peaks else None,
    ),
)
# What the month costs if it ended now. It may go down (an estimated hour replaced by the
# register's exact one), and starts again each month: TOTAL with the month as last_reset,
# the one state class HA accepts for MONETARY. The unit is set at creation.
CAPACITY_COST = CapacitySensorEntityDescription(
    key="capacity_cost",
    translation_key="capacity_cost",
    device_class=SensorDeviceClass.MONETARY,
    state_class=SensorStateClass.TOTAL,
    suggested_display_precision=2,
    value_fn=lambda snap: None if snap.month.price is None else snap.month.price.quantize(_CENT),
    exists_fn=_has_price,
    last_reset_fn=_month_start,
)


async def async_setup_capacity(
    hass: HomeAssistant,
    entry: AmshanCorusConfigEntry,
    coordinator: HanCoordinator,
) -> list[CapacitySensor]:
    """Restore and start the entry's tracker; returns its sensors (to add now).

    No tracker and no sensors with the tariff `off`, or with options that do not read (logged).
    """
    if (tariff := _entry_tariff(hass, entry)) is None:
        return []
    rules = tariff.rules
    descriptions = [] if rules is None else _descriptions(hass, rules, tariff)
    _remove_stale_entities(hass, entry, coordinator, {d.key for d in descriptions})
    if rules is None:
        return []
    feed = CapacityFeed(hass, coordinator, rules)
    await feed.async_load()
    coordinator.capacity = feed
    # Registered before the sensors' own listeners, so the tracker is fed before they read it.
    entry.async_on_unload(coordinator.async_add_listener(feed.async_update))
    return [CapacitySensor(coordinator, feed, description) for description in descriptions]


def _entry_tariff(hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> Tariff | None:
    options = entry.options
    try:
        return resolve_tariff(
            options.get(CONF_CAPACITY_TARIFF),
            options.get(CONF_CAPACITY_RULES),
            country=hass.config.country,
        )
    except TariffError as err:
        LOGGER.warning("Capacity tariff options not usable, no capacity sensors: %s", err)
        return None


def _descriptions(
    hass: HomeAssistant, rules: CapacityRules, tariff: Tariff
) -> list[CapacitySensorEntityDescription]:
    """The sensors `rules` give meaning to; the cost in the installation's currency only."""
    currency = hass.config.currency
    chosen = []
    for description in (*CAPACITY_SENSORS, CAPACITY_COST):
        if not description.exists_fn(rules):
            continue
        if description.device_class is SensorDeviceClass.MONETARY:
            if tariff.currency not in (None, currency):
                LOGGER.warning(
                    "Capacity tariff %s is priced in %s, Home Assistant uses %s: no cost sensor",
                    tariff.name,
                    tariff.currency,
                    currency,
                )
                continue
            chosen.append(replace(description, native_unit_of_measurement=currency))
            continue
        chosen.append(description)
    return chosen


def _remove_stale_entities(
    hass: HomeAssistant,
    entry: AmshanCorusConfigEntry,
    coordinator: HanCoordinator,
    kept: set[str],
) -> None:
    """Remove this entry's capacity entities the chosen rules no longer have."""
    registry = er.async_get(hass)
    stale = {
        f"{coordinator.device_key}_{d.key}"
        for d in (*CAPACITY_SENSORS, CAPACITY_COST)
        if d.key not in kept
    }
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.unique_id in stale:
            registry.async_remove(entity.entity_id)


async def async_remove_capacity_state(hass: HomeAssistant, entry_id: str) -> None:
    """Delete a removed entry's saved capacity state."""
    await Store[dict[str, Any]](hass, STORAGE_VERSION, _storage_key(entry_id)).async_remove()


class CapacitySensor(AmshanCorusEntity, SensorEntity):
    """One value of the capacity tariff, on the meter's device."""

    entity_description: CapacitySensorEntityDescription

    def __init__(
        self,
        coordinator: HanCoordinator,
        feed: CapacityFeed,
        description: CapacitySensorEntityDescription,
    ) -> None:
        super().__init__(coordinator, description.key, None)
        self.entity_description = description
        self._feed = feed

    @property
    @override
    def native_value(self) -> Decimal | int | datetime | None:
        return self.entity_description.value_fn(self._feed.snapshot())

    @property
    @override
    def last_reset(self) -> datetime | None:
        if (reset_fn := self.entity_description.last_reset_fn) is None:
            return None
        return reset_fn(self._feed.snapshot(), self._feed.timezone)
