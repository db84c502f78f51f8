"""decode_dlms: the accepted wrappings, header fields, encryption outcomes and errors."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.apdu import (
    GbtAssembler,
    GbtBlock,
    parse_data_notification,
)
from custom_components.amshan_corus.protocol.han.dlms import (
    SecurityKeys,
    decode_dlms,
    decrypt_payload,
)
from custom_components.amshan_corus.protocol.han.errors import (
    DecodeError,
    HanError,
    KeyRequiredError,
    UnsupportedDataTypeError,
    WrongKeyError,
)
from custom_components.amshan_corus.protocol.han.models import Source
from custom_components.amshan_corus.protocol.han.security import encrypt_apdu

OSLO = ZoneInfo("Europe/Oslo")
TITLE = b"KFM\x10\x10\x00\x00\x23"
KEYS = SecurityKeys(bytes(range(16)), bytes(range(16, 32)))
# Aidon list 1 body: array of one {1-0:1.7.0, 280, {0, W}}
BODY = bytes.fromhex("0101020309060100010700ff060000011802020f00161b")
CLOCK = bytes.fromhex("07e4011502100000ff800000")  # 2020-01-21 16:00:00, deviation unspecified


def _notification(date_time: bytes = b"\x00", liiap: str = "40000000") -> bytes:
    return b"\x0f" + bytes.fromhex(liiap) + date_time + BODY


def test_wrappings_give_the_same_reading() -> None:
    for payload in (
        b"\xe6\xe7\x00" + _notification(),
        b"\xe6\xe6\x00" + _notification(),
        _notification(),
        BODY,
    ):
        message = decode_dlms(payload)
        assert message.value("active_power_import") == 280
        assert message.source is Source.DLMS
        assert message.raw == payload


def test_raw_and_source_are_passed_through() -> None:
    message = decode_dlms(BODY, source=Source.HDLC, raw=b"frame")
    assert (message.source, message.raw) == (Source.HDLC, b"frame")


@pytest.mark.parametrize("date_time", [b"\x0c" + CLOCK, b"\x09\x0c" + CLOCK])
def test_header_date_time_forms(date_time: bytes) -> None:
    message = decode_dlms(_notification(date_time))
    assert message.value("meter_datetime") == datetime(2020, 1, 21, 16, tzinfo=OSLO)
    utc = decode_dlms(_notification(date_time), timezone=UTC)
    assert utc.value("meter_datetime") == datetime(2020, 1, 21, 16, tzinfo=UTC)


def test_long_invoke_id_and_priority_bits() -> None:
    aidon = parse_data_notification(_notification())
    assert (aidon.invoke_id, aidon.confirmed, aidon.priority_high) == (0, True, False)
    other = parse_data_notification(_notification(liiap="b0001234"))
    assert (other.invoke_id, other.priority_high, other.break_on_error) == (0x1234, True, True)
    assert other.self_descriptive
    assert not other.confirmed


def test_bad_header_date_time_marker() -> None:
    with pytest.raises(DecodeError, match="0x05 at offset 5"):
        decode_dlms(_notification(b"\x05"))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("", "empty"),
        ("0201", "needs 1 bytes"),  # amshan decoded this as a Kamstrup message
        ("0200", "no OBIS codes"),
        ("c401", "0xC4"),
        ("0f40000000", "too short"),
        ("0f4000000000", "no notification body"),
        ("0f400000000002020f000f01", "no OBIS codes"),
    ],
)
def test_decode_errors(payload: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode_dlms(bytes.fromhex(payload))


def test_unknown_data_type_fails_the_message() -> None:
    with pytest.raises(UnsupportedDataTypeError, match="0x13 at offset 12"):
        decode_dlms(bytes.fromhex("010102020906010001 0700ff 1300".replace(" ", "")))


def test_bare_ciphered_apdu() -> None:
    """A DB APDU on its own, as Luxembourg and Steiermark P1 lines carry it."""
    apdu = encrypt_apdu(_notification(), system_title=TITLE, frame_counter=9, keys=KEYS)
    message = decode_dlms(apdu, keys=KEYS)
    assert message.value("active_power_import") == 280
    assert message.manufacturer == "Kaifa"  # from the system title
    assert decode_dlms(b"\xe6\xe7\x00" + apdu, keys=KEYS).readings == message.readings
    with pytest.raises(KeyRequiredError, match="encryption key is required"):
        decode_dlms(apdu)
    with pytest.raises(WrongKeyError):
        decode_dlms(apdu, keys=SecurityKeys(bytes(16), KEYS.authentication_key))


@pytest.mark.parametrize("security_control", [0x20, 0x21])
def test_wrong_key_without_tag_is_detected(security_control: int) -> None:
    apdu = encrypt_apdu(
        _notification(),
        system_title=TITLE,
        frame_counter=1,
        keys=KEYS,
        security_control=security_control,
    )
    assert decode_dlms(apdu, keys=KEYS).value("active_power_import") == 280
    for n in range(50):
        wrong = SecurityKeys(bytes([n]) * 16)
        with pytest.raises(WrongKeyError, match="probably wrong"):
            decode_dlms(apdu, keys=wrong)


def test_authenticated_frame_decrypted_with_encryption_key_only() -> None:
    apdu = encrypt_apdu(_notification(), system_title=TITLE, frame_counter=2, keys=KEYS)
    only_ek = SecurityKeys(KEYS.encryption_key)
    assert decode_dlms(apdu, keys=only_ek).value("active_power_import") == 280


def test_ciphered_p1_readout() -> None:
    """Luxembourg's P1 port: a DB APDU whose plaintext is a DSMR text readout."""
    readout = b"/Lux5\\2M550T-1013\r\n\r\n1-0:1.8.0(000123.456*kWh)\r\n!ABCD\r\n"
    apdu = encrypt_apdu(readout, system_title=TITLE, frame_counter=5, keys=KEYS)
    with pytest.raises(DecodeError, match="P1 text readout"):
        decode_dlms(apdu, keys=KEYS)
    assert decrypt_payload(apdu, KEYS) == readout
    assert decrypt_payload(b"\xe6\xe7\x00" + apdu, KEYS) == readout
    with pytest.raises(KeyRequiredError):
        decrypt_payload(apdu, None)


