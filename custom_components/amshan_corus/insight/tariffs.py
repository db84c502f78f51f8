"""Capacity-tariff presets, and the options mapping a person's own rules are saved as.

A tariff is chosen by name (`PRESETS`): a grid company's documented rule, `custom` (the rules
saved in the options, see `rules_from_options`) or `off` (no capacity sensors: Dutch and
Belgian meters, or people who don't want them). Presets carry prices only where the company
publishes one price per kW or step, with the currency it is in.

The custom rules are a JSON-able mapping (`rules_to_options` / `rules_from_options`):

    {"peaks": 3, "one_per_day": true, "period_minutes": 60,
     "months": [1, ..., 12], "weekdays": [0, ..., 6],        # 0 = Monday; all = every one
     "hours_from": 0, "hours_to": 0,                         # local [from, to); equal: all day
     "night_weight": "1", "night_from": 22, "night_to": 6,
     "step_limits": ["0", "2", "5"], "step_prices": null,    # kW; [] = no steps
     "price_per_kw": null, "excluded_dates": []}              # ISO dates

Decimals are strings so they stay exact; numbers are accepted too. Bad values raise
`InvalidRulesError` naming the field and a `RuleProblem` code (the options flow shows it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
import re
from typing import Any, Final

from .capacity import CapacityRules
from .common import InsightError, to_decimal

DEFAULT_TARIFF: Final = "norway"
CUSTOM: Final = "custom"
OFF: Final = "off"
PERIOD_MINUTES: Final = (60, 15)
MAX_PEAKS: Final = 100  # more than any tariff counts; keeps the headroom sums small
# Holiday calendars are built for these years (a preset is a fixed value, not a clock).
HOLIDAY_YEARS: Final = range(2020, 2061)

ALL_MONTHS: Final = frozenset(range(1, 13))
ALL_WEEKDAYS: Final = frozenset(range(7))
WORKDAYS: Final = frozenset(range(5))


class RuleProblem(StrEnum):
    """What is wrong with a custom rule; the options flow's error key."""

    INVALID_PEAKS = "invalid_peaks"
    INVALID_PERIOD = "invalid_period"
    NO_MONTHS = "no_months"
    NO_WEEKDAYS = "no_weekdays"
    HOUR_OUT_OF_RANGE = "hour_out_of_range"
    NIGHT_WEIGHT_OUT_OF_RANGE = "night_weight_out_of_range"
    INVALID_NUMBER_LIST = "invalid_number_list"
    NEGATIVE_LIMIT = "negative_limit"
    LIMITS_NOT_INCREASING = "limits_not_increasing"
    PRICE_COUNT_MISMATCH = "price_count_mismatch"
    NEGATIVE_PRICE = "negative_price"
    INVALID_VALUE = "invalid_value"


class TariffError(InsightError, ValueError):
    """Base of the tariff-choice errors."""


class UnknownTariffError(TariffError):
    """A tariff name that is not one of `TARIFF_NAMES`."""


class InvalidRulesError(TariffError):
    """A custom rule with a bad field: `field` is its options key, `problem` what is wrong."""

    def __init__(self, field: str, problem: RuleProblem, detail: str = "") -> None:
        super().__init__(f"{field}: {problem.value}{f' ({detail})' if detail else ''}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Tariff:
    """A chosen tariff: its rules (None: off) and the currency of their prices.

    `currency` None means the prices, if any, are in the installation's own currency (the
    person typed them in).
    """

    name: str
    rules: CapacityRules | None
    currency: str | None = None


# ----------------------------------------------------------------------- holiday calendars


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian computus)."""
    golden = year % 19
    century, rest = divmod(year, 100)
    leap_skip, leap_rest = divmod(century, 4)
    correction = (century + 8) // 25
    moon = (19 * golden + century - leap_skip - (century - correction + 1) // 3 + 15) % 30
    weekday = (32 + 2 * leap_rest + 2 * (rest // 4) - moon - rest % 4) % 7
    shift = (golden + 11 * moon + 22 * weekday) // 451
    month, day = divmod(moon + weekday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


def _weekday_between(year: int, month: int, first_day: int, weekday: int) -> date:
    """The `weekday` (0 = Monday) in the week starting at `first_day` of `month`."""
    start = date(year, month, first_day)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def swedish_holidays(year: int) -> list[tuple[date, str]]:
    """Sweden's public holidays (allmänna helgdagar) and the three eves treated like them,
    in calendar order (two may fall on one date: pingstdagen on nationaldagen)."""
    easter = easter_sunday(year)
    days = [
        (date(year, 1, 1), "nyårsdagen"),
        (date(year, 1, 6), "trettondedag jul"),
        (easter - timedelta(days=2), "långfredagen"),
        (easter, "påskdagen"),
        (easter + timedelta(days=1), "annandag påsk"),
        (date(year, 5, 1), "första maj"),
        (easter + timedelta(days=39), "Kristi himmelsfärdsdag"),
        (easter + timedelta(days=49), "pingstdagen"),
        (date(year, 6, 6), "nationaldagen"),
        (_weekday_between(year, 6, 19, 4), "midsommarafton"),
        (_weekday_between(year, 6, 20, 5), "midsommardagen"),
        (_weekday_between(year, 10, 31, 5), "alla helgons dag"),
        (date(year, 12, 24), "julafton"),
        (date(year, 12, 25), "juldagen"),
        (date(year, 12, 26), "annandag jul"),
        (date(year, 12, 31), "nyårsafton"),
    ]
    return sorted(days, key=lambda item: item[0])


def _swedish_dates(names: Iterable[str] | None = None) -> frozenset[date]:
    """Every year's Swedish holidays (those named, or all) over `HOLIDAY_YEARS`."""
    wanted = None if names is None else set(names)
    return frozenset(
        day
        for year in HOLIDAY_YEARS
        for day, name in swedish_holidays(year)
        if wanted is None or name in wanted
    )


