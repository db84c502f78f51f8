"""Energy insight engines: pure logic, no Home Assistant imports.

- `hourly`: hourly statistic rows booked in the hour the meter's register belongs to.
- `capacity`: capacity-tariff peaks, step and headroom (Norway's rule by default, configurable
  for Swedish variants), and the Belgian meters' own 12-month peak mean.
- `tariffs`: named capacity-tariff presets and the options mapping custom rules are saved as.
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
from .tariffs import (
    PRESETS,
    TARIFF_NAMES,
    InvalidRulesError,
    RuleProblem,
    Tariff,
    TariffError,
    UnknownTariffError,
    default_tariff,
    resolve_tariff,
    rules_from_options,
    rules_to_options,
)

__all__ = [
    "PRESETS",
    "TARIFF_NAMES",
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
    "InvalidRulesError",
    "MonthResult",
    "MonthlyPeak",
    "NaiveDatetimeError",
    "Outcome",
    "Peak",
    "PeakDataError",
    "RuleProblem",
    "StateFormatError",
    "StatisticRow",
    "Tariff",
    "TariffError",
    "TrackerConfig",
    "UnitError",
    "UnknownTariffError",
    "belgian_capacity",
    "default_tariff",
    "headroom",
    "history_month",
    "parse_month_peak",
    "parse_peak_history",
    "resolve_tariff",
    "rules_from_options",
    "rules_to_options",
    "select_peaks",
]
