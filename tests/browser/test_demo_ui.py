"""Chromium walks through the demo stack as a person would, and saves what it saw under docs/.

The stack is the one `scripts/demo` runs (HAN meter in fast cadence with 3 days of replayed
history, Corus converter, Home Assistant), on free ports, torn down whatever happens. Every
wait is on a condition with a generous bound: Home Assistant takes tens of seconds to start on
a busy 2-core machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
import os
from pathlib import Path
import re
import tempfile
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect, sync_playwright
import pytest

from custom_components.amshan_corus.const import DOMAIN
from custom_components.amshan_corus.protocol.han.simulator import AIDON_METER_ID
from custom_components.amshan_corus.statistics import statistic_id
from scripts.demo_stack import (
    HISTORY_DAYS,
    HOST,
    TIME_ZONE,
    DemoPorts,
    DemoStack,
    free_port,
    wait_for,
)
from tests.conftest import SHARED_VECTORS

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's services, which this
# machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The README's screenshots: refreshed only when asked (AMSHAN_CORUS_SCREENSHOTS=docs), so a test
# run leaves the checkout as it was.
SCREENSHOTS = Path(
    os.environ.get("AMSHAN_CORUS_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / "amshan_corus_screenshots"
)
UI_TIMEOUT_MS = 120_000
# Enabling entities reloads the config entry after 30 s; fast-cadence list 3 comes every minute.
ENTITY_TIMEOUT = 240.0
CHART_SETTLE_MS = 3000  # the charts animate to a new period: screenshot them once they stand
SECOND_METER_VECTOR = "p1_lg_e360_D"  # a Landis+Gyr E360 P1 readout: another meter, no meter id

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no {CHROMIUM}: scripts/setup installs Debian's chromium"
)


def vector_bytes(name: str) -> bytes:
    """The bytes of one hex vector of han_vectors.txt."""
    lines = (SHARED_VECTORS / "han_vectors.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# [{name}]"))
    data = next(line for line in lines[start:] if line.strip() and not line.startswith("#"))
    return bytes.fromhex(data.strip())


@pytest.fixture
def stack(tmp_path: Path, socket_enabled: None) -> Iterator[DemoStack]:
    """The running demo stack, configured as `scripts/demo` leaves it."""
    with DemoStack(tmp_path / "demo", ports=DemoPorts.free(), cadence="fast") as demo:
        demo.wait_until_running()
        for description, step in (
            ("the imported statistics to exist", demo.configure_energy),
            ("the phase voltages to exist", demo.enable_phase_voltages),
        ):
            wait_for(description, step, timeout=ENTITY_TIMEOUT, alive=demo.ensure_alive)
        yield demo


@pytest.fixture
def page(stack: DemoStack) -> Iterator[Page]:
    """A Chromium tab, logged in to the stack's Home Assistant by the trusted network."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
            tab.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            yield tab
        finally:
            browser.close()


def device_id(stack: DemoStack, identifier: str) -> str:
    """The device registry id of this integration's device `identifier`."""
    (devices,) = stack.websocket({"type": "config/device_registry/list"})
    return next(d["id"] for d in devices if [DOMAIN, identifier] in d["identifiers"])


def entries(stack: DemoStack) -> list[dict[str, Any]]:
    """This integration's config entries."""
    (found,) = stack.websocket({"type": "config_entries/get", "domain": DOMAIN})
    return list(found)


def meter_state(stack: DemoStack, key: str) -> str | None:
    """The state of the demo HAN meter's sensor `key` (None while it has none)."""
    for entity in stack.integration_entities():
        if entity["unique_id"] == f"{AIDON_METER_ID}_{key}" and entity["state"]:
            return str(entity["state"]["state"])
    return None


def expect_reading(page: Page, name: str, unit: str) -> None:
    """The device page shows the sensor `name` with a number in `unit`."""
    row = page.locator("hui-sensor-entity-row").filter(has_text=name).first
    expect(row).to_contain_text(re.compile(rf"\d[\d,.]* {re.escape(unit)}"))


