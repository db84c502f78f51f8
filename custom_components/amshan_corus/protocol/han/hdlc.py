"""HDLC frame format type 3 (IEC 62056-46) as HAN push ports send it, sans-I/O.

    7E | A S LLL LLLL LLLL | DA (1-4) | SA (1-4) | CTRL | HCS | information | FCS | 7E

The 11-bit length counts the bytes between the flags. HAN streams are not byte-stuffed, so
0x7E/0x7D inside a frame are data: frames are delimited by the length, never by scanning for
flags, and a frame whose FCS ends in 0x7D is as valid as any other. HCS and FCS are
CRC-16/X.25; a frame failing either is never decoded.

`HdlcFrameReader` also joins segmented frames (S bit, 0x0800) and general-block-transfer blocks
(APDU tag E0 spread over several frames) into one `HdlcFrame`, so each frame it returns holds
one complete APDU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .apdu import LLC_HEADERS, ApduTag, GbtAssembler, parse_gbt_block, strip_llc
from .crc import crc16_x25
from .errors import ChecksumError, DecodeError, FrameError

FLAG: Final = 0x7E
MAX_FRAME_LENGTH: Final = 0x7FF
MIN_FRAME_LENGTH: Final = 7  # format 2 + DA 1 + SA 1 + control 1 + check sequence 2
MAX_MESSAGE_SIZE: Final = 65536  # bound on segments / GBT blocks joined into one APDU
_SEGMENTATION: Final = 0x0800
_MAX_ADDRESS_SIZE: Final = 4


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One valid HDLC frame (HCS and FCS checked), or several joined into one message.

    `information` is the information field (all segments / GBT blocks joined, see the module
    doc); `raw` the frame's bytes including flags (for a joined message: all its frames).
    `destination` / `source` are the address fields' raw bytes, `control` the control byte of
    the last frame, `segments` the number of frames joined.
    """

    information: bytes
    raw: bytes
    destination: bytes
    source: bytes
    control: int
    segmentation: bool = False
    segments: int = 1


def _address_end(buf: bytes | bytearray, pos: int, limit: int) -> int:
    """Index after the address field at `pos`; -1 when not complete before `limit`;
    raises FrameError when it has no final octet within 4 bytes."""
    for i in range(pos, min(pos + _MAX_ADDRESS_SIZE, limit)):
        if buf[i] & 0x01:
            return i + 1
    if limit - pos >= _MAX_ADDRESS_SIZE:
        raise FrameError(f"HDLC address at offset {pos} has no final octet within 4 bytes")
    return -1


def _header_end(buf: bytes | bytearray, pos: int, limit: int) -> int:
    """Index of the HCS of the frame whose format field is at `pos`; -1 when more bytes are
    needed."""
    dst_end = _address_end(buf, pos + 2, limit)
    if dst_end < 0:
        return -1
    src_end = _address_end(buf, dst_end, limit)
    if src_end < 0 or src_end >= limit:
        return -1
    return src_end + 1  # after the control byte


def _check_frame(buf: bytes | bytearray, pos: int, length: int, hcs_at: int) -> HdlcFrame:
    """Validate the complete frame body buf[pos:pos+length] (no flags) -> HdlcFrame."""
    header = bytes(buf[pos:hcs_at])
    if hcs_at + 2 > pos + length:
        raise FrameError(f"HDLC length {length} is shorter than the frame's header")
    if crc16_x25(header) != int.from_bytes(buf[hcs_at : hcs_at + 2], "little"):
        raise ChecksumError("HDLC header check sequence (HCS) mismatch")
    end = pos + length
    if hcs_at + 2 == end:  # no information field: the HCS is the FCS
        information = b""
    else:
        if crc16_x25(buf[pos : end - 2]) != int.from_bytes(buf[end - 2 : end], "little"):
            raise ChecksumError("HDLC frame check sequence (FCS) mismatch")
        information = bytes(buf[hcs_at + 2 : end - 2])
    fmt = (buf[pos] << 8) | buf[pos + 1]
    dst_end = _address_end(buf, pos + 2, hcs_at)
    return HdlcFrame(
        information=information,
        raw=b"\x7e" + bytes(buf[pos:end]) + b"\x7e",
        destination=bytes(buf[pos + 2 : dst_end]),
        source=bytes(buf[dst_end : hcs_at - 1]),
        control=buf[hcs_at - 1],
        segmentation=bool(fmt & _SEGMENTATION),
    )


