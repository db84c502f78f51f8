"""Corus/I-FLAG messages: building and checking the bytes of every frame (sans-I/O).

Public API:
- Session bytes: `WAKEUP_BYTE`, `WAKEUP_REPLY` (three NULs), `SIGN_ON` (`/?!\\r\\n`),
  `OPTION_SELECT` (`06 '0' '7' '6' CR LF`), `ACK`, `NAK`, `BREAK` (`01 'B' '0' 03` + CRC).
- Password: `password_message(password)` (password + CRC) and `find_password(buffer)` (the
  password a converter sent, found by its CRC, or None while incomplete).
- Requests (client -> converter, `SOH CMD LEN payload ETX CRC`): `encode_parameter_id`,
  `build_read_request(ids)`, `build_write_request([(id, value_bytes)...])`,
  `build_database_request(database, newest, oldest, tz)`, and for the device side
  `parse_request(frame) -> Request` and `decode_parameter_ids(payload)`.
- Replies (converter -> client, `SOH LEN payload ETX CRC`, no command byte):
  `build_reply(payload)`, `reply_payload(frame)` (checks ETX and CRC).
- Database replies: `DatabaseFrame` / `parse_database_frame(payload, first)` and
  `build_database_frames(record_size, data)`.
- `plan_read_batches(sizes)`: split a parameter read so that the request's id bytes and the
  reply's value bytes each stay within one frame (255 bytes).
- `DATABASES`: database name -> number (interval 0, hourly 1, daily 2, monthly 3, event 4,
  parameter 5).

Parameter ids below 239 take one byte, others two (`0xF000 | id`, big-endian), as iflag 1.0.1
does (so 239 itself is `F0 EF`). A database frame's payload starts with its number (uint16
little-endian, bit 15 = last frame); the first frame then has the record size; records run
across frame boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from .crc import crc_bytes, crc_ok
from .datatypes import DATE
from .errors import CorusCrcError, CorusEncodeError, CorusProtocolError

SOH = 0x01
ETX = 0x03
ACK = b"\x06"
NAK = b"\x15"
WAKEUP_BYTE = b"\x00"
WAKEUP_REPLY = b"\x00\x00\x00"
SIGN_ON = b"/?!\r\n"
OPTION_SELECT = b"\x06076\r\n"
BREAK_BODY = b"\x01B0\x03"
BREAK = BREAK_BODY + crc_bytes(BREAK_BODY)

CMD_READ = 0xBF
CMD_WRITE = 0xFF
CMD_DATABASE = 0xBE
CMD_BREAK = ord("B")

MAX_PAYLOAD = 255
TWO_BYTE_ID_FROM = 239
MAX_PARAMETER_ID = 0x0FFF
LAST_FRAME = 0x8000
DATABASE_OPTIONS = b"\xf9\xff\xff\xff"  # "all values", as iflag sends
DATABASES = {"interval": 0, "hourly": 1, "daily": 2, "monthly": 3, "event": 4, "parameter": 5}


def encode_parameter_id(parameter_id: int) -> bytes:
    """One byte below 239, else `0xF000 | id` as two bytes big-endian."""
    if not 0 <= parameter_id <= MAX_PARAMETER_ID:
        raise CorusEncodeError(f"parameter id {parameter_id} is outside 0-{MAX_PARAMETER_ID}")
    if parameter_id < TWO_BYTE_ID_FROM:
        return bytes([parameter_id])
    return (0xF000 | parameter_id).to_bytes(2, "big")


def decode_parameter_id(data: bytes, offset: int) -> tuple[int, int]:
    """The parameter id starting at `offset` and the offset after it."""
    first = data[offset]
    if first >= 0xF0:
        if offset + 1 >= len(data):
            raise CorusProtocolError("parameter id cut short")
        return ((first & 0x0F) << 8) | data[offset + 1], offset + 2
    return first, offset + 1


def decode_parameter_ids(payload: bytes) -> list[int]:
    """The ids of a read request's payload."""
    ids, offset = [], 0
    while offset < len(payload):
        parameter_id, offset = decode_parameter_id(payload, offset)
        ids.append(parameter_id)
    return ids


