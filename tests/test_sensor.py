"""Sensors: entities appear with their values, units from the meter, devices, restore, snapshot."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_mqtt_message,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.amshan_corus.const import CONF_TOPICS, DOMAIN, Connection
from tests.conftest import (
    AIDON_METER_ID,
    NEWER_HARNESS,
    aidon_lists,
    find_device,
    han_frame,
    meter_entry,
    sensor_state,
    setup_entry,
    shared_vector,
    unload_entry,
)
from tests.protocol.han.vectors import vector

LIST_1, LIST_2, LIST_3 = aidon_lists()

pytestmark = pytest.mark.usefixtures("fast_han_timing")


def mqtt_entry(unique_id: str | None = AIDON_METER_ID) -> Any:
    return meter_entry(Connection.HAN_MQTT, unique_id=unique_id, **{CONF_TOPICS: ["han"]})


def sensors_of(hass: HomeAssistant, entry: Any) -> set[str]:
    """The description keys of the entry's registered reading sensors (capacity ones aside)."""
    prefix = f"{entry.unique_id}_"
    keys = {
        item.unique_id.removeprefix(prefix)
        for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    return {key for key in keys if not key.startswith("capacity_")}


async def test_list1_meter_gets_power_first_and_the_rest_later(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """A Norwegian list-1 meter's power sensor appears at once, the others with list 2."""
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    assert sensors_of(hass, entry) == set()

    async_fire_mqtt_message(hass, "han", LIST_1)
    await hass.async_block_till_done()
    assert sensors_of(hass, entry) == {"active_power_import"}
    device = find_device(hass, (DOMAIN, AIDON_METER_ID), entry)
    assert device is not None
    assert (device.manufacturer, device.model, device.serial_number) == (None, None, None)

    async_fire_mqtt_message(hass, "han", LIST_2)
    await hass.async_block_till_done()
    assert sensors_of(hass, entry) == {
        "active_power_import",
        "active_power_export",
        "reactive_power_import",
        "reactive_power_export",
        "current_l1",
        "current_l3",
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "meter_id",
        "meter_type",
        "list_ver_id",
    }
    # List 2 says which meter this is: the device learns model, serial and list version.
    device = find_device(hass, (DOMAIN, AIDON_METER_ID), entry)
    assert device is not None
    assert (device.manufacturer, device.model, device.serial_number, device.sw_version) == (
        "Aidon",
        "6525",
        AIDON_METER_ID,
        "AIDON_V0001",
    )
    assert device.name == "Aidon 6525"
    await unload_entry(hass, entry)


async def test_p1_meter_with_gas_sub_meter(
    hass: HomeAssistant, mqtt_mock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """DSMR 4.2 Kaifa: tariff registers in kWh, and the M-Bus gas meter as a linked device."""
    entry = mqtt_entry("3960221976967177082151037881335713")
    await setup_entry(hass, entry)
    async_fire_mqtt_message(hass, "han", vector("P1-03"))
    await hass.async_block_till_done()

    tariff = sensor_state(hass, entry, "active_power_import_tariff_1")
    assert (tariff.state, tariff.attributes["unit_of_measurement"]) == ("1581.123", "kWh")
    assert tariff.attributes["friendly_name"] == "Aidon 6525 Energy import tariff 1"
    assert sensor_state(hass, entry, "active_power_import_tariff_2").state == "1435.706"
    assert sensor_state(hass, entry, "active_power_export_tariff_1") is None  # 0.000: never
    power = sensor_state(hass, entry, "active_power_import")
    assert (power.state, power.attributes["unit_of_measurement"]) == ("2.027", "kW")

    gas = sensor_state(hass, entry, "gas_volume")
    assert gas.state == "981.443"
    assert gas.attributes["unit_of_measurement"] == "m³"
    assert gas.attributes["device_class"] == "gas"
    assert gas.attributes["state_class"] == "total_increasing"
    parent = find_device(hass, (DOMAIN, entry.unique_id), entry)
    child = find_device(hass, (DOMAIN, f"{entry.unique_id}_gas"), entry)
    assert parent is not None
    assert child is not None
    assert child.via_device_id == parent.id
    assert child.serial_number == "4819243993373755377509728609491464"
    assert child.name == "Gas meter"
    # HA 2026.8+ would log a deprecated `via_device` here: the link is by registry id there.
    assert "Detected that custom integration" not in caplog.text
    assert (parent.manufacturer, parent.model) == ("Kaifa", "KAIFA-METER")
    registry_entry = er.async_get(hass).async_get(gas.entity_id)
    assert registry_entry.device_id == child.id
    await unload_entry(hass, entry)


async def test_totals_are_restored_and_guard_the_first_reading(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """After a restart the last total shows at once; a lower first reading is refused."""
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    higher = han_frame(shared_vector("aidon_no_list3_info").replace("060022ab8a", "060022ab9c"))
    async_fire_mqtt_message(hass, "han", higher)  # 22 721 560 Wh
    await hass.async_block_till_done()
    energy_id = sensor_state(hass, entry, "active_power_import_total").entity_id
    assert hass.states.get(energy_id).state == "22721.56"
    await unload_entry(hass, entry)

    # "Restart": the entity is created before the meter sends its hourly list 3 again.
    coordinator = await setup_entry(hass, entry)
    state = hass.states.get(energy_id)
    assert (state.state, state.attributes["unit_of_measurement"]) == ("22721.56", "kWh")
    assert state.attributes["device_class"] == "energy"

    async_fire_mqtt_message(hass, "han", LIST_3)  # 22 721 380 Wh: below the restored value
    await hass.async_block_till_done()
    assert hass.states.get(energy_id).state == "22721.56"
    assert coordinator.stats.guarded >= 2  # the import register and the export register's 0
    assert sensor_state(hass, entry, "reactive_power_import_total").state == "582.43"
    await unload_entry(hass, entry)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_snapshot(
    hass: HomeAssistant,
    mqtt_mock: Any,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """States and registry entries of every entity of the Aidon after lists 1-3."""
    if NEWER_HARNESS:
        pytest.skip("registry snapshots are taken on the pinned harness (HA 2026.2.3)")
    entry = mqtt_entry()
    entry.add_to_hass(hass)
    await setup_entry(hass, entry)
    for frame in (LIST_1, LIST_2, LIST_3):
        async_fire_mqtt_message(hass, "han", frame)
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    await unload_entry(hass, entry)


async def test_entry_without_unique_id_uses_the_entry_id(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """A meter sending no id (Swedish P1 without one) still gets stable unique ids."""
    entry = mqtt_entry(unique_id=None)
    coordinator = await setup_entry(hass, entry)
    assert coordinator.device_key == entry.entry_id
    async_fire_mqtt_message(hass, "han", LIST_1)
    await hass.async_block_till_done()
    assert sensor_state(hass, entry, "active_power_import").state == "0.28"
    await unload_entry(hass, entry)


@pytest.mark.parametrize("language", ["en", "nb", "sv", "nl"])
def test_every_name_icon_and_message_is_translated(language: str) -> None:
    """Each translation_key, icon key, sub-meter device and raised message has a string."""
    import json
    from pathlib import Path
    import re

    from custom_components.amshan_corus.sensor import CORUS_SENSORS, HAN_SENSORS

    package = Path(__file__).parent.parent / "custom_components" / "amshan_corus"
    strings = json.loads((package / "translations" / f"{language}.json").read_text("utf-8"))
    names = strings["entity"]["sensor"]
    for description in (*HAN_SENSORS, *CORUS_SENSORS):
        name = names[description.translation_key]["name"]
        for placeholder in description.translation_placeholders or {}:
            assert f"{{{placeholder}}}" in name
        if description.sub_meter is not None:
            assert strings["device"][f"{description.sub_meter}_meter"]["name"]
            assert (
                "{channel}" in strings["device"][f"{description.sub_meter}_meter_channel"]["name"]
            )
    icons = json.loads((package / "icons.json").read_text("utf-8"))
    assert set(icons["entity"]["sensor"]) <= set(names)
    # Every message the coordinators raise (exception translations).
    source = (package / "coordinator.py").read_text()
    raised = set(re.findall(r'(?:translation_key=|key = )"([a-z_]+)"', source))
    assert {"no_data", "no_data_key", "mqtt_unavailable", "invalid_password"} <= raised
    assert raised <= set(strings["exceptions"])


def p1_readout(lines: list[str], header: str = "ISK5\\2M550T-1012") -> bytes:
    """A DSMR readout with a correct CRC-16/ARC over '/' ... '!'."""
    from custom_components.amshan_corus.protocol.han.crc import crc16_arc

    body = (f"/{header}\r\n\r\n" + "".join(f"{line}\r\n" for line in lines) + "!").encode()
    return body + f"{crc16_arc(body):04X}\r\n".encode()


async def test_p1_water_heat_and_cooling_sub_meters(hass: HomeAssistant, mqtt_mock: Any) -> None:
    """M-Bus channels named by EN 13757-3 device type: 7 water, 4 heat, 0x0A cooling."""
    entry = mqtt_entry("E0044007312345678")
    await setup_entry(hass, entry)
    readout = p1_readout(
        [
            "1-3:0.2.8(50)",
            "0-0:1.0.0(250101120000W)",
            "0-0:96.1.1(E0044007312345678)",
            "1-0:1.8.1(000123.456*kWh)",
            "1-0:1.7.0(00.500*kW)",
            "0-1:24.1.0(007)",
            "0-1:96.1.0(W1234)",
            "0-1:24.2.1(250101115500W)(00123.456*m3)",
            "0-2:24.1.0(004)",
            "0-2:96.1.0(H5678)",
            "0-2:24.2.1(250101115500W)(00045.678*GJ)",
            "0-3:24.1.0(010)",
            "0-3:96.1.0(C9012)",
            "0-3:24.2.1(250101115500W)(01234.500*kWh)",
            "0-4:24.1.0(007)",
            "0-4:96.1.0(W3456)",
            "0-4:24.2.1(250101115500W)(00007.890*m3)",
        ]
    )
    async_fire_mqtt_message(hass, "han", readout)
    await hass.async_block_till_done()

    expected = {
        "water_volume": ("123.456", "m³", "water", "water", "W1234"),
        # GJ from the meter, shown in the suggested kWh: 45.678 GJ / 3.6 MJ per kWh.
        "heat_energy": ("12688.3333333333", "kWh", "energy", "heat", "H5678"),
        "cooling_energy": ("1234.500", "kWh", "energy", "cooling", "C9012"),
        # A second water meter (channel 4): its own device, named with its channel.
        "water_volume_4": ("7.890", "m³", "water", "water_4", "W3456"),
    }
    parent = find_device(hass, (DOMAIN, entry.unique_id), entry)
    assert parent is not None
    for key, (value, unit, device_class, kind, serial) in expected.items():
        state = sensor_state(hass, entry, key)
        assert state is not None, key
        assert (state.state, state.attributes["unit_of_measurement"]) == (value, unit)
        assert state.attributes["device_class"] == device_class
        assert state.attributes["state_class"] == "total_increasing"
        child = find_device(hass, (DOMAIN, f"{entry.unique_id}_{kind}"), entry)
        assert child is not None
        assert (child.via_device_id, child.serial_number) == (parent.id, serial)
        assert er.async_get(hass).async_get(state.entity_id).device_id == child.id
    assert sensor_state(hass, entry, "gas_volume") is None
    second = sensor_state(hass, entry, "water_volume_4")
    assert second.attributes["friendly_name"] == "Water meter 4 Water consumption"
    await unload_entry(hass, entry)


def test_every_mbus_reading_name_has_a_sensor() -> None:
    """The decoder's M-Bus vocabulary and the sensor table are the same names."""
    from custom_components.amshan_corus.protocol.han.obis import MBUS_VALUE_NAMES
    from custom_components.amshan_corus.sensor import HAN_SENSORS

    first_channel = {d.key for d in HAN_SENSORS if d.sub_meter and d.channel is None}
    assert first_channel == {*MBUS_VALUE_NAMES.values(), "gas_volume"}
    further = {d.key for d in HAN_SENSORS if d.channel is not None}
    assert further == {f"{name}_{n}" for name in first_channel for n in (1, 2, 3, 4)}
