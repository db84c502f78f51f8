"""The command-line tool's shared contract: usage errors are one line on stderr, exit 1."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_unknown_command_is_one_line_exit_1() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "custom_components.amshan_corus", "frobnicate"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "invalid choice: 'frobnicate'" in result.stderr
