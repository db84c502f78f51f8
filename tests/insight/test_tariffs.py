"""Capacity-tariff presets, the custom-rules options mapping, and re-valuing a saved month."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
import json
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.insight.capacity import (
    NORWAY_STEP_LIMITS,
    CapacityRules,
    CapacityTracker,
)
from custom_components.amshan_corus.insight.common import InsightError
from custom_components.amshan_corus.insight.tariffs import (
    CUSTOM,
    OFF,
    PRESETS,
    TARIFF_NAMES,
    InvalidRulesError,
    RuleProblem,
    Tariff,
    UnknownTariffError,
    default_tariff,
    easter_sunday,
    format_number_list,
    parse_number_list,
    resolve_tariff,
    rules_from_options,
    rules_to_options,
    swedish_holidays,
)

OSLO = "Europe/Oslo"
STOCKHOLM = "Europe/Stockholm"


# ----------------------------------------------------------------------- holiday calendars


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
        (2049, date(2049, 4, 18)),
    ],
)
def test_easter_sunday(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


def test_swedish_holidays_2026() -> None:
    assert swedish_holidays(2026) == [
        (date(2026, 1, 1), "nyårsdagen"),
        (date(2026, 1, 6), "trettondedag jul"),
        (date(2026, 4, 3), "långfredagen"),
        (date(2026, 4, 5), "påskdagen"),
        (date(2026, 4, 6), "annandag påsk"),
        (date(2026, 5, 1), "första maj"),
        (date(2026, 5, 14), "Kristi himmelsfärdsdag"),
        (date(2026, 5, 24), "pingstdagen"),
        (date(2026, 6, 6), "nationaldagen"),
        (date(2026, 6, 19), "midsommarafton"),
        (date(2026, 6, 20), "midsommardagen"),
        (date(2026, 10, 31), "alla helgons dag"),
        (date(2026, 12, 24), "julafton"),
        (date(2026, 12, 25), "juldagen"),
        (date(2026, 12, 26), "annandag jul"),
        (date(2026, 12, 31), "nyårsafton"),
    ]


def test_two_holidays_on_one_date_keep_both_names() -> None:
    # Easter 2049 is April 18: pingstdagen is June 6, nationaldagen.
    june_6 = [name for day, name in swedish_holidays(2049) if day == date(2049, 6, 6)]
    assert june_6 == ["pingstdagen", "nationaldagen"]


# ----------------------------------------------------------------------- presets


def test_tariff_names_in_menu_order() -> None:
    assert TARIFF_NAMES == (
        "norway",
        "ellevio",
        "goteborg_energi",
        "seom",
        "falkenberg_energi",
        "partille_energi",
        "custom",
        "off",
    )


def test_norway_is_the_default() -> None:
    tariff = resolve_tariff(None)
    assert tariff == Tariff("norway", CapacityRules(), None)
    assert tariff.rules is not None
    assert tariff.rules.step_limits == tuple(
        Decimal(limit) for limit in (0, 2, 5, 10, 15, 20, 25, 50, 75, 100)
    )
    assert (tariff.rules.peaks, tariff.rules.one_per_day) == (3, True)
    assert tariff.rules.period == timedelta(hours=1)


@pytest.mark.parametrize(
    ("country", "expected"), [(None, "norway"), ("NO", "norway"), ("SE", "off"), ("BE", "off")]
)
def test_the_default_follows_the_country(country: str | None, expected: str) -> None:
    """Norway's steps only where they apply; elsewhere nothing until a tariff is chosen."""
    assert default_tariff(country) == expected
    assert resolve_tariff(None, country=country).name == expected
    # A chosen tariff is the chosen one in any country.
    assert resolve_tariff("ellevio", country="NO").name == "ellevio"


def test_ellevio_counts_nights_at_half_and_is_priced_in_sek() -> None:
    tariff = PRESETS["ellevio"]
    assert tariff.currency == "SEK"
    assert tariff.rules == CapacityRules(
        night_weight=Decimal("0.5"),
        night_hours=(22, 6),
        step_limits=(),
        price_per_kw=Decimal("81.25"),
    )


def test_goteborg_energi_three_days_no_steps() -> None:
    assert PRESETS["goteborg_energi"] == Tariff(
        "goteborg_energi", CapacityRules(peaks=3, one_per_day=True, step_limits=())
    )


