"""Diagnostics: redacted entry, the merged meter state, counters and the last raw messages."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD
from homeassistant.core import HomeAssistant

from .const import CONF_AUTHENTICATION_KEY, CONF_ENCRYPTION_KEY, CONF_TOPICS
from .coordinator import AmshanCorusConfigEntry
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
        "raw_messages": [
            {"received": when.isoformat(), "hex": _redacted_hex(message, identifiers)}
            for when, message in raw
        ],
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
