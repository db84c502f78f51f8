"""The one base entity: device info and unique_id for every entity of a meter."""

from __future__ import annotations

from typing import Any

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import CorusCoordinator, HanCoordinator

# HA 2026.8 links a device to the one it is reached through by registry id and deprecates
# `via_device` (removed in 2027.8, with a warning in the log until then); 2026.2 knows only
# `via_device`.
_LINK_BY_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__


class AmshanCorusEntity(CoordinatorEntity[HanCoordinator | CorusCoordinator]):
    """An entity of one meter; M-Bus sub-meters (gas, water, heat) get their own device."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: HanCoordinator | CorusCoordinator,
        key: str,
        sub_meter: str | None,
        channel: int | None = None,
    ) -> None:
        super().__init__(coordinator)
        parent = coordinator.device_key
        self._attr_unique_id = f"{parent}_{key}"
        if sub_meter is None:
            self._attr_device_info = DeviceInfo(
                identifiers={(DOMAIN, parent)},
                name=coordinator.config_entry.title,
                **coordinator.device_fields(),  # type: ignore[typeddict-item]
            )
            return
        # A further channel of a kind: the decoder suffixes its names with the channel number.
        suffix = "" if channel is None else f"_{channel}"
        device = f"{sub_meter}_meter" if channel is None else f"{sub_meter}_meter_channel"
        data = coordinator.data
        meter_id = data.value(f"{sub_meter}_meter_id{suffix}") if data is not None else None
        if _LINK_BY_DEVICE_ID and coordinator.device_id is not None:
            link: dict[str, Any] = {"via_device_id": coordinator.device_id}
        else:
            link = {"via_device": (DOMAIN, parent)}
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, f"{parent}_{sub_meter}{suffix}")},
            translation_key=device,
            translation_placeholders=None if channel is None else {"channel": str(channel)},
            serial_number=None if meter_id is None else str(meter_id),
            **link,  # type: ignore[typeddict-item]  # one of two keys, by HA version
        )
