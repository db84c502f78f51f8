"""A simulated HAN meter: a TCP server streaming real-format frames to every client.

The built-in meter is the Aidon 6525 NO (IT network, no L2 current) whose lists 1/2/3 are in
the shared vectors: the frames are re-encoded with the same layout (addresses 41/0883,
control 13, LLC e6e700, data-notification, the same OBIS codes, types, scalers and units),
with a clock and values that advance plausibly. The house is a prosumer: its load follows a
day of a Norwegian home (low at night, peaks in the morning and the evening, a little more or
less from day to day) with noise around it, rooftop solar produces from 07:00 to 19:00 (meter
time, UTC+1) under drifting clouds, and the meter publishes the net flow as import or export
power (never both non-zero); currents follow it, voltages jitter around 230 V, and the energy
registers grow by the energy the power implies.

Cadence (simulated time): list 1 every 2 s, list 2 instead of it every 10 s, list 3 instead
of that on the hour. `Cadence.FAST` runs simulated time 60x faster than real time (list 1
about every 33 ms, list 2 every ~0.17 s, list 3 every minute). `capture=` replays a raw
capture instead, one frame/readout per 2 s (fast: every 2/60 s), looping.

`history=` gives the meter a past: the first client to connect gets, at once, the list 3 of
every hour boundary in the `history` before the live start (meter clock = that hour, the
registers as they stood then), then a list 3 at the live start (so a reader takes the current
clock from it, not the last replayed hour's), then the live stream, whose registers continue
from the replayed ones. The live start is that first connection (or `start_time`). Later
clients (a reconnect, a second reader) get the live stream only, as from a real meter, which
never sends a past hour again: a replay to a reader that already holds newer registers would
show it a meter going backwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
import math
import random

from .errors import ConnectionFailedError
from .hdlc import HdlcFrameReader, encode_hdlc_frame
from .mbus import MbusFrameReader
from .p1 import P1Reader

TICK = timedelta(seconds=2)
FAST_TIME_SCALE = 60.0
SOLAR_PEAK_W = 5000.0
SOLAR_HOURS = (7.0, 19.0)  # meter (local standard) time
# A Norwegian home in winter (electric heating, hot water), W at each meter hour 00..23.
LOAD_PROFILE_W = (
    *(700, 600, 550, 550, 600, 800, 1600, 3000, 3200, 2200, 1600, 1400),
    *(1500, 1400, 1500, 2000, 3000, 3800, 4200, 3600, 2800, 2200, 1500, 1000),
)
DAY_FACTORS = (0.8, 1.3)  # each day uses a little more or less than the profile
LOAD_MEAN_REVERSION = 0.99  # per 2 s tick: the load drifts back to the profile in minutes
HISTORY_STEP = timedelta(minutes=1)  # the replayed past is simulated coarser than live
AIDON_METER_ID = "7359992892587665"


class Cadence(StrEnum):
    """How fast simulated time runs."""

    REAL = "real"
    FAST = "fast"


# --------------------------------------------------------------------------- encoding


def _obis(a: int, b: int, c: int, d: int, e: int, f: int = 255) -> bytes:
    return bytes([0x09, 0x06, a, b, c, d, e, f])


def _visible(text: str) -> bytes:
    data = text.encode("ascii")
    return bytes([0x0A, len(data)]) + data


def _u32(value: int) -> bytes:
    return b"\x06" + (value & 0xFFFFFFFF).to_bytes(4, "big")


def _i16(value: int) -> bytes:
    return b"\x10" + value.to_bytes(2, "big", signed=True)


def _u16(value: int) -> bytes:
    return b"\x12" + value.to_bytes(2, "big")


def _scaled(obis: bytes, value: bytes, scaler: int, unit: int) -> bytes:
    scaler_unit = bytes([0x02, 0x02, 0x0F, scaler & 0xFF, 0x16, unit])
    return b"\x02\x03" + obis + value + scaler_unit


_NORWEGIAN_STANDARD_TIME = timezone(timedelta(hours=1))


def _cosem_clock(moment: datetime) -> bytes:
    """12-byte COSEM date-time as an Aidon NO writes it: Norwegian standard time (UTC+1) all
    year with deviation 0 (see meters._clock)."""
    local = moment.astimezone(_NORWEGIAN_STANDARD_TIME)
    return (
        local.year.to_bytes(2, "big")
        + bytes([local.month, local.day, local.isoweekday(), local.hour, local.minute])
        + bytes([local.second, 0xFF])
        + b"\x00\x00\x00"
    )


@dataclass(slots=True)
class AidonState:
    """The simulated meter's physical state: `power_w`/`export_w` are the net flow the meter
    publishes (at most one of them non-zero)."""

    load_w: float = 1800.0
    solar_w: float = 0.0
    clouds: float = 0.8  # share of the clear-sky solar output that gets through
    power_w: float = 1800.0
    export_w: float = 0.0
    reactive_export_var: float = 130.0
    import_wh: float = 22721380.0
    export_wh: float = 412560.0
    reactive_import_varh: float = 582430.0
    reactive_export_varh: float = 1708430.0
    voltages_dv: tuple[int, int, int] = (2274, 2301, 2308)


def _meter_hour(moment: datetime) -> float:
    local = moment.astimezone(_NORWEGIAN_STANDARD_TIME)
    return local.hour + local.minute / 60 + local.second / 3600


def solar_power_w(moment: datetime, clouds: float) -> float:
    """Rooftop solar output at `moment`: a half sine over the solar hours, scaled by `clouds`."""
    hour = _meter_hour(moment)
    sunrise, sunset = SOLAR_HOURS
    if not sunrise < hour < sunset:
        return 0.0
    return SOLAR_PEAK_W * clouds * math.sin(math.pi * (hour - sunrise) / (sunset - sunrise))


def household_load_w(moment: datetime) -> float:
    """The load the house tends to at `moment`: `LOAD_PROFILE_W` interpolated over the hour."""
    hour = _meter_hour(moment)
    whole = int(hour)
    this, following = LOAD_PROFILE_W[whole], LOAD_PROFILE_W[(whole + 1) % 24]
    return this + (following - this) * (hour - whole)


class AidonNoMeter:
    """Sans-I/O model of an Aidon 6525 NO meter: `frames()` yields (time, frame) forever."""

    def __init__(self, start: datetime, *, seed: int | None = None) -> None:
        self.now = start.replace(microsecond=0) - timedelta(seconds=start.second % 2)
        self.state = AidonState()
        self._random = random.Random(seed)
        self._day: date | None = None
        self._day_factor = 1.0
        self._clock_due = False

    def frames(self) -> Iterator[tuple[datetime, bytes]]:
        """Successive frames with their simulated send time, one per 2 s.

        After `replay()` the first one is a list 3 wherever it falls, so that a reader's clock
        jumps from the last replayed hour to the live start.
        """
        while True:
            self._advance()
            yield self.now, self.frame_at(self.now, clock=self._clock_due)
            self._clock_due = False
            self.now += TICK

    def replay(self, history: timedelta) -> list[tuple[datetime, bytes]]:
        """The meter's past: run it through the `history` before its start (`HISTORY_STEP` at a
        time) and return the list 3 of every hour boundary on the way, oldest first.

        The registers start from the model's at `start - history`, and `frames()` continues
        from where the replay left them.
        """
        live_start = self.now
        moment = live_start - history
        # The live stream's first tick integrates the 2 s before the live start itself.
        end = live_start - TICK
        frames = []
        while moment < end:
            boundary = moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            following = min(moment + HISTORY_STEP, boundary, end)
            self.now = following
            self._advance(following - moment)
            if following == boundary:
                frames.append((boundary, self.frame_at(boundary, clock=True)))
            moment = following
        self.now = live_start
        self._clock_due = True
        return frames

    def _advance(self, step: timedelta = TICK) -> None:
        """Move the state `step` on (to `self.now`): the noise of `step / TICK` live ticks."""
        state, rnd = self.state, self._random
        ticks = step / TICK
        self._new_day()
        # Mean-reverting random walk around the day's profile: 0.2 to 9 kW.
        target = household_load_w(self.now) * self._day_factor
        keep = LOAD_MEAN_REVERSION**ticks
        spread = math.sqrt((1 - keep**2) / (1 - LOAD_MEAN_REVERSION**2))
        state.load_w = target + (state.load_w - target) * keep + rnd.gauss(0, 60 * spread)
        state.load_w = min(max(state.load_w, 200.0), 9000.0)
        walk = math.sqrt(ticks)
        state.clouds = min(max(state.clouds + rnd.gauss(0, 0.01 * walk), 0.3), 1.0)
        state.solar_w = solar_power_w(self.now, state.clouds)
        # The meter nets load and production: one direction at a time.
        net_w = state.load_w - state.solar_w
        state.power_w, state.export_w = max(net_w, 0.0), max(-net_w, 0.0)
        state.reactive_export_var = min(
            max(state.reactive_export_var + rnd.gauss(0, 5 * walk), 0), 900
        )
        hours = step.total_seconds() / 3600
        state.import_wh += state.power_w * hours
        state.export_wh += state.export_w * hours
        state.reactive_export_varh += state.reactive_export_var * hours
        state.voltages_dv = tuple(  # type: ignore[assignment]
            min(max(v + rnd.randint(-2, 2), 2250), 2350) for v in state.voltages_dv
        )

    def _new_day(self) -> None:
        """From the second meter day on, each day draws its own share of the profile."""
        today = self.now.astimezone(_NORWEGIAN_STANDARD_TIME).date()
        if today != self._day:
            if self._day is not None:
                self._day_factor = self._random.uniform(*DAY_FACTORS)
            self._day = today

    def frame_at(self, moment: datetime, *, clock: bool = False) -> bytes:
        """The frame due at `moment`: list 3 on the hour (or with `clock`), list 2 every 10 s,
        else list 1."""
        if clock or (moment.minute == 0 and moment.second < TICK.total_seconds()):
            body = self.list3_body(moment)
        elif moment.second % 10 == 0:
            body = self.list2_body()
        else:
            body = self.list1_body()
        information = b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00" + body
        return encode_hdlc_frame(information)  # Aidon NO addresses and control byte

    def _power(self) -> bytes:
        return _scaled(_obis(1, 0, 1, 7, 0), _u32(round(self.state.power_w)), 0, 27)

    def list1_body(self) -> bytes:
        """List 1: active power import only."""
        return b"\x01\x01" + self._power()

    def _list2_elements(self) -> list[bytes]:
        state = self.state
        # 3-wire IT network: the line current of a balanced load is P / (sqrt(3) * U).
        current_da = round((state.power_w + state.export_w) / (1.732 * 230) * 10)
        u1, u2, u3 = state.voltages_dv
        return [
            b"\x02\x02" + _obis(1, 1, 0, 2, 129) + _visible("AIDON_V0001"),
            b"\x02\x02" + _obis(0, 0, 96, 1, 0) + _visible(AIDON_METER_ID),
            b"\x02\x02" + _obis(0, 0, 96, 1, 7) + _visible("6525"),
            self._power(),
            _scaled(_obis(1, 0, 2, 7, 0), _u32(round(state.export_w)), 0, 27),
            _scaled(_obis(1, 0, 3, 7, 0), _u32(0), 0, 29),
            _scaled(_obis(1, 0, 4, 7, 0), _u32(round(state.reactive_export_var)), 0, 29),
            _scaled(_obis(1, 0, 31, 7, 0), _i16(current_da), -1, 33),
            _scaled(_obis(1, 0, 71, 7, 0), _i16(current_da), -1, 33),
            _scaled(_obis(1, 0, 32, 7, 0), _u16(u1), -1, 35),
            _scaled(_obis(1, 0, 52, 7, 0), _u16(u2), -1, 35),
            _scaled(_obis(1, 0, 72, 7, 0), _u16(u3), -1, 35),
        ]

    def list2_body(self) -> bytes:
        """List 2: identity, powers, currents, voltages (12 elements)."""
        elements = self._list2_elements()
        return bytes([0x01, len(elements)]) + b"".join(elements)

    def list3_body(self, moment: datetime) -> bytes:
        """List 3: list 2 plus the clock and the four energy registers (unit 10 Wh)."""
        state = self.state
        elements = [
            *self._list2_elements(),
            b"\x02\x02" + _obis(0, 0, 1, 0, 0) + b"\x09\x0c" + _cosem_clock(moment),
            _scaled(_obis(1, 0, 1, 8, 0), _u32(int(state.import_wh // 10)), 1, 30),
            _scaled(_obis(1, 0, 2, 8, 0), _u32(int(state.export_wh // 10)), 1, 30),
            _scaled(_obis(1, 0, 3, 8, 0), _u32(int(state.reactive_import_varh // 10)), 1, 32),
            _scaled(_obis(1, 0, 4, 8, 0), _u32(int(state.reactive_export_varh // 10)), 1, 32),
        ]
        return bytes([0x01, len(elements)]) + b"".join(elements)


def split_capture(capture: bytes) -> list[bytes]:
    """Cut a raw capture into replay units: each frame/readout with the bytes before it."""
    for reader in (HdlcFrameReader(), MbusFrameReader(), P1Reader()):
        raws = [unit.raw for unit in reader.feed(capture)]
        if raws:
            break
    else:
        return [capture[i : i + 256] for i in range(0, len(capture), 256)]
    units: list[bytes] = []
    position = 0
    for raw in raws:
        body = raw.rstrip(b"\r\n")  # the P1 reader normalises a readout's line end
        found = capture.find(body, position)
        if found < 0:
            continue
        end = found + len(body)
        while end < len(capture) and capture[end] in b"\r\n":
            end += 1
        units.append(capture[position:end])
        position = end
    if position < len(capture):
        units.append(capture[position:])
    return units


# --------------------------------------------------------------------------- server


class HanSimulator:
    """TCP server streaming a simulated (or replayed) meter to every connected client.

    `await start()`, then `port` is the bound port (pass port=0 for any free one);
    `await stop()` closes the server and every client.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        capture: bytes | None = None,
        cadence: Cadence = Cadence.REAL,
        seed: int | None = None,
        start_time: datetime | None = None,
        history: timedelta = timedelta(0),
    ) -> None:
        if history < timedelta(0):
            raise ValueError("history must not be negative")
        if history and capture is not None:
            raise ValueError("history is the built-in meter's; a capture has none")
        self.host = host
        self.requested_port = port
        self.capture = capture
        self.cadence = cadence
        self.seed = seed
        self.start_time = start_time
        self.history = history
        self.frames_sent = 0
        self.frames_replayed = 0
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        # With a history, the first client is handed to the stream, which replays it first.
        self._first_client: asyncio.Future[asyncio.StreamWriter] | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (after `start()`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the simulator is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def clients(self) -> int:
        """Number of connected clients."""
        return len(self._clients)

    async def start(self) -> None:
        """Listen and start streaming; raises `ConnectionFailedError` if it cannot listen."""
        try:
            self._server = await asyncio.start_server(
                self._on_client, self.host, self.requested_port
            )
        except OSError as err:
            raise ConnectionFailedError(
                f"cannot listen on {self.host}:{self.requested_port}: {err.strerror or err}"
            ) from err
        if self.history:
            self._first_client = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._stream(), name="han-simulator")

    async def stop(self) -> None:
        """Stop streaming, disconnect every client and close the server (nothing lingers)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        self._clients.clear()
        first = self._first_client
        if first is not None and first.done() and not first.cancelled():
            first.result().close()  # in case it was stopped before its replay was sent
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        if self._first_client is not None and not self._first_client.done():
            self._first_client.set_result(writer)
        else:
            self._clients.add(writer)
        try:
            while await reader.read(1024):  # ignore input; notice the disconnect
                pass
        except OSError:
            pass
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._handlers.discard(handler)

    def _scale(self) -> float:
        return FAST_TIME_SCALE if self.cadence is Cadence.FAST else 1.0

    def _capture_units(self, capture: bytes) -> Iterator[tuple[float, bytes]]:
        """(real seconds to wait before sending, bytes) forever."""
        pause = TICK.total_seconds() / self._scale()
        units = split_capture(capture)
        while True:
            for unit in units:
                yield pause, unit

    def _meter_units(self, meter: AidonNoMeter) -> Iterator[tuple[float, bytes]]:
        pause = TICK.total_seconds() / self._scale()
        first = True
        for _, frame in meter.frames():
            yield (0.0 if first else pause), frame
            first = False

    async def _replay(self, meter: AidonNoMeter, writer: asyncio.StreamWriter) -> None:
        """Send the first client the meter's past at once, then let it join the live stream."""
        frames = meter.replay(self.history)
        self.frames_replayed = len(frames)
        if writer.is_closing():
            return
        writer.write(b"".join(frame for _, frame in frames))
        try:
            await writer.drain()  # a long past must not count as a client that does not read
        except ConnectionError:
            return
        self._clients.add(writer)

    async def _stream(self) -> None:
        if self.capture is not None:
            units = self._capture_units(self.capture)
        elif self._first_client is not None:
            # The live start is the first connection (unless `start_time` fixes it).
            writer = await self._first_client
            meter = AidonNoMeter(self.start_time or datetime.now(UTC), seed=self.seed)
            await self._replay(meter, writer)
            units = self._meter_units(meter)
        else:
            units = self._meter_units(
                AidonNoMeter(self.start_time or datetime.now(UTC), seed=self.seed)
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        for pause, data in units:
            deadline += pause
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            for writer in list(self._clients):
                if writer.is_closing():
                    self._clients.discard(writer)
                    continue
                writer.write(data)
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    writer.close()  # a client that does not read must not grow our memory
                    self._clients.discard(writer)
            self.frames_sent += 1
