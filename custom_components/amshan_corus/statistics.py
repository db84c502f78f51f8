"""Hourly registers imported into long-term statistics at the meter's own hour.

The sensors' statistics book a register when it arrives, an hour late for hourly registers
(list 3, DSMR gas). `HourlyImporter` feeds each new register value with the meter's timestamp
to `insight.hourly.HourlyStatistics` and imports its rows with `async_add_external_statistics`
as `amshan_corus:<device key>_<reading>`. Each series is seeded from its last imported row
(`get_last_statistics`), so a restart continues the sum instead of counting anything twice.

`CorusBackfill` imports a Corus converter's hourly database the same way: the indexes of the
90/92-byte records as registers, or, for converters whose 52-byte records carry no index, each
hour's consumption as an increment (`CORUS_INCREMENT_SERIES`: `sum` is the running total of
the hourly consumptions, and so is `state`). Both keep counters for diagnostics.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, cast

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
from .insight.common import HOUR, REGISTER_UNITS
from .insight.hourly import HourlyConfig, HourlyState, HourlyStatistics, HourlyUpdate
from .protocol.corus.databases import get_layout
from .protocol.corus.errors import CorusError

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
# The 52-byte hourly layout has no index: its consumptions are summed instead. Other ids than
# the index series, because their `state` is a running total, not the converter's index.
CORUS_INCREMENT_SERIES: Final = {
    "consumption_converted_hourly": "Converted volume (hourly)",
    "consumption_unconverted_hourly": "Unconverted volume (hourly)",
}
HOURLY_SERIES: Final = {
    "active_power_import_total": _Series("Energy import (meter hour)"),
    "active_power_export_total": _Series("Energy export (meter hour)"),
    "gas_volume": _Series("Gas volume (meter hour)", gas=True),
}


def statistic_id(device_key: str, key: str) -> str:
    """The external statistic id of reading `key` of the meter `device_key`."""
    return f"{DOMAIN}:{slugify(f'{device_key}_{key}')}"


class SeriesImport:
    """One imported series: its engine and what it did since setup, for diagnostics."""

    def __init__(self, engine: HourlyStatistics) -> None:
        self.engine = engine
        self.rows = 0
        self.missed_hours = 0  # clock hours between imported rows that got no row

    def add(
        self, moment: datetime, value: Decimal, *, increment: bool = False
    ) -> list[StatisticData]:
        """Feed one observation; returns the rows to import, as `StatisticData`."""
        previous = self.engine.state.last_start
        if increment:
            update: HourlyUpdate = self.engine.add_increment(moment, value)
        else:
            update = self.engine.add(moment, value)
        for row in update.rows:
            if previous is not None:
                self.missed_hours += max(int((row.start - previous) / HOUR) - 1, 0)
            previous = row.start
        self.rows += len(update.rows)
        return cast("list[StatisticData]", [row.as_statistic_data() for row in update.rows])

    def diagnostics(self) -> dict[str, Any]:
        """Where the series stands and what became of its observations."""
        state = self.engine.state
        return {
            "last_start": _iso(state.last_start),
            "last_sum": str(state.last_sum),
            "pending_start": _iso(state.pending_start),
            "rows_imported": self.rows,
            "missed_hours": self.missed_hours,
            "outcomes": {str(outcome): n for outcome, n in sorted(self.engine.counts.items())},
        }


class HourlyImporter:
    """Books a meter's hourly registers at the meter's hour; one per HAN entry."""

    def __init__(self, hass: HomeAssistant, entry: AmshanCorusConfigEntry, device_key: str) -> None:
        self.hass = hass
        self.entry = entry
        self.device_key = device_key
        self._series: dict[str, SeriesImport] = {}
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
                series = self._series.get(key) or await self._async_series(key, unit)
                if rows := series.add(moment, value):
                    async_add_external_statistics(
                        self.hass,
                        self._metadata(key, series.engine.config.output_unit),
                        rows,
                    )
        finally:
            self._draining = False

    async def _async_series(self, key: str, unit: str) -> SeriesImport:
        """The series of `key`, continuing from its last imported row."""
        config = HourlyConfig.gas() if HOURLY_SERIES[key].gas else HourlyConfig.electricity(unit)
        if config.unit != unit:
            config = HourlyConfig(unit=unit, tolerance=config.tolerance)
        ident = statistic_id(self.device_key, key)
        series = self._series[key] = SeriesImport(await _async_seeded(self.hass, ident, config))
        return series

    def diagnostics(self) -> dict[str, Any]:
        """Each series' state and counters, and how many readings wait to be booked."""
        return {
            "queued": len(self._queue),
            "series": {key: series.diagnostics() for key, series in sorted(self._series.items())},
        }

    def _metadata(self, key: str, unit: str) -> StatisticMetaData:
        return _metadata(
            statistic_id(self.device_key, key),
            f"{self.entry.title} {HOURLY_SERIES[key].name}",
            unit,
        )


