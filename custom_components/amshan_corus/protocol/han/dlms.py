"""`decode_dlms`: the entry point from DLMS bytes to a `MeterMessage`.

Accepts an HDLC information field (LLC + APDU), a bare APDU (0F data-notification, DB/DC
ciphered, E0 general block transfer) or a bare notification body (01 array / 02 structure).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Final
from zoneinfo import ZoneInfo

from .apdu import ApduTag, DataNotification, join_gbt_blocks, parse_data_notification, strip_llc
from .axdr import decode_all
from .errors import DecodeError, WrongKeyError
from .meters import decode_body
from .models import MeterMessage, Source
from .security import SecurityKeys, decrypt_apdu, parse_ciphered_apdu

__all__ = ["SecurityKeys", "decode_dlms", "decrypt_payload"]

DEFAULT_TIMEZONE: Final = ZoneInfo("Europe/Oslo")
_BODY_TAGS: Final = (0x01, 0x02)  # array, structure


def decode_dlms(
    payload: bytes,
    *,
    source: Source = Source.DLMS,
    raw: bytes | None = None,
    keys: SecurityKeys | None = None,
    timezone: tzinfo = DEFAULT_TIMEZONE,
) -> MeterMessage:
    """Decode one DLMS message into named readings.

    `timezone` applies only to meter date-times whose deviation is unspecified. Raises
    DecodeError (content not understood), KeyRequiredError (encrypted, no key) or
    WrongKeyError (tag mismatch, or decrypted data that is no APDU).
    """
    apdu = strip_llc(bytes(payload))
    if not apdu:
        raise DecodeError("empty DLMS payload")
    system_title = None
    if apdu[0] == ApduTag.GENERAL_BLOCK_TRANSFER:
        apdu = join_gbt_blocks(apdu)
    if apdu and apdu[0] in (ApduTag.GENERAL_GLO_CIPHERING, ApduTag.GENERAL_DED_CIPHERING):
        ciphered = parse_ciphered_apdu(apdu)
        system_title = ciphered.system_title
        plaintext, authenticated = decrypt_apdu(ciphered, keys)
        notification = _decrypted_notification(plaintext, authenticated, keys is not None)
        header_time, body = notification.date_time, notification.body
    elif apdu[:1] == bytes([ApduTag.DATA_NOTIFICATION]):
        notification = parse_data_notification(apdu)
        header_time, body = notification.date_time, notification.body
    elif apdu[0] in _BODY_TAGS:
        header_time, body = None, decode_all(apdu)
    else:
        raise DecodeError(
            f"APDU tag 0x{apdu[0]:02X} at offset 0 is not a data-notification, ciphered APDU, "
            "block transfer or notification body"
        )
    manufacturer, readings = decode_body(
        body, header_time=header_time, local_zone=timezone, system_title=system_title
    )
    return MeterMessage(
        source=source,
        manufacturer=manufacturer,
        readings=readings,
        raw=bytes(payload) if raw is None else raw,
    )


def decrypt_payload(payload: bytes, keys: SecurityKeys | None) -> bytes:
    """The plaintext of a ciphered APDU (DB/DC, LLC header optional).

    For meters whose ciphered APDU carries something other than a data-notification, such as
    the Luxembourg P1 port's DSMR text readout. Raises DecodeError, KeyRequiredError or
    WrongKeyError (only from the GCM tag: the plaintext is not checked).
    """
    apdu = strip_llc(bytes(payload))
    if apdu[:1] == bytes([ApduTag.GENERAL_BLOCK_TRANSFER]):
        apdu = join_gbt_blocks(apdu)
    return decrypt_apdu(parse_ciphered_apdu(apdu), keys)[0]


def _decrypted_notification(
    plaintext: bytes, authenticated: bool, decrypted: bool
) -> DataNotification:
    try:
        return parse_data_notification(plaintext)
    except DecodeError as err:
        if authenticated and plaintext[:1] == b"/":
            raise DecodeError(
                "the decrypted data is a P1 text readout, not a DLMS data-notification: "
                "decode decrypt_payload()'s result as P1"
            ) from err
        if decrypted and not authenticated:
            # Without a verified tag, garbage after decryption is how a wrong key shows.
            raise WrongKeyError(
                f"decrypted data is not a valid data-notification ({err}): "
                "the encryption key is probably wrong"
            ) from err
        raise DecodeError(f"decrypted APDU: {err}") from err
