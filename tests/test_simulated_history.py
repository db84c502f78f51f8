"""The demo's history path: a simulated meter replays its past over TCP, Home Assistant books it.

The HAN simulator (history of 3 days) sends the first client the list 3 of every past hour at
once. Every one of them must reach the hourly statistics and the capacity tracker, which is
only so when the reader starts after the sensors (and their tracker) listen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from homeassistant.components.recorder import Recorder
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
import pytest

from custom_components.amshan_corus.const import Connection
from custom_components.amshan_corus.protocol.han.decode import decode_any
from custom_components.amshan_corus.protocol.han.simulator import (
    AidonNoMeter,
    Cadence,
    HanSimulator,
)
from custom_components.amshan_corus.statistics import statistic_id
from tests.conftest import (
    AIDON_METER_ID,
    StatisticRow,
    meter_entry,
    sensor_state,
    setup_entry,
    statistic_rows,
    unload_entry,
    wait_until,
)

START = datetime(2026, 11, 18, 10, 29, 40, tzinfo=UTC)  # mid-hour: no boundary near it
HISTORY = timedelta(days=3)
SEED = 4
OSLO = ZoneInfo("Europe/Oslo")
IMPORT = statistic_id(AIDON_METER_ID, "active_power_import_total")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before `hass`, which enabling custom integrations sets up."""


@pytest.fixture
async def simulator(socket_enabled: None) -> AsyncIterator[HanSimulator]:
    server = HanSimulator(cadence=Cadence.FAST, seed=SEED, start_time=START, history=HISTORY)
    await server.start()
    yield server
    await server.stop()


def replayed() -> list[tuple[datetime, int]]:
    """(meter clock, import register in Wh) of each replayed list 3, from the decoded bytes."""
    frames = AidonNoMeter(START, seed=SEED).replay(HISTORY)
    result = []
    for moment, frame in frames:
        message = decode_any(frame)[0]
        register = message.value("active_power_import_total")
        assert message.value("meter_datetime") == moment
        assert isinstance(register, int)
        result.append((moment, register))
    return result


async def import_rows(hass: HomeAssistant) -> list[StatisticRow]:
    rows = await statistic_rows(hass, {IMPORT}, START - HISTORY - timedelta(hours=1))
    return rows.get(IMPORT, [])


async def test_replayed_history_reaches_statistics_and_capacity(
    recorder_mock: Recorder, hass: HomeAssistant, simulator: HanSimulator
) -> None:
    """72 hourly rows at the meter's hours with exact states and sums; this month's three
    peaks are the three highest days' largest hourly register differences."""
    await hass.config.async_set_time_zone("Europe/Oslo")
    history = replayed()
    assert len(history) == 72
    entry = meter_entry(Connection.HAN_TCP, **{CONF_HOST: "127.0.0.1", CONF_PORT: simulator.port})
    await setup_entry(hass, entry)
    await wait_until(lambda: simulator.frames_replayed == 72)
    await wait_until(
        lambda: (state := sensor_state(hass, entry, "capacity_peak_3")) is not None
        and state.state != "unknown"
    )

    rows = await import_rows(hass)
    first = history[0][1]
    assert rows == [
        (moment - timedelta(hours=1), register / 1000, (register - first) / 1000)
        for moment, register in history
    ]

    by_day: dict[date, int] = {}
    for (before, start), (after, end) in pairwise(history):
        assert after - before == timedelta(hours=1)
        day = before.astimezone(OSLO).date()
        by_day[day] = max(by_day.get(day, 0), end - start)
    peaks = sorted(by_day.values(), reverse=True)[:3]
    values = [sensor_state(hass, entry, f"capacity_peak_{rank}").state for rank in (1, 2, 3)]
    assert values == [f"{Decimal(peak) / 1000:.3f}" for peak in peaks]
    mean = Decimal(sum(peaks)) / 3000
    assert sensor_state(hass, entry, "capacity_peaks_mean").state == f"{mean:.3f}"
    await unload_entry(hass, entry)
