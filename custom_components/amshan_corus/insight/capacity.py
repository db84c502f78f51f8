"""Capacity tariff: this month's counted peaks, the step, and how much may still be used this hour.

Definitions (all values are mean power over a period, in kW = kWh per hour):

- A **period** is a clock hour (or quarter, `CapacityRules.period`). Its **value** is
  `weight x energy / period length`, where the weight is 0 for periods outside the counted
  months/weekdays/hours/dates and `night_weight` inside the night window.
- The month's **peaks** are the `peaks` highest values of the local calendar month, at most one
  per local day when `one_per_day` (ties: the earlier period wins). The **mean** is their sum
  divided by `peaks`, a missing peak counting as 0: it is the month's result if the month ended
  now, so it never decreases as the month goes on.
- The **step** is the index of the highest `step_limits` entry the mean reaches: a limit is
  part of the step it starts (5.00 kW is in the 5-10 step), as Norwegian DSOs do.
- **Headroom** is about the current period. Its value V will be at least what is already used.
  `headroom_kwh` is the most energy that can still be used in it while the month's step stays
  the step it is in now (counting what this period has already used, which cannot be undone):
  with S the sum of the other `peaks - 1` highest counted values (excluding this one, missing
  = 0) and L the next step limit, the month stays below L while V < peaks x L - S. Energies
  are whole Wh, so using `headroom_kwh` in full keeps the step and one Wh more raises it.
  `headroom_kw` is that energy spread over the time left (the mean power the house may still
  draw). `mean_headroom_*` is the same for keeping the month's mean unchanged:
  V <= max(the N-th value, the best already closed on this day, what is used already).
  Headroom is None when the period does not count (unlimited), when there is no higher step
  (`headroom_*` only), and while the period's energy is unknown.
- **Energy this period** comes from the meter's registers when it has one at the period start
  (list 3 in Norway) or during it (a total in every message), refined between registers by
  integrating power readings over time (trapezoids), and replaced by the exact register
  difference when the register at the period end arrives; a register that goes backwards or
  jumps faster than `max_power_kw` is dropped and the power integral carries the period. A
  period observed only in part (start-up, readings stopping for longer than `max_power_gap`)
  is left out rather than counted low. A register difference spanning several periods (a
  missed list 3, or a repeated one: unchanged while power says energy was used) is shared in
  proportion to their power estimates when all of them have one.
- **Time.** Months, days and windows are taken in local time; periods are keyed by their UTC
  start, so the repeated October hour is two periods, both of the same day. Feed readings in
  time order, all stamped by one clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from ..protocol.han.errors import DecodeError
from ..protocol.han.models import DemandPeak
from ..protocol.han.p1 import parse_demand_history, parse_demand_peak
from .common import (
    HOUR,
    POWER_UNITS,
    REGISTER_UNITS,
    InsightError,
    Number,
    StateFormatError,
    floor_to_period,
    nearest_boundary,
    parse_utc,
    scaled,
    to_decimal,
    to_utc,
)

ENERGY_FACTORS = {unit: factor for unit, (factor, out) in REGISTER_UNITS.items() if out == "kWh"}
NORWAY_STEP_LIMITS: tuple[Decimal, ...] = tuple(
    Decimal(limit) for limit in (0, 2, 5, 10, 15, 20, 25, 50, 75, 100)
)
WH = Decimal("0.001")
_SECONDS_PER_HOUR = Decimal(3600)


def _in_window(hour: int, window: tuple[int, int]) -> bool:
    """Whether a local hour is in [first, end); a window may wrap past midnight (22, 6)."""
    first, end = window
    if first == end:
        return True
    return first <= hour < end if first < end else hour >= first or hour < end


@dataclass(frozen=True, slots=True, kw_only=True)
class CapacityRules:
    """One grid company's capacity rule; the defaults are Norway's common rule.

    `weekdays` uses 0 = Monday; `hours` and `night_hours` are local [first, end) hours and may
    wrap past midnight; `excluded_dates` are local dates that never count (public holidays).
    `step_prices` (per month, one per step) and `price_per_kw` (Sweden: mean x price) are
    optional; an empty `step_limits` means the tariff has no steps.
    """

    peaks: int = 3
    one_per_day: bool = True
    period: timedelta = HOUR
    months: frozenset[int] | None = None
    weekdays: frozenset[int] | None = None
    hours: tuple[int, int] | None = None
    excluded_dates: frozenset[date] = frozenset()
    night_weight: Decimal = Decimal(1)
    night_hours: tuple[int, int] = (22, 6)
    step_limits: tuple[Decimal, ...] = NORWAY_STEP_LIMITS
    step_prices: tuple[Decimal, ...] | None = None
    price_per_kw: Decimal | None = None

    def __post_init__(self) -> None:
        if self.peaks < 1:
            raise ValueError("peaks must be at least 1")
        if not set(self.months or ()) <= set(range(1, 13)):
            raise ValueError("months are 1 (January) to 12")
        if not set(self.weekdays or ()) <= set(range(7)):
            raise ValueError("weekdays are 0 (Monday) to 6")
        if not set(self.hours or ()) | set(self.night_hours) <= set(range(24)):
            raise ValueError("hour windows are (first, end) local hours 0 to 23")
        if self.night_weight < 0:
            raise ValueError("night_weight must not be negative")
        if self.period <= timedelta(0) or HOUR % self.period:
            raise ValueError("period must divide an hour (60, 30, 15 ... minutes)")
        if list(self.step_limits) != sorted(set(self.step_limits)):
            raise ValueError("step_limits must be strictly increasing")
        if self.step_prices is not None and len(self.step_prices) != len(self.step_limits):
            raise ValueError("step_prices needs one price per step")

    @classmethod
    def ellevio(cls) -> CapacityRules:
        """Ellevio (SE): 3 peaks on different days, 22-06 counted at 50 %, priced per kW."""
        return cls(night_weight=Decimal("0.5"), step_limits=(), price_per_kw=Decimal("81.25"))

    @property
    def period_hours(self) -> Decimal:
        """The period length in hours (1 or 0.25)."""
        return Decimal(int(self.period.total_seconds())) / _SECONDS_PER_HOUR

    def weight(self, local_start: datetime) -> Decimal:
        """How much a period starting at this local time counts: 0 when it does not."""
        if (
            (self.months is not None and local_start.month not in self.months)
            or (self.weekdays is not None and local_start.weekday() not in self.weekdays)
            or (self.hours is not None and not _in_window(local_start.hour, self.hours))
            or local_start.date() in self.excluded_dates
        ):
            return Decimal(0)
        return self.night_weight if _in_window(local_start.hour, self.night_hours) else Decimal(1)

    def step(self, total: Decimal) -> int | None:
        """The step of a month whose counted peaks sum to `total` (compared exactly, no /N)."""
        if not self.step_limits:
            return None
        reached = [i for i, limit in enumerate(self.step_limits) if total >= limit * self.peaks]
        return reached[-1] if reached else 0


@dataclass(frozen=True, slots=True)
class Peak:
    """One counted period: its UTC start, weighted value (kW) and measured energy (kWh).

    `exact` is False while the energy is a power estimate not (yet) confirmed by registers.
    """

    start: datetime
    value_kw: Decimal
    energy_kwh: Decimal
    exact: bool = True


@dataclass(frozen=True, slots=True)
class MonthResult:
    """A month's counted peaks (highest first), their mean, step and price."""

    month: date
    peaks: tuple[Peak, ...]
    mean_kw: Decimal
    step: int | None
    step_floor_kw: Decimal | None
    step_ceiling_kw: Decimal | None
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class CapacitySnapshot:
    """Everything the sensors show, at one moment.

    `energy_so_far_kwh`, `estimated_energy_kwh`, the projection and the headroom are None while
    the current period has not been observed from its start (or readings stopped). Headroom is
    also None when unlimited: the period does not count (`period_counts`) or there is no higher
    step (see the module docs). `previous_period_kwh` is the period just before (None: not
    known), booked in its own hour.
    """

    period_start: datetime
    energy_so_far_kwh: Decimal | None
    estimated_energy_kwh: Decimal | None
    previous_period_kwh: Decimal | None
    previous_period_exact: bool
    month: MonthResult
    previous_month: MonthResult | None
    projected_mean_kw: Decimal | None
    projected_step: int | None
    period_counts: bool
    headroom_kwh: Decimal | None
    headroom_kw: Decimal | None
    mean_headroom_kwh: Decimal | None
    mean_headroom_kw: Decimal | None