def _frame_at(buf: bytearray, start: int, length: int, size: int) -> HdlcFrame | None:
    """The frame whose opening flag is buf[start], None while bytes are missing; raises
    FrameError as soon as the bytes present show it is not a valid frame (the HCS is checked
    before the rest of a long frame arrives)."""
    body = start + 1
    end = body + length  # index of the closing flag
    hcs_at = _header_end(buf, body, min(size, end))
    if hcs_at < 0 and size < end:
        return None  # header still arriving
    if hcs_at < 0 or hcs_at + 2 > end:
        raise FrameError("HDLC header longer than the frame")
    if hcs_at + 2 > size:
        return None
    if crc16_x25(buf[body:hcs_at]) != int.from_bytes(buf[hcs_at : hcs_at + 2], "little"):
        raise ChecksumError("HDLC header check sequence (HCS) mismatch")
    if end >= size:
        return None
    if buf[end] != FLAG:
        raise FrameError("no closing flag where the HDLC length says the frame ends")
    return _check_frame(buf, body, length, hcs_at)


def _complete_frame_after(buf: bytearray, start: int, size: int) -> tuple[int, int]:
    """Look for a flag at or after `start` that opens a complete valid frame.

    Returns (its index or -1, where the next look should resume): flags before the resume
    point were shown invalid for good, so repeated looks stay linear in the bytes received.
    """
    pos, resume = start, -1
    limit = max(size - MIN_FRAME_LENGTH, 0)  # find() would read a negative end from the back
    while pos < limit and (flag := buf.find(FLAG, pos, limit)) >= 0:
        fmt = (buf[flag + 1] << 8) | buf[flag + 2]
        length = fmt & MAX_FRAME_LENGTH
        if fmt >> 12 == 0xA and length >= MIN_FRAME_LENGTH:
            try:
                if _frame_at(buf, flag, length, size) is not None:
                    return flag, flag
                if resume < 0:
                    resume = flag  # incomplete: look at it again when more bytes arrive
            except FrameError:
                pass
        pos = flag + 1
    return -1, resume if resume >= 0 else max(start, limit)


def encode_hdlc_frame(
    information: bytes,
    *,
    destination: bytes = b"\x41",
    source: bytes = b"\x08\x83",
    control: int = 0x13,
    segmented: bool = False,
) -> bytes:
    """A complete frame with flags, HCS and FCS, as a meter sends it (simulators, tests)."""
    length = 2 + len(destination) + len(source) + 1 + 2 + len(information)
    length += 2 if information else 0  # a frame without information has one check sequence
    if length > MAX_FRAME_LENGTH:
        raise ValueError(f"an HDLC frame holds at most {MAX_FRAME_LENGTH} bytes, not {length}")
    fmt = 0xA000 | (_SEGMENTATION if segmented else 0) | length
    header = fmt.to_bytes(2, "big") + destination + source + bytes([control])
    body = header + crc16_x25(header).to_bytes(2, "little")
    if information:
        body += information
        body += crc16_x25(body).to_bytes(2, "little")
    return b"\x7e" + body + b"\x7e"


def parse_hdlc_frame(data: bytes) -> HdlcFrame:
    """Parse one complete frame, with or without its 7E flags (not reassembled).

    Raises ChecksumError for a bad HCS/FCS and FrameError for any other format problem.
    """
    body = bytes(data)
    if len(body) >= 2 and body[0] == FLAG and body[-1] == FLAG:
        body = body[1:-1]
    if len(body) < MIN_FRAME_LENGTH:
        raise FrameError(f"HDLC frame of {len(body)} bytes is shorter than {MIN_FRAME_LENGTH}")
    fmt = (body[0] << 8) | body[1]
    if fmt >> 12 != 0xA:
        raise FrameError(f"HDLC frame format type {fmt >> 12:X} is not 3 (A)")
    length = fmt & MAX_FRAME_LENGTH
    if length != len(body):
        raise FrameError(f"HDLC length field says {length} bytes, the frame has {len(body)}")
    hcs_at = _header_end(body, 0, len(body))
    if hcs_at < 0:
        raise FrameError("HDLC frame ends inside its header")
    return _check_frame(body, 0, length, hcs_at)


