"""Checksums of the HAN protocols.

CRC-16/X.25 (the HDLC HCS/FCS, RFC 1662 FCS-16): poly 0x1021 reflected, init 0xFFFF,
xorout 0xFFFF, sent least significant byte first. check("123456789") == 0x906E.
"""

from __future__ import annotations

from array import array
import binascii
from functools import cache
import sys

# binascii.crc_hqx is the same polynomial computed MSB-first (CRC-16/IBM-3740) in C.
# A reflected CRC equals the MSB-first CRC over bit-reversed bytes, bit-reversed at the end,
# so two C-speed `translate` calls replace a per-byte Python loop.
_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _reverse16(value: int) -> int:
    return (_REVERSED_BITS[value & 0xFF] << 8) | _REVERSED_BITS[value >> 8]


def crc16_x25(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X.25 of `data` as an integer (transmit it with `.to_bytes(2, "little")`)."""
    return _reverse16(binascii.crc_hqx(bytes(data).translate(_REVERSED_BITS), 0xFFFF)) ^ 0xFFFF


def crc16_x25_ok(data: bytes | bytearray | memoryview) -> bool:
    """Whether `data` ends with its own CRC-16/X.25 (LSB first)."""
    if len(data) < 2:
        return False
    return crc16_x25(data[:-2]) == int.from_bytes(data[-2:], "little")


def _arc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_ARC_TABLE = _arc_table()


@cache
def _arc_table16() -> array[int]:
    """CRC-16/ARC of the register after two more bytes, indexed by register ^ next 16 bits.

    Halves the Python-level loop of `crc16_arc` (a P1 readout is about 1 KiB).
    """
    table8 = _ARC_TABLE
    table = array("H", bytes(2 * 65536))
    for value in range(65536):
        first = (value >> 8) ^ table8[value & 0xFF]
        table[value] = (first >> 8) ^ table8[first & 0xFF]
    return table


def crc16_arc(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/ARC (P1 readouts, over '/' .. '!'): poly 0x8005 reflected, init 0, xorout 0.

    check("123456789") == 0xBB3D.
    """
    data = bytes(data)
    even = len(data) & ~1
    words = array("H", data[:even])
    if sys.byteorder == "big":
        words.byteswap()  # the first byte of each pair goes into the register's low byte
    table = _arc_table16()
    crc = 0
    for word in words:
        crc = table[crc ^ word]
    if even != len(data):
        crc = (crc >> 8) ^ _ARC_TABLE[(crc ^ data[-1]) & 0xFF]
    return crc
