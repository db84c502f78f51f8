"""Sensors: one description table per kind of meter, entities added as their values appear.

A Norwegian list-1 meter sends only power, so its power sensor appears at once and the others
when lists 2/3 arrive (a coordinator listener adds them). Lifetime totals are restored after a
restart (Norwegian list 3 sends them once an hour) so the Energy dashboard never sees a gap.
A Belgian meter's own quarter-hour peaks (1-0:1.4.0, 1-0:1.6.0, 0-0:98.1.0) also give the
capacity tariff's 12-month mean and this month's billed peak (insight/capacity.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, override
from zoneinfo import ZoneInfo

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.sensor.const import DEVICE_CLASS_UNITS
from homeassistant.const import (
    MATCH_ALL,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfPressure,
    UnitOfReactiveEnergy,
    UnitOfReactivePower,
    UnitOfTemperature,
    UnitOfTime,
    UnitOfVolume,
    UnitOfVolumeFlowRate,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, restore_state
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .capacity import async_setup_capacity
from .coordinator import (
    AmshanCorusConfigEntry,
    CorusCoordinator,
    HanCoordinator,
    MeterData,
    is_lifetime_unit,
)
from .entity import AmshanCorusEntity
from .insight.capacity import (
    BelgianCapacity,
    MonthlyPeak,
    PeakDataError,
    belgian_capacity,
    monthly_peak,
)
from .protocol.han.models import DemandPeak
from .protocol.han.obis import MBUS_VALUE_NAMES

PARALLEL_UPDATES = 0

type SensorValue = StateType | Decimal | datetime

# Meter unit symbols that Home Assistant spells differently.
_HA_UNITS = {"m3": UnitOfVolume.CUBIC_METERS, "m3/h": UnitOfVolumeFlowRate.CUBIC_METERS_PER_HOUR}


@dataclass(frozen=True, kw_only=True)
class AmshanCorusSensorEntityDescription(SensorEntityDescription):
    """A sensor fed by one reading; the unit comes from the meter when it sends one."""

    reading: str  # the reading's name in the meter data (an OBIS code where it has no name)
    value_fn: Callable[[MeterData], SensorValue]
    exists_fn: Callable[[MeterData], bool]
    sub_meter: str | None = None  # M-Bus channel kind: the entity belongs to that device
    channel: int | None = None  # a further M-Bus channel of that kind: its own device
    restore: bool = False  # lifetime register: restored after a restart
    meter_unit: bool = True  # False: computed, its unit is the description's, not the reading's
    # Details shown as state attributes but never recorded (AmshanCorusDetailSensor).
    attributes_fn: Callable[[MeterData], Mapping[str, Any]] | None = None


def _reading(
    key: str, *, reading: str | None = None, **kwargs: Any
) -> AmshanCorusSensorEntityDescription:
    """A description whose value is reading `reading` (default: `key`) of the meter state."""
    kwargs.setdefault("translation_key", key)
    name = reading or key
    return AmshanCorusSensorEntityDescription(
        key=key,
        reading=name,
        value_fn=lambda data: _state_value(data.value(name)),
        exists_fn=lambda data: data.value(name) is not None,
        **kwargs,
    )


def _state_value(value: object) -> SensorValue:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else None
    if isinstance(value, int | Decimal | str) or value is None:
        return value
    return str(value)


def _phases(
    key: str, translation_key: str, **kwargs: Any
) -> list[AmshanCorusSensorEntityDescription]:
    return [
        _reading(
            f"{key}_l{phase}",
            translation_key=translation_key,
            translation_placeholders={"phase": f"L{phase}"},
            entity_registry_enabled_default=False,
            **kwargs,
        )
        for phase in (1, 2, 3)
    ]


_POWER: dict[str, Any] = {
    "device_class": SensorDeviceClass.POWER,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfPower.WATT,
    "suggested_unit_of_measurement": UnitOfPower.KILO_WATT,
    "suggested_display_precision": 3,
}
_REACTIVE_POWER: dict[str, Any] = {
    "device_class": SensorDeviceClass.REACTIVE_POWER,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
    "suggested_display_precision": 0,
}
_CURRENT: dict[str, Any] = {
    "device_class": SensorDeviceClass.CURRENT,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfElectricCurrent.AMPERE,
    "suggested_display_precision": 2,
}
_VOLTAGE: dict[str, Any] = {
    "device_class": SensorDeviceClass.VOLTAGE,
    "state_class": SensorStateClass.MEASUREMENT,
    "native_unit_of_measurement": UnitOfElectricPotential.VOLT,
    "suggested_display_precision": 1,
}
_POWER_FACTOR: dict[str, Any] = {
    "device_class": SensorDeviceClass.POWER_FACTOR,
    "state_class": SensorStateClass.MEASUREMENT,
    "suggested_display_precision": 2,
}
_ENERGY: dict[str, Any] = {
    "device_class": SensorDeviceClass.ENERGY,
    "state_class": SensorStateClass.TOTAL_INCREASING,
    "native_unit_of_measurement": UnitOfEnergy.KILO_WATT_HOUR,
    "suggested_unit_of_measurement": UnitOfEnergy.KILO_WATT_HOUR,
    "suggested_display_precision": 3,
    "restore": True,
}
_REACTIVE_ENERGY: dict[str, Any] = {
    "device_class": SensorDeviceClass.REACTIVE_ENERGY,
    "state_class": SensorStateClass.TOTAL_INCREASING,
    "native_unit_of_measurement": UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR,
    "suggested_unit_of_measurement": UnitOfReactiveEnergy.KILO_VOLT_AMPERE_REACTIVE_HOUR,
    "suggested_display_precision": 3,
    "restore": True,
}
_GAS: dict[str, Any] = {
    "device_class": SensorDeviceClass.GAS,
    "state_class": SensorStateClass.TOTAL_INCREASING,
    "native_unit_of_measurement": UnitOfVolume.CUBIC_METERS,
    "suggested_display_precision": 3,
    "restore": True,
}
_WATER: dict[str, Any] = {**_GAS, "device_class": SensorDeviceClass.WATER}
# One per reading name the M-Bus decoder gives a channel (its vocabulary); the sub-meter device
# is the name's kind ("heat_energy" -> "heat"), as the decoder names the channel's meter id.
_MBUS_KINDS: dict[str, dict[str, Any]] = {
    "gas_volume": _GAS,
    "water_volume": _WATER,
    "heat_energy": _ENERGY,
    "cooling_energy": _ENERGY,
}
_MBUS_CHANNELS = range(1, 5)  # DSMR's M-Bus channels 0-1 ... 0-4
_DIAGNOSTIC: dict[str, Any] = {"entity_category": EntityCategory.DIAGNOSTIC}
_CLOCK: dict[str, Any] = {**_DIAGNOSTIC, "device_class": SensorDeviceClass.TIMESTAMP}

# Belgium (Fluvius): the capacity tariff from the meter's own quarter-hour peaks.
_MONTH_PEAK = "peak_demand_month"  # 1-0:1.6.0: the month's highest quarter, stamped when
_WATT = Decimal("0.001")  # kW to the watt, as the meter writes its peaks (02.589 kW)


def _home_zone() -> ZoneInfo:
    """Home Assistant's time zone: the tariff's months are the household's calendar months."""
    zone = dt_util.get_default_time_zone()
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo("UTC")


