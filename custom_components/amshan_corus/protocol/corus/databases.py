"""Corus database record layouts, chosen by record length, and record parsing with scaling.

The interval, hourly, daily and monthly databases have layouts for their record lengths as
shipped with iflag 1.0.1 (`data/database_layouts.json`): interval/hourly 52, 90, 92 bytes;
daily 57, 95, 97; monthly 103, 109, 111. A converter announces the record size in the first
frame of its answer; the layout is chosen by (database, size).

Scaling, as iflag 1.0.1 documents it: a field marked pulse-weighted is multiplied by the input
pulse weight (parameter 1, `Float`), then divided by `divide_by` where set (1000 for the
converted consumptions of the 90+ byte layouts). Parameter reads are never scaled.
Fields that decode to None (all 0xFF, Null2/Null4 filler) are left out of `values`.

Public API:
- `FieldDefinition(name, type, offset, pulse_weighted, divide_by, unit)`.
- `RecordLayout(name, database, length, fields)`: `.parse(raw, pulse_weight, tz) -> dict` and
  `.encode(values, pulse_weight, tz) -> bytes` (the inverse, used by the simulator);
  `.pulse_weighted` tells whether parsing needs the pulse weight.
- `DatabaseRecord(raw, values, layout)`: one record; `layout` is None (and `values` empty) for
  event/parameter records without a known layout.
- `get_layout(database, length)`, `layouts_for(database)`, `parse_records(database,
  record_size, data, pulse_weight, tz)`, `field_unit(name)`.
- `load_database_layouts()`: reads the data file once (~21 kB); call it in an executor once if
  the first use happens in an event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
import json
from types import MappingProxyType

from .datatypes import DataType, EncodableValue, Value, data_type, tidy_decimal
from .errors import CorusEncodeError, CorusProtocolError, UnsupportedLayoutError
from .frames import DATABASES

RAW_DATABASES = frozenset({"event", "parameter"})  # no known layout: records stay raw

_UNIT_PREFIXES = (
    ("consumption_", "m³"),
    ("counter_", "m³"),
    ("index_", "m³"),
    ("flowrate_", "m³/h"),
    ("temperature_", "°C"),
    ("pressure_", "bar"),
    ("record_duration", "min"),
)


def field_unit(name: str) -> str | None:
    """The unit of a record field, by its name (factory-default converter units)."""
    return next((unit for prefix, unit in _UNIT_PREFIXES if name.startswith(prefix)), None)


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """One field of a record layout."""

    name: str
    type: DataType
    offset: int
    pulse_weighted: bool = False
    divide_by: Decimal | None = None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class RecordLayout:
    """The fields of one database's records of one length."""

    name: str
    database: str
    length: int
    fields: tuple[FieldDefinition, ...]

    @property
    def pulse_weighted(self) -> bool:
        """Whether some field needs the pulse weight."""
        return any(f.pulse_weighted for f in self.fields)

    def parse(
        self, raw: bytes, pulse_weight: Decimal | None = None, tz: tzinfo = UTC
    ) -> dict[str, Value]:
        """The values of one record, scaled; fields without a value are left out."""
        if len(raw) != self.length:
            raise CorusProtocolError(f"{self.name} needs {self.length} bytes, got {len(raw)}")
        if pulse_weight is None and self.pulse_weighted:
            raise CorusProtocolError(f"{self.name} needs the pulse weight")
        values: dict[str, Value] = {}
        for spec in self.fields:
            value = spec.type.decode(raw[spec.offset : spec.offset + spec.type.length], tz)
            if value is None:
                continue
            if isinstance(value, Decimal) and spec.pulse_weighted and pulse_weight is not None:
                try:
                    value = value * pulse_weight
                    if spec.divide_by is not None:
                        value = value / spec.divide_by
                except InvalidOperation as err:
                    raise CorusProtocolError(f"cannot scale {spec.name}: {err}") from err
                value = tidy_decimal(value)
            values[spec.name] = value
        return values

    def encode(
        self,
        values: Mapping[str, EncodableValue],
        pulse_weight: Decimal | None = None,
        tz: tzinfo = UTC,
    ) -> bytes:
        """The bytes of a record holding `values` (scaled values, as `parse` returns them)."""
        out = bytearray()
        for spec in self.fields:
            value = values.get(spec.name)
            if value is None and spec.type.is_filler:
                value = 0
            elif value is not None and spec.pulse_weighted:
                if pulse_weight is None or not pulse_weight:
                    raise CorusEncodeError(f"{self.name} needs a non-zero pulse weight")
                if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                    raise CorusEncodeError(f"{spec.name} needs a number, got {value!r}")
                number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
                number = number / pulse_weight
                value = number * spec.divide_by if spec.divide_by is not None else number
            out += spec.type.encode(value, tz)
        return bytes(out)


