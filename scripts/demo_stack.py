"""The demo stack: simulated HAN meter and Corus converter, and Home Assistant reading them.

Shared by `scripts/demo` (a person watching it in a browser) and `tests/browser/` (Chromium
walking through it). `DemoStack` creates a Home Assistant configuration directory on the fly,
starts the three processes on 127.0.0.1, waits until each one answers, and stops all of them
again, also when something on the way fails:

    with DemoStack(Path(".demo"), ports=DemoPorts.free()) as stack:
        stack.wait_until_running()
        print(stack.url)

The configuration skips onboarding and lets anyone on 127.0.0.1 in without a password
(trusted-networks auth provider with `allow_bypass_login` and a single pre-seeded owner), and has
one HAN meter and one Corus converter configured. Scripts and tests talk to Home Assistant with a
pre-seeded long-lived access token (`stack.token`).

The Energy dashboard opens with days of history: the simulated meter replays the list 3 of
its last `HISTORY_DAYS` days to Home Assistant when it connects, and the converter's hourly
log goes back further still; the integration imports both as hourly statistics at the meters'
own hours, and `configure_energy` points the dashboard at those statistics.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import concurrent.futures
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import os
from pathlib import Path
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Self
import urllib.error
import urllib.request
import uuid

import aiohttp
import jwt

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as scripts/demo_stack.py
    sys.path.insert(0, str(REPO_ROOT))

from homeassistant.const import CONF_HOST, CONF_PORT  # noqa: E402

from custom_components.amshan_corus.const import (  # noqa: E402
    CONF_BACKFILL_DAYS,
    CONF_CONNECTION,
    CONF_TIMEZONE,
    DEFAULT_CORUS_PORT,
    DOMAIN,
    Connection,
)
from custom_components.amshan_corus.protocol.han.simulator import AIDON_METER_ID  # noqa: E402
from custom_components.amshan_corus.statistics import (  # noqa: E402
    BACKFILL_MAX_HOURS,
    statistic_id,
)

HOST = "127.0.0.1"
TIME_ZONE = "Europe/Oslo"
OWNER_NAME = "Demo"
CORUS_FIRMWARE = "b0040"
HISTORY_DAYS = 3  # what the simulated HAN meter replays to Home Assistant
# The converter's first backfill reads this far back: all of it in the first poll.
CORUS_BACKFILL_DAYS = BACKFILL_MAX_HOURS // 24

# Home Assistant takes tens of seconds to start on a busy 2-core machine.
START_TIMEOUT = 240.0
STOP_TIMEOUT = 30.0
POLL_INTERVAL = 0.5
WEBSOCKET_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=60, ws_close=10)


class DemoError(Exception):
    """The demo stack could not start or answer; the message says which part and why."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class DemoPorts:
    """The TCP ports of the three processes."""

    hass: int = 8123
    han: int = 3001
    corus: int = DEFAULT_CORUS_PORT

    @classmethod
    def free(cls) -> DemoPorts:
        """Ports nobody uses right now (for tests running beside a demo)."""
        return cls(hass=free_port(), han=free_port(), corus=free_port())


def wait_for[T](
    description: str,
    check: Callable[[], T],
    *,
    timeout: float,
    alive: Callable[[], None] | None = None,
) -> T:
    """Call `check()` until it returns something truthy; `alive()` may raise to give up early."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        if result := check():
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:.0f} s waiting for {description}")
        time.sleep(POLL_INTERVAL)


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False


# --- the configuration directory ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """What `write_config` created: an API token and the config entries of the two meters."""

    token: str
    han_entry_id: str
    corus_entry_id: str


def _storage(key: str, data: Any, *, version: int = 1, minor_version: int = 1) -> dict[str, Any]:
    return {"version": version, "minor_version": minor_version, "key": key, "data": data}


def _config_entry(
    title: str,
    unique_id: str | None,
    data: dict[str, Any],
    now: str,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "created_at": now,
        "data": data,
        "discovery_keys": {},
        "disabled_by": None,
        "domain": DOMAIN,
        "entry_id": uuid.uuid4().hex,
        "minor_version": 1,
        "modified_at": now,
        "options": options or {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": title,
        "unique_id": unique_id,
        "version": 1,
    }


CONFIGURATION_YAML = """\
# Created by scripts/demo_stack.py for the demo; recreated on every start.
homeassistant:
  name: AMS HAN & Corus demo
  latitude: 59.91
  longitude: 10.75
  elevation: 10
  unit_system: metric
  currency: NOK
  country: "NO"
  time_zone: {time_zone}
  auth_providers:
    # Anyone on this machine is let in as the one owner, without a password.
    - type: trusted_networks
      trusted_networks: [127.0.0.1/32, "::1/128"]
      allow_bypass_login: true
    - type: homeassistant

