"""Builders of wire frames for the framer tests (what a meter sends)."""

from __future__ import annotations

from custom_components.amshan_corus.protocol.han.crc import crc16_x25


def hdlc(
    information: bytes,
    *,
    segmented: bool = False,
    destination: bytes = b"\x41",
    source: bytes = b"\x08\x83",
    control: int = 0x13,
    flags: bool = True,
) -> bytes:
    """A complete HDLC type-3 frame, with 7E flags unless `flags` is False."""
    length = 2 + len(destination) + len(source) + 1 + 2 + len(information)
    length += 2 if information else 0
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    header = fmt.to_bytes(2, "big") + destination + source + bytes([control])
    body = header + crc16_x25(header).to_bytes(2, "little")
    if information:
        body += information
        body += crc16_x25(body).to_bytes(2, "little")
    return b"\x7e" + body + b"\x7e" if flags else body


def mbus(data: bytes, *, ci: int, control: int = 0x53, address: int = 0xFF) -> bytes:
    """An M-Bus long frame carrying `data` after CI and the 01 67 transport addresses."""
    body = bytes([control, address, ci, 0x01, 0x67]) + data
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])
