"""Helpers shared by the command-line sub-commands."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
import contextlib
from datetime import date, datetime
from decimal import Decimal
import json
from typing import Any, NoReturn


class CliParser(argparse.ArgumentParser):
    """Usage errors follow the contract too: one line on stderr, exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {self.prog}: {message}\n")


type Commands = argparse._SubParsersAction[CliParser]


class CliError(Exception):
    """A failure to report as one line on stderr (exit code 1)."""


type Handler = Callable[[argparse.Namespace], int]


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(obj: Any) -> str:
    """One compact JSON line; datetimes as ISO 8601, Decimals as strings, bytes as hex."""
    return json.dumps(obj, default=_json_default, ensure_ascii=False, separators=(", ", ": "))


def run_until_interrupted(main: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Run a long-lived coroutine (listen, simulate) until Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return 0
