"""The client against the simulator under every fault switch (real sockets on 127.0.0.1).

Each fault must give either the exact data of a clean read or one typed error, and leave
nothing behind: the socket closed, the client's session lock free, the next session working.
The simulator's clock is frozen, so a clean read and a faulty read cover the same records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
import gc
import time
import warnings

import pytest

from custom_components.amshan_corus.protocol.corus.client import CorusClient
from custom_components.amshan_corus.protocol.corus.databases import DatabaseRecord
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusAuthenticationError,
    CorusConnectionError,
    CorusError,
    CorusTimeoutError,
)
from custom_components.amshan_corus.protocol.corus.frames import CMD_BREAK, CMD_DATABASE
from custom_components.amshan_corus.protocol.corus.simulator import (
    CorusSimulator,
    SimulatorFaults,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

CLOCK = datetime(2025, 6, 3, 8, 40, 12, tzinfo=UTC)
DATABASES = ("interval", "hourly", "daily", "monthly")
# 45 days of history: 1080 hourly records of 90 bytes, about 390 frames of 250 bytes.
HISTORY_DAYS = 45


@pytest.fixture(params=["b0040", "M5A03"])  # 90/95/109-byte and 92/97/111-byte layouts
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[CorusSimulator]:
    async with CorusSimulator(
        request.param, start=CLOCK, speed=0, history_days=HISTORY_DAYS
    ) as sim:
        yield sim


def client_for(sim: CorusSimulator, timeout: float = 5.0, **options: object) -> CorusClient:
    return CorusClient("127.0.0.1", sim.port, timeout=timeout, **options)  # type: ignore[arg-type]


def frame_count(sim: CorusSimulator, database: str) -> int:
    records = sim.database_records(database, None, None)
    data = sum(len(r) for r in records)
    payload = sim.frame_payload
    return 1 if data <= payload - 3 else 2 + (data - (payload - 3) - 1) // (payload - 2)


async def clean_read(sim: CorusSimulator, database: str) -> list[DatabaseRecord]:
    faults, sim.faults = sim.faults, SimulatorFaults()
    try:
        return await client_for(sim).read_database(database)
    finally:
        sim.faults = faults


@contextmanager
def no_leaks() -> Iterator[None]:
    """Fail if a socket or transport of the block is left for the garbage collector."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, [str(w.message) for w in leaks]


async def assert_next_session_works(sim: CorusSimulator, client: CorusClient) -> None:
    """The same client (its lock released) reads again once the fault is gone."""
    await sim.wait_idle()  # a converter serves one session: the late one must end first
    sim.faults = SimulatorFaults()
    reading = await client.read_all()
    assert {n: v.value for n, v in reading.values.items()} == sim.expected_values()


# ---------------------------------------------------------------- tiny TCP segments


async def test_tiny_segments_read_exact_values(simulator: CorusSimulator) -> None:
    clean = {db: await clean_read(simulator, db) for db in DATABASES}
    simulator.faults.tiny_segments = True
    client = client_for(simulator)
    async with client.session() as session:
        reading = await session.read_all()
        assert {n: v.value for n, v in reading.values.items()} == simulator.expected_values()
        for database in ("daily", "monthly"):
            assert await session.read_database(database) == clean[database]
        until = CLOCK.replace(minute=0, second=0)
        since = until - timedelta(hours=30)
        hourly = await session.read_database("hourly", since, until)
    assert len(hourly) == 30
    assert hourly == [r for r in clean["hourly"] if since <= r.values["start_date"]]


# ---------------------------------------------------------------- corrupt CRC of frame k


