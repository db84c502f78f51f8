"""DLMS application layer: LLC header, data-notification APDU and general block transfer.

- LLC: `E6 E7 00` (response) or `E6 E6 00` (command) before the APDU in HDLC frames.
- data-notification (tag 0F): Long-Invoke-Id-And-Priority (4 bytes), date-time (`00` absent,
  `0C`+12 bytes, or `09 0C`+12 bytes as some Kaifa meters send it), then the notification body
  (one A-XDR value).
- general-block-transfer (tag E0): block-control, block-number, block-number-ack, then the
  block data with an A-XDR length; the blocks' data joined is one APDU.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from .axdr import CosemDateTime, Data, decode_all, decode_length, parse_date_time
from .errors import DecodeError

LLC_HEADERS: Final = (b"\xe6\xe7\x00", b"\xe6\xe6\x00")


class ApduTag(IntEnum):
    """xDLMS APDU tags this library knows (Blue Book)."""

    DATA_NOTIFICATION = 0x0F
    GET_REQUEST = 0xC0
    GET_RESPONSE = 0xC4
    GENERAL_GLO_CIPHERING = 0xDB
    GENERAL_DED_CIPHERING = 0xDC
    GENERAL_CIPHERING = 0xDD
    GENERAL_SIGNING = 0xDF
    GENERAL_BLOCK_TRANSFER = 0xE0


def strip_llc(payload: bytes) -> bytes:
    """The APDU after an LLC header, or `payload` unchanged when it has none."""
    if payload[:3] in LLC_HEADERS:
        return payload[3:]
    return payload


@dataclass(frozen=True, slots=True)
class DataNotification:
    """A decoded data-notification APDU.

    Long-Invoke-Id-And-Priority bits (Blue Book): 31 priority high, 30 service class confirmed,
    29 processing option break-on-error, 28 self-descriptive, 23..0 invoke id.
    """

    invoke_id: int
    priority_high: bool
    confirmed: bool
    break_on_error: bool
    self_descriptive: bool
    date_time: CosemDateTime | None
    body: Data


def parse_data_notification(apdu: bytes) -> DataNotification:
    """Parse a data-notification APDU (starting with 0F) that must end with its body."""
    if not apdu or apdu[0] != ApduTag.DATA_NOTIFICATION:
        raise DecodeError("not a data-notification APDU (tag 0F expected at offset 0)")
    if len(apdu) < 6:
        raise DecodeError(f"data-notification of {len(apdu)} bytes is too short")
    liiap = int.from_bytes(apdu[1:5], "big")
    marker = apdu[5]
    date_time: CosemDateTime | None = None
    if marker == 0x00:
        pos = 6
    elif marker == 0x0C:
        date_time, pos = _date_time(apdu, 6), 18
    elif marker == 0x09 and len(apdu) > 6 and apdu[6] == 0x0C:
        date_time, pos = _date_time(apdu, 7), 19
    else:
        raise DecodeError(
            f"data-notification date-time field starts with 0x{marker:02X} at offset 5 "
            "(expected 00, 0C or 09 0C)"
        )
    if pos >= len(apdu):
        raise DecodeError("data-notification has no notification body")
    return DataNotification(
        invoke_id=liiap & 0xFFFFFF,
        priority_high=bool(liiap & 0x8000_0000),
        confirmed=bool(liiap & 0x4000_0000),
        break_on_error=bool(liiap & 0x2000_0000),
        self_descriptive=bool(liiap & 0x1000_0000),
        date_time=date_time,
        body=decode_all(apdu, pos),
    )


def _date_time(apdu: bytes, offset: int) -> CosemDateTime:
    if offset + 12 > len(apdu):
        raise DecodeError(f"data-notification date-time at offset {offset} is cut short")
    return parse_date_time(apdu[offset : offset + 12])


@dataclass(frozen=True, slots=True)
class GbtBlock:
    """One general-block-transfer block."""

    last: bool
    streaming: bool
    window: int
    number: int
    ack: int
    data: bytes


def parse_gbt_block(buf: bytes, offset: int = 0) -> tuple[GbtBlock, int]:
    """Parse the GBT block at `offset` (its E0 tag) -> (block, offset after it)."""
    if offset + 6 > len(buf) or buf[offset] != ApduTag.GENERAL_BLOCK_TRANSFER:
        raise DecodeError(f"no general-block-transfer block at offset {offset}")
    control = buf[offset + 1]
    number = int.from_bytes(buf[offset + 2 : offset + 4], "big")
    ack = int.from_bytes(buf[offset + 4 : offset + 6], "big")
    size, pos = decode_length(buf, offset + 6)
    if pos + size > len(buf):
        raise DecodeError(
            f"general-block-transfer block {number} announces {size} bytes, "
            f"only {len(buf) - pos} present"
        )
    block = GbtBlock(
        last=bool(control & 0x80),
        streaming=bool(control & 0x40),
        window=control & 0x3F,
        number=number,
        ack=ack,
        data=bytes(buf[pos : pos + size]),
    )
    return block, pos + size


class GbtAssembler:
    """Joins general-block-transfer blocks (numbered 1, 2, ...) into one APDU.

    Memory is bounded by `max_size`; a gap in the numbering drops the partial APDU.
    """

    def __init__(self, max_size: int = 65536) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._max_size = max_size

    @property
    def pending(self) -> bool:
        """Whether some blocks wait for the rest of their APDU."""
        return bool(self._parts)

    def reset(self) -> None:
        """Forget any partial APDU."""
        self._parts.clear()
        self._size = 0

    def add(self, block: GbtBlock) -> bytes | None:
        """Add a block; the joined APDU when it was the last one, else None.

        Raises DecodeError (after dropping the partial APDU) for a block out of sequence or an
        APDU larger than `max_size`.
        """
        if block.number == 1:
            self.reset()
        elif block.number != len(self._parts) + 1:
            expected = len(self._parts) + 1
            self.reset()
            raise DecodeError(
                f"general-block-transfer block {block.number} arrived, expected {expected}"
            )
        self._size += len(block.data)
        if self._size > self._max_size:
            self.reset()
            raise DecodeError(f"general-block-transfer APDU exceeds {self._max_size} bytes")
        self._parts.append(block.data)
        if not block.last:
            return None
        apdu = b"".join(self._parts)
        self.reset()
        return apdu


def join_gbt_blocks(buf: bytes) -> bytes:
    """The APDU carried by consecutive GBT blocks in `buf` (all of them, ending with the last)."""
    assembler = GbtAssembler()
    pos = 0
    while pos < len(buf):
        block, pos = parse_gbt_block(buf, pos)
        apdu = assembler.add(block)
        if apdu is not None:
            if pos != len(buf):
                raise DecodeError(f"{len(buf) - pos} bytes after the last GBT block")
            return apdu
    raise DecodeError("general-block-transfer ends before its last block")
