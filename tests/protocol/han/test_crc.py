"""CRC-16/X.25 (HDLC HCS/FCS)."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from custom_components.amshan_corus.protocol.han.crc import crc16_x25, crc16_x25_ok


def _bitwise_x25(data: bytes) -> int:
    """The textbook bit-at-a-time definition, to check the fast one against."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def test_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E


def test_kamstrup_header_example() -> None:
    # han-anchor-amshan.md 2.1: header A0 E2 2B 21 13 has HCS 0x9A23, sent as 23 9A.
    assert crc16_x25(bytes.fromhex("a0e22b2113")) == 0x9A23


def test_empty_and_ok() -> None:
    assert crc16_x25(b"") == 0x0000
    assert crc16_x25_ok(bytes.fromhex("a0e22b2113239a"))
    assert not crc16_x25_ok(bytes.fromhex("a0e22b21139a23"))
    assert not crc16_x25_ok(b"\x00")


def test_accepts_bytearray_and_memoryview() -> None:
    data = bytearray(b"123456789")
    assert crc16_x25(data) == crc16_x25(memoryview(data)) == 0x906E


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_matches_bitwise_definition(data: bytes) -> None:
    crc = crc16_x25(data)
    assert crc == _bitwise_x25(data)
    assert crc16_x25_ok(data + crc.to_bytes(2, "little"))
