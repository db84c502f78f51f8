"""`corus read`, `corus database` and `simulate corus` (Corus issue).

Output:
- `corus read`: one JSON object `{"firmware_map": "b0040", "values": {"index_converted":
  {"value": "11796.7", "unit": "m³"}, ...}}` with every parameter of the converter's map.
- `corus database hourly|interval|daily|monthly`: JSON Lines, one record per line, newest
  first, every field of the record's layout (filler left out).
Numbers are decimal strings (exact; Byte values too), datetimes ISO 8601 in the converter's
timezone, and a value the converter does not have is null.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine, Mapping
from contextlib import suppress
from datetime import datetime, tzinfo
from decimal import Decimal
import signal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..protocol.corus.client import CorusClient
from ..protocol.corus.databases import DatabaseRecord, get_layout
from ..protocol.corus.datatypes import NULL2, NULL4, Value
from ..protocol.corus.errors import CorusError
from ..protocol.corus.simulator import CorusSimulator, SimulatorFaults
from .common import CliError, Commands, dumps, run_until_interrupted

DEFAULT_TIMEOUT = 10.0
RECORD_DATABASES = ("hourly", "interval", "daily", "monthly")


def register(
    corus_commands: Commands,
    simulate_commands: Commands,
) -> None:
    """Add the Corus sub-commands to the parser tree."""
    read = corus_commands.add_parser(
        "read", help="sign on, detect the parameter map and read all its parameters"
    )
    _add_connection_arguments(read)
    read.set_defaults(handler=_read)

    database = corus_commands.add_parser(
        "database", help="read the records of a database, newest first (JSON Lines)"
    )
    database.add_argument("database", choices=RECORD_DATABASES)
    _add_connection_arguments(database)
    database.add_argument(
        "--start", metavar="ISO", help="oldest record time to read (default: no limit)"
    )
    database.add_argument(
        "--stop", metavar="ISO", help="newest record time to read (default: no limit)"
    )
    database.set_defaults(handler=_database)

    simulate = simulate_commands.add_parser(
        "corus", help="serve a simulated Corus converter over TCP until interrupted"
    )
    simulate.add_argument("--port", type=int, required=True, help="TCP port (0: any free)")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulate.add_argument("--firmware", default="b0040", help="parameter map id (default b0040)")
    simulate.add_argument(
        "--timezone", default="UTC", help="the simulated clock's IANA timezone (default UTC)"
    )
    simulate.add_argument(
        "--fault", action="append", default=[], help=f"a fault switch (repeatable): {FAULTS_HELP}"
    )
    simulate.set_defaults(handler=_simulate)


def _add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", required=True, help="converter (or gateway) address")
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument(
        "--password", help="password to send (default: echo the one the converter sends)"
    )
    parser.add_argument(
        "--timezone", default="UTC", help="the converter clock's IANA timezone (default UTC)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for each answer (default {DEFAULT_TIMEOUT:g})",
    )


def _timezone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise CliError(f"unknown timezone {name!r} (use an IANA name like Europe/Oslo)") from err


def _client(args: argparse.Namespace) -> CorusClient:
    if not 0 < args.port < 65536:
        raise CliError(f"port {args.port} is outside 1-65535")
    if not args.timeout > 0:
        raise CliError(f"timeout {args.timeout:g} is not a positive number of seconds")
    try:
        return CorusClient(
            args.host,
            args.port,
            password=args.password,
            timeout=args.timeout,
            timezone=_timezone(args.timezone),
        )
    except CorusError as err:  # a password it cannot send
        raise CliError(f"corus {args.command}: {err}") from err


def _moment(text: str | None, option: str, tz: tzinfo) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise CliError(f"{option} {text!r} is not an ISO 8601 date/time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _plain(value: Value) -> Any:
    """A value as the contract prints it: numbers as exact decimal strings."""
    if isinstance(value, int | Decimal):
        return str(value)
    return value


def _run[T](client: CorusClient, what: str, job: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(job)
    except CorusError as err:
        where = f"{client.host}:{client.port}"
        raise CliError(
            f"{what}: {err}" if where in str(err) else f"{what} ({where}): {err}"
        ) from err


def _read(args: argparse.Namespace) -> int:
    client = _client(args)
    reading = _run(client, "corus read", client.read_all())
    values = {
        name: {"value": _plain(entry.value), "unit": entry.unit}
        for name, entry in reading.values.items()
    }
    print(dumps({"firmware_map": reading.firmware_map, "values": values}), flush=True)
    return 0


def _record_line(database: str, record: DatabaseRecord) -> dict[str, Any]:
    """Every field of the record's layout (None where the converter has no value)."""
    layout = get_layout(database, len(record.raw))
    names = [f.name for f in layout.fields if f.type not in (NULL2, NULL4)] if layout else []
    values: Mapping[str, Value] = record.values
    line = {name: _plain(values.get(name)) for name in names}
    line.update({k: _plain(v) for k, v in values.items() if k not in line})
    return line


def _database(args: argparse.Namespace) -> int:
    client = _client(args)
    oldest = _moment(args.start, "--start", client.timezone)
    newest = _moment(args.stop, "--stop", client.timezone)
    if oldest and newest and oldest > newest:
        raise CliError(f"--start {args.start} is after --stop {args.stop}")
    records: list[DatabaseRecord] = _run(
        client,
        f"corus database {args.database}",
        client.read_database(args.database, oldest, newest),
    )
    for record in records:
        print(dumps(_record_line(args.database, record)))
    return 0


FAULTS_HELP = (
    "tiny-segments | corrupt-database-frame=K | reply-delay=SECONDS | drop-mid-frame=read|database"
    " | password=X (require X instead of the password sent) | empty-databases"
)


def _set_fault(faults: SimulatorFaults, name: str, value: str) -> bool:
    """Switch on one fault; False if `name`/`value` is not one."""
    match name, value:
        case "tiny-segments", "":
            faults.tiny_segments = True
        case "empty-databases", "":
            faults.empty_databases = True
        case "corrupt-database-frame", _:
            faults.corrupt_database_frame = int(value)
        case "reply-delay", _:
            faults.reply_delay = float(value)
        case "drop-mid-frame", "read":
            faults.drop_mid_frame = "read"
        case "drop-mid-frame", "database":
            faults.drop_mid_frame = "database"
        case "password", _ if value:
            faults.required_password = value
        case _:
            return False
    return True


def _faults(texts: list[str]) -> SimulatorFaults:
    faults = SimulatorFaults()
    for text in texts:
        name, _, value = text.partition("=")
        try:
            known = _set_fault(faults, name, value)
        except ValueError:
            known = False
        if not known:
            raise CliError(f"unknown fault {text!r} (faults: {FAULTS_HELP})")
    return faults


def _simulate(args: argparse.Namespace) -> int:
    try:
        simulator = CorusSimulator(
            args.firmware,
            host=args.host,
            port=args.port,
            faults=_faults(args.fault),
            timezone=_timezone(args.timezone),
        )
    except CorusError as err:
        raise CliError(f"simulate corus: {err}") from err

    async def serve() -> None:
        try:
            await simulator.start()
        except OSError as err:
            raise CliError(
                f"simulate corus: cannot listen on {args.host}:{args.port}: {err}"
            ) from err
        where = f"{args.host}:{simulator.port}"
        print(f"simulated Corus converter (map {args.firmware}) listening on {where}", flush=True)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # even if started with SIGINT ignored
            with suppress(NotImplementedError):  # no signal handlers on Windows loops
                loop.add_signal_handler(signum, stopped.set)
        try:
            await stopped.wait()
        finally:
            await simulator.stop()

    return run_until_interrupted(serve)
