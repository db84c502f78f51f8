"""Diagnostics: redacted entry, the merged meter state, counters and the last raw messages.

`insight` shows the derived state a person debugging statistics needs: for a HAN meter the
capacity tracker (its counters, the live period, the month's peaks) and the hourly importer
(per series: last booked hour, rows imported, missed hours, what became of each reading); for
a Corus converter the hourly backfill (last record imported, rows, last error, per series).
Statistic ids are left out: they carry the meter's id.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import HomeAssistant

from .const import CONF_AUTHENTICATION_KEY, CONF_ENCRYPTION_KEY, CONF_TOPICS
from .coordinator import AmshanCorusConfigEntry, CorusCoordinator, HanCoordinator
from .insight.capacity import CapacityTracker, Peak
from .protocol.han.obis import MBUS_VALUE_NAMES

# Identifiers of a person's installation: keys, passwords, where it is, which meter it is.
TO_REDACT = {
    CONF_AUTHENTICATION_KEY,
    CONF_ENCRYPTION_KEY,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_TOPICS,
    "meter_id",
    *(f"{name.rpartition('_')[0]}_meter_id" for name in MBUS_VALUE_NAMES.values()),
    "serial_number",
    "title",
    "unique_id",
}
_REDACTED = "**REDACTED**"


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: AmshanCorusConfigEntry
) -> dict[str, Any]:
    """What a maintainer needs to support a new meter, without the owner's secrets."""
    coordinator = entry.runtime_data
    data = coordinator.data
    values = {} if data is None else data.values
    identifiers: list[bytes] = []
    for key, item in values.items():
        if _is_identifier(key) and len(text := str(item.value)) >= 4:
            ascii_id = text.encode("latin-1", "replace")
            # Binary lists carry the id as ASCII; P1 readouts spell that ASCII in hex digits.
            identifiers += [ascii_id, ascii_id.hex().upper().encode(), ascii_id.hex().encode()]
    stats = asdict(coordinator.stats)
    raw = stats.pop("raw")
    return {
        "entry": async_redact_data(
            {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            TO_REDACT,
        ),
        "connected": getattr(coordinator, "connected", None),
        "last_update_success": coordinator.last_update_success,
        "manufacturer": None if data is None else data.manufacturer,
        "values": async_redact_data(
            {
                key: {"value": _jsonable(item.value), "unit": item.unit}
                | ({"timestamp": item.timestamp.isoformat()} if item.timestamp else {})
                for key, item in sorted(values.items())
            },
            TO_REDACT | {key for key in values if _is_identifier(key)},
        ),
        "counters": {key: _jsonable(value) for key, value in stats.items()},
        "insight": _insight(coordinator),
        "raw_messages": [
            {"received": when.isoformat(), "hex": _redacted_hex(message, identifiers)}
            for when, message in raw
        ],
    }


def _insight(coordinator: HanCoordinator | CorusCoordinator) -> dict[str, Any]:
    if isinstance(coordinator, CorusCoordinator):
        return {"backfill": coordinator.backfill.diagnostics()}
    feed = coordinator.capacity  # None until the sensor platform has set it up
    return {
        "capacity": None if feed is None else _capacity(feed.tracker),
        "hourly": coordinator.hourly.diagnostics(),
    }


def _capacity(tracker: CapacityTracker) -> dict[str, Any]:
    """What the capacity sensors are computed from, at the latest reading's time."""
    snapshot = tracker.snapshot()
    month = snapshot.month

    def peak(item: Peak) -> dict[str, Any]:
        return {
            "start": item.start.isoformat(),
            "value_kw": str(item.value_kw),
            "energy_kwh": str(item.energy_kwh),
            "exact": item.exact,
        }

    return {
        "counts": dict(sorted(tracker.counts.items())),
        "period_start": snapshot.period_start.isoformat(),
        "period_counts": snapshot.period_counts,
        "energy_so_far_kwh": _jsonable(snapshot.energy_so_far_kwh),
        "estimated_energy_kwh": _jsonable(snapshot.estimated_energy_kwh),
        "previous_period_kwh": _jsonable(snapshot.previous_period_kwh),
        "previous_period_exact": snapshot.previous_period_exact,
        "month": {
            "month": month.month.isoformat(),
            "peaks": [peak(item) for item in month.peaks],
            "mean_kw": str(month.mean_kw),
            "step_from_zero": month.step,
        },
    }


def _is_identifier(key: str) -> bool:
    """A redacted name, or that of a further M-Bus channel (the decoder suffixes its number)."""
    base, _, channel = key.rpartition("_")
    return key in TO_REDACT or (channel.isdigit() and base in TO_REDACT)


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _redacted_hex(message: bytes, identifiers: list[bytes]) -> str:
    """The message as hex, with the meter ids (as ASCII) replaced by 'xx' per byte."""
    text = message.hex()
    for identifier in identifiers:
        text = text.replace(identifier.hex(), "xx" * len(identifier))
    return text
