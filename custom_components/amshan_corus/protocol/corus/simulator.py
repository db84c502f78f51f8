"""A Corus converter on TCP, for tests, demos and cross-checks (asyncio).

Public API:
- `CorusSimulator(map_id="b0040", *, host="127.0.0.1", port=0, password="PASS", faults=None,
  timezone=UTC, pulse_weight=Decimal("0.1"), history_days=90, seed=1, fast=True, start=None,
  speed=1.0, ident="/ACT7CORUS", frame_payload=250, layouts=None)`: `await start()`, `.port`
  (the real port when 0 was asked), `await stop()`, or `async with CorusSimulator(...) as sim:`.
  `await wait_idle()` waits until the current session is over (for assertions on `stats`).
  `clock()`/`set_clock()`: the converter's clock (starts at `start`, runs `speed` times real
  time, 0 freezes it; clients set it through the clock parameter). `stats` counts sessions,
  breaks, ACKs, NAKs, requests and writes; `faults` can be changed between sessions.
  `fast=True` (the default, for tests) answers at once; `fast=False` waits a GSM-like
  50-200 ms before each reply.
- `SimulatorFaults(tiny_segments, corrupt_database_frame, corrupt_times, reply_delay,
  drop_mid_frame, required_password, empty_databases, missing_records)`: switches for fault
  tests.
- What it holds, to compare a client's reads with: `expected_values()` (every parameter by
  name, decoded), `periods(database)` (the model's record periods, oldest first),
  `database_records(database, newest, oldest)` (the encoded records it would send), `hour(n)`,
  `events`, `layouts` (database -> `RecordLayout` in use).

It speaks the wire format of corus-protocol.md exactly (iflag 1.0.1 reads it): the wake-up
NULs are answered with three NULs, the sign-on with an identification line, the option select
with the password + CRC ("PASS" by default), which the client must echo (or send
`faults.required_password`); then read (0xBF), write (0xFF) and database (0xBE) requests
until the break. A converter serves one session at a time.

The converter is consistent over time: an hourly flow profile (seeded) drives the pulse counts;
the indexes are the running sums of those counts (so hourly consumptions equal the index
differences, and the live index advances through the current hour); temperature and pressure
drift along a daily curve; daily and monthly records aggregate the hours. Interval records are
60-minute records. All values go through `datatypes` (one codec for both directions), and are
chosen to be exactly representable, so what a client reads equals `expected_values()`.

The event database holds 8-byte records of this simulator's own making (Date, event code:
1 power-up, 2 clock set, then 2 zero bytes), newest first: clients get them as raw records.

Record layouts per map are this simulator's choice (the real assignment is not documented):
maps with Index9 indexes use the 92/97/111-byte layouts, maps with a second pressure sensor
and Index indexes the 90/95/109-byte ones, the others 52/57/103. `layouts` overrides some
databases' choice (`layouts={"hourly": 52}`: a converter whose hourly log has no indexes, only
each hour's consumptions, whose running sum is the live index's growth). The 52/57/103-byte
`counter_*` fields sit where the larger layouts have the under-alarm consumptions (same offsets
and types): this converter has no alarms, so they are 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
import math
import random
import socket
import time
from typing import Literal, Self

from .databases import RecordLayout, layouts_for
from .datatypes import DATE, EncodableValue, Value
from .errors import CorusError
from .firmware import ParameterDefinition, ParameterMap, get_parameter_map
from .frames import (
    ACK,
    CMD_BREAK,
    CMD_DATABASE,
    CMD_READ,
    CMD_WRITE,
    DATABASES,
    NAK,
    SOH,
    WAKEUP_REPLY,
    build_database_frames,
    build_reply,
    decode_parameter_id,
    decode_parameter_ids,
    find_password,
    parse_request,
    password_message,
)

IDLE_TIMEOUT = 60.0
# The event log's record format is not documented: this simulator's 8-byte records are its
# own (Date, event code Word, 2 zero bytes), enough to exercise raw records in clients.
EVENT_POWER_UP = 1
EVENT_CLOCK_SET = 2
HOUR = timedelta(hours=1)


@dataclass(kw_only=True)
class SimulatorFaults:
    """Fault switches; each applies to every session while set."""

    tiny_segments: bool = False  # write every reply in 1-3 byte TCP segments
    corrupt_database_frame: int | None = None  # bad CRC on this database frame...
    corrupt_times: int = 1  # ...this many times over the simulator's life
    reply_delay: float = 0.0  # seconds to wait before answering each request after sign-on
    drop_mid_frame: Literal["read", "database"] | None = None  # close halfway through it
    required_password: str | None = None  # expect this instead of the password sent
    empty_databases: bool = False  # answer every database request with no records
    # Records ending at these times are missing from every log (lost, or the log was cleared).
    missing_records: frozenset[datetime] = frozenset()


@dataclass
class SimulatorStats:
    """What the simulator saw, for assertions."""

    sessions: int = 0
    signed_on: int = 0
    breaks: int = 0
    acks: int = 0
    naks: int = 0
    rejected_passwords: int = 0
    requests: list[int] = field(default_factory=list)  # command bytes, in order
    writes: list[tuple[int, bytes]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Period:
    """Aggregated model values of one record period (an hour, a day or a month)."""

    start: datetime
    end: datetime
    counts: int  # unconverted pulses
    converted_counts: int
    hours: int
    temperature: tuple[Decimal, Decimal, Decimal]  # min, max, average (°C, 0.01)
    pressure: tuple[Decimal, Decimal, Decimal]  # bar, 0.001
    flow: tuple[int, int, int]  # unconverted pulses per hour: min, max, average
    converted_flow: tuple[int, int, int]
    index_end: int  # cumulative unconverted pulses at the end
    converted_index_end: int
    peak: tuple[int, datetime]  # largest hourly counts and its hour's end
    converted_peak: tuple[int, datetime]


def _q(value: float, places: str) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def _default_layouts(parameter_map: ParameterMap) -> dict[str, int]:
    index = parameter_map.get("index_unconverted")
    if index is not None and index.type.name == "Index9":
        return {"interval": 92, "hourly": 92, "daily": 97, "monthly": 111}
    if "pressure_2" in parameter_map:
        return {"interval": 90, "hourly": 90, "daily": 95, "monthly": 109}
    return {"interval": 52, "hourly": 52, "daily": 57, "monthly": 103}


class CorusSimulator:
    """A simulated Corus converter serving TCP sessions; see the module docstring."""

    def __init__(
        self,
        map_id: str = "b0040",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        password: str = "PASS",  # noqa: S107 - the protocol's documented default, not a secret
        faults: SimulatorFaults | None = None,
        timezone: tzinfo = UTC,
        pulse_weight: Decimal = Decimal("0.1"),
        history_days: int = 90,
        seed: int = 1,
        fast: bool = True,
        start: datetime | None = None,
        speed: float = 1.0,
        ident: str = "/ACT7CORUS",
        frame_payload: int = 250,
        layouts: Mapping[str, int] | None = None,
    ) -> None:
        self.parameter_map = get_parameter_map(map_id)
        self.host = host
        self.port = port
        self.password = password.encode("latin-1")
        self.faults = faults or SimulatorFaults()
        self.timezone = timezone
        self.pulse_weight = pulse_weight
        self.seed = seed
        self.fast = fast
        self.speed = speed
        self.ident = ident.encode("latin-1")
        self.frame_payload = frame_payload
        self.stats = SimulatorStats()
        chosen = {**_default_layouts(self.parameter_map), **(layouts or {})}
        self.layouts: dict[str, RecordLayout] = {}
        for database, length in chosen.items():
            layout = layouts_for(database).get(length)
            if layout is None:
                raise CorusError(f"no {length}-byte layout for the {database} database")
            self.layouts[database] = layout
        first = (start or datetime.now(timezone)).astimezone(timezone).replace(microsecond=0)
        self._boot_clock = first.astimezone(UTC)  # arithmetic in UTC: DST-proof
        self._boot_monotonic = time.monotonic()
        self._clock_offset = timedelta()
        midnight = first.replace(hour=0, minute=0, second=0)
        self._anchor = (midnight - timedelta(days=history_days)).astimezone(UTC)
        self._hours: list[Period] = []
        self._records: dict[tuple[str, datetime], bytes] = {}  # periods never change
        self._overrides: dict[int, bytes] = {}
        self._server: asyncio.Server | None = None
        self._busy = asyncio.Lock()
        self._writers: set[asyncio.StreamWriter] = set()
        self._corruptions = 0
        self._reader = asyncio.StreamReader()  # the current session's, once one runs
        self._database_frames: list[bytes] = []  # the last database answer, for NAKs
        self._pushback = b""  # a byte read ahead that starts the next request
        self._by_id = {p.id: p for p in self.parameter_map.parameters.values()}
        self.events: list[tuple[datetime, int]] = [(first, EVENT_POWER_UP)]

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Listen on host:port (port 0: any free port, then `.port` tells which)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and any open session."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with suppress(TimeoutError):
            async with asyncio.timeout(2):
                await self._server.wait_closed()
        self._server = None

    async def wait_idle(self) -> None:
        """Return once no session is being served (its break handled, its stats final)."""
        await asyncio.sleep(0)  # let a just-accepted connection take the session lock
        async with self._busy:
            pass

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ the model

    def _elapsed(self) -> timedelta:
        return timedelta(seconds=(time.monotonic() - self._boot_monotonic) * self.speed)

    def clock(self) -> datetime:
        """The converter's clock now."""
        moment = self._boot_clock + self._elapsed() + self._clock_offset
        return moment.astimezone(self.timezone).replace(microsecond=0)

    def set_clock(self, moment: datetime) -> None:
        """Set the converter's clock (what a clock write does)."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=self.timezone)
        self._clock_offset = aware.astimezone(UTC) - (self._boot_clock + self._elapsed())

    def _hour_number(self, moment: datetime) -> tuple[int, float]:
        seconds = (moment.astimezone(UTC) - self._anchor).total_seconds()
        number = math.floor(seconds / 3600)
        return number, seconds / 3600 - number

    def hour(self, number: int) -> Period:
        """The model's hour `number` (0 = the first hour of history)."""
        while len(self._hours) <= number:
            self._hours.append(self._make_hour(len(self._hours)))
        return self._hours[number]

    def _make_hour(self, number: int) -> Period:
        rng = random.Random(self.seed * 1_000_003 + number)
        start = (self._anchor + number * HOUR).astimezone(self.timezone)
        daily = math.sin(2 * math.pi * (start.hour - 9) / 24)
        flow = max(0.0, 2.0 + 1.2 * daily + rng.uniform(-0.4, 0.4))  # m³/h
        counts = int(flow / float(self.pulse_weight))
        temperature = 8.0 + 6.0 * daily + rng.uniform(-0.5, 0.5)
        pressure = 1.5 + 0.01 * daily + rng.uniform(-0.003, 0.003)
        factor = (pressure / 1.01325) * (288.15 / (temperature + 273.15))
        converted = round(counts * factor)
        t_avg = _q(temperature, "0.01")
        p_avg = _q(pressure, "0.001")
        previous = self._hours[number - 1] if number else None
        end = (self._anchor + (number + 1) * HOUR).astimezone(self.timezone)  # not wall time
        return Period(
            start=start,
            end=end,
            counts=counts,
            converted_counts=converted,
            hours=1,
            temperature=(t_avg - Decimal("0.4"), t_avg + Decimal("0.4"), t_avg),
            pressure=(p_avg - Decimal("0.002"), p_avg + Decimal("0.002"), p_avg),
            flow=(counts * 4 // 5, counts * 6 // 5, counts),
            converted_flow=(converted * 4 // 5, converted * 6 // 5, converted),
            index_end=(previous.index_end if previous else 0) + counts,
            converted_index_end=(previous.converted_index_end if previous else 0) + converted,
            peak=(counts, end),
            converted_peak=(converted, end),
        )

    def _aggregate(self, first: int, last: int) -> Period:
        """Hours first..last (inclusive) as one period."""
        hours = [self.hour(n) for n in range(first, last + 1)]
        counts = sum(h.counts for h in hours)
        converted = sum(h.converted_counts for h in hours)
        average = Decimal(sum(h.temperature[2] for h in hours)) / len(hours)
        pressure = Decimal(sum(h.pressure[2] for h in hours)) / len(hours)
        return Period(
            start=hours[0].start,
            end=hours[-1].end,
            counts=counts,
            converted_counts=converted,
            hours=len(hours),
            temperature=(
                min(h.temperature[0] for h in hours),
                max(h.temperature[1] for h in hours),
                average.quantize(Decimal("0.01")),
            ),
            pressure=(
                min(h.pressure[0] for h in hours),
                max(h.pressure[1] for h in hours),
                pressure.quantize(Decimal("0.001")),
            ),
            flow=(
                min(h.flow[0] for h in hours),
                max(h.flow[1] for h in hours),
                round(counts / len(hours)),
            ),
            converted_flow=(
                min(h.converted_flow[0] for h in hours),
                max(h.converted_flow[1] for h in hours),
                round(converted / len(hours)),
            ),
            index_end=hours[-1].index_end,
            converted_index_end=hours[-1].converted_index_end,
            peak=max((h.peak for h in hours), key=lambda p: p[0]),
            converted_peak=max((h.converted_peak for h in hours), key=lambda p: p[0]),
        )

    def periods(self, database: str) -> list[Period]:
        """Every complete record period of `database` up to the clock, oldest first.

        Days and months follow the converter's local calendar (a DST day has 23 or 25 hours).
        """
        now_hour, _ = self._hour_number(self.clock())
        if now_hour <= 0:
            return []
        if database in ("interval", "hourly"):
            return [self.hour(n) for n in range(now_hour)]

        def key(number: int) -> tuple[int, ...]:
            start = self.hour(number).start
            if database == "daily":
                return (start.year, start.month, start.day)
            return (start.year, start.month)

        groups: list[tuple[int, int]] = []  # first and last hour of each calendar period
        for number in range(now_hour):
            if groups and key(number) == key(groups[-1][0]):
                groups[-1] = (groups[-1][0], number)
            else:
                groups.append((number, number))
        if groups and key(now_hour) == key(groups[-1][0]):
            groups.pop()  # the current day or month is not over
        first = self.hour(0).start
        if groups and database == "monthly" and first.day != 1:
            groups.pop(0)  # history starts inside a month
        return [self._aggregate(first_hour, last_hour) for first_hour, last_hour in groups]

    def index_values(self) -> tuple[Decimal, Decimal]:
        """The live unconverted and converted indexes (m³), advancing through the hour."""
        number, fraction = self._hour_number(self.clock())
        if number < 0:
            return Decimal(0), Decimal(0)
        current = self.hour(number)
        done = self.hour(number - 1) if number else None
        counts = (done.index_end if done else 0) + int(current.counts * fraction)
        converted = (done.converted_index_end if done else 0) + int(
            current.converted_counts * fraction
        )
        return self._index(counts), self._index(converted)

    def _index(self, counts: int) -> Decimal:
        base = Decimal(123456)
        return base + counts * self.pulse_weight

    def expected_values(self) -> dict[str, Value]:
        """The value of every parameter of the map right now, by name."""
        now = self.clock()
        number, fraction = self._hour_number(now)
        current = self.hour(max(number, 0))
        drift = Decimal(round(math.sin(fraction * math.pi) * 20)) / 100
        index, converted_index = self.index_values()
        days = (now.astimezone(UTC) - self._boot_clock).days
        model: dict[str, EncodableValue] = {
            "firmware_version": "A3.00",
            "kernel_version": "K1.02",
            "input_pulse_weight": self.pulse_weight,
            "parameter_mapping_version": f"FL_{self.parameter_map.map_id}",
            "compressibility_formula": 1,
            "pressure_base": Decimal("1.01325"),
            "temperature_base": Decimal("288.15"),
            "pressure_low": Decimal("0.9"),
            "pressure_high": Decimal(10),
            "temperature_low": Decimal(-25),
            "temperature_high": Decimal(55),
            "datetime": now,
            "battery_days": Decimal(max(3650 - days, 0)),
            "index_unconverted": index,
            "index_converted": converted_index,
            "flowrate_unconverted": current.counts * self.pulse_weight,
            "flowrate_converted": current.converted_counts * self.pulse_weight,
            "temperature": current.temperature[2] + drift,
            "pressure": current.pressure[2],
            "pressure_2": current.pressure[2] + Decimal("0.25"),
        }
        values: dict[str, Value] = {}
        for name, definition in self.parameter_map.parameters.items():
            data = self._parameter_bytes(definition, model.get(name))
            values[name] = definition.type.decode(data, self.timezone)
        return values

    def _parameter_bytes(self, definition: ParameterDefinition, value: EncodableValue) -> bytes:
        override = self._overrides.get(definition.id)
        if override is not None:
            return override
        return definition.type.encode(value, self.timezone)

    def record_values(self, database: str, period: Period) -> dict[str, EncodableValue]:
        """The (scaled) values of the record for `period`, by field name of its layout."""
        pw = self.pulse_weight
        minutes = period.hours * 60  # not end - start: same-zone subtraction ignores DST
        values: dict[str, EncodableValue] = {}
        for spec in self.layouts[database].fields:
            name = spec.name
            value: EncodableValue = None
            if name == "record_duration":
                value = minutes
            elif name == "status":
                value = 0
            elif name == "end_date":
                value = period.end
            elif name == "start_date":
                value = period.start
            elif "under_alarm" in name or name.startswith("counter_"):
                value = 0
            elif name.startswith("consumption_"):
                converted = "_converted" in name
                if name.endswith("maximum_date"):
                    value = (period.converted_peak if converted else period.peak)[1]
                elif name.endswith("maximum"):
                    value = (period.converted_peak if converted else period.peak)[0] * pw
                else:
                    value = (period.converted_counts if converted else period.counts) * pw
            elif name.startswith(("temperature_", "pressure_", "flowrate_")):
                value = self._statistic(name, period)
            elif name == "index_unconverted":
                value = self._index(period.index_end)
            elif name == "index_converted":
                value = self._index(period.converted_index_end)
            elif "calorific_value" in name:
                value = Decimal("11.25")
            values[name] = value
        return values

    def _statistic(self, name: str, period: Period) -> EncodableValue:
        statistic = name.removesuffix("_2").rsplit("_", 1)[1]
        position = {"minimum": 0, "maximum": 1, "average": 2}[statistic]
        if name.startswith("temperature_"):
            return period.temperature[position]
        if name.startswith("pressure_"):
            offset = Decimal("0.25") if name.endswith("_2") else Decimal(0)
            return period.pressure[position] + offset
        flows = period.flow if name.startswith("flowrate_unconverted") else period.converted_flow
        return flows[position] * self.pulse_weight

    def database_records(
        self, database: str, newest: datetime | None, oldest: datetime | None
    ) -> list[bytes]:
        """The encoded records between the request's dates, newest first."""
        if self.faults.empty_databases:
            return []
        since = None if oldest is None else oldest.astimezone(UTC)
        until = None if newest is None else newest.astimezone(UTC)
        if database == "event":
            return [
                DATE.encode(moment, self.timezone) + code.to_bytes(2, "little") + bytes(2)
                for moment, code in reversed(self.events)
                if (since is None or moment >= since) and (until is None or moment <= until)
            ]
        if database not in self.layouts:
            return []
        layout = self.layouts[database]
        missing = {moment.astimezone(UTC) for moment in self.faults.missing_records}
        chosen = [
            p
            for p in self.periods(database)
            if (since is None or p.start.astimezone(UTC) >= since)
            and (until is None or p.end.astimezone(UTC) <= until)
            and p.end.astimezone(UTC) not in missing
        ]
        records = []
        for period in reversed(chosen):
            key = (database, period.start.astimezone(UTC))  # in-zone equality ignores fold
            if (record := self._records.get(key)) is None:
                values = self.record_values(database, period)
                record = layout.encode(values, self.pulse_weight, self.timezone)
                self._records[key] = record
            records.append(record)
        return records

    # ------------------------------------------------------------------ the wire

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with suppress(OSError):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            async with self._busy:
                self.stats.sessions += 1
                await self._session(reader, writer)
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            OSError,
            CorusError,
        ):
            pass  # the client went away or spoke nonsense: end the session like a device
        finally:
            self._writers.discard(writer)
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, count: int) -> bytes:
        async with asyncio.timeout(IDLE_TIMEOUT):
            return await reader.readexactly(count)

    async def _pause(self, seconds: float) -> None:
        """Wait before a reply, but end the session if the client gives up meanwhile."""
        try:
            async with asyncio.timeout(seconds):
                await self._reader.read(1)  # its break, or the end of the stream
        except TimeoutError:
            return
        raise ConnectionAbortedError("the client gave up while the reply was delayed")

    async def _send(self, writer: asyncio.StreamWriter, data: bytes, delay: bool = True) -> None:
        if delay and self.faults.reply_delay:
            await self._pause(self.faults.reply_delay)
        if not self.fast:
            await asyncio.sleep(random.uniform(0.05, 0.2))  # a GSM modem's round trip
        if not self.faults.tiny_segments:
            writer.write(data)
            await writer.drain()
            return
        offset = 0
        while offset < len(data):
            size = random.randint(1, 3)
            writer.write(data[offset : offset + size])
            await writer.drain()
            await asyncio.sleep(0)  # let the segment go out (TCP_NODELAY) before the next
            offset += size

    async def _drop_halfway(self, writer: asyncio.StreamWriter, frame: bytes) -> None:
        writer.write(frame[: len(frame) // 2])
        await writer.drain()
        writer.transport.abort()
        raise ConnectionAbortedError("fault: dropped mid-frame")

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await self._sign_on(reader, writer):
            return
        self.stats.signed_on += 1
        self._reader = reader
        self._database_frames = []
        self._pushback = b""
        while True:
            head, self._pushback = self._pushback or await self._read(reader, 1), b""
            if head == NAK and self._database_frames:  # the last database frame was bad
                self.stats.naks += 1
                await self._send_database_frame(writer, len(self._database_frames) - 1)
                continue
            if head[0] != SOH:
                continue  # stray bytes (a late ACK...) are ignored, as a device would
            self._database_frames = []
            command = await self._read(reader, 1)
            if command[0] == CMD_BREAK:
                rest = await self._read(reader, 4)
                parse_request(head + command + rest)
                self.stats.requests.append(CMD_BREAK)
                self.stats.breaks += 1
                return
            length = await self._read(reader, 1)
            rest = await self._read(reader, length[0] + 3)
            try:
                request = parse_request(head + command + length + rest)
            except CorusError:
                await self._send(writer, NAK)
                continue
            self.stats.requests.append(request.command)
            if request.command == CMD_READ:
                await self._answer_read(writer, request.payload)
            elif request.command == CMD_WRITE:
                await self._answer_write(writer, request.payload)
            elif request.command == CMD_DATABASE:
                await self._answer_database(reader, writer, request.payload)
            else:
                await self._send(writer, NAK)

    async def _sign_on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        while True:  # wake-up: some NULs, answered with three
            async with asyncio.timeout(IDLE_TIMEOUT):
                chunk = await reader.read(4096)
            if not chunk:
                return False
            if b"\x00" in chunk:
                break
        await self._send(writer, WAKEUP_REPLY, delay=False)
        rest = chunk.lstrip(b"\x00")
        while not rest.startswith(b"/"):
            rest = (await self._read(reader, 1)).lstrip(b"\x00")
        async with asyncio.timeout(IDLE_TIMEOUT):
            line = rest + (await reader.readuntil(b"\n") if b"\n" not in rest else b"")
        if not line.startswith(b"/?") or not line.endswith(b"!\r\n"):
            return False
        await self._send(writer, self.ident + b"\r\n", delay=False)
        option = await self._read(reader, 6)
        if option[0:1] != ACK or not option.endswith(b"\r\n"):
            return False
        await self._send(writer, password_message(self.password), delay=False)
        buffer = b""
        while (answer := find_password(buffer)) is None:
            if len(buffer) > 66:
                return False
            buffer += await self._read(reader, 1)
        required = self.faults.required_password
        expected = required.encode("latin-1") if required is not None else self.password
        if answer != expected:
            self.stats.rejected_passwords += 1
            await self._send(writer, NAK, delay=False)
            return False
        await self._send(writer, ACK, delay=False)
        return True

    async def _answer_read(self, writer: asyncio.StreamWriter, payload: bytes) -> None:
        values = self._encoded_parameters()
        try:
            ids = decode_parameter_ids(payload)
        except CorusError:
            await self._send(writer, NAK)
            return
        if any(i not in values for i in ids):
            await self._send(writer, NAK)  # an id this map does not have
            return
        frame = build_reply(b"".join(values[i] for i in ids))
        if self.faults.drop_mid_frame == "read":
            await self._drop_halfway(writer, frame)
        await self._send(writer, frame)

    def _encoded_parameters(self) -> dict[int, bytes]:
        values = self.expected_values()
        return {
            p.id: p.type.encode(values[p.name], self.timezone)
            if p.id not in self._overrides
            else self._overrides[p.id]
            for p in self.parameter_map.parameters.values()
        }

    async def _answer_write(self, writer: asyncio.StreamWriter, payload: bytes) -> None:
        items: list[tuple[ParameterDefinition, bytes]] = []
        offset = 0
        while offset < len(payload):
            parameter_id, offset = decode_parameter_id(payload, offset)
            definition = self._by_id.get(parameter_id)
            end = offset + (definition.type.length if definition else 0)
            if definition is None or end > len(payload):
                await self._send(writer, NAK)
                return
            items.append((definition, payload[offset:end]))
            offset = end
        for definition, data in items:
            self.stats.writes.append((definition.id, data))
            if definition.name == "datetime":
                moment = definition.type.decode(data, self.timezone)
                if not isinstance(moment, datetime):
                    await self._send(writer, NAK)
                    return
                self.events.append((self.clock(), EVENT_CLOCK_SET))
                self.set_clock(moment)
            else:
                self._overrides[definition.id] = data
        await self._send(writer, ACK)

    async def _answer_database(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
    ) -> None:
        names = {number: name for name, number in DATABASES.items()}
        if len(payload) != 13 or payload[0] not in names:
            await self._send(writer, NAK)
            return
        newest = DATE.decode(payload[5:9], self.timezone)
        oldest = DATE.decode(payload[9:13], self.timezone)
        database = names[payload[0]]
        assert newest is None or isinstance(newest, datetime)
        assert oldest is None or isinstance(oldest, datetime)
        records = self.database_records(database, newest, oldest)
        size = len(records[0]) if records else 0
        self._database_frames = build_database_frames(size, b"".join(records), self.frame_payload)
        number, last = 0, len(self._database_frames) - 1
        await self._send_database_frame(writer, number)
        while number < last:  # no answer follows the last frame, unless it is a NAK
            answer = await self._read(reader, 1)
            if answer == ACK:
                self.stats.acks += 1
                number += 1
            elif answer == NAK:
                self.stats.naks += 1
            else:  # the client gave up on the answer: what it sent starts its next request
                self._database_frames = []
                self._pushback = answer
                return
            await self._send_database_frame(writer, number)

    async def _send_database_frame(self, writer: asyncio.StreamWriter, number: int) -> None:
        frame = self._database_frames[number]
        if (
            number == self.faults.corrupt_database_frame
            and self._corruptions < self.faults.corrupt_times
        ):
            self._corruptions += 1
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        if self.faults.drop_mid_frame == "database":
            await self._drop_halfway(writer, frame)
        await self._send(writer, frame)
