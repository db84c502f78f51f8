"""Database layouts by record length, parsing with scaling, encoding back."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
import json

import pytest

from custom_components.amshan_corus.protocol.corus.databases import (
    field_unit,
    get_layout,
    layouts_for,
    load_database_layouts,
    parse_records,
)
from custom_components.amshan_corus.protocol.corus.datatypes import EncodableValue
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusEncodeError,
    CorusProtocolError,
    UnsupportedLayoutError,
)
from tests.conftest import SHARED_VECTORS

SHARED = json.loads((SHARED_VECTORS / "corus_database_layouts.json").read_text())["layouts"]


def test_layouts_match_the_shared_vectors() -> None:
    ours = load_database_layouts()
    assert sorted(ours) == sorted(SHARED)
    for database, by_length in SHARED.items():
        assert sorted(layouts_for(database)) == sorted(int(n) for n in by_length)
        for length, layout in by_length.items():
            mine = get_layout(database, int(length))
            assert mine is not None
            assert mine.name == layout["name"]
            assert [(f.name, f.type.name, f.pulse_weighted, f.divide_by) for f in mine.fields] == [
                (
                    f["name"],
                    f["type"],
                    f["pulse_weighted"],
                    Decimal(f["divide_by"]) if "divide_by" in f else None,
                )
                for f in layout["fields"]
            ]
    assert get_layout("hourly", 53) is None
    assert layouts_for("event") == {}


def test_offsets_follow_the_documented_tables() -> None:
    hourly90 = get_layout("hourly", 90)
    assert hourly90 is not None
    offsets = {f.name: f.offset for f in hourly90.fields}
    assert offsets["index_unconverted"] == 42
    assert offsets["start_date"] == 78
    assert offsets["pressure_hourly_average_2"] == 88
    monthly = get_layout("monthly", 103)
    assert monthly is not None
    assert {f.name: f.offset for f in monthly.fields}["consumption_converted_monthly_maximum"] == 85


def test_scaling_pulse_weight_then_divide() -> None:
    layout = get_layout("hourly", 90)
    assert layout is not None
    values: dict[str, EncodableValue] = {
        "record_duration": 60,
        "status": 0,
        "end_date": datetime(2024, 5, 1, 13, tzinfo=UTC),
        "start_date": datetime(2024, 5, 1, 12, tzinfo=UTC),
        "consumption_unconverted_hourly": Decimal("12.5"),
        "consumption_converted_hourly": Decimal("18.7654"),
        "index_unconverted": Decimal("12345.6789"),
        "temperature_hourly_average": Decimal("11.25"),
    }
    raw = layout.encode(values, Decimal("0.01"))
    assert raw[6:8] == (1250).to_bytes(2, "little")  # 12.5 / 0.01 pulses
    assert raw[8:12] == (1876540).to_bytes(4, "little")  # 18.7654 / 0.01 * 1000
    parsed = layout.parse(raw, Decimal("0.01"))
    assert parsed == values  # absent fields (all 0xFF) and fillers are left out


def test_parse_needs_the_pulse_weight() -> None:
    layout = get_layout("daily", 57)
    assert layout is not None
    raw = layout.encode({"record_duration": 1440}, Decimal(1))
    with pytest.raises(CorusProtocolError, match="pulse weight"):
        layout.parse(raw)
    with pytest.raises(CorusEncodeError):
        layout.encode({"consumption_unconverted_daily": 1}, Decimal(0))


def test_parse_records_choose_by_length() -> None:
    layout = get_layout("monthly", 111)
    assert layout is not None
    one = layout.encode({"record_duration": 44640, "status": 1}, Decimal(1))
    records = parse_records("monthly", 111, one * 3, Decimal(1))
    assert [r.layout for r in records] == ["MONTHLY_DB_111"] * 3
    assert records[0].values == {"record_duration": Decimal(44640), "status": 1}
    assert records[0].raw == one
    assert parse_records("hourly", 0, b"") == []


def test_unknown_layouts() -> None:
    raw = parse_records("event", 6, bytes(range(12)))
    assert [(r.raw, dict(r.values), r.layout) for r in raw] == [
        (bytes(range(6)), {}, None),
        (bytes(range(6, 12)), {}, None),
    ]
    with pytest.raises(UnsupportedLayoutError, match="52, 90, 92"):
        parse_records("hourly", 60, bytes(60))
    with pytest.raises(CorusProtocolError, match="whole"):
        parse_records("hourly", 52, bytes(53))
    with pytest.raises(CorusProtocolError, match="unknown database"):
        parse_records("weekly", 52, bytes(52))


def test_field_units() -> None:
    assert field_unit("consumption_converted_hourly") == "m³"
    assert field_unit("flowrate_unconverted_daily_average") == "m³/h"
    assert field_unit("pressure_hourly_minimum_2") == "bar"
    assert field_unit("temperature_interval_average") == "°C"
    assert field_unit("status") is None