class HdlcFrameReader:
    """Sans-I/O framer: `feed()` any chunks, get complete valid messages back.

    Counters: `frames` counts every valid HDLC frame (each segment and GBT block frame on its
    own); `rejected` counts frame candidates dropped for HCS/FCS/length/format errors;
    `incomplete` counts valid frames dropped because their message lost a segment or block.
    The buffer never holds more than one maximal frame plus the last chunk.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.frames = 0
        self.rejected = 0
        self.incomplete = 0
        self._segments: list[HdlcFrame] = []
        self._segments_size = 0
        self._skip_continuation = False
        self._gbt = GbtAssembler(MAX_MESSAGE_SIZE)
        self._gbt_raw: list[bytes] = []
        self._lookahead = 1  # where, after the frame being waited for, to look for the next

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[HdlcFrame]:
        """Add received bytes; return the messages completed by them."""
        buf = self._buf
        buf += data
        out: list[HdlcFrame] = []
        size = len(buf)
        pos = 0
        while True:
            start = buf.find(FLAG, pos)
            if start < 0 or size - start < 3:
                pos = size if start < 0 else start
                break
            fmt = (buf[start + 1] << 8) | buf[start + 2]
            length = fmt & MAX_FRAME_LENGTH
            if fmt >> 12 != 0xA or length < MIN_FRAME_LENGTH:
                pos = start + 1  # a flag run, or not a frame start
                continue
            try:
                frame = _frame_at(buf, start, length, size)
            except FrameError:
                self._reject()
                pos = start + 1
                continue
            if frame is None:
                later, resume = _complete_frame_after(buf, start + self._lookahead, size)
                if later < 0:
                    self._lookahead = resume - start
                    pos = start  # wait for the rest of the frame
                    break
                # A complete frame starts inside the one we wait for: that one was cut short.
                self._reject()
                pos = later
                continue
            end = start + 1 + length  # the closing flag
            self.frames += 1
            self._lookahead = 1
            pos = end  # the closing flag may open the next frame
            message = self._join_segments(frame)
            if message is not None:
                message = self._join_gbt(message)
            if message is not None:
                out.append(message)
        del buf[:pos]
        return out

    def _reject(self) -> None:
        self.rejected += 1
        self._lookahead = 1
        if self._segments:
            self.incomplete += len(self._segments)
            self._segments.clear()
            self._segments_size = 0
            self._skip_continuation = True

    def _join_segments(self, frame: HdlcFrame) -> HdlcFrame | None:
        if self._skip_continuation:
            # The message this frame continues lost a segment; a frame that starts a new
            # message (LLC header) ends the skip.
            if frame.information[:3] not in LLC_HEADERS:
                self.incomplete += 1
                if not frame.segmentation:
                    self._skip_continuation = False
                return None
            self._skip_continuation = False
        if frame.segmentation:
            self._segments.append(frame)
            self._segments_size += len(frame.information)
            if self._segments_size > MAX_MESSAGE_SIZE:
                self.incomplete += len(self._segments)
                self._segments.clear()
                self._segments_size = 0
                self._skip_continuation = True
            return None
        if not self._segments:
            return frame
        parts = [*self._segments, frame]
        self._segments.clear()
        self._segments_size = 0
        return HdlcFrame(
            information=b"".join(p.information for p in parts),
            raw=b"".join(p.raw for p in parts),
            destination=frame.destination,
            source=frame.source,
            control=frame.control,
            segmentation=True,
            segments=len(parts),
        )

    def _join_gbt(self, message: HdlcFrame) -> HdlcFrame | None:
        apdu = strip_llc(message.information)
        if not apdu or apdu[0] != ApduTag.GENERAL_BLOCK_TRANSFER:
            return message
        try:
            block, end = parse_gbt_block(apdu)
            if end != len(apdu):
                return message  # not one block: let decode_dlms say what it is
            if block.number == 1:
                self._gbt_raw.clear()
            joined = self._gbt.add(block)
        except DecodeError:
            # Pass it on unjoined: decode_dlms then reports what is wrong with it.
            self.incomplete += len(self._gbt_raw)
            self._gbt_raw.clear()
            self._gbt.reset()
            return message
        self._gbt_raw.append(message.raw)
        if joined is None:
            return None
        raw = b"".join(self._gbt_raw)
        frames = len(self._gbt_raw)
        self._gbt_raw.clear()
        return HdlcFrame(
            information=LLC_HEADERS[0] + joined,
            raw=raw,
            destination=message.destination,
            source=message.source,
            control=message.control,
            segmentation=message.segmentation,
            segments=frames,
        )
