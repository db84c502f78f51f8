"""HACS and hassfest rules for hacs.json and manifest.json, checked offline."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "custom_components" / "amshan_corus"
HACS_KEYS = {
    "name",
    "content_in_root",
    "country",
    "filename",
    "hacs",
    "hide_default_branch",
    "homeassistant",
    "persistent_directory",
    "render_readme",
    "zip_release",
}


def test_hacs_json_has_only_known_keys() -> None:
    hacs = json.loads((REPO_ROOT / "hacs.json").read_text())
    assert set(hacs) <= HACS_KEYS
    assert hacs["name"] == "AMS HAN & Corus meters"


def test_manifest_has_the_keys_a_custom_integration_needs() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    for key in ("domain", "name", "version", "documentation", "issue_tracker", "codeowners"):
        assert manifest[key], key
    assert manifest["domain"] == PACKAGE.name
    assert manifest["config_flow"] is True
    # Home Assistant pins serialx itself: a range keeps us installable beside core.
    assert "serialx>=1.15.1" in manifest["requirements"]
    assert not any(req.startswith("pyserial-asyncio") for req in manifest["requirements"])


def test_protocol_libraries_never_import_home_assistant() -> None:
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in (PACKAGE / "protocol").rglob("*.py")
        if any(
            line.lstrip().startswith(("import homeassistant", "from homeassistant"))
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_command_line_tool_starts_without_home_assistant() -> None:
    """`python -m custom_components.amshan_corus` runs the package __init__ first: keep it light."""
    probe = (
        "import sys, custom_components.amshan_corus.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('homeassistant')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
