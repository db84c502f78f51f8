"""`corus read`, `corus database` and `simulate corus` (Corus issue)."""

from __future__ import annotations

import argparse


def register(
    corus_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    simulate_commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the Corus sub-commands to the parser tree."""
