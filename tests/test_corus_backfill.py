"""Corus hourly backfill: how far the first import reaches, and the 52-byte layout's sums."""

from __future__ import annotations

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.amshan_corus.const import (
    CONF_BACKFILL_DAYS,
    CONF_CONNECTION,
    CONF_POLL_INTERVAL,
    CONF_TIMEZONE,
    DEFAULT_BACKFILL_DAYS,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.statistics import CorusBackfill


def corus_entry(**options: int) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Corus",
        unique_id="corus-057",
        data={
            CONF_CONNECTION: Connection.CORUS_TCP,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: 4000,
            CONF_TIMEZONE: "Europe/Oslo",
        },
        options=options,
    )


async def test_first_import_days_come_from_the_options(hass: HomeAssistant) -> None:
    """31 days unless the options say otherwise; the options form offers the field."""
    entry = corus_entry(**{CONF_POLL_INTERVAL: 300})
    entry.add_to_hass(hass)
    assert CorusBackfill(hass, entry, "corus-057").days == DEFAULT_BACKFILL_DAYS == 31
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_POLL_INTERVAL: 300.0, CONF_BACKFILL_DAYS: 120.0}
    )
    assert entry.options == {CONF_POLL_INTERVAL: 300, CONF_BACKFILL_DAYS: 120}
    assert CorusBackfill(hass, entry, "corus-057").days == 120
    assert CorusBackfill(hass, entry, "corus-057", days=2).days == 2
