"""Asyncio client for Itron/Actaris Corus gas volume converters (I-FLAG/Corus, SAM over TCP).

Public API:
- `CorusClient(host, port, *, password=None, timeout=20.0, connect_timeout=None,
  timezone=UTC, wakeup_length=200)`. `password=None` echoes the password the converter
  sends (what iflag does); a configured one (latin-1 str or bytes, 1-64 bytes) is sent
  instead. The converter's password has no length field: it ends where its CRC follows.
  `timeout` bounds every step (connect, wake-up, each reply); the defaults suit converters
  behind GSM or serial-to-TCP gateways. `timezone` is the converter's clock's zone: Dates are
  decoded as aware datetimes in it.
- `async with client.session() as session:` one sign-on ... break session; the client's lock
  keeps it to one session at a time (a converter serves one). Whatever fails inside, the
  break is sent if the link still works and the socket is closed.
- `CorusSession`: `ident`, `read_parameters(definitions) -> {name: value}`,
  `write_parameters([(definition, value)...])`, `parameter_map()` (reads 0x5E, picks the
  map), `pulse_weight()` (parameter 1), `set_clock(when=None)`,
  `read_database(database, since=None, until=None) -> [DatabaseRecord]`, `read_all()`,
  `read_identity()`.
- One-session shortcuts on the client: `read_all()`, `read_identity()`, `read_database(...)`,
  `set_clock(...)`. The client remembers the map a session found: later polls are a single
  batched read (one round trip after sign-on), whose 0x5E value confirms the map.
- `CorusReading(firmware_map, values: {name: CorusValue(value, unit)}, ident)`: what the Home
  Assistant coordinator publishes each poll. `CorusIdentity(firmware_map, firmware_version,
  kernel_version, ident)`: none of the 32 maps has a serial-number parameter, so the identity
  is what the converter does report; a config entry's unique id needs a user-given serial or
  the connection.

Every failure is a `CorusError` subclass (see `errors`); `ValueError`,
`decimal.InvalidOperation` and `OSError` never escape. A parameter reply with a bad CRC is
asked for again (reads have no side effect, at most 3 times). For database reads the
converter selects the records within [since, until] and sends them newest first;
frames are numbered and ACKed one by one; a frame with a bad CRC is NAKed and read again
without keeping its data (at most 3 times per frame); an empty database returns [] with the
stream in sync. Long reads (100+ records) are parsed in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
import functools
import struct
from typing import Any, Concatenate

from .databases import DatabaseRecord, get_layout, load_database_layouts, parse_records
from .datatypes import EncodableValue, Value
from .errors import (
    CorusAuthenticationError,
    CorusConnectionError,
    CorusCrcError,
    CorusEncodeError,
    CorusError,
    CorusProtocolError,
    CorusTimeoutError,
)
from .firmware import (
    PARAMETER_MAP_VERSION,
    PULSE_WEIGHT,
    ParameterDefinition,
    ParameterMap,
    get_parameter_map,
    load_parameter_maps,
    map_id_from_version,
)
from .frames import (
    ACK,
    BREAK,
    DATABASES,
    MAX_PAYLOAD,
    NAK,
    OPTION_SELECT,
    SIGN_ON,
    SOH,
    WAKEUP_BYTE,
    WAKEUP_REPLY,
    build_database_request,
    build_read_request,
    build_write_request,
    encode_parameter_id,
    find_password,
    parse_database_frame,
    password_message,
    plan_read_batches,
    reply_payload,
)

DEFAULT_TIMEOUT = 20.0
DEFAULT_WAKEUP_LENGTH = 200
MAX_FRAME_RETRIES = 3
MAX_IDENT_LENGTH = 100
MAX_PASSWORD_LENGTH = 64
CLOSE_TIMEOUT = 2.0
PARSE_IN_THREAD_FROM = 100  # records


@dataclass(frozen=True, slots=True)
class CorusValue:
    """A parameter value with its unit (None if unitless or unknown)."""

    value: Value
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class CorusReading:
    """All parameters of the converter's map, read in one session."""

    firmware_map: str
    values: dict[str, CorusValue]
    ident: str = ""

    def value(self, name: str) -> Value:
        """The value called `name`, or None."""
        found = self.values.get(name)
        return None if found is None else found.value


