"""Energy insight engines: pure logic, no Home Assistant imports.

- `hourly`: hourly statistic rows booked in the hour the meter's register belongs to.
- `capacity`: capacity-tariff peaks, step and headroom (Norway's rule by default, configurable
  for Swedish variants), and the Belgian meters' own 12-month peak mean.
"""

from .capacity import (
    BelgianCapacity,
    CapacityRules,
    CapacitySnapshot,
    CapacityTracker,
    Headroom,
    MonthlyPeak,
    MonthResult,
    Peak,
    PeakDataError,
    TrackerConfig,
    belgian_capacity,
    headroom,
    history_month,
    parse_month_peak,
    parse_peak_history,
    select_peaks,
)
from .common import InsightError, NaiveDatetimeError, StateFormatError, UnitError
from .hourly import HourlyConfig, HourlyState, HourlyStatistics, HourlyUpdate, Outcome, StatisticRow

__all__ = [
    "BelgianCapacity",
    "CapacityRules",
    "CapacitySnapshot",
    "CapacityTracker",
    "Headroom",
    "HourlyConfig",
    "HourlyState",
    "HourlyStatistics",
    "HourlyUpdate",
    "InsightError",
    "MonthResult",
    "MonthlyPeak",
    "NaiveDatetimeError",
    "Outcome",
    "Peak",
    "PeakDataError",
    "StateFormatError",
    "StatisticRow",
    "TrackerConfig",
    "UnitError",
    "belgian_capacity",
    "headroom",
    "history_month",
    "parse_month_peak",
    "parse_peak_history",
    "select_peaks",
]
