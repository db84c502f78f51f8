"""Raw general-glo/ded-ciphering APDUs on a byte stream, as Luxembourg and Steiermark P1 ports
send them: no HDLC or M-Bus framing around them (sans-I/O).

    DB|DC  08 <system title 8>  <length: 1 byte < 0x80, 81 xx or 82 xxxx>  SC  FC(4) ... [tag 12]

There is no checksum: the length delimits a frame and the header is checked cheaply (the
security control byte's suite and flags, a length that fits the SC). A meter keeps its system
title, so a frame inside whose length the same tag + title appears again was cut short (or its
length damaged): it is dropped and the next one starts there. The GCM tag, where the SC says
there is one, is the real integrity check and happens when the frame is decoded. The
plaintext is a DLMS data-notification or a P1 text readout (Luxembourg); `decode_ciphered()`
decodes both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Final

from .apdu import LLC_HEADERS, ApduTag
from .dlms import DEFAULT_TIMEZONE, decode_dlms, decrypt_payload
from .errors import FrameError
from .models import MeterMessage, Source
from .p1 import decode_p1, parse_p1_readout
from .security import SC_AUTHENTICATION, SC_COMPRESSION, SC_ENCRYPTION, TAG_SIZE, SecurityKeys

MAX_CIPHERED_SIZE: Final = 4096  # the largest known push (EVN, L+G GBT) is under 1 KiB
_TAGS: Final = (ApduTag.GENERAL_GLO_CIPHERING, ApduTag.GENERAL_DED_CIPHERING)
_TITLE_END: Final = 10  # tag, 08, 8-byte system title
_SECURITY_HEADER: Final = 5  # SC + frame counter
# A DB right after these belongs to a frame of another format: HDLC's LLC, M-Bus's
# "01 67" addresses, or a general-block-transfer header (E0 ctl bn(2) bna(2) len).
_CONTEXT: Final = 7
_MBUS_ADDRESSES: Final = b"\x01\x67"
_GBT_TAG: Final = ApduTag.GENERAL_BLOCK_TRANSFER


@dataclass(frozen=True, slots=True)
class CipheredFrame:
    """One ciphered APDU as received (`apdu` runs from the DB/DC tag to the last byte)."""

    apdu: bytes


def _header(buf: bytes | bytearray, start: int) -> int | None:
    """The total size of the APDU starting at `start`; None if its header is implausible,
    -1 while the header is still incomplete."""
    size = len(buf) - start
    if size < 2:
        return -1
    if buf[start + 1] != 8:
        return None
    if size < _TITLE_END + 1:
        return -1
    first = buf[start + _TITLE_END]
    if first < 0x80:
        length, header = first, _TITLE_END + 1
    elif first in (0x81, 0x82):
        header = _TITLE_END + 1 + (first & 0x7F)
        if size < header:
            return -1
        length = int.from_bytes(buf[start + _TITLE_END + 1 : start + header], "big")
    else:
        return None
    if size < header + 1:
        return -1
    sc = buf[start + header]
    if sc & 0x0F > 1 or sc & SC_COMPRESSION or not sc & (SC_AUTHENTICATION | SC_ENCRYPTION):
        return None
    smallest = _SECURITY_HEADER + 1 + (TAG_SIZE if sc & SC_AUTHENTICATION else 0)
    if not smallest <= length <= MAX_CIPHERED_SIZE:
        return None
    return header + length


def _inside_other_frame(buf: bytes | bytearray, start: int) -> bool:
    before = bytes(buf[max(0, start - _CONTEXT) : start])
    return (
        any(before.endswith(llc) for llc in LLC_HEADERS)
        or before.endswith(_MBUS_ADDRESSES)
        or (len(before) == _CONTEXT and before[0] == _GBT_TAG)
    )


class CipheredFrameReader:
    """Frames raw ciphered APDUs out of a byte stream fed in any chunking.

    Counters: `frames` (complete APDUs returned) and `rejected` (frames cut short by the next
    one; `last_error` says so). Other damage shows only when a frame is decoded, as there is
    no checksum. Bytes before a plausible header are skipped;
    a DB inside an HDLC, M-Bus or block-transfer frame is not taken for a raw frame. Memory is
    bounded by `MAX_CIPHERED_SIZE` plus the last chunk.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # bytes before it are context already scanned
        self.frames = 0
        self.rejected = 0
        self.last_error: FrameError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[CipheredFrame]:
        """Add bytes; return the APDUs they complete."""
        buf = self._buf
        buf += data
        out: list[CipheredFrame] = []
        pos = self._pos
        while True:
            starts = [i for i in (buf.find(tag, pos) for tag in _TAGS) if i >= 0]
            if not starts:
                pos = len(buf)
                break
            start = min(starts)
            total = _header(buf, start)
            if total is None or _inside_other_frame(buf, start):
                pos = start + 1
                continue
            following = -1 if total < 0 else self._next_start(start, total)
            if following >= 0:
                self.rejected += 1
                self.last_error = FrameError(
                    f"ciphered APDU of {total} bytes cut short: the next one starts "
                    f"{following - start} bytes in"
                )
                pos = following
                continue
            if total < 0 or start + total > len(buf):
                pos = start
                break
            out.append(CipheredFrame(bytes(buf[start : start + total])))
            self.frames += 1
            pos = start + total
        keep_from = max(0, pos - _CONTEXT)
        del buf[:keep_from]
        self._pos = pos - keep_from
        return out

    def _next_start(self, start: int, total: int) -> int:
        """Where a plausible APDU of the same system title starts inside this one, or -1."""
        buf = self._buf
        prefix = bytes(buf[start : start + _TITLE_END])
        found = buf.find(prefix, start + 1, start + total)
        while found >= 0:
            if _header(buf, found) is not None:
                return found
            found = buf.find(prefix, found + 1, start + total)
        return -1


def decode_ciphered(
    apdu: bytes,
    *,
    keys: SecurityKeys | None = None,
    timezone: tzinfo = DEFAULT_TIMEZONE,
) -> MeterMessage:
    """Decode one raw ciphered APDU whose plaintext is a data-notification or a P1 readout.

    Raises DecryptionError subclasses (no key, wrong key), DecodeError, or for a P1 plaintext
    FrameError (e.g. `ChecksumError`: the GCM tag passed but the readout's own CRC failed).
    """
    plaintext = decrypt_payload(apdu, keys)
    if plaintext[:1] == b"/":
        message = decode_p1(parse_p1_readout(plaintext), timezone=timezone)
        return replace(message, source=Source.DLMS, raw=apdu)
    return decode_dlms(apdu, source=Source.DLMS, raw=apdu, keys=keys, timezone=timezone)