# ----------------------------------------------------------------------- presets


def _presets() -> dict[str, Tariff]:
    return {
        # https://norgesnett.no/sporsmal-og-svar/gjennomsnittet-av-de-tre-hoyeste-timeverdiene-i-maneden-defineres-som-maksimaltimen/
        # (68 of 73 household tariffs in kraftsystemet/fri-nettleie are TRE_DØGNMAX_MND)
        "norway": Tariff("norway", CapacityRules()),
        # https://github.com/perosb/power_max_tracker/issues/9 (user reports; all year)
        "ellevio": Tariff("ellevio", CapacityRules.ellevio(), currency="SEK"),
        # https://www.goteborgenergi.se/privat/elnat/elnatsavgiften
        "goteborg_energi": Tariff("goteborg_energi", CapacityRules(step_limits=())),
        # https://www.seom.se/el/elnat/priser-och-villkor/ : the 3 highest hours 07-19 on
        # weekdays that are no holiday nor midsummer, Christmas or New Year's eve; same day
        # allowed. Its kr/kW differs Nov-Mar and Apr-Oct, so no price here.
        "seom": Tariff(
            "seom",
            CapacityRules(
                one_per_day=False,
                weekdays=WORKDAYS,
                hours=(7, 19),
                excluded_dates=_swedish_dates(),
                step_limits=(),
            ),
        ),
        # https://www.falkenberg-energi.se/elnat/effektavgifter/ : Nov-Mar 06-20 on weekdays
        # but the eight holidays it lists; 3 hours on different days.
        "falkenberg_energi": Tariff(
            "falkenberg_energi",
            CapacityRules(
                months=frozenset({11, 12, 1, 2, 3}),
                weekdays=WORKDAYS,
                hours=(6, 20),
                excluded_dates=_swedish_dates(
                    (
                        "julafton",
                        "juldagen",
                        "annandag jul",
                        "nyårsafton",
                        "nyårsdagen",
                        "trettondedag jul",
                        "långfredagen",
                        "annandag påsk",
                    )
                ),
                step_limits=(),
            ),
        ),
        # https://partilleenergi.se/effektavgiften/ : the month's single highest hour.
        "partille_energi": Tariff("partille_energi", CapacityRules(peaks=1, step_limits=())),
    }


PRESETS: Final[Mapping[str, Tariff]] = _presets()
# The order the options flow lists them in.
TARIFF_NAMES: Final = (*PRESETS, CUSTOM, OFF)


def default_tariff(country: str | None) -> str:
    """The tariff of an entry that has not chosen one, by the installation's country.

    Norway's rule in Norway (and when no country is set); none elsewhere: Norway's steps mean
    nothing to a Swedish, Belgian or Dutch household, whose rules vary (they choose a preset).
    """
    return DEFAULT_TARIFF if country in (None, "NO") else OFF


def resolve_tariff(
    name: str | None, custom: Mapping[str, Any] | None = None, *, country: str | None = None
) -> Tariff:
    """The tariff an entry's options choose: a preset, `custom` with its rules, or `off`.

    No name is the default for `country` (`default_tariff`). Raises `UnknownTariffError` for an
    unknown name and `InvalidRulesError` for custom rules that do not validate (or are missing).
    """
    name = name or default_tariff(country)
    if name == OFF:
        return Tariff(OFF, None)
    if name == CUSTOM:
        if custom is None:
            raise InvalidRulesError("capacity_rules", RuleProblem.INVALID_VALUE, "missing")
        return Tariff(CUSTOM, rules_from_options(custom))
    if (preset := PRESETS.get(name)) is None:
        raise UnknownTariffError(f"unknown capacity tariff {name!r}; known: {TARIFF_NAMES}")
    return preset


