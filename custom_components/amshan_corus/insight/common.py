"""Errors and time/number helpers shared by the insight engines."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

type Number = Decimal | int | float

HOUR = timedelta(hours=1)

# A register's unit as the meter gives it -> (factor to the engines' unit, that unit).
REGISTER_UNITS: Mapping[str, tuple[Decimal, str]] = {
    "Wh": (Decimal("0.001"), "kWh"),
    "kWh": (Decimal(1), "kWh"),
    "MWh": (Decimal(1000), "kWh"),
    "m3": (Decimal(1), "m³"),
    "m³": (Decimal(1), "m³"),
}
POWER_UNITS: Mapping[str, Decimal] = {"W": Decimal("0.001"), "kW": Decimal(1), "MW": Decimal(1000)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InsightError(Exception):
    """Base of every error the insight engines raise."""


class NaiveDatetimeError(InsightError, ValueError):
    """A datetime without a timezone was passed: the engines cannot place it in time."""


class UnitError(InsightError, ValueError):
    """A unit the engines cannot convert (they take W/kW/MW, Wh/kWh/MWh and m³)."""


class StateFormatError(InsightError, ValueError):
    """A persisted state could not be restored (unknown version, missing or bad field)."""


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC; refuses naive datetimes rather than guessing their zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NaiveDatetimeError(f"timezone-aware datetime required, got {moment.isoformat()}")
    return moment.astimezone(UTC)


def to_decimal(value: Number) -> Decimal | None:
    """`value` as an exact Decimal, or None when it is not a finite number.

    Floats go through `str` so 0.1 stays 0.1 instead of its binary expansion.
    """
    if isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def floor_to_period(moment: datetime, period: timedelta) -> datetime:
    """Start of the `period`-long slot (aligned to UTC midnight) holding `moment`, in UTC.

    Europe's offsets are whole hours, so UTC-aligned hours and quarters are also local ones.
    """
    utc = to_utc(moment)
    return utc - (utc - _EPOCH) % period


def nearest_boundary(moment: datetime, period: timedelta, tolerance: timedelta) -> datetime | None:
    """The period boundary within `tolerance` of `moment` (UTC), or None when there is none.

    This is how a meter clock that runs a little fast or slow is mapped to the boundary it means:
    13:59:58 and 14:00:10 are both the 14:00 boundary.
    """
    start = floor_to_period(moment, period)
    utc = to_utc(moment)
    if utc - start <= tolerance:
        return start
    if start + period - utc <= tolerance:
        return start + period
    return None


def parse_utc(text: str) -> datetime:
    """Inverse of `datetime.isoformat()` for persisted UTC timestamps."""
    return to_utc(datetime.fromisoformat(text))


def scaled(value: Number, unit: str, units: Mapping[str, Decimal]) -> Decimal | None:
    """`value` in `unit` converted with `units`; None when it is not a finite number."""
    factor = units.get(unit)
    if factor is None:
        raise UnitError(f"unsupported unit {unit!r}; expected one of {sorted(units)}")
    number = to_decimal(value)
    return None if number is None else number * factor
