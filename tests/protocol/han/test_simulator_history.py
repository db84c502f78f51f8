"""The HAN simulator's history: the past hours' list 3 replayed to the first client, then live."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

import pytest

from custom_components.amshan_corus.insight.capacity import CapacityTracker
from custom_components.amshan_corus.protocol.han.decode import decode_any
from custom_components.amshan_corus.protocol.han.models import MeterMessage
from custom_components.amshan_corus.protocol.han.simulator import (
    AIDON_METER_ID,
    AidonNoMeter,
    Cadence,
    HanSimulator,
)
from custom_components.amshan_corus.protocol.han.stream import MeterStreamDecoder
from custom_components.amshan_corus.protocol.han.transport import open_tcp

pytestmark = pytest.mark.usefixtures("socket_enabled")

START = datetime(2026, 11, 18, 10, 59, 40, tzinfo=UTC)  # 11:59:40 meter time, a Wednesday
HISTORY = timedelta(days=3)
OSLO = ZoneInfo("Europe/Oslo")
REGISTERS = ("active_power_import_total", "active_power_export_total")


def decoded(frames: list[tuple[datetime, bytes]]) -> list[MeterMessage]:
    return [decode_any(frame)[0] for _, frame in frames]


def registers(message: MeterMessage) -> tuple[int, int]:
    values = tuple(message.value(key) for key in REGISTERS)
    assert all(isinstance(value, int) for value in values)
    return values  # type: ignore[return-value]


def test_replay_is_one_list3_per_past_hour_then_a_clock_at_the_live_start() -> None:
    meter = AidonNoMeter(START, seed=4)
    replay = meter.replay(HISTORY)
    # Every hour boundary in (START - 3 days, START): 2026-11-15 11:00 ... 2026-11-18 10:00 UTC.
    assert len(replay) == 72
    assert [t for t, _ in replay] == [
        datetime(2026, 11, 15, 11, tzinfo=UTC) + timedelta(hours=n) for n in range(72)
    ]
    messages = decoded(replay)
    first, last = messages[0], messages[-1]
    # The clock element of the first frame, as the bytes say: 2026-11-15 12:00:00 meter time
    # (Sunday, ISO weekday 7), deviation 0, which Aidon NO means as UTC+1.
    assert bytes.fromhex("07ea0b0f070c0000ff000000") in replay[0][1]
    assert first.value("meter_datetime") == datetime(2026, 11, 15, 11, tzinfo=UTC)
    assert last.value("meter_datetime") == datetime(2026, 11, 18, 10, tzinfo=UTC)
    assert all(m.value("meter_id") == AIDON_METER_ID for m in messages)
    # Registers start from the model's (import 22 721 380 Wh, export 412 560 Wh) 20 s before
    # the first boundary (at most 9 kW: 50 Wh), read in 10 Wh steps, and never go back.
    import_0, export_0 = registers(first)
    assert 22_721_380 <= import_0 <= 22_721_380 + 50
    assert 412_560 <= export_0 <= 412_560 + 50
    series = [registers(m) for m in messages]
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in pairwise(series))
    assert all(value % 10 == 0 for pair in series for value in pair)
    # The live stream continues from the replayed registers; its first frame carries the clock.
    stream = meter.frames()
    live = [next(stream)]
    live_start = decode_any(live[0][1])[0]
    assert live[0][0] == START
    assert live_start.value("meter_datetime") == START
    assert registers(live_start) == (
        int(meter.state.import_wh // 10) * 10,
        int(meter.state.export_wh // 10) * 10,
    )
    assert registers(last) <= registers(live_start)
    live += islice(stream, 11)
    on_the_hour = decode_any(live[10][1])[0]  # 11:00:00 UTC: list 3 again, in its place
    assert live[10][0] == datetime(2026, 11, 18, 11, tzinfo=UTC)
    assert on_the_hour.value("meter_datetime") == live[10][0]
    assert registers(live_start) <= registers(on_the_hour)
    assert all("meter_datetime" not in decode_any(f)[0].readings for _, f in live[1:10])


def test_replay_is_deterministic_with_a_seed() -> None:
    def frames(seed: int) -> list[bytes]:
        meter = AidonNoMeter(START, seed=seed)
        return [f for _, f in meter.replay(HISTORY)] + [f for _, f in islice(meter.frames(), 3)]

    assert frames(4) == frames(4)
    assert frames(4) != frames(5)


def test_replayed_days_look_like_a_household() -> None:
    """Night low, morning and evening peaks, solar export around midday (meter time)."""
    meter = AidonNoMeter(START, seed=4)
    messages = decoded(meter.replay(HISTORY))
    imported: dict[int, list[int]] = defaultdict(list)
    exported: dict[int, list[int]] = defaultdict(list)
    for before, after in pairwise(messages):
        clock = before.value("meter_datetime")
        assert isinstance(clock, datetime)
        hour = (clock + timedelta(hours=1)).hour  # meter time (UTC+1) of the hour's start
        (import_0, export_0), (import_1, export_1) = registers(before), registers(after)
        imported[hour].append(import_1 - import_0)
        exported[hour].append(export_1 - export_0)

    def mean(values: list[int]) -> float:
        return sum(values) / len(values)

    night = mean([e for h in (1, 2, 3, 4) for e in imported[h]])
    morning = mean([e for h in (7, 8) for e in imported[h]])
    evening = mean([e for h in (17, 18, 19) for e in imported[h]])
    assert 300 < night < 1000  # Wh in an hour
    assert morning > 2 * night
    assert evening > 3 * night
    assert all(e == 0 for h in range(24) if not 7 <= h < 19 for e in exported[h])
    assert all(e > 0 for h in (11, 12, 13) for e in exported[h])
    assert all(e < 200 for h in (11, 12, 13) for e in imported[h])


def test_capacity_peaks_of_the_replayed_days() -> None:
    """Fed to the capacity tracker as the integration does, the replay gives the month's peaks:
    each local day's largest hourly register difference, the top three."""
    meter = AidonNoMeter(START, seed=4)
    replay = meter.replay(HISTORY)
    tracker = CapacityTracker(timezone=OSLO)
    by_day: dict[date, Decimal] = {}
    previous: tuple[datetime, int] | None = None
    for moment, frame in [*replay, next(meter.frames())]:
        message = decode_any(frame)[0]
        power, register = message.value("active_power_import"), registers(message)[0]
        assert isinstance(power, int)
        tracker.add_power(moment, power, "W")
        tracker.add_register(moment, register, "Wh")
        if previous is not None and moment.minute == 0:
            day = previous[0].astimezone(OSLO).date()
            energy = Decimal(register - previous[1]) / 1000
            by_day[day] = max(by_day.get(day, Decimal(0)), energy)
        previous = moment, register
    result = tracker.month_result(START)
    expected = sorted(by_day.values(), reverse=True)[:3]
    assert [peak.value_kw for peak in result.peaks] == expected
    assert all(peak.exact for peak in result.peaks)
    assert result.mean_kw == sum(expected) / 3
    assert 2 < result.mean_kw < 6


