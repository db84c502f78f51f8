#!/usr/bin/env python3
"""Read a Corus converter (or our simulator) with iflag 1.0.1 and print what it got as JSON.

    scripts/iflag_crosscheck.py --host 127.0.0.1 --port 4000 [--database hourly]
        [--start ISO] [--stop ISO] [--no-database] [--repeat N]

iflag is the reference implementation we compare against, never a dependency: it lives in a
throw-away venv (/tmp/iflag-venv, or build/iflag-venv which `iflag_python(create=True)` makes).
Run with any Python, this script re-runs itself with that venv's interpreter. There it signs
on, reads the map id (0x5E), every parameter of that map in one request, the database, and
signs off. Output, one JSON object on stdout:

    {"firmware_map": "b0040", "parameters": {"index_converted": "11796.7", ...},
     "records": [{"end_date": "2020-10-07T12:00:00", ...}, ...],
     "timing": {"sign_on_s": .., "poll_s": [..], "poll_round_trips": n,
                "database_s": .., "database_round_trips": n}}

Values are strings (Decimals as `str`, datetimes ISO 8601, iflag's int Bytes as decimal
strings); iflag leaves out every value it decodes as None. A round trip is one message the
client sends (request, database ACK or NAK), because each one waits for the device's answer.
Works on Python 3.6+ (iflag's venv may be older than ours).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from decimal import Decimal
import importlib
import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any

IFLAG_REQUIREMENT = "iflag==1.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
IFLAG_VENVS = (Path("/tmp/iflag-venv"), REPO_ROOT / "build" / "iflag-venv")


class IflagUnavailableError(RuntimeError):
    """No venv with iflag exists and pip could not build one (no registry access)."""


def iflag_python(create: bool = False) -> Path:
    """The interpreter of a venv that has iflag 1.0.1, optionally building build/iflag-venv."""
    for venv in IFLAG_VENVS:
        python = venv / "bin" / "python"
        if python.exists() and _has_iflag(python):
            return python
    if not create:
        raise IflagUnavailableError(
            "no venv with iflag 1.0.1 (make one: python3 -m venv /tmp/iflag-venv && "
            f"/tmp/iflag-venv/bin/pip install {IFLAG_REQUIREMENT})"
        )
    venv = IFLAG_VENVS[-1]
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "--disable-pip-version-check",
            IFLAG_REQUIREMENT,
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise IflagUnavailableError(f"cannot install {IFLAG_REQUIREMENT}: {tail}")
    return venv / "bin" / "python"


def _has_iflag(python: Path) -> bool:
    probe = [str(python), "-c", "import iflag, databases.corus_databases_hourly"]
    return subprocess.run(probe, capture_output=True, timeout=60, check=False).returncode == 0


def iflag_command(host: str, port: int, *extra: str) -> list[str]:
    """The command running this script under iflag's venv against HOST:PORT."""
    return [str(iflag_python()), __file__, "--host", host, "--port", str(port), *extra]


def run_iflag(host: str, port: int, *extra: str, timeout: float = 300.0) -> dict[str, Any]:
    """Run this script under iflag's venv against HOST:PORT and return its JSON object."""
    command = iflag_command(host, port, *extra)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"iflag run failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# --------------------------------------------------------------------------- iflag side


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, int)):
        return str(value)
    return value


def _module_case_insensitive(prefix: str, map_id: str) -> Any:
    """The wheel's map modules mix cases (M5A00, m5B00, m5b04), the device's id may too."""
    databases = importlib.import_module("databases")  # the wheel's maps and layouts
    for entry in Path(databases.__file__).parent.glob(f"{prefix}*.py"):
        if entry.stem.lower() == f"{prefix}{map_id}".lower():
            return importlib.import_module(f"databases.{entry.stem}")
    raise SystemExit(f"error: iflag has no parameter map {map_id!r}")


def _read_with_iflag(args: argparse.Namespace) -> dict[str, Any]:
    # Only importable inside iflag's venv, which is why these imports are not at the top.
    corus_client = importlib.import_module("iflag").CorusClient
    hourly = importlib.import_module("databases.corus_databases_hourly")
    interval = importlib.import_module("databases.corus_databases_interval")
    daily = importlib.import_module("databases.corus_databases_daily")
    monthly = importlib.import_module("databases.corus_databases_monthly")
    layouts = {
        name: {len_: getattr(module, f"{name.upper()}_DB_{len_}") for len_ in lengths}
        for name, module, lengths in (
            ("interval", interval, (52, 90, 92)),
            ("hourly", hourly, (52, 90, 92)),
            ("daily", daily, (57, 95, 97)),
            ("monthly", monthly, (103, 109, 111)),
        )
    }
    client = corus_client.with_tcp_transport((args.host, args.port), database_layout=layouts)
    sent = [0]
    send = client.transport.send

    def counting_send(data: bytes) -> None:
        sent[0] += 1
        send(data)

    client.transport.send = counting_send  # type: ignore[method-assign]
    timing: dict[str, Any] = {}
    began = time.perf_counter()
    client.startup()
    timing["sign_on_s"] = time.perf_counter() - began
    try:
        map_id = client.get_parameter_map_id()
        module = _module_case_insensitive("corus_parameter_map_", map_id)
        parameter_map = next(v for k, v in vars(module).items() if k.startswith("PARAMETER_MAP"))
        names = {parameter.id: name for name, parameter in parameter_map.items()}
        polls = []
        for _ in range(args.repeat):
            sent[0] = 0
            began = time.perf_counter()
            values = client.read_parameters(list(parameter_map.values()))
            polls.append(time.perf_counter() - began)
        timing["poll_s"] = polls
        timing["poll_round_trips"] = sent[0]
        parameters = {names[id_]: _plain(value) for id_, value in values.items()}
        records: list[dict[str, Any]] = []
        if args.database:
            sent[0] = 0
            began = time.perf_counter()
            raw = client.read_database(
                args.database,
                start=datetime.fromisoformat(args.start) if args.start else None,
                stop=datetime.fromisoformat(args.stop) if args.stop else None,
            )
            timing["database_s"] = time.perf_counter() - began
            timing["database_round_trips"] = sent[0]
            records = [{k: _plain(v) for k, v in record.items()} for record in raw]
    finally:
        client.shutdown()
    return {"firmware_map": map_id, "parameters": parameters, "records": records, "timing": timing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--database", default="hourly", choices=("interval", "hourly", "daily", "monthly")
    )
    parser.add_argument("--no-database", dest="database", action="store_const", const=None)
    parser.add_argument("--start", help="newest record time (naive ISO 8601)")
    parser.add_argument("--stop", help="oldest record time (naive ISO 8601)")
    parser.add_argument("--repeat", type=int, default=1, help="full polls to time")
    args = parser.parse_args()
    if importlib.util.find_spec("iflag") is None:
        try:
            python = iflag_python()
        except IflagUnavailableError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        os.execv(str(python), [str(python), __file__, *sys.argv[1:]])
    print(json.dumps(_read_with_iflag(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