@dataclass(slots=True)
class _Live:
    """The open period.

    Energy so far = base + (anchor - first register) + since_anchor when the registers cover
    it, else the power integrated since the start when that covers it.
    """

    start: datetime
    covered_until: datetime  # the energy is known up to here
    base: Decimal = Decimal(0)  # energy before the first register of the period
    first_register: Decimal | None = None  # register when `base` was taken (at `start` if exact)
    anchor_register: Decimal | None = None  # latest register in the period
    since_anchor: Decimal = Decimal(0)  # integrated power since the latest register
    base_complete: bool = False
    tail_complete: bool = False
    integrated: Decimal = Decimal(0)  # all power integrated in the period
    power_complete: bool = False  # power readings cover the period from its start

    def energy(self) -> Decimal | None:
        if self.base_complete and self.tail_complete:
            registers = Decimal(0)
            if self.first_register is not None and self.anchor_register is not None:
                registers = self.anchor_register - self.first_register
            return self.base + registers + self.since_anchor
        return self.integrated if self.power_complete else None


@dataclass(frozen=True, slots=True)
class _Closed:
    energy_kwh: Decimal
    exact: bool
    month: date  # local month of the period
    peak: Peak | None  # None when the period does not count


@dataclass(frozen=True, slots=True)
class _MonthView:
    """A month's closed periods, worked out once each time they change.

    `contenders` are the counted values that can still matter to the month's result, to what a
    new period would make of it and to that period's headroom: the `peaks` highest (ties: the
    earlier period), with one peak per day each day's best. A lower value never counts: the
    `peaks` above it do, whatever the new period's value, or the new one does instead of one
    of them (its day's best included).
    """

    has_periods: bool  # any closed period in the month, counted or not
    result: MonthResult
    contenders: tuple[Peak, ...]
    starts: frozenset[datetime]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerConfig:
    """How readings are taken.

    `boundary_tolerance`: a register read this close to a period boundary is the register at
    that boundary (hourly lists, meter clock a little off). Registers that come more often than
    that (a total in every message) are taken as exact points in time instead; the very first
    one is taken for a boundary only at or after it.
    `max_power_gap`: longer gaps between power readings are not bridged. `max_power_kw`: a
    register rising faster (plus 1 kWh for coarse registers) is a glitch.
    """

    boundary_tolerance: timedelta = timedelta(minutes=5)
    max_power_gap: timedelta = timedelta(minutes=5)
    max_power_kw: Decimal = Decimal(250)