@dataclass(frozen=True, slots=True)
class DatabaseRecord:
    """One database record: its bytes and, where a layout is known, its values."""

    raw: bytes
    values: Mapping[str, Value] = field(default_factory=dict)
    layout: str | None = None


@cache
def load_database_layouts() -> Mapping[str, Mapping[int, RecordLayout]]:
    """Every known layout, by database name and record length (reads the package data once)."""
    raw = json.loads((resources.files(__name__) / "data" / "database_layouts.json").read_text())
    layouts: dict[str, Mapping[int, RecordLayout]] = {}
    for database, by_length in raw["layouts"].items():
        built = {}
        for length_text, layout in by_length.items():
            fields, offset = [], 0
            for name, type_name, pulse_weighted, divide_by in layout["fields"]:
                kind = data_type(type_name)
                fields.append(
                    FieldDefinition(
                        name,
                        kind,
                        offset,
                        bool(pulse_weighted),
                        Decimal(divide_by) if divide_by is not None else None,
                        field_unit(name),
                    )
                )
                offset += kind.length
            if offset != int(length_text):
                raise CorusProtocolError(f"layout {layout['name']} sums to {offset} bytes")
            built[offset] = RecordLayout(layout["name"], database, offset, tuple(fields))
        layouts[database] = MappingProxyType(built)
    return MappingProxyType(layouts)


def layouts_for(database: str) -> Mapping[int, RecordLayout]:
    """The layouts of `database` by record length (empty for event/parameter)."""
    return load_database_layouts().get(database, MappingProxyType({}))


def get_layout(database: str, length: int) -> RecordLayout | None:
    """The layout of `database` records of `length` bytes, or None."""
    return layouts_for(database).get(length)


def parse_records(
    database: str,
    record_size: int,
    data: bytes,
    pulse_weight: Decimal | None = None,
    tz: tzinfo = UTC,
) -> list[DatabaseRecord]:
    """Cut `data` into records and parse each with the layout for `record_size`.

    Event and parameter records without a layout come back raw; an unknown length for the
    other databases raises `UnsupportedLayoutError` (nothing is guessed).
    """
    if database not in DATABASES:
        raise CorusProtocolError(f"unknown database {database!r}")
    if record_size <= 0:
        if data:
            raise CorusProtocolError("database data without a record size")
        return []
    if len(data) % record_size:
        raise CorusProtocolError(
            f"{len(data)} bytes of {database} data are not whole {record_size}-byte records"
        )
    chunks = [data[i : i + record_size] for i in range(0, len(data), record_size)]
    layout = get_layout(database, record_size)
    if layout is None:
        if database in RAW_DATABASES:
            return [DatabaseRecord(chunk) for chunk in chunks]
        known = ", ".join(str(n) for n in layouts_for(database)) or "none"
        raise UnsupportedLayoutError(
            f"no layout for {record_size}-byte {database} records (known: {known})"
        )
    return [DatabaseRecord(c, layout.parse(c, pulse_weight, tz), layout.name) for c in chunks]
