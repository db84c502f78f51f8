"""Energy-insight costs: what the capacity tracker and the hourly engine take per reading.

A Norwegian meter sends its power every 2 s (list 1), registers every hour (list 3); the
integration feeds each message to `CapacityTracker` and takes one snapshot for the sensors.
This prints, for a whole local month (January, 31 days) fed at that pace, the cost per message
with and without the snapshot, the size of the stored state at the month's end and the time to
save and restore it; and for `HourlyStatistics`, the cost per hourly row over a year of list 3
registers and of Corus hourly increments. No other tool computes these, so there is no
baseline to compare with: the figures show the work is small next to a message's 2 s.
Best of several runs. Usage: scripts/bench insight  (or .venv/bin/python scripts/bench_insight.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import json
import math
from pathlib import Path
import sys
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from custom_components.amshan_corus.insight.capacity import CapacityTracker  # noqa: E402
from custom_components.amshan_corus.insight.hourly import (  # noqa: E402
    HourlyConfig,
    HourlyStatistics,
    Outcome,
)

RUNS = 3
POWER_EVERY = timedelta(seconds=2)
MONTH_START = datetime(2025, 12, 31, 23, tzinfo=UTC)  # 1 January 2026, 00:00 in Oslo
MONTH = timedelta(days=31)
# (time, power in W, the register in kWh at a whole hour, else None)
type Readings = list[tuple[datetime, int, Decimal | None]]


def power_w(moment: datetime) -> int:
    """A household's import: a daily swing between about 0.4 and 5-5.6 kW, varying by day."""
    hours = moment.timestamp() / 3600
    swing = 2300 + (moment.day * 37 % 11) * 60 + moment.day * 7
    return int(2700 + swing * math.sin(hours / 24 * 2 * math.pi) + (moment.second % 7) * 30)


def month_readings() -> Readings:
    """(time, power W, register kWh at a whole hour else None) for the month, every 2 s."""
    readings: Readings = []
    energy_wh = 12_345_678.0
    moment = MONTH_START
    while moment < MONTH_START + MONTH:
        watts = power_w(moment)
        energy_wh += watts * POWER_EVERY.total_seconds() / 3600
        on_hour = moment.minute == 0 and moment.second == 0
        readings.append((moment, watts, Decimal(int(energy_wh)) / 1000 if on_hour else None))
        moment += POWER_EVERY
    return readings


def best(run: Callable[[], object]) -> float:
    """The fastest of RUNS runs, in seconds."""
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def take(tracker: CapacityTracker, readings: Readings, *, snapshot: bool = False) -> None:
    """Feed the readings as the integration does: power, the register when there is one."""
    for moment, watts, register in readings:
        tracker.add_power(moment, watts, "W")
        if register is not None:
            tracker.add_register(moment, register)
        if snapshot:
            tracker.snapshot()


def bench_capacity() -> None:
    readings = month_readings()
    messages = len(readings)
    print(f"Capacity tracker, Norwegian rule, one month (31 days) of 2 s messages ({messages:,})")
    bare = best(lambda: take(CapacityTracker(), readings))
    print(f"  readings only:                    {bare / messages * 1e6:7.1f} µs/message")
    # A snapshot's cost grows with the month's closed hours: measure the month's last day.
    last_day = MONTH_START + MONTH - timedelta(days=1)
    head = [reading for reading in readings if reading[0] < last_day]
    tail = readings[len(head) :]
    tracker = CapacityTracker()
    take(tracker, head)
    state = tracker.to_dict()
    with_snapshot = best(lambda: take(CapacityTracker.from_dict(state), tail, snapshot=True))
    print(f"  readings + snapshot (day 31):     {with_snapshot / len(tail) * 1e6:7.1f} µs/message")
    final = CapacityTracker.from_dict(state)
    take(final, tail)
    text = json.dumps(final.to_dict())
    save = best(lambda: json.dumps(final.to_dict()))
    restore = best(lambda: CapacityTracker.from_dict(json.loads(text)))
    month = final.month_result(MONTH_START + MONTH - timedelta(hours=1))
    peaks = ", ".join(f"{peak.value_kw} kW" for peak in month.peaks)
    print(f"  month's peaks: {peaks}; mean {month.mean_kw} kW, step {month.step}")
    print(
        f"  stored state at month end:        {len(text):7,} bytes; "
        f"save {save * 1e3:.2f} ms, restore {restore * 1e3:.2f} ms"
    )


def bench_hourly() -> None:
    year = 24 * 365
    start = datetime(2026, 1, 1, tzinfo=UTC)
    registers = [(start + timedelta(hours=n), 12_345_678 + n * 1_500) for n in range(year)]

    def import_registers() -> None:
        engine = HourlyStatistics(HourlyConfig.electricity("Wh"))
        for moment, value in registers:
            engine.add(moment, value)
        assert engine.counts[Outcome.BOOKED] == year

    increments = [(start + timedelta(hours=n), Decimal("1.234")) for n in range(year)]

    def import_increments() -> None:
        engine = HourlyStatistics(HourlyConfig.gas())
        for moment, amount in increments:
            engine.add_increment(moment, amount)
        assert engine.counts[Outcome.BOOKED] == year

    print(f"Hourly statistics engine, one year ({year:,} hours)")
    print(f"  list 3 registers:                 {best(import_registers) / year * 1e6:7.1f} µs/row")
    print(f"  Corus hourly increments:          {best(import_increments) / year * 1e6:7.1f} µs/row")


def main() -> None:
    bench_capacity()
    bench_hourly()


if __name__ == "__main__":
    main()