# ----------------------------------------------------------------------- options mapping


def rules_to_options(rules: CapacityRules) -> dict[str, Any]:
    """`rules` as the JSON-able custom-rules mapping (see the module docs)."""
    hours = rules.hours or (0, 0)
    return {
        "peaks": rules.peaks,
        "one_per_day": rules.one_per_day,
        "period_minutes": int(rules.period.total_seconds()) // 60,
        "months": sorted(rules.months if rules.months is not None else ALL_MONTHS),
        "weekdays": sorted(rules.weekdays if rules.weekdays is not None else ALL_WEEKDAYS),
        "hours_from": hours[0],
        "hours_to": hours[1],
        "night_weight": _text(rules.night_weight),
        "night_from": rules.night_hours[0],
        "night_to": rules.night_hours[1],
        "step_limits": [_text(limit) for limit in rules.step_limits],
        "step_prices": None
        if rules.step_prices is None
        else [_text(price) for price in rules.step_prices],
        "price_per_kw": None if rules.price_per_kw is None else _text(rules.price_per_kw),
        "excluded_dates": [day.isoformat() for day in sorted(rules.excluded_dates)],
    }


def rules_from_options(options: Mapping[str, Any]) -> CapacityRules:
    """Validate a custom-rules mapping and build its `CapacityRules`.

    Missing keys take Norway's values. Raises `InvalidRulesError` (field, problem) at the
    first bad field, in the order the options form shows them.
    """
    default = CapacityRules()
    peaks = _whole(options, "peaks", default.peaks)
    if not 1 <= peaks <= MAX_PEAKS:
        raise InvalidRulesError("peaks", RuleProblem.INVALID_PEAKS, str(peaks))
    one_per_day = options.get("one_per_day", default.one_per_day)
    if not isinstance(one_per_day, bool):
        raise InvalidRulesError("one_per_day", RuleProblem.INVALID_VALUE, repr(one_per_day))
    minutes = _whole(options, "period_minutes", 60)
    if minutes not in PERIOD_MINUTES:
        raise InvalidRulesError("period_minutes", RuleProblem.INVALID_PERIOD, str(minutes))
    months = _choice(options, "months", ALL_MONTHS, RuleProblem.NO_MONTHS)
    weekdays = _choice(options, "weekdays", ALL_WEEKDAYS, RuleProblem.NO_WEEKDAYS)
    hours = (_hour(options, "hours_from", 0), _hour(options, "hours_to", 0))
    night_weight = _decimal(options, "night_weight", default.night_weight)
    if night_weight is None or not Decimal(0) <= night_weight <= Decimal(1):
        raise InvalidRulesError(
            "night_weight", RuleProblem.NIGHT_WEIGHT_OUT_OF_RANGE, str(night_weight)
        )
    night_hours = (
        _hour(options, "night_from", default.night_hours[0]),
        _hour(options, "night_to", default.night_hours[1]),
    )
    limits = _decimals(options, "step_limits", default.step_limits)
    if limits is None:
        limits = ()
    if any(limit < 0 for limit in limits):
        raise InvalidRulesError("step_limits", RuleProblem.NEGATIVE_LIMIT)
    if list(limits) != sorted(set(limits)):
        raise InvalidRulesError("step_limits", RuleProblem.LIMITS_NOT_INCREASING)
    prices = _decimals(options, "step_prices", None) or None
    if prices is not None and len(prices) != len(limits):
        raise InvalidRulesError(
            "step_prices", RuleProblem.PRICE_COUNT_MISMATCH, f"{len(prices)} for {len(limits)}"
        )
    if prices is not None and any(price < 0 for price in prices):
        raise InvalidRulesError("step_prices", RuleProblem.NEGATIVE_PRICE)
    price_per_kw = _decimal(options, "price_per_kw", None)
    if price_per_kw is not None and price_per_kw < 0:
        raise InvalidRulesError("price_per_kw", RuleProblem.NEGATIVE_PRICE)
    days = options.get("excluded_dates") or []
    if not isinstance(days, list | tuple):
        raise InvalidRulesError("excluded_dates", RuleProblem.INVALID_VALUE, repr(days))
    try:
        excluded = frozenset(date.fromisoformat(str(day)) for day in days)
    except ValueError as err:
        raise InvalidRulesError("excluded_dates", RuleProblem.INVALID_VALUE, str(err)) from err
    try:
        return CapacityRules(
            peaks=peaks,
            one_per_day=one_per_day,
            period=timedelta(minutes=minutes),
            months=months,
            weekdays=weekdays,
            hours=None if hours[0] == hours[1] else hours,
            excluded_dates=excluded,
            night_weight=night_weight,
            night_hours=night_hours,
            step_limits=limits,
            step_prices=prices,
            price_per_kw=price_per_kw,
        )
    except ValueError as err:  # every field is checked above; this is the rules' own guard
        raise InvalidRulesError("capacity_rules", RuleProblem.INVALID_VALUE, str(err)) from err


