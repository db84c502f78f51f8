"""Hourly registers imported into long-term statistics at the meter's own hour.

The sensors' statistics book a register when it arrives, an hour late for hourly registers
(list 3, DSMR gas). `HourlyImporter` feeds each new register value with the meter's timestamp
to `insight.hourly.HourlyStatistics` and imports its rows with `async_add_external_statistics`
as `amshan_corus:<device key>_<reading>`. Each series is seeded from its last imported row
(`get_last_statistics`), so a restart continues the sum instead of counting anything twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Final, cast

from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    async_add_external_statistics,
    get_last_statistics,
)
from homeassistant.const import UnitOfEnergy, UnitOfVolume
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util, slugify
from homeassistant.util.unit_conversion import EnergyConverter, VolumeConverter

from .const import CONF_BACKFILL_DAYS, DEFAULT_BACKFILL_DAYS, DOMAIN, LOGGER
from .insight.common import REGISTER_UNITS
from .insight.hourly import HourlyConfig, HourlyState, HourlyStatistics

if TYPE_CHECKING:
    from homeassistant.components.recorder.models import StatisticData, StatisticMetaData

    from .coordinator import AmshanCorusConfigEntry, MeterValue
    from .protocol.corus.client import CorusClient
    from .protocol.corus.databases import DatabaseRecord


@dataclass(frozen=True, slots=True)
class _Series:
    """One imported register: its display name and whether its stamp is the period end."""

    name: str
    gas: bool = False


BACKFILL_MAX_HOURS: Final = 24 * 7  # records a poll reads at most
CORUS_SERIES: Final = {
    "index_converted": "Converted volume (hourly)",
    "index_unconverted": "Unconverted volume (hourly)",
}
HOURLY_SERIES: Final = {
    "active_power_import_total": _Series("Energy import (meter hour)"),
    "active_power_export_total": _Series("Energy export (meter hour)"),
    "gas_volume": _Series("Gas volume (meter hour)", gas=True),
}


def statistic_id(device_key: str, key: str) -> str:
    """The external statistic id of reading `key` of the meter `device_key`."""
    return f"{DOMAIN}:{slugify(f'{device_key}_{key}')}"


class HourlyImporter:
    """Books a meter's hourly registers at the meter's hour; one per HAN entry."""

    def __init__(self, hass: HomeAssistant, entry: AmshanCorusConfigEntry, device_key: str) -> None:
        self.hass = hass
        self.entry = entry
        self.device_key = device_key
        self._engines: dict[str, HourlyStatistics] = {}
        self._queue: deque[tuple[str, datetime, Decimal, str]] = deque()
        self._draining = False

    @callback
    def async_observe(self, values: Mapping[str, MeterValue]) -> None:
        """Take the readings a message brought (newly accepted values only)."""
        if "recorder" not in self.hass.config.components:
            return
        clock = values.get("meter_datetime")
        meter_time = clock.value if clock is not None else None
        for key, series in HOURLY_SERIES.items():
            item = values.get(key)
            unit = item.unit if item is not None else None
            if item is None or unit is None or unit not in REGISTER_UNITS:
                continue
            moment = item.timestamp if series.gas else meter_time
            if not isinstance(moment, datetime) or moment.tzinfo is None:
                continue  # only the meter's own clock books the right hour
            if not isinstance(item.value, int | Decimal):
                continue
            self._queue.append((key, moment, Decimal(item.value), unit))
        if self._queue and not self._draining:
            self._draining = True
            self.entry.async_create_task(self.hass, self._async_drain(), "amshan_corus hourly")

    async def _async_drain(self) -> None:
        try:
            while self._queue:
                key, moment, value, unit = self._queue.popleft()
                engine = self._engines.get(key) or await self._async_engine(key, unit)
                update = engine.add(moment, value)
                if update.rows:
                    async_add_external_statistics(
                        self.hass,
                        self._metadata(key, engine.config.output_unit),
                        cast(
                            "list[StatisticData]", [row.as_statistic_data() for row in update.rows]
                        ),
                    )
        finally:
            self._draining = False

    async def _async_engine(self, key: str, unit: str) -> HourlyStatistics:
        """The engine of `key`, continuing from its last imported row."""
        config = HourlyConfig.gas() if HOURLY_SERIES[key].gas else HourlyConfig.electricity(unit)
        if config.unit != unit:
            config = HourlyConfig(unit=unit, tolerance=config.tolerance)
        ident = statistic_id(self.device_key, key)
        engine = self._engines[key] = await _async_seeded(self.hass, ident, config)
        return engine

    def _metadata(self, key: str, unit: str) -> StatisticMetaData:
        return _metadata(
            statistic_id(self.device_key, key),
            f"{self.entry.title} {HOURLY_SERIES[key].name}",
            unit,
        )


class CorusBackfill:
    """Imports a Corus converter's hourly database (converted and unconverted indexes).

    Each run reads from the last imported record onward: at most `days` back the first time
    (the entry's `backfill_days` option, 31 by default), and at most `max_hours` records a run,
    so a long gap is caught up over a few polls.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: AmshanCorusConfigEntry,
        device_key: str,
        *,
        days: int | None = None,
        max_hours: int = BACKFILL_MAX_HOURS,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.device_key = device_key
        self.days = days or int(entry.options.get(CONF_BACKFILL_DAYS, DEFAULT_BACKFILL_DAYS))
        self.max_hours = max_hours
        self._engines: dict[str, HourlyStatistics] = {}
        self._resume: datetime | None = None

    async def async_run(self, client: CorusClient, now: datetime | None = None) -> int:
        """Read and import the next records (up to `now`); returns how many rows were imported."""
        if "recorder" not in self.hass.config.components:
            return 0
        for key in CORUS_SERIES:
            if key not in self._engines:
                ident = statistic_id(self.device_key, key)
                self._engines[key] = await _async_seeded(self.hass, ident, HourlyConfig.gas())
        now = now or dt_util.utcnow()
        starts = [engine.state.last_start for engine in self._engines.values()]
        known = [start for start in starts if start is not None]
        # A series seeded from a row re-reads that row's record (a duplicate, not booked).
        if self._resume is not None:
            since = self._resume
        elif len(known) == len(starts):
            since = min(known)
        else:
            since = now - timedelta(days=self.days)
        until = since + timedelta(hours=self.max_hours)
        records = await client.read_database("hourly", since, min(until, now))
        # An empty window (the converter was off, or its history is shorter) is stepped over.
        self._resume = until if not records and until < now else None
        rows: dict[str, list[StatisticData]] = {key: [] for key in CORUS_SERIES}
        for record in sorted(records, key=_end_date):
            end = record.values.get("end_date")
            if not isinstance(end, datetime):
                continue
            for key, engine in self._engines.items():
                value = record.values.get(key)
                if isinstance(value, Decimal):
                    update = engine.add(end, value)
                    rows[key].extend(
                        cast("StatisticData", row.as_statistic_data()) for row in update.rows
                    )
        for key, data in rows.items():
            if data:
                ident = statistic_id(self.device_key, key)
                name = f"{self.entry.title} {CORUS_SERIES[key]}"
                async_add_external_statistics(
                    self.hass, _metadata(ident, name, UnitOfVolume.CUBIC_METERS), data
                )
        return sum(len(data) for data in rows.values())


def _end_date(record: DatabaseRecord) -> datetime:
    end = record.values.get("end_date")
    return end if isinstance(end, datetime) else datetime.min.replace(tzinfo=UTC)


async def _async_seeded(hass: HomeAssistant, ident: str, config: HourlyConfig) -> HourlyStatistics:
    """An engine for statistic `ident` continuing from its last imported row, if any."""
    last = await get_instance(hass).async_add_executor_job(
        get_last_statistics, hass, 1, ident, False, {"state", "sum"}
    )
    state = HourlyState()
    if rows := last.get(ident):
        row = rows[0]
        if row.get("state") is not None and row.get("sum") is not None:
            state = HourlyState(
                last_start=dt_util.utc_from_timestamp(row["start"]),
                last_value=Decimal(str(row["state"])),
                last_sum=Decimal(str(row["sum"])),
            )
            LOGGER.debug("%s continues from %s", ident, state.last_start)
    return HourlyStatistics(config, state)


def _metadata(ident: str, name: str, unit: str) -> StatisticMetaData:
    energy = unit == UnitOfEnergy.KILO_WATT_HOUR
    return {
        "mean_type": StatisticMeanType.NONE,
        "has_sum": True,
        "name": name,
        "source": DOMAIN,
        "statistic_id": ident,
        "unit_class": EnergyConverter.UNIT_CLASS if energy else VolumeConverter.UNIT_CLASS,
        "unit_of_measurement": (
            UnitOfEnergy.KILO_WATT_HOUR if energy else UnitOfVolume.CUBIC_METERS
        ),
    }
