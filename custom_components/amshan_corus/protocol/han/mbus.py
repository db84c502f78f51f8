"""M-Bus long frames (EN 13757-2) carrying DLMS APDUs, sans-I/O.

    68 L L 68 | C A CI | STSAP DTSAP | data ... | CS 16

L counts C through the data; CS is the byte sum of the same bytes. For DLMS the CI field is
0x00-0x1F: bit 4 marks the final segment, the low nibble is the segment's sequence number
(00 first of several, 10 single, 11 last of two...). The two address bytes after CI (01 67 on
HAN ports) are dropped and the segments' data joined into one APDU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

START: Final = 0x68
STOP: Final = 0x16
MAX_MESSAGE_SIZE: Final = 65536
_DLMS_CI_LAST: Final = 0x10
_HEADER: Final = 4  # 68 L L 68


@dataclass(frozen=True, slots=True)
class MbusFrame:
    """A complete DLMS message from one or more M-Bus long frames.

    `apdu` is the joined data of all segments (transport address bytes dropped), `raw` every
    frame's bytes; `control`, `address` and `ci` are the last frame's fields.
    """

    apdu: bytes
    raw: bytes
    control: int
    address: int
    ci: int
    segments: int = 1


def encode_mbus_frame(
    data: bytes, *, ci: int = 0x10, control: int = 0x53, address: int = 0xFF
) -> bytes:
    """One long frame carrying `data` after CI and the 01 67 addresses (simulators, tests)."""
    body = bytes([control, address, ci, 0x01, 0x67]) + data
    if len(body) > 0xFF:
        raise ValueError(f"an M-Bus long frame holds at most 250 data bytes, not {len(data)}")
    return bytes([START, len(body), len(body), START]) + body + bytes([sum(body) & 0xFF, STOP])


class MbusFrameReader:
    """Sans-I/O framer for M-Bus long frames; `feed()` any chunks, get complete messages.

    Counters: `frames` valid long frames (each segment), `rejected` frames with a bad checksum,
    length or stop byte, `incomplete` segments dropped because their message lost a part,
    `ignored` valid frames that carry no DLMS (CI above 0x1F).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.rejected = 0
        self.incomplete = 0
        self.ignored = 0
        self._parts: list[bytes] = []
        self._raws: list[bytes] = []
        self._size = 0

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[MbusFrame]:
        """Add received bytes; return the messages completed by them."""
        buf = self._buf
        buf += data
        out: list[MbusFrame] = []
        size = len(buf)
        pos = 0
        while True:
            start = buf.find(START, pos)
            if start < 0 or size - start < _HEADER:
                pos = size if start < 0 else start
                break
            length = buf[start + 1]
            if buf[start + 3] != START or buf[start + 2] != length or length < 3:
                pos = start + 1
                continue
            end = start + _HEADER + length + 2  # after the stop byte
            if end > size:
                pos = start
                break
            body = buf[start + _HEADER : start + _HEADER + length]
            if buf[end - 1] != STOP or sum(body) & 0xFF != buf[end - 2]:
                self._reject()
                pos = start + 1
                continue
            self.frames += 1
            pos = end
            message = self._join(bytes(body), bytes(buf[start:end]))
            if message is not None:
                out.append(message)
        del buf[:pos]
        return out

    def _reject(self) -> None:
        self.rejected += 1
        self._drop_partial()

    def _drop_partial(self) -> None:
        self.incomplete += len(self._parts)
        self._parts.clear()
        self._raws.clear()
        self._size = 0

    def _join(self, body: bytes, raw: bytes) -> MbusFrame | None:
        control, address, ci = body[0], body[1], body[2]
        if ci > 0x1F or len(body) < 5:
            self.ignored += 1
            return None
        sequence = ci & 0x0F
        if sequence == 0:
            self._drop_partial()
        elif sequence != len(self._parts):
            self._drop_partial()
            self.incomplete += 1
            return None
        self._parts.append(body[5:])
        self._raws.append(raw)
        self._size += len(body) - 5
        if self._size > MAX_MESSAGE_SIZE:
            self._drop_partial()
            return None
        if not ci & _DLMS_CI_LAST:
            return None
        message = MbusFrame(
            apdu=b"".join(self._parts),
            raw=b"".join(self._raws),
            control=control,
            address=address,
            ci=ci,
            segments=len(self._parts),
        )
        self._parts.clear()
        self._raws.clear()
        self._size = 0
        return message