async def _read(port: int, count: int) -> list[MeterMessage]:
    source = await open_tcp("127.0.0.1", port)
    decoder = MeterStreamDecoder()
    messages: list[MeterMessage] = []
    async with source:
        while len(messages) < count:
            messages += decoder.feed(await source.read())
    assert decoder.rejected == 0
    return messages


async def test_server_replays_to_the_first_client_only() -> None:
    """The first client gets 72 past hours, the clock at the live start, then the live stream
    (the 11:00 list 3 after ten ticks); a later client gets the live stream only. Registers
    never go back for either."""
    simulator = HanSimulator(cadence=Cadence.FAST, seed=4, start_time=START, history=HISTORY)
    await simulator.start()
    try:
        first = await _read(simulator.port, 72 + 1 + 10)
        second = await _read(simulator.port, 40)
    finally:
        await simulator.stop()
    assert simulator.frames_replayed == 72
    assert simulator.clients == 0
    clocks = [m.value("meter_datetime") for m in first]
    assert clocks[:72] == [
        datetime(2026, 11, 15, 11, tzinfo=UTC) + timedelta(hours=n) for n in range(72)
    ]
    assert clocks[72] == START
    assert clocks[73:82] == [None] * 9
    assert clocks[82] == datetime(2026, 11, 18, 11, tzinfo=UTC)
    first_registers = [registers(m) for m in first if "meter_datetime" in m.readings]
    assert first_registers == sorted(first_registers)
    # The later client joined the live stream in the middle of the hour: no past list 3.
    assert len(second) == 40
    assert all("meter_datetime" not in m.readings for m in second)


async def test_server_with_history_stops_before_any_client() -> None:
    simulator = HanSimulator(cadence=Cadence.FAST, seed=4, history=HISTORY)
    await simulator.start()
    await asyncio.sleep(0.05)
    await simulator.stop()
    assert simulator.frames_sent == 0
    assert simulator.frames_replayed == 0


def test_history_needs_the_built_in_meter() -> None:
    with pytest.raises(ValueError, match="a capture has none"):
        HanSimulator(capture=b"\x7e\x7e", history=HISTORY)
    with pytest.raises(ValueError, match="negative"):
        HanSimulator(history=timedelta(hours=-1))
