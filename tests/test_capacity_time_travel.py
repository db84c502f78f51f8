"""Capacity-tariff sensors through Home Assistant across hour, day, month and DST boundaries.

An Aidon 6525 (the simulator's lists, Norwegian standard time on its clock) sends over MQTT
while time is frozen at each frame. The time zone is Europe/Oslo: a period is a UTC hour, its
day and month are Oslo's. The expected values are worked out by hand in each test from the
registers and powers it sends (list 3 registers count in 10 Wh; every hour's kWh below is a
multiple of that). Rules are Norway's: 3 peaks a month on different days, steps 0-2-5-10 kW
numbered from 1 (the sensor), so a month's 3 peaks summing to 6 kW or more are step 2.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message

from custom_components.amshan_corus.const import CONF_TOPICS, Connection
from custom_components.amshan_corus.protocol.han.simulator import AidonNoMeter
from tests.conftest import meter_entry, setup_entry, unload_entry
from tests.test_capacity_sensors import TOPIC, value_of

HOUR = timedelta(hours=1)
REGISTER_WH = 22721380  # the simulator's import register at the start of every test


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


SENSORS = (
    "capacity_energy_this_hour",
    "capacity_estimated_hour",
    "capacity_peaks_mean",
    "capacity_step",
    "capacity_headroom",
    "capacity_peak_1",
    "capacity_peak_2",
    "capacity_peak_3",
    "capacity_peak_1_hour",
)


def sensors(hass: HomeAssistant) -> dict[str, str | None]:
    """The state of each capacity sensor of Norway's rule."""
    return {key: value_of(hass, key) for key in SENSORS}


class Meter:
    """The simulated Aidon: frames are sent at frozen times; registers and power are set here."""

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory, first: datetime):
        self.hass = hass
        self.freezer = freezer
        self.aidon = AidonNoMeter(first)
        self.aidon.state.import_wh = REGISTER_WH
        self.entry = meter_entry(Connection.HAN_MQTT, **{CONF_TOPICS: [TOPIC]})

    async def start(self, moment: datetime) -> None:
        await self.hass.config.async_set_time_zone("Europe/Oslo")
        self.freezer.move_to(moment)
        await setup_entry(self.hass, self.entry)

    async def send(
        self, moment: datetime, frame: bytes | None = None, *, late: timedelta = timedelta(0)
    ) -> None:
        """The frame due at `moment` on the meter's clock (list 3 on the hour, else power), or
        `frame`, arriving `late` after it (a meter clock that slow)."""
        self.freezer.move_to(moment + late)
        async_fire_mqtt_message(self.hass, TOPIC, frame or self.aidon.frame_at(moment))
        await self.hass.async_block_till_done()

    async def hour(
        self,
        start: datetime,
        wh: int,
        *,
        every: timedelta | None = None,
        until: datetime | None = None,
    ) -> bytes:
        """An hour using `wh` at a steady `wh` W: list 3 at `start` with the register so far,
        then (with `every`) power frames every `every` until `until` (default: the hour's end);
        the register counts the hour's `wh`. Returns the list 3 frame."""
        self.aidon.state.power_w = wh
        list_3 = self.aidon.frame_at(start)
        await self.send(start, list_3)
        if every is not None:
            moment, end = start + every, until or start + HOUR
            while moment < end:
                await self.send(moment)
                moment += every
        self.aidon.state.import_wh += wh
        return list_3


EMPTY_MONTH = {
    "capacity_peaks_mean": "0.000",
    "capacity_step": "1",
    "capacity_peak_1": "unknown",
    "capacity_peak_2": "unknown",
    "capacity_peak_3": "unknown",
    "capacity_peak_1_hour": "unknown",
}