def _peak_time(data: MeterData) -> datetime | None:
    item = data.values.get(_MONTH_PEAK)
    if item is None or item.timestamp is None or item.timestamp.tzinfo is None:
        return None
    return item.timestamp


def _belgian(data: MeterData) -> BelgianCapacity | None:
    """The meter's peaks as the tariff counts them, or None when it sends no peaks."""
    timezone = _home_zone()
    month: MonthlyPeak | None = None
    item = data.values.get(_MONTH_PEAK)
    if item is not None and isinstance(item.value, int | Decimal) and item.unit is not None:
        with suppress(PeakDataError):  # no time (so no month) or not in kW/W: not counted
            peak = DemandPeak(Decimal(item.value), item.unit, item.timestamp)
            month = monthly_peak(peak, timezone)
    history: list[MonthlyPeak] = []
    for peak in data.demand_history:
        with suppress(PeakDataError):
            history.append(monthly_peak(peak, timezone))
    if month is None and not history:
        return None
    # The running quarter's average is a sensor of its own (1-0:1.4.0 as the meter sends it).
    return belgian_capacity(current_average_kw=None, month_peak=month, history=history)


def _capacity(
    key: str, value: Callable[[BelgianCapacity], Decimal | None], **kwargs: Any
) -> AmshanCorusSensorEntityDescription:
    """A sensor computed from the meter's peaks, in kW to the watt."""

    def value_fn(data: MeterData) -> Decimal | None:
        capacity = _belgian(data)
        number = None if capacity is None else value(capacity)
        return None if number is None else number.quantize(_WATT, ROUND_HALF_UP)

    return AmshanCorusSensorEntityDescription(
        key=key,
        translation_key=key,
        reading=_MONTH_PEAK,
        value_fn=value_fn,
        exists_fn=lambda data: value_fn(data) is not None,
        meter_unit=False,
        **{**_POWER, "native_unit_of_measurement": UnitOfPower.KILO_WATT},
        **kwargs,
    )


