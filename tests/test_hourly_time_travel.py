"""Hourly statistics through the recorder across DST changes, gaps, repeats, restarts, a meter
replacement and a meter clock a few minutes off.

An Aidon 6525 (the simulator's list 3: its clock in Norwegian standard time, the registers in
10 Wh) sends over MQTT in Europe/Oslo while time is frozen. insight/hourly.py's rules: a
register at (or within 5 minutes of) a boundary B closes the hour [B-1h, B), its row starting
at B-1h in UTC; the first row is a baseline with sum 0; a missed hour gets no row and the next
row's sum takes the whole register difference; a repeated boundary adds nothing; a register
reset continues the sum from the new register's own count. Import rows are checked as
(UTC start, state kWh, sum kWh).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.amshan_corus.const import CONF_TOPICS, Connection
from custom_components.amshan_corus.protocol.han.simulator import AidonNoMeter
from custom_components.amshan_corus.statistics import statistic_id
from tests.conftest import (
    AIDON_METER_ID,
    StatisticRow,
    meter_entry,
    setup_entry,
    statistic_rows,
    unload_entry,
)
from tests.protocol.han.vectors import vector

TOPIC = "ams"
IMPORT = statistic_id(AIDON_METER_ID, "active_power_import_total")
EXPORT = statistic_id(AIDON_METER_ID, "active_power_export_total")
R0 = 22721380  # Wh: the import register of the first list 3 in every test (22721.38 kWh)
KWH = 22721.38

type Row = StatisticRow


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must exist before `hass`, which enabling custom integrations sets up."""


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


class Meter:
    """The simulated Aidon on MQTT; `list_3` sends its list 3 with a given clock and register."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer
        self.aidon = AidonNoMeter(utc(2026, 1, 1))
        self.entry = meter_entry(Connection.HAN_MQTT, **{CONF_TOPICS: [TOPIC]})

    async def start(self, moment: datetime) -> None:
        await self.hass.config.async_set_time_zone("Europe/Oslo")
        self.freezer.move_to(moment)
        await setup_entry(self.hass, self.entry)

    def frame(self, clock: datetime, import_wh: int) -> bytes:
        self.aidon.state.import_wh = import_wh
        return self.aidon.frame_at(clock, clock=True)

    async def send(self, arrival: datetime, frame: bytes) -> None:
        self.freezer.move_to(arrival)
        async_fire_mqtt_message(self.hass, TOPIC, frame)
        await self.hass.async_block_till_done()

    async def list_3(
        self, clock: datetime, import_wh: int, arrival: timedelta = timedelta(seconds=2)
    ) -> bytes:
        """List 3 stamped `clock` (the meter's), arriving `arrival` later; returns the frame."""
        frame = self.frame(clock, import_wh)
        await self.send(clock + arrival, frame)
        return frame

    async def rows(self, statistic: str = IMPORT) -> list[Row]:
        return await rows(self.hass, statistic)


async def rows(hass: HomeAssistant, statistic: str) -> list[Row]:
    """The statistic's hourly rows in the recorder, once it has written what is queued."""
    return (await statistic_rows(hass, {statistic}, utc(2025, 1, 1))).get(statistic, [])


async def test_spring_forward_rows_are_consecutive_utc_hours(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """29 March 2026, 02:00 CET -> 03:00 CEST: no local 02:00, no hole in the rows.

    List 3 at 23:00Z (00:00 CET), 00:00Z (01:00 CET), 01:00Z (03:00 CEST; the meter's clock
    says 02:00 standard time), 02:00Z and 03:00Z; the hours between use 1.10, 1.20, 1.30, 1.40
    kWh. Rows start an hour before each: 22:00Z (baseline) to 02:00Z, sums 0, 1.1, 2.3, 3.6,
    5.0. The row at 00:00Z is Oslo's 01:00-02:00 CET, the one at 01:00Z its 03:00-04:00 CEST.
    The export register does not move: its rows carry sum 0.
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 3, 28, 22, 30))
    register = R0
    for hour, wh in ((23, 0), (24, 1100), (25, 1200), (26, 1300), (27, 1400)):
        register += wh
        await meter.list_3(utc(2026, 3, 28) + timedelta(hours=hour), register)
    starts = [utc(2026, 3, 28, 22) + timedelta(hours=n) for n in range(5)]
    states = [KWH, 22722.48, 22723.68, 22724.98, 22726.38]
    assert await meter.rows() == list(zip(starts, states, [0.0, 1.1, 2.3, 3.6, 5.0], strict=True))
    assert await meter.rows(EXPORT) == [(start, 412.56, 0.0) for start in starts]
    await unload_entry(hass, meter.entry)


async def test_fall_back_repeated_local_hour_is_two_rows(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """25 October 2026, 03:00 CEST -> 02:00 CET: Oslo's 02:00-03:00 happens twice.

    List 3 at 23:00Z, 00:00Z (02:00 CEST), 01:00Z (02:00 CET), 02:00Z and 03:00Z; the hours
    between use 0.50, 2.00, 3.00, 0.70 kWh. Rows at 22:00Z (baseline), 23:00Z, 00:00Z (the
    first 02:00, 2.00 kWh) and 01:00Z (the second 02:00, 3.00 kWh), 02:00Z: sums 0, 0.5, 2.5,
    5.5, 6.2.
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 10, 24, 22, 30))
    register = R0
    for hour, wh in ((23, 0), (24, 500), (25, 2000), (26, 3000), (27, 700)):
        register += wh
        await meter.list_3(utc(2026, 10, 24) + timedelta(hours=hour), register)
    assert await meter.rows() == [
        (utc(2026, 10, 24, 22), KWH, 0.0),
        (utc(2026, 10, 24, 23), 22721.88, 0.5),
        (utc(2026, 10, 25, 0), 22723.88, 2.5),
        (utc(2026, 10, 25, 1), 22726.88, 5.5),
        (utc(2026, 10, 25, 2), 22727.58, 6.2),
    ]
    await unload_entry(hass, meter.entry)


