"""OBIS codes: the reduced text form and THE reading-name vocabulary of every HAN/P1 decoder.

Reduced form: "A-B:C.D.E", with ".F" appended only when F is not 255 ("1-0:1.8.0",
"1-0:1.8.0.1"). Names are matched on the full A-B:C.D.E, so the M-Bus channel 1 device id
"0-1:96.1.0" is never taken for the electricity meter's `meter_id`. Codes without a name are
published under their reduced OBIS text ("1-0:96.7.21").
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
import re
from typing import Final

_SHORT_ELECTRICITY: Final[dict[str, str]] = {
    "1.4.0": "peak_demand_current_quarter",  # Belgium: the running quarter-hour's average
    "1.6.0": "peak_demand_month",  # Belgium: the month's highest quarter, `timestamp` = when
    "1.7.0": "active_power_import",
    "2.7.0": "active_power_export",
    "3.7.0": "reactive_power_import",
    "4.7.0": "reactive_power_export",
    "21.7.0": "active_power_import_l1",
    "22.7.0": "active_power_export_l1",
    "23.7.0": "reactive_power_import_l1",
    "24.7.0": "reactive_power_export_l1",
    "41.7.0": "active_power_import_l2",
    "42.7.0": "active_power_export_l2",
    "43.7.0": "reactive_power_import_l2",
    "44.7.0": "reactive_power_export_l2",
    "61.7.0": "active_power_import_l3",
    "62.7.0": "active_power_export_l3",
    "63.7.0": "reactive_power_import_l3",
    "64.7.0": "reactive_power_export_l3",
    "31.7.0": "current_l1",
    "51.7.0": "current_l2",
    "71.7.0": "current_l3",
    "32.7.0": "voltage_l1",
    "52.7.0": "voltage_l2",
    "72.7.0": "voltage_l3",
    "1.8.0": "active_power_import_total",
    "2.8.0": "active_power_export_total",
    "3.8.0": "reactive_power_import_total",
    "4.8.0": "reactive_power_export_total",
    "13.7.0": "power_factor",
    "33.7.0": "power_factor_l1",
    "53.7.0": "power_factor_l2",
    "73.7.0": "power_factor_l3",
    "14.7.0": "frequency",
    "0.2.129": "list_ver_id",  # OBIS list version identifier (Aidon 1-1, Kaifa SE 1-0)
}

OBIS_NAMES: Final[Mapping[str, str]] = {
    # Electricity: channel B=0, and B=1 as Kamstrup (1-1:...) and Aidon (1-1:0.2.129) send it.
    **{f"1-{b}:{cde}": name for b in (0, 1) for cde, name in _SHORT_ELECTRICITY.items()},
    "0-0:1.0.0": "meter_datetime",
    "0-1:1.0.0": "meter_datetime",  # Kamstrup's clock
    "0-0:96.1.0": "meter_id",
    "0-0:96.1.1": "meter_id",  # DSMR equipment identifier; 96.1.0 wins when both are sent
    "1-1:0.0.5": "meter_id",  # Kamstrup GS1 number
    "0-0:96.1.7": "meter_type",
    "1-1:96.1.1": "meter_type",  # Kamstrup type number
}
"""Reduced OBIS code -> reading name. A decoder keeps the first reading of a name in a message;
a later code with the same name is published under its OBIS text instead."""

# EN 13757-3 M-Bus device types -> the name of the channel's main reading (DSMR 0-n:24.2.1).
MBUS_VALUE_NAMES: Final[Mapping[int, str]] = {
    0x03: "gas_volume",
    0x04: "heat_energy",  # heat meter, return flow
    0x0C: "heat_energy",  # heat meter, flow
    0x0D: "heat_energy",  # heat/cooling meter
    0x0A: "cooling_energy",
    0x0B: "cooling_energy",
    0x06: "water_volume",  # warm water
    0x07: "water_volume",
    0x15: "water_volume",  # hot water
    0x16: "water_volume",  # cold water
}


def mbus_value_name(device_type: int | None) -> str:
    """The reading name of an M-Bus channel's value; gas when the device type is unknown
    (gas is what an unlabelled DSMR channel carries in practice)."""
    if device_type is None:
        return "gas_volume"
    return MBUS_VALUE_NAMES.get(device_type, "gas_volume")


@lru_cache(maxsize=1024)
def format_obis(code: bytes) -> str:
    """The reduced text of a 6-byte OBIS code: 01 00 01 07 00 FF -> "1-0:1.7.0"."""
    if len(code) != 6:
        raise ValueError(f"an OBIS code has 6 bytes, got {len(code)}")
    a, b, c, d, e, f = code
    text = f"{a}-{b}:{c}.{d}.{e}"
    return text if f == 255 else f"{text}.{f}"


_OBIS_TEXT = re.compile(
    r"^(\d{1,3})[-.](\d{1,3})[:.](\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[.*](\d{1,3}))?$"
)


def normalize_obis(text: str) -> str:
    """Any usual spelling ("1-0:1.8.0", "1-0:1.8.0.255", "1.0.1.8.0.255", "1-0:1.8.0*255")
    -> the reduced form. Raises ValueError for text that is not an OBIS code."""
    match = _OBIS_TEXT.match(text.strip())
    if match is None:
        raise ValueError(f"not an OBIS code: {text!r}")
    groups = [int(g) for g in match.groups(default="255")]
    if any(g > 255 for g in groups):
        raise ValueError(f"OBIS value group out of range: {text!r}")
    return format_obis(bytes(groups))


def obis_name(obis: str) -> str | None:
    """The reading name of a reduced OBIS code, or None when it has none."""
    return OBIS_NAMES.get(obis)


_ELECTRICITY_UNITS: Final[dict[int, str]] = {
    **dict.fromkeys((1, 2, 15, 16, 21, 22, 35, 36, 41, 42, 55, 56, 61, 62, 75, 76), "W"),
    **dict.fromkeys((3, 4, 5, 6, 7, 8, 23, 24, 25, 26, 27, 28, 43, 44, 45, 46), "var"),
    **dict.fromkeys((47, 48, 63, 64, 65, 66, 67, 68), "var"),
    **dict.fromkeys((9, 10, 29, 30, 49, 50, 69, 70), "VA"),
    **dict.fromkeys((11, 31, 51, 71, 91), "A"),
    **dict.fromkeys((12, 32, 52, 72), "V"),
    14: "Hz",
}


@lru_cache(maxsize=1024)
def default_unit(obis: str) -> str | None:
    """The unit an electricity quantity has when the meter sends no scaler_unit
    (C selects the quantity, D=7 instantaneous, D=8 energy register). None otherwise."""
    match = _OBIS_TEXT.match(obis)
    if match is None or match.group(1) != "1":
        return None
    c, d = int(match.group(3)), int(match.group(4))
    unit = _ELECTRICITY_UNITS.get(c)
    if unit is None or d not in (7, 8):
        return None
    if d == 8:
        return f"{unit}h" if unit in ("W", "var", "VA") else None
    return unit
