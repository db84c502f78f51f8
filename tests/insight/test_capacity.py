"""Capacity tariff: hand-computed months, windows and weights, live energy, headroom, restarts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.insight import (
    CapacityRules,
    CapacityTracker,
    NaiveDatetimeError,
    Peak,
    StateFormatError,
    UnitError,
    headroom,
    select_peaks,
)

OSLO = ZoneInfo("Europe/Oslo")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
BRUSSELS = ZoneInfo("Europe/Brussels")
D = Decimal
HOUR = timedelta(hours=1)
# Elvia's step prices (kr/month) for 0-2 ... 20-25, 25-50; the last three made up.
PRICES = tuple(D(p) for p in (120, 200, 336, 468, 604, 740, 1408, 2100, 2800, 3500))


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def hours_of_month(zone: ZoneInfo, year: int, month: int) -> Iterator[datetime]:
    """Every hour of a local month, as UTC starts (DST days have 23 or 25)."""
    moment = local(zone, year, month, 1).astimezone(UTC)
    end = local(zone, year + month // 12, month % 12 + 1, 1).astimezone(UTC)
    while moment < end:
        yield moment
        moment += HOUR


def feed_month(
    tracker: CapacityTracker, year: int, month: int, baseline: str, high: dict[tuple[int, int], str]
) -> None:
    """Every hour at `baseline` kWh, except the (day, local hour) entries of `high`."""
    zone = tracker.timezone
    for start in hours_of_month(zone, year, month):
        at = start.astimezone(zone)
        tracker.add_period(start, D(high.get((at.day, at.hour), baseline)))


# February 2026, Europe/Oslo, 1.2 kWh every hour except:
FEBRUARY = {
    (3, 18): "6.2",
    (3, 19): "7.0",  # the 3rd's best hour; 6.2 the same day does not count
    (10, 8): "5.5",
    (17, 20): "4.9",
    (20, 7): "5.1",
    (20, 8): "5.3",  # the 20th's best hour
}


def test_norwegian_month_by_hand() -> None:
    tracker = CapacityTracker(CapacityRules(step_prices=PRICES), OSLO)
    feed_month(tracker, 2026, 2, "1.2", FEBRUARY)
    result = tracker.month_result(local(OSLO, 2026, 2, 14))
    assert result.month == date(2026, 2, 1)
    assert [(p.start.astimezone(OSLO).day, p.value_kw) for p in result.peaks] == [
        (3, D("7.0")),
        (10, D("5.5")),
        (20, D("5.3")),
    ]
    assert result.peaks[0].start == utc(2026, 2, 3, 18)  # 19:00 local
    assert result.mean_kw == D("17.8") / 3  # 5.933...
    assert (result.step, result.step_floor_kw, result.step_ceiling_kw) == (2, D(5), D(10))
    assert result.price == D(336)


def test_peaks_on_the_same_day_when_the_rule_allows() -> None:
    tracker = CapacityTracker(CapacityRules(one_per_day=False), OSLO)
    feed_month(tracker, 2026, 2, "1.2", FEBRUARY)
    result = tracker.month_result(local(OSLO, 2026, 2, 1))
    assert [p.value_kw for p in result.peaks] == [D("7.0"), D("6.2"), D("5.5")]
    assert result.mean_kw == D("18.7") / 3


@pytest.mark.parametrize(
    ("mean_total", "step"),
    [("0", 0), ("5.999", 0), ("6", 1), ("14.997", 1), ("15", 2), ("300", 9), ("1000", 9)],
)
def test_step_limits_belong_to_the_step_they_start(mean_total: str, step: int) -> None:
    # 15 kWh over 3 peaks is a mean of exactly 5.00: the 5-10 step.
    assert CapacityRules().step(D(mean_total)) == step


def test_a_month_with_fewer_days_than_peaks_counts_the_missing_as_zero() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    tracker.add_period(local(OSLO, 2026, 2, 1, 17), D("4.5"))
    tracker.add_period(local(OSLO, 2026, 2, 1, 18), D("6.0"))
    result = tracker.month_result(local(OSLO, 2026, 2, 1))
    assert [p.value_kw for p in result.peaks] == [D("6.0")]
    assert result.mean_kw == D(2)
    assert result.step == 1


# March 2026 at Ellevio (Europe/Stockholm): 22-06 counts at 50 %. 1.0 kWh baseline, except:
MARCH = {
    (2, 23): "8.0",  # night: 4.0
    (3, 12): "5.0",
    (4, 5): "9.0",  # night: 4.5
    (5, 18): "4.2",
    (29, 2): "1.0",  # does not exist (DST); harmless
}


def test_ellevio_night_weight_by_hand() -> None:
    tracker = CapacityTracker(CapacityRules.ellevio(), STOCKHOLM)
    feed_month(tracker, 2026, 3, "1.0", MARCH)
    result = tracker.month_result(local(STOCKHOLM, 2026, 3, 31))
    assert [(p.start.astimezone(STOCKHOLM).day, p.value_kw) for p in result.peaks] == [
        (3, D("5.0")),
        (4, D("4.5")),
        (5, D("4.2")),
    ]
    assert result.peaks[1].energy_kwh == D("9.0")
    assert result.mean_kw == D("13.7") / 3
    assert result.step is None
    assert result.price == D("13.7") / 3 * D("81.25")


def test_weekday_window_months_and_holidays() -> None:
    rules = CapacityRules(
        weekdays=frozenset(range(5)),
        hours=(7, 19),
        months=frozenset({11, 12, 1, 2, 3}),
        excluded_dates=frozenset({date(2026, 1, 6)}),
        step_limits=(),
    )
    tracker = CapacityTracker(rules, STOCKHOLM)
    january = {
        (6, 10): "9.0",  # Tuesday, but a public holiday
        (10, 10): "8.0",  # Saturday
        (12, 19): "7.0",  # Monday 19:00: outside 07-19
        (14, 6): "6.0",  # Wednesday 06:00: outside
        (12, 18): "3.0",
        (13, 7): "2.5",
        (15, 12): "2.0",
    }
    feed_month(tracker, 2026, 1, "0.5", january)
    result = tracker.month_result(local(STOCKHOLM, 2026, 1, 20))
    assert [p.value_kw for p in result.peaks] == [D("3.0"), D("2.5"), D("2.0")]
    feed_month(tracker, 2026, 6, "0.5", {(10, 10): "9.0"})
    assert tracker.month_result(local(STOCKHOLM, 2026, 6, 10)).peaks == ()


def test_quarter_hour_periods() -> None:
    rules = CapacityRules(period=timedelta(minutes=15), peaks=1, step_limits=())
    tracker = CapacityTracker(rules, OSLO)
    tracker.add_period(local(OSLO, 2026, 2, 2, 8, 15), D("1.25"))  # 1.25 kWh in 15 min
    tracker.add_period(local(OSLO, 2026, 2, 2, 8, 37), D("0.5"))  # stored as 08:30
    result = tracker.month_result(local(OSLO, 2026, 2, 2))
    assert [(p.start, p.value_kw) for p in result.peaks] == [(utc(2026, 2, 2, 7, 15), D(5))]
    with pytest.raises(ValueError, match="divide an hour"):
        CapacityRules(period=timedelta(minutes=7))


def test_october_dst_repeated_hour_is_two_periods_of_one_day() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    tracker.add_period(utc(2026, 10, 25, 0), D("4.0"))  # 02:00 CEST
    tracker.add_period(utc(2026, 10, 25, 1), D("5.0"))  # 02:00 CET, the same local day
    tracker.add_period(utc(2026, 10, 31, 22), D("3.0"))  # 23:00 on the 31st: October
    tracker.add_period(utc(2026, 10, 31, 23), D("9.0"))  # 00:00 on 1 November
    october = tracker.month_result(utc(2026, 10, 15))
    assert [(p.start, p.value_kw) for p in october.peaks] == [
        (utc(2026, 10, 25, 1), D("5.0")),
        (utc(2026, 10, 31, 22), D("3.0")),
    ]
    november = tracker.month_result(utc(2026, 11, 2))
    assert [p.value_kw for p in november.peaks] == [D("9.0")]


def test_march_dst_day_has_23_periods() -> None:
    tracker = CapacityTracker(CapacityRules(one_per_day=False, peaks=30), OSLO)
    day = [s for s in hours_of_month(OSLO, 2026, 3) if s.astimezone(OSLO).day == 29]
    for n, start in enumerate(day):
        tracker.add_period(start, D(n + 1))
    assert len(day) == 23
    assert len(tracker.month_result(day[0]).peaks) == 23


def test_previous_month_after_the_turn() -> None:
    tracker = CapacityTracker(CapacityRules(step_prices=PRICES), OSLO)
    feed_month(tracker, 2026, 2, "1.2", FEBRUARY)
    tracker.add_period(local(OSLO, 2026, 3, 1, 0), D("2.0"))
    snapshot = tracker.snapshot(local(OSLO, 2026, 3, 1, 1, 10))
    assert snapshot.month.month == date(2026, 3, 1)
    assert snapshot.month.mean_kw == D(2) / 3
    assert snapshot.previous_month is not None
    assert snapshot.previous_month.mean_kw == D("17.8") / 3
    # Months before the previous one are dropped as time goes on.
    tracker.add_period(local(OSLO, 2026, 4, 1, 0), D("2.0"))
    assert tracker.month_result(local(OSLO, 2026, 2, 5)).peaks == ()


# Live tracking. Power every 9 s keeps the trapezoids exact in decimal (9 s = 0.0025 h).
STEP = timedelta(seconds=9)


def power_run(tracker: CapacityTracker, first: datetime, last: datetime, kw: str) -> None:
    moment = first
    while moment <= last:
        tracker.add_power(moment, D(kw))
        moment += STEP


def test_energy_so_far_from_power_and_the_estimate() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    power_run(tracker, local(OSLO, 2026, 2, 4, 12, 59, 51), local(OSLO, 2026, 2, 4, 13, 30), "3.6")
    snapshot = tracker.snapshot()
    assert snapshot.period_start == utc(2026, 2, 4, 12)
    assert (snapshot.previous_period_kwh, snapshot.previous_period_exact) == (None, False)
    assert snapshot.energy_so_far_kwh == D("1.8")
    assert snapshot.estimated_energy_kwh == D("3.6")
    assert snapshot.projected_mean_kw == D("1.2")
    assert snapshot.projected_step == 0
    # First day of data: the 2-5 step starts at a total of 6 kWh, so 5.999 in all may be used.
    assert snapshot.headroom_kwh == D("4.199")
    assert snapshot.headroom_kw == D("8.398")
    # Any more energy raises the mean while fewer than 3 days are known.
    assert snapshot.mean_headroom_kwh == 0


def test_period_seen_only_in_part_is_not_counted() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    power_run(tracker, local(OSLO, 2026, 2, 4, 13, 20, 6), local(OSLO, 2026, 2, 4, 14, 10), "2.0")
    snapshot = tracker.snapshot(local(OSLO, 2026, 2, 4, 13, 50))
    assert snapshot.energy_so_far_kwh is None
    assert snapshot.estimated_energy_kwh is None
    assert snapshot.headroom_kwh is None
    assert tracker.month_result(local(OSLO, 2026, 2, 4)).peaks == ()
    # From 14:00 on, the period was seen whole: 9 min 54 s of 2 kW by the last reading.
    assert tracker.snapshot().energy_so_far_kwh == D("0.33")


def test_gap_in_power_readings_makes_the_period_unknown() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    power_run(tracker, local(OSLO, 2026, 2, 4, 12, 59, 51), local(OSLO, 2026, 2, 4, 13, 10), "2.0")
    power_run(tracker, local(OSLO, 2026, 2, 4, 13, 20), local(OSLO, 2026, 2, 4, 14, 10), "2.0")
    assert tracker.snapshot(local(OSLO, 2026, 2, 4, 13, 30)).energy_so_far_kwh is None
    assert tracker.month_result(local(OSLO, 2026, 2, 4)).peaks == ()
    assert tracker.snapshot().energy_so_far_kwh is not None  # 14:00 onwards is whole again
    assert tracker.snapshot(local(OSLO, 2026, 2, 4, 14, 30)).energy_so_far_kwh is None  # stale


def test_list3_registers_make_hours_exact() -> None:
    tracker = CapacityTracker(CapacityRules(one_per_day=False), OSLO)
    power_run(
        tracker, local(OSLO, 2026, 2, 4, 12, 59, 51), local(OSLO, 2026, 2, 4, 14, 0, 3), "3.6"
    )
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 0, 10), D("5000.000"))
    power_run(tracker, local(OSLO, 2026, 2, 4, 14, 0, 12), local(OSLO, 2026, 2, 4, 15, 0, 3), "2.0")
    tracker.add_register(local(OSLO, 2026, 2, 4, 15, 0, 5), D("5002.150"))
    peaks = tracker.month_result(local(OSLO, 2026, 2, 4)).peaks
    # 13:00 had no register at its start: the power estimate stays; 14:00 is the register's.
    assert [(p.start, p.energy_kwh, p.exact) for p in peaks] == [
        (utc(2026, 2, 4, 12), D("3.6"), False),
        (utc(2026, 2, 4, 13), D("2.150"), True),
    ]
    snapshot = tracker.snapshot()
    assert (snapshot.previous_period_kwh, snapshot.previous_period_exact) == (D("2.150"), True)
    # 15:00 so far: the register anchors it, power since the boundary (0:00 to 0:03) adds.
    power_run(
        tracker, local(OSLO, 2026, 2, 4, 15, 0, 12), local(OSLO, 2026, 2, 4, 15, 30, 3), "2.0"
    )
    so_far = tracker.snapshot().energy_so_far_kwh
    assert so_far == D("2.0") * (30 * 60 + 3) / 3600


def test_slow_meter_clock_register_before_the_hour() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    # The first reading only shows the pace: before a boundary, it is not taken for it.
    tracker.add_register(local(OSLO, 2026, 2, 4, 12, 59, 57), D("96.5"))
    tracker.add_register(local(OSLO, 2026, 2, 4, 13, 59, 58), D("100"))  # meter 2 s slow
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 59, 57), D("103.5"))
    peaks = tracker.month_result(local(OSLO, 2026, 2, 4)).peaks
    assert [(p.start, p.energy_kwh) for p in peaks] == [(utc(2026, 2, 4, 13), D("3.5"))]


def _two_hours_with_a_bad_list3(second_list3: str | None) -> CapacityTracker:
    tracker = CapacityTracker(timezone=OSLO)
    power_run(
        tracker, local(OSLO, 2026, 2, 4, 13, 59, 51), local(OSLO, 2026, 2, 4, 14, 0, 3), "3.0"
    )
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 0, 10), D("100.000"))
    power_run(tracker, local(OSLO, 2026, 2, 4, 14, 0, 12), local(OSLO, 2026, 2, 4, 15, 0, 3), "3.0")
    if second_list3 is not None:
        tracker.add_register(local(OSLO, 2026, 2, 4, 15, 0, 10), D(second_list3))
    power_run(tracker, local(OSLO, 2026, 2, 4, 15, 0, 12), local(OSLO, 2026, 2, 4, 16, 0, 3), "3.0")
    tracker.add_register(local(OSLO, 2026, 2, 4, 16, 0, 10), D("106.400"))
    return tracker


@pytest.mark.parametrize("second_list3", [None, "100.000"])
def test_missed_or_repeated_list3_is_shared_not_a_false_peak(second_list3: str | None) -> None:
    tracker = _two_hours_with_a_bad_list3(second_list3)
    peaks = tracker.month_result(local(OSLO, 2026, 2, 4)).peaks
    # 6.4 kWh over two hours that power says were equal: 3.2 each, never 0 + 6.4.
    assert [(p.start, p.energy_kwh) for p in peaks] == [
        (utc(2026, 2, 4, 13), D("3.2")),
    ]
    all_values = tracker._values(date(2026, 2, 1))  # one-per-day hides the twin hour
    assert sorted((p.start, p.energy_kwh) for p in all_values) == [
        (utc(2026, 2, 4, 13), D("3.2")),
        (utc(2026, 2, 4, 14), D("3.2")),
    ]
    assert tracker.counts["repeated_register"] == (1 if second_list3 else 0)


def test_register_glitches_fall_back_to_power() -> None:
    tracker = CapacityTracker(timezone=OSLO)
    power_run(
        tracker, local(OSLO, 2026, 2, 4, 13, 59, 51), local(OSLO, 2026, 2, 4, 14, 0, 3), "1.8"
    )
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 0, 10), D("100"))
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 10), D("99"))  # backwards: baseline gone
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 10, 30), D("90000"))  # the new baseline
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 10, 30), D("1"))  # stale time
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 11), D("0"))
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 20), D("100.6"))  # below 90000: rejected
    power_run(tracker, local(OSLO, 2026, 2, 4, 14, 0, 12), local(OSLO, 2026, 2, 4, 15, 0, 3), "1.8")
    assert dict(tracker.counts) == {
        "rejected_register": 2,
        "stale_register": 1,
        "invalid_register": 1,
    }
    peaks = tracker.month_result(local(OSLO, 2026, 2, 4)).peaks
    assert [(p.start, p.energy_kwh) for p in peaks] == [(utc(2026, 2, 4, 13), D("1.8"))]


@pytest.mark.parametrize("first", [(12, 59, 51), (12, 59, 55)])
def test_registers_in_every_message_are_points_in_time(first: tuple[int, int, int]) -> None:
    # A reading lands on 13:00:00 exactly, or the hour falls between two readings.
    tracker = CapacityTracker(timezone=OSLO)
    moment, register = local(OSLO, 2026, 2, 4, *first), D("2000")
    while moment <= local(OSLO, 2026, 2, 4, 14, 0, 9):
        tracker.add_power(moment, D("4"))
        tracker.add_register(moment, register)
        moment += STEP
        register += D("0.010")  # 4 kW for 9 s
    (peak,) = tracker.month_result(local(OSLO, 2026, 2, 4)).peaks
    assert peak.start == utc(2026, 2, 4, 12)
    assert abs(peak.energy_kwh - D(4)) < D("1e-20")
    so_far = tracker.snapshot().energy_so_far_kwh
    assert so_far is not None
    assert abs(so_far - D(4) * (moment - STEP - utc(2026, 2, 4, 13)).seconds / 3600) < D("1e-20")


def test_restart_mid_hour_continues_as_if_nothing_happened() -> None:
    start, stop = local(OSLO, 2026, 2, 4, 12, 59, 51), local(OSLO, 2026, 2, 4, 13, 20)
    steady = CapacityTracker(timezone=OSLO)
    power_run(steady, start, stop, "3.6")
    power_run(steady, local(OSLO, 2026, 2, 4, 13, 22), local(OSLO, 2026, 2, 4, 13, 40), "3.6")

    before = CapacityTracker(timezone=OSLO)
    power_run(before, start, stop, "3.6")
    saved = json.loads(json.dumps(before.to_dict()))
    assert saved["version"] == 1
    after = CapacityTracker.from_dict(saved, timezone=OSLO)
    # Home Assistant was down for two minutes: bridged, as the gap is under max_power_gap.
    power_run(after, local(OSLO, 2026, 2, 4, 13, 22), local(OSLO, 2026, 2, 4, 13, 40), "3.6")
    assert after.snapshot() == steady.snapshot()
    assert after.snapshot().energy_so_far_kwh == D("2.4")


def test_restored_state_with_registers_and_closed_periods() -> None:
    tracker = _two_hours_with_a_bad_list3(None)
    restored = CapacityTracker.from_dict(json.loads(json.dumps(tracker.to_dict())), timezone=OSLO)
    assert restored.to_dict() == tracker.to_dict()
    assert restored.snapshot() == tracker.snapshot()


def test_bad_state_and_inputs() -> None:
    with pytest.raises(StateFormatError, match="version"):
        CapacityTracker.from_dict({"version": 2})
    good = CapacityTracker(timezone=OSLO).to_dict()
    with pytest.raises(StateFormatError):
        CapacityTracker.from_dict({**good, "closed": {"x": ["1", True]}})
    with pytest.raises(StateFormatError):
        CapacityTracker.from_dict({**good, "power": ["2026-01-01T00:00:00+00:00"]})
    tracker = CapacityTracker(timezone=OSLO)
    tracker.add_power(utc(2026, 1, 1), -1)
    tracker.add_power(utc(2026, 1, 1), float("nan"))
    tracker.add_period(utc(2026, 1, 1), -3)
    assert dict(tracker.counts) == {"invalid_power": 2, "invalid_period": 1}
    with pytest.raises(NaiveDatetimeError):
        tracker.add_power(datetime(2026, 1, 1), 1)


def test_headroom_by_hand() -> None:
    # Other days: 6.0, 4.0 and 3.0 kWh; today (the 4th) nothing closed yet; 1.0 kWh used by 14:30.
    tracker = CapacityTracker(CapacityRules(step_prices=PRICES), OSLO)
    for day, kwh in [(1, "6.0"), (2, "4.0"), (3, "3.0")]:
        tracker.add_period(local(OSLO, 2026, 2, day, 18), D(kwh))
    power_run(tracker, local(OSLO, 2026, 2, 4, 13, 59, 51), local(OSLO, 2026, 2, 4, 14, 30), "2.0")
    snapshot = tracker.snapshot()
    assert snapshot.energy_so_far_kwh == D("1.0")
    assert snapshot.month.mean_kw == D(13) / 3
    assert snapshot.month.step == 1
    # Total = 10 + max(3, V) must stay under 3 x 5 = 15: V < 5 kWh, so 4.999 - 1.0 remain.
    assert snapshot.headroom_kwh == D("3.999")
    assert snapshot.headroom_kw == D("7.998")
    # The mean stays 13/3 while V <= 3.0 (it would then replace the 3rd's 3.0).
    assert snapshot.mean_headroom_kwh == D("2.000")
    assert snapshot.mean_headroom_kw == D("4.000")
    assert (snapshot.estimated_energy_kwh, snapshot.projected_step) == (D("2.0"), 1)

    tracker.add_period(local(OSLO, 2026, 2, 4, 14), D("1.0") + D("3.999"))
    assert tracker.month_result(local(OSLO, 2026, 2, 4)).step == 1
    tracker.add_period(local(OSLO, 2026, 2, 4, 14), D("5.000"))
    assert tracker.month_result(local(OSLO, 2026, 2, 4)).step == 2


def test_headroom_when_today_already_has_a_peak_and_at_night() -> None:
    rules = CapacityRules(night_weight=D("0.5"))
    values = [
        Peak(local(OSLO, 2026, 2, 1, 18).astimezone(UTC), D("6.0"), D("6.0")),
        Peak(local(OSLO, 2026, 2, 2, 18).astimezone(UTC), D("4.0"), D("4.0")),
        Peak(local(OSLO, 2026, 2, 3, 18).astimezone(UTC), D("3.0"), D("3.0")),
        Peak(local(OSLO, 2026, 2, 3, 23).astimezone(UTC), D("3.5"), D("7.0")),  # night, 50 %
    ]
    # 23:00 on the 3rd: the day's best is 3.5, so V <= 3.5 keeps the mean; V < 5 the step.
    night = local(OSLO, 2026, 2, 3, 23).astimezone(UTC) + HOUR  # 00:00 on the 4th: night too
    room = headroom(values, night, D("2.0"), rules, OSLO)
    assert room.step == 1
    # Today (the 4th) has nothing: others 6, 4, 3.5 -> rest 10, nth 3.5; kW limit 5 = 10 kWh.
    assert room.energy_kwh == D("7.999")
    assert room.mean_energy_kwh == D("5.000")
    outside = CapacityRules(hours=(6, 22))
    assert headroom(values, night, D(0), outside, OSLO).energy_kwh is None


def test_no_headroom_above_the_top_step() -> None:
    values = [Peak(utc(2026, 2, d, 12), D(200), D(200)) for d in (1, 2, 3)]
    room = headroom(values, utc(2026, 2, 4, 12), D(1), CapacityRules(), OSLO)
    assert room.step == 9
    assert room.energy_kwh is None


# Properties over random months.
_month_values = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=27 * 24 - 1),  # hour of February
        st.decimals(min_value=0, max_value=40, places=3),
    ),
    min_size=1,
    max_size=80,
)


@settings(max_examples=200)
@given(_month_values, st.booleans())
def test_property_mean_never_decreases_within_a_month(
    entries: list[tuple[int, Decimal]], per_day: bool
) -> None:
    tracker = CapacityTracker(CapacityRules(one_per_day=per_day, night_weight=D("0.5")), OSLO)
    first = local(OSLO, 2026, 2, 1).astimezone(UTC)
    previous = D(0)
    for hour, kwh in sorted(dict(entries).items()):
        tracker.add_period(first + hour * HOUR, kwh)
        mean = tracker.month_result(first).mean_kw
        assert mean >= previous
        previous = mean


@settings(max_examples=300)
@given(
    _month_values,
    st.integers(min_value=0, max_value=27 * 24 - 1),
    st.decimals(min_value=0, max_value=30, places=3),
    st.booleans(),
)
def test_property_headroom_used_fully_keeps_the_step_and_one_wh_more_raises_it(
    entries: list[tuple[int, Decimal]], hour: int, used: Decimal, per_day: bool
) -> None:
    rules = CapacityRules(one_per_day=per_day, night_weight=D("0.5"))
    first = local(OSLO, 2026, 2, 1).astimezone(UTC)
    start = first + hour * HOUR
    values = [
        Peak(first + h * HOUR, rules.weight((first + h * HOUR).astimezone(OSLO)) * kwh, kwh)
        for h, kwh in dict(entries).items()
        if h != hour
    ]
    room = headroom(values, start, used, rules, OSLO)

    def step_with(kwh: Decimal) -> int | None:
        weight = rules.weight(start.astimezone(OSLO))
        peaks = select_peaks([*values, Peak(start, weight * kwh, kwh)], rules, OSLO)
        return rules.step(sum((p.value_kw for p in peaks), D(0)))

    assert step_with(used) == room.step
    if room.energy_kwh is not None:
        assert step_with(used + room.energy_kwh) == room.step
        if room.energy_kwh > 0:
            assert step_with(used + room.energy_kwh + D("0.001")) != room.step
    assert room.mean_energy_kwh is not None
    peaks_before = select_peaks([*values, Peak(start, D(0), D(0))], rules, OSLO)
    peaks_after = select_peaks(
        [
            *values,
            Peak(start, rules.weight(start.astimezone(OSLO)) * (used + room.mean_energy_kwh), D(0)),
        ],
        rules,
        OSLO,
    )
    kept = select_peaks(
        [*values, Peak(start, rules.weight(start.astimezone(OSLO)) * used, D(0))], rules, OSLO
    )
    total = sum((p.value_kw for p in kept), D(0))
    assert sum((p.value_kw for p in peaks_after), D(0)) == total
    assert total >= sum((p.value_kw for p in peaks_before), D(0))


@settings(max_examples=200)
@given(
    _month_values,
    st.integers(min_value=1, max_value=27 * 24 - 1),
    st.integers(min_value=1, max_value=4),
    st.booleans(),
    st.decimals(min_value=0, max_value=20, places=3),
)
def test_property_snapshot_matches_the_whole_month_worked_out_afresh(
    entries: list[tuple[int, Decimal]], hour: int, peaks: int, per_day: bool, kw: Decimal
) -> None:
    """The snapshot works from each month's best values, kept between changes: the same answers
    as `select_peaks` and `headroom` over every value of the month."""
    rules = CapacityRules(peaks=peaks, one_per_day=per_day, night_weight=D("0.5"))
    tracker = CapacityTracker(rules, OSLO)
    first = local(OSLO, 2026, 2, 1).astimezone(UTC)
    start = first + hour * HOUR
    month = date(2026, 2, 1)
    for h, kwh in sorted(dict(entries).items()):
        if h < hour - 1:
            tracker.add_period(first + h * HOUR, kwh)
            expected = select_peaks(tracker._values(month), rules, OSLO)
            assert tracker.month_result(first).peaks == expected
    # Power from the end of the hour before: the live hour is observed from its start.
    for minute in range(-2, 42, 2):
        tracker.add_power(start + timedelta(minutes=minute), kw)
    snapshot = tracker.snapshot()

    others = [peak for peak in tracker._values(month) if peak.start != start]
    assert snapshot.month.peaks == select_peaks(tracker._values(month), rules, OSLO)
    assert snapshot.energy_so_far_kwh is not None
    room = headroom(others, start, snapshot.energy_so_far_kwh, rules, OSLO)
    assert (snapshot.headroom_kwh, snapshot.mean_headroom_kwh) == (
        room.energy_kwh,
        room.mean_energy_kwh,
    )
    estimate = snapshot.estimated_energy_kwh
    assert estimate is not None
    weight = rules.weight(start.astimezone(OSLO))
    projected = select_peaks(
        [*others, Peak(start, weight * estimate, estimate, False)], rules, OSLO
    )
    assert snapshot.projected_mean_kw == sum((p.value_kw for p in projected), D(0)) / peaks


def test_live_tracking_through_the_october_dst_night() -> None:
    tracker = CapacityTracker(CapacityRules(one_per_day=False, peaks=10), OSLO)
    power_run(tracker, utc(2026, 10, 24, 21, 59, 51), utc(2026, 10, 25, 3, 0, 3), "2.0")
    values = tracker.month_result(utc(2026, 10, 25)).peaks
    assert sorted(p.start for p in values) == [utc(2026, 10, 24, 22) + n * HOUR for n in range(5)]
    assert {p.energy_kwh for p in values} == {D("2.0")}
    local_hours = sorted((p.start, p.start.astimezone(OSLO).hour) for p in values)
    assert [hour for _, hour in local_hours] == [0, 1, 2, 2, 3]


def test_live_hour_at_the_month_turn_goes_to_its_own_month() -> None:
    tracker = CapacityTracker(timezone=STOCKHOLM)
    power_run(
        tracker,
        local(STOCKHOLM, 2026, 1, 31, 22, 59, 51),
        local(STOCKHOLM, 2026, 1, 31, 23, 0, 3),
        "3",
    )
    tracker.add_register(local(STOCKHOLM, 2026, 1, 31, 23, 0, 5), D("700.000"))
    power_run(
        tracker, local(STOCKHOLM, 2026, 1, 31, 23, 0, 12), local(STOCKHOLM, 2026, 2, 1, 0, 30), "3"
    )
    tracker.add_register(
        local(STOCKHOLM, 2026, 2, 1, 0, 0, 5), D("702.900")
    )  # sent late: still the 00:00 one
    snapshot = tracker.snapshot(local(STOCKHOLM, 2026, 2, 1, 0, 30))
    assert snapshot.month.month == date(2026, 2, 1)
    assert snapshot.month.peaks == ()
    assert snapshot.previous_month is not None
    assert [(p.start, p.energy_kwh) for p in snapshot.previous_month.peaks] == [
        (utc(2026, 1, 31, 22), D("2.900"))
    ]
    assert snapshot.energy_so_far_kwh == D("1.495")  # 3 kW until the last reading, 00:29:54


def test_period_outside_the_counted_window_has_no_limit() -> None:
    tracker = CapacityTracker(CapacityRules(hours=(7, 19)), OSLO)
    power_run(tracker, local(OSLO, 2026, 2, 4, 19, 59, 51), local(OSLO, 2026, 2, 4, 20, 30), "9")
    snapshot = tracker.snapshot()
    assert snapshot.period_counts is False
    assert snapshot.energy_so_far_kwh == D("4.5")
    assert (snapshot.headroom_kwh, snapshot.mean_headroom_kwh) == (None, None)
    assert snapshot.projected_mean_kw == 0


def test_meter_units_watts_and_watt_hours() -> None:
    tracker = CapacityTracker(CapacityRules(one_per_day=False), OSLO)
    moment = local(OSLO, 2026, 2, 4, 12, 59, 51)
    while moment <= local(OSLO, 2026, 2, 4, 14, 0, 3):
        tracker.add_power(moment, 1800, "W")  # HAN lists give W
        moment += STEP
    tracker.add_register(local(OSLO, 2026, 2, 4, 14, 0, 10), 5_000_000, "Wh")
    tracker.add_register(local(OSLO, 2026, 2, 4, 15, 0, 10), 5_001_750, "Wh")
    peaks = tracker.month_result(local(OSLO, 2026, 2, 4)).peaks
    assert [(p.start, p.energy_kwh) for p in peaks] == [
        (utc(2026, 2, 4, 12), D("1.8")),  # from power: no register at 13:00
        (utc(2026, 2, 4, 13), D("1.750")),  # 14:00 to 15:00 from the registers
    ]
    with pytest.raises(UnitError):
        tracker.add_power(moment, 1, "A")


def test_live_quarter_hours() -> None:
    rules = CapacityRules(period=timedelta(minutes=15), peaks=2, one_per_day=False, step_limits=())
    tracker = CapacityTracker(rules, BRUSSELS)
    power_run(
        tracker, local(BRUSSELS, 2026, 2, 4, 8, 14, 51), local(BRUSSELS, 2026, 2, 4, 8, 45, 9), "4"
    )
    result = tracker.month_result(local(BRUSSELS, 2026, 2, 4))
    assert [(p.start, p.energy_kwh, p.value_kw) for p in result.peaks] == [
        (utc(2026, 2, 4, 7, 15), D("1"), D("4")),
        (utc(2026, 2, 4, 7, 30), D("1"), D("4")),
    ]
    snapshot = tracker.snapshot()
    assert snapshot.period_start == utc(2026, 2, 4, 7, 45)
    assert snapshot.energy_so_far_kwh == D("0.01")  # 4 kW for 9 s
    assert snapshot.estimated_energy_kwh == D("0.01") + D(4) * (15 * 60 - 9) / 3600


@pytest.mark.parametrize(
    "kwargs",
    [
        {"peaks": 0},
        {"months": frozenset({0})},
        {"weekdays": frozenset({7})},
        {"hours": (7, 24)},
        {"night_weight": D(-1)},
        {"step_limits": (D(0), D(5), D(2))},
        {"step_prices": (D(1),)},
    ],
)
def test_rules_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        CapacityRules(**kwargs)  # type: ignore[arg-type]


# Property: a restart anywhere in a messy stream (gaps, list 3 early or late, missing or
# repeated registers) leaves the tracker exactly where it would have been.
_events = st.lists(
    st.tuples(
        st.sampled_from(["power", "power", "power", "gap", "register", "repeat"]),
        st.integers(min_value=1, max_value=900),  # seconds to the next event
        st.decimals(min_value=0, max_value=12, places=2),  # kW
    ),
    min_size=1,
    max_size=150,
)


def _meter(tracker: CapacityTracker, first: datetime, last: datetime, register: Decimal) -> Decimal:
    """2 kW every 2 s from `first` to `last`, list 3 (the register) at 10 s past each hour."""
    moment = first
    while moment < last:
        moment += timedelta(seconds=2)
        register += D(2) * 2 / 3600
        tracker.add_power(moment, D(2))
        if (moment.minute, moment.second) == (0, 10):
            tracker.add_register(moment, register.quantize(D("0.001")))
    return register


@pytest.mark.parametrize(
    ("down_seconds", "hours"),
    [(50, [12, 13, 14]), (400, [12])],
    ids=["restart_in_50_s", "down_for_over_5_min"],
)
def test_restart_across_a_list_3(down_seconds: int, hours: list[int]) -> None:
    """Home Assistant restarting over the 14:00 list 3: a short gap in the power readings is
    bridged and the 15:00 register shares 13-15 exactly; a longer one leaves both hours out
    (what they used is not known), never counted low."""
    rules = CapacityRules(one_per_day=False, peaks=10)
    tracker = CapacityTracker(rules, "UTC")
    register = _meter(tracker, utc(2026, 2, 4, 11, 59, 58), utc(2026, 2, 4, 13, 59, 50), D(1000))
    saved = json.loads(json.dumps(tracker.to_dict()))
    restarted = CapacityTracker.from_dict(saved, rules, "UTC")
    back = utc(2026, 2, 4, 13, 59, 50) + timedelta(seconds=down_seconds)
    register += D(2) * down_seconds / 3600  # used while Home Assistant was down
    _meter(restarted, back, utc(2026, 2, 4, 15, 30), register)
    peaks = sorted(restarted.month_result(utc(2026, 2, 4)).peaks, key=lambda peak: peak.start)
    assert [(peak.start.hour, peak.energy_kwh, peak.exact) for peak in peaks] == [
        (hour, D("2.000"), True) for hour in hours
    ]


def _replay(tracker: CapacityTracker, events: list[tuple[str, datetime, Decimal]]) -> None:
    for kind, moment, value in events:
        if kind == "power":
            tracker.add_power(moment, value)
        else:
            tracker.add_register(moment, value)


@settings(max_examples=150)
@given(_events, st.integers(min_value=0, max_value=150))
def test_property_restart_anywhere_is_transparent(
    raw: list[tuple[str, int, Decimal]], cut: int
) -> None:
    moment, register, last_register = utc(2026, 3, 28, 22, 50), D(1000), D(1000)
    events: list[tuple[str, datetime, Decimal]] = []
    for kind, seconds, kw in raw:
        moment += timedelta(seconds=seconds * (20 if kind == "gap" else 1))
        register += kw * seconds / 3600
        if kind == "register":
            last_register = register.quantize(D("0.001"))
            events.append(("register", moment, last_register))
        elif kind == "repeat":
            events.append(("register", moment, last_register))
        else:
            events.append(("power", moment, kw))
    whole = CapacityTracker(CapacityRules(one_per_day=False), OSLO)
    _replay(whole, events)

    first = CapacityTracker(CapacityRules(one_per_day=False), OSLO)
    _replay(first, events[:cut])
    saved = json.loads(json.dumps(first.to_dict()))
    second = CapacityTracker.from_dict(saved, CapacityRules(one_per_day=False), OSLO)
    _replay(second, events[cut:])

    assert second.to_dict() == whole.to_dict()
    snapshot = whole.snapshot()
    assert snapshot == second.snapshot()
    assert all(peak.energy_kwh >= 0 for peak in snapshot.month.peaks)
    if snapshot.headroom_kwh is not None:
        assert snapshot.headroom_kwh >= 0