async def test_hour_and_local_day_boundaries(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """The register difference makes the hour; a local day has one peak, and the Oslo day
    changes at 23:00 UTC.

    Tuesday 2026-01-13 (Oslo = UTC+1):
    - 16:00Z (17-18 Oslo): power 3.6 kW all hour, but the registers differ by 4.00 kWh: 4.000.
    - 17:00Z (18-19 Oslo): 5.00 kWh; same day, so 4.000 is no longer counted.
    - 18:00-22:00Z the meter is silent while 1.00 kWh is used: no period is invented.
    - 22:00Z (23-24 Oslo, still 13 January): 2.00 kWh, below the day's 5.000.
    - 23:00Z (00-01 Oslo, 14 January; still 13 January in UTC): 3.00 kWh, a new day's peak.
    Peaks 5.000 + 3.000 = 8 kW >= 6: mean 2.667, step 2.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 16))
    await meter.start(utc(2026, 1, 13, 16))
    every = timedelta(minutes=4)
    meter.aidon.state.power_w = 3600
    await meter.send(utc(2026, 1, 13, 16))
    for minute in range(4, 60, 4):
        await meter.send(utc(2026, 1, 13, 16, minute))
    # 56 min at 3.6 kW = 3.360 kWh so far; 4 min more at 3.6 kW makes 3.600.
    assert value_of(hass, "capacity_energy_this_hour") == "3.360"
    assert value_of(hass, "capacity_estimated_hour") == "3.600"
    meter.aidon.state.import_wh += 4000

    await meter.hour(utc(2026, 1, 13, 17), 5000, every=every, until=utc(2026, 1, 13, 17, 5))
    # At 17:00:00 the hour just begun has used nothing; 16:00Z is closed with the registers.
    await meter.send(utc(2026, 1, 13, 17, 4, 2))
    assert value_of(hass, "capacity_peak_1") == "4.000"
    assert value_of(hass, "capacity_peak_1_hour") == "2026-01-13T16:00:00+00:00"
    # 4 min 2 s at 5 kW = 0.336 kWh (0.33611).
    assert value_of(hass, "capacity_energy_this_hour") == "0.336"

    await meter.hour(utc(2026, 1, 13, 18), 0)  # the list 3 at 18:00 (0 W) closes 17:00Z
    # Headroom of 18:00Z (same day as 5.000): step 1 holds while the month's 3 peaks stay
    # under 3 x 2 kW = 6: 5.999 kWh in the hour left.
    assert sensors(hass) == {
        "capacity_energy_this_hour": "0.000",
        "capacity_estimated_hour": "0.000",
        "capacity_peaks_mean": "1.667",  # 5 / 3
        "capacity_step": "1",
        "capacity_headroom": "5.999",
        "capacity_peak_1": "5.000",
        "capacity_peak_2": "unknown",  # 4.000 is on the same day
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-13T17:00:00+00:00",
    }

    meter.aidon.state.import_wh += 1000  # used while the meter was silent
    await meter.hour(utc(2026, 1, 13, 22), 2000)
    await meter.hour(utc(2026, 1, 13, 23), 3000)
    await meter.hour(utc(2026, 1, 14, 0), 0)
    # Headroom of 00:00Z (14 January, whose 3.000 it may replace): step 2 holds while
    # 5 + V < 3 x 5 kW, V up to 9.999 kWh.
    assert sensors(hass) == {
        "capacity_energy_this_hour": "0.000",
        "capacity_estimated_hour": "0.000",
        "capacity_peaks_mean": "2.667",  # (5 + 3) / 3
        "capacity_step": "2",
        "capacity_headroom": "9.999",
        "capacity_peak_1": "5.000",
        "capacity_peak_2": "3.000",
        "capacity_peak_3": "unknown",  # 22:00Z's 2.000 is on 13 January with 5.000
        "capacity_peak_1_hour": "2026-01-13T17:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_month_boundary_starts_empty(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """February begins at 23:00 UTC on 31 January; January's peak does not leak into it.

    - 31 Jan 20:00Z (21-22 Oslo): 6.00 kWh; 21:00Z 1.00; 22:00Z (23-24 Oslo) 2.00: January's
      one day gives one peak, 6.000, mean 2.000, step 2 (6 kW >= 3 x 2 kW).
    - 31 Jan 23:00Z is 1 February 00:00 in Oslo: the month is empty at its list 3.
    - That hour uses 1.50 kWh: February's peak 1.500, mean 0.500, step 1.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 31, 20))
    await meter.start(utc(2026, 1, 31, 20))
    for hour, wh in ((20, 6000), (21, 1000), (22, 2000)):
        await meter.hour(utc(2026, 1, 31, hour), wh)
    # Just before midnight in Oslo: a power reading at 22:59Z (23:59 Oslo).
    await meter.send(utc(2026, 1, 31, 22, 59))
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "2.000",
        "capacity_step": "2",
        "capacity_peak_1": "6.000",
        "capacity_peak_2": "unknown",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-31T20:00:00+00:00",
    }

    await meter.hour(utc(2026, 1, 31, 23), 1500)
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == EMPTY_MONTH
    await meter.hour(utc(2026, 2, 1, 0), 0)
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "0.500",
        "capacity_step": "1",
        "capacity_peak_1": "1.500",
        "capacity_peak_2": "unknown",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-31T23:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_spring_forward_day_has_23_hours(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """29 March 2026: Oslo goes from 02:00 CET to 03:00 CEST; that day is 28 Mar 23:00Z to
    29 Mar 22:00Z (23 hours).

    Every hour from 28 Mar 22:00Z to 29 Mar 22:00Z uses 0.50 kWh except:
    - 28 Mar 22:00Z (23:00 CET, 28 March): 2.00: the 28th's peak.
    - 29 Mar 00:00Z (01:00 CET) 3.00 and 01:00Z (03:00 CEST, the next hour on the clock)
      4.00: both 29 March, so only 4.000 counts.
    - 29 Mar 21:00Z (23:00 CEST, still the 29th) 3.50: not counted either.
    - 29 Mar 22:00Z (00:00 CEST, 30 March): 2.50: the 30th's peak.
    Peaks 4.000 + 2.500 + 2.000 = 8.5: mean 2.833, step 2.
    """
    first = utc(2026, 3, 28, 22)
    meter = Meter(hass, freezer, first)
    await meter.start(first)
    special = {
        utc(2026, 3, 28, 22): 2000,
        utc(2026, 3, 29, 0): 3000,
        utc(2026, 3, 29, 1): 4000,
        utc(2026, 3, 29, 21): 3500,
        utc(2026, 3, 29, 22): 2500,
    }
    start = first
    while start <= utc(2026, 3, 29, 23):
        await meter.hour(start, special.get(start, 500))
        start += HOUR
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "2.833",
        "capacity_step": "2",
        "capacity_peak_1": "4.000",
        "capacity_peak_2": "2.500",
        "capacity_peak_3": "2.000",
        "capacity_peak_1_hour": "2026-03-29T01:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_fall_back_repeated_hour_is_two_periods_of_one_day(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """25 October 2026: Oslo's 02:00-03:00 comes twice (00:00Z in CEST, 01:00Z in CET); that
    day is 24 Oct 22:00Z to 25 Oct 23:00Z (25 hours).

    Every hour from 24 Oct 21:00Z to 25 Oct 23:00Z uses 0.50 kWh except:
    - 24 Oct 21:00Z (23:00 CEST, 24 October): 3.00.
    - 25 Oct 00:00Z (the first 02:00) 4.00 and 01:00Z (the second 02:00) 5.00: two periods,
      not one of 9.00, and of one day: only 5.000 counts.
    - 25 Oct 22:00Z (23:00 CET, still the 25th) 4.50: not counted.
    - 25 Oct 23:00Z (00:00 CET, 26 October) 2.00.
    Peaks 5.000 + 3.000 + 2.000 = 10: mean 3.333, step 2.
    """
    first = utc(2026, 10, 24, 21)
    meter = Meter(hass, freezer, first)
    await meter.start(first)
    special = {
        utc(2026, 10, 24, 21): 3000,
        utc(2026, 10, 25, 0): 4000,
        utc(2026, 10, 25, 22): 4500,
        utc(2026, 10, 25, 23): 2000,
    }
    start = first
    while start < utc(2026, 10, 25, 1):
        await meter.hour(start, special.get(start, 500))
        start += HOUR
    # The second 02:00 hour, with power every 4 minutes: only its own energy is this hour's.
    await meter.hour(start, 5000, every=timedelta(minutes=4), until=utc(2026, 10, 25, 1, 29))
    assert value_of(hass, "capacity_energy_this_hour") == "2.333"  # 28 min at 5 kW
    assert value_of(hass, "capacity_peak_1") == "4.000"  # the first 02:00 hour
    assert value_of(hass, "capacity_peak_1_hour") == "2026-10-25T00:00:00+00:00"
    for minute in range(32, 60, 4):
        await meter.send(start + timedelta(minutes=minute))
    start += HOUR
    while start <= utc(2026, 10, 26, 0):
        await meter.hour(start, special.get(start, 500))
        start += HOUR
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "3.333",
        "capacity_step": "2",
        "capacity_peak_1": "5.000",
        "capacity_peak_2": "3.000",
        "capacity_peak_3": "2.000",
        "capacity_peak_1_hour": "2026-10-25T01:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_missed_list_3_is_shared_by_the_power_estimates(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """The 23:00Z list 3 is lost: the registers of 22:00Z and 00:00Z span two hours, shared in
    proportion to what power said each hour used.

    Power every 90 s: 1 kW from 22:00Z to 22:58:30, 3 kW from 23:01:30 to 00:00Z (the
    trapezoid rule makes it linear in between, 1.5 kW average on each side of 23:00).
    - 22:00Z (23-24 Oslo, 13 January): 58.5 min at 1 kW + 1.5 min at 1.5 kW = 1.0125 kWh.
    - 23:00Z (00-01 Oslo, 14 January): 1.5 min at 2.5 kW + 58.5 min at 3 kW = 2.9875 kWh.
    The registers say 4.80 kWh, x 1.2: 1.215 and 3.585, on two days: mean 4.8 / 3 = 1.600.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 22))
    await meter.start(utc(2026, 1, 13, 22))
    every = timedelta(seconds=90)
    await meter.hour(utc(2026, 1, 13, 22), 1000, every=every)
    meter.aidon.state.power_w = 3000
    moment = utc(2026, 1, 13, 23) + every  # the list 3 due at 23:00:00 never comes
    while moment < utc(2026, 1, 14, 0):
        await meter.send(moment)
        moment += every
    # Meanwhile 22:00Z is closed with its estimate 1.0125 (shown half-even to Wh).
    assert value_of(hass, "capacity_peak_1") == "1.012"
    meter.aidon.state.import_wh = REGISTER_WH + 4800
    await meter.send(utc(2026, 1, 14, 0))
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "1.600",
        "capacity_step": "1",
        "capacity_peak_1": "3.585",
        "capacity_peak_2": "1.215",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-13T23:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


