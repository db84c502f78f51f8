"""Every translation has exactly en.json's strings, with the same placeholders in each."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

TRANSLATIONS = REPO_ROOT / "custom_components" / "amshan_corus" / "translations"
OTHER_LANGUAGES = sorted(path for path in TRANSLATIONS.glob("*.json") if path.name != "en.json")
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _strings(node: Any, path: str = "") -> dict[str, str]:
    """Flatten a translation tree to {"config.step.user.title": text, ...}."""
    if isinstance(node, dict):
        flat: dict[str, str] = {}
        for key, value in node.items():
            flat |= _strings(value, f"{path}.{key}" if path else key)
        return flat
    assert isinstance(node, str), f"{path} is neither a string nor an object"
    return {path: node}


def _load(path: Path) -> dict[str, str]:
    return _strings(json.loads(path.read_text(encoding="utf-8")))


def test_the_known_languages_are_there() -> None:
    assert {path.stem for path in OTHER_LANGUAGES} >= {"nb", "sv", "nl"}


@pytest.mark.parametrize("path", OTHER_LANGUAGES, ids=lambda path: path.stem)
def test_translation_has_exactly_the_english_keys(path: Path) -> None:
    english, translated = _load(TRANSLATIONS / "en.json"), _load(path)
    assert sorted(english.keys() - translated.keys()) == [], "missing in " + path.name
    assert sorted(translated.keys() - english.keys()) == [], "not in en.json"


@pytest.mark.parametrize("path", OTHER_LANGUAGES, ids=lambda path: path.stem)
def test_translation_keeps_every_placeholder(path: Path) -> None:
    english, translated = _load(TRANSLATIONS / "en.json"), _load(path)
    for key in english.keys() & translated.keys():
        assert translated[key].strip(), key
        assert set(PLACEHOLDER.findall(translated[key])) == set(
            PLACEHOLDER.findall(english[key])
        ), key
