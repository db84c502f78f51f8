"""AMS HAN & Corus meters: smart electricity meters' HAN/P1 port and Itron Corus gas converters.

Home Assistant is imported inside the functions, not at module level: Python runs this module
first for `python -m custom_components.amshan_corus`, and the command-line tool must start
without loading Home Assistant. Home Assistant itself imports `config_flow` and `diagnostics`
(which load `coordinator`) in its executor before setting up an entry, so these imports find
the modules already loaded and never block the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import AmshanCorusConfigEntry


async def async_setup_entry(hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> bool:
    """Start the meter's coordinator, then its sensors."""
    from homeassistant.helpers import device_registry as dr  # noqa: PLC0415

    from .const import DOMAIN, PLATFORMS  # noqa: PLC0415 - see the module docstring
    from .coordinator import CorusCoordinator, create_coordinator  # noqa: PLC0415

    coordinator = create_coordinator(hass, entry)
    if isinstance(coordinator, CorusCoordinator):
        # Test before setup: an unreachable converter raises ConfigEntryNotReady (retried).
        await coordinator.async_config_entry_first_refresh()
    # The meter's device before its entities: M-Bus sub-meters link to it by registry id.
    coordinator.device_id = (
        dr.async_get(hass)
        .async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={(DOMAIN, coordinator.device_key)},
            name=entry.title,
        )
        .id
    )
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if not isinstance(coordinator, CorusCoordinator):
        # After the sensors: the capacity tracker listens to the first message too.
        await coordinator.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> bool:
    """Stop the sensors and save the capacity state; the reader and MQTT end with the entry."""
    from .const import PLATFORMS  # noqa: PLC0415 - see the module docstring
    from .coordinator import HanCoordinator  # noqa: PLC0415

    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False
    coordinator = entry.runtime_data
    if isinstance(coordinator, HanCoordinator) and coordinator.capacity is not None:
        await coordinator.capacity.async_close()
    return True


async def async_remove_entry(hass: HomeAssistant, entry: AmshanCorusConfigEntry) -> None:
    """Delete what the entry kept beside its entities: the capacity tracker's saved state."""
    from .capacity import async_remove_capacity_state  # noqa: PLC0415 - see the module docstring

    await async_remove_capacity_state(hass, entry.entry_id)