def test_seom_weekdays_7_to_19_without_holidays() -> None:
    tariff = PRESETS["seom"]
    rules = tariff.rules
    assert rules is not None
    assert tariff.currency is None
    assert rules.peaks == 3
    assert rules.one_per_day is False
    assert rules.weekdays == frozenset({0, 1, 2, 3, 4})
    assert rules.hours == (7, 19)
    assert rules.months is None
    assert rules.step_limits == ()
    assert rules.step_prices is None
    assert rules.price_per_kw is None
    every = {day for year in range(2020, 2061) for day, _ in swedish_holidays(year)}
    assert rules.excluded_dates == every
    # Weights, local Stockholm time: Monday 2026-01-05 07:00 counts, 06:00 and 19:00 don't,
    # Saturday doesn't, Good Friday and midsummer eve (weekdays) don't.
    assert rules.weight(datetime(2026, 1, 5, 7)) == 1
    assert rules.weight(datetime(2026, 1, 5, 18)) == 1
    assert rules.weight(datetime(2026, 1, 5, 6)) == 0
    assert rules.weight(datetime(2026, 1, 5, 19)) == 0
    assert rules.weight(datetime(2026, 1, 10, 12)) == 0
    assert rules.weight(datetime(2026, 4, 3, 12)) == 0
    assert rules.weight(datetime(2026, 6, 19, 12)) == 0


def test_falkenberg_winter_weekdays_6_to_20_with_its_eight_holidays() -> None:
    rules = PRESETS["falkenberg_energi"].rules
    assert rules is not None
    assert (rules.peaks, rules.one_per_day) == (3, True)
    assert rules.months == frozenset({11, 12, 1, 2, 3})
    assert rules.weekdays == frozenset({0, 1, 2, 3, 4})
    assert rules.hours == (6, 20)
    assert rules.step_limits == ()
    listed = {
        date(2026, 12, 24),
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2026, 12, 31),
        date(2026, 1, 1),
        date(2026, 1, 6),
        date(2026, 4, 3),
        date(2026, 4, 6),
    }
    assert {day for day in rules.excluded_dates if day.year == 2026} == listed
    assert rules.weight(datetime(2026, 1, 7, 6)) == 1  # Wednesday 06:00
    assert rules.weight(datetime(2026, 1, 7, 20)) == 0
    assert rules.weight(datetime(2026, 1, 6, 12)) == 0  # trettondedag jul, a Tuesday
    assert rules.weight(datetime(2026, 4, 7, 12)) == 0  # April: out of season
    assert rules.weight(datetime(2026, 11, 2, 12)) == 1


def test_partille_single_highest_hour() -> None:
    rules = PRESETS["partille_energi"].rules
    assert rules == CapacityRules(peaks=1, step_limits=())


def test_off_has_no_rules_and_custom_needs_them() -> None:
    assert resolve_tariff(OFF) == Tariff("off", None)
    with pytest.raises(InvalidRulesError) as err:
        resolve_tariff(CUSTOM)
    assert err.value.problem is RuleProblem.INVALID_VALUE
    with pytest.raises(UnknownTariffError, match="'tensio'"):
        resolve_tariff("tensio")
    assert issubclass(UnknownTariffError, InsightError)
    assert issubclass(InvalidRulesError, ValueError)


# ----------------------------------------------------------------------- options mapping


CUSTOM_OPTIONS: dict[str, Any] = {
    "peaks": 2,
    "one_per_day": False,
    "period_minutes": 15,
    "months": [1, 2, 3, 11, 12],
    "weekdays": [0, 1, 2, 3, 4],
    "hours_from": 7,
    "hours_to": 19,
    "night_weight": "0.5",
    "night_from": 22,
    "night_to": 6,
    "step_limits": ["0", "2.5", "5"],
    "step_prices": ["100", "200", "350.5"],
    "price_per_kw": None,
    "excluded_dates": ["2026-12-24"],
}


def test_custom_options_build_exact_rules() -> None:
    tariff = resolve_tariff(CUSTOM, CUSTOM_OPTIONS)
    assert tariff == Tariff(
        "custom",
        CapacityRules(
            peaks=2,
            one_per_day=False,
            period=timedelta(minutes=15),
            months=frozenset({11, 12, 1, 2, 3}),
            weekdays=frozenset({0, 1, 2, 3, 4}),
            hours=(7, 19),
            excluded_dates=frozenset({date(2026, 12, 24)}),
            night_weight=Decimal("0.5"),
            night_hours=(22, 6),
            step_limits=(Decimal(0), Decimal("2.5"), Decimal(5)),
            step_prices=(Decimal(100), Decimal(200), Decimal("350.50")),
        ),
        None,
    )


