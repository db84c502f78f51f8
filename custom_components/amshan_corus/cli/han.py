"""`han decode`, `han listen` and `simulate han` (HAN issue)."""

from __future__ import annotations

import argparse


def register(
    han_commands: argparse._SubParsersAction[argparse.ArgumentParser],
    simulate_commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add the HAN sub-commands to the parser tree."""
