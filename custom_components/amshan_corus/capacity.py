"""Capacity-tariff sensors of a HAN meter: energy this hour, the month's peaks, step, headroom.

One `CapacityTracker` (insight/capacity.py) per HAN entry is fed from what the coordinator
publishes: import power and the import register, stamped with the meter's clock (the offset of
the last message carrying `meter_datetime` is applied to messages without one, so one clock
stamps everything). Its state is saved with a delayed `Store` and restored at setup. Rules are
Norway's (3 daily peaks a month, steps 0-2-5-10... kW); choosing other rules is not offered yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .coordinator import AmshanCorusConfigEntry, HanCoordinator, MeterData, MeterValue
from .entity import AmshanCorusEntity
from .insight.capacity import CapacitySnapshot, CapacityTracker
from .insight.common import InsightError

STORAGE_VERSION: Final = 1
SAVE_DELAY: Final = 60  # seconds: at most one write a minute while readings stream in
_POWER_KEY: Final = "active_power_import"
_REGISTER_KEY: Final = "active_power_import_total"
_CLOCK_KEY: Final = "meter_datetime"
_KWH: Final = Decimal("0.001")


class CapacityFeed:
    """The tracker of one HAN entry, fed by the coordinator and persisted in a Store."""

    def __init__(self, hass: HomeAssistant, coordinator: HanCoordinator) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.timezone = ZoneInfo(hass.config.time_zone)
        self.tracker = CapacityTracker(timezone=self.timezone)
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.capacity.{coordinator.config_entry.entry_id}"
        )
        self._seen: dict[str, MeterValue] = {}
        self._clock_offset: timedelta | None = None
        self._last_clock: datetime | None = None
        self._snapshot: CapacitySnapshot | None = None

    async def async_load(self) -> None:
        """Restore the saved tracker; a state it cannot read starts a fresh one."""
        saved = await self._store.async_load()
        if saved is None:
            return
        try:
            self.tracker = CapacityTracker.from_dict(saved, timezone=self.timezone)
        except InsightError as err:
            LOGGER.warning("Capacity state not restored, starting afresh: %s", err)

    async def async_save(self) -> None:
        """Write the state now (at unload; the delayed save covers Home Assistant's stop)."""
        await self._store.async_save(self.tracker.to_dict())

    @callback
    def async_update(self) -> None:
        """Feed the readings the latest message brought (new `MeterValue` objects)."""
        data: MeterData | None = self.coordinator.data
        if data is None:
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
    """A sensor computed from the tracker's snapshot."""

    value_fn: Callable[[CapacitySnapshot], Decimal | int | datetime | None]


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
    ),
    CapacitySensorEntityDescription(
        key="capacity_headroom",
        translation_key="capacity_headroom",
        value_fn=lambda snap: _kwh(snap.headroom_kw),
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


async def async_setup_capacity(
    hass: HomeAssistant,
    entry: AmshanCorusConfigEntry,
    coordinator: HanCoordinator,
) -> list[CapacitySensor]:
    """Restore and start the entry's tracker; returns its sensors (to add now)."""
    feed = CapacityFeed(hass, coordinator)
    await feed.async_load()
    coordinator.capacity = feed
    # Registered before the sensors' own listeners, so the tracker is fed before they read it.
    entry.async_on_unload(coordinator.async_add_listener(feed.async_update))
    entry.async_on_unload(_save_on_unload(hass, entry, feed))
    return [CapacitySensor(coordinator, feed, description) for description in CAPACITY_SENSORS]


def _save_on_unload(
    hass: HomeAssistant, entry: AmshanCorusConfigEntry, feed: CapacityFeed
) -> CALLBACK_TYPE:
    @callback
    def _save() -> None:
        hass.async_create_task(feed.async_save(), eager_start=True)

    return _save


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