@dataclass(slots=True)
class _Registers:
    last_value: Decimal | None = None
    last_time: datetime | None = None
    boundary: tuple[datetime, Decimal] | None = None


class CapacityTracker:
    """Follows one meter's import through the month and answers the capacity-tariff questions.

    Feed it `add_power` (kW) and `add_register` (kWh) readings in time order, all stamped by the
    same clock (the meter's when every message carries it, else the arrival time), or closed
    periods with `add_period`. Persist `to_dict()` and restore with `from_dict()`.
    """

    VERSION: ClassVar[int] = 1

    def __init__(
        self,
        rules: CapacityRules | None = None,
        timezone: ZoneInfo | str = "Europe/Oslo",
        config: TrackerConfig | None = None,
    ) -> None:
        self.rules = rules or CapacityRules()
        self.timezone = timezone if isinstance(timezone, ZoneInfo) else ZoneInfo(timezone)
        self.config = config or TrackerConfig()
        self.counts: Counter[str] = Counter()
        self._live: _Live | None = None
        self._closed: dict[datetime, _Closed] = {}
        self._views: dict[date, _MonthView] = {}  # emptied whenever `_closed` changes
        self._power: tuple[datetime, Decimal] | None = None
        self._registers = _Registers()
        self._latest: datetime | None = None
        self._kept_from: date | None = None

    # Input

    def add_power(self, timestamp: datetime, value: Number, unit: str = "kW") -> None:
        """An instantaneous import power reading, in the meter's unit (W, kW)."""
        moment, power = to_utc(timestamp), scaled(value, unit, POWER_UNITS)
        if power is None or power < 0:
            self.counts["invalid_power"] += 1
            return
        if self._power is not None and moment <= self._power[0]:
            self.counts["stale_power"] += 1
            return
        previous = self._power
        self._power = (moment, power)
        self._touch(moment)
        if previous is None or moment - previous[0] > self.config.max_power_gap:
            if self._live is not None:
                # Not observed to its end (HA was down, the line silent): left out, not low.
                self._live.power_complete = self._live.tail_complete = False
            self._roll(moment)
            live = self._live_at(moment)
            live.tail_complete = live.power_complete = False
            live.covered_until = max(live.covered_until, moment)
            return
        then, before = previous
        while True:
            live = self._live_at(then)
            end = live.start + self.rules.period
            stop = min(moment, end)
            first = max(then, live.start)
            if stop > first:
                energy = _trapezoid(then, before, moment, power, first, stop)
                live.since_anchor += energy
                live.integrated += energy
                live.covered_until = max(live.covered_until, stop)
            if moment < end:
                return
            self._roll(end)
            if moment == end:
                return

    def add_register(self, timestamp: datetime, energy: Number, unit: str = "kWh") -> None:
        """An import energy register reading (lifetime total), in the meter's unit (Wh, kWh)."""
        moment, value = to_utc(timestamp), scaled(energy, unit, ENERGY_FACTORS)
        if value is None or value <= 0:
            self.counts["invalid_register"] += 1
            return
        registers = self._registers
        if registers.last_time is not None and moment <= registers.last_time:
            self.counts["stale_register"] += 1
            return
        # Hourly registers (list 3) may be stamped a little off the hour; a total sent with
        # every message is an exact point in time instead, and the boundary lies between two.
        # Until the pace is known, only a reading at or after the boundary is taken for it.
        tolerance = self.config.boundary_tolerance
        if registers.last_time is not None and moment - registers.last_time < tolerance:
            tolerance = timedelta(0)
        boundary = nearest_boundary(moment, self.rules.period, tolerance)
        if registers.last_time is None and boundary is not None and moment < boundary:
            boundary = None
        if registers.last_value is not None and registers.last_time is not None:
            growth = value - registers.last_value
            hours = Decimal(int((moment - registers.last_time).total_seconds())) / _SECONDS_PER_HOUR
            if growth < 0 or growth > self.config.max_power_kw * hours + 1:
                # Glitch or a new meter: drop it and forget the baseline; the power estimate
                # carries the period and the next reading starts a fresh baseline.
                self.counts["rejected_register"] += 1
                self._registers = _Registers()
                if self._live is not None:
                    self._live.first_register = self._live.anchor_register = None
                    self._live.base_complete = False
                return
        registers.last_value, registers.last_time = value, moment
        self._touch(moment)
        self._roll(max(moment, boundary) if boundary else moment)
        live = self._live_at(moment)
        booked = registers.boundary is not None and registers.boundary[0] == boundary
        if boundary is not None and boundary == live.start and not booked:
            if self._is_repeat(boundary, value):
                self.counts["repeated_register"] += 1
                return
            # The register at the period start; power integrated since the boundary stays.
            self._book_boundary(boundary, value)
            live.base, live.first_register, live.anchor_register = Decimal(0), value, value
            live.base_complete = True
            if moment <= boundary:
                live.tail_complete, live.covered_until = True, boundary
            return
        if live.first_register is None:
            live.base, live.first_register = live.since_anchor, value
            live.base_complete = live.base_complete and live.tail_complete
        live.anchor_register = value
        live.since_anchor = Decimal(0)
        live.tail_complete, live.covered_until = True, moment

    def add_period(self, start: datetime, energy_kwh: Number) -> None:
        """A closed period's energy from elsewhere (a statistics row, the grid company)."""
        energy = to_decimal(energy_kwh)
        if energy is None or energy < 0:
            self.counts["invalid_period"] += 1
            return
        moment = to_utc(start)
        self._store(floor_to_period(moment, self.rules.period), energy, exact=True)
        self._prune(moment)

    # Output

    @property
    def latest(self) -> datetime | None:
        """The time of the latest reading taken (None before any)."""
        return self._latest

    def month_result(self, moment: datetime) -> MonthResult:
        """The result of the local month holding `moment`, from closed periods."""
        return self._view(self._month_of(to_utc(moment))).result

    def snapshot(self, now: datetime | None = None) -> CapacitySnapshot:
        """The sensor values at `now` (default: the latest reading's time)."""
        moment = to_utc(now) if now is not None else self._latest or datetime.now(UTC)
        rules = self.rules
        start = floor_to_period(moment, rules.period)
        month = self._month_of(start)
        previous_month = (month - timedelta(days=1)).replace(day=1)
        view = self._view(month)
        if start in view.starts:  # a period closed already (`add_period`, a past `now`)
            values = [peak for peak in self._values(month) if peak.start != start]
        else:
            values = list(view.contenders)
        live = self._live
        so_far = None
        if (
            live is not None
            and live.start == start
            and moment - live.covered_until <= self.config.max_power_gap
        ):
            so_far = live.energy()
        estimate = None
        left_hours = (
            Decimal(int((start + rules.period - moment).total_seconds())) / _SECONDS_PER_HOUR
        )
        if so_far is not None and self._power is not None:
            power_time, power = self._power
            if moment - power_time <= self.config.max_power_gap:
                estimate = so_far + power * left_hours
        room = None if so_far is None else headroom(values, start, so_far, rules, self.timezone)
        projected = None
        if estimate is not None:
            current = _peak(start, estimate, rules, self.timezone, exact=False)
            projected = select_peaks([*values, current], rules, self.timezone)
        projected_total = (
            None if projected is None else sum((p.value_kw for p in projected), Decimal(0))
        )
        before = self._closed.get(start - rules.period)
        return CapacitySnapshot(
            period_start=start,
            energy_so_far_kwh=so_far,
            estimated_energy_kwh=estimate,
            previous_period_kwh=None if before is None else before.energy_kwh,
            previous_period_exact=before is not None and before.exact,
            month=view.result,
            previous_month=previous.result
            if (previous := self._view(previous_month)).has_periods
            else None,
            projected_mean_kw=None if projected_total is None else projected_total / rules.peaks,
            projected_step=None if projected_total is None else rules.step(projected_total),
            period_counts=rules.weight(start.astimezone(self.timezone)) > 0,
            headroom_kwh=None if room is None else room.energy_kwh,
            headroom_kw=None if room is None else _per_hour(room.energy_kwh, left_hours),
            mean_headroom_kwh=None if room is None else room.mean_energy_kwh,
            mean_headroom_kw=None if room is None else _per_hour(room.mean_energy_kwh, left_hours),
        )

    # Persistence

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready state (ISO 8601 UTC timestamps, exact decimal strings)."""
        live = self._live
        registers = self._registers
        return {
            "version": self.VERSION,
            "period_seconds": int(self.rules.period.total_seconds()),
            "closed": {
                start.isoformat(): [str(item.energy_kwh), item.exact]
                for start, item in sorted(self._closed.items())
            },
            "live": None
            if live is None
            else {
                "start": live.start.isoformat(),
                "covered_until": live.covered_until.isoformat(),
                "base": str(live.base),
                "first_register": _text(live.first_register),
                "anchor_register": _text(live.anchor_register),
                "since_anchor": str(live.since_anchor),
                "base_complete": live.base_complete,
                "tail_complete": live.tail_complete,
                "integrated": str(live.integrated),
                "power_complete": live.power_complete,
            },
            "power": None
            if self._power is None
            else [self._power[0].isoformat(), str(self._power[1])],
            "register": None
            if registers.last_value is None or registers.last_time is None
            else [registers.last_time.isoformat(), str(registers.last_value)],
            "boundary": None
            if registers.boundary is None
            else [registers.boundary[0].isoformat(), str(registers.boundary[1])],
            "latest": None if self._latest is None else self._latest.isoformat(),
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        rules: CapacityRules | None = None,
        timezone: ZoneInfo | str = "Europe/Oslo",
        config: TrackerConfig | None = None,
    ) -> CapacityTracker:
        """Restore a tracker saved by `to_dict`; raises `StateFormatError` when it cannot.

        Closed periods are valued with `rules`, so rules changed since the save re-value the
        month (energies stay, weights and windows follow the new rules). A new period length
        sums complete quarters into hours; hours cannot be split into quarters, so they are
        dropped (counted as `dropped_period`), and the open period starts afresh.
        """
        if data.get("version") != cls.VERSION:
            raise StateFormatError(f"unsupported capacity state version {data.get('version')!r}")
        tracker = cls(rules, timezone, config)
        try:
            # States saved before the period was recorded used the default hour.
            saved_period = timedelta(seconds=int(data.get("period_seconds", 3600)))
            closed = {
                parse_utc(start): (Decimal(energy), bool(exact))
                for start, (energy, exact) in data["closed"].items()
            }
            same_period = saved_period == tracker.rules.period
            if not same_period:
                closed = tracker._regrouped(closed, saved_period)
            for start, (energy, exact) in closed.items():
                tracker._store(start, energy, exact=exact)
            if (live := data["live"]) is not None and same_period:
                tracker._live = _Live(
                    start=parse_utc(live["start"]),
                    covered_until=parse_utc(live["covered_until"]),
                    base=Decimal(live["base"]),
                    first_register=_number(live["first_register"]),
                    anchor_register=_number(live["anchor_register"]),
                    since_anchor=Decimal(live["since_anchor"]),
                    base_complete=bool(live["base_complete"]),
                    tail_complete=bool(live["tail_complete"]),
                    integrated=Decimal(live["integrated"]),
                    power_complete=bool(live["power_complete"]),
                )
            if (power := data["power"]) is not None:
                tracker._power = (parse_utc(power[0]), Decimal(power[1]))
            if (register := data["register"]) is not None:
                tracker._registers.last_time = parse_utc(register[0])
                tracker._registers.last_value = Decimal(register[1])
            if (boundary := data["boundary"]) is not None and same_period:
                tracker._registers.boundary = (parse_utc(boundary[0]), Decimal(boundary[1]))
            if (latest := data["latest"]) is not None:
                tracker._latest = parse_utc(latest)
        except (LookupError, TypeError, ValueError, ArithmeticError) as err:
            raise StateFormatError(f"bad capacity state: {err}") from err
        return tracker

    def with_rules(self, rules: CapacityRules) -> CapacityTracker:
        """This tracker under other rules: the saved month re-valued (see `from_dict`)."""
        return CapacityTracker.from_dict(self.to_dict(), rules, self.timezone, self.config)

    # Internals

    def _regrouped(
        self, closed: Mapping[datetime, tuple[Decimal, bool]], saved_period: timedelta
    ) -> dict[datetime, tuple[Decimal, bool]]:
        """Closed periods of `saved_period` as periods of the rules' length (whole ones only)."""
        period = self.rules.period
        if saved_period > period or period % saved_period:
            self.counts["dropped_period"] += len(closed)
            return {}
        parts: dict[datetime, list[tuple[Decimal, bool]]] = {}
        for start, item in closed.items():
            parts.setdefault(floor_to_period(start, period), []).append(item)
        whole = period // saved_period
        grouped = {}
        for start, items in parts.items():
            if len(items) == whole:
                energy = sum((energy for energy, _ in items), Decimal(0))
                grouped[start] = (energy, all(exact for _, exact in items))
            else:
                self.counts["dropped_period"] += len(items)
        return grouped

    def _touch(self, moment: datetime) -> None:
        if self._latest is None or moment > self._latest:
            self._latest = moment

    def _live_at(self, moment: datetime) -> _Live:
        if self._live is None:
            self._live = _Live(
                start=floor_to_period(moment, self.rules.period), covered_until=moment
            )
        return self._live

    def _roll(self, moment: datetime) -> None:
        """Close every period that ended at or before `moment`; open the one holding it.

        A period is closed with its estimate only when it was observed to its end; the next one
        counts as observed from its start only then too.
        """
        live = self._live_at(moment)
        period = self.rules.period
        while moment >= live.start + period:
            end = live.start + period
            gap = self.config.max_power_gap
            continuous = end - live.covered_until <= gap
            powered = self._power is not None and end - self._power[0] <= gap
            live.tail_complete = live.tail_complete and continuous
            live.power_complete = live.power_complete and powered
            energy = live.energy()
            if energy is not None:
                self._store(live.start, energy, exact=False)
                self._prune(live.start)
            if moment >= end + period:
                # Whole periods without a reading: nothing is known about them.
                end, continuous, powered = floor_to_period(moment, period), False, False
            live = self._live = _Live(
                start=end,
                covered_until=end,
                base_complete=continuous,
                tail_complete=continuous,
                power_complete=powered,
            )

    def _is_repeat(self, boundary: datetime, value: Decimal) -> bool:
        """A boundary register unchanged since the last one while power said energy was used.

        Some Aidon firmware repeats the previous hour's list 3; taken at face value it would
        book 0 for this hour and two hours in the next one, a false peak.
        """
        previous = self._registers.boundary
        if previous is None or previous[0] >= boundary or previous[1] != value:
            return False
        estimated = sum(
            (
                item.energy_kwh
                for start, item in self._closed.items()
                if previous[0] <= start < boundary
            ),
            Decimal(0),
        )
        return estimated > Decimal("0.01")

    def _book_boundary(self, boundary: datetime, value: Decimal) -> None:
        """The register at a period boundary: make the periods since the last one exact."""
        previous = self._registers.boundary
        self._registers.boundary = (boundary, value)
        if previous is None or previous[0] >= boundary:
            return
        then, before = previous
        starts = []
        cursor = then
        while cursor < boundary:
            starts.append(cursor)
            cursor += self.rules.period
        energy = value - before
        if len(starts) == 1:
            self._store(then, energy, exact=True)
            return
        estimates = [self._closed.get(start) for start in starts]
        known = [item.energy_kwh for item in estimates if item is not None]
        if len(known) != len(starts) or sum(known, Decimal(0)) <= 0:
            self.counts["unshared_register_span"] += 1
            return
        # Whole Wh per period, rounded down so the last, taking the rest, is never negative.
        share = energy / sum(known, Decimal(0))
        shares = [(estimate * share).quantize(WH, ROUND_FLOOR) for estimate in known[:-1]]
        shares.append(energy - sum(shares, Decimal(0)))
        for start, part in zip(starts, shares, strict=True):
            self._store(start, part, exact=True)

    def _month_of(self, moment: datetime) -> date:
        return moment.astimezone(self.timezone).date().replace(day=1)

    def _prune(self, moment: datetime) -> None:
        """Keep the current and the previous local month only."""
        month = self._month_of(moment)
        keep_from = (month - timedelta(days=1)).replace(day=1)
        if keep_from == self._kept_from:
            return
        self._kept_from = keep_from
        for start in [start for start, item in self._closed.items() if item.month < keep_from]:
            del self._closed[start]
        self._views.clear()

    def _store(self, start: datetime, energy: Decimal, *, exact: bool) -> None:
        """Record a closed period, with what the month results need, worked out once."""
        local = start.astimezone(self.timezone)
        counts = self.rules.weight(local) > 0
        peak = _peak(start, energy, self.rules, self.timezone, exact=exact) if counts else None
        self._closed[start] = _Closed(energy, exact, local.date().replace(day=1), peak)
        self._views.clear()

    def _view(self, month: date) -> _MonthView:
        """The month's view: kept until a period is closed or dropped (once an hour, say)."""
        if (view := self._views.get(month)) is not None:
            return view
        rules = self.rules
        values = self._values(month)
        ranked = sorted(values, key=lambda peak: (-peak.value_kw, peak.start))
        day_best: dict[date, Peak] = {}
        for peak in ranked:
            day_best.setdefault(peak.start.astimezone(self.timezone).date(), peak)
        contenders = tuple(day_best.values() if rules.one_per_day else ranked)[: rules.peaks]
        view = self._views[month] = _MonthView(
            has_periods=any(item.month == month for item in self._closed.values()),
            result=self._result(month, contenders),
            contenders=contenders,
            starts=frozenset(peak.start for peak in values),
        )
        return view

    def _values(self, month: date) -> list[Peak]:
        return [
            item.peak
            for item in self._closed.values()
            if item.month == month and item.peak is not None
        ]

    def _result(self, month: date, values: Sequence[Peak]) -> MonthResult:
        peaks = select_peaks(values, self.rules, self.timezone)
        rules = self.rules
        total = sum((peak.value_kw for peak in peaks), Decimal(0))
        step = rules.step(total)
        price = None
        if step is not None and rules.step_prices is not None:
            price = rules.step_prices[step]
        elif rules.price_per_kw is not None:
            price = total / rules.peaks * rules.price_per_kw
        return MonthResult(
            month=month,
            peaks=peaks,
            mean_kw=total / rules.peaks,
            step=step,
            step_floor_kw=None if step is None else rules.step_limits[step],
            step_ceiling_kw=None
            if step is None or step + 1 >= len(rules.step_limits)
            else rules.step_limits[step + 1],
            price=price,
        )


