"""CRC-16/UMTS of the Corus link layer."""

from __future__ import annotations

from custom_components.amshan_corus.protocol.corus.crc import crc16, crc_bytes, crc_ok


def test_check_value_and_byte_order() -> None:
    assert crc16(b"123456789") == 0xFEE8
    assert crc_bytes(b"123456789") == b"\xe8\xfe"  # low byte first on the wire


def test_empty_and_single_bytes() -> None:
    assert crc16(b"") == 0
    assert crc16(b"\x00") == 0
    assert crc16(b"\x01") == 0x8005


def test_crc_ok_compares_by_recomputing() -> None:
    assert crc_ok(b"PASS", b"\xe0\xae")
    assert not crc_ok(b"PASS", b"\xae\xe0")
    assert not crc_ok(b"PASs", b"\xe0\xae")
