"""A meter behind an RFC 2217 access server (ser2net in telnet mode, ESP bridges), on 127.0.0.1.

RFC 2217 carries the client's serial settings to the server's UART, so unlike a pty this lets
a test get a baud rate or parity wrong. The meter sends its frames at `baudrate` and `parity`;
a client set otherwise gets what a UART would give it: read at the wrong parity, every byte
whose even-parity bit is 0 fails its stop bit and arrives as NUL (Linux's raw mode).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass

IAC, SB, SE, WILL, WONT, DO, DONT = 255, 250, 240, 251, 252, 253, 254
BINARY, COM_PORT = 0, 44
SET_BAUDRATE, SET_PARITY = 1, 3
SERVER_OFFSET = 100  # a server's answer to subcommand n is n + 100
PARITY_CODES = {1: "N", 2: "O", 3: "E"}


def garbled(data: bytes) -> bytes:
    """8E1 bytes read at another parity: those with an even number of 1 bits arrive as NUL."""
    return bytes(byte if byte.bit_count() % 2 else 0 for byte in data)


def _escaped(data: bytes) -> bytes:
    return data.replace(bytes([IAC]), bytes([IAC, IAC]))


@dataclass
class _Line:
    """What the client has set the server's UART to (None: not yet)."""

    baudrate: int | None = None
    parity: str | None = None


class Rfc2217Meter:
    """Serves `frames` over and over to each client, as its line settings let it read them."""

    def __init__(
        self, frames: bytes, *, baudrate: int = 2400, parity: str = "E", interval: float = 0.02
    ) -> None:
        self.frames = frames
        self.baudrate = baudrate
        self.parity = parity
        self.interval = interval
        self.settings_seen: list[tuple[int, str]] = []  # each connection's line settings
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Rfc2217Meter:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"rfc2217://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        line = _Line()
        sender = asyncio.create_task(self._send(writer, line))
        try:
            await self._negotiate(reader, writer, line)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            writer.close()
            self._tasks.discard(task)

    async def _send(self, writer: asyncio.StreamWriter, line: _Line) -> None:
        recorded = False
        while True:
            await asyncio.sleep(self.interval)
            baudrate, parity = line.baudrate, line.parity
            if baudrate is None or parity is None:
                continue  # not configured yet
            if not recorded:
                self.settings_seen.append((baudrate, parity))
                recorded = True
            matches = (baudrate, parity) == (self.baudrate, self.parity)
            writer.write(_escaped(self.frames if matches else garbled(self.frames)))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _negotiate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        line: _Line,
    ) -> None:
        """Answer the telnet options and COM-PORT subcommands; client data is dropped."""
        while True:
            if (await reader.readexactly(1))[0] != IAC:
                continue
            verb = (await reader.readexactly(1))[0]
            if verb in (WILL, WONT, DO, DONT):
                option = (await reader.readexactly(1))[0]
                writer.write(bytes([IAC, *_answer(verb, option)]))
            elif verb == SB:
                body = await _subnegotiation(reader)
                if len(body) >= 2 and body[0] == COM_PORT:
                    command, value = body[1], body[2:]
                    if command == SET_BAUDRATE and int.from_bytes(value[:4]):
                        line.baudrate = int.from_bytes(value[:4])
                    elif command == SET_PARITY and value and value[0] in PARITY_CODES:
                        line.parity = PARITY_CODES[value[0]]
                    answer = bytes([COM_PORT, command + SERVER_OFFSET]) + _escaped(value)
                    writer.write(bytes([IAC, SB]) + answer + bytes([IAC, SE]))
            await writer.drain()


def _answer(verb: int, option: int) -> Iterable[int]:
    accepted = option in (BINARY, COM_PORT)
    if verb == WILL:
        return (DO if accepted else DONT, option)
    if verb == DO:
        return (WILL if accepted else WONT, option)
    return (DONT if verb == WONT else WONT, option)


async def _subnegotiation(reader: asyncio.StreamReader) -> bytes:
    """The bytes between IAC SB and IAC SE, IAC IAC read as one 255."""
    body = bytearray()
    while True:
        byte = (await reader.readexactly(1))[0]
        if byte != IAC:
            body.append(byte)
            continue
        following = (await reader.readexactly(1))[0]
        if following == SE:
            return bytes(body)
        body.append(following)