def test_round_trip_is_json_and_exact() -> None:
    for name, tariff in PRESETS.items():
        assert tariff.rules is not None
        options = json.loads(json.dumps(rules_to_options(tariff.rules)))
        assert rules_from_options(options) == tariff.rules, name
    assert rules_to_options(rules_from_options(CUSTOM_OPTIONS)) == CUSTOM_OPTIONS


def test_long_decimals_keep_every_digit() -> None:
    """29 significant digits, one more than Decimal's context: written as given, not rounded."""
    price = Decimal("1217.4512329787674939291094556")
    options = rules_to_options(rules_from_options({"price_per_kw": price, "step_limits": []}))
    assert options["price_per_kw"] == "1217.4512329787674939291094556"
    assert rules_to_options(CapacityRules(price_per_kw=Decimal("20.500")))["price_per_kw"] == "20.5"
    assert rules_to_options(CapacityRules(price_per_kw=Decimal("2E+1")))["price_per_kw"] == "20"


def test_norway_as_options() -> None:
    assert rules_to_options(CapacityRules()) == {
        "peaks": 3,
        "one_per_day": True,
        "period_minutes": 60,
        "months": list(range(1, 13)),
        "weekdays": list(range(7)),
        "hours_from": 0,
        "hours_to": 0,
        "night_weight": "1",
        "night_from": 22,
        "night_to": 6,
        "step_limits": ["0", "2", "5", "10", "15", "20", "25", "50", "75", "100"],
        "step_prices": None,
        "price_per_kw": None,
        "excluded_dates": [],
    }
    # Missing keys are Norway's values.
    assert rules_from_options({}) == CapacityRules()


def test_numbers_are_accepted_as_well_as_text() -> None:
    rules = rules_from_options(
        {"peaks": 3.0, "night_weight": 0.5, "step_limits": [0, 2.5], "price_per_kw": "45,5"}
    )
    assert rules.peaks == 3
    assert rules.night_weight == Decimal("0.5")
    assert rules.step_limits == (Decimal(0), Decimal("2.5"))
    assert rules.price_per_kw == Decimal("45.5")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"peaks": 0}, "peaks", RuleProblem.INVALID_PEAKS),
        ({"peaks": 2.5}, "peaks", RuleProblem.INVALID_PEAKS),
        ({"peaks": 101}, "peaks", RuleProblem.INVALID_PEAKS),
        ({"peaks": "three"}, "peaks", RuleProblem.INVALID_PEAKS),
        ({"one_per_day": "yes"}, "one_per_day", RuleProblem.INVALID_VALUE),
        ({"period_minutes": 30}, "period_minutes", RuleProblem.INVALID_PERIOD),
        ({"months": []}, "months", RuleProblem.NO_MONTHS),
        ({"months": [0, 1]}, "months", RuleProblem.INVALID_VALUE),
        ({"weekdays": []}, "weekdays", RuleProblem.NO_WEEKDAYS),
        ({"weekdays": [7]}, "weekdays", RuleProblem.INVALID_VALUE),
        ({"hours_from": 24}, "hours_from", RuleProblem.HOUR_OUT_OF_RANGE),
        ({"hours_to": -1}, "hours_to", RuleProblem.HOUR_OUT_OF_RANGE),
        ({"night_from": 6.5}, "night_from", RuleProblem.HOUR_OUT_OF_RANGE),
        ({"night_to": None}, "night_to", RuleProblem.HOUR_OUT_OF_RANGE),
        ({"night_weight": "1.5"}, "night_weight", RuleProblem.NIGHT_WEIGHT_OUT_OF_RANGE),
        ({"night_weight": -0.1}, "night_weight", RuleProblem.NIGHT_WEIGHT_OUT_OF_RANGE),
        ({"night_weight": None}, "night_weight", RuleProblem.NIGHT_WEIGHT_OUT_OF_RANGE),
        ({"step_limits": "0, 5, 2"}, "step_limits", RuleProblem.LIMITS_NOT_INCREASING),
        ({"step_limits": ["0", "2", "2"]}, "step_limits", RuleProblem.LIMITS_NOT_INCREASING),
        ({"step_limits": ["-2", "0"]}, "step_limits", RuleProblem.NEGATIVE_LIMIT),
        ({"step_limits": ["0", "x"]}, "step_limits", RuleProblem.INVALID_NUMBER_LIST),
        ({"step_prices": ["1", "2"]}, "step_prices", RuleProblem.PRICE_COUNT_MISMATCH),
        (
            {"step_limits": [], "step_prices": ["1"]},
            "step_prices",
            RuleProblem.PRICE_COUNT_MISMATCH,
        ),
        ({"step_prices": ["1", "-2", "3"]}, "step_prices", RuleProblem.NEGATIVE_PRICE),
        ({"price_per_kw": "-1"}, "price_per_kw", RuleProblem.NEGATIVE_PRICE),
        ({"price_per_kw": "much"}, "price_per_kw", RuleProblem.INVALID_VALUE),
        ({"excluded_dates": ["2026-13-01"]}, "excluded_dates", RuleProblem.INVALID_VALUE),
    ],
)
def test_validation_names_field_and_problem(
    change: dict[str, Any], field: str, problem: RuleProblem
) -> None:
    with pytest.raises(InvalidRulesError) as err:
        rules_from_options(CUSTOM_OPTIONS | change)
    assert (err.value.field, err.value.problem) == (field, problem)


