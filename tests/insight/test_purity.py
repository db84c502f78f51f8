"""The insight engines stay pure: no Home Assistant, nothing outside the stdlib and our protocol."""

from __future__ import annotations

import ast
import sys

from tests.conftest import REPO_ROOT

INSIGHT = REPO_ROOT / "custom_components" / "amshan_corus" / "insight"


def test_insight_imports_only_the_stdlib_and_our_protocol_libraries() -> None:
    imported: set[str] = set()
    for path in INSIGHT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add("." * node.level + (node.module or ""))
    foreign = {
        name
        for name in imported
        if not name.startswith((".", "..protocol."))
        and name.partition(".")[0] not in sys.stdlib_module_names
    }
    assert foreign == set()
    assert "zoneinfo" in imported  # the scan does see imports
