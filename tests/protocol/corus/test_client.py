"""The asyncio client against the simulator on 127.0.0.1, for every firmware map."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
import itertools
from zoneinfo import ZoneInfo

import pytest

from custom_components.amshan_corus.protocol.corus.client import CorusClient
from custom_components.amshan_corus.protocol.corus.datatypes import DATE, FLOAT
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusAuthenticationError,
    CorusConnectionError,
    CorusCrcError,
    CorusEncodeError,
    CorusProtocolError,
    CorusTimeoutError,
    UnsupportedFirmwareError,
)
from custom_components.amshan_corus.protocol.corus.firmware import (
    ParameterDefinition,
    get_parameter_map,
    known_map_ids,
)
from custom_components.amshan_corus.protocol.corus.frames import (
    CMD_BREAK,
    CMD_DATABASE,
    CMD_READ,
    CMD_WRITE,
)
from custom_components.amshan_corus.protocol.corus.simulator import (
    CorusSimulator,
    SimulatorFaults,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

START = datetime(2024, 3, 20, 14, 25, 10, tzinfo=UTC)


@pytest.fixture
async def simulator() -> AsyncIterator[CorusSimulator]:
    async with CorusSimulator("b0040", start=START, speed=0) as sim:
        yield sim


def client_for(sim: CorusSimulator, **options: object) -> CorusClient:
    options.setdefault("timeout", 5.0)
    return CorusClient("127.0.0.1", sim.port, timezone=sim.timezone, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("map_id", known_map_ids())
async def test_every_map_read_all_database_and_clock(map_id: str) -> None:
    async with CorusSimulator(map_id, start=START, speed=0, history_days=40) as sim:
        client = client_for(sim)
        reading = await client.read_all()
        parameters = get_parameter_map(map_id)
        assert reading.firmware_map == map_id
        assert reading.ident == "/ACT7CORUS"
        assert set(reading.values) == set(parameters)
        assert {n: v.value for n, v in reading.values.items()} == sim.expected_values()
        assert reading.values["index_unconverted"].unit == "m³"
        assert reading.value("parameter_mapping_version") == f"FL_{map_id}"
        # One request for the map id, one batched request for the whole map.
        await sim.wait_idle()
        assert sim.stats.requests == [CMD_READ, CMD_READ, CMD_BREAK]

        since, until = datetime(2024, 3, 18, 6, tzinfo=UTC), datetime(2024, 3, 19, 6, tzinfo=UTC)
        records = await client.read_database("hourly", since=since, until=until)
        assert len(records) == 24
        ends = [r.values["end_date"] for r in records]
        assert ends == [until - timedelta(hours=h) for h in range(24)]  # newest first
        layout = sim.layouts["hourly"]
        assert {r.layout for r in records} == {layout.name}
        expected = sim.database_records("hourly", until, since)
        assert [r.raw for r in records] == expected
        periods = {p.end: p for p in sim.periods("hourly")}
        for record in records:
            period = periods[record.values["end_date"]]  # type: ignore[index]
            model = sim.record_values("hourly", period)
            assert dict(record.values) == {k: v for k, v in model.items() if v is not None}
        first = records[0].values
        consumption = next(v for k, v in first.items() if k.startswith("consumption_unconverted"))
        assert consumption == periods[until].counts * sim.pulse_weight

        moment = datetime(2024, 3, 21, 8, 0, 0, tzinfo=UTC)
        assert await client.set_clock(moment) == moment
        assert sim.clock() == moment
        await sim.wait_idle()
        assert sim.stats.breaks == 3


async def test_hourly_index_differences_match_consumption(simulator: CorusSimulator) -> None:
    """1,000 hourly records whose index steps are the hourly consumptions (90-byte layout)."""
    client = client_for(simulator)
    until = datetime(2024, 3, 20, 14, tzinfo=UTC)
    records = await client.read_database("hourly", since=until - timedelta(hours=1000), until=until)
    assert len(records) == 1000
    assert records[0].layout == "HOURLY_DB_90"
    for newer, older in itertools.pairwise(records):
        step = newer.values["index_unconverted"] - older.values["index_unconverted"]  # type: ignore[operator]
        assert step == newer.values["consumption_unconverted_hourly"]
        assert older.values["end_date"] == newer.values["start_date"]
    # The live index continues from the last record.
    reading = await client.read_all()
    assert reading.value("index_unconverted") >= records[0].values["index_unconverted"]  # type: ignore[operator]
    assert simulator.stats.acks > 100


async def test_daily_and_monthly_aggregate_the_hours(simulator: CorusSimulator) -> None:
    client = client_for(simulator)
    async with client.session() as session:
        days = await session.read_database("daily", since=datetime(2024, 3, 1, tzinfo=UTC))
        months = await session.read_database("monthly")
        hours = await session.read_database(
            "hourly",
            since=datetime(2024, 3, 18, tzinfo=UTC),
            until=datetime(2024, 3, 19, tzinfo=UTC),
        )
    assert [d.values["start_date"].day for d in days] == list(range(19, 0, -1))  # type: ignore[union-attr]
    march18 = next(d for d in days if d.values["start_date"] == datetime(2024, 3, 18, tzinfo=UTC))
    hourly = [h.values["consumption_unconverted_hourly"] for h in hours]
    assert all(isinstance(v, Decimal) for v in hourly)
    assert march18.values["consumption_unconverted_daily"] == sum(hourly)  # type: ignore[arg-type]
    assert march18.values["record_duration"] == 1440
    assert [m.values["start_date"] for m in months] == [
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
    ]
    assert months[0].layout == "MONTHLY_DB_109"


async def test_converter_timezone_and_naive_bounds() -> None:
    oslo = ZoneInfo("Europe/Oslo")
    start = datetime(2024, 6, 1, 12, 0, tzinfo=oslo)
    async with CorusSimulator("M5A02", start=start, speed=0, timezone=oslo) as sim:
        client = client_for(sim)
        reading = await client.read_all()
        assert reading.value("datetime") == start
        records = await client.read_database(
            "interval", since=datetime(2024, 6, 1, 9, 0), until=datetime(2024, 6, 1, 11, 0)
        )
        assert [r.values["end_date"] for r in records] == [
            datetime(2024, 6, 1, 11, tzinfo=oslo),
            datetime(2024, 6, 1, 10, tzinfo=oslo),
        ]
        assert records[0].layout == "INTERVAL_DB_92"


async def test_write_two_byte_id_keeps_its_data(simulator: CorusSimulator) -> None:
    client = client_for(simulator)
    pressure_2 = get_parameter_map("b0040")["pressure_2"]
    assert pressure_2.id == 299
    async with client.session() as session:
        await session.write_parameters([(pressure_2, Decimal("2.5"))])
        assert (await session.read_parameters([pressure_2])) == {"pressure_2": Decimal("2.5")}
    assert simulator.stats.writes == [(299, FLOAT.encode(Decimal("2.5")))]
    assert CMD_WRITE in simulator.stats.requests


async def test_many_ids_are_split_into_frame_sized_requests(simulator: CorusSimulator) -> None:
    index = get_parameter_map("b0040")["index_unconverted"]
    many = [ParameterDefinition(f"index_{n}", index.id, index.type, index.unit) for n in range(40)]
    client = client_for(simulator)
    async with client.session() as session:
        values = await session.read_parameters(many)
    assert len(values) == 40
    assert len(set(values.values())) == 1
    await simulator.wait_idle()
    assert simulator.stats.requests == [CMD_READ, CMD_READ, CMD_BREAK]  # 40 x 8 bytes > 255


async def test_configured_password_of_any_length() -> None:
    faults = SimulatorFaults(required_password="a longer secret 123")
    async with CorusSimulator("v0035", start=START, speed=0, faults=faults) as sim:
        with pytest.raises(CorusAuthenticationError):
            await client_for(sim).read_all()  # echoing "PASS" is refused
        assert sim.stats.rejected_passwords == 1
        reading = await client_for(sim, password="a longer secret 123").read_all()
        assert reading.firmware_map == "v0035"
    async with CorusSimulator("v0035", password="12345678901", start=START, speed=0) as sim:
        assert (await client_for(sim).read_all()).firmware_map == "v0035"  # echo, 11 chars


async def test_tiny_segments(simulator: CorusSimulator) -> None:
    simulator.faults.tiny_segments = True
    client = client_for(simulator)
    reading = await client.read_all()
    assert reading.values["index_converted"].value == simulator.expected_values()["index_converted"]
    until = datetime(2024, 3, 20, 12, tzinfo=UTC)
    records = await client.read_database("hourly", since=until - timedelta(hours=5), until=until)
    assert len(records) == 5


async def test_crc_error_naks_and_rereads_without_keeping_the_bad_frame(
    simulator: CorusSimulator,
) -> None:
    simulator.faults.corrupt_database_frame = 1
    client = client_for(simulator)
    until = datetime(2024, 3, 20, 12, tzinfo=UTC)
    records = await client.read_database("hourly", since=until - timedelta(hours=24), until=until)
    assert simulator.stats.naks == 1
    assert [r.raw for r in records] == simulator.database_records(
        "hourly", until, until - timedelta(hours=24)
    )


async def test_crc_errors_give_up_after_three_retries(simulator: CorusSimulator) -> None:
    simulator.faults.corrupt_database_frame = 0
    simulator.faults.corrupt_times = 4
    with pytest.raises(CorusCrcError):
        await client_for(simulator).read_database("daily")
    assert simulator.stats.naks == 3


async def test_empty_database_returns_empty_and_stays_in_sync(simulator: CorusSimulator) -> None:
    simulator.faults.empty_databases = True
    client = client_for(simulator)
    async with client.session() as session:
        assert await session.read_database("hourly") == []
        assert await session.read_database("monthly") == []
        reading = await session.read_all()  # the stream is still in step
    assert reading.firmware_map == "b0040"
    await simulator.wait_idle()
    assert simulator.stats.breaks == 1


async def test_timeout_ends_the_session_cleanly(simulator: CorusSimulator) -> None:
    simulator.faults.reply_delay = 0.5
    client = client_for(simulator, timeout=0.1)
    with pytest.raises(CorusTimeoutError, match=r"within 0\.1 s"):
        await client.read_all()
    simulator.faults.reply_delay = 0
    # The lock was released and a new session works.
    assert (await client_for(simulator).read_all()).firmware_map == "b0040"


async def test_dropped_connection_mid_frame(simulator: CorusSimulator) -> None:
    simulator.faults.drop_mid_frame = "read"
    with pytest.raises(CorusConnectionError, match="closed the connection"):
        await client_for(simulator).read_all()
    simulator.faults.drop_mid_frame = "database"
    with pytest.raises(CorusConnectionError):
        await client_for(simulator).read_database("daily")


async def test_failure_inside_a_session_still_sends_break(simulator: CorusSimulator) -> None:
    client = client_for(simulator)

    async def failing_caller() -> None:
        async with client.session() as session:
            await session.read_all()
            raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller"):
        await failing_caller()
    await simulator.wait_idle()
    assert simulator.stats.breaks == 1


async def test_unknown_firmware_map(simulator: CorusSimulator) -> None:
    version = get_parameter_map("b0040")["parameter_mapping_version"]
    client = client_for(simulator)
    async with client.session() as session:
        await session.write_parameters([(version, "FL_zz999")])
    with pytest.raises(UnsupportedFirmwareError, match="'zz999'") as caught:
        await client.read_all()
    assert caught.value.map_id == "zz999"


async def test_unknown_parameter_is_refused(simulator: CorusSimulator) -> None:
    client = client_for(simulator)
    async with client.session() as session:
        with pytest.raises(CorusProtocolError, match="refused"):
            await session.read_parameters([ParameterDefinition("nothing", 200, FLOAT)])


async def test_one_session_at_a_time(simulator: CorusSimulator) -> None:
    client = client_for(simulator)
    results = await asyncio.gather(*(client.read_all() for _ in range(3)))
    assert [r.firmware_map for r in results] == ["b0040"] * 3
    await simulator.wait_idle()
    assert simulator.stats.sessions == 3
    assert simulator.stats.breaks == 3


async def test_connection_refused() -> None:
    async with CorusSimulator("b0040") as sim:
        port = sim.port
    with pytest.raises(CorusConnectionError, match="cannot connect"):
        await CorusClient("127.0.0.1", port, timeout=1).read_all()


async def test_identity(simulator: CorusSimulator) -> None:
    identity = await client_for(simulator).read_identity()
    assert (identity.firmware_map, identity.firmware_version, identity.kernel_version) == (
        "b0040",
        "A3.00",
        None,
    )
    assert identity.ident == "/ACT7CORUS"
    await simulator.wait_idle()
    assert simulator.stats.requests == [CMD_READ, CMD_READ, CMD_BREAK]
    assert CMD_DATABASE not in simulator.stats.requests


def test_client_options_are_checked() -> None:
    with pytest.raises(CorusEncodeError, match="latin-1"):
        CorusClient("127.0.0.1", 1, password="€uro")
    with pytest.raises(CorusEncodeError, match="longer"):
        CorusClient("127.0.0.1", 1, password="x" * 65)
    with pytest.raises(CorusEncodeError, match="positive"):
        CorusClient("127.0.0.1", 1, timeout=0)
    assert CorusClient("127.0.0.1", 1, password="").password is None  # empty: echo


async def test_unknown_database_is_refused_before_sending(simulator: CorusSimulator) -> None:
    async with client_for(simulator).session() as session:
        with pytest.raises(CorusEncodeError, match="weekly"):
            await session.read_database("weekly")
        with pytest.raises(CorusEncodeError, match="before it starts"):
            await session.read_database("hourly", START, START - timedelta(hours=1))
        assert (await session.read_all()).firmware_map == "b0040"
    await simulator.wait_idle()
    assert CMD_DATABASE not in simulator.stats.requests


async def test_dst_day_has_23_hours_in_the_converters_zone() -> None:
    oslo = ZoneInfo("Europe/Oslo")
    start = datetime(2024, 4, 2, 10, 0, tzinfo=oslo)
    async with CorusSimulator("b0040", start=start, speed=0, timezone=oslo, history_days=5) as sim:
        client = client_for(sim)
        day = datetime(2024, 3, 31, tzinfo=oslo)
        async with client.session() as session:
            days = await session.read_database("daily", day, day + timedelta(days=1))
            hours = await session.read_database("hourly", day, datetime(2024, 4, 1, tzinfo=oslo))
            moment = await session.set_clock(datetime(2024, 10, 27, 2, 30, tzinfo=UTC))
    assert len(days) == 1
    assert days[0].values["record_duration"] == 23 * 60
    assert len(hours) == 23
    hourly = [h.values["consumption_unconverted_hourly"] for h in hours]
    assert days[0].values["consumption_unconverted_daily"] == sum(hourly)  # type: ignore[arg-type]
    assert hours[-1].values["start_date"] == day
    assert sim.clock() == moment.astimezone(oslo)


async def test_event_log_comes_back_as_raw_records(simulator: CorusSimulator) -> None:
    client = client_for(simulator)
    moment = datetime(2024, 3, 20, 15, 0, 0, tzinfo=UTC)
    async with client.session() as session:
        await session.set_clock(moment)
        events = await session.read_database("event")
    assert [(len(e.raw), e.layout, dict(e.values)) for e in events] == [(8, None, {})] * 2
    assert events[0].raw == DATE.encode(START) + b"\x02\x00\x00\x00"  # clock set (frozen)
    assert events[1].raw == DATE.encode(START) + b"\x01\x00\x00\x00"


async def test_later_polls_are_one_request_and_follow_a_firmware_change(
    simulator: CorusSimulator,
) -> None:
    client = client_for(simulator)
    await client.read_all()
    await simulator.wait_idle()
    simulator.stats.requests.clear()
    reading = await client.read_all()
    await simulator.wait_idle()
    assert simulator.stats.requests == [CMD_READ, CMD_BREAK]  # the whole poll in one request
    assert reading.firmware_map == "b0040"
    # A firmware update changes the map id: the next poll notices and detects it afresh.
    version = get_parameter_map("b0040")["parameter_mapping_version"]
    async with client.session() as session:
        await session.write_parameters([(version, "FL_B0041")])
    await simulator.wait_idle()
    simulator.stats.requests.clear()
    reading = await client.read_all()
    await simulator.wait_idle()
    assert reading.firmware_map == "b0041"
    assert simulator.stats.requests == [CMD_READ, CMD_READ, CMD_READ, CMD_BREAK]
    assert reading.value("parameter_mapping_version") == "FL_B0041"


async def test_a_session_refuses_to_go_on_after_a_timeout(simulator: CorusSimulator) -> None:
    simulator.faults.reply_delay = 0.5
    client = client_for(simulator, timeout=0.1)

    async def read_twice() -> None:
        async with client.session() as session:
            with pytest.raises(CorusTimeoutError):
                await session.read_all()
            await session.read_all()  # the late answer may still arrive: refused

    with pytest.raises(CorusProtocolError, match="out of step"):
        await read_twice()
    simulator.faults.reply_delay = 0
    assert (await client.read_all()).firmware_map == "b0040"


@pytest.mark.parametrize(
    ("map_id", "lengths"),
    [
        ("057", {"interval": 52, "hourly": 52, "daily": 57, "monthly": 103}),
        ("b0040", {"interval": 90, "hourly": 90, "daily": 95, "monthly": 109}),
        ("M5A03", {"interval": 92, "hourly": 92, "daily": 97, "monthly": 111}),
    ],
)
async def test_every_layout_reads_back_the_models_values(
    map_id: str, lengths: dict[str, int]
) -> None:
    since = {"monthly": datetime(2024, 1, 1, tzinfo=UTC)}
    sim = CorusSimulator(map_id, start=START, speed=0, history_days=80)
    async with sim, client_for(sim).session() as session:
        read = {
            db: await session.read_database(db, since.get(db, START - timedelta(days=3)))
            for db in lengths
        }
    for database, length in lengths.items():
        records = read[database]
        periods = {p.end: p for p in sim.periods(database)}
        assert records, database
        assert {len(r.raw) for r in records} == {length}
        for record in records:
            model = sim.record_values(database, periods[record.values["end_date"]])  # type: ignore[index]
            assert dict(record.values) == {k: v for k, v in model.items() if v is not None}
    assert len(read["monthly"]) == 2  # January and February 2024 are complete
    assert len(read["daily"]) == 2  # March 18 and 19
    assert len(read["hourly"]) == len(read["interval"]) == 71  # from 15:00, 3 days back


async def test_52_byte_hourly_log_sums_to_the_live_indexes() -> None:
    """A converter whose hourly log has no indexes: its consumptions add up to the index."""
    on_the_hour = datetime(2024, 3, 20, 14, 0, tzinfo=UTC)
    sim = CorusSimulator(
        "b0040", start=on_the_hour, speed=0, history_days=2, layouts={"hourly": 52}
    )
    assert {db: layout.length for db, layout in sim.layouts.items()} == {
        "interval": 90,
        "hourly": 52,
        "daily": 95,
        "monthly": 109,
    }
    async with sim, client_for(sim).session() as session:
        reading = await session.read_all()
        records = await session.read_database("hourly")
    assert {len(record.raw) for record in records} == {52}
    assert len(records) == 2 * 24 + 14  # Mar 18 00:00 to Mar 20 14:00
    ends = [record.values["end_date"] for record in reversed(records)]
    assert ends == [on_the_hour - timedelta(hours=n) for n in range(len(records) - 1, -1, -1)]
    for field, index in (
        ("consumption_unconverted_hourly", "index_unconverted"),
        ("consumption_converted_hourly", "index_converted"),
    ):
        total = sum((record.values[field] for record in records), Decimal(0))  # type: ignore[misc]
        assert reading.value(index) == Decimal(123456) + total
    last = records[0].values
    assert last["consumption_unconverted_hourly"] == sim.hour(61).counts * Decimal("0.1")
    assert last["counter_unconverted_hourly"] == last["counter_converted_hourly"] == 0
    assert "index_converted" not in last


async def test_missing_records_are_left_out_of_the_log(simulator: CorusSimulator) -> None:
    until = datetime(2024, 3, 20, 14, tzinfo=UTC)
    gone = until - timedelta(hours=2)
    simulator.faults.missing_records = frozenset({gone})
    records = await client_for(simulator).read_database("hourly", until - timedelta(hours=4), until)
    ends = [record.values["end_date"] for record in records]
    assert ends == [until - timedelta(hours=n) for n in (0, 1, 3)]
