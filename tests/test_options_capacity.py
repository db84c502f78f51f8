"""The capacity tariff chosen in the options flow, and the sensors that follow it.

Flow tests patch the runtime away; end-to-end tests run a HAN entry over MQTT with the
simulator's Aidon 6525 frames (list 3 on the hour, list 1 in between, 1800 W throughout) and
time frozen at each frame's meter time, as tests/test_capacity_sensors.py does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResult, FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.amshan_corus import config_flow
from custom_components.amshan_corus.capacity import CAPACITY_COST, CAPACITY_SENSORS
from custom_components.amshan_corus.const import (
    CONF_CAPACITY_RULES,
    CONF_CAPACITY_TARIFF,
    CONF_CONNECTION,
    CONF_SCALE_CURRENT,
    CONF_SCALE_ENERGY,
    CONF_SCALE_POWER,
    CONF_TOPICS,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.insight.tariffs import PRESETS, TARIFF_NAMES, RuleProblem
from custom_components.amshan_corus.protocol.han.simulator import AidonNoMeter
from tests.conftest import AIDON_METER_ID, sensor_state, setup_entry, unload_entry

TOPIC = "ams"
CAPACITY_KEYS = {description.key for description in (*CAPACITY_SENSORS, CAPACITY_COST)}

# The form answers that make Norway's rule, as the custom step shows it prefilled.
NORWAY_FORM: dict[str, Any] = {
    "peaks": 3,
    "one_per_day": True,
    "period_minutes": "60",
    "months": [str(month) for month in range(1, 13)],
    "weekdays": [str(day) for day in range(7)],
    "hours_from": 0,
    "hours_to": 0,
    "night_weight": 1.0,
    "night_from": 22,
    "night_to": 6,
    "step_limits": "0, 2, 5, 10, 15, 20, 25, 50, 75, 100",
    "step_prices": "",
}
NORWAY_RULES: dict[str, Any] = {
    "peaks": 3,
    "one_per_day": True,
    "period_minutes": 60,
    "months": list(range(1, 13)),
    "weekdays": list(range(7)),
    "hours_from": 0,
    "hours_to": 0,
    "night_weight": "1",
    "night_from": 22,
    "night_to": 6,
    "step_limits": ["0", "2", "5", "10", "15", "20", "25", "50", "75", "100"],
    "step_prices": None,
    "price_per_kw": None,
    "excluded_dates": [],
}


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """Flow tests: the entry only has to load and reload."""
    with (
        patch("custom_components.amshan_corus.async_setup_entry", return_value=True) as setup,
        patch("custom_components.amshan_corus.async_unload_entry", return_value=True),
    ):
        yield setup


def han_entry(**options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=AIDON_METER_ID,
        title="Aidon 6525",
        data={CONF_CONNECTION: Connection.HAN_MQTT, CONF_TOPICS: [TOPIC]},
        options=options,
    )


async def open_step(hass: HomeAssistant, entry: MockConfigEntry, step: str) -> FlowResult:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["scale_factors", "capacity_tariff"]
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )


async def open_custom(hass: HomeAssistant, entry: MockConfigEntry) -> FlowResult:
    result = await open_step(hass, entry, "capacity_tariff")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAPACITY_TARIFF: "custom"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "capacity_custom"
    return result


def suggested(result: FlowResult) -> dict[str, Any]:
    """The values a form shows filled in."""
    return {
        str(marker): (marker.description or {}).get("suggested_value")
        for marker in result["data_schema"].schema
    }


# ----------------------------------------------------------------------------- the flow


async def test_scale_factors_keep_the_tariff(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    entry = han_entry(**{CONF_CAPACITY_TARIFF: "ellevio", CONF_SCALE_POWER: 2.0})
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    result = await open_step(hass, entry, "scale_factors")
    assert suggested(result)[CONF_SCALE_POWER] == 2.0
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCALE_CURRENT: 1, CONF_SCALE_POWER: 3, CONF_SCALE_ENERGY: 1}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_CAPACITY_TARIFF: "ellevio",
        CONF_SCALE_CURRENT: 1.0,
        CONF_SCALE_POWER: 3.0,
        CONF_SCALE_ENERGY: 1.0,
    }
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 2  # reloaded


async def test_a_preset_keeps_the_scale_factors_and_drops_custom_rules(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    entry = han_entry(
        **{
            CONF_SCALE_CURRENT: 40.0,
            CONF_CAPACITY_TARIFF: "custom",
            CONF_CAPACITY_RULES: NORWAY_RULES,
        }
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    result = await open_step(hass, entry, "capacity_tariff")
    assert result["step_id"] == "capacity_tariff"
    [marker] = result["data_schema"].schema
    assert marker.default() == "custom"
    selector = result["data_schema"].schema[marker]
    assert selector.config["options"] == list(TARIFF_NAMES)
    assert selector.config["translation_key"] == "capacity_tariff"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAPACITY_TARIFF: "seom"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_SCALE_CURRENT: 40.0, CONF_CAPACITY_TARIFF: "seom"}
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 2


async def test_the_default_is_norway(hass: HomeAssistant, mock_setup_entry: AsyncMock) -> None:
    entry = han_entry()
    entry.add_to_hass(hass)
    result = await open_step(hass, entry, "capacity_tariff")
    [marker] = result["data_schema"].schema
    assert marker.default() == "norway"
    result = await open_custom(hass, entry)
    assert suggested(result) == {**NORWAY_FORM, "price_per_kw": None}


async def test_outside_norway_the_default_is_off(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A Belgian or Swedish meter gets no Norwegian steps until its owner picks a tariff."""
    await hass.config.async_update(country="BE")
    entry, _ = await start_meter(hass, freezer, NIGHT_HOUR)
    assert capacity_entities(hass) == set()
    result = await open_step(hass, entry, "capacity_tariff")
    [marker] = result["data_schema"].schema
    assert marker.default() == "off"
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAPACITY_TARIFF: "norway"}
    )
    await hass.async_block_till_done()
    assert capacity_entities(hass) == CAPACITY_KEYS - {"capacity_cost"}
    await unload_entry(hass, entry)