class CorusBackfill:
    """Imports a Corus converter's hourly database: indexes, or hourly consumptions (52 bytes).

    Each run reads from the last imported record onward: at most `days` back the first time
    (the entry's `backfill_days` option, 31 by default), and at most `max_hours` records a run,
    so a long gap is caught up over a few polls. A window that books nothing (the converter was
    off, or its history is shorter) is stepped over instead of being asked for again.
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
        self._series: dict[str, SeriesImport] = {}
        self._resume: datetime | None = None
        self.layout: str | None = None  # of the last records read
        self.rows_imported = 0
        self.last_run: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None

    async def async_run(self, client: CorusClient, now: datetime | None = None) -> int:
        """Read and import the next records (up to `now`); returns how many rows were imported.

        A `CorusError` is recorded (diagnostics) and raised again.
        """
        if "recorder" not in self.hass.config.components:
            return 0
        now = now or dt_util.utcnow()
        self.last_run = now
        try:
            imported = await self._async_import(client, now)
        except CorusError as err:
            self.last_error, self.last_error_at = str(err), now
            raise
        self.rows_imported += imported
        return imported

    async def _async_import(self, client: CorusClient, now: datetime) -> int:
        for key in (*CORUS_SERIES, *CORUS_INCREMENT_SERIES):
            if key not in self._series:
                ident = statistic_id(self.device_key, key)
                engine = await _async_seeded(self.hass, ident, HourlyConfig.gas())
                self._series[key] = SeriesImport(engine)
        since = self._since(now)
        until = since + timedelta(hours=self.max_hours)
        records = await client.read_database("hourly", since, min(until, now))
        rows: dict[str, list[StatisticData]] = {key: [] for key in self._series}
        ends = [(end, record) for record in records if (end := _record_end(record)) is not None]
        for end, record in sorted(ends, key=lambda item: item[0]):
            self.layout = record.layout
            increment = not _has_indexes(record)
            for key in CORUS_INCREMENT_SERIES if increment else CORUS_SERIES:
                value = record.values.get(key)
                if isinstance(value, Decimal):
                    rows[key] += self._series[key].add(end, value, increment=increment)
        # Nothing new in a window that is over: the next run asks for the one after it.
        booked = sum(len(data) for data in rows.values())
        self._resume = until if not booked and until < now else None
        for key, data in rows.items():
            if data:
                ident = statistic_id(self.device_key, key)
                name = CORUS_SERIES.get(key) or CORUS_INCREMENT_SERIES[key]
                async_add_external_statistics(
                    self.hass,
                    _metadata(ident, f"{self.entry.title} {name}", UnitOfVolume.CUBIC_METERS),
                    data,
                )
        return booked

    def _since(self, now: datetime) -> datetime:
        """Where the next read starts: the last imported record (re-read, a duplicate)."""
        if self._resume is not None:
            return self._resume
        resumes = []
        for group in (CORUS_SERIES, CORUS_INCREMENT_SERIES):
            starts = [self._series[key].engine.state.last_start for key in group]
            if known := [start for start in starts if start is not None]:
                resumes.append(min(known))
        return max(resumes, default=now - timedelta(days=self.days))

    def diagnostics(self) -> dict[str, Any]:
        """Where the backfill stands: last record imported, rows, last error, per series."""
        ends = [
            series.engine.state.last_start + HOUR
            for series in self._series.values()
            if series.engine.state.last_start is not None
        ]
        return {
            "days": self.days,
            "max_hours": self.max_hours,
            "layout": self.layout,
            "last_run": _iso(self.last_run),
            "last_record_end": _iso(max(ends, default=None)),
            "resume_from": _iso(self._resume),
            "rows_imported": self.rows_imported,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "series": {key: series.diagnostics() for key, series in self._series.items()},
        }


def _has_indexes(record: DatabaseRecord) -> bool:
    """Whether the record's layout carries the indexes (90/92 bytes) or only consumptions."""
    layout = get_layout("hourly", len(record.raw))
    return layout is None or any(spec.name in CORUS_SERIES for spec in layout.fields)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _record_end(record: DatabaseRecord) -> datetime | None:
    """The record's end in UTC, or None.

    Its Date has no UTC offset: when the clock goes back in autumn, two records end at the same
    wall time. The later one's end is not after its own start (02:00-02:00): its second pass.
    """
    end, start = record.values.get("end_date"), record.values.get("start_date")
    if not isinstance(end, datetime):
        return None
    if isinstance(start, datetime) and end <= start:  # same zone: compares wall times
        later = end.replace(fold=1)
        if later.astimezone(UTC) > start.astimezone(UTC):
            end = later
    return end.astimezone(UTC)


async def _async_seeded(hass: HomeAssistant, ident: str, config: HourlyConfig) -> HourlyStatistics:
    """An engine for statistic `ident` continuing from its last imported row, if any."""
    recorder = get_instance(hass)
    # Rows imported moments ago (an entry reloaded right after a list 3) may not be committed
    # yet: unseen, the series would restart as a baseline and overwrite their sum. Not while
    # Home Assistant starts: the recorder commits nothing before it has started, and it waits
    # for the entries being set up (a Corus entry's first refresh seeds here).
    if recorder.async_recorder_ready.is_set():
        await recorder.async_block_till_done()
    last = await recorder.async_add_executor_job(
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
