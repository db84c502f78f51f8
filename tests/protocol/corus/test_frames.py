"""Message building and checking (sans-I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.amshan_corus.protocol.corus import frames
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusCrcError,
    CorusEncodeError,
    CorusProtocolError,
)


def test_parameter_ids_one_and_two_bytes() -> None:
    assert frames.encode_parameter_id(0) == b"\x00"
    assert frames.encode_parameter_id(238) == b"\xee"
    assert frames.encode_parameter_id(239) == b"\xf0\xef"
    assert frames.encode_parameter_id(409) == b"\xf1\x99"
    assert frames.decode_parameter_ids(b"\x5e\x01\xf1\x18\xee\xf0\xef") == [94, 1, 280, 238, 239]
    with pytest.raises(CorusEncodeError):
        frames.encode_parameter_id(0x1000)
    with pytest.raises(CorusProtocolError):
        frames.decode_parameter_ids(b"\x01\xf1")


def test_reply_round_trip_and_damage() -> None:
    frame = frames.build_reply(b"abc")
    assert frame == b"\x01\x03abc\x03" + frame[-2:]
    assert frames.reply_payload(frame) == b"abc"
    with pytest.raises(CorusCrcError):
        frames.reply_payload(frame[:-1] + bytes([frame[-1] ^ 1]))
    with pytest.raises(CorusProtocolError, match="ETX"):
        frames.reply_payload(frame[:5] + b"\x04" + frame[6:])
    with pytest.raises(CorusProtocolError, match="malformed"):
        frames.reply_payload(frame[:-1])


def test_payload_limit() -> None:
    assert len(frames.build_reply(bytes(255))) == 260
    with pytest.raises(CorusEncodeError):
        frames.build_reply(bytes(256))


def test_parse_request_kinds() -> None:
    read = frames.parse_request(frames.build_read_request([94, 280]))
    assert (read.command, read.payload) == (frames.CMD_READ, b"\x5e\xf1\x18")
    assert frames.parse_request(frames.BREAK).command == frames.CMD_BREAK
    database = frames.build_database_request("hourly", datetime(2020, 1, 1, tzinfo=UTC), None, UTC)
    assert frames.parse_request(database).payload[0] == 1
    with pytest.raises(CorusCrcError):
        frames.parse_request(database[:-1] + b"\x00")
    with pytest.raises(CorusEncodeError):
        frames.build_database_request("weekly", None, None, UTC)


def test_find_password() -> None:
    assert frames.find_password(b"PASS\xe0") is None
    assert frames.find_password(b"PASS\xe0\xae") == b"PASS"
    long = b"a much longer secret"
    assert frames.find_password(frames.password_message(long)) == long


def test_plan_read_batches_respects_both_directions() -> None:
    # 40 Index9 values: 360 reply bytes -> two requests although the ids are 40 bytes.
    batches = frames.plan_read_batches([(100 + i, 9) for i in range(40)])
    assert [len(b) for b in batches] == [28, 12]
    # 200 two-byte ids of 1-byte values: 400 request bytes -> two requests.
    batches = frames.plan_read_batches([(300 + i, 1) for i in range(200)])
    assert [len(b) for b in batches] == [127, 73]
    assert frames.plan_read_batches([]) == []


def test_database_frames_split_and_number() -> None:
    data = bytes(range(52)) * 10
    built = frames.build_database_frames(52, data, max_payload=100)
    parsed = [
        frames.parse_database_frame(frames.reply_payload(f), first=i == 0)
        for i, f in enumerate(built)
    ]
    assert [p.number for p in parsed] == list(range(len(built)))
    assert [p.last for p in parsed] == [False] * (len(built) - 1) + [True]
    assert parsed[0].record_size == 52
    assert b"".join(p.data for p in parsed) == data
    assert all(len(f) <= 105 for f in built)
