"""Hourly statistic rows from a meter's own register readings, booked in the hour they belong to.

Home Assistant books a register the moment it arrives, so hourly registers (Norwegian list 3,
Swedish/Aidon totals, DSMR gas `0-1:24.2.1`, Corus hourly records) land one hour late. This
engine turns (meter timestamp, register value) observations into rows for
`async_add_external_statistics`: `start` (UTC, on the hour), `state` (register at the end of
that hour) and `sum` (consumption since the first row).

The rules, in the order they are applied:

- **Which hour.** A register value read at (or stamped with) an hour boundary B closes the hour
  [B-1h, B): its row starts at B-1h. A capture time within `tolerance` (default 5 min) of a
  boundary counts as that boundary, either side: 14:00:10 and 13:59:58 are both the 14:00
  register, so a meter clock a few minutes off still books the right hour. Sources whose
  timestamp already is the end of the period (DSMR gas 24.2.1, Corus `end_date`) follow the
  same rule with a tolerance of 0 (`HourlyConfig.gas()`): their stamp is the boundary itself,
  and DSMR 5's 5-minute gas values must not have 10:55 taken for 11:00. A total sent with every
  message (readings closer together than the tolerance) is only taken at or after the
  boundary, so at most one message interval lands in the earlier hour; so is the first
  reading after start-up, whose pace is not known yet (a missed row is a gap, never a wrong
  hour). Readings further from a boundary are skipped as `BETWEEN_HOURS`; the first one
  accepted for a boundary wins.
- **The first row** is a baseline: its `sum` is 0, as in Home Assistant's own statistics.
- **Missed hours stay missing.** No rows are invented. The next row's `sum` grows by the whole
  register difference, so that row carries the missed consumption (`hours` > 1 says so; the
  energy total over any longer range stays exact). Capacity tracking must not treat such a row
  as one hour's use.
- **Repeats are idempotent.** The first value booked for a boundary wins: the same value again
  is a `DUPLICATE`, a different one a `CONFLICT`, an older boundary `STALE`; none is booked.
  This covers Aidon firmware that repeats the previous hour's list 3 (same clock, same
  registers) and restarts that replay history, provided the timestamp is the meter's own clock
  (list 3 carries it): stamped with its arrival time, a repeat would book 0 for one hour and two
  hours in the next (`CapacityTracker` checks registers against power for that reason).
- **Glitches.** A value that is not a positive finite number is `INVALID` (a zero lifetime
  register means "not read", never a reset). A small step backwards is a `GLITCH`. A value far
  below the last one (under `reset_ratio` of it) or a jump above `max_per_hour` per elapsed hour
  is held as `PENDING`; the next reading decides. If that reading fits the old series, the held
  one was a glitch. If it fits the held one, the meter was replaced (or its register reset): the
  series continues from the held value (`REPLACED`), and `sum` grows by the new register's own
  value when it dropped (it counted up from zero since the swap), never by a negative or an
  implausible amount. Otherwise the new reading is held instead.
- **Units.** Energy registers in Wh (or kWh/MWh) come out as kWh, exact Decimals; gas in m³.
- **Restarts.** `state` is a small serialisable `HourlyState`; restoring it (or building one from
  Home Assistant's last statistic row) continues the series without counting anything twice.

**Increments** (`add_increment`): sources that log each hour's consumption but no register
(Corus 52-byte hourly records) give (period end, amount) instead. The hour is placed as above;
the row's `sum` grows by the amount, continuing from the last row's sum (the first row too: its
hour's use is known, so it is no baseline), and its `state` is that running total, as no
register exists. An hour seen again is a `DUPLICATE` (STALE when older) and adds nothing; a
missed hour stays missing and its use is not known, so the next row adds only its own hour
(`hours` is 1: every increment row is exactly one hour's use). A negative, non-finite or
implausible amount (over `max_per_hour`) is `INVALID`; 0 is a valid hour without use. One engine
takes either registers or increments, never both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from .common import (
    HOUR,
    REGISTER_UNITS,
    Number,
    StateFormatError,
    UnitError,
    nearest_boundary,
    parse_utc,
    to_decimal,
    to_utc,
)


class Outcome(StrEnum):
    """What became of one observation."""

    BOOKED = "booked"  # one row produced
    REPLACED = "replaced"  # a held value was confirmed as a new register: two rows produced
    PENDING = "pending"  # implausible against the current series; held until the next reading
    DUPLICATE = "duplicate"  # the same boundary and value as already booked or held
    CONFLICT = "conflict"  # the same boundary as already booked, another value; first wins
    STALE = "stale"  # a boundary older than the last booked one
    BETWEEN_HOURS = "between_hours"  # not within the tolerance of an hour boundary
    INVALID = "invalid"  # not a positive finite number (an increment: negative or implausible)
    GLITCH = "glitch"  # a small step backwards: rejected


@dataclass(frozen=True, slots=True)
class StatisticRow:
    """One hourly statistic row.

    `delta` is what this row adds to `sum` (None for the baseline row) and `hours` how many clock
    hours it covers: more than 1 right after missed hours or a meter replacement.
    """

    start: datetime
    state: Decimal
    sum: Decimal
    delta: Decimal | None
    hours: int

    def as_statistic_data(self) -> dict[str, Any]:
        """The row as Home Assistant's `StatisticData` (floats, as the recorder stores them)."""
        return {"start": self.start, "state": float(self.state), "sum": float(self.sum)}


