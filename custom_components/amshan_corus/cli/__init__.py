"""Command-line tool: `python -m custom_components.amshan_corus han|corus|simulate ...`.

Each protocol registers its own sub-commands (see `han.py`, `corus.py`). The contract for
every command: results on stdout (JSON), and on failure exit code 1 with exactly one line
on stderr saying what was wrong.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
import sys

from . import corus, han
from .common import CliError, CliParser, Handler


def build_parser() -> argparse.ArgumentParser:
    """Build the whole command tree."""
    parser = CliParser(
        prog="python -m custom_components.amshan_corus",
        description="Decode HAN/P1 meter data and read Itron Corus gas volume converters.",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="{han,corus,simulate}")
    han_commands = groups.add_parser("han", help="decode or listen to a HAN/P1 meter stream")
    corus_commands = groups.add_parser("corus", help="read a Corus gas volume converter")
    simulate_commands = groups.add_parser("simulate", help="run a simulated meter (TCP server)")
    han_sub = han_commands.add_subparsers(dest="command", required=True)
    corus_sub = corus_commands.add_subparsers(dest="command", required=True)
    simulate_sub = simulate_commands.add_subparsers(dest="command", required=True)
    han.register(han_sub, simulate_sub)
    corus.register(corus_sub, simulate_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; return the process exit code."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error at exit
        return 0
