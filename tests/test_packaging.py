"""HACS and hassfest rules for hacs.json and manifest.json, checked offline."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml

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


QUALITY_SCALE_RULES = {
    # bronze
    *[
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow-test-coverage",
        "config-flow",
        "dependency-transparency",
        "docs-actions",
        "docs-triggers",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    # silver
    *[
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    # gold
    *[
        "devices",
        "diagnostics",
        "discovery-update-info",
        "discovery",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    # platinum
    *["async-dependency", "inject-websession", "strict-typing"],
}


def test_quality_scale_records_every_rule_with_a_reason() -> None:
    rules = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text())["rules"]
    assert set(rules) == QUALITY_SCALE_RULES
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in {"done", "exempt", "todo"}, name
        if status != "done":
            assert isinstance(rule, dict), name
            assert rule.get("comment"), name