async def test_custom_starts_from_the_current_preset(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    entry = han_entry(**{CONF_CAPACITY_TARIFF: "ellevio"})
    entry.add_to_hass(hass)
    result = await open_custom(hass, entry)
    assert suggested(result) == {
        **NORWAY_FORM,
        "night_weight": 0.5,
        "step_limits": "",
        "price_per_kw": 81.25,
    }
    entry = han_entry(**{CONF_CAPACITY_TARIFF: "falkenberg_energi"})
    entry.add_to_hass(hass)
    result = await open_custom(hass, entry)
    assert suggested(result) == {
        **NORWAY_FORM,
        "months": ["1", "2", "3", "11", "12"],
        "weekdays": ["0", "1", "2", "3", "4"],
        "hours_from": 6,
        "hours_to": 20,
        "step_limits": "",
        "price_per_kw": None,
    }


async def test_custom_rules_are_saved_with_the_other_options(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    entry = han_entry(**{CONF_SCALE_ENERGY: 10.0, CONF_CAPACITY_TARIFF: "seom"})
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    result = await open_custom(hass, entry)
    answers = {
        **NORWAY_FORM,
        "peaks": 2.0,
        "one_per_day": False,
        "period_minutes": "15",
        "months": ["11", "12", "1", "2", "3"],
        "weekdays": ["0", "1", "2", "3", "4"],
        "hours_from": 7.0,
        "hours_to": 19.0,
        "night_weight": 0.5,
        "step_limits": "0; 2,5; 5",
        "step_prices": "100; 200; 350,50",
        "price_per_kw": 12.5,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], answers)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    rules = entry.options[CONF_CAPACITY_RULES]
    assert entry.options == {
        CONF_SCALE_ENERGY: 10.0,
        CONF_CAPACITY_TARIFF: "custom",
        CONF_CAPACITY_RULES: rules,
    }
    # SEOM's holidays stay excluded: the form cannot show them.
    seom = PRESETS["seom"].rules
    assert seom is not None
    assert rules.pop("excluded_dates") == [day.isoformat() for day in sorted(seom.excluded_dates)]
    assert rules == {
        "peaks": 2,
        "one_per_day": False,
        "period_minutes": 15,
        "months": [1, 2, 3, 11, 12],
        "weekdays": [0, 1, 2, 3, 4],
        "hours_from": 7,
        "hours_to": 19,
        "night_weight": "0.5",
        "night_from": 22,
        "night_to": 6,
        "step_limits": ["0", "2.5", "5"],
        "step_prices": ["100", "200", "350.5"],
        "price_per_kw": "12.5",
    }
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 2


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        ({"peaks": 0}, {"peaks": "invalid_peaks"}),
        ({"peaks": 2.5}, {"peaks": "invalid_peaks"}),
        ({"months": []}, {"months": "no_months"}),
        ({"weekdays": []}, {"weekdays": "no_weekdays"}),
        ({"hours_from": 24}, {"hours_from": "hour_out_of_range"}),
        ({"hours_to": 7.5}, {"hours_to": "hour_out_of_range"}),
        ({"night_from": -1}, {"night_from": "hour_out_of_range"}),
        ({"night_to": 30}, {"night_to": "hour_out_of_range"}),
        ({"night_weight": 1.5}, {"night_weight": "night_weight_out_of_range"}),
        ({"night_weight": -0.5}, {"night_weight": "night_weight_out_of_range"}),
        ({"step_limits": "0, two, 5"}, {"step_limits": "invalid_number_list"}),
        ({"step_prices": "100 kr"}, {"step_prices": "invalid_number_list"}),
        ({"step_limits": "-1, 2"}, {"step_limits": "negative_limit"}),
        ({"step_limits": "0, 5, 2"}, {"step_limits": "limits_not_increasing"}),
        ({"step_limits": "0, 2, 2"}, {"step_limits": "limits_not_increasing"}),
        ({"step_limits": "0, 2", "step_prices": "100"}, {"step_prices": "price_count_mismatch"}),
        ({"step_limits": "", "step_prices": "100"}, {"step_prices": "price_count_mismatch"}),
        ({"step_limits": "0, 2", "step_prices": "100, -1"}, {"step_prices": "negative_price"}),
        ({"price_per_kw": -3}, {"price_per_kw": "negative_price"}),
    ],
)
async def test_custom_errors_are_specific(
    hass: HomeAssistant,
    mock_setup_entry: AsyncMock,
    change: dict[str, Any],
    errors: dict[str, str],
) -> None:
    entry = han_entry()
    entry.add_to_hass(hass)
    result = await open_custom(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], NORWAY_FORM | change
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "capacity_custom"
    assert result["errors"] == errors
    # The form keeps what was typed, and corrected answers go through.
    assert suggested(result)[next(iter(change))] == change[next(iter(change))]
    result = await hass.config_entries.options.async_configure(result["flow_id"], NORWAY_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {CONF_CAPACITY_TARIFF: "custom", CONF_CAPACITY_RULES: NORWAY_RULES}


# ----------------------------------------------------------------------------- end to end


def state_of(hass: HomeAssistant, key: str) -> Any:
    """The state of the meter's sensor `key`; None when the entity does not exist."""
    return sensor_state(hass, han_entry(), key)


def value_of(hass: HomeAssistant, key: str) -> str | None:
    state = state_of(hass, key)
    return None if state is None else state.state


def capacity_entities(hass: HomeAssistant) -> set[str]:
    registry = er.async_get(hass)
    prefix = f"{AIDON_METER_ID}_"
    return {
        entity.unique_id.removeprefix(prefix)
        for entity in registry.entities.values()
        if entity.platform == DOMAIN and entity.unique_id.removeprefix(prefix) in CAPACITY_KEYS
    }


async def send(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, meter: AidonNoMeter, moment: datetime
) -> None:
    freezer.move_to(moment)
    async_fire_mqtt_message(hass, TOPIC, meter.frame_at(moment))
    await hass.async_block_till_done()


async def run_hour(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    meter: AidonNoMeter,
    start: datetime,
    register_wh: float,
) -> None:
    """List 3 at `start`, list 1 every 4 minutes, list 3 at the end `register_wh` later."""
    await send(hass, freezer, meter, start)
    for minute in range(4, 60, 4):
        await send(hass, freezer, meter, start + timedelta(minutes=minute, seconds=2))
    meter.state.import_wh += register_wh
    await send(hass, freezer, meter, start + timedelta(hours=1))


async def start_meter(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, start: datetime, **options: Any
) -> tuple[MockConfigEntry, AidonNoMeter]:
    entry = han_entry(**options)
    meter = AidonNoMeter(start)
    meter.state.power_w = 1800.0
    meter.state.import_wh = 22721380.0
    freezer.move_to(start)
    await setup_entry(hass, entry)
    return entry, meter


async def choose(hass: HomeAssistant, entry: MockConfigEntry, tariff: str) -> None:
    """Pick a preset in the options flow and wait for the entry's reload."""
    result = await open_step(hass, entry, "capacity_tariff")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_CAPACITY_TARIFF: tariff}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