@dataclass(frozen=True, slots=True)
class CorusIdentity:
    """What a converter says about itself."""

    firmware_map: str
    firmware_version: str | None
    kernel_version: str | None
    ident: str


class _Link:
    """The TCP stream with a timeout on every step and errors mapped to `CorusError`s."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.broken = False  # the connection is gone
        self.out_of_step = False  # bytes of an abandoned answer may still be under way

    @asynccontextmanager
    async def step(self, what: str) -> AsyncIterator[None]:
        """Bound one step by the timeout and translate what can go wrong in it."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError as err:
            self.out_of_step = True
            raise CorusTimeoutError(f"no answer to {what} within {self.timeout:g} s") from err
        except asyncio.IncompleteReadError as err:
            self.broken = True
            raise CorusConnectionError(f"the converter closed the connection ({what})") from err
        except OSError as err:
            self.broken = True
            raise CorusConnectionError(f"connection lost ({what}): {err}") from err

    def check(self) -> None:
        """Refuse to go on where an earlier failure left the stream in an unknown state."""
        if self.broken:
            raise CorusConnectionError("the connection was lost; open a new session")
        if self.out_of_step:
            raise CorusProtocolError("the session is out of step after a failure; open a new one")

    async def send(self, data: bytes, what: str) -> None:
        self.check()
        async with self.step(what):
            self.writer.write(data)
            await self.writer.drain()

    async def read(self, count: int, what: str) -> bytes:
        self.check()
        async with self.step(what):
            return await self.reader.readexactly(count)

    async def close(self, send_break: bool) -> None:
        """Send the break (best effort) and close the socket; never raises."""
        with suppress(Exception):
            if send_break and not self.broken and not self.writer.is_closing():
                async with asyncio.timeout(min(self.timeout, CLOSE_TIMEOUT)):
                    self.writer.write(BREAK)
                    await self.writer.drain()
        self.writer.close()
        with suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.writer.wait_closed()


