"""DLMS general-glo-ciphering / general-ded-ciphering with AES-128-GCM (security suite 0/1).

    DB|DC  08 <system title>  <length>  SC  FC(4)  <ciphered information>  [tag(12)]

Security control byte SC: 0x10 authentication, 0x20 encryption, 0x80 compression, low nibble
the security suite. IV = system title || frame counter; AAD = SC || AK (|| plaintext when only
authenticated); the tag is 12 bytes. Frames without the authentication bit carry no tag: their
plaintext is the GCM keystream XOR (AES-CTR from IV || 00000002).
"""

from __future__ import annotations

from dataclasses import dataclass
import hmac
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .apdu import ApduTag
from .axdr import decode_length, encode_length
from .errors import DecodeError, DecryptionError, KeyRequiredError, WrongKeyError

SC_AUTHENTICATION: Final = 0x10
SC_ENCRYPTION: Final = 0x20
SC_BROADCAST_KEY: Final = 0x40
SC_COMPRESSION: Final = 0x80
TAG_SIZE: Final = 12
_CIPHERING_TAGS: Final = (ApduTag.GENERAL_GLO_CIPHERING, ApduTag.GENERAL_DED_CIPHERING)


@dataclass(frozen=True, slots=True)
class SecurityKeys:
    """The meter's keys: the global unicast encryption key (GUEK) and, optionally, the
    authentication key (GAK). Without the GAK the GCM tag cannot be checked; a wrong
    encryption key is then detected from the decrypted data instead."""

    encryption_key: bytes
    authentication_key: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.encryption_key) != 16:
            raise ValueError(f"the encryption key has 16 bytes, got {len(self.encryption_key)}")
        if self.authentication_key is not None and len(self.authentication_key) != 16:
            raise ValueError(
                f"the authentication key has 16 bytes, got {len(self.authentication_key)}"
            )

    def __repr__(self) -> str:  # keep keys out of logs
        return "SecurityKeys(<redacted>)"


@dataclass(frozen=True, slots=True)
class CipheredApdu:
    """The fields of a general-glo/ded-ciphering APDU."""

    tag: int
    system_title: bytes
    security_control: int
    frame_counter: int
    ciphertext: bytes
    auth_tag: bytes | None

    @property
    def iv(self) -> bytes:
        """The GCM initialisation vector."""
        return self.system_title + self.frame_counter.to_bytes(4, "big")


def parse_ciphered_apdu(apdu: bytes) -> CipheredApdu:
    """Split a DB/DC APDU into its fields (no decryption). Raises DecodeError."""
    if not apdu or apdu[0] not in _CIPHERING_TAGS:
        raise DecodeError("not a general-glo/ded-ciphering APDU (tag DB or DC expected)")
    title_size, pos = decode_length(apdu, 1)
    if title_size != 8 or pos + 8 > len(apdu):
        raise DecodeError(f"ciphered APDU system title of {title_size} bytes at offset 1")
    system_title = apdu[pos : pos + 8]
    size, pos = decode_length(apdu, pos + 8)
    if size != len(apdu) - pos:
        raise DecodeError(
            f"ciphered APDU length field says {size} bytes at offset {pos}, "
            f"{len(apdu) - pos} present"
        )
    if size < 5:
        raise DecodeError(f"ciphered APDU of {size} bytes has no security header")
    security_control = apdu[pos]
    if security_control & 0x0F not in (0, 1):
        raise DecryptionError(
            f"security suite {security_control & 0x0F} (SC 0x{security_control:02X}) is not "
            "supported: only AES-128-GCM suites 0 and 1"
        )
    if security_control & SC_COMPRESSION:
        raise DecodeError(f"compressed ciphered APDUs (SC 0x{security_control:02X}) unsupported")
    frame_counter = int.from_bytes(apdu[pos + 1 : pos + 5], "big")
    body = apdu[pos + 5 :]
    auth_tag = None
    if security_control & SC_AUTHENTICATION:
        if len(body) < TAG_SIZE:
            raise DecodeError("authenticated ciphered APDU is shorter than its tag")
        body, auth_tag = body[:-TAG_SIZE], body[-TAG_SIZE:]
    return CipheredApdu(
        tag=apdu[0],
        system_title=bytes(system_title),
        security_control=security_control,
        frame_counter=frame_counter,
        ciphertext=bytes(body),
        auth_tag=None if auth_tag is None else bytes(auth_tag),
    )


