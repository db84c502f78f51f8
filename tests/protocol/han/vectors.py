"""The shared HAN vectors (han_vectors.txt, dlms_extra_vectors.txt) by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
import re

from custom_components.amshan_corus.protocol.han.security import SecurityKeys
from tests.conftest import SHARED_VECTORS

_HEADER = re.compile(r"^# (?:\[([^\]]+)\]|===== (\S+) =====)")


@dataclass
class Vector:
    """One vector: its wire bytes and its '# key: value' metadata lines."""

    name: str
    data: bytes
    meta: dict[str, str] = field(default_factory=dict)


@cache
def all_vectors() -> dict[str, Vector]:
    """Every vector of both files, keyed by id (e.g. "p1_lg_e360_D", "ENC-01")."""
    vectors: dict[str, Vector] = {}
    for filename in ("han_vectors.txt", "dlms_extra_vectors.txt"):
        current: Vector | None = None
        for line in (SHARED_VECTORS / filename).read_text(encoding="utf-8").splitlines():
            header = _HEADER.match(line)
            if header:
                current = Vector(header.group(1) or header.group(2), b"")
                vectors[current.name] = current
            elif current is None or not line.strip():
                continue
            elif line.startswith("#"):
                key, _, value = line.lstrip("#").strip().partition(":")
                current.meta.setdefault(key.strip(), value.strip())
            elif not current.data:
                current.data = bytes.fromhex(line.strip())
    return vectors


def vector(name: str) -> bytes:
    """The wire bytes of vector `name`."""
    return all_vectors()[name].data


def vector_keys(name: str, *, with_ak: bool = True) -> SecurityKeys | None:
    """The keys of vector `name` (None when it has none; `with_ak=False`: the GUEK only)."""
    meta = all_vectors()[name].meta
    if "ek" not in meta:
        return None
    ak = meta.get("ak", "")
    return SecurityKeys(
        bytes.fromhex(meta["ek"]),
        bytes.fromhex(ak) if with_ak and ak and not ak.startswith("(") else None,
    )