def _guarded[S: CorusSession, **P, R](
    method: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Wrap stray low-level errors of a session step into the library's own."""

    async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(self, *args, **kwargs)
        except CorusError:
            raise
        except (ValueError, InvalidOperation, struct.error) as err:
            raise CorusProtocolError(f"{method.__name__}: {err}") from err
        except OSError as err:
            raise CorusConnectionError(f"{method.__name__}: {err}") from err

    functools.update_wrapper(wrapper, method)
    return wrapper


class CorusSession:
    """An open, signed-on session; get one from `CorusClient.session()`."""

    def __init__(
        self,
        link: _Link,
        password: bytes | None,
        tz: tzinfo,
        known_map: ParameterMap | None = None,
    ) -> None:
        self._link = link
        self._password = password
        self.timezone = tz
        self.ident = ""
        self._known_map = known_map  # found in an earlier session, to be confirmed
        self._map: ParameterMap | None = None
        self._pulse_weight: Decimal | None = None

    async def _sign_on(self, wakeup_length: int) -> None:
        link = self._link
        await link.send(WAKEUP_BYTE * wakeup_length, "wake-up")
        reply = await link.read(len(WAKEUP_REPLY), "wake-up")
        if reply != WAKEUP_REPLY:
            raise CorusProtocolError(f"wake-up answered {reply.hex(' ')}, not 00 00 00")
        await link.send(SIGN_ON, "sign-on")
        self.ident = await self._read_ident()
        await link.send(OPTION_SELECT, "option select")
        prompt = await self._read_password_prompt()
        await link.send(password_message(self._password or prompt), "password")
        answer = await link.read(1, "password")
        if answer == NAK:
            raise CorusAuthenticationError("the converter refused the password")
        if answer != ACK:
            raise CorusProtocolError(f"password answered {answer.hex()}, not ACK")

    async def _read_ident(self) -> str:
        reader = self._link.reader
        async with self._link.step("sign-on identification"):
            skipped = 0
            while await reader.readexactly(1) != b"/":
                skipped += 1
                if skipped > MAX_IDENT_LENGTH:
                    raise CorusProtocolError("no identification ('/...') after sign-on")
            ident = bytearray(b"/")
            while not ident.endswith(b"\n"):
                if len(ident) > MAX_IDENT_LENGTH:
                    raise CorusProtocolError("identification line longer than 100 bytes")
                ident += await reader.readexactly(1)
        return ident.decode("latin-1").strip()

    async def _read_password_prompt(self) -> bytes:
        buffer = bytearray()
        async with self._link.step("password prompt"):
            while (password := find_password(bytes(buffer))) is None:
                if len(buffer) >= MAX_PASSWORD_LENGTH + 2:
                    raise CorusCrcError(f"no password with a valid CRC in {len(buffer)} bytes")
                buffer += await self._link.reader.readexactly(1)
        return password

    async def _read_reply(self, what: str) -> bytes:
        """One reply frame's payload; a NAK instead of a frame is a protocol error."""
        head = await self._link.read(1, what)
        if head == NAK:
            raise CorusProtocolError(f"the converter refused the request ({what}: NAK)")
        if head[0] != SOH:
            self._link.out_of_step = True
            raise CorusProtocolError(f"{what}: expected SOH, got {head.hex()}")
        length = await self._link.read(1, what)
        rest = await self._link.read(length[0] + 3, what)
        try:
            return reply_payload(head + length + rest)
        except CorusCrcError:
            raise  # the whole frame was read: the caller may ask again
        except CorusProtocolError:
            self._link.out_of_step = True
            raise

    @_guarded
    async def read_parameters(self, definitions: Sequence[ParameterDefinition]) -> dict[str, Value]:
        """The values of `definitions` by name (None: no value), in as few requests as fit."""
        values: dict[str, Value] = {}
        sizes = [(d.id, d.type.length) for d in definitions]
        for batch in plan_read_batches(sizes):
            chosen = [definitions[i] for i in batch]
            payload = await self._request_values(chosen)
            offset = 0
            for definition in chosen:
                end = offset + definition.type.length
                values[definition.name] = definition.type.decode(payload[offset:end], self.timezone)
                offset = end
        return values

    async def _request_values(self, chosen: Sequence[ParameterDefinition]) -> bytes:
        request = build_read_request(d.id for d in chosen)
        expected = sum(d.type.length for d in chosen)
        for attempt in range(MAX_FRAME_RETRIES + 1):
            await self._link.send(request, "read parameters")
            try:
                payload = await self._read_reply("read parameters")
            except CorusCrcError:
                if attempt == MAX_FRAME_RETRIES:
                    raise
                continue  # a read has no side effect: ask again
            if len(payload) != expected:
                raise CorusProtocolError(
                    f"read of {len(chosen)} parameters answered {len(payload)} bytes,"
                    f" expected {expected}"
                )
            return payload
        raise AssertionError("unreachable")  # pragma: no cover

    @_guarded
    async def write_parameters(
        self, items: Sequence[tuple[ParameterDefinition, EncodableValue]]
    ) -> None:
        """Write each value (encoded by its definition's type); the converter ACKs each request."""
        encoded = [
            (d.id, d.type.encode(value, self.timezone), len(encode_parameter_id(d.id)))
            for d, value in items
        ]
        batch: list[tuple[int, bytes]] = []
        size = 0
        for parameter_id, data, width in encoded:
            if width + len(data) > MAX_PAYLOAD:
                raise CorusEncodeError(f"parameter {parameter_id} does not fit in one frame")
            if batch and size + width + len(data) > MAX_PAYLOAD:
                await self._write(batch)
                batch, size = [], 0
            batch.append((parameter_id, data))
            size += width + len(data)
        if batch:
            await self._write(batch)

    async def _write(self, batch: list[tuple[int, bytes]]) -> None:
        await self._link.send(build_write_request(batch), "write parameters")
        answer = await self._link.read(1, "write parameters")
        if answer == NAK:
            ids = ", ".join(str(i) for i, _ in batch)
            raise CorusProtocolError(f"the converter refused the write of parameters {ids}")
        if answer != ACK:
            raise CorusProtocolError(f"write answered {answer.hex()}, not ACK")

    @property
    def detected_map(self) -> ParameterMap | None:
        """The parameter map this session found or confirmed, if it looked."""
        return self._map

    @_guarded
    async def parameter_map(self) -> ParameterMap:
        """The converter's parameter map, from parameter 0x5E (`FL_<map id>`)."""
        if self._map is None:
            version = (await self.read_parameters([PARAMETER_MAP_VERSION]))[
                PARAMETER_MAP_VERSION.name
            ]
            if not isinstance(version, str):
                raise CorusProtocolError("the converter reports no parameter map (0x5E)")
            self._map = get_parameter_map(map_id_from_version(version))
        return self._map

    @_guarded
    async def pulse_weight(self) -> Decimal:
        """The input pulse weight (parameter 1), read once per session."""
        if self._pulse_weight is None:
            value = (await self.read_parameters([PULSE_WEIGHT]))[PULSE_WEIGHT.name]
            if not isinstance(value, Decimal) or value <= 0:
                raise CorusProtocolError(f"the converter reports pulse weight {value}")
            self._pulse_weight = value
        return self._pulse_weight

    @_guarded
    async def set_clock(self, when: datetime | None = None) -> datetime:
        """Set the converter's clock (now by default); returns the time written."""
        definition = (await self.parameter_map()).get("datetime")
        if definition is None:
            raise CorusProtocolError("this parameter map has no clock parameter")
        moment = (when or datetime.now(self.timezone)).replace(microsecond=0)
        await self.write_parameters([(definition, moment)])
        return moment if moment.tzinfo else moment.replace(tzinfo=self.timezone)

    @_guarded
    async def read_database(
        self, database: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[DatabaseRecord]:
        """The records of `database` between `since` (oldest) and `until` (newest).

        None means no limit. Records come newest first, as the converter sends them.
        """
        if database not in DATABASES:
            raise CorusEncodeError(f"unknown database {database!r} ({', '.join(DATABASES)})")
        if (
            since is not None
            and until is not None
            and _as_utc(since, self.timezone) > _as_utc(until, self.timezone)
        ):
            raise CorusEncodeError(f"the range ends ({until}) before it starts ({since})")
        request = build_database_request(database, until, since, self.timezone)
        await self._link.send(request, f"{database} database request")
        record_size, data = await self._read_database_frames(database)
        if not record_size:
            if data:
                raise CorusProtocolError(f"{database} data without a record size")
            return []
        layout = get_layout(database, record_size)
        weight = await self.pulse_weight() if layout and layout.pulse_weighted else None
        if len(data) // record_size < PARSE_IN_THREAD_FROM:
            return parse_records(database, record_size, data, weight, self.timezone)
        # ~0.3 ms a record: a long archive read is parsed off the event loop.
        return await asyncio.to_thread(
            parse_records, database, record_size, data, weight, self.timezone
        )

    async def _read_database_frames(self, database: str) -> tuple[int, bytes]:
        data = bytearray()
        record_size: int | None = None
        retries = 0
        expected = 0
        what = f"{database} database frame {expected}"
        while True:
            try:
                payload = await self._read_reply(what)
            except CorusCrcError:
                if retries >= MAX_FRAME_RETRIES:
                    self._link.out_of_step = True  # the converter waits for an answer
                    raise
                retries += 1
                await self._link.send(NAK, what)  # ask again; the bad data is not kept
                continue
            frame = parse_database_frame(payload, first=record_size is None)
            if frame.number != expected:
                self._link.out_of_step = True
                raise CorusProtocolError(
                    f"{database} database frame {frame.number} arrived, expected {expected}"
                )
            if frame.record_size is not None:
                record_size = frame.record_size
            data += frame.data
            if frame.last:
                return record_size or 0, bytes(data)
            retries = 0
            expected += 1
            what = f"{database} database frame {expected}"
            await self._link.send(ACK, what)

    @_guarded
    async def read_all(self) -> CorusReading:
        """Detect the map, then read all its parameters in one batched request.

        With the map an earlier session of the client found, the one batched read is the
        whole poll (one round trip): its 0x5E value confirms the map. If the firmware
        changed (refused ids, another map id), the map is detected afresh.
        """
        if self._map is None and (known := self._known_map) is not None:
            self._known_map = None
            try:
                raw = await self.read_parameters(known.definitions())
                version = raw.get(PARAMETER_MAP_VERSION.name)
                if isinstance(version, str) and (
                    map_id_from_version(version).lower() == known.map_id.lower()
                ):
                    self._map = known
                    return self._reading(known, raw)
            except (CorusConnectionError, CorusAuthenticationError):
                raise
            except CorusError:
                pass  # not that map any more: detect it below
        parameter_map = await self.parameter_map()
        raw = await self.read_parameters(parameter_map.definitions())
        return self._reading(parameter_map, raw)

    def _reading(self, parameter_map: ParameterMap, raw: dict[str, Value]) -> CorusReading:
        values = {name: CorusValue(raw[name], parameter_map[name].unit) for name in sorted(raw)}
        return CorusReading(parameter_map.map_id, values, self.ident)

    @_guarded
    async def read_identity(self) -> CorusIdentity:
        """The map id, firmware/kernel version and sign-on identification."""
        parameter_map = await self.parameter_map()
        wanted = [p for n in ("firmware_version", "kernel_version") if (p := parameter_map.get(n))]
        values = await self.read_parameters(wanted)
        firmware, kernel = values.get("firmware_version"), values.get("kernel_version")
        return CorusIdentity(
            parameter_map.map_id,
            firmware if isinstance(firmware, str) else None,
            kernel if isinstance(kernel, str) else None,
            self.ident,
        )


def _as_utc(moment: datetime, tz: tzinfo) -> datetime:
    """`moment` in UTC, naive ones taken as the converter's local time."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


_data_loaded = False


async def _load_data() -> None:
    """Read the package's maps and layouts once, off the event loop."""
    global _data_loaded  # noqa: PLW0603 - a one-way flag for a process-wide cache
    if not _data_loaded:
        await asyncio.to_thread(load_parameter_maps)
        await asyncio.to_thread(load_database_layouts)
        _data_loaded = True


class CorusClient:
    """A Corus converter at `host`:`port`; see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        password: str | bytes | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        timezone: tzinfo = UTC,
        wakeup_length: int = DEFAULT_WAKEUP_LENGTH,
    ) -> None:
        if timeout <= 0 or (connect_timeout is not None and connect_timeout <= 0):
            raise CorusEncodeError("timeouts must be positive")
        self.host = host
        self.port = port
        if isinstance(password, str):
            try:
                password = password.encode("latin-1")
            except UnicodeEncodeError as err:
                raise CorusEncodeError("the password must be latin-1 text") from err
        if password is not None and len(password) > MAX_PASSWORD_LENGTH:
            raise CorusEncodeError(f"the password is longer than {MAX_PASSWORD_LENGTH} bytes")
        self.password = password or None
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self.timezone = timezone
        self.wakeup_length = wakeup_length
        self._known_map: ParameterMap | None = None  # the map the last session found
        self._lock = asyncio.Lock()

    async def _connect(self) -> _Link:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError as err:
            raise CorusTimeoutError(
                f"cannot connect to {self.host}:{self.port} within {self.connect_timeout:g} s"
            ) from err
        except (OSError, UnicodeError) as err:
            raise CorusConnectionError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        return _Link(reader, writer, self.timeout)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[CorusSession]:
        """Connect, wake up and sign on; on leaving, send the break and close."""
        await _load_data()
        async with self._lock:
            link = await self._connect()
            session = CorusSession(link, self.password, self.timezone, self._known_map)
            try:
                await _guarded(CorusSession._sign_on)(session, self.wakeup_length)
                yield session
            finally:
                self._known_map = session.detected_map or self._known_map
                await link.close(send_break=True)

    async def read_all(self) -> CorusReading:
        """One session: sign on, detect the map, read all its parameters, break."""
        async with self.session() as session:
            return await session.read_all()

    async def read_identity(self) -> CorusIdentity:
        """One session reading the converter's identity."""
        async with self.session() as session:
            return await session.read_identity()

    async def read_database(
        self, database: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[DatabaseRecord]:
        """One session reading `database` between `since` and `until`."""
        async with self.session() as session:
            return await session.read_database(database, since, until)

    async def set_clock(self, when: datetime | None = None) -> datetime:
        """One session setting the converter's clock (now by default)."""
        async with self.session() as session:
            return await session.set_clock(when)
