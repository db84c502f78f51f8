"""Parameter maps: the 32 maps, case-insensitive lookup, definitions."""

from __future__ import annotations

import json

import pytest

from custom_components.amshan_corus.protocol.corus.datatypes import FLOAT, INDEX, INDEX9
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusProtocolError,
    UnsupportedFirmwareError,
)
from custom_components.amshan_corus.protocol.corus.firmware import (
    PARAMETER_MAP_VERSION,
    PULSE_WEIGHT,
    get_parameter_map,
    known_map_ids,
    map_id_from_version,
)
from tests.conftest import SHARED_VECTORS

SHARED_MAPS = json.loads((SHARED_VECTORS / "corus_parameter_maps.json").read_text())["maps"]


def test_all_32_maps_match_the_shared_vectors() -> None:
    assert sorted(known_map_ids()) == sorted(SHARED_MAPS)
    assert len(known_map_ids()) == 32
    for map_id, parameters in SHARED_MAPS.items():
        ours = get_parameter_map(map_id)
        assert ours.map_id == map_id
        assert {n: (p.id, p.type.name) for n, p in ours.parameters.items()} == {
            n: (p["id"], p["type"]) for n, p in parameters.items()
        }


@pytest.mark.parametrize(
    ("asked", "found"),
    [("M5B00", "m5B00"), ("m5a00", "M5A00"), ("B0040", "b0040"), (" v1003 ", "V1003")],
)
def test_lookup_is_case_insensitive(asked: str, found: str) -> None:
    assert get_parameter_map(asked).map_id == found


def test_unknown_map_names_itself_and_the_known_ones() -> None:
    with pytest.raises(UnsupportedFirmwareError) as caught:
        get_parameter_map("x9999")
    assert caught.value.map_id == "x9999"
    assert "b0040" in caught.value.known
    assert "'x9999'" in str(caught.value)
    assert "m5b04" in str(caught.value)


def test_definitions_have_types_and_units() -> None:
    b0040 = get_parameter_map("b0040")
    assert b0040["index_unconverted"].id == 148
    assert b0040["index_unconverted"].type is INDEX
    assert b0040["index_unconverted"].unit == "m³"
    assert b0040["pressure_2"].id == 299
    assert b0040["temperature"].unit == "°C"
    assert b0040["temperature_base"].unit == "K"
    assert b0040["compressibility_formula"].unit is None
    assert b0040.get("kernel_version") is None
    assert [p.id for p in b0040.definitions()] == sorted(p.id for p in b0040.definitions())
    m5a00 = get_parameter_map("M5A00")
    assert m5a00["index_converted"].type is INDEX9
    assert m5a00["flowrate_unconverted"].id == 280
    assert "kernel_version" in m5a00
    for map_id in known_map_ids():
        parameters = get_parameter_map(map_id)
        assert parameters["input_pulse_weight"] == PULSE_WEIGHT
        assert parameters["parameter_mapping_version"].id == PARAMETER_MAP_VERSION.id
    assert PULSE_WEIGHT.type is FLOAT


def test_map_id_from_version() -> None:
    assert map_id_from_version("FL_b0040") == "b0040"
    assert map_id_from_version("fl_M5A00 ") == "M5A00"
    for bad in ("b0040", "FL_", ""):
        with pytest.raises(CorusProtocolError):
            map_id_from_version(bad)
