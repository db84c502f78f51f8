"""Transports: a real TCP server on 127.0.0.1 and a real pseudo-terminal pair for serial."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import contextlib
import os
from pathlib import Path
import termios

import pytest

from custom_components.amshan_corus.protocol.han.errors import (
    ConnectionFailedError,
    ConnectionLostError,
)
from custom_components.amshan_corus.protocol.han.models import MeterMessage
from custom_components.amshan_corus.protocol.han.stream import MeterStreamDecoder
from custom_components.amshan_corus.protocol.han.transport import (
    open_serial,
    open_tcp,
    read_messages,
)

from .vectors import vector

pytestmark = pytest.mark.usefixtures("socket_enabled")

FRAME_7D = b"\x7e" + vector("hdlc_aidon_list1_with_7d") + b"\x7e"  # 1661 W
KAIFA_LIST3 = vector("TIB-02")  # 583 W

type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def _collect(source_messages: AsyncIterator[MeterMessage], count: int) -> list[object]:
    powers: list[object] = []
    async for message in source_messages:
        powers.append(message.value("active_power_import"))
        if len(powers) == count:
            break
    return powers


async def test_tcp_stream_then_peer_closes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = FRAME_7D + KAIFA_LIST3 + FRAME_7D
        for i in range(0, len(data), 50):  # arrives in pieces, as from a bridge
            writer.write(data[i : i + 50])
            await writer.drain()
        writer.close()

    async with tcp_server(handler) as port:
        source = await open_tcp("127.0.0.1", port)
        async with source:
            messages = read_messages(source, MeterStreamDecoder())
            assert await _collect(messages, 3) == [1661, 583, 1661]
            with pytest.raises(ConnectionLostError, match="closed by the other end"):
                await source.read()


async def test_tcp_connection_refused() -> None:
    async with tcp_server(lambda r, w: asyncio.sleep(0)) as port:
        pass  # the port is free again once the server is closed
    with pytest.raises(ConnectionFailedError, match=f"tcp://127.0.0.1:{port}"):
        await open_tcp("127.0.0.1", port)


async def test_tcp_idle_watchdog() -> None:
    release = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(FRAME_7D)
        await release.wait()  # then stays silent
        writer.close()

    async with tcp_server(handler) as port:
        source = await open_tcp("127.0.0.1", port, idle_timeout=0.3)
        async with source:
            assert await source.read() == FRAME_7D
            with pytest.raises(ConnectionLostError, match=r"nothing received for 0\.3 s"):
                await source.read()
        release.set()


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int, str]]:
    master, slave = os.openpty()
    yield master, slave, os.ttyname(slave)
    os.close(slave)
    os.close(master)


async def test_serial_pseudo_terminal(pty_pair: tuple[int, int, str]) -> None:
    master, slave, name = pty_pair
    source = await open_serial(name, baudrate=2400, parity="E")
    async with source:
        # The line settings reached the terminal (Linux ptys drop PARENB, so only the speed).
        assert termios.tcgetattr(slave)[5] == termios.B2400
        data = FRAME_7D + KAIFA_LIST3
        os.write(master, data[:30])
        os.write(master, data[30:])
        messages = read_messages(source, MeterStreamDecoder())
        assert await asyncio.wait_for(_collect(messages, 2), 10) == [1661, 583]


async def test_serial_missing_device(tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailedError, match="ttyNOPE"):
        await open_serial(str(tmp_path / "ttyNOPE"))


async def test_serial_bad_parity(pty_pair: tuple[int, int, str]) -> None:
    with pytest.raises(ConnectionFailedError, match="parity must be N, E or O"):
        await open_serial(pty_pair[2], parity="X")


async def test_serial_socket_url() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(KAIFA_LIST3)
        await writer.drain()
        await reader.read()  # until the client goes

    async with tcp_server(handler) as port:
        source = await open_serial(f"socket://127.0.0.1:{port}", baudrate=115200)
        async with source:
            messages = read_messages(source, MeterStreamDecoder())
            assert await asyncio.wait_for(_collect(messages, 1), 10) == [583]
