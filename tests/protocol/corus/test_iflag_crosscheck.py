"""iflag 1.0.1 (the reference implementation) reads our simulator and gets what our client gets.

iflag runs in its own throw-away venv (scripts/iflag_crosscheck.py finds /tmp/iflag-venv or
builds build/iflag-venv with pip once); the test skips only when that cannot be built.
Values must be equal as exact Decimals, except where iflag 1.0.1 has a documented quirk:
- `Float` values are rounded to 6 decimals (`float_to_decimal`), so 288.15 reads 288.149994:
  both must name the same float32;
- Dates are naive (no timezone): they must equal ours in the converter's zone, tz dropped;
- values without data (all 0xFF) are left out, where we report None;
- Words come back normalised (1E+3), equal to our 1000 as Decimals.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
import importlib.util
import json
from pathlib import Path
import struct
from types import ModuleType
from typing import Any

import pytest

from custom_components.amshan_corus.protocol.corus.client import CorusClient
from custom_components.amshan_corus.protocol.corus.datatypes import FLOAT, DataType, Value
from custom_components.amshan_corus.protocol.corus.firmware import get_parameter_map
from custom_components.amshan_corus.protocol.corus.simulator import (
    CorusSimulator,
    SimulatorFaults,
)
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.usefixtures("socket_enabled")

CLOCK = datetime(2025, 2, 11, 17, 5, 30, tzinfo=UTC)


def _load_script() -> ModuleType:
    path = REPO_ROOT / "scripts" / "iflag_crosscheck.py"
    spec = importlib.util.spec_from_file_location("iflag_crosscheck", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CROSSCHECK = _load_script()


@pytest.fixture(scope="module")
def iflag_python() -> Path:
    """iflag's interpreter, building its venv with pip the first time."""
    try:
        python: Path = CROSSCHECK.iflag_python(create=True)
    except CROSSCHECK.IflagUnavailableError as err:
        pytest.skip(f"iflag 1.0.1 cannot be installed (no registry access?): {err}")
    return python


async def read_with_iflag(sim: CorusSimulator, *extra: str, check: bool = True) -> dict[str, Any]:
    """iflag's JSON; with `check=False` a failed run gives {"error": its last stderr line}."""
    command = CROSSCHECK.iflag_command("127.0.0.1", sim.port, *extra)
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(300):
        out, err = await process.communicate()
    if process.returncode != 0 and not check:
        return {"error": (err.decode().strip().splitlines() or [""])[-1]}
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


def assert_same(name: str, kind: DataType, theirs: str, ours: Value) -> None:
    """iflag's printed value equals ours, modulo its documented quirks."""
    if isinstance(ours, datetime):
        assert theirs == ours.replace(tzinfo=None).isoformat(), name
    elif kind is FLOAT:
        assert isinstance(ours, Decimal), name
        (binary,) = struct.unpack("<f", struct.pack("<f", float(ours)))
        # iflag: the float32's exact binary value rounded to 6 decimals; ours: the shortest
        # decimal naming the same float32.
        assert Decimal(theirs) == Decimal(binary).quantize(Decimal("0.000001")), name
    elif isinstance(ours, int | Decimal):
        assert Decimal(theirs) == ours, name
    else:
        assert theirs == ours, name


@pytest.mark.parametrize(
    ("map_id", "record_length"),
    [("b0040", 90), ("M5A03", 92), ("057", 52)],  # Index, Index9, the oldest layout
)
async def test_iflag_reads_the_same_parameters_and_hourly_records(
    iflag_python: Path, map_id: str, record_length: int
) -> None:
    async with CorusSimulator(map_id, start=CLOCK, speed=0, history_days=3) as sim:
        theirs = await read_with_iflag(sim, "--database", "hourly")
        client = CorusClient("127.0.0.1", sim.port, timeout=10)
        ours = await client.read_all()
        records = await client.read_database("hourly")
    assert theirs["firmware_map"] == ours.firmware_map == map_id

    parameters = get_parameter_map(map_id)
    present = {name for name, entry in ours.values.items() if entry.value is not None}
    assert set(theirs["parameters"]) == present  # iflag leaves out what has no value
    for name, value in theirs["parameters"].items():
        assert_same(name, parameters[name].type, value, ours.values[name].value)

    assert len(theirs["records"]) == len(records) == 3 * 24 + 17
    assert {len(r.raw) for r in records} == {record_length}
    layout = sim.layouts["hourly"]
    kinds = {f.name: f.type for f in layout.fields}
    for their_record, record in zip(theirs["records"], records, strict=True):
        assert set(their_record) == set(record.values)
        for name, value in their_record.items():
            assert_same(name, kinds[name], value, record.values[name])


@pytest.mark.parametrize("database", ["daily", "monthly"])
async def test_iflag_reads_the_same_daily_and_monthly_records(
    iflag_python: Path, database: str
) -> None:
    async with CorusSimulator("b0040", start=CLOCK, speed=0, history_days=70) as sim:
        theirs = await read_with_iflag(sim, "--database", database)
        records = await CorusClient("127.0.0.1", sim.port, timeout=10).read_database(database)
    assert records
    assert len(theirs["records"]) == len(records)
    kinds = {f.name: f.type for f in sim.layouts[database].fields}
    for their_record, record in zip(theirs["records"], records, strict=True):
        assert set(their_record) == set(record.values)
        for name, value in their_record.items():
            assert_same(name, kinds[name], value, record.values[name])


async def test_a_bad_crc_costs_iflag_its_records_but_not_us(iflag_python: Path) -> None:
    """iflag 1.0.1 keeps a NAKed frame's data (bug 2 of corus-protocol.md §5); we do not."""
    faults = SimulatorFaults(corrupt_database_frame=1)
    async with CorusSimulator("b0040", start=CLOCK, speed=0, history_days=3) as sim:
        clean = await CorusClient("127.0.0.1", sim.port, timeout=10).read_database("hourly")
        sim.faults = faults
        ours = await CorusClient("127.0.0.1", sim.port, timeout=10).read_database("hourly")
        assert sim.stats.naks == 1
    assert ours == clean
    async with CorusSimulator("b0040", start=CLOCK, speed=0, history_days=3, faults=faults) as sim:
        theirs = await read_with_iflag(sim, "--database", "hourly", check=False)
        assert sim.stats.naks == 1
    # iflag appended the bad frame's data before its CRC check, so the records after it are
    # shifted: a Date field gets other bytes and a bare ValueError escapes (§5 bugs 2 and 8).
    assert theirs == {"error": "ValueError: month must be in 1..12"}


async def test_tiny_tcp_segments_break_iflag_but_not_us(iflag_python: Path) -> None:
    """iflag 1.0.1 takes one recv() for a whole reply (§5 bug 1); we read exactly."""
    tiny = SimulatorFaults(tiny_segments=True)
    async with CorusSimulator("b0040", start=CLOCK, speed=0, history_days=3, faults=tiny) as sim:
        theirs = await read_with_iflag(sim, "--database", "hourly", check=False)
        client = CorusClient("127.0.0.1", sim.port, timeout=10)
        ours = await client.read_all()
        records = await client.read_database("hourly")
        expected = sim.expected_values()
        sim.faults = SimulatorFaults()
        clean = await client.read_database("hourly")
    # Where it breaks depends on how the bytes were cut: "non null wakeup response",
    # "Ack not received after sign on", a frame without its ETX...
    assert "error" in theirs
    assert {name: entry.value for name, entry in ours.values.items()} == expected
    assert records == clean
