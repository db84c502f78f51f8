"""Async byte sources for HAN/P1 streams: TCP (ser2net, ESP bridges) and serial (serialx).

Thin I/O on top of the sans-I/O `MeterStreamDecoder`. Every failure is a
`ConnectionFailedError` (could not open, or the read failed) or `ConnectionLostError`
(closed by the peer, or nothing received for `idle_timeout` seconds: the watchdog amshan
lacks).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from typing import Self

import serialx

from .errors import ConnectionFailedError, ConnectionLostError
from .models import MeterMessage
from .stream import MeterStreamDecoder

READ_SIZE = 4096
DEFAULT_CONNECT_TIMEOUT = 10.0
PARITIES = {"N": serialx.Parity.NONE, "E": serialx.Parity.EVEN, "O": serialx.Parity.ODD}


class ByteSource:
    """An open byte stream; iterate it for chunks, `close()` when done.

    `idle_timeout` (seconds, None = wait forever) raises `ConnectionLostError` when nothing
    arrives for that long: a meter sends at least every 10 s, so silence means a dead link.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        description: str,
        idle_timeout: float | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.description = description
        self.idle_timeout = idle_timeout

    async def read(self) -> bytes:
        """The next chunk of bytes; raises `ConnectionLostError` at the end of the stream."""
        try:
            async with asyncio.timeout(self.idle_timeout):
                data = await self._reader.read(READ_SIZE)
        except TimeoutError as err:
            raise ConnectionLostError(
                f"{self.description}: nothing received for {self.idle_timeout:g} s"
            ) from err
        except (OSError, serialx.SerialException) as err:
            raise ConnectionFailedError(f"{self.description}: read failed: {err}") from err
        if not data:
            raise ConnectionLostError(f"{self.description}: connection closed by the other end")
        return data

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.read()

    async def close(self) -> None:
        """Close the connection; never raises."""
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_tcp(
    host: str,
    port: int,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    idle_timeout: float | None = None,
) -> ByteSource:
    """Connect to a TCP byte stream (ser2net, a HAN-to-WiFi bridge...)."""
    description = f"tcp://{host}:{port}"
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError as err:
        raise ConnectionFailedError(
            f"{description}: no answer within {connect_timeout:g} s"
        ) from err
    except OSError as err:
        raise ConnectionFailedError(f"{description}: {err.strerror or err}") from err
    return ByteSource(reader, writer, description, idle_timeout)


async def open_serial(
    url: str,
    *,
    baudrate: int = 2400,
    parity: str = "N",
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    idle_timeout: float | None = None,
) -> ByteSource:
    """Open a serial port through serialx: a device path, `socket://`, `rfc2217://`...

    `parity` is "N", "E" or "O" (HAN ports are 8N1 or 8E1, P1 ports 8N1).
    """
    try:
        serial_parity = PARITIES[parity.upper()]
    except KeyError:
        raise ConnectionFailedError(f"{url}: parity must be N, E or O, not {parity!r}") from None
    try:
        async with asyncio.timeout(connect_timeout):
            reader, writer = await serialx.open_serial_connection(
                url, baudrate=baudrate, parity=serial_parity
            )
    except TimeoutError as err:
        raise ConnectionFailedError(f"{url}: not opened within {connect_timeout:g} s") from err
    except (OSError, serialx.SerialException, ValueError) as err:
        raise ConnectionFailedError(f"{url}: {err}") from err
    return ByteSource(reader, writer, url, idle_timeout)


async def read_messages(
    source: ByteSource, decoder: MeterStreamDecoder
) -> AsyncIterator[MeterMessage]:
    """Decoded messages from `source` until it fails (raising `ConnectionFailedError`)."""
    async for chunk in source:
        for message in decoder.feed(chunk):
            yield message