def _ctr_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def _auth_only_tag(key: bytes, iv: bytes, aad: bytes) -> bytes:
    """The 12-byte GCM tag of an authenticated-only APDU (everything is AAD)."""
    encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    encryptor.authenticate_additional_data(aad)
    encryptor.finalize()
    return encryptor.tag[:TAG_SIZE]


def decrypt_apdu(ciphered: CipheredApdu, keys: SecurityKeys | None) -> tuple[bytes, bool]:
    """Decrypt and, where possible, authenticate -> (plaintext APDU, authenticated).

    Raises KeyRequiredError when the APDU is encrypted and there is no key, WrongKeyError
    when the GCM tag does not match.
    """
    sc = ciphered.security_control
    encrypted = bool(sc & SC_ENCRYPTION)
    if keys is None:
        if encrypted:
            raise KeyRequiredError(
                f"the meter sends encrypted data (system title {ciphered.system_title.hex()}, "
                f"SC 0x{sc:02X}); an encryption key is required"
            )
        return ciphered.ciphertext, False
    key, iv = keys.encryption_key, ciphered.iv
    if ciphered.auth_tag is not None and keys.authentication_key is not None:
        aad = bytes([sc]) + keys.authentication_key
        if encrypted:
            decryptor = Cipher(
                algorithms.AES(key), modes.GCM(iv, ciphered.auth_tag, min_tag_length=TAG_SIZE)
            ).decryptor()
            decryptor.authenticate_additional_data(aad)
            try:
                return decryptor.update(ciphered.ciphertext) + decryptor.finalize(), True
            except InvalidTag:
                raise WrongKeyError(
                    "the GCM authentication tag does not match: wrong encryption or "
                    "authentication key"
                ) from None
        expected = _auth_only_tag(key, iv, aad + ciphered.ciphertext)
        if not hmac.compare_digest(expected, ciphered.auth_tag):
            raise WrongKeyError(
                "the GCM authentication tag does not match: wrong encryption or authentication key"
            )
        return ciphered.ciphertext, True
    if not encrypted:
        return ciphered.ciphertext, False
    return _ctr_decrypt(key, iv, ciphered.ciphertext), False


def encrypt_apdu(
    plaintext: bytes,
    *,
    system_title: bytes,
    frame_counter: int,
    keys: SecurityKeys,
    security_control: int = SC_AUTHENTICATION | SC_ENCRYPTION,
    tag: int = ApduTag.GENERAL_GLO_CIPHERING,
) -> bytes:
    """Build a DB/DC APDU around `plaintext` (what a meter does; for simulators and tests)."""
    if len(system_title) != 8:
        raise ValueError("the system title has 8 bytes")
    iv = system_title + frame_counter.to_bytes(4, "big")
    body = plaintext
    auth = security_control & SC_AUTHENTICATION
    if auth and keys.authentication_key is None:
        raise ValueError("an authenticated APDU needs the authentication key")
    aad = bytes([security_control]) + (keys.authentication_key or b"")
    if security_control & SC_ENCRYPTION:
        encryptor = Cipher(algorithms.AES(keys.encryption_key), modes.GCM(iv)).encryptor()
        if auth:
            encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
        if auth:
            body += encryptor.tag[:TAG_SIZE]
    elif auth:
        body += _auth_only_tag(keys.encryption_key, iv, aad + plaintext)
    content = bytes([security_control]) + frame_counter.to_bytes(4, "big") + body
    return bytes([tag, 8]) + system_title + encode_length(len(content)) + content