def _frame(head: bytes, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise CorusEncodeError(f"payload of {len(payload)} bytes exceeds one frame (255)")
    body = head + bytes([len(payload)]) + payload + bytes([ETX])
    return body + crc_bytes(body)


def build_request(command: int, payload: bytes) -> bytes:
    """`SOH CMD LEN payload ETX CRC`."""
    return _frame(bytes([SOH, command]), payload)


def build_read_request(parameter_ids: Iterable[int]) -> bytes:
    """Read the values of `parameter_ids`; LEN counts id bytes, not ids."""
    return build_request(CMD_READ, b"".join(encode_parameter_id(i) for i in parameter_ids))


def build_write_request(items: Iterable[tuple[int, bytes]]) -> bytes:
    """Write each `(id, encoded value)`; two-byte ids keep their data (unlike iflag 1.0.1)."""
    return build_request(CMD_WRITE, b"".join(encode_parameter_id(i) + v for i, v in items))


def build_database_request(
    database: str | int, newest: datetime | None, oldest: datetime | None, tz: tzinfo
) -> bytes:
    """Read `database` from `newest` down to `oldest` (None: no limit, sent as zeros)."""
    number = DATABASES.get(database) if isinstance(database, str) else database
    if number is None or not 0 <= number <= 0xFF:
        raise CorusEncodeError(f"unknown database {database!r} (known: {', '.join(DATABASES)})")

    def date(value: datetime | None) -> bytes:
        return b"\x00\x00\x00\x00" if value is None else DATE.encode(value, tz)

    payload = bytes([number]) + DATABASE_OPTIONS + date(newest) + date(oldest)
    return build_request(CMD_DATABASE, payload)


def build_reply(payload: bytes) -> bytes:
    """`SOH LEN payload ETX CRC` (a converter's answer)."""
    return _frame(bytes([SOH]), payload)


def reply_payload(frame: bytes) -> bytes:
    """The payload of a complete reply frame, after checking its framing and CRC."""
    if len(frame) < 5 or frame[0] != SOH or len(frame) != frame[1] + 5:
        raise CorusProtocolError(f"malformed reply frame {frame[:8].hex(' ')}...")
    if frame[-3] != ETX:
        raise CorusProtocolError(f"reply frame has {frame[-3]:02x} where ETX belongs")
    if not crc_ok(frame[:-2], frame[-2:]):
        raise CorusCrcError(
            f"reply CRC {frame[-2:].hex(' ')} does not match {crc_bytes(frame[:-2]).hex(' ')}"
        )
    return frame[2:-3]


@dataclass(frozen=True, slots=True)
class Request:
    """A request as a converter receives it (`payload` is empty for the break)."""

    command: int
    payload: bytes


def parse_request(frame: bytes) -> Request:
    """Check a complete request frame (CRC included) and split it."""
    if len(frame) < 6 or frame[0] != SOH:
        raise CorusProtocolError(f"malformed request frame {frame[:8].hex(' ')}")
    if not crc_ok(frame[:-2], frame[-2:]):
        raise CorusCrcError("request CRC does not match")
    if frame[1] == CMD_BREAK:
        if frame != BREAK:
            raise CorusProtocolError(f"malformed break {frame.hex(' ')}")
        return Request(CMD_BREAK, b"")
    if len(frame) != frame[2] + 6 or frame[-3] != ETX:
        raise CorusProtocolError(f"malformed request frame {frame[:8].hex(' ')}")
    return Request(frame[1], frame[3:-3])


def password_message(password: bytes) -> bytes:
    """The password as sent on the wire: its bytes, then their CRC."""
    return password + crc_bytes(password)


def find_password(buffer: bytes) -> bytes | None:
    """The password at the start of `buffer` if its CRC has arrived after it, else None.

    A converter sends its password without a length or terminator: the first position where
    the two following bytes are the CRC of everything before them ends it.
    """
    for end in range(1, len(buffer) - 1):
        if crc_ok(buffer[:end], buffer[end : end + 2]):
            return buffer[:end]
    return None


def plan_read_batches(sizes: Sequence[tuple[int, int]]) -> list[list[int]]:
    """Group `(parameter id, value length)` items, by position, into frame-sized requests."""
    batches: list[list[int]] = []
    current: list[int] = []
    id_bytes = value_bytes = 0
    for index, (parameter_id, length) in enumerate(sizes):
        width = len(encode_parameter_id(parameter_id))
        if length > MAX_PAYLOAD:
            raise CorusEncodeError(f"parameter {parameter_id} does not fit in one frame")
        if current and (id_bytes + width > MAX_PAYLOAD or value_bytes + length > MAX_PAYLOAD):
            batches.append(current)
            current, id_bytes, value_bytes = [], 0, 0
        current.append(index)
        id_bytes += width
        value_bytes += length
    if current:
        batches.append(current)
    return batches


@dataclass(frozen=True, slots=True)
class DatabaseFrame:
    """One frame of a database answer."""

    number: int
    last: bool
    record_size: int | None  # only in the first frame
    data: bytes


def parse_database_frame(payload: bytes, first: bool) -> DatabaseFrame:
    """Split a database frame's (CRC-checked) payload."""
    if len(payload) < (3 if first else 2):
        raise CorusProtocolError(f"database frame of {len(payload)} bytes is too short")
    word = int.from_bytes(payload[:2], "little")
    number, last = word & ~LAST_FRAME, bool(word & LAST_FRAME)
    if first:
        return DatabaseFrame(number, last, payload[2], payload[3:])
    return DatabaseFrame(number, last, None, payload[2:])


def build_database_frames(record_size: int, data: bytes, max_payload: int = 250) -> list[bytes]:
    """The reply frames carrying `data` (whole records, newest first); one frame if empty."""
    if not 4 <= max_payload <= MAX_PAYLOAD:
        raise CorusEncodeError(f"database frame payload {max_payload} outside 4-255")
    chunks = [data[: max_payload - 3]]
    rest = data[max_payload - 3 :]
    while rest:
        chunks.append(rest[: max_payload - 2])
        rest = rest[max_payload - 2 :]
    if len(chunks) > LAST_FRAME:
        raise CorusEncodeError("too many database frames")
    frames = []
    for number, chunk in enumerate(chunks):
        word = number | (LAST_FRAME if number == len(chunks) - 1 else 0)
        head = word.to_bytes(2, "little") + (bytes([record_size]) if number == 0 else b"")
        frames.append(build_reply(head + chunk))
    return frames
