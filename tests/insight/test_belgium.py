"""Belgian capacity tariff from the meter's own peaks: 12-month mean with the 2.5 kW floor."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
import re
from zoneinfo import ZoneInfo

import pytest

from custom_components.amshan_corus.insight import (
    MonthlyPeak,
    PeakDataError,
    belgian_capacity,
    history_month,
    parse_month_peak,
    parse_peak_history,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
D = Decimal
HISTORY_LINE = (
    "0-0:98.1.0(3)(1-0:1.6.0)(1-0:1.6.0)"
    "(200501000000S)(200423192538S)(03.695*kW)"
    "(200401000000S)(200305122139S)(01.980*kW)"
    "(200301000000W)(200210035921W)(04.318*kW)"
)


def values(line: str) -> list[str]:
    """A P1 line's value groups, as the P1 decoder splits them."""
    return re.findall(r"\(([^()]*)\)", line[line.index("(") :])


def test_parse_history_and_month_peak() -> None:
    history = parse_peak_history(values(HISTORY_LINE), BRUSSELS)
    assert [(p.month, p.value_kw) for p in history] == [
        (date(2020, 4, 1), D("3.695")),
        (date(2020, 3, 1), D("1.980")),
        (date(2020, 2, 1), D("4.318")),
    ]
    assert history[0].at == datetime(2020, 4, 23, 19, 25, 38, tzinfo=BRUSSELS)
    peak = parse_month_peak(values("1-0:1.6.0(200509134558S)(02589*W)"), BRUSSELS)
    assert (peak.month, peak.value_kw) == (date(2020, 5, 1), D("2.589"))


def test_rolling_mean_with_the_floor_by_hand() -> None:
    history = parse_peak_history(values(HISTORY_LINE), BRUSSELS)
    current = MonthlyPeak(date(2020, 5, 1), D("2.589"))
    result = belgian_capacity(current_average_kw=D("1.2"), month_peak=current, history=history)
    # May 2.589, April 3.695, March 1.980 -> 2.5 (floor), February 4.318.
    assert result.rolling_mean_kw == (D("2.589") + D("3.695") + D("2.5") + D("4.318")) / 4
    assert result.billed_month_peak_kw == D("2.589")
    assert result.current_average_kw == D("1.2")
    assert [p.month for p in result.months] == [
        date(2020, 5, 1),
        date(2020, 4, 1),
        date(2020, 3, 1),
        date(2020, 2, 1),
    ]


def test_only_the_last_twelve_months_count_and_the_current_one_wins() -> None:
    history = [
        MonthlyPeak(date(2024 + (m - 1) // 12, (m - 1) % 12 + 1, 1), D(m)) for m in range(1, 14)
    ]
    # 13 months: Jan 2024 (1 kW) ... Jan 2025 (13 kW); the meter's current month is Jan 2025.
    result = belgian_capacity(
        current_average_kw=None, month_peak=MonthlyPeak(date(2025, 1, 1), D("14")), history=history
    )
    assert len(result.months) == 12
    assert result.months[-1].month == date(2024, 2, 1)
    # Feb 2024 .. Dec 2024 = 2..12 kW (2 -> 2.5 floor), Jan 2025 = 14 kW.
    assert result.rolling_mean_kw == (D("2.5") + sum(D(m) for m in range(3, 13)) + 14) / 12


def test_a_new_meter_without_history() -> None:
    result = belgian_capacity(current_average_kw=D("0.4"), month_peak=None, history=[])
    assert result.rolling_mean_kw == D("2.5")
    assert result.billed_month_peak_kw == D("2.5")
    low = belgian_capacity(
        current_average_kw=None, month_peak=MonthlyPeak(date(2026, 3, 1), D("1.1")), history=[]
    )
    assert (low.billed_month_peak_kw, low.rolling_mean_kw) == (D("2.5"), D("2.5"))


def test_history_month_without_a_usable_peak_time() -> None:
    stamp = datetime(2020, 5, 1, tzinfo=BRUSSELS)
    assert history_month(stamp, None, BRUSSELS) == date(2020, 4, 1)
    assert history_month(stamp, stamp, BRUSSELS) == date(2020, 4, 1)


@pytest.mark.parametrize(
    "line",
    [
        "0-0:98.1.0(2)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)",
        "0-0:98.1.0(x)",
        "0-0:98.1.0(1)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kV)",
        "0-0:98.1.0(1)(1-0:1.6.0)(1-0:1.6.0)(201301000000S)(200423192538S)(03.695*kW)",
    ],
)
def test_malformed_history_is_a_clear_error(line: str) -> None:
    with pytest.raises(PeakDataError):
        parse_peak_history(values(line), BRUSSELS)


def test_malformed_month_peak() -> None:
    with pytest.raises(PeakDataError, match="timestamp and a value"):
        parse_month_peak(["02.589*kW"], BRUSSELS)
    with pytest.raises(PeakDataError, match="demand value"):
        parse_month_peak(["200509134558S", "-1*kW"], BRUSSELS)


def test_values_from_the_p1_decoder() -> None:
    """The P1 decoder owns the line syntax; the engine takes its decoded peaks."""
    from custom_components.amshan_corus.insight.capacity import monthly_peak
    from custom_components.amshan_corus.protocol.han.models import DemandPeak
    from custom_components.amshan_corus.protocol.han.p1 import decode_p1
    from tests.protocol.han.test_p1 import FLUVIUS

    message = decode_p1(FLUVIUS, timezone=BRUSSELS)
    month = message.readings["peak_demand_month"]
    assert isinstance(month.value, Decimal)
    assert month.unit is not None
    current = monthly_peak(DemandPeak(month.value, month.unit, month.timestamp), BRUSSELS)
    history = [monthly_peak(peak, BRUSSELS) for peak in message.demand_history]
    result = belgian_capacity(current_average_kw=D("2.351"), month_peak=current, history=history)
    assert [p.month for p in result.months] == [date(2020, m, 1) for m in (5, 4, 3, 2)]
    assert result.rolling_mean_kw == (D("2.589") + D("3.695") + D("5.980") + D("4.318")) / 4
