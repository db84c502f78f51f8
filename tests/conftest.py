"""Shared test fixtures: Home Assistant harness wiring and paths to the shared vectors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

pytest_plugins = "pytest_homeassistant_custom_component"

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_VECTORS = REPO_ROOT.parent / "shared" / "vectors"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load integrations from custom_components/."""


# --------------------------------------------------------------- Home Assistant runtime (I1)
# Imported here, not at the top: plain protocol tests must not need the integration package.


def han_frame(information_hex: str) -> bytes:
    """A complete HDLC frame (flags, HCS, FCS) around an information field, as an Aidon sends."""
    from custom_components.amshan_corus.protocol.han.simulator import hdlc_frame

    return hdlc_frame(
        bytes.fromhex(information_hex), destination=b"\x41", source=b"\x08\x83", control=0x13
    )


def shared_vector(name: str) -> str:
    """The hex of vector `name` in han_vectors.txt."""
    lines = (SHARED_VECTORS / "han_vectors.txt").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# [{name}]"))
    return next(line.strip() for line in lines[start + 1 :] if line and not line.startswith("#"))


@pytest.fixture
def fast_han_timing() -> Iterator[Any]:
    """HAN supervisor timings short enough for tests (watchdog 0.5 s, back-off 20-100 ms)."""
    from custom_components.amshan_corus.coordinator import HanTiming

    timing = HanTiming(watchdog=0.5, backoff_min=0.02, backoff_max=0.1, connect_timeout=2.0)
    with patch("custom_components.amshan_corus.coordinator.DEFAULT_HAN_TIMING", timing):
        yield timing


async def wait_until(condition: Callable[[], object], seconds: float = 10.0) -> None:
    """Let the event loop run until `condition()` is true (real I/O needs real time)."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110  polling state that several sources change
            await asyncio.sleep(0.01)
