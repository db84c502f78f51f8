"""CRC-16 of the Corus/I-FLAG link layer.

Public API: `crc16(data) -> int`, `crc_bytes(data) -> bytes` (the 2 bytes as sent on the wire)
and `crc_ok(data, received) -> bool`.

The algorithm is CRC-16/UMTS (a.k.a. BUYPASS): polynomial 0x8005, initial value 0, no
reflection, no final XOR; check value 0xFEE8 for b"123456789". It covers a frame from SOH
through ETX and is sent **low byte first**, so running it over frame + CRC does not give a zero
residue: validate by recomputing and comparing.
"""

from __future__ import annotations

_POLY = 0x8005


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16(data: bytes) -> int:
    """The CRC-16/UMTS of `data`."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def crc_bytes(data: bytes) -> bytes:
    """The CRC of `data` as it follows the data on the wire (low byte first)."""
    return crc16(data).to_bytes(2, "little")


def crc_ok(data: bytes, received: bytes) -> bool:
    """Whether `received` (2 bytes, as read from the wire) is the CRC of `data`."""
    return crc_bytes(data) == received