def test_number_lists() -> None:
    assert parse_number_list("0, 2, 5, 10", "step_limits") == tuple(
        Decimal(n) for n in (0, 2, 5, 10)
    )
    assert parse_number_list(" 0 2.5  5 ", "step_limits") == (
        Decimal(0),
        Decimal("2.5"),
        Decimal(5),
    )
    assert parse_number_list("0; 2,5; 5", "step_limits") == (
        Decimal(0),
        Decimal("2.5"),
        Decimal(5),
    )
    assert parse_number_list("  ", "step_limits") == ()
    for bad in ("0, two", "1; ; 2", "nan", "2 kW"):
        with pytest.raises(InvalidRulesError) as err:
            parse_number_list(bad, "step_prices")
        assert (err.value.field, err.value.problem) == (
            "step_prices",
            RuleProblem.INVALID_NUMBER_LIST,
        )
    assert format_number_list(NORWAY_STEP_LIMITS) == "0, 2, 5, 10, 15, 20, 25, 50, 75, 100"
    assert format_number_list((Decimal("2.50"), Decimal("1E+1"))) == "2.5, 10"
    assert format_number_list(None) == ""


_hours = st.integers(0, 23)
_amounts = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)


@st.composite
def _rules(draw: st.DrawFn) -> CapacityRules:
    limits = draw(st.lists(_amounts, max_size=6, unique=True).map(sorted))
    prices = draw(st.none() | st.lists(_amounts, min_size=len(limits), max_size=len(limits)))
    first, end = draw(_hours), draw(_hours)
    return CapacityRules(
        peaks=draw(st.integers(1, 10)),
        one_per_day=draw(st.booleans()),
        period=timedelta(minutes=draw(st.sampled_from((60, 15)))),
        months=draw(st.none() | st.frozensets(st.integers(1, 11), min_size=1)),
        weekdays=draw(st.none() | st.frozensets(st.integers(0, 5), min_size=1)),
        hours=None if first == end else (first, end),
        excluded_dates=draw(st.frozensets(st.dates(), max_size=3)),
        night_weight=draw(st.decimals(min_value=0, max_value=1, places=3)),
        night_hours=(draw(_hours), draw(_hours)),
        step_limits=tuple(limits),
        step_prices=None if prices is None or not limits else tuple(prices),
        price_per_kw=draw(st.none() | _amounts),
    )


@settings(max_examples=300)
@given(_rules())
def test_any_rules_survive_the_options_round_trip(rules: CapacityRules) -> None:
    assert rules_from_options(json.loads(json.dumps(rules_to_options(rules)))) == rules


# ----------------------------------------------------------------------- re-valuing a month


def _tracker_with(hours: dict[datetime, str], rules: CapacityRules, zone: str) -> CapacityTracker:
    tracker = CapacityTracker(rules, zone)
    for start, energy in hours.items():
        tracker.add_period(start, Decimal(energy))
    return tracker


# Stockholm/Oslo are UTC+1 in January: 22:00 UTC is 23:00 local (night), 10:00 UTC is 11:00.
MONTH_HOURS = {
    datetime(2026, 1, 5, 22, tzinfo=UTC): "6.000",  # Monday night
    datetime(2026, 1, 6, 10, tzinfo=UTC): "4.000",  # Tuesday (trettondedag jul) 11:00
    datetime(2026, 1, 7, 10, tzinfo=UTC): "3.000",  # Wednesday 11:00
    datetime(2026, 1, 10, 10, tzinfo=UTC): "5.000",  # Saturday 11:00
}


