"""OBIS text forms and the reading-name vocabulary."""

from __future__ import annotations

import pytest

from custom_components.amshan_corus.protocol.han.obis import (
    OBIS_NAMES,
    default_unit,
    format_obis,
    mbus_value_name,
    normalize_obis,
    obis_name,
)


def test_format_reduced_form() -> None:
    assert format_obis(bytes([1, 0, 1, 7, 0, 255])) == "1-0:1.7.0"
    assert format_obis(bytes([1, 0, 1, 8, 0, 1])) == "1-0:1.8.0.1"
    with pytest.raises(ValueError, match="6 bytes"):
        format_obis(b"\x01")


@pytest.mark.parametrize(
    "text", ["1-0:1.8.0", "1-0:1.8.0.255", "1.0.1.8.0.255", "1-0:1.8.0*255", " 1-0:1.8.0 "]
)
def test_normalize_spellings(text: str) -> None:
    assert normalize_obis(text) == "1-0:1.8.0"


@pytest.mark.parametrize("text", ["", "1-0:1.8", "abc", "1-0:1.8.0.256", "1-0:1.8.0.x"])
def test_normalize_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="OBIS"):
        normalize_obis(text)


def test_names_match_the_full_code() -> None:
    assert obis_name("1-0:1.7.0") == obis_name("1-1:1.7.0") == "active_power_import"
    assert obis_name("1-0:21.7.0") == "active_power_import_l1"
    assert obis_name("1-0:64.7.0") == "reactive_power_export_l3"
    assert obis_name("1-0:4.8.0") == "reactive_power_export_total"
    assert obis_name("1-0:73.7.0") == "power_factor_l3"
    assert obis_name("0-0:96.1.0") == "meter_id"
    assert obis_name("0-1:96.1.0") is None  # M-Bus channel 1 device id
    assert obis_name("1-0:1.8.1") is None  # tariff registers keep their code
    assert obis_name("1-0:1.8.0.1") is None  # a billing period is not the live register
    assert obis_name("1-0:1.4.0") == "peak_demand_current_quarter"  # Belgium
    assert obis_name("1-0:1.6.0") == "peak_demand_month"
    assert len(set(OBIS_NAMES.values())) == 37


def test_default_units() -> None:
    assert default_unit("1-0:1.7.0") == "W"
    assert default_unit("1-0:3.8.1") == "varh"
    assert default_unit("1-1:31.7.0") == "A"
    assert default_unit("1-0:52.7.0") == "V"
    assert default_unit("1-0:14.7.0") == "Hz"
    assert default_unit("1-0:13.7.0") is None
    assert default_unit("0-0:1.0.0") is None


def test_mbus_value_names() -> None:
    assert mbus_value_name(3) == "gas_volume"
    assert mbus_value_name(7) == "water_volume"
    assert mbus_value_name(4) == "heat_energy"
    assert mbus_value_name(None) == "gas_volume"