http:
  server_host: {host}
  server_port: {port}

# Only what the demo shows; `default_config:` would load dozens of integrations.
frontend:
config:
energy:
history:
logbook:
recorder:

logger:
  default: warning
  logs:
    custom_components.{domain}: info
"""


def write_config(config_dir: Path, ports: DemoPorts) -> DemoConfig:
    """Create a fresh Home Assistant configuration directory for the stack on `ports`."""
    if config_dir.exists():
        shutil.rmtree(config_dir)
    storage = config_dir / ".storage"
    storage.mkdir(parents=True)
    (config_dir / "custom_components").symlink_to(REPO_ROOT / "custom_components")
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(time_zone=TIME_ZONE, host=HOST, port=ports.hass, domain=DOMAIN)
    )

    now_dt = datetime.now(UTC)
    now = now_dt.isoformat()
    user_id = uuid.uuid4().hex
    refresh_token_id = uuid.uuid4().hex
    jwt_key = secrets.token_hex(64)
    auth = {
        "users": [
            {
                "id": user_id,
                "group_ids": ["system-admin"],
                "is_owner": True,
                "is_active": True,
                "name": OWNER_NAME,
                "system_generated": False,
                "local_only": False,
            }
        ],
        "groups": [
            {"id": "system-admin", "name": "Administrators"},
            {"id": "system-users", "name": "Users"},
            {"id": "system-read-only", "name": "Read Only"},
        ],
        "credentials": [],
        "refresh_tokens": [
            {
                "id": refresh_token_id,
                "user_id": user_id,
                "client_id": None,
                "client_name": "amshan_corus demo stack",
                "client_icon": None,
                "token_type": "long_lived_access_token",
                "created_at": now,
                "access_token_expiration": timedelta(days=3650).total_seconds(),
                "token": secrets.token_hex(64),
                "jwt_key": jwt_key,
                "last_used_at": None,
                "last_used_ip": None,
                "expire_at": None,
                "credential_id": None,
                "version": None,
            }
        ],
    }
    # Titles and unique ids as the config flow sets them: the HAN meter by the id it sends,
    # the Corus converter (which sends none) by none, so duplicates are refused by host and port.
    han = _config_entry(
        "Aidon 6525",
        AIDON_METER_ID,
        {CONF_CONNECTION: Connection.HAN_TCP.value, CONF_HOST: HOST, CONF_PORT: ports.han},
        now,
    )
    corus = _config_entry(
        f"Corus {CORUS_FIRMWARE} ({HOST})",
        None,
        {
            CONF_CONNECTION: Connection.CORUS_TCP.value,
            CONF_HOST: HOST,
            CONF_PORT: ports.corus,
            CONF_TIMEZONE: TIME_ZONE,
        },
        now,
        {CONF_BACKFILL_DAYS: CORUS_BACKFILL_DAYS},
    )
    entries = [han, corus]
    files = {
        "auth": _storage("auth", auth),
        "onboarding": _storage(
            "onboarding",
            {"done": ["user", "core_config", "analytics", "integration"]},
            version=4,
        ),
        "core.config_entries": _storage(
            "core.config_entries", {"entries": entries}, minor_version=5
        ),
    }
    for key, content in files.items():
        (storage / key).write_text(json.dumps(content, indent=2))
    token = jwt.encode(
        {"iss": refresh_token_id, "iat": now_dt, "exp": now_dt + timedelta(days=3650)},
        jwt_key,
        algorithm="HS256",
    )
    return DemoConfig(token=token, han_entry_id=han["entry_id"], corus_entry_id=corus["entry_id"])


# --- the processes -----------------------------------------------------------------------


class Process:
    """One child process in its own process group, logging to a file."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                args,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
            )

    def ensure_alive(self) -> None:
        """Raise DemoError with the end of the log if the process has exited."""
        if (code := self.popen.poll()) is not None:
            raise DemoError(
                f"{self.name} exited with code {code}; the end of {self.log_path}:\n"
                + self.log_tail()
            )

    def announced(self) -> bool:
        """Whether the process has written a JSON line (a simulator saying where it listens)."""
        if not self.log_path.exists():
            return False
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                if isinstance(json.loads(line), dict):
                    return True
        return False

    def log_tail(self, lines: int = 25) -> str:
        """The last lines the process wrote."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it does not end in time."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        # Whatever the process left behind in its group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def cli_command(*args: str) -> list[str]:
    """The integration's command-line tool, run by this Python."""
    return [sys.executable, "-m", f"custom_components.{DOMAIN}", *args]


