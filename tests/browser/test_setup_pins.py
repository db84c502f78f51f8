"""The demo runs Home Assistant with --skip-pip: set-up must install what it would have."""

from __future__ import annotations

import json
from pathlib import Path

import homeassistant.components.frontend

from tests.conftest import REPO_ROOT


def test_frontend_pinned_as_home_assistant_pins_it() -> None:
    """requirements_test.txt carries the frontend exactly as the installed HA's manifest."""
    manifest = Path(homeassistant.components.frontend.__file__).with_name("manifest.json")
    (wanted,) = json.loads(manifest.read_text())["requirements"]
    requirements = (REPO_ROOT / "requirements_test.txt").read_text().splitlines()
    assert wanted in requirements