def parse_number_list(text: str, field: str) -> tuple[Decimal, ...]:
    """Numbers typed in one line: `0, 2, 5, 10` (empty: none).

    With a semicolon in the text, semicolons separate and a comma is a decimal comma
    (`0; 2,5; 5`), as people write in Norway and Sweden.
    """
    text = text.strip()
    if not text:
        return ()
    if ";" in text:
        parts = [part.replace(",", ".") for part in text.split(";")]
    else:
        parts = re.split(r"[,\s]+", text)
    numbers = []
    for part in parts:
        number = _number(part)
        if number is None:
            raise InvalidRulesError(field, RuleProblem.INVALID_NUMBER_LIST, repr(part.strip()))
        numbers.append(number)
    return tuple(numbers)


def format_number_list(numbers: Sequence[Decimal] | None) -> str:
    """The inverse of `parse_number_list`, for prefilling a form."""
    return ", ".join(_text(number) for number in numbers or ())


def _text(number: Decimal) -> str:
    """`2` rather than `2.0` or `2E+1`, `0.5` rather than `0.50`; the same value.

    Not `normalize()`: it rounds to the context's 28 digits.
    """
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(value: object) -> Decimal | None:
    """A finite Decimal from a number or its text (spaces around allowed), else None."""
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    if isinstance(value, Decimal | int | float):
        return to_decimal(value)  # None for bools and non-finite numbers
    return None


def _whole(options: Mapping[str, Any], field: str, default: int) -> int:
    value = options.get(field, default)
    number = _number(value)
    if number is None or number != number.to_integral_value():
        problem = RuleProblem.INVALID_PEAKS if field == "peaks" else RuleProblem.INVALID_VALUE
        if field == "period_minutes":
            problem = RuleProblem.INVALID_PERIOD
        raise InvalidRulesError(field, problem, repr(value))
    return int(number)


def _hour(options: Mapping[str, Any], field: str, default: int) -> int:
    value = options.get(field, default)
    number = _number(value)
    if number is None or number != number.to_integral_value() or not 0 <= number <= 23:
        raise InvalidRulesError(field, RuleProblem.HOUR_OUT_OF_RANGE, repr(value))
    return int(number)


def _choice(
    options: Mapping[str, Any], field: str, every: frozenset[int], empty: RuleProblem
) -> frozenset[int] | None:
    """A months/weekdays list: all of them is None (no restriction), none is an error."""
    value = options.get(field)
    if value is None:
        return None
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidRulesError(field, RuleProblem.INVALID_VALUE, repr(value))
    chosen = frozenset(_whole({field: item}, field, 0) for item in value)
    if not chosen:
        raise InvalidRulesError(field, empty)
    if not chosen <= every:
        raise InvalidRulesError(field, RuleProblem.INVALID_VALUE, repr(sorted(chosen - every)))
    return None if chosen == every else chosen


def _decimal(options: Mapping[str, Any], field: str, default: Decimal | None) -> Decimal | None:
    value = options.get(field, default)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = _number(value.replace(",", ".") if isinstance(value, str) else value)
    if number is None:
        raise InvalidRulesError(field, RuleProblem.INVALID_VALUE, repr(value))
    return number


def _decimals(
    options: Mapping[str, Any], field: str, default: tuple[Decimal, ...] | None
) -> tuple[Decimal, ...] | None:
    value = options.get(field, default)
    if value is None:
        return None
    if isinstance(value, str):
        return parse_number_list(value, field)
    if not isinstance(value, list | tuple):
        raise InvalidRulesError(field, RuleProblem.INVALID_NUMBER_LIST, repr(value))
    numbers = []
    for item in value:
        number = _number(item)
        if number is None:
            raise InvalidRulesError(field, RuleProblem.INVALID_NUMBER_LIST, repr(item))
        numbers.append(number)
    return tuple(numbers)
