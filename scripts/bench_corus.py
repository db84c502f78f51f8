#!/usr/bin/env python3
"""Benchmark the Corus client against the simulator over loopback, beside iflag 1.0.1.

    .venv/bin/python scripts/bench_corus.py [--map b0040] [--repeat 20] [--records 1000]

Both clients talk to the same `CorusSimulator`, run in a process of its own (frozen clock, so
both read the same data): sign-on, a full poll (every parameter of the map; median of --repeat
polls in one session) and reading --records hourly records (median of 5 reads; ours reads the
pulse weight once per session, iflag once per run). iflag runs in its throw-away venv through
scripts/iflag_crosscheck.py (skipped with a note if that venv cannot be built).

A round trip is one message the client sends that the converter answers: a request, or an
ACK/NAK of a database frame. Ours are counted by the simulator, iflag's by that script.
Figures, not assertions: timing goals live here, not in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
import functools
import importlib.util
import json
from pathlib import Path
import statistics
import sys
import time
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from custom_components.amshan_corus.protocol.corus.client import CorusClient  # noqa: E402
from custom_components.amshan_corus.protocol.corus.frames import CMD_BREAK  # noqa: E402
from custom_components.amshan_corus.protocol.corus.simulator import CorusSimulator  # noqa: E402

CLOCK = datetime(2026, 1, 20, 12, 0, 30, tzinfo=UTC)
DATABASE_READS = 5  # the database figure is the median of this many reads


def _crosscheck_script() -> Any:
    path = REPO_ROOT / "scripts" / "iflag_crosscheck.py"
    spec = importlib.util.spec_from_file_location("iflag_crosscheck", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SimulatorProcess:
    """The simulator in a process of its own, so that neither client shares its CPU time.

    Its clock is frozen, so the records never change: it caches their encoding (seconds per
    1000 records) so that the figures measure the clients, not it. `round_trips()` asks it for
    its count: requests (not the break) plus ACKs and NAKs of database frames.
    """

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port

    @classmethod
    async def start(cls, map_id: str, days: int) -> SimulatorProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve",
            "--map",
            map_id,
            "--days",
            str(days),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        port = json.loads(await process.stdout.readline())["port"]
        return cls(process, port)

    async def round_trips(self) -> int:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(b"stats\n")
        await self.process.stdin.drain()
        count: int = json.loads(await self.process.stdout.readline())["round_trips"]
        return count

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def serve(map_id: str, days: int) -> None:
    """The --serve side: print the port, then answer each `stats` line on stdin."""
    async with CorusSimulator(map_id, start=CLOCK, speed=0, history_days=days) as sim:
        sim.database_records = functools.cache(sim.database_records)  # type: ignore[method-assign]
        print(json.dumps({"port": sim.port}), flush=True)
        loop = asyncio.get_running_loop()
        stdin = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
        while await stdin.readline():  # counts are final: each was counted before answering
            stats = sim.stats
            count = sum(1 for c in stats.requests if c != CMD_BREAK) + stats.acks + stats.naks
            print(json.dumps({"round_trips": count}), flush=True)


async def bench_ours(
    sim: SimulatorProcess, repeat: int, since: datetime, until: datetime
) -> dict[str, Any]:
    client = CorusClient("127.0.0.1", sim.port, timeout=30)
    async with client.session():  # warm-up: loads the maps and layouts once, off the clock
        pass
    result: dict[str, Any] = {}
    began = time.perf_counter()
    async with client.session() as session:
        result["sign_on_s"] = time.perf_counter() - began
        definitions = (await session.parameter_map()).definitions()
        polls = []
        for _ in range(repeat):
            before = await sim.round_trips()
            began = time.perf_counter()
            await session.read_parameters(definitions)
            polls.append(time.perf_counter() - began)
            result["poll_round_trips"] = await sim.round_trips() - before
        result["poll_s"] = polls
        reads = []
        for _ in range(DATABASE_READS):
            before = await sim.round_trips()
            began = time.perf_counter()
            records = await session.read_database("hourly", since, until)
            reads.append(time.perf_counter() - began)
            result["database_round_trips"] = await sim.round_trips() - before
        result["database_s"] = statistics.median(reads)
        result["records"] = len(records)
        result["parameters"] = len(definitions)
    sessions = []
    for _ in range(repeat):
        began = time.perf_counter()
        await client.read_all()
        sessions.append(time.perf_counter() - began)
    result["session_s"] = sessions
    return result


async def bench_iflag(
    sim: SimulatorProcess, repeat: int, since: datetime, until: datetime
) -> dict[str, Any] | str:
    script = _crosscheck_script()
    try:
        command = script.iflag_command("127.0.0.1", sim.port)
    except script.IflagUnavailableError:
        try:
            await asyncio.to_thread(script.iflag_python, True)
        except script.IflagUnavailableError as err:
            return f"skipped: {err}"
        command = script.iflag_command("127.0.0.1", sim.port)
    naive = {"--start": until, "--stop": since}  # iflag: start is the newest record time
    for option, moment in naive.items():
        command += [option, moment.replace(tzinfo=None).isoformat()]  # the simulator's UTC
    runs = []
    for _ in range(DATABASE_READS):  # iflag's script reads the database once per run
        process = await asyncio.create_subprocess_exec(
            *command, "--repeat", str(repeat), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        if process.returncode != 0:
            return f"failed with exit code {process.returncode}"
        runs.append(json.loads(out))
    timing: dict[str, Any] = runs[0]["timing"]
    timing["database_s"] = statistics.median(r["timing"]["database_s"] for r in runs)
    timing["records"] = len(runs[0]["records"])
    timing["parameters"] = len(runs[0]["parameters"])
    return timing


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f} ms"


def show(title: str, ours: dict[str, Any], theirs: dict[str, Any] | str) -> None:
    print(title)
    print(f"  {'':34}{'ours (asyncio)':>26}   {'iflag 1.0.1 (blocking)':>26}")

    def row(label: str, mine: str, other: str) -> None:
        print(f"  {label:34}{mine:>26}   {other:>26}")

    def other(render: Any) -> str:
        return theirs if isinstance(theirs, str) else render(theirs)

    row(
        "sign-on (connect, wake-up, password)",
        ms(ours["sign_on_s"]),
        other(lambda t: ms(t["sign_on_s"])),
    )
    row(
        f"full poll ({ours['parameters']} parameters), median",
        f"{ms(statistics.median(ours['poll_s']))}, {ours['poll_round_trips']} rt",
        other(lambda t: f"{ms(statistics.median(t['poll_s']))}, {t['poll_round_trips']} rt"),
    )
    row(
        f"{ours['records']} hourly records, median",
        f"{ms(ours['database_s'])}, {ours['database_round_trips']} rt",
        other(lambda t: f"{ms(t['database_s'])}, {t['database_round_trips']} rt ({t['records']})"),
    )
    row(
        "whole session: sign-on+map+poll+break",
        ms(statistics.median(ours["session_s"])),
        "-",
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--map", default="b0040", help="firmware map of the simulator")
    parser.add_argument("--repeat", type=int, default=20, help="polls to take the median of")
    parser.add_argument("--records", type=int, default=1000, help="hourly records to read")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        await serve(args.map, args.days)
        return
    sim = await SimulatorProcess.start(args.map, args.records // 24 + 2)
    try:
        until = CLOCK.replace(minute=0, second=0)
        since = until - timedelta(hours=args.records)
        ours = await bench_ours(sim, args.repeat, since, until)
        theirs = await bench_iflag(sim, args.repeat, since, until)
    finally:
        await sim.stop()
    show(f"Corus: simulator (map {args.map}) on 127.0.0.1, frozen clock", ours, theirs)


if __name__ == "__main__":
    asyncio.run(main())