def select_peaks(
    values: Iterable[Peak], rules: CapacityRules, timezone: ZoneInfo
) -> tuple[Peak, ...]:
    """The counted peaks among `values`, highest first (ties: the earlier period)."""
    chosen: list[Peak] = []
    days: set[date] = set()
    for peak in sorted(values, key=lambda peak: (-peak.value_kw, peak.start)):
        day = peak.start.astimezone(timezone).date()
        if rules.one_per_day and day in days:
            continue
        days.add(day)
        chosen.append(peak)
        if len(chosen) == rules.peaks:
            break
    return tuple(chosen)


@dataclass(frozen=True, slots=True)
class Headroom:
    """How much energy the current period may still use (None: unlimited).

    `step` is the month's step counting what the period has already used; `energy_kwh` keeps
    that step, `mean_energy_kwh` keeps the month's mean unchanged.
    """

    step: int | None
    energy_kwh: Decimal | None
    mean_energy_kwh: Decimal | None


def headroom(
    values: Iterable[Peak],
    start: datetime,
    used_kwh: Decimal,
    rules: CapacityRules,
    timezone: ZoneInfo,
) -> Headroom:
    """The headroom of the period at `start`, given the month's other closed `values`.

    With `rest` the sum of the other `peaks - 1` highest competitors and `nth` the next one
    (missing ones are 0), the month's total is `rest + max(nth, today, V)` for this period's
    value V, where `today` is the best value already closed on the same day (one per day only).
    """
    weight = rules.weight(start.astimezone(timezone))
    if weight <= 0:
        return Headroom(step=None, energy_kwh=None, mean_energy_kwh=None)
    scale = weight / rules.period_hours
    competitors = [peak for peak in values if peak.start != start]
    today = Decimal(0)
    if rules.one_per_day:
        day = start.astimezone(timezone).date()
        best: dict[date, Decimal] = {}
        for peak in competitors:
            peak_day = peak.start.astimezone(timezone).date()
            best[peak_day] = max(best.get(peak_day, Decimal(0)), peak.value_kw)
        today = best.pop(day, Decimal(0))
        others = list(best.values())
    else:
        others = [peak.value_kw for peak in competitors]
    top = sorted(others, reverse=True)[: rules.peaks]
    top += [Decimal(0)] * (rules.peaks - len(top))
    rest, nth = sum(top[:-1], Decimal(0)), top[-1]
    kept = max(nth, today, used_kwh * scale)
    step = rules.step(rest + kept)
    energy = None
    if step is not None and step + 1 < len(rules.step_limits):
        limit_kw = rules.step_limits[step + 1] * rules.peaks - rest
        # Strictly below the limit, in whole Wh, so using all of it keeps the step.
        allowed = (limit_kw / scale / WH).to_integral_value(ROUND_CEILING) * WH - WH
        energy = max(allowed - used_kwh, Decimal(0))
    allowed_mean = (kept / scale / WH).to_integral_value(ROUND_FLOOR) * WH
    return Headroom(
        step=step, energy_kwh=energy, mean_energy_kwh=max(allowed_mean - used_kwh, Decimal(0))
    )