def _gbt(number: int, data: bytes, *, last: bool) -> bytes:
    return (
        bytes([0xE0, 0xC0 if last else 0x40])
        + number.to_bytes(2, "big")
        + b"\x00\x00"
        + (bytes([len(data)]) + data)
    )


def test_general_block_transfer_payloads() -> None:
    apdu = _notification()
    single = _gbt(1, apdu, last=True)
    assert decode_dlms(single).value("active_power_import") == 280
    blocks = _gbt(1, apdu[:10], last=False) + _gbt(2, apdu[10:], last=True)
    assert decode_dlms(b"\xe6\xe7\x00" + blocks).value("active_power_import") == 280
    with pytest.raises(DecodeError, match="before its last block"):
        decode_dlms(_gbt(1, apdu[:10], last=False))
    with pytest.raises(DecodeError, match="block 3 arrived, expected 2"):
        decode_dlms(_gbt(1, apdu[:10], last=False) + _gbt(3, apdu[10:], last=True))


def test_gbt_assembler_bounds_memory() -> None:
    assembler = GbtAssembler(max_size=100)
    assembler.add(GbtBlock(last=False, streaming=True, window=1, number=1, ack=0, data=bytes(60)))
    with pytest.raises(DecodeError, match="exceeds 100"):
        assembler.add(
            GbtBlock(last=False, streaming=True, window=1, number=2, ack=0, data=bytes(60))
        )
    assert not assembler.pending


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_only_han_errors(data: bytes) -> None:
    for payload in (data, b"\xe6\xe7\x00\x0f\x40\x00\x00\x00\x00" + data, b"\x02" + data):
        with contextlib.suppress(HanError):  # anything else fails the test
            decode_dlms(payload, keys=KEYS)


@settings(max_examples=200)
@given(st.binary(max_size=200), st.sampled_from([0x30, 0x20, 0x21]))
def test_encrypted_garbage_raises_only_han_errors(data: bytes, sc: int) -> None:
    apdu = encrypt_apdu(data, system_title=TITLE, frame_counter=3, keys=KEYS, security_control=sc)
    for keys in (KEYS, SecurityKeys(bytes(16)), None):
        with contextlib.suppress(HanError):
            decode_dlms(apdu, keys=keys)
