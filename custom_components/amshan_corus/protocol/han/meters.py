"""Notification body -> named readings, for the list layouts meters push on HAN ports.

Layouts, tried in this order:
- Kaifa Norway: a structure of bare values, the list told by its element count (1, 9, 13, 14,
  18) and, but for list 1, its version id "KFM_001": no OBIS codes, so the positions are fixed.
- Austrian "push list" (Iskraemeco AM550, Siemens IM350): a structure of 12 starting with the
  push setup code 0-6:25.9.0, then meter number, time, date, A+, A-, R+, R-, P+, P-.
- Self-describing OBIS lists, which cover every other meter without new code: an array or
  structure of `{OBIS, value[, scaler_unit]}` structures (Aidon, Iskra, Sagemcom...), or a flat
  structure of `OBIS, value[, scaler_unit]` runs (Kaifa Sweden and Austria, Kamstrup, Landis+Gyr),
  where null-data padding and a leading list-version string (Kamstrup) or trailing meter number
  (EVN) may sit between the pairs.

Values the meter sends without a scaler_unit get the manufacturer's documented resolution:
Kaifa currents in mA and voltages in 0.1 V; Kamstrup currents in 0.01 A (0.001 A on CT meters,
type numbers 685...), power factors in 0.01, and energies in 10 Wh, except Swedish Kamstrup
meters (type numbers ending in 090), which count in Wh (amshan-homeassistant#43 and
amsreader-firmware#970 report such meters reading 10x too high with the 10 Wh rule).
Everything else keeps the unit its OBIS code implies (W, var, Wh, varh, A, V, Hz).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from functools import lru_cache
import math
from typing import Final

from .axdr import (
    BitString,
    CosemDate,
    CosemDateTime,
    CosemTime,
    Data,
    EnumValue,
    Structure,
    looks_like_date_time,
    parse_date_time,
    unit_symbol,
)
from .errors import DecodeError
from .models import Reading, ReadingValue
from .obis import OBIS_NAMES, default_unit, format_obis, obis_name

# FLAG manufacturer ids (first 3 bytes of a DLMS system title, or of a list version id).
MANUFACTURERS: Final[Mapping[str, str]] = {
    "AID": "Aidon",
    "KFM": "Kaifa",
    "KAM": "Kamstrup",
    "LGZ": "Landis+Gyr",
    "LGF": "Landis+Gyr",
    "ISK": "Iskraemeco",
    "SMS": "Siemens",
    "SAG": "Sagemcom",
}


@dataclass(frozen=True, slots=True)
class _Item:
    """One value found in a body, before names and manufacturer scaling are applied."""

    obis: str | None
    value: Data
    scaler: int | None = None  # None: the meter sent no scaler_unit
    unit: str | None = None
    name: str | None = None  # for values without an OBIS code


def decode_body(
    body: Data,
    *,
    header_time: CosemDateTime | None = None,
    local_zone: tzinfo,
    system_title: bytes | None = None,
) -> tuple[str | None, dict[str, Reading]]:
    """Readings of a data-notification body -> (manufacturer, readings by name).

    Raises DecodeError when the body is no meter list this module knows, or holds no reading.
    """
    if not isinstance(body, list):
        raise DecodeError(f"notification body is a single {type(body).__name__}, not a list")
    items, manufacturer = _kaifa_positional(body) or _push_list(body) or (_obis_items(body), None)
    if not items:
        raise DecodeError(
            f"notification body ({type(body).__name__.lower()} of {len(body)} elements) holds "
            "no OBIS codes and matches no known list layout"
        )
    if manufacturer is None:
        manufacturer = _manufacturer(items, system_title)
    readings = _readings(items, manufacturer, local_zone)
    if "meter_datetime" not in readings and header_time is not None:
        moment = header_time.to_datetime(local_zone)
        if moment is not None:
            readings["meter_datetime"] = Reading(moment)
    if not any(name != "meter_datetime" for name in readings):
        raise DecodeError("notification body holds no meter readings")
    if manufacturer is not None:
        readings["meter_manufacturer"] = Reading(manufacturer)
    return manufacturer, readings


# --- layouts --------------------------------------------------------------------------------

_KAIFA_LIST_2: Final = (
    ("list_ver_id", None),
    ("meter_id", "0-0:96.1.0"),
    ("meter_type", "0-0:96.1.7"),
    ("active_power_import", "1-0:1.7.0"),
    ("active_power_export", "1-0:2.7.0"),
    ("reactive_power_import", "1-0:3.7.0"),
    ("reactive_power_export", "1-0:4.7.0"),
)
_KAIFA_ENERGIES: Final = (
    ("meter_datetime", "0-0:1.0.0"),
    ("active_power_import_total", "1-0:1.8.0"),
    ("active_power_export_total", "1-0:2.8.0"),
    ("reactive_power_import_total", "1-0:3.8.0"),
    ("reactive_power_export_total", "1-0:4.8.0"),
)
_ONE_PHASE: Final = (("current_l1", "1-0:31.7.0"), ("voltage_l1", "1-0:32.7.0"))
_THREE_PHASE: Final = (
    ("current_l1", "1-0:31.7.0"),
    ("current_l2", "1-0:51.7.0"),
    ("current_l3", "1-0:71.7.0"),
    ("voltage_l1", "1-0:32.7.0"),
    ("voltage_l2", "1-0:52.7.0"),
    ("voltage_l3", "1-0:72.7.0"),
)
_KAIFA_LISTS: Final[Mapping[int, tuple[tuple[str, str | None], ...]]] = {
    9: _KAIFA_LIST_2 + _ONE_PHASE,
    13: _KAIFA_LIST_2 + _THREE_PHASE,
    14: _KAIFA_LIST_2 + _ONE_PHASE + _KAIFA_ENERGIES,
    18: _KAIFA_LIST_2 + _THREE_PHASE + _KAIFA_ENERGIES,
}


def _kaifa_positional(body: list[Data]) -> tuple[list[_Item], str | None] | None:
    if not isinstance(body, Structure):
        return None
    if len(body) == 1:
        if isinstance(body[0], int) and not isinstance(body[0], bool | EnumValue):
            return [_Item("1-0:1.7.0", body[0])], "Kaifa"
        return None
    layout = _KAIFA_LISTS.get(len(body))
    # Kaifa's resolutions (mA, 0.1 V) only fit a list that says it is Kaifa's ("KFM_001").
    if layout is None or _manufacturer_from_text(body[0]) != "Kaifa":
        return None
    for (name, _), value in zip(layout, body, strict=True):
        if name in ("list_ver_id", "meter_id", "meter_type"):
            ok = isinstance(value, bytes | str)
        elif name == "meter_datetime":
            ok = isinstance(value, bytes) and looks_like_date_time(value)
        else:
            ok = isinstance(value, int) and not isinstance(value, bool | EnumValue)
        if not ok:
            return None
    items = [
        _Item(obis, value, name=name if obis is None else None)
        for (name, obis), value in zip(layout, body, strict=True)
    ]
    return items, "Kaifa"


_PUSH_SETUP: Final = bytes.fromhex("0006190900ff")
_PUSH_LIST: Final = (
    "1-0:1.8.0",
    "1-0:2.8.0",
    "1-0:3.8.0",
    "1-0:4.8.0",
    "1-0:1.7.0",
    "1-0:2.7.0",
)


def _push_list(body: list[Data]) -> tuple[list[_Item], str | None] | None:
    if len(body) != 12 or body[0] != _PUSH_SETUP:
        return None
    meter_number, time, date = body[1], body[2], body[3]
    values = body[4:10]
    if not (
        isinstance(meter_number, bytes | str)
        and isinstance(time, bytes)
        and len(time) == 4
        and isinstance(date, bytes)
        and len(date) == 5
        and all(isinstance(v, int) and not isinstance(v, bool | EnumValue) for v in values)
    ):
        return None
    items = [_Item("0-0:96.1.0", meter_number)]
    items += [_Item(obis, value) for obis, value in zip(_PUSH_LIST, values, strict=True)]
    # The list's own time and date carry no UTC deviation; the APDU header's clock does, and
    # becomes meter_datetime.
    return items, None


def _is_obis(value: Data) -> bool:
    # Value group A is a medium 0..15: keeps ASCII like b"160456" from passing as a code.
    return isinstance(value, bytes) and len(value) == 6 and value[0] <= 15


def _scaler_unit(value: Data) -> tuple[int, str | None] | None:
    if (
        isinstance(value, Structure)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool | EnumValue)
        and -128 <= value[0] <= 127
        and isinstance(value[1], EnumValue)
    ):
        return value[0], unit_symbol(value[1])
    return None


def _obis_items(body: list[Data]) -> list[_Item]:
    """Items of a self-describing body: `{OBIS, value[, scaler_unit]}` structures or flat
    `OBIS, value[, scaler_unit]` runs, skipping null padding."""
    items: list[_Item] = []
    unkeyed: list[tuple[int, Data]] = []
    i, count = 0, len(body)
    while i < count:
        element = body[i]
        if isinstance(element, Structure) and 2 <= len(element) <= 3 and _is_obis(element[0]):
            items.append(_item(element[0], element[1], element[2] if len(element) == 3 else None))
            i += 1
        elif _is_obis(element) and i + 1 < count:
            extra = body[i + 2] if i + 2 < count else None
            has_scaler = _scaler_unit(extra) is not None
            items.append(_item(element, body[i + 1], extra if has_scaler else None))
            i += 3 if has_scaler else 2
        else:
            if element is not None:
                unkeyed.append((i, element))
            i += 1
    if items:
        items.extend(_unkeyed_items(unkeyed, count))
    return items


def _item(code: Data, value: Data, scaler_unit: Data) -> _Item:
    assert isinstance(code, bytes)
    obis = format_obis(code)
    scaling = _scaler_unit(scaler_unit)
    if scaling is None:
        return _Item(obis, value)
    return _Item(obis, value, scaling[0], scaling[1])


def _unkeyed_items(unkeyed: list[tuple[int, Data]], count: int) -> Iterator[_Item]:
    """Values outside OBIS pairs that some meters add: Kamstrup's list version first, EVN's
    meter number last, a list time stamp first."""
    for index, value in unkeyed:
        if isinstance(value, bytes) and looks_like_date_time(value) and index == 0:
            yield _Item(None, parse_date_time(value), name="meter_datetime")
        elif isinstance(value, bytes | str) and _printable(value):
            if index == 0:
                yield _Item(None, value, name="list_ver_id")
            elif index == count - 1:
                yield _Item(None, value, name="meter_id")


# --- manufacturer and readings --------------------------------------------------------------


def _printable(value: bytes | str) -> bool:
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    return bool(text) and text.isprintable() and text.isascii()


def _manufacturer_from_text(value: Data) -> str | None:
    if not isinstance(value, bytes | str) or not _printable(value):
        return None
    text = value.decode("ascii") if isinstance(value, bytes) else value
    if text.upper().startswith("AIDON"):
        return "Aidon"
    if text.startswith("Kamstrup"):
        return "Kamstrup"
    return MANUFACTURERS.get(text[:3].upper())


def _manufacturer(items: Sequence[_Item], system_title: bytes | None) -> str | None:
    for item in items:
        # The list version id, or the COSEM logical device name, which starts with the FLAG id.
        if (
            item.name == "list_ver_id"
            or item.obis == "0-0:42.0.0"
            or (item.obis and obis_name(item.obis) == "list_ver_id")
        ):
            found = _manufacturer_from_text(item.value)
            if found:
                return found
    if system_title:
        return MANUFACTURERS.get(system_title[:3].decode("latin-1").upper())
    return None


def _text(value: Data) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("ascii") if _printable(value) else value.hex()
    return str(value)


@lru_cache(maxsize=512)
def _default_scaler(manufacturer: str | None, obis: str, meter_type: str | None) -> int:
    """The resolution of a value sent without scaler_unit, as a power of ten."""
    quantity = obis.split(":", 1)[-1]
    if manufacturer == "Kaifa":
        if quantity in ("31.7.0", "51.7.0", "71.7.0"):
            return -3
        if quantity in ("32.7.0", "52.7.0", "72.7.0"):
            return -1
    elif manufacturer == "Kamstrup":
        c, _, rest = quantity.partition(".")
        if rest == "7.0" and c in ("31", "51", "71"):
            return -3 if meter_type and meter_type.startswith("685") else -2
        if rest == "7.0" and c in ("13", "33", "53", "73"):
            return -2
        if rest == "8.0":
            return 0 if meter_type and meter_type.endswith("090") else 1
    return 0


def _scaled(raw: int | float, scaler: int) -> int | Decimal | None:
    if isinstance(raw, float):
        if not math.isfinite(raw):
            return None
        return Decimal(repr(raw)).scaleb(scaler)
    if scaler >= 0:
        return raw * int(10**scaler)
    return Decimal(raw).scaleb(scaler)


def _clock(value: CosemDateTime, local_zone: tzinfo, manufacturer: str | None) -> datetime | None:
    """A meter clock as an aware datetime.

    Aidon (NO list 3) writes deviation 0x0000, which the Blue Book reads as UTC, but its fields
    are the local *standard* time (UTC+1 in Norway) all year. Evidence: amsreader-firmware
    shifts every Aidon clock by a fixed -1 h (`adjustForKnownIssues`, "21.09.24, the clock is
    now correct for Aidon", confirmed in summer time), its PR #1262 shows Aidon hourly frames
    arriving at 13:00 CEST being 11:00 UTC with that rule, and its issue #1119 logs Aidon list 3
    payloads received at 16:00:11 (Norway, December) carrying the clock 16:00:00; a Finnish
    Aidon 7534 is reported to send local standard time too (UTC+2, jonkerj/iec62056 PR #3).
    So the standard offset of `local_zone` applies. Read as UTC, every hour would be booked an
    hour late (two in summer). Other meters follow the Blue Book.
    """
    if manufacturer != "Aidon" or value.deviation != 0:
        return value.to_datetime(local_zone)
    fields = replace(value, deviation=None).to_datetime(UTC)  # the fields as they read
    if fields is None:
        return None
    naive = fields.replace(tzinfo=None)
    standard = (local_zone.utcoffset(naive) or timedelta(0)) - (
        local_zone.dst(naive) or timedelta(0)
    )
    return naive.replace(tzinfo=timezone(standard))


def _value(
    value: Data, name: str | None, local_zone: tzinfo, manufacturer: str | None
) -> ReadingValue | None:
    """A non-numeric value as a reading value (None: nothing to publish)."""
    if value is None or isinstance(value, list):
        return None
    if isinstance(value, CosemDateTime):
        return _clock(value, local_zone, manufacturer)
    if isinstance(value, bytes) and name == "meter_datetime":
        if not looks_like_date_time(value):
            return None
        return _clock(parse_date_time(value), local_zone, manufacturer)
    if isinstance(value, bytes | str):
        return _text(value)
    if isinstance(value, CosemDate | CosemTime):
        return str(value)
    if isinstance(value, BitString):
        return value.data.hex()
    return None


def _meter_type(items: Sequence[_Item]) -> str | None:
    for item in items:
        if item.obis and OBIS_NAMES.get(item.obis) == "meter_type":
            return _text(item.value) if isinstance(item.value, bytes | str) else None
    return None


def _readings(
    items: Sequence[_Item], manufacturer: str | None, local_zone: tzinfo
) -> dict[str, Reading]:
    # Only Kamstrup's resolution depends on the meter type.
    meter_type = _meter_type(items) if manufacturer == "Kamstrup" else None
    readings: dict[str, Reading] = {}
    for item in items:
        obis = item.obis
        name = item.name or (OBIS_NAMES.get(obis) if obis else None)
        raw = item.value
        value: ReadingValue | None
        unit = None
        if isinstance(raw, int | float):
            scaler, unit = item.scaler, item.unit
            if scaler is None and obis is not None:
                scaler = _default_scaler(manufacturer, obis, meter_type)
                unit = default_unit(obis)
            value = _scaled(int(raw) if isinstance(raw, bool) else raw, scaler or 0)
        else:
            value = _value(raw, name, local_zone, manufacturer)
        if value is None:
            continue
        key = name if name is not None and name not in readings else item.obis
        if key is None or key in readings:
            continue
        readings[key] = Reading(value, unit, item.obis)
    return readings