async def test_gaps_stay_gaps_and_repeats_add_nothing(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A lost list 3 leaves its hour without a row; a repeated one books nothing.

    13 January 2026, registers at 10:00Z R0, 11:00Z +1.00, 12:00Z +2.20 (this list 3 is
    lost), 13:00Z +3.50, 14:00Z +4.90 (the meter sends 13:00Z's list 3 again instead),
    15:00Z +6.40 (delivered twice). Rows: 09:00Z baseline, 10:00Z sum 1.0, no 11:00Z, 12:00Z
    sum 3.5 (11:00-13:00Z, 2.50 kWh), no 13:00Z, 14:00Z sum 6.4 (13:00-15:00Z, 2.90 kWh).
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 1, 13, 9, 30))
    await meter.list_3(utc(2026, 1, 13, 10), R0)
    await meter.list_3(utc(2026, 1, 13, 11), R0 + 1000)
    at_13 = await meter.list_3(utc(2026, 1, 13, 13), R0 + 3500)
    await meter.send(utc(2026, 1, 13, 14, 0, 2), at_13)  # the previous hour's list 3 again
    at_15 = await meter.list_3(utc(2026, 1, 13, 15), R0 + 6400)
    await meter.send(utc(2026, 1, 13, 15, 0, 4), at_15)  # the same frame delivered twice
    assert await meter.rows() == [
        (utc(2026, 1, 13, 9), KWH, 0.0),
        (utc(2026, 1, 13, 10), 22722.38, 1.0),
        (utc(2026, 1, 13, 12), 22724.88, 3.5),
        (utc(2026, 1, 13, 14), 22727.78, 6.4),
    ]
    await unload_entry(hass, meter.entry)


async def test_restart_does_not_count_twice(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Unloaded at 11:30Z and set up again at 11:40Z, when the broker hands over the 11:00Z
    list 3 again (a retained message): no row, and 12:00Z continues the sum from the recorder.

    Registers R0 at 10:00Z, +1.20 at 11:00Z, +2.00 at 12:00Z: rows 09:00Z (0), 10:00Z (1.2),
    11:00Z (2.0), nothing more.
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 1, 13, 9, 30))
    await meter.list_3(utc(2026, 1, 13, 10), R0)
    at_11 = await meter.list_3(utc(2026, 1, 13, 11), R0 + 1200)
    freezer.move_to(utc(2026, 1, 13, 11, 30))
    await unload_entry(hass, meter.entry)
    freezer.move_to(utc(2026, 1, 13, 11, 40))
    await setup_entry(hass, meter.entry)
    await meter.send(utc(2026, 1, 13, 11, 40), at_11)
    await meter.list_3(utc(2026, 1, 13, 12), R0 + 2000)
    assert await meter.rows() == [
        (utc(2026, 1, 13, 9), KWH, 0.0),
        (utc(2026, 1, 13, 10), 22722.58, 1.2),
        (utc(2026, 1, 13, 11), 22723.38, 2.0),
    ]
    await unload_entry(hass, meter.entry)


