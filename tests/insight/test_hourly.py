"""Hourly statistic rows: which hour a register closes, gaps, repeats, glitches, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
import json
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.insight import (
    HourlyConfig,
    HourlyState,
    HourlyStatistics,
    NaiveDatetimeError,
    Outcome,
    StateFormatError,
    StatisticRow,
)

OSLO = ZoneInfo("Europe/Oslo")
D = Decimal


def oslo(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=OSLO, fold=fold)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_list3_after_the_hour_books_the_hour_before() -> None:
    engine = HourlyStatistics(HourlyConfig.electricity("Wh"))
    update = engine.add(oslo(2026, 1, 15, 14, 0, 10), 12_345_678)
    assert update.outcome is Outcome.BOOKED
    # 13:00 Oslo in winter is 12:00 UTC; 12 345 678 Wh is exactly 12 345.678 kWh.
    assert update.rows == (StatisticRow(utc(2026, 1, 15, 12), D("12345.678"), D(0), None, 1),)
    assert engine.config.output_unit == "kWh"

    update = engine.add(oslo(2026, 1, 15, 15, 0, 9), 12_347_178)
    assert update.rows == (
        StatisticRow(utc(2026, 1, 15, 13), D("12347.178"), D("1.500"), D("1.500"), 1),
    )
    assert update.rows[0].as_statistic_data() == {
        "start": utc(2026, 1, 15, 13),
        "state": 12347.178,
        "sum": 1.5,
    }


@pytest.mark.parametrize(
    ("clock", "start"),
    [
        ((13, 59, 58), utc(2026, 1, 15, 12)),  # meter 2 s slow: still the 14:00 register
        ((13, 55, 0), utc(2026, 1, 15, 12)),  # 5 min either side is the default tolerance
        ((14, 5, 0), utc(2026, 1, 15, 12)),
        ((14, 0, 0), utc(2026, 1, 15, 12)),  # DSMR 24.2.1 / Corus end_date: the period end
    ],
)
def test_clock_drift_maps_to_the_nearest_hour(clock: tuple[int, int, int], start: datetime) -> None:
    engine = HourlyStatistics()
    engine.add(oslo(2026, 1, 15, 13), 900)  # hourly pace: the next may come a bit early
    update = engine.add(oslo(2026, 1, 15, *clock), 1000)
    assert update.outcome is Outcome.BOOKED
    assert update.rows[0].start == start


@pytest.mark.parametrize("clock", [(13, 54, 59), (14, 5, 1), (14, 30, 0)])
def test_readings_between_hours_are_skipped(clock: tuple[int, int, int]) -> None:
    engine = HourlyStatistics()
    assert engine.add(oslo(2026, 1, 15, *clock), 1000).outcome is Outcome.BETWEEN_HOURS
    assert engine.state == HourlyState()
    assert engine.counts[Outcome.BETWEEN_HOURS] == 1


def test_dsmr_gas_five_minute_values_keep_only_the_hours() -> None:
    engine = HourlyStatistics(HourlyConfig.gas())
    rows = []
    for minute, value in [(0, "1000.100"), (5, "1000.150"), (55, "1000.400"), (60, "1000.500")]:
        rows += engine.add(oslo(2026, 2, 1, 10) + timedelta(minutes=minute), D(value)).rows
    assert engine.config.output_unit == "m³"
    assert rows == [
        StatisticRow(utc(2026, 2, 1, 8), D("1000.100"), D(0), None, 1),
        StatisticRow(utc(2026, 2, 1, 9), D("1000.500"), D("0.400"), D("0.400"), 1),
    ]
    assert engine.counts[Outcome.BETWEEN_HOURS] == 2


def test_corus_end_dates_from_float_index() -> None:
    engine = HourlyStatistics(HourlyConfig(unit="m3", tolerance=timedelta(0)))
    first = engine.add(utc(2026, 3, 1, 6), 4521.37).rows
    second = engine.add(utc(2026, 3, 1, 7), 4523.02).rows
    assert first[0].state == D("4521.37")  # floats go through str: no binary noise
    assert second[0].delta == D("1.65")
    assert engine.add(utc(2026, 3, 1, 7, 0, 1), 4523.05).outcome is Outcome.BETWEEN_HOURS


def test_total_in_every_message_is_taken_at_or_after_the_hour() -> None:
    engine = HourlyStatistics()
    moment, register, updates = oslo(2026, 1, 15, 13, 59, 33), 5000, []
    while moment <= oslo(2026, 1, 15, 15, 0, 13):
        updates.append((moment, engine.add(moment, register)))
        moment += timedelta(seconds=10)
        register += 1  # 1 Wh every 10 s
    booked = [(at, u.rows) for at, u in updates if u.outcome is Outcome.BOOKED]
    # Readings every 10 s: only the first at or after the hour is taken (13:59:53 is not).
    assert booked == [
        (
            oslo(2026, 1, 15, 14, 0, 3),
            (StatisticRow(utc(2026, 1, 15, 12), D("5.003"), D(0), None, 1),),
        ),
        (
            oslo(2026, 1, 15, 15, 0, 3),
            (StatisticRow(utc(2026, 1, 15, 13), D("5.363"), D("0.360"), D("0.360"), 1),),
        ),
    ]


def test_first_reading_after_start_is_never_taken_for_the_hour_ahead() -> None:
    engine = HourlyStatistics()
    assert engine.add(oslo(2026, 1, 15, 13, 59, 58), 1000).outcome is Outcome.BETWEEN_HOURS
    assert engine.add(oslo(2026, 1, 15, 14, 59, 58), 2000).outcome is Outcome.BOOKED


def _day(
    engine: HourlyStatistics, first: datetime, hours: int, per_hour: int
) -> list[StatisticRow]:
    rows: list[StatisticRow] = []
    for n in range(hours + 1):
        rows += engine.add(first + timedelta(hours=n, seconds=8), 1_000_000 + n * per_hour).rows
    return rows


def test_october_dst_day_has_25_distinct_hours() -> None:
    engine = HourlyStatistics()
    # 2026-10-25: 03:00 CEST becomes 02:00 CET in Oslo. Local midnight is 22:00 UTC the day before.
    rows = _day(engine, utc(2026, 10, 24, 22), 25, 1000)
    starts = [row.start for row in rows[1:]]
    assert len(set(starts)) == 25
    local_hours = [start.astimezone(OSLO).hour for start in starts]
    assert local_hours == [0, 1, 2, 2, *range(3, 24)]
    assert {start.astimezone(OSLO).date().day for start in starts} == {25}
    assert rows[-1].sum == D(25)


def test_march_dst_day_has_23_hours() -> None:
    engine = HourlyStatistics()
    rows = _day(engine, utc(2026, 3, 28, 23), 23, 500)
    local_hours = [row.start.astimezone(OSLO).hour for row in rows[1:]]
    assert local_hours == [0, 1, *range(3, 24)]
    assert rows[-1].sum == D("11.5")


def test_missed_hours_stay_missing_and_the_next_row_carries_them() -> None:
    engine = HourlyStatistics()
    engine.add(oslo(2026, 1, 15, 14), 10_000)
    engine.add(oslo(2026, 1, 15, 15), 11_000)
    update = engine.add(oslo(2026, 1, 15, 18), 15_500)  # 16:00 and 17:00 never arrived
    assert update.rows == (StatisticRow(utc(2026, 1, 15, 16), D("15.5"), D("5.5"), D("4.5"), 3),)


def test_repeated_hour_is_idempotent() -> None:
    engine = HourlyStatistics()
    engine.add(oslo(2026, 1, 15, 14), 10_000)
    engine.add(oslo(2026, 1, 15, 15), 11_000)
    # Aidon repeating the 15:00 list 3 an hour later: same meter clock, same register.
    assert engine.add(oslo(2026, 1, 15, 15), 11_000).outcome is Outcome.DUPLICATE
    assert engine.add(oslo(2026, 1, 15, 15, 0, 30), 11_002).outcome is Outcome.CONFLICT
    assert engine.add(oslo(2026, 1, 15, 14), 10_000).outcome is Outcome.STALE
    update = engine.add(oslo(2026, 1, 15, 16), 13_000)
    assert update.rows == (StatisticRow(utc(2026, 1, 15, 14), D(13), D(3), D(2), 1),)
    assert dict(engine.counts) == {
        Outcome.BOOKED: 3,
        Outcome.DUPLICATE: 1,
        Outcome.CONFLICT: 1,
        Outcome.STALE: 1,
    }


def test_restart_restores_state_and_never_counts_twice() -> None:
    engine = HourlyStatistics()
    engine.add(oslo(2026, 1, 15, 14), 10_000)
    engine.add(oslo(2026, 1, 15, 15), 11_250)
    saved = json.loads(json.dumps(engine.state.to_dict()))
    assert saved == {
        "version": 1,
        "last_start": "2026-01-15T13:00:00+00:00",
        "last_value": "11.250",
        "last_sum": "1.250",
        "pending_start": None,
        "pending_value": None,
    }
    restored = HourlyStatistics(state=HourlyState.from_dict(saved))
    # History replayed after the restart books nothing.
    assert restored.add(oslo(2026, 1, 15, 14), 10_000).outcome is Outcome.STALE
    assert restored.add(oslo(2026, 1, 15, 15), 11_250).outcome is Outcome.DUPLICATE
    update = restored.add(oslo(2026, 1, 15, 16), 12_000)
    assert update.rows == (
        StatisticRow(utc(2026, 1, 15, 14), D("12.000"), D("2.000"), D("0.750"), 1),
    )


def test_state_from_home_assistant_last_statistic() -> None:
    state = HourlyState(last_start=utc(2026, 1, 15, 14), last_value=D("11.25"), last_sum=D("812.5"))
    engine = HourlyStatistics(state=state)
    update = engine.add(oslo(2026, 1, 15, 17), 12_000)
    assert update.rows[0].sum == D("813.250")


def test_meter_replacement_starts_a_new_series_without_negative_sum() -> None:
    engine = HourlyStatistics(HourlyConfig.electricity("kWh"))
    engine.add(oslo(2026, 1, 15, 14), D("48213.20"))
    engine.add(oslo(2026, 1, 15, 15), D("48214.70"))
    # Meter swapped between 15:00 and 17:00; the new one has counted 3.1 kWh by 17:00.
    assert engine.add(oslo(2026, 1, 15, 17), D("3.10")) == _pending()
    update = engine.add(oslo(2026, 1, 15, 18), D("5.00"))
    assert update.outcome is Outcome.REPLACED
    assert update.rows == (
        StatisticRow(utc(2026, 1, 15, 15), D("3.10"), D("4.60"), D("3.10"), 2),
        StatisticRow(utc(2026, 1, 15, 16), D("5.00"), D("6.50"), D("1.90"), 1),
    )
    assert engine.state.pending_start is None


def _pending() -> object:
    from custom_components.amshan_corus.insight import HourlyUpdate

    return HourlyUpdate(Outcome.PENDING)


def test_register_replaced_by_a_higher_one_adds_nothing_for_the_swap() -> None:
    engine = HourlyStatistics(HourlyConfig.electricity("kWh"))
    engine.add(oslo(2026, 1, 15, 14), 100)
    assert engine.add(oslo(2026, 1, 15, 15), 90_000).outcome is Outcome.PENDING
    update = engine.add(oslo(2026, 1, 15, 16), 90_002)
    assert [(row.state, row.sum) for row in update.rows] == [(D(90000), D(0)), (D(90002), D(2))]


def test_single_glitches_are_rejected_and_counted() -> None:
    engine = HourlyStatistics(HourlyConfig.electricity("kWh"))
    engine.add(oslo(2026, 1, 15, 14), 1000)
    assert engine.add(oslo(2026, 1, 15, 15), 999).outcome is Outcome.GLITCH  # small step back
    assert engine.add(oslo(2026, 1, 15, 16), 901_000).outcome is Outcome.PENDING  # impossible
    update = engine.add(oslo(2026, 1, 15, 17), 1003)  # back on the old series
    assert update.rows == (StatisticRow(utc(2026, 1, 15, 15), D(1003), D(3), D(3), 3),)
    assert engine.add(oslo(2026, 1, 15, 18), 1).outcome is Outcome.PENDING  # far below: held
    assert engine.add(oslo(2026, 1, 15, 19), 1004).rows[0].sum == D(4)  # it was a glitch
    assert engine.counts[Outcome.GLITCH] == 3


def test_held_value_replaced_by_a_newer_implausible_one() -> None:
    engine = HourlyStatistics(HourlyConfig.electricity("kWh"))
    engine.add(oslo(2026, 1, 15, 14), 5000)
    assert engine.add(oslo(2026, 1, 15, 15), 2).outcome is Outcome.PENDING
    assert engine.add(oslo(2026, 1, 15, 15), 2).outcome is Outcome.DUPLICATE
    assert engine.add(oslo(2026, 1, 15, 16), 900_000).outcome is Outcome.PENDING
    assert engine.state.pending_value == D(900000)
    assert engine.counts[Outcome.GLITCH] == 1


@pytest.mark.parametrize("value", [0, -5, float("nan"), float("inf"), D("NaN")])
def test_invalid_values(value: float | Decimal) -> None:
    engine = HourlyStatistics()
    assert engine.add(oslo(2026, 1, 15, 14), value).outcome is Outcome.INVALID


def test_naive_timestamp_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        HourlyStatistics().add(datetime(2026, 1, 15, 14), 1000)


def test_bad_config_and_state() -> None:
    with pytest.raises(ValueError, match="unsupported unit"):
        HourlyConfig(unit="J")
    with pytest.raises(ValueError, match="tolerance"):
        HourlyConfig(tolerance=timedelta(minutes=30))
    with pytest.raises(StateFormatError, match="version"):
        HourlyState.from_dict({"version": 7})
    good = HourlyState(last_start=utc(2026, 1, 1), last_value=D(1)).to_dict()
    with pytest.raises(StateFormatError):
        HourlyState.from_dict({**good, "last_sum": "x"})
    with pytest.raises(StateFormatError):
        HourlyState.from_dict({**good, "last_value": None})
    with pytest.raises(StateFormatError):
        HourlyState.from_dict({**good, "last_start": "yesterday"})


# Property: whatever repeats and dropouts the stream has, booked energy equals the register's
# growth, rows are on the hour and strictly increasing, and a restart anywhere changes nothing.
_hours = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5000),  # Wh used in the hour
        st.sampled_from(["ok", "ok", "ok", "missing", "repeat", "late"]),
    ),
    min_size=1,
    max_size=60,
)


def _stream(hours: list[tuple[int, str]]) -> list[tuple[datetime, int]]:
    register, moment = 7_000_000, utc(2026, 10, 24, 20)
    observations = [(moment, register)]
    for used, kind in hours:
        moment += timedelta(hours=1)
        register += used
        if kind == "missing":
            continue
        observations.append((moment + timedelta(seconds=40 if kind == "late" else 5), register))
        if kind == "repeat":
            observations.append(observations[-1])
    return observations


@settings(max_examples=300)
@given(_hours, st.integers(min_value=0, max_value=80))
def test_property_sum_matches_register_and_restart_is_transparent(
    hours: list[tuple[int, str]], cut: int
) -> None:
    stream = _stream(hours)
    whole = HourlyStatistics(HourlyConfig.electricity())
    rows = [row for moment, value in stream for row in whole.add(moment, value).rows]

    first = HourlyStatistics(HourlyConfig.electricity())
    split = [row for moment, value in stream[:cut] for row in first.add(moment, value).rows]
    second = HourlyStatistics(
        HourlyConfig.electricity(),
        HourlyState.from_dict(json.loads(json.dumps(first.state.to_dict()))),
    )
    split += [row for moment, value in stream[cut:] for row in second.add(moment, value).rows]

    assert split == rows
    assert rows[-1].sum == (D(stream[-1][1]) - D(stream[0][1])) / 1000
    assert all(row.start.minute == 0 and row.start.second == 0 for row in rows)
    assert all(a.start < b.start and a.sum <= b.sum for a, b in pairwise(rows))


def test_corus_hourly_records_backfill_idempotently() -> None:
    # Records as the converter's hourly database returns them, through our Corus decoder.
    from custom_components.amshan_corus.protocol.corus.databases import (
        DatabaseRecord,
        get_layout,
        parse_records,
    )

    paris, pulse_weight = ZoneInfo("Europe/Paris"), D("0.01")
    layout = get_layout("hourly", 90)
    assert layout is not None
    raw = b"".join(
        layout.encode(
            {
                "record_duration": 60,
                "end_date": datetime(2026, 3, 1, 7 + n, tzinfo=paris),
                "start_date": datetime(2026, 3, 1, 6 + n, tzinfo=paris),
                "index_converted": D("4521.370") + n * D("1.655"),
                "index_unconverted": D(4000 + n),
            },
            pulse_weight,
            paris,
        )
        for n in range(3)
    )
    records = parse_records("hourly", 90, raw, pulse_weight, paris)
    engine = HourlyStatistics(HourlyConfig.gas())

    def backfill(part: list[DatabaseRecord]) -> list[StatisticRow]:
        rows: list[StatisticRow] = []
        for record in part:
            end, index = record.values["end_date"], record.values["index_converted"]
            assert isinstance(end, datetime)
            assert isinstance(index, Decimal)
            rows += engine.add(end, index).rows
        return rows

    assert backfill(records[:2]) == [
        StatisticRow(utc(2026, 3, 1, 5), D("4521.37"), D(0), None, 1),
        StatisticRow(utc(2026, 3, 1, 6), D("4523.025"), D("1.655"), D("1.655"), 1),
    ]
    # The next read starts again from the last record it has: only the new hour is booked.
    assert backfill(records[1:]) == [
        StatisticRow(utc(2026, 3, 1, 7), D("4524.68"), D("3.310"), D("1.655"), 1),
    ]
    assert engine.counts[Outcome.DUPLICATE] == 1


def test_kaifa_list3_through_the_han_decoder_books_13_to_14() -> None:
    # The real Kaifa MA304H3E list 3 of the shared vectors, stamped 14:00:10 by the meter.
    from custom_components.amshan_corus.protocol.han.decode import decode_any
    from tests.protocol.han.vectors import vector

    (message,) = decode_any(vector("kaifa_no_list3_info"))
    clock = message.readings["meter_datetime"].value
    total = message.readings["active_power_import_total"]
    assert isinstance(clock, datetime)
    assert isinstance(total.value, int)
    assert total.unit is not None
    engine = HourlyStatistics(HourlyConfig.electricity(total.unit))
    update = engine.add(clock, total.value)
    assert update.rows == (StatisticRow(utc(2020, 1, 25, 12), D("79591.144"), D(0), None, 1),)
    assert update.rows[0].start.astimezone(OSLO).hour == 13


# ------------------------------------------------------------------------------ increments


def test_corus_52_byte_consumptions_become_running_sums() -> None:
    # 52-byte hourly records carry no index, only each hour's consumption (x pulse weight).
    from custom_components.amshan_corus.protocol.corus.databases import get_layout, parse_records

    paris, pulse_weight = ZoneInfo("Europe/Paris"), D("0.01")
    layout = get_layout("hourly", 52)
    assert layout is not None
    used = {7: D("1.65"), 8: D("0.00"), 10: D("2.31")}  # no record ends at 09:00
    raw = b"".join(
        layout.encode(
            {
                "record_duration": 60,
                "end_date": datetime(2026, 3, 1, hour, tzinfo=paris),
                "start_date": datetime(2026, 3, 1, hour - 1, tzinfo=paris),
                "consumption_converted_hourly": amount,
                "consumption_unconverted_hourly": amount * 2,
            },
            pulse_weight,
            paris,
        )
        for hour, amount in used.items()
    )
    records = parse_records("hourly", 52, raw, pulse_weight, paris)
    engine = HourlyStatistics(HourlyConfig.gas())
    rows = []
    for record in [*records, records[1]]:  # the 08:00 record read twice
        end, amount = record.values["end_date"], record.values["consumption_converted_hourly"]
        assert isinstance(end, datetime)
        assert isinstance(amount, Decimal)
        rows += engine.add_increment(end, amount).rows
    # The first hour counts (its use is known); 09:00 is missing and adds nothing.
    assert rows == [
        StatisticRow(utc(2026, 3, 1, 5), D("1.65"), D("1.65"), D("1.65"), 1),
        StatisticRow(utc(2026, 3, 1, 6), D("1.65"), D("1.65"), D(0), 1),
        StatisticRow(utc(2026, 3, 1, 8), D("3.96"), D("3.96"), D("2.31"), 1),
    ]
    assert engine.counts[Outcome.STALE] == 1
    assert engine.counts[Outcome.BOOKED] == 3


def test_increment_duplicates_bad_amounts_and_restart() -> None:
    engine = HourlyStatistics(HourlyConfig(unit="m3", tolerance=timedelta(0), max_per_hour=D(50)))
    assert engine.add_increment(utc(2026, 1, 1, 1), D("0.5")).outcome is Outcome.BOOKED
    assert engine.add_increment(utc(2026, 1, 1, 1), D("0.7")).outcome is Outcome.DUPLICATE
    assert engine.add_increment(utc(2026, 1, 1, 0), D("0.7")).outcome is Outcome.STALE
    assert engine.add_increment(utc(2026, 1, 1, 2, 0, 1), 1).outcome is Outcome.BETWEEN_HOURS
    assert engine.add_increment(utc(2026, 1, 1, 2), -1).outcome is Outcome.INVALID
    assert engine.add_increment(utc(2026, 1, 1, 2), D("NaN")).outcome is Outcome.INVALID
    assert engine.add_increment(utc(2026, 1, 1, 2), 51).outcome is Outcome.INVALID
    with pytest.raises(NaiveDatetimeError):
        engine.add_increment(datetime(2026, 1, 1, 2), 1)
    # The state, as Home Assistant's last row gives it (state = sum = running total), continues.
    restored = HourlyStatistics(
        engine.config,
        HourlyState(last_start=utc(2026, 1, 1, 0), last_value=D("0.5"), last_sum=D("0.5")),
    )
    assert restored.add_increment(utc(2026, 1, 1, 1), D("0.5")).outcome is Outcome.DUPLICATE
    assert restored.add_increment(utc(2026, 1, 1, 2), 50).rows == (
        StatisticRow(utc(2026, 1, 1, 1), D("50.5"), D("50.5"), D(50), 1),
    )
    # Wh increments come out as kWh, exactly.
    energy = HourlyStatistics(HourlyConfig.electricity("Wh"))
    assert energy.add_increment(oslo(2026, 1, 1, 12, 0, 30), 1234).rows == (
        StatisticRow(utc(2026, 1, 1, 10), D("1.234"), D("1.234"), D("1.234"), 1),
    )


@settings(max_examples=300)
@given(_hours, st.integers(min_value=0, max_value=80))
def test_property_increment_sum_is_the_booked_hours_use_and_restart_is_transparent(
    hours: list[tuple[int, str]], cut: int
) -> None:
    moment, stream, present = utc(2026, 10, 24, 20), [], D(0)
    for used, kind in hours:
        moment += timedelta(hours=1)
        if kind == "missing":
            continue
        stream.append((moment, D(used) / 1000))
        present += D(used) / 1000
        if kind == "repeat":
            stream.append(stream[-1])
    whole = HourlyStatistics(HourlyConfig.gas())
    rows = [row for end, amount in stream for row in whole.add_increment(end, amount).rows]

    first = HourlyStatistics(HourlyConfig.gas())
    split = [row for end, amount in stream[:cut] for row in first.add_increment(end, amount).rows]
    second = HourlyStatistics(
        HourlyConfig.gas(), HourlyState.from_dict(json.loads(json.dumps(first.state.to_dict())))
    )
    split += [row for end, amount in stream[cut:] for row in second.add_increment(end, amount).rows]

    assert split == rows
    assert len(rows) == len({end for end, _ in stream})
    assert (rows[-1].sum if rows else D(0)) == present
    assert all(row.state == row.sum and row.hours == 1 for row in rows)
    assert all(a.start < b.start and a.sum <= b.sum for a, b in pairwise(rows))