@dataclass(frozen=True, slots=True)
class HourlyUpdate:
    """The result of one observation: its outcome and the rows to import (often none)."""

    outcome: Outcome
    rows: tuple[StatisticRow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HourlyConfig:
    """How observations of one register are read.

    `unit` is the register's unit as the meter gives it (a key of `REGISTER_UNITS`).
    `max_per_hour` is the most the register can plausibly grow in one hour, in the output unit
    (None: no limit).
    """

    unit: str = "Wh"
    tolerance: timedelta = timedelta(minutes=5)
    max_per_hour: Decimal | None = None
    reset_ratio: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        if self.unit not in REGISTER_UNITS:
            raise UnitError(
                f"unsupported unit {self.unit!r}; expected one of {sorted(REGISTER_UNITS)}"
            )
        if not timedelta(0) <= self.tolerance < HOUR / 2:
            raise ValueError("tolerance must be at least 0 and under half an hour")

    @property
    def output_unit(self) -> str:
        """The unit of `state` and `sum` in the rows: kWh for energy, m³ for gas."""
        return REGISTER_UNITS[self.unit][1]

    @classmethod
    def electricity(cls, unit: str = "Wh") -> HourlyConfig:
        """A household import/export register: no house draws 250 kWh in one hour."""
        return cls(unit=unit, max_per_hour=Decimal(250))

    @classmethod
    def gas(cls) -> HourlyConfig:
        """A gas register in m³ stamped with its period end (DSMR 24.2.1, Corus `end_date`).

        No rate limit by default: Corus converters measure anything from a house to a plant.
        """
        return cls(unit="m3", tolerance=timedelta(0))


@dataclass(frozen=True, slots=True)
class HourlyState:
    """What must survive a restart; values are in the output unit.

    Build one from Home Assistant's last statistic row (`start`, `state`, `sum`) to continue an
    existing series.
    """

    VERSION: ClassVar[int] = 1

    last_start: datetime | None = None
    last_value: Decimal | None = None
    last_sum: Decimal = Decimal(0)
    pending_start: datetime | None = None
    pending_value: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps ISO 8601 UTC, numbers as exact strings)."""

        def text(value: datetime | Decimal | None) -> str | None:
            return (
                None
                if value is None
                else str(value)
                if isinstance(value, Decimal)
                else value.isoformat()
            )

        return {
            "version": self.VERSION,
            "last_start": text(self.last_start),
            "last_value": text(self.last_value),
            "last_sum": str(self.last_sum),
            "pending_start": text(self.pending_start),
            "pending_value": text(self.pending_value),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HourlyState:
        """Restore a state written by `to_dict`; raises `StateFormatError` when it cannot."""
        if data.get("version") != cls.VERSION:
            raise StateFormatError(f"unsupported hourly state version {data.get('version')!r}")
        try:
            start, pending = data["last_start"], data["pending_start"]
            value, pending_value = data["last_value"], data["pending_value"]
            state = cls(
                last_start=None if start is None else parse_utc(start),
                last_value=None if value is None else Decimal(value),
                last_sum=Decimal(data["last_sum"]),
                pending_start=None if pending is None else parse_utc(pending),
                pending_value=None if pending_value is None else Decimal(pending_value),
            )
        except (LookupError, TypeError, ValueError, ArithmeticError) as err:
            raise StateFormatError(f"bad hourly state: {err}") from err
        if (state.last_start is None) != (state.last_value is None) or (
            state.pending_start is None
        ) != (state.pending_value is None):
            raise StateFormatError("bad hourly state: a timestamp without its value")
        return state


class HourlyStatistics:
    """Turns register observations of one meter register into hourly statistic rows."""

    def __init__(
        self, config: HourlyConfig | None = None, state: HourlyState | None = None
    ) -> None:
        self.config = config or HourlyConfig()
        self._state = state or HourlyState()
        self._counts: Counter[Outcome] = Counter()
        self._last_seen: datetime | None = None

    @property
    def state(self) -> HourlyState:
        """The state to persist after each observation."""
        return self._state

    @property
    def counts(self) -> Mapping[Outcome, int]:
        """How many observations had each outcome since this engine was created."""
        return self._counts

    def add(self, timestamp: datetime, value: Number) -> HourlyUpdate:
        """Take one register observation (meter timestamp, value in the configured unit)."""
        update = self._classify(timestamp, value)
        self._counts[update.outcome] += 1
        return update

    def add_increment(self, timestamp: datetime, amount: Number) -> HourlyUpdate:
        """Take one hour's consumption stamped with the hour's end (see the module docs)."""
        update = self._classify_increment(timestamp, amount)
        self._counts[update.outcome] += 1
        return update

    def _classify_increment(self, timestamp: datetime, raw: Number) -> HourlyUpdate:
        boundary = nearest_boundary(to_utc(timestamp), HOUR, self.config.tolerance)
        number = to_decimal(raw)
        if number is None or number < 0:
            return HourlyUpdate(Outcome.INVALID)
        if boundary is None:
            return HourlyUpdate(Outcome.BETWEEN_HOURS)
        amount = number * REGISTER_UNITS[self.config.unit][0]
        if not self._plausible(amount, 1):
            return HourlyUpdate(Outcome.INVALID)
        start = boundary - HOUR
        last_start = self._state.last_start
        if last_start is not None and start <= last_start:
            return HourlyUpdate(Outcome.STALE if start < last_start else Outcome.DUPLICATE)
        total = self._state.last_sum + amount
        return self._book(start, total, delta=amount, hours=1)

    def _classify(self, timestamp: datetime, raw: Number) -> HourlyUpdate:
        moment = to_utc(timestamp)
        boundary = nearest_boundary(moment, HOUR, self.config.tolerance)
        number = to_decimal(raw)
        if number is None or number <= 0:
            return HourlyUpdate(Outcome.INVALID)
        # Only readings known to come hourly may be taken for the boundary ahead of them.
        sparse = self._last_seen is not None and (
            moment - self._last_seen >= self.config.tolerance or moment == self._last_seen
        )
        self._last_seen = moment
        if boundary is None or (moment < boundary and not sparse):
            return HourlyUpdate(Outcome.BETWEEN_HOURS)
        value = number * REGISTER_UNITS[self.config.unit][0]
        start = boundary - HOUR
        state = self._state
        if state.last_start is None or state.last_value is None:
            return self._book(start, value, delta=None, hours=1)
        if start <= state.last_start:
            if start < state.last_start:
                return HourlyUpdate(Outcome.STALE)
            return HourlyUpdate(
                Outcome.DUPLICATE if value == state.last_value else Outcome.CONFLICT
            )
        if state.pending_start is not None and state.pending_value is not None:
            return self._resolve_pending(start, value, state.pending_start, state.pending_value)
        hours = _hours(state.last_start, start)
        growth = value - state.last_value
        if self._plausible(growth, hours):
            return self._book(start, value, delta=growth, hours=hours)
        if growth < 0 and value >= state.last_value * self.config.reset_ratio:
            return HourlyUpdate(Outcome.GLITCH)
        self._state = replace(state, pending_start=start, pending_value=value)
        return HourlyUpdate(Outcome.PENDING)

    def _resolve_pending(
        self, start: datetime, value: Decimal, held_start: datetime, held_value: Decimal
    ) -> HourlyUpdate:
        state = self._state
        assert state.last_start is not None
        assert state.last_value is not None
        if start <= held_start:
            if start < held_start:
                return HourlyUpdate(Outcome.STALE)
            return HourlyUpdate(Outcome.DUPLICATE if value == held_value else Outcome.CONFLICT)
        hours = _hours(state.last_start, start)
        if self._plausible(value - state.last_value, hours):
            # The held value was the glitch: forget it and continue the old series.
            self._counts[Outcome.GLITCH] += 1
            self._state = replace(state, pending_start=None, pending_value=None)
            return self._book(start, value, delta=value - state.last_value, hours=hours)
        if not self._plausible(value - held_value, _hours(held_start, start)):
            self._counts[Outcome.GLITCH] += 1
            self._state = replace(state, pending_start=start, pending_value=value)
            return HourlyUpdate(Outcome.PENDING)
        # Confirmed: a new register. A drop means it counted up from zero since the swap.
        held_hours = _hours(state.last_start, held_start)
        dropped = held_value < state.last_value
        carry = held_value if dropped and self._plausible(held_value, held_hours) else Decimal(0)
        first = self._book(held_start, held_value, delta=carry, hours=held_hours)
        second = self._book(start, value, delta=value - held_value, hours=_hours(held_start, start))
        return HourlyUpdate(Outcome.REPLACED, first.rows + second.rows)

    def _plausible(self, growth: Decimal, hours: int) -> bool:
        limit = self.config.max_per_hour
        return growth >= 0 and (limit is None or growth <= limit * hours)

    def _book(
        self, start: datetime, value: Decimal, *, delta: Decimal | None, hours: int
    ) -> HourlyUpdate:
        total = self._state.last_sum + (delta or Decimal(0))
        self._state = HourlyState(last_start=start, last_value=value, last_sum=total)
        return HourlyUpdate(Outcome.BOOKED, (StatisticRow(start, value, total, delta, hours),))


def _hours(earlier: datetime, later: datetime) -> int:
    return int((to_utc(later) - to_utc(earlier)) / HOUR)