async def test_meter_replacement_continues_the_sum(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """The meter is swapped after 11:00Z; the new one's register starts from 0.

    Old meter: R0 at 10:00Z, +1.50 at 11:00Z. New meter: 0.80 kWh at 12:00Z, 2.00 at 13:00Z,
    3.10 at 14:00Z, 4.00 at 15:00Z, 5.20 at 16:00Z. The coordinator's energy guard refuses a
    falling total twice and takes it the third time it is consistent (14:00Z); the hourly
    engine holds 3.10 as pending and, when 4.00 fits it, books the new register: the row at
    13:00Z adds the 3.10 kWh the new meter counted since the swap (what the old one counted
    after 11:00Z is unknown, nothing is invented for it), then 0.90 and 1.20. Rows: 09:00Z
    (0), 10:00Z (1.5), 13:00Z (3.10, sum 4.6), 14:00Z (4.00, 5.5), 15:00Z (5.20, 6.7): no
    negative sum, no spike.
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 1, 13, 9, 30))
    await meter.list_3(utc(2026, 1, 13, 10), R0)
    await meter.list_3(utc(2026, 1, 13, 11), R0 + 1500)
    for hour, wh in ((12, 800), (13, 2000), (14, 3100), (15, 4000), (16, 5200)):
        await meter.list_3(utc(2026, 1, 13, hour), wh)
    assert await meter.rows() == [
        (utc(2026, 1, 13, 9), KWH, 0.0),
        (utc(2026, 1, 13, 10), 22722.88, 1.5),
        (utc(2026, 1, 13, 13), 3.1, 4.6),
        (utc(2026, 1, 13, 14), 4.0, 5.5),
        (utc(2026, 1, 13, 15), 5.2, 6.7),
    ]
    await unload_entry(hass, meter.entry)


async def test_meter_clock_a_few_minutes_off_books_the_right_hour(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A meter clock within 5 minutes of the hour books that hour, either side; further off,
    the list 3 is skipped and its hour left to the next one.

    List 3 stamped 10:03:00Z (R0), 10:58:00 (+1.00), 12:04:30 (+2.10), 12:57:10 (+3.30),
    13:52:00 (+4.00: 8 min early, skipped), 15:01:00 (+5.50). Rows: 09:00Z baseline, 10:00Z
    (1.0), 11:00Z (2.1), 12:00Z (3.3), no 13:00Z, 14:00Z (5.5, 13:00-15:00Z).
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 1, 13, 9, 30))
    for clock, wh in (
        (utc(2026, 1, 13, 10, 3), 0),
        (utc(2026, 1, 13, 10, 58), 1000),
        (utc(2026, 1, 13, 12, 4, 30), 2100),
        (utc(2026, 1, 13, 12, 57, 10), 3300),
        (utc(2026, 1, 13, 13, 52), 4000),
        (utc(2026, 1, 13, 15, 1), 5500),
    ):
        await meter.list_3(clock, R0 + wh)
    assert await meter.rows() == [
        (utc(2026, 1, 13, 9), KWH, 0.0),
        (utc(2026, 1, 13, 10), 22722.38, 1.0),
        (utc(2026, 1, 13, 11), 22723.48, 2.1),
        (utc(2026, 1, 13, 12), 22724.68, 3.3),
        (utc(2026, 1, 13, 14), 22726.88, 5.5),
    ]
    await unload_entry(hass, meter.entry)


async def test_replacement_held_over_a_restart_keeps_the_total(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Restarted while the new meter's first register is held: the held value is not saved,
    the engine starts again from the last row and holds the next one; the total is the same.

    As in the replacement test, the guard takes the new meter at 14:00Z (3.10 kWh) and the
    engine holds it. Restart at 14:30Z: the guard continues from the restored 3.10, the engine
    from the 10:00Z row (sum 1.5). 4.00 at 15:00Z is held, 5.20 at 16:00Z confirms it: the row
    at 14:00Z adds the 4.00 kWh counted since the swap (sum 5.5), 15:00Z 1.20 (6.7), as many
    as without the restart; only the 13:00Z row, inside the unknown span, is not there.
    """
    meter = Meter(hass, freezer)
    await meter.start(utc(2026, 1, 13, 9, 30))
    await meter.list_3(utc(2026, 1, 13, 10), R0)
    await meter.list_3(utc(2026, 1, 13, 11), R0 + 1500)
    for hour, wh in ((12, 800), (13, 2000), (14, 3100)):
        await meter.list_3(utc(2026, 1, 13, hour), wh)
    freezer.move_to(utc(2026, 1, 13, 14, 30))
    await unload_entry(hass, meter.entry)
    await setup_entry(hass, meter.entry)
    for hour, wh in ((15, 4000), (16, 5200)):
        await meter.list_3(utc(2026, 1, 13, hour), wh)
    assert await meter.rows() == [
        (utc(2026, 1, 13, 9), KWH, 0.0),
        (utc(2026, 1, 13, 10), 22722.88, 1.5),
        (utc(2026, 1, 13, 14), 4.0, 5.5),
        (utc(2026, 1, 13, 15), 5.2, 6.7),
    ]
    await unload_entry(hass, meter.entry)


GAS = statistic_id("kaifa-p1", "gas_volume")


def p1_gas(stamp: str, m3: str) -> bytes:
    """The P1-03 readout (no CRC, which P1 allows) with its gas register `m3` at `stamp`."""
    return (
        vector("P1-03")
        .replace(b"(161129200000W)(00981.443*m3)", f"({stamp})({m3}*m3)".encode())
        .replace(b"!6796", b"!")
    )


async def test_gas_rows_across_both_dst_changes(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """DSMR gas stamps say S (summer) or W (winter) time, Amsterdam: rows start an hour before.

    Spring, 29 March 2026: 01:00W (00:00Z) 500.000 m3, 03:00S (01:00Z, the next hour) 500.125,
    04:00S (02:00Z) 500.375. Fall, 25 October 2026: 02:00S (00:00Z) 600.000, 02:00W (01:00Z)
    600.500, 03:00W (02:00Z) 601.250. Rows: 23:00Z, 00:00Z, 01:00Z in March, sums 0, 0.125,
    0.375; then the missed hours up to 24 October 23:00Z are one row with the whole difference
    (99.625, sum 100.0); 00:00Z 0.5 (100.5) and 01:00Z 0.75 (101.25).
    """
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    entry = meter_entry(Connection.HAN_MQTT, unique_id="kaifa-p1", **{CONF_TOPICS: ["p1"]})
    freezer.move_to(utc(2026, 3, 28, 23, 30))
    await setup_entry(hass, entry)
    for arrival, stamp, m3 in (
        (utc(2026, 3, 29, 0), "260329010000W", "00500.000"),
        (utc(2026, 3, 29, 1), "260329030000S", "00500.125"),
        (utc(2026, 3, 29, 2), "260329040000S", "00500.375"),
        (utc(2026, 10, 25, 0), "261025020000S", "00600.000"),
        (utc(2026, 10, 25, 1), "261025020000W", "00600.500"),
        (utc(2026, 10, 25, 2), "261025030000W", "00601.250"),
    ):
        freezer.move_to(arrival + timedelta(seconds=10))
        async_fire_mqtt_message(hass, "p1", p1_gas(stamp, m3))
        await hass.async_block_till_done()
    assert await rows(hass, GAS) == [
        (utc(2026, 3, 28, 23), 500.0, 0.0),
        (utc(2026, 3, 29, 0), 500.125, 0.125),
        (utc(2026, 3, 29, 1), 500.375, 0.375),
        (utc(2026, 10, 24, 23), 600.0, 100.0),
        (utc(2026, 10, 25, 0), 600.5, 100.5),
        (utc(2026, 10, 25, 1), 601.25, 101.25),
    ]
    await unload_entry(hass, entry)