@pytest.mark.parametrize("new_clock", [False, True], ids=["old_clock", "new_clock"])
async def test_duplicated_and_repeated_list_3(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory, new_clock: bool
) -> None:
    """The 22:00Z list 3 arrives twice; at 23:00Z the meter repeats it instead of sending a
    new one: the same frame (its 22:00 clock), or its registers under a 23:00 clock (as a
    list stamped on arrival would look). Neither counts twice or moves the clock back.

    - 21:00Z (22-23 Oslo, 13 January): 1.00 kWh at 1 kW, exact from the registers.
    - 22:00Z (23-24 Oslo, 13 January): 3 kW all hour (the repeat at 23:00 says 3 kW too):
      estimate 3.000 kWh; the registers count 3.00.
    - 23:00Z (00-01 Oslo, 14 January): 1 kW from 23:04, linear from the repeat's 3 kW at
      23:00: 4 min at 2 kW + 56 min at 1 kW = 16/15 kWh; the registers count 1.00.
    The 00:00Z list 3 closes 22:00Z and 23:00Z with the registers' 4.00 kWh, shared 3 : 16/15,
    i.e. x 60/61: 22:00Z 180/61 = 2.9508 -> 2.950 (whole Wh down), 23:00Z the rest, 1.050.
    Days: 13 January max(1.000, 2.950), 14 January 1.050; mean 4.000 / 3 = 1.333.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 21))
    await meter.start(utc(2026, 1, 13, 21))
    every = timedelta(minutes=4)
    await meter.hour(utc(2026, 1, 13, 21), 1000, every=every)
    meter.aidon.state.power_w = 3000
    list_3 = meter.aidon.frame_at(utc(2026, 1, 13, 22))
    await meter.send(utc(2026, 1, 13, 22), list_3)
    await meter.send(utc(2026, 1, 13, 22, 0, 2), list_3)  # delivered twice
    for minute in range(4, 60, 4):
        await meter.send(utc(2026, 1, 13, 22, minute))
    assert value_of(hass, "capacity_peak_1") == "1.000"
    assert value_of(hass, "capacity_energy_this_hour") == "2.800"  # 56 min at 3 kW
    repeat = meter.aidon.frame_at(utc(2026, 1, 13, 23)) if new_clock else list_3
    meter.aidon.state.import_wh += 3000

    await meter.send(utc(2026, 1, 13, 23), repeat)  # the meter repeats 22:00's registers
    assert value_of(hass, "capacity_energy_this_hour") == "0.000"
    assert value_of(hass, "capacity_peak_1") == "3.000"  # 22:00Z by its power, for now
    meter.aidon.state.power_w = 1000
    for minute in range(4, 60, 4):
        await meter.send(utc(2026, 1, 13, 23, minute))
    # 23:00Z so far: 4 min at 2 kW + 52 min at 1 kW = 1.000 kWh (60/60).
    assert value_of(hass, "capacity_energy_this_hour") == "1.000"
    meter.aidon.state.import_wh += 1000
    await meter.send(utc(2026, 1, 14, 0))
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "1.333",
        "capacity_step": "1",
        "capacity_peak_1": "2.950",
        "capacity_peak_2": "1.050",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-13T22:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_restart_mid_hour_continues_the_hour(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Unload and set up again mid-hour: the running hour goes on from the Store.

    - 09:00Z (10-11 Oslo, 13 January): 2.4 kW; restart between 09:28 and 09:32 (power every
      4 minutes, so no gap over 5 minutes): 28 min = 1.120 kWh before, 32 min = 1.280 after,
      not 1.120 + 1.280. At setup the broker hands over the 09:00 list 3 again (retained): it
      neither sets the meter time back half an hour nor counts. The registers say 2.40: the
      peak is 2.400.
    - 10:00Z: 3.00 kWh by the registers; a restart from 10:21 to 10:44 leaves a 24-minute hole
      in the power readings: the hour's energy is unknown (never counted low) until the
      11:00Z list 3 makes it exact: 3.000, the day's peak.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 9))
    await meter.start(utc(2026, 1, 13, 9))
    every = timedelta(minutes=4)
    at_9 = await meter.hour(utc(2026, 1, 13, 9), 2400, every=every, until=utc(2026, 1, 13, 9, 29))
    assert value_of(hass, "capacity_energy_this_hour") == "1.120"
    freezer.move_to(utc(2026, 1, 13, 9, 29))
    await unload_entry(hass, meter.entry)
    freezer.move_to(utc(2026, 1, 13, 9, 31))
    await setup_entry(hass, meter.entry)
    assert value_of(hass, "capacity_energy_this_hour") == "1.120"  # as of 09:28
    await meter.send(utc(2026, 1, 13, 9, 31), at_9)
    for minute in range(32, 60, 4):
        await meter.send(utc(2026, 1, 13, 9, minute))
        if minute == 32:
            assert value_of(hass, "capacity_energy_this_hour") == "1.280"
    await meter.hour(utc(2026, 1, 13, 10), 3000, every=every, until=utc(2026, 1, 13, 10, 21))
    assert value_of(hass, "capacity_peak_1") == "2.400"
    assert value_of(hass, "capacity_energy_this_hour") == "1.000"  # 20 min at 3 kW
    await unload_entry(hass, meter.entry)
    freezer.move_to(utc(2026, 1, 13, 10, 40))
    await setup_entry(hass, meter.entry)
    for minute in range(44, 60, 4):
        await meter.send(utc(2026, 1, 13, 10, minute))
    assert value_of(hass, "capacity_energy_this_hour") == "unknown"
    assert value_of(hass, "capacity_estimated_hour") == "unknown"
    assert value_of(hass, "capacity_headroom") == "unknown"
    assert value_of(hass, "capacity_peak_1") == "2.400"
    await meter.hour(utc(2026, 1, 13, 11), 0)
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "1.000",  # 3 / 3
        "capacity_step": "1",
        "capacity_peak_1": "3.000",
        "capacity_peak_2": "unknown",  # 2.400 is on the same day
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-13T10:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_a_whole_month_by_hand(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """January 2026 hour by hour (list 3 only, the registers make every hour), then the
    headroom in its last hour.

    Every hour uses 1.00 kWh except (UTC starts, Oslo = UTC+1):
    - 31 Dec 22:00Z (23:00, 31 December): 9.00: December's, not January's.
    - 7 Jan 16:00Z 4.20 and 17:00Z 4.80: one day, 4.800 counts.
    - 12 Jan 07:00Z: 3.90.
    - 14 Jan 23:00Z (00:00, 15 January) 4.60 and 15 Jan 08:00Z 4.40: both on the 15th in Oslo
      (on two UTC days), so 4.600 counts and 4.40 does not.
    Peaks 4.800 + 4.600 + 3.900 = 13.3 kW: mean 4.433, step 2 (6 <= 13.3 < 15).
    Last hour, 31 Jan 22:00Z (23-24 Oslo): 1.2 kW, power every 3 min, 30 min in: 0.600 kWh
    used, 1.200 expected. Step 2 holds while 4.8 + 4.6 + V < 15 (V beats 31 January's 1.00
    and 3.90): V up to 5.599 kWh, 4.999 kWh more in the half hour left: 9.998 kW.
    """
    first = utc(2025, 12, 31, 22)
    meter = Meter(hass, freezer, first)
    await meter.start(first)
    special = {
        first: 9000,
        utc(2026, 1, 7, 16): 4200,
        utc(2026, 1, 7, 17): 4800,
        utc(2026, 1, 12, 7): 3900,
        utc(2026, 1, 14, 23): 4600,
        utc(2026, 1, 15, 8): 4400,
    }
    start = first
    while start < utc(2026, 1, 31, 22):
        await meter.hour(start, special.get(start, 1000))
        start += HOUR
    await meter.hour(start, 1200, every=timedelta(minutes=3), until=start + timedelta(minutes=31))
    assert sensors(hass) == {
        "capacity_energy_this_hour": "0.600",
        "capacity_estimated_hour": "1.200",
        "capacity_peaks_mean": "4.433",
        "capacity_step": "2",
        "capacity_headroom": "9.998",
        "capacity_peak_1": "4.800",
        "capacity_peak_2": "4.600",
        "capacity_peak_3": "3.900",
        "capacity_peak_1_hour": "2026-01-07T17:00:00+00:00",
    }
    await unload_entry(hass, meter.entry)


async def test_hours_follow_the_meter_clock(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """The meter's clock is 2 minutes behind Home Assistant's: every frame is placed by it.

    The 10:00Z list 3 arrives at 10:02; power (3 kW) every 4 minutes of meter time to 10:56,
    then at 10:59 (11:01 in Home Assistant, still the meter's 10:00 hour): 59 min at 3 kW
    = 2.950 kWh this hour. The 11:00Z list 3 (at 11:02) closes it with the registers' 3.20.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 10))
    await meter.start(utc(2026, 1, 13, 10))
    late = timedelta(minutes=2)
    meter.aidon.state.power_w = 3000
    for minute in range(0, 60, 4):
        await meter.send(utc(2026, 1, 13, 10, minute), late=late)
    await meter.send(utc(2026, 1, 13, 10, 59), late=late)
    assert value_of(hass, "capacity_energy_this_hour") == "2.950"
    assert value_of(hass, "capacity_estimated_hour") == "3.000"
    meter.aidon.state.import_wh += 3200
    await meter.send(utc(2026, 1, 13, 11), late=late)
    assert value_of(hass, "capacity_energy_this_hour") == "0.000"
    assert value_of(hass, "capacity_peak_1") == "3.200"
    assert value_of(hass, "capacity_peak_1_hour") == "2026-01-13T10:00:00+00:00"
    await unload_entry(hass, meter.entry)


async def test_meter_replacement_makes_no_spike(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """The meter is swapped during 10:00Z; the new one's register starts near 0.

    2 kW all along, power every 4 minutes. Registers: R0 at 09:00Z, +2.00 at 10:00Z; the new
    meter's 0.50, 2.50, 4.50, 6.50, 8.50 kWh at 11:00Z to 15:00Z. The coordinator's guard
    refuses the falling total at 11:00Z and 12:00Z and takes it at 13:00Z; the tracker drops
    it against the old series and starts a new one from 14:00Z. 09:00Z is 2.000 by the
    registers, 10:00Z to 13:00Z 2.000 by power, 14:00Z 2.000 by the new registers: no hour
    is negative or huge. One day: peak 2.000 (the earliest of equals), mean 0.667.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 9))
    await meter.start(utc(2026, 1, 13, 9))
    every = timedelta(minutes=4)
    await meter.hour(utc(2026, 1, 13, 9), 2000, every=every)
    await meter.hour(utc(2026, 1, 13, 10), 2000, every=every)
    meter.aidon.state.import_wh = 500
    for hour in range(11, 15):
        await meter.hour(utc(2026, 1, 13, hour), 2000, every=every)
        if hour == 13:
            assert value_of(hass, "capacity_energy_this_hour") == "1.867"  # 56 min at 2 kW
    await meter.hour(utc(2026, 1, 13, 15), 2000, every=every, until=utc(2026, 1, 13, 15, 1))
    assert {key: value_of(hass, key) for key in EMPTY_MONTH} == {
        "capacity_peaks_mean": "0.667",
        "capacity_step": "1",
        "capacity_peak_1": "2.000",
        "capacity_peak_2": "unknown",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "2026-01-13T09:00:00+00:00",
    }
    assert value_of(hass, "capacity_energy_this_hour") == "0.000"
    # Each hour as the tracker closed it (its saved state): kWh to the Wh, exact (registers).
    closed = meter.entry.runtime_data.capacity.tracker.to_dict()["closed"]
    assert {
        datetime.fromisoformat(start).hour: (Decimal(kwh).quantize(Decimal("0.001")), exact)
        for start, (kwh, exact) in closed.items()
    } == {
        9: (Decimal("2.000"), True),
        10: (Decimal("2.000"), False),
        11: (Decimal("2.000"), False),
        12: (Decimal("2.000"), False),
        13: (Decimal("2.000"), False),
        14: (Decimal("2.000"), True),
    }
    await unload_entry(hass, meter.entry)


async def test_restart_over_the_list_3_leaves_both_hours_out(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Home Assistant is down from 09:49Z to 10:10Z and misses the 10:00Z list 3.

    09:00Z (2 kW) is seen to 09:48 only and 10:00Z from 10:12 only; the registers of 09:00Z
    and 11:00Z (+5.00 kWh) span both and cannot be shared without a whole estimate for each:
    both hours are left out (unknown), never counted low or guessed. 11:00Z goes on as usual:
    its first 24 minutes at 2 kW are 0.800 kWh.
    """
    meter = Meter(hass, freezer, utc(2026, 1, 13, 9))
    await meter.start(utc(2026, 1, 13, 9))
    every = timedelta(minutes=4)
    await meter.hour(utc(2026, 1, 13, 9), 2000, every=every, until=utc(2026, 1, 13, 9, 49))
    freezer.move_to(utc(2026, 1, 13, 9, 49))
    await unload_entry(hass, meter.entry)
    freezer.move_to(utc(2026, 1, 13, 10, 10))
    await setup_entry(hass, meter.entry)
    for minute in range(12, 60, 4):
        await meter.send(utc(2026, 1, 13, 10, minute))
    assert value_of(hass, "capacity_energy_this_hour") == "unknown"
    meter.aidon.state.import_wh = REGISTER_WH + 5000
    await meter.hour(utc(2026, 1, 13, 11), 2000, every=every, until=utc(2026, 1, 13, 11, 25))
    assert sensors(hass) == {
        "capacity_energy_this_hour": "0.800",
        "capacity_estimated_hour": "2.000",
        "capacity_peaks_mean": "0.000",
        "capacity_step": "1",
        "capacity_headroom": "8.665",  # (5.999 - 0.800) kWh over the 0.6 h left
        "capacity_peak_1": "unknown",
        "capacity_peak_2": "unknown",
        "capacity_peak_3": "unknown",
        "capacity_peak_1_hour": "unknown",
    }
    await unload_entry(hass, meter.entry)
