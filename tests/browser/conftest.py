"""Browser tests drive the real demo stack in subprocesses: no in-process Home Assistant.

The Home Assistant pytest plugin stays loaded (it is a registered plugin), but nothing here needs
its `hass` fixture, so the package-wide autouse fixture that sets one up is switched off; its
socket guard still allows 127.0.0.1, where the whole stack lives, once `socket_enabled` is asked.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override tests/conftest.py's fixture: no in-process Home Assistant here."""
