"""Test sources of HAN bytes: real-format frames and small TCP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
import socket

from custom_components.amshan_corus.protocol.han.hdlc import encode_hdlc_frame
from custom_components.amshan_corus.protocol.han.security import SecurityKeys
from custom_components.amshan_corus.protocol.han.simulator import AidonNoMeter

from .vectors import all_vectors

START = datetime(2026, 1, 5, 12, 0, 1, tzinfo=UTC)  # off the hour and off the 10 s mark
ENCRYPTED = all_vectors()["ENC-01"]  # Kamstrup Omnipower, authenticated + encrypted
ENCRYPTED_KEYS = SecurityKeys(
    bytes.fromhex(ENCRYPTED.meta["ek"]), bytes.fromhex(ENCRYPTED.meta["ak"])
)


def aidon_frame(body: bytes) -> bytes:
    """A valid Aidon NO HDLC frame around a notification body (as the simulator builds it)."""
    information = b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00" + body
    return encode_hdlc_frame(information)


def list1_frame() -> bytes:
    """Norwegian list 1: active power only, no meter id."""
    return aidon_frame(AidonNoMeter(START, seed=1).list1_body())


def list2_frame() -> bytes:
    """Norwegian list 2: with the meter id (simulator.AIDON_METER_ID), type and values."""
    return aidon_frame(AidonNoMeter(START, seed=1).list2_body())


def unknown_frame() -> bytes:
    """An intact HDLC frame whose content is no meter message (a bare APDU tag C4)."""
    return encode_hdlc_frame(b"\xe6\xe7\x00\xc4\x01\x00")


def corrupted(frame: bytes) -> bytes:
    """The frame with one payload bit flipped: framing intact, FCS wrong (like a bad line)."""
    damaged = bytearray(frame)
    damaged[len(frame) // 2] ^= 0x10
    return bytes(damaged)


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ByteServers:
    """TCP servers on 127.0.0.1 that send fixed chunks to each client, then stay open."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, chunks: Iterable[bytes], *, close: bool = False) -> int:
        """Serve `chunks` to every client (then close it if `close`); returns the port."""
        payload = list(chunks)

        async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.append(writer)
            for chunk in payload:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0)
            if close:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every client and server."""
        for writer in self._writers:
            writer.close()
        for server in self._servers:
            server.close()
            await server.wait_closed()