def _monthly_peaks(data: MeterData) -> dict[str, Any]:
    """The months the 12-month average counts, newest first: peak, what counts, when."""
    capacity = _belgian(data)
    if capacity is None:
        return {}
    timezone = _home_zone()
    return {
        "months": [
            {
                "month": f"{peak.month:%Y-%m}",
                "peak_kw": float(peak.value_kw),
                "counted_kw": float(max(peak.value_kw, capacity.floor_kw)),
                "time": None if peak.at is None else peak.at.astimezone(timezone).isoformat(),
            }
            for peak in capacity.months
        ]
    }


_BELGIAN_SENSORS: tuple[AmshanCorusSensorEntityDescription, ...] = (
    _reading("peak_demand_current_quarter", **_POWER),
    _reading(_MONTH_PEAK, **_POWER),
    AmshanCorusSensorEntityDescription(
        key="peak_demand_month_time",
        translation_key="peak_demand_month_time",
        reading=_MONTH_PEAK,
        value_fn=_peak_time,
        exists_fn=lambda data: _peak_time(data) is not None,
        device_class=SensorDeviceClass.TIMESTAMP,
        meter_unit=False,
    ),
    _capacity(
        "peak_demand_12_month_average",
        lambda capacity: capacity.rolling_mean_kw,
        attributes_fn=_monthly_peaks,
    ),
    _capacity(
        "peak_demand_month_billed",
        lambda capacity: None if capacity.month_peak is None else capacity.billed_month_peak_kw,
    ),
)