@pytest.mark.parametrize("position", ["first", "second", "middle", "last"])
async def test_corrupt_crc_of_frame_k_is_naked_and_reread(
    simulator: CorusSimulator, position: str
) -> None:
    clean = await clean_read(simulator, "hourly")
    frames = frame_count(simulator, "hourly")
    k = {"first": 0, "second": 1, "middle": frames // 2, "last": frames - 1}[position]
    acks_before = simulator.stats.acks
    simulator.faults.corrupt_database_frame = k
    with no_leaks():
        records = await client_for(simulator).read_database("hourly")
    await simulator.wait_idle()
    assert simulator.stats.naks == 1
    assert simulator.stats.acks - acks_before == frames - 1  # every good frame once
    assert records == clean  # same bytes and values: the bad frame's data was not kept
    assert len(records) == HISTORY_DAYS * 24 + 8  # up to 08:00 of the frozen clock
    assert records[0].values["end_date"] == CLOCK.replace(minute=0, second=0)


async def test_corrupt_crc_with_tiny_segments(simulator: CorusSimulator) -> None:
    clean = await clean_read(simulator, "monthly")
    simulator.faults = SimulatorFaults(tiny_segments=True, corrupt_database_frame=0)
    assert await client_for(simulator).read_database("monthly") == clean
    assert simulator.stats.naks == 1


# ---------------------------------------------------------------- delay past the timeout


@pytest.mark.parametrize("step", ["read", "database"])
async def test_delay_past_timeout_is_a_timeout_error(simulator: CorusSimulator, step: str) -> None:
    delay, timeout = 3.0, 1.0  # a generous timeout: the same client reads again below
    simulator.faults.reply_delay = delay
    client = client_for(simulator, timeout=timeout)
    began = time.monotonic()
    job = client.read_all() if step == "read" else client.read_database("daily")
    with no_leaks(), pytest.raises(CorusTimeoutError, match=r"within 1 s") as caught:
        await job
    assert time.monotonic() - began < delay  # gave up at its own timeout, not the reply's
    assert isinstance(caught.value, CorusConnectionError)  # callers may catch either
    await assert_next_session_works(simulator, client)


# ---------------------------------------------------------------- dropped mid-frame


@pytest.mark.parametrize("where", ["read", "database"])
async def test_drop_mid_frame_is_a_connection_error_without_leaks(
    simulator: CorusSimulator, where: str
) -> None:
    simulator.faults.drop_mid_frame = "read" if where == "read" else "database"
    client = client_for(simulator)
    job = client.read_all() if where == "read" else client.read_database("hourly")
    with no_leaks(), pytest.raises(CorusConnectionError) as caught:
        await job
    assert not isinstance(caught.value, CorusTimeoutError)  # noticed at once, not timed out
    await simulator.wait_idle()
    assert simulator.stats.breaks == 0  # the link was gone: no break was attempted on it
    await assert_next_session_works(simulator, client)


# ---------------------------------------------------------------- other password


async def test_wrong_password_is_an_authentication_error(simulator: CorusSimulator) -> None:
    simulator.faults.required_password = "0THER"
    client = client_for(simulator)
    with no_leaks(), pytest.raises(CorusAuthenticationError, match="refused the password"):
        await client.read_all()
    with pytest.raises(CorusAuthenticationError):
        await client_for(simulator, password="PASS").read_all()
    await simulator.wait_idle()
    assert simulator.stats.rejected_passwords == 2
    assert simulator.stats.requests == []  # nothing was asked without a session
    reading = await client_for(simulator, password="0THER").read_all()
    assert reading.values["parameter_mapping_version"].value == f"FL_{reading.firmware_map}"


# ---------------------------------------------------------------- empty database


async def test_empty_databases_then_the_session_still_works(simulator: CorusSimulator) -> None:
    simulator.faults.empty_databases = True
    async with client_for(simulator).session() as session:
        for database in DATABASES:
            assert await session.read_database(database) == []
        definition = (await session.parameter_map())["index_converted"]
        values = await session.read_parameters([definition])
    assert values == {"index_converted": simulator.expected_values()["index_converted"]}
    await simulator.wait_idle()
    assert simulator.stats.requests.count(CMD_DATABASE) == len(DATABASES)
    assert simulator.stats.requests[-1] == CMD_BREAK
    assert simulator.stats.acks == simulator.stats.naks == 0


# ---------------------------------------------------------------- everything is typed


async def test_every_fault_gives_data_or_a_corus_error(simulator: CorusSimulator) -> None:
    faults = [
        SimulatorFaults(tiny_segments=True, reply_delay=0.05),
        SimulatorFaults(drop_mid_frame="read", tiny_segments=True),
        SimulatorFaults(drop_mid_frame="database", corrupt_database_frame=0),
        SimulatorFaults(required_password="x", empty_databases=True),
        SimulatorFaults(reply_delay=3.0),
    ]
    client = client_for(simulator, timeout=2.0)
    for fault in faults:
        simulator.faults = fault
        with suppress(CorusError):
            await client.read_database("daily")
    await assert_next_session_works(simulator, client)