def _peak(
    start: datetime,
    energy_kwh: Decimal,
    rules: CapacityRules,
    timezone: ZoneInfo,
    *,
    exact: bool = True,
) -> Peak:
    weight = rules.weight(start.astimezone(timezone))
    return Peak(start, weight * energy_kwh / rules.period_hours, energy_kwh, exact)


def _trapezoid(
    t0: datetime, p0: Decimal, t1: datetime, p1: Decimal, first: datetime, stop: datetime
) -> Decimal:
    """kWh between `first` and `stop` with power linear from (t0, p0) to (t1, p1)."""
    span = Decimal(int((t1 - t0) / timedelta(microseconds=1)))

    def power_at(moment: datetime) -> Decimal:
        return p0 + (p1 - p0) * Decimal(int((moment - t0) / timedelta(microseconds=1))) / span

    hours = Decimal(int((stop - first) / timedelta(microseconds=1))) / (
        _SECONDS_PER_HOUR * 1_000_000
    )
    return (power_at(first) + power_at(stop)) / 2 * hours


def _per_hour(energy: Decimal | None, hours: Decimal) -> Decimal | None:
    return None if energy is None or hours <= 0 else energy / hours


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _number(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


# Belgium (Fluvius): the meter keeps its own quarter-hour peaks.

BELGIAN_FLOOR_KW = Decimal("2.5")


@dataclass(frozen=True, slots=True)
class MonthlyPeak:
    """One month's highest quarter-hour average (1-0:1.6.0 or a 0-0:98.1.0 entry)."""

    month: date
    value_kw: Decimal
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BelgianCapacity:
    """What the Belgian capacity sensors show.

    `rolling_mean_kw` is the mean of the last 12 months (the current one included) with each
    month counted at least `floor_kw`; with fewer months known, the mean of those known.
    """

    current_average_kw: Decimal | None
    month_peak: MonthlyPeak | None
    billed_month_peak_kw: Decimal
    rolling_mean_kw: Decimal
    months: tuple[MonthlyPeak, ...] = field(default=())
    floor_kw: Decimal = BELGIAN_FLOOR_KW


def history_month(stamp: datetime, peak_at: datetime | None, timezone: ZoneInfo) -> date:
    """The month a 98.1.0 entry belongs to.

    The entry's own stamp is the moment its month closed (`200501000000S` for April, whose
    peak is at `200423192538S`), so the peak time decides; the stamp minus a second is the
    fallback when the peak time is missing or not before the stamp.
    """
    if peak_at is not None and to_utc(peak_at) < to_utc(stamp):
        moment = peak_at
    else:  # no peak time, or a placeholder at the stamp itself
        moment = stamp - timedelta(seconds=1)
    return to_utc(moment).astimezone(timezone).date().replace(day=1)


def belgian_capacity(
    *,
    current_average_kw: Decimal | None,
    month_peak: MonthlyPeak | None,
    history: Iterable[MonthlyPeak],
    floor_kw: Decimal = BELGIAN_FLOOR_KW,
) -> BelgianCapacity:
    """Turn 1-0:1.4.0, 1-0:1.6.0 and 0-0:98.1.0 into the rolling 12-month mean with its floor."""
    by_month = {peak.month: peak for peak in history}
    if month_peak is not None:
        by_month[month_peak.month] = month_peak
    months = tuple(by_month[key] for key in sorted(by_month, reverse=True)[:12])
    floored = [max(peak.value_kw, floor_kw) for peak in months]
    return BelgianCapacity(
        current_average_kw=current_average_kw,
        month_peak=month_peak,
        billed_month_peak_kw=max(month_peak.value_kw if month_peak else Decimal(0), floor_kw),
        rolling_mean_kw=sum(floored, Decimal(0)) / len(floored) if floored else floor_kw,
        months=months,
        floor_kw=floor_kw,
    )


class PeakDataError(InsightError, ValueError):
    """A Belgian peak line (1-0:1.6.0, 0-0:98.1.0) whose values do not have the known layout."""


def monthly_peak(peak: DemandPeak, timezone: ZoneInfo) -> MonthlyPeak:
    """A peak the P1 decoder parsed: the `peak_demand_month` reading's value and timestamp
    (1-0:1.6.0, no `period_end`) or a `MeterMessage.demand_history` entry (0-0:98.1.0)."""
    if peak.unit not in {"kW", "W"}:
        raise PeakDataError(f"not a demand value in kW or W: {peak.value} {peak.unit}")
    value_kw = peak.value if peak.unit == "kW" else peak.value / 1000
    if peak.period_end is not None:
        return MonthlyPeak(history_month(peak.period_end, peak.at, timezone), value_kw, peak.at)
    if peak.at is None:
        raise PeakDataError("a month peak without its time belongs to no month")
    return MonthlyPeak(peak.at.astimezone(timezone).date().replace(day=1), value_kw, peak.at)


def parse_month_peak(values: Sequence[str], timezone: ZoneInfo) -> MonthlyPeak:
    """`1-0:1.6.0(200509134558S)(02.589*kW)` as its value groups -> this month's peak."""
    try:
        return monthly_peak(parse_demand_peak(list(values), timezone), timezone)
    except DecodeError as err:
        raise PeakDataError(str(err)) from err


def parse_peak_history(values: Sequence[str], timezone: ZoneInfo) -> list[MonthlyPeak]:
    """`0-0:98.1.0(n)(1-0:1.6.0)(1-0:1.6.0)(stamp)(peak time)(value)...` -> the months' peaks."""
    try:
        return [
            monthly_peak(peak, timezone) for peak in parse_demand_history(list(values), timezone)
        ]
    except DecodeError as err:
        raise PeakDataError(str(err)) from err
