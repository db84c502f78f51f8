"""Corus parameter maps: which parameter id holds which value, per firmware map.

A converter names its map in parameter 0x5E as `FL_<map id>` (e.g. "FL_b0040"); the 32 maps
shipped with iflag 1.0.1 live in `data/parameter_maps.json`, with units added by this project.

Public API:
- `ParameterDefinition(name, id, type, unit)`: one parameter; `type` is a `DataType`.
- `ParameterMap(map_id, parameters)`: `parameters` is `{name: ParameterDefinition}`; also
  `map[name]`, `name in map`, `map.get(name)`, `map.definitions()`.
- `get_parameter_map(map_id)`: the map, matched case-insensitively ("M5B00" finds "m5B00");
  raises `UnsupportedFirmwareError` naming the id and the known ones.
- `map_id_from_version(text)`: "FL_b0040" -> "b0040" (raises `CorusProtocolError` otherwise).
- `known_map_ids()`: the 32 map ids as spelled in the data.
- `PARAMETER_MAP_VERSION` (0x5E, CorusString) and `PULSE_WEIGHT` (1, Float): the two
  parameters that are the same on every map.

None of the maps has a serial-number parameter; `firmware_version` (and `kernel_version` on the
5xxx families) are the identity values they do have.

The data file (~22 kB) is read once, lazily, on the first call that needs it; in an event loop
call `load_parameter_maps()` once in an executor at start-up (after that, lookups do no I/O).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
import json
from types import MappingProxyType

from .datatypes import CORUS_STRING, FLOAT, DataType, data_type
from .errors import CorusProtocolError, UnsupportedFirmwareError

MAP_VERSION_PREFIX = "FL_"


@dataclass(frozen=True, slots=True)
class ParameterDefinition:
    """One converter parameter: its name, id, data type and unit (None if unitless)."""

    name: str
    id: int
    type: DataType
    unit: str | None = None


PARAMETER_MAP_VERSION = ParameterDefinition("parameter_mapping_version", 0x5E, CORUS_STRING)
PULSE_WEIGHT = ParameterDefinition("input_pulse_weight", 1, FLOAT, "m³")


@dataclass(frozen=True, slots=True)
class ParameterMap:
    """The parameters of one firmware map, by name."""

    map_id: str
    parameters: Mapping[str, ParameterDefinition]

    def __getitem__(self, name: str) -> ParameterDefinition:
        return self.parameters[name]

    def __contains__(self, name: object) -> bool:
        return name in self.parameters

    def __iter__(self) -> Iterator[str]:
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def get(self, name: str) -> ParameterDefinition | None:
        """The parameter called `name`, or None if this map has none."""
        return self.parameters.get(name)

    def definitions(self) -> list[ParameterDefinition]:
        """All parameters, ordered by id."""
        return sorted(self.parameters.values(), key=lambda p: p.id)


@cache
def load_parameter_maps() -> Mapping[str, ParameterMap]:
    """All maps keyed by lower-cased map id (reads the package data once)."""
    raw = json.loads((resources.files(__name__) / "data" / "parameter_maps.json").read_text())
    units: dict[str, str] = raw["units"]
    maps = {}
    for map_id, parameters in raw["maps"].items():
        definitions = {
            name: ParameterDefinition(name, int(pid), data_type(type_name), units.get(name))
            for name, (pid, type_name) in parameters.items()
        }
        maps[map_id.lower()] = ParameterMap(map_id, MappingProxyType(definitions))
    return MappingProxyType(maps)


def known_map_ids() -> list[str]:
    """The map ids this library knows, as spelled in the data, sorted case-insensitively."""
    return sorted((m.map_id for m in load_parameter_maps().values()), key=str.lower)


def get_parameter_map(map_id: str) -> ParameterMap:
    """The map called `map_id`, whatever its case; `UnsupportedFirmwareError` if unknown."""
    found = load_parameter_maps().get(map_id.strip().lower())
    if found is None:
        raise UnsupportedFirmwareError(map_id, known_map_ids())
    return found


def map_id_from_version(text: str) -> str:
    """The map id in a parameter-map version string: "FL_b0040" -> "b0040"."""
    value = text.strip()
    if not value.upper().startswith(MAP_VERSION_PREFIX) or len(value) == len(MAP_VERSION_PREFIX):
        raise CorusProtocolError(f"parameter 0x5E is {text!r}, not FL_<map id>")
    return value[len(MAP_VERSION_PREFIX) :]