HAN_SENSORS: tuple[AmshanCorusSensorEntityDescription, ...] = (
    _reading("active_power_import", **_POWER),
    _reading("active_power_export", **_POWER),
    *_phases("active_power_import", "active_power_import_phase", **_POWER),
    *_phases("active_power_export", "active_power_export_phase", **_POWER),
    _reading("reactive_power_import", **_REACTIVE_POWER),
    _reading("reactive_power_export", **_REACTIVE_POWER),
    *_phases("reactive_power_import", "reactive_power_import_phase", **_REACTIVE_POWER),
    *_phases("reactive_power_export", "reactive_power_export_phase", **_REACTIVE_POWER),
    *_phases("current", "current_phase", **_CURRENT),
    *_phases("voltage", "voltage_phase", **_VOLTAGE),
    _reading("power_factor", **_POWER_FACTOR),
    *_phases("power_factor", "power_factor_phase", **_POWER_FACTOR),
    _reading(
        "frequency",
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        suggested_display_precision=2,
    ),
    _reading("active_power_import_total", **_ENERGY),
    _reading("active_power_export_total", **_ENERGY),
    *(
        _reading(
            f"active_power_{direction}_tariff_{tariff}",
            reading=f"1-0:{code}.8.{tariff}",
            translation_key=f"active_power_{direction}_tariff",
            translation_placeholders={"tariff": str(tariff)},
            **_ENERGY,
        )
        for direction, code in (("import", 1), ("export", 2))
        for tariff in (1, 2)
    ),
    _reading("reactive_power_import_total", **_REACTIVE_ENERGY),
    _reading("reactive_power_export_total", **_REACTIVE_ENERGY),
    *_BELGIAN_SENSORS,
    *(
        _reading(name, sub_meter=name.rpartition("_")[0], **_MBUS_KINDS[name])
        for name in dict.fromkeys(MBUS_VALUE_NAMES.values())
    ),
    *(  # the decoder suffixes a further channel of a kind with its channel number
        _reading(
            f"{name}_{channel}",
            translation_key=name,
            sub_meter=name.rpartition("_")[0],
            channel=channel,
            **_MBUS_KINDS[name],
        )
        for name in dict.fromkeys(MBUS_VALUE_NAMES.values())
        for channel in _MBUS_CHANNELS
    ),
    _reading("meter_id", **_DIAGNOSTIC),
    _reading("meter_type", **_DIAGNOSTIC),
    _reading("list_ver_id", **_DIAGNOSTIC),
    _reading("meter_datetime", entity_registry_enabled_default=False, **_CLOCK),
)

