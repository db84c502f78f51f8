"""`corus read`, `corus database` and `simulate corus`, run as real commands against a simulator.

The simulator runs in the test's event loop with a frozen clock, so every value is fixed; the
commands run as subprocesses (concurrently: each start-up imports Home Assistant).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
import json
import os
import signal
import sys
from typing import Any

import pytest

from custom_components.amshan_corus.cli import main
from custom_components.amshan_corus.protocol.corus.databases import get_layout
from custom_components.amshan_corus.protocol.corus.simulator import (
    CorusSimulator,
    SimulatorFaults,
)
from tests.conftest import REPO_ROOT
from tests.protocol.han.sources import free_port

pytestmark = pytest.mark.usefixtures("socket_enabled")

CLOCK = datetime(2026, 1, 15, 10, 30, tzinfo=UTC)  # frozen: values never move
COMMAND_TIMEOUT = 120.0  # generous: two cores shared by several engineers


@dataclass
class Run:
    """What one command did."""

    code: int
    out: str
    err: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]

    def error_line(self) -> str:
        """The one stderr line of a failed command (asserting the error contract)."""
        assert self.code == 1, self
        assert self.out == "", self
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self
        return lines[0]


async def cli(*args: str) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.amshan_corus",
        *args,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(COMMAND_TIMEOUT):
        out, err = await process.communicate()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def simulator(**kwargs: Any) -> CorusSimulator:
    return CorusSimulator(start=CLOCK, speed=0, history_days=2, **kwargs)


def address(sim: CorusSimulator) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(sim.port)]


async def test_read_prints_every_parameter_of_the_map_exactly() -> None:
    async with simulator() as sim:
        run = await cli("corus", "read", *address(sim))
        expected = sim.expected_values()
    assert run.code == 0, run
    assert run.err == ""
    [reading] = run.json_lines()
    assert reading["firmware_map"] == "b0040"
    values = reading["values"]
    assert set(values) == set(expected)
    # The simulator's model at CLOCK: index 123456 m³ + 1073 (1621) pulses of 0.1 m³.
    assert values["index_unconverted"] == {"value": "123563.3", "unit": "m³"}
    assert values["index_converted"] == {"value": "123618.1", "unit": "m³"}
    assert values["pressure"] == {"value": "1.502", "unit": "bar"}
    assert values["temperature"] == {"value": "9.9", "unit": "°C"}
    assert values["parameter_mapping_version"] == {"value": "FL_b0040", "unit": None}
    assert values["input_pulse_weight"] == {"value": "0.1", "unit": "m³"}
    assert values["temperature_base"] == {"value": "288.15", "unit": "K"}  # not 288.149994
    assert values["pressure_high"]["value"] == "10"  # not 1E+1
    assert values["compressibility_formula"] == {"value": "1", "unit": None}
    assert values["datetime"]["value"] == "2026-01-15T10:30:00+00:00"
    for name, entry in values.items():
        value = expected[name]
        if isinstance(value, datetime):
            assert entry["value"] == value.isoformat()
        elif isinstance(value, Decimal | int):
            assert Decimal(entry["value"]) == value
            assert entry["value"] == str(value)
        else:
            assert entry["value"] == value


async def test_read_in_another_timezone_and_with_the_right_password() -> None:
    faults = SimulatorFaults(required_password="S3CRET")
    oslo = "Europe/Oslo"
    async with simulator(faults=faults) as sim:
        run = await cli("corus", "read", *address(sim), "--password", "S3CRET", "--timezone", oslo)
    assert run.code == 0, run
    # The simulator's clock is UTC: read as Oslo local time it is 10:30+01:00.
    datetime_value = run.json_lines()[0]["values"]["datetime"]["value"]
    assert datetime_value == "2026-01-15T10:30:00+01:00"


async def test_database_prints_records_newest_first() -> None:
    async with simulator() as sim:
        run = await cli(
            "corus",
            "database",
            "hourly",
            *address(sim),
            "--start",
            "2026-01-15T07:00:00",
            "--stop",
            "2026-01-15T10:00:00+00:00",
        )
        raw = sim.database_records(
            "hourly", CLOCK.replace(minute=0), CLOCK.replace(hour=7, minute=0)
        )
    assert run.code == 0, run
    records = run.json_lines()
    assert [r["end_date"] for r in records] == [
        "2026-01-15T10:00:00+00:00",
        "2026-01-15T09:00:00+00:00",
        "2026-01-15T08:00:00+00:00",
    ]
    assert [r["start_date"] for r in records] == [
        "2026-01-15T09:00:00+00:00",
        "2026-01-15T08:00:00+00:00",
        "2026-01-15T07:00:00+00:00",
    ]
    layout = get_layout("hourly", 90)
    assert layout is not None
    names = [f.name for f in layout.fields if f.type.name not in ("Null2", "Null4")]
    for record, data in zip(records, raw, strict=True):
        assert list(record) == names  # every field, in layout order, filler left out
        values = layout.parse(data, Decimal("0.1"), UTC)
        for name in names:
            value = values.get(name)
            shown = value.isoformat() if isinstance(value, datetime) else value
            assert record[name] == (None if value is None else str(shown))
    newest = records[0]
    # Index differences equal the hour's consumption (the simulator's model is consistent).
    assert Decimal(newest["index_unconverted"]) - Decimal(records[1]["index_unconverted"]) == (
        Decimal(newest["consumption_unconverted_hourly"])
    )
    assert newest["record_duration"] == "60"
    assert newest["status"] == "0"


async def test_database_of_an_empty_converter_prints_nothing() -> None:
    async with simulator(faults=SimulatorFaults(empty_databases=True)) as sim:
        run = await cli("corus", "database", "daily", *address(sim))
    assert (run.code, run.out, run.err) == (0, "", "")


async def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    """`corus database hourly ... | head -1`: no traceback for the closed pipe."""
    read_end, write_end = os.pipe()
    async with CorusSimulator(start=CLOCK, speed=0, history_days=10) as sim:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "custom_components.amshan_corus",
            "corus",
            "database",
            "hourly",
            *address(sim),
            cwd=REPO_ROOT,
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
        os.close(write_end)
        stdout = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(read_end, "rb")
        )
        async with asyncio.timeout(COMMAND_TIMEOUT):
            first = json.loads(await stdout.readline())
            transport.close()  # like `head -1` after its line
            _, err = await process.communicate()
    assert first["end_date"] == "2026-01-15T10:00:00+00:00"
    assert (process.returncode, err) == (0, b"")


async def test_network_errors_are_one_line_on_stderr() -> None:
    faults = SimulatorFaults(required_password="S3CRET")
    async with (
        simulator(faults=faults) as sim,
        simulator(faults=SimulatorFaults(reply_delay=3.0)) as slow,
    ):
        runs = await asyncio.gather(
            cli("corus", "read", "--host", "127.0.0.1", "--port", str(free_port())),
            cli("corus", "read", *address(sim)),
            cli("corus", "database", "daily", *address(slow), "--timeout", "0.5"),
        )
    lines = [run.error_line() for run in runs]
    assert "cannot connect to 127.0.0.1:" in lines[0]
    assert lines[1] == (
        f"error: corus read (127.0.0.1:{sim.port}): the converter refused the password"
    )
    assert lines[2] == (
        f"error: corus database daily (127.0.0.1:{slow.port}): "
        "no answer to daily database frame 0 within 0.5 s"
    )


CLOSED = ["--host", "127.0.0.1", "--port", "1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["corus", "read", *CLOSED, "--timezone", "Mars/Olympus"], "unknown timezone"),
        (
            ["corus", "database", "hourly", *CLOSED, "--start", "yesterday"],
            "--start 'yesterday' is not an ISO 8601 date/time",
        ),
        (
            [
                "corus",
                "database",
                "hourly",
                *CLOSED,
                "--start",
                "2026-01-02",
                "--stop",
                "2026-01-01",
            ],
            "--start 2026-01-02 is after --stop 2026-01-01",
        ),
        (["corus", "database", "events", *CLOSED], "invalid choice: 'events'"),
        (["corus", "read", *CLOSED, "--password", "пароль"], "the password must be latin-1 text"),
        (["corus", "read", *CLOSED, "--timeout", "0"], "timeout 0 is not a positive number"),
        (["corus", "read", "--host", "127.0.0.1", "--port", "70000"], "port 70000 is outside"),
        (["simulate", "corus", "--port", "0", "--firmware", "x9999"], "map 'x9999'"),
        (["simulate", "corus", "--port", "0", "--fault", "meteor-strike"], "unknown fault"),
        (["simulate", "corus", "--port", "0", "--fault", "reply-delay=soon"], "unknown fault"),
    ],
)
def test_usage_errors_are_one_line_on_stderr(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before any I/O, so in-process (the subprocess contract is the same code)."""
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ")
    assert message in err


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
async def test_simulate_serves_until_interrupted(stop_signal: signal.Signals) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.amshan_corus",
        "simulate",
        "corus",
        "--port",
        str(port),
        "--firmware",
        "M5A03",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(COMMAND_TIMEOUT):
            line = (await process.stdout.readline()).decode()
        assert line == f"simulated Corus converter (map M5A03) listening on 127.0.0.1:{port}\n"
        run = await cli("corus", "read", "--host", "127.0.0.1", "--port", str(port))
        assert run.code == 0, run
        reading = run.json_lines()[0]
        assert reading["firmware_map"] == "M5A03"
        assert "pressure_2" in reading["values"]
        assert "kernel_version" in reading["values"]
    finally:
        process.send_signal(stop_signal)
        async with asyncio.timeout(COMMAND_TIMEOUT):
            _, err = await process.communicate()
    assert process.returncode == 0, err
    assert err == b""