def hourly_rows(stack: DemoStack, statistic_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The hourly rows of `statistic_ids` since a week and a day ago."""
    start = datetime.now(UTC) - timedelta(days=8)
    (rows,) = stack.websocket(
        {
            "type": "recorder/statistics_during_period",
            "start_time": start.isoformat(),
            "statistic_ids": statistic_ids,
            "period": "hour",
            "types": ["sum"],
        }
    )
    return dict(rows)


def test_demo_ui(stack: DemoStack, page: Page, tmp_path: Path) -> None:
    """Add a meter in the UI, read the devices' live values and the capacity tariff from the
    replayed days, open the Energy dashboard on days of imported history."""
    # 1. The second meter: another simulator, added through the config flow like a person would.
    capture = tmp_path / "landis_gyr_e360.bin"
    capture.write_bytes(vector_bytes(SECOND_METER_VECTOR))
    second_port = free_port()
    stack.start_han_simulator("second HAN simulator", second_port, capture)
    before = len(entries(stack))

    page.goto(f"{stack.url}/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    page.get_by_label("Search for a brand name").fill("AMS HAN")
    # The dialog's own list item: the integrations page behind the dialog has a card with the
    # same name (the demo's entries), and that card is inert while the dialog is open.
    page.locator("ha-integration-list-item").filter(has_text="AMS HAN & Corus meters").click()
    page.get_by_text("HAN/P1 over the network (TCP)").click()
    page.get_by_label("Host").fill(HOST)
    page.get_by_label("Port").fill(str(second_port))
    page.screenshot(path=SCREENSHOTS / "demo_config_flow_form.png")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Device created").first).to_be_visible()
    title = f"Landis+Gyr ({HOST}:{second_port})"
    expect(page.get_by_label("Device name")).to_have_value(title)
    page.screenshot(path=SCREENSHOTS / "demo_config_flow.png")
    page.get_by_role("button", name="Skip and finish").click()
    added = entries(stack)
    assert len(added) == before + 1
    assert any(entry["title"] == title and entry["state"] == "loaded" for entry in added)

    # 2. The HAN meter's device page: live power, voltage and energy with their units, and the
    # capacity tariff, whose month has peaks from the replayed days.
    peak = meter_state(stack, "capacity_peak_1")
    assert peak is not None
    assert re.fullmatch(r"\d+\.\d{3}", peak), peak
    page.goto(f"{stack.url}/config/devices/device/{device_id(stack, AIDON_METER_ID)}")
    expect_reading(page, "Power import", "kW")
    expect_reading(page, "Voltage L1", "V")  # shown once the entry reloaded with them enabled
    expect_reading(page, "Energy import", "kWh")
    expect_reading(page, "Capacity peaks mean", "kW")
    expect_reading(page, "Capacity peak 1", "kW")
    page.screenshot(path=SCREENSHOTS / "demo_han_meter.png", full_page=True)

    # 3. The Corus converter's device page: volume, pressure, temperature.
    corus_entry_id = stack.require_config().corus_entry_id
    page.goto(f"{stack.url}/config/devices/device/{device_id(stack, corus_entry_id)}")
    expect_reading(page, "Converted volume", "m³")
    expect_reading(page, "Gas pressure", "bar")
    expect_reading(page, "Gas temperature", "°C")
    page.screenshot(path=SCREENSHOTS / "demo_corus_converter.png", full_page=True)

    # 4. The Energy dashboard: grid and gas from the imported hourly statistics, days of them.
    grid_import = statistic_id(AIDON_METER_ID, "active_power_import_total")
    grid_export = statistic_id(AIDON_METER_ID, "active_power_export_total")
    gas = statistic_id(corus_entry_id, "index_converted")
    (prefs,) = stack.websocket({"type": "energy/get_prefs"})
    sources = {source["type"]: source for source in prefs["energy_sources"]}
    assert [flow["stat_energy_from"] for flow in sources["grid"]["flow_from"]] == [grid_import]
    assert [flow["stat_energy_to"] for flow in sources["grid"]["flow_to"]] == [grid_export]
    assert sources["gas"]["stat_energy_from"] == gas
    rows = hourly_rows(stack, [grid_import, grid_export, gas])
    # The meter's replay gives a row per past hour (fast cadence's live hours add more); the
    # converter's first backfill a week of them.
    counts = {ident: len(rows.get(ident, [])) for ident in (grid_import, grid_export, gas)}
    assert all(count > 48 for count in counts.values()), counts
    assert counts[grid_import] >= HISTORY_DAYS * 24
    page.goto(f"{stack.url}/energy")
    expect(page.get_by_text("Energy distribution")).to_be_visible()
    expect(page.get_by_text("Gas consumption").first).to_be_visible()
    page.locator("ha-date-range-picker").click()
    page.get_by_text("Last 7 days", exact=True).click()
    week_ago = (datetime.now(UTC) - timedelta(days=7)).astimezone(ZoneInfo(TIME_ZONE))
    expect(page.locator("hui-energy-period-selector")).to_contain_text(
        f"{week_ago:%b} {week_ago.day} \N{EN DASH}"
    )
    expect(page.get_by_text("There is no data for this period.")).to_have_count(0)
    page.wait_for_timeout(CHART_SETTLE_MS)
    page.screenshot(path=SCREENSHOTS / "demo_energy.png", full_page=True)