CORUS_SENSORS: tuple[AmshanCorusSensorEntityDescription, ...] = (
    _reading("index_converted", **_GAS),
    _reading("index_unconverted", **_GAS),
    _reading(
        "flowrate_converted",
        device_class=SensorDeviceClass.VOLUME_FLOW_RATE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfVolumeFlowRate.CUBIC_METERS_PER_HOUR,
        suggested_display_precision=3,
    ),
    _reading(
        "flowrate_unconverted",
        device_class=SensorDeviceClass.VOLUME_FLOW_RATE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfVolumeFlowRate.CUBIC_METERS_PER_HOUR,
        suggested_display_precision=3,
    ),
    _reading(
        "temperature",
        translation_key="gas_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=2,
    ),
    *(
        _reading(
            key,
            device_class=SensorDeviceClass.PRESSURE,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=UnitOfPressure.BAR,
            suggested_display_precision=4,
        )
        for key in ("pressure", "pressure_2")
    ),
    _reading(
        "battery_days",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.DAYS,
        **_DIAGNOSTIC,
    ),
    _reading("firmware_version", **_DIAGNOSTIC),
    _reading("firmware_map", **_DIAGNOSTIC),
    _reading("datetime", translation_key="converter_clock", **_CLOCK),
    _reading(
        "clock_offset",
        device_class=SensorDeviceClass.DURATION,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        **_DIAGNOSTIC,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AmshanCorusConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors the meter sends now, then each one when its value first appears."""
    coordinator = entry.runtime_data
    descriptions = CORUS_SENSORS if isinstance(coordinator, CorusCoordinator) else HAN_SENSORS
    restored_units = _restored_units(hass, entry, coordinator.device_key)
    pending = {description.key: description for description in descriptions}

    @callback
    def _add_new_sensors() -> None:
        data = coordinator.data
        entities: list[AmshanCorusSensor] = []
        for key, description in list(pending.items()):
            if data is not None and description.exists_fn(data):
                reading = data.values.get(description.reading)
                unit = None
                if reading is not None and description.meter_unit:
                    unit = _ha_unit(reading.unit)
            elif description.restore and key in restored_units:
                unit = restored_units[key]
            else:
                continue
            del pending[key]
            sensor_class = AmshanCorusSensor
            if description.restore:
                sensor_class = AmshanCorusTotalSensor
            elif description.attributes_fn is not None:
                sensor_class = AmshanCorusDetailSensor
            entities.append(sensor_class(coordinator, _with_unit(description, unit)))
        if entities:
            async_add_entities(entities)

    _add_new_sensors()
    entry.async_on_unload(coordinator.async_add_listener(_add_new_sensors))
    if isinstance(coordinator, HanCoordinator):
        async_add_entities(await async_setup_capacity(hass, entry, coordinator))


def _ha_unit(unit: str | None) -> str | None:
    return None if unit is None else _HA_UNITS.get(unit, unit)


def _with_unit(
    description: AmshanCorusSensorEntityDescription, unit: str | None
) -> AmshanCorusSensorEntityDescription:
    """Fix the entity's unit once, at creation, from what the meter sends (Wh or kWh...)."""
    if unit is None or unit == description.native_unit_of_measurement:
        return description
    device_class = description.device_class
    suggested = description.suggested_unit_of_measurement
    if device_class is not None and unit not in DEVICE_CLASS_UNITS.get(device_class, {unit}):
        # A unit Home Assistant cannot convert for this class: keep the value, drop the class.
        device_class = None
        suggested = None
    return replace(
        description,
        native_unit_of_measurement=unit,
        device_class=device_class,
        suggested_unit_of_measurement=suggested,
    )


def _restored_units(
    hass: HomeAssistant, entry: AmshanCorusConfigEntry, device_key: str
) -> dict[str, str | None]:
    """Native units of lifetime sensors this entry had before the restart, by key."""
    prefix = f"{device_key}_"
    last_states = restore_state.async_get(hass).last_states
    units: dict[str, str | None] = {}
    for registry_entry in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        if registry_entry.domain != "sensor" or not registry_entry.unique_id.startswith(prefix):
            continue
        stored = last_states.get(registry_entry.entity_id)
        if stored is None or stored.extra_data is None:
            continue
        extra = stored.extra_data.as_dict()
        if extra.get("native_value") is not None:
            units[registry_entry.unique_id.removeprefix(prefix)] = extra.get(
                "native_unit_of_measurement"
            )
    return units


class AmshanCorusSensor(AmshanCorusEntity, SensorEntity):
    """A sensor showing one reading of the meter's merged state."""

    entity_description: AmshanCorusSensorEntityDescription

    def __init__(
        self,
        coordinator: HanCoordinator | CorusCoordinator,
        description: AmshanCorusSensorEntityDescription,
    ) -> None:
        super().__init__(coordinator, description.key, description.sub_meter, description.channel)
        self.entity_description = description

    @property
    @override
    def native_value(self) -> SensorValue:
        data = self.coordinator.data
        return None if data is None else self.entity_description.value_fn(data)


class AmshanCorusDetailSensor(AmshanCorusSensor):
    """A sensor with details as state attributes, which the recorder leaves out.

    The details (a year of monthly peaks) change with the state and would be stored again with
    every state; history and statistics need only the state.
    """

    _unrecorded_attributes = frozenset({MATCH_ALL})

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        data = self.coordinator.data
        attributes_fn = self.entity_description.attributes_fn
        return None if data is None or attributes_fn is None else attributes_fn(data)


class AmshanCorusTotalSensor(AmshanCorusSensor, RestoreSensor):
    """A lifetime register: keeps its last value over restarts until the meter sends it again."""

    _restored: SensorValue = None

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        last = await self.async_get_last_sensor_data()
        if (
            last is None
            or last.native_value is None
            or last.native_unit_of_measurement != self.native_unit_of_measurement
        ):
            return
        try:
            value = Decimal(str(last.native_value))
        except InvalidOperation:
            return
        if value <= 0:
            return
        self._restored = value
        unit = self.native_unit_of_measurement
        last_state = await self.async_get_last_state()
        if unit is not None and is_lifetime_unit(unit) and last_state is not None:
            reading = self.entity_description.reading  # the guard keys by reading name
            self.coordinator.seed_restored(reading, value, unit, last_state.last_updated)

    @property
    @override
    def native_value(self) -> SensorValue:
        value = super().native_value
        return self._restored if value is None else value
