"""AMS HAN & Corus meters: smart electricity meters' HAN/P1 port and Itron Corus gas converters."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from .const import PLATFORMS
from .coordinator import AmshanCorusConfigEntry, CorusCoordinator, create_coordinator


async def async_setup_entry(hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> bool:
    """Start the meter's coordinator, then its sensors."""
    coordinator = create_coordinator(hass, entry)
    if isinstance(coordinator, CorusCoordinator):
        # Test before setup: an unreachable converter raises ConfigEntryNotReady (retried).
        await coordinator.async_config_entry_first_refresh()
    else:
        await coordinator.async_start()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> bool:
    """Stop the sensors; the reader task and MQTT subscriptions end with the entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