def test_changed_rules_revalue_the_saved_month() -> None:
    norway = _tracker_with(MONTH_HOURS, CapacityRules(), OSLO)
    month = datetime(2026, 1, 15, tzinfo=UTC)
    assert [peak.value_kw for peak in norway.month_result(month).peaks] == [
        Decimal("6.000"),
        Decimal("5.000"),
        Decimal("4.000"),
    ]
    ellevio = CapacityTracker.from_dict(norway.to_dict(), CapacityRules.ellevio(), OSLO)
    result = ellevio.month_result(month)
    # The night hour counts 3.000 now; it ties with Wednesday's 3.000 and, earlier, wins.
    assert [(peak.value_kw, peak.energy_kwh) for peak in result.peaks] == [
        (Decimal("5.000"), Decimal("5.000")),
        (Decimal("4.000"), Decimal("4.000")),
        (Decimal("3.000"), Decimal("6.000")),
    ]
    assert result.mean_kw == 4
    assert result.price == Decimal("81.25") * 4
    # The same through with_rules; SEOM drops the night, the Saturday and the holiday.
    seom_rules = PRESETS["seom"].rules
    assert seom_rules is not None
    seom = norway.with_rules(seom_rules)
    assert [(p.start, p.value_kw) for p in seom.month_result(month).peaks] == [
        (datetime(2026, 1, 7, 10, tzinfo=UTC), Decimal("3.000"))
    ]
    assert seom.month_result(month).mean_kw == 1
    # Nothing is lost: back to Norway gives the first result again.
    assert seom.with_rules(CapacityRules()).month_result(month) == norway.month_result(month)


def test_quarters_sum_into_hours_and_hours_cannot_become_quarters() -> None:
    quarter = CapacityRules(period=timedelta(minutes=15))
    start = datetime(2026, 1, 7, 10, tzinfo=UTC)
    quarters = {start + timedelta(minutes=15 * n): "0.500" for n in range(4)}
    quarters[start + timedelta(hours=1)] = "0.700"  # an hour with one quarter only
    tracker = _tracker_with(quarters, quarter, OSLO)
    assert tracker.month_result(start).peaks[0].value_kw == Decimal("2.800")
    hourly = tracker.with_rules(CapacityRules())
    peaks = hourly.month_result(start).peaks
    assert [(p.start, p.value_kw, p.exact) for p in peaks] == [(start, Decimal("2.000"), True)]
    assert hourly.counts["dropped_period"] == 1
    back = hourly.with_rules(quarter)
    assert back.month_result(start).peaks == ()
    assert back.counts["dropped_period"] == 1


def test_old_states_without_a_period_are_hourly() -> None:
    tracker = _tracker_with(MONTH_HOURS, CapacityRules(), OSLO)
    saved = tracker.to_dict()
    assert saved["period_seconds"] == 3600
    del saved["period_seconds"]
    restored = CapacityTracker.from_dict(saved, CapacityRules(), OSLO)
    assert restored.month_result(datetime(2026, 1, 15, tzinfo=UTC)) == tracker.month_result(
        datetime(2026, 1, 15, tzinfo=UTC)
    )


_FIELDS = (
    "peaks",
    "one_per_day",
    "period_minutes",
    "months",
    "weekdays",
    "hours_from",
    "hours_to",
    "night_weight",
    "night_from",
    "night_to",
    "step_limits",
    "step_prices",
    "price_per_kw",
    "excluded_dates",
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.decimals(allow_nan=True)
)
_junk = _scalars | st.lists(_scalars, max_size=4) | st.dictionaries(st.text(max_size=3), _scalars)


@settings(max_examples=400)
@given(st.dictionaries(st.sampled_from(_FIELDS), _junk))
def test_any_mapping_gives_rules_or_a_named_error(options: dict[str, Any]) -> None:
    """Hand-edited or corrupt options never raise anything but `InvalidRulesError`."""
    problem: InvalidRulesError | None = None
    try:
        rules = rules_from_options(options)
    except InvalidRulesError as err:
        problem = err
    if problem is None:
        assert rules_from_options(rules_to_options(rules)) == rules
    else:
        assert problem.field in (*_FIELDS, "capacity_rules")
        assert isinstance(problem.problem, RuleProblem)