NIGHT_HOUR = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)  # Monday 23:00 in Oslo and Stockholm


async def test_ellevio_counts_a_night_hour_at_half_and_prices_it(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Stockholm")
    await hass.config.async_update(currency="SEK")
    entry, meter = await start_meter(hass, freezer, NIGHT_HOUR, **{CONF_CAPACITY_TARIFF: "ellevio"})
    # No steps: no step and no headroom sensor; a price per kW: the cost sensor.
    assert capacity_entities(hass) == CAPACITY_KEYS - {"capacity_step", "capacity_headroom"}
    assert value_of(hass, "capacity_cost") == "0.00"
    await run_hour(hass, freezer, meter, NIGHT_HOUR, 2500.0)
    assert value_of(hass, "capacity_peak_1") == "1.250"  # 2.5 kWh at 50 %
    assert value_of(hass, "capacity_peak_1_hour") == "2026-01-05T22:00:00+00:00"
    assert value_of(hass, "capacity_peaks_mean") == "0.417"  # 1.25 / 3
    # 81.25 SEK/kW x 1.25 / 3 kW = 33.854...
    cost = state_of(hass, "capacity_cost")
    assert cost.state == "33.85"
    assert cost.attributes["unit_of_measurement"] == "SEK"
    assert cost.attributes["device_class"] == "monetary"
    assert cost.attributes["state_class"] == "total"
    assert cost.attributes["last_reset"] == "2026-01-01T00:00:00+01:00"
    await unload_entry(hass, entry)


async def test_a_preset_priced_in_another_currency_has_no_cost_sensor(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_update(currency="NOK")
    entry, _ = await start_meter(hass, freezer, NIGHT_HOUR, **{CONF_CAPACITY_TARIFF: "ellevio"})
    assert "capacity_cost" not in capacity_entities(hass)
    assert value_of(hass, "capacity_peaks_mean") == "0.000"
    await unload_entry(hass, entry)


async def test_custom_step_prices_give_the_cost_in_the_local_currency(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Oslo")
    await hass.config.async_update(currency="NOK")
    rules = NORWAY_RULES | {"step_prices": ["120", "200", "336", "468", "604", "740", "1408"]}
    rules["step_limits"] = rules["step_limits"][:7]
    entry, meter = await start_meter(
        hass,
        freezer,
        NIGHT_HOUR,
        **{CONF_CAPACITY_TARIFF: "custom", CONF_CAPACITY_RULES: rules},
    )
    assert capacity_entities(hass) == CAPACITY_KEYS
    assert value_of(hass, "capacity_cost") == "120.00"  # an empty month is in step 1
    await run_hour(hass, freezer, meter, NIGHT_HOUR, 7000.0)  # 7 kW / 3: step 2 (2-5 kW)
    assert value_of(hass, "capacity_peaks_mean") == "2.333"
    assert value_of(hass, "capacity_step") == "2"
    cost = state_of(hass, "capacity_cost")
    assert (cost.state, cost.attributes["unit_of_measurement"]) == ("200.00", "NOK")
    await unload_entry(hass, entry)


async def test_a_saturday_hour_outside_a_weekday_window_does_not_count(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Oslo")
    saturday = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)  # 10:00 in Oslo
    rules = NORWAY_RULES | {"weekdays": [0, 1, 2, 3, 4], "hours_from": 7, "hours_to": 19}
    entry, meter = await start_meter(
        hass, freezer, saturday, **{CONF_CAPACITY_TARIFF: "custom", CONF_CAPACITY_RULES: rules}
    )
    await send(hass, freezer, meter, saturday)
    for minute in range(4, 32, 4):
        await send(hass, freezer, meter, saturday + timedelta(minutes=minute, seconds=2))
    assert value_of(hass, "capacity_energy_this_hour") == "0.841"  # measured all the same
    assert value_of(hass, "capacity_headroom") == "unknown"  # unlimited: the hour doesn't count
    for minute in range(32, 60, 4):
        await send(hass, freezer, meter, saturday + timedelta(minutes=minute, seconds=2))
    meter.state.import_wh += 9000.0
    await send(hass, freezer, meter, saturday + timedelta(hours=1))
    assert value_of(hass, "capacity_peak_1") == "unknown"
    assert value_of(hass, "capacity_peaks_mean") == "0.000"
    assert value_of(hass, "capacity_step") == "1"
    await unload_entry(hass, entry)


async def test_changing_the_tariff_revalues_the_saved_month_and_off_removes_the_sensors(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await hass.config.async_set_time_zone("Europe/Oslo")
    entry, meter = await start_meter(hass, freezer, NIGHT_HOUR)
    await run_hour(hass, freezer, meter, NIGHT_HOUR, 2500.0)
    assert value_of(hass, "capacity_peak_1") == "2.500"  # Norway: nights count in full
    assert value_of(hass, "capacity_peaks_mean") == "0.833"

    await choose(hass, entry, "ellevio")  # saved at unload, restored under Ellevio's rules
    assert entry.options == {CONF_CAPACITY_TARIFF: "ellevio"}
    assert value_of(hass, "capacity_peak_1") == "1.250"
    assert value_of(hass, "capacity_peaks_mean") == "0.417"
    assert value_of(hass, "capacity_step") is None  # removed: Ellevio has no steps
    assert "capacity_step" not in capacity_entities(hass)

    await choose(hass, entry, "norway")  # nothing was lost: back to the full hour
    assert value_of(hass, "capacity_peak_1") == "2.500"
    assert value_of(hass, "capacity_step") == "1"

    await choose(hass, entry, "off")
    assert capacity_entities(hass) == set()
    assert state_of(hass, "active_power_import") is not None
    await unload_entry(hass, entry)


async def test_removing_the_entry_deletes_its_capacity_state(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory, hass_storage: dict
) -> None:
    entry, meter = await start_meter(hass, freezer, NIGHT_HOUR)
    await send(hass, freezer, meter, NIGHT_HOUR)
    await unload_entry(hass, entry)
    key = f"{DOMAIN}.capacity.{entry.entry_id}"
    assert hass_storage[key]["data"]["period_seconds"] == 3600
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


# ----------------------------------------------------------------------------- translations


@pytest.mark.parametrize("language", ["en", "nb", "sv", "nl"])
def test_every_choice_and_field_is_translated(language: str) -> None:
    root = Path(config_flow.__file__).parent
    strings = json.loads((root / "translations" / f"{language}.json").read_text("utf-8"))
    selector = strings["selector"]
    assert list(selector["capacity_tariff"]["options"]) == list(TARIFF_NAMES)
    assert set(selector["capacity_period"]["options"]) == {"60", "15"}
    assert list(selector["month"]["options"]) == [str(month) for month in range(1, 13)]
    assert list(selector["weekday"]["options"]) == [str(day) for day in range(7)]
    custom = strings["options"]["step"]["capacity_custom"]
    form = {str(marker) for marker in config_flow._custom_schema().schema}
    assert set(custom["data"]) == form
    assert set(custom["data_description"]) == form
    assert set(strings["options"]["error"]) == {problem.value for problem in RuleProblem}
    assert strings["entity"]["sensor"]["capacity_cost"]["name"]
    icons = json.loads((root / "icons.json").read_text("utf-8"))
    assert icons["entity"]["sensor"]["capacity_cost"] == {"default": "mdi:cash-multiple"}