class DemoStack:
    """The three processes of the demo and the configuration they share."""

    def __init__(
        self,
        base_dir: Path,
        *,
        ports: DemoPorts | None = None,
        cadence: str = "real",
    ) -> None:
        self.base_dir = base_dir
        self.config_dir = base_dir / "config"
        self.log_dir = base_dir / "logs"
        self.ports = ports or DemoPorts()
        self.cadence = cadence
        self.config: DemoConfig | None = None
        self.processes: list[Process] = []

    @property
    def url(self) -> str:
        """Where a browser finds Home Assistant."""
        return f"http://{HOST}:{self.ports.hass}"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration and start the simulators, then Home Assistant."""
        for port in (self.ports.hass, self.ports.han, self.ports.corus):
            if port_open(port):
                raise DemoError(f"port {port} on {HOST} is already in use")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.config = write_config(self.config_dir, self.ports)
        self.start_han_simulator("HAN simulator", self.ports.han, history_days=HISTORY_DAYS)
        corus_args = ["--firmware", CORUS_FIRMWARE, "--timezone", TIME_ZONE]
        self.start_simulator("Corus simulator", "corus", self.ports.corus, corus_args)
        self.spawn(
            "Home Assistant",
            [
                sys.executable,
                str(REPO_ROOT / "scripts" / "hass_launcher.py"),
                "-c",
                str(self.config_dir),
                "--skip-pip",
            ],
        )

    def start_han_simulator(
        self, name: str, port: int, capture: Path | None = None, *, history_days: int = 0
    ) -> None:
        """Start a simulated HAN meter (the built-in Aidon, or replaying a raw capture).

        Waits for the simulator to say it listens rather than knocking: the first client to
        connect gets the meter's `history_days`, and that must be Home Assistant.
        """
        args = ["--cadence", self.cadence]
        if capture is not None:
            args += ["--file", str(capture)]
        if history_days:
            args += ["--history-days", str(history_days)]
        process = self.spawn(name, cli_command("simulate", "han", "--port", str(port), *args))
        wait_for(
            f"{name} on port {port}",
            process.announced,
            timeout=30,
            alive=process.ensure_alive,
        )

    def start_simulator(self, name: str, kind: str, port: int, args: list[str]) -> None:
        """Start `simulate KIND` on `port` and wait until it accepts connections."""
        process = self.spawn(name, cli_command("simulate", kind, "--port", str(port), *args))
        wait_for(
            f"{name} on port {port}",
            lambda: port_open(port),
            timeout=30,
            alive=process.ensure_alive,
        )

    def spawn(self, name: str, args: list[str]) -> Process:
        """Start one more process of the stack."""
        log_name = name.lower().replace(" ", "_") + ".log"
        process = Process(name, args, self.log_dir / log_name)
        self.processes.append(process)
        return process

    def ensure_alive(self) -> None:
        """Raise DemoError if any process of the stack has exited."""
        for process in self.processes:
            process.ensure_alive()

    def stop(self) -> None:
        """Stop Home Assistant first (it saves its state), then the simulators."""
        while self.processes:
            self.processes.pop().stop()

    # --- talking to Home Assistant ---

    def require_config(self) -> DemoConfig:
        """The configuration of the started stack."""
        if self.config is None:
            raise DemoError("the demo stack has not been started")
        return self.config

    @property
    def token(self) -> str:
        """A long-lived access token of the owner."""
        return self.require_config().token

    def api(self, path: str, body: Any = None) -> Any:
        """GET (or POST `body` to) Home Assistant's REST API; the decoded JSON answer."""
        request = urllib.request.Request(
            f"{self.url}/api/{path.lstrip('/')}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def _running(self) -> bool:
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            return bool(self.api("config").get("state") == "RUNNING")
        return False

    def wait_until_running(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until Home Assistant has started completely (or raise DemoError)."""
        wait_for("Home Assistant to start", self._running, timeout=timeout, alive=self.ensure_alive)

    def states(self) -> list[dict[str, Any]]:
        """Every entity's state."""
        return list(self.api("states"))

    def websocket(self, *messages: dict[str, Any]) -> list[Any]:
        """Send websocket commands in order; the `result` of each (DemoError on failure)."""
        # In a thread of its own: callers may have an event loop of their own (pytest with Home
        # Assistant's plugin) or one marked running (Playwright's sync API).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self._websocket(list(messages))).result()

    async def _websocket(self, messages: list[dict[str, Any]]) -> list[Any]:
        results = []
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{self.url}/api/websocket", timeout=WEBSOCKET_TIMEOUT) as ws,
        ):
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (reply := await ws.receive_json())["type"] != "auth_ok":
                raise DemoError(f"websocket authentication failed: {reply}")
            for number, message in enumerate(messages, start=1):
                await ws.send_json({"id": number, **message})
                reply = await ws.receive_json()
                if not reply.get("success"):
                    raise DemoError(f"{message['type']} failed: {reply.get('error')}")
                results.append(reply.get("result"))
        return results

    def integration_entities(self) -> list[dict[str, Any]]:
        """Entity registry entries of this integration, with their current state."""
        (registry,) = self.websocket({"type": "config/entity_registry/list"})
        states = {state["entity_id"]: state for state in self.states()}
        return [
            {**entry, "state": states.get(entry["entity_id"])}
            for entry in registry
            if entry["platform"] == DOMAIN
        ]

    def energy_statistics(self) -> dict[str, str]:
        """The demo meters' imported hourly statistics that exist so far, by source.

        `grid_import`, `grid_export` (the demo meter is a prosumer) and `gas`.
        """
        wanted = {
            "grid_import": statistic_id(AIDON_METER_ID, "active_power_import_total"),
            "grid_export": statistic_id(AIDON_METER_ID, "active_power_export_total"),
            "gas": statistic_id(self.require_config().corus_entry_id, "index_converted"),
        }
        (found,) = self.websocket(
            {"type": "recorder/get_statistics_metadata", "statistic_ids": list(wanted.values())}
        )
        existing = {item["statistic_id"] for item in found}
        return {source: ident for source, ident in wanted.items() if ident in existing}

    def energy_preferences(self) -> dict[str, Any] | None:
        """Energy dashboard preferences for the demo meters, once all their statistics exist."""
        statistics = self.energy_statistics()
        if len(statistics) < 3:
            return None
        price = {"entity_energy_price": None, "number_energy_price": None}
        return {
            "energy_sources": [
                {
                    "type": "grid",
                    "flow_from": [
                        {
                            "stat_energy_from": statistics["grid_import"],
                            "stat_cost": None,
                            **price,
                        }
                    ],
                    "flow_to": [
                        {
                            "stat_energy_to": statistics["grid_export"],
                            "stat_compensation": None,
                            **price,
                        }
                    ],
                    "cost_adjustment_day": 0,
                },
                {
                    "type": "gas",
                    "stat_energy_from": statistics["gas"],
                    "stat_cost": None,
                    **price,
                },
            ],
            "device_consumption": [],
        }

    def enable_phase_voltages(self) -> bool:
        """Enable the meter's per-phase voltages (off by default); False until they exist.

        Home Assistant reloads the config entry about 30 s after entities are enabled.
        """
        wanted = {f"{AIDON_METER_ID}_voltage_l{phase}" for phase in (1, 2, 3)}
        found = [e for e in self.integration_entities() if e["unique_id"] in wanted]
        if len(found) < len(wanted):
            return False
        self.websocket(
            *(
                {
                    "type": "config/entity_registry/update",
                    "entity_id": e["entity_id"],
                    "disabled_by": None,
                }
                for e in found
                if e["disabled_by"] is not None
            )
        )
        return True

    def configure_energy(self) -> bool:
        """Point the Energy dashboard at the meters' hourly statistics; False until they exist."""
        if (preferences := self.energy_preferences()) is None:
            return False
        self.websocket({"type": "energy/save_prefs", **preferences})
        return True


# --- scripts/demo ----------------------------------------------------------------------------


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: object) -> None:
    # Once: a second Ctrl-C must not cut the orderly stop short and orphan the children.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the demo until Ctrl-C (or SIGTERM, SIGHUP)."""
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Home Assistant with this integration, a simulated HAN meter and a simulated "
        "Corus gas converter, all on 127.0.0.1. Stop it with Ctrl-C.",
    )
    defaults = DemoPorts()
    parser.add_argument("--port", type=int, default=defaults.hass, help="Home Assistant's port")
    parser.add_argument("--han-port", type=int, default=defaults.han)
    parser.add_argument("--corus-port", type=int, default=defaults.corus)
    parser.add_argument(
        "--cadence",
        choices=["real", "fast"],
        default="real",
        help="HAN frames as a meter sends them (real) or time-compressed (fast)",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=REPO_ROOT / ".demo",
        help="where the configuration and logs go (recreated)",
    )
    args = parser.parse_args(argv)
    # A terminal closing or `kill` stops the children too, like Ctrl-C; SIGINT explicitly,
    # since a shell starting us in the background has it ignored.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _interrupt)
    ports = DemoPorts(hass=args.port, han=args.han_port, corus=args.corus_port)
    stack = DemoStack(args.dir, ports=ports, cadence=args.cadence)
    try:
        with stack:
            print(f"Starting Home Assistant (logs in {stack.log_dir}) ...", flush=True)
            stack.wait_until_running()
            print(
                f"\nHome Assistant is running: open {stack.url}\n"
                "(logged in automatically from this machine). Ctrl-C stops everything.\n"
                f"The simulated meter replays its last {HISTORY_DAYS} days of hourly readings "
                "to Home Assistant, and the converter's hourly log is imported too.",
                flush=True,
            )
            # Set-up steps that wait for the meters' entities and statistics to appear.
            pending = {
                stack.enable_phase_voltages: "Per-phase voltages enabled.",
                stack.configure_energy: (
                    "Energy dashboard configured with the imported hourly statistics: "
                    f"grid import/export ({HISTORY_DAYS} days back) and gas "
                    f"({CORUS_BACKFILL_DAYS} days back)."
                ),
            }
            while True:
                stack.ensure_alive()
                for step, done in list(pending.items()):
                    if step():
                        print(done, flush=True)
                        del pending[step]
                time.sleep(2)
    except KeyboardInterrupt:
        print("\nStopped.", flush=True)
        return 0
    except DemoError as err:
        print(f"scripts/demo: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
