"""general-glo-ciphering with AES-128-GCM: published vectors, round trips, wrong keys."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.errors import (
    DecodeError,
    DecryptionError,
    KeyRequiredError,
    WrongKeyError,
)
from custom_components.amshan_corus.protocol.han.hdlc import HdlcFrameReader
from custom_components.amshan_corus.protocol.han.mbus import MbusFrameReader
from custom_components.amshan_corus.protocol.han.security import (
    SecurityKeys,
    decrypt_apdu,
    encrypt_apdu,
    parse_ciphered_apdu,
)

from .vectors import all_vectors, vector_keys

TITLE = bytes.fromhex("4b464d6750000009")
EK = bytes(range(16))
AK = bytes(range(16, 32))


def _apdu(name: str) -> bytes:
    wire = all_vectors()[name].data
    if wire[0] == 0x7E:
        return HdlcFrameReader().feed(wire)[0].information[3:]
    if wire[0] == 0x68:
        return MbusFrameReader().feed(wire)[0].apdu
    return wire


def _plaintext(name: str) -> bytes:
    return bytes.fromhex(all_vectors()[name].meta["plaintext_hex"])


@pytest.mark.parametrize(("name", "authenticated"), [("ENC-01", True), ("ENC-09", True)])
def test_authenticated_vectors(name: str, authenticated: bool) -> None:
    ciphered = parse_ciphered_apdu(_apdu(name))
    assert ciphered.security_control == 0x30
    assert len(ciphered.auth_tag or b"") == 12
    assert decrypt_apdu(ciphered, vector_keys(name)) == (_plaintext(name), authenticated)
    # Without the authentication key the data still decrypts, unauthenticated.
    assert decrypt_apdu(ciphered, vector_keys(name, with_ak=False)) == (_plaintext(name), False)


def test_green_book_example_fields() -> None:
    ciphered = parse_ciphered_apdu(_apdu("ENC-09"))
    assert ciphered.system_title == bytes.fromhex("4d4d4d0000bc614e")
    assert ciphered.frame_counter == 0x01234567
    assert ciphered.iv == bytes.fromhex("4d4d4d0000bc614e01234567")


@pytest.mark.parametrize(
    ("name", "sc"), [("ENC-11", 0x20), ("ENC-12", 0x21), ("ENC-18", 0x20), ("ENC-23", 0x20)]
)
def test_encryption_only_vectors(name: str, sc: int) -> None:
    ciphered = parse_ciphered_apdu(_apdu(name))
    assert ciphered.security_control == sc
    assert ciphered.auth_tag is None
    assert decrypt_apdu(ciphered, vector_keys(name)) == (_plaintext(name), False)


def test_key_required_and_wrongvector_keys() -> None:
    ciphered = parse_ciphered_apdu(_apdu("ENC-01"))
    with pytest.raises(KeyRequiredError, match="4b414d4501349083"):
        decrypt_apdu(ciphered, None)
    with pytest.raises(WrongKeyError, match="tag"):
        decrypt_apdu(ciphered, SecurityKeys(EK, vector_keys("ENC-01").authentication_key))
    with pytest.raises(WrongKeyError):
        decrypt_apdu(ciphered, SecurityKeys(vector_keys("ENC-01").encryption_key, AK))


def test_malformed_ciphered_apdus() -> None:
    apdu = _apdu("ENC-09")
    with pytest.raises(DecodeError, match="length field"):
        parse_ciphered_apdu(apdu[:-1])
    with pytest.raises(DecodeError, match="length field"):
        parse_ciphered_apdu(apdu + b"\x00")
    suite2 = apdu[:11] + b"\x32" + apdu[12:]
    with pytest.raises(DecryptionError, match="suite 2"):
        parse_ciphered_apdu(suite2)
    with pytest.raises(DecodeError):
        parse_ciphered_apdu(b"\x0f\x00")


def test_keys_are_checked_and_never_shown() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        SecurityKeys(b"short")
    with pytest.raises(ValueError, match="authentication key"):
        SecurityKeys(EK, b"short")
    assert EK.hex() not in repr(SecurityKeys(EK, AK))


def test_independent_gcm_build_decrypts() -> None:
    """A frame built with the library's one-shot AESGCM (16-byte tag cut to 12) decrypts."""
    plaintext = bytes.fromhex("0f000000010002010600000118")
    iv = TITLE + (7).to_bytes(4, "big")
    sealed = AESGCM(EK).encrypt(iv, plaintext, b"\x30" + AK)
    content = b"\x30" + (7).to_bytes(4, "big") + sealed[:-4]
    apdu = b"\xdb\x08" + TITLE + bytes([len(content)]) + content
    assert decrypt_apdu(parse_ciphered_apdu(apdu), SecurityKeys(EK, AK)) == (plaintext, True)
    assert apdu == encrypt_apdu(
        plaintext, system_title=TITLE, frame_counter=7, keys=SecurityKeys(EK, AK)
    )


@settings(max_examples=200)
@given(
    plaintext=st.binary(max_size=400),
    ek=st.binary(min_size=16, max_size=16),
    ak=st.binary(min_size=16, max_size=16),
    counter=st.integers(0, 2**32 - 1),
    sc=st.sampled_from([0x30, 0x31, 0x20, 0x21, 0x10, 0x00]),
    tag=st.sampled_from([0xDB, 0xDC]),
)
def test_round_trip(
    plaintext: bytes, ek: bytes, ak: bytes, counter: int, sc: int, tag: int
) -> None:
    keys = SecurityKeys(ek, ak)
    apdu = encrypt_apdu(
        plaintext,
        system_title=TITLE,
        frame_counter=counter,
        keys=keys,
        security_control=sc,
        tag=tag,
    )
    ciphered = parse_ciphered_apdu(apdu)
    assert (ciphered.tag, ciphered.frame_counter) == (tag, counter)
    assert decrypt_apdu(ciphered, keys) == (plaintext, bool(sc & 0x10))
    if sc & 0x10:
        wrong = SecurityKeys(bytes(16) if ek != bytes(16) else b"\x01" * 16, ak)
        with pytest.raises(WrongKeyError):
            decrypt_apdu(ciphered, wrong)
