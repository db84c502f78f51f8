"""Property tests of the Corus codec, frames and client (hypothesis).

Round trips: every data type encodes and decodes its values unchanged; frames carry any payload.
Robustness: arbitrary bytes, where a value, a frame or a whole device reply belongs, give a
typed `CorusError` (never `ValueError`, `InvalidOperation`, a bare `OSError` or a hang).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
import struct
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import assume, example, given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.corus import datatypes as dt, frames
from custom_components.amshan_corus.protocol.corus.client import CorusClient, CorusReading
from custom_components.amshan_corus.protocol.corus.databases import layouts_for
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusDecodeError,
    CorusEncodeError,
    CorusError,
    CorusProtocolError,
)
from custom_components.amshan_corus.protocol.corus.firmware import get_parameter_map

pytestmark = pytest.mark.usefixtures("socket_enabled")  # the client tests use 127.0.0.1

EXAMPLES = settings(max_examples=200)

UNSIGNED = [dt.WORD, dt.EWORD, dt.ULONG, dt.EULONG]
ALL_TYPES = list(dt.DATA_TYPES.values())
ZONES = st.sampled_from([UTC, ZoneInfo("Europe/Oslo"), timezone(timedelta(hours=-5))])


def not_all_ff(length: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=length, max_size=length).filter(lambda b: b != b"\xff" * length)


# ---------------------------------------------------------------- values -> bytes -> values


@EXAMPLES
@given(st.data())
def test_unsigned_round_trip(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(UNSIGNED))
    value = data.draw(st.integers(0, 256**kind.length - 2))  # all-FF means "no value"
    assert kind.decode(kind.encode(value)) == value
    assert kind.decode(kind.encode(Decimal(value))) == value


@EXAMPLES
@given(st.integers(0, 254))
def test_byte_round_trip(value: int) -> None:
    decoded = dt.BYTE.decode(dt.BYTE.encode(value))
    assert decoded == value
    assert type(decoded) is int


@EXAMPLES
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
@example(3.4025001647762064e38)  # rounding to few digits overflows float32: must not escape
def test_float_round_trip_is_exact_to_float32(value: float) -> None:
    data = dt.FLOAT.encode(value)
    assume(data != b"\xff" * 4)
    decoded = dt.FLOAT.decode(data)
    assert isinstance(decoded, Decimal)
    assert struct.pack("<f", float(decoded)) == data  # the decimal names exactly this float32
    assert dt.FLOAT.encode(decoded) == data


@EXAMPLES
@given(st.integers(-32768, 32767).filter(lambda n: n != -1))  # -1 is ff ff: no value
def test_float1_round_trip(hundredths: int) -> None:
    value = Decimal(hundredths).scaleb(-2)
    assert dt.FLOAT1.decode(dt.FLOAT1.encode(value)) == value
    assert dt.FLOAT1.encode(value) == hundredths.to_bytes(2, "little", signed=True)


@EXAMPLES
@given(st.data())
def test_float2_float3_round_trip(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from([dt.FLOAT2, dt.FLOAT3]))
    assert isinstance(kind, dt.Float2Type | dt.Float3Type)
    field = data.draw(st.integers(0, len(kind.exponents) - 1))
    top = (1 << kind.mantissa_bits) - (2 if field == len(kind.exponents) - 1 else 1)
    mantissa = data.draw(st.integers(0, top))
    value = Decimal(mantissa).scaleb(kind.exponents[field])
    assert kind.decode(kind.encode(value)) == value


@EXAMPLES
@given(st.data())
def test_index_round_trip(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from([dt.INDEX, dt.INDEX9]))
    integer = data.draw(st.integers(0, 256 ** (kind.length - 4) - 2))
    fraction = data.draw(st.integers(0, 99_999_999))
    value = Decimal(integer) + Decimal(fraction).scaleb(-8)
    decoded = kind.decode(kind.encode(value))
    assert decoded == value
    assert "E+" not in str(decoded)  # 1000, never 1E+3


@EXAMPLES
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2063, 12, 31, 23, 59, 59)),
    ZONES,
)
def test_date_round_trip(moment: datetime, tz: ZoneInfo) -> None:
    moment = moment.replace(microsecond=0)
    assume(moment != datetime(2000, 1, 1))  # all-zero bytes mean "no value"
    decoded = dt.DATE.decode(dt.DATE.encode(moment, tz), tz)
    assert decoded == moment.replace(tzinfo=tz)
    assert isinstance(decoded, datetime)
    assert decoded.tzinfo is tz


@EXAMPLES
@given(st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=8))
def test_corus_string_round_trip(text: str) -> None:
    assume(text != "\xff" * 8)
    assert dt.CORUS_STRING.decode(dt.CORUS_STRING.encode(text)) == text.rstrip("\x00")


# ---------------------------------------------------------------- bytes -> values -> bytes


@EXAMPLES
@given(st.data())
def test_exact_types_reencode_to_the_same_bytes(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from([*UNSIGNED, dt.BYTE, dt.FLOAT1]))
    raw = data.draw(not_all_ff(kind.length))
    assert kind.encode(kind.decode(raw)) == raw


@EXAMPLES
@given(st.data())
def test_any_bytes_decode_to_a_value_or_a_decode_error(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(ALL_TYPES))
    raw = data.draw(st.binary(min_size=kind.length, max_size=kind.length))
    tz = data.draw(ZONES)
    try:
        value = kind.decode(raw, tz)
    except CorusDecodeError:
        return
    if value is None:
        return
    assert kind.decode(kind.encode(value, tz), tz) == value  # whatever decodes re-encodes


@EXAMPLES
@given(st.data())
def test_wrong_length_is_a_decode_error(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(ALL_TYPES))
    raw = data.draw(st.binary(max_size=12).filter(lambda b: len(b) != kind.length))
    with pytest.raises(CorusDecodeError):
        kind.decode(raw)


@EXAMPLES
@given(
    st.sampled_from([t for t in ALL_TYPES if t not in (dt.NULL2, dt.NULL4)]),
    st.one_of(
        st.text(max_size=12),
        st.floats(),
        st.integers(-(2**70), 2**70),
        st.decimals(),
        st.datetimes(),
        st.booleans(),
    ),
)
def test_encoding_anything_gives_bytes_or_an_encode_error(kind: dt.DataType, value: object) -> None:
    try:
        data = kind.encode(value)  # type: ignore[arg-type]
    except CorusEncodeError:
        return
    assert len(data) == kind.length
    assert data != b"\xff" * kind.length


# ---------------------------------------------------------------- frames and records


@EXAMPLES
@given(st.binary(max_size=255))
def test_reply_frame_round_trip(payload: bytes) -> None:
    assert frames.reply_payload(frames.build_reply(payload)) == payload


@EXAMPLES
@given(st.lists(st.integers(0, frames.MAX_PARAMETER_ID), min_size=1, max_size=60))
def test_read_request_round_trip(ids: list[int]) -> None:
    assume(sum(len(frames.encode_parameter_id(i)) for i in ids) <= frames.MAX_PAYLOAD)
    request = frames.parse_request(frames.build_read_request(ids))
    assert request.command == frames.CMD_READ
    assert frames.decode_parameter_ids(request.payload) == ids


@EXAMPLES
@given(st.integers(1, 255), st.data())
def test_database_frames_round_trip(record_size: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(0, 2000 // record_size))
    records = data.draw(st.binary(min_size=count * record_size, max_size=count * record_size))
    payload_size = data.draw(st.integers(4, 255))
    received, sizes = b"", []
    wire = frames.build_database_frames(record_size, records, payload_size)
    for number, frame in enumerate(wire):
        parsed = frames.parse_database_frame(frames.reply_payload(frame), first=number == 0)
        assert parsed.number == number
        assert parsed.last == (number == len(wire) - 1)
        sizes.append(parsed.record_size)
        received += parsed.data
    assert received == records
    assert sizes[0] == record_size
    assert all(size is None for size in sizes[1:])


@EXAMPLES
@given(st.binary(max_size=300))
def test_garbage_reply_frame_is_a_protocol_error(garbage: bytes) -> None:
    try:
        payload = frames.reply_payload(garbage)
    except CorusProtocolError:
        return
    assert frames.build_reply(payload) == garbage  # only a well-formed frame gets through


@EXAMPLES
@given(st.binary(max_size=300))
def test_garbage_request_frame_is_a_protocol_error(garbage: bytes) -> None:
    try:
        request = frames.parse_request(garbage)
    except CorusProtocolError:
        return
    assert request.command in (frames.CMD_BREAK, garbage[1])


@EXAMPLES
@given(st.data())
def test_any_record_bytes_parse_or_give_a_protocol_error(data: st.DataObject) -> None:
    database = data.draw(st.sampled_from(["interval", "hourly", "daily", "monthly"]))
    layout = data.draw(st.sampled_from(list(layouts_for(database).values())))
    raw = data.draw(st.binary(min_size=layout.length, max_size=layout.length))
    pulse_weight = data.draw(st.decimals(allow_nan=False, allow_infinity=False, places=6))
    try:
        values = layout.parse(raw, pulse_weight, data.draw(ZONES))
    except CorusProtocolError:
        return
    assert set(values) <= {f.name for f in layout.fields}


# ---------------------------------------------------------------- the client against garbage

# Seconds per step against a silent device (each such example costs one); a device that has
# closed ends every wait at once, so there a generous timeout costs nothing and keeps a busy
# machine from turning a good answer into a timeout.
SILENT_TIMEOUT = 0.25
CLOSED_TIMEOUT = 5.0
HANG_GUARD = 30.0  # far beyond any step's timeout: only a real hang reaches it
NET_EXAMPLES = settings(max_examples=60)
SIGN_ON = frames.WAKEUP_REPLY + b"/SIM5CORUS\r\n" + frames.password_message(b"PASS") + frames.ACK
MAP_REPLY = frames.build_reply(b"FL_b0040")


async def _serve_script(
    script: bytes, close: bool, job: Callable[[CorusClient], Awaitable[object]]
) -> object:
    """Serve `script` as everything the device says, then run `job` against it.

    The device sends its bytes at once (the client reads them in order, as from a converter
    that answers each step in time), then half-closes if `close`, else goes silent; it reads
    and drops what the client sends so the client never blocks on a full buffer.
    """

    async def device(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(script)
        with suppress(OSError):
            await writer.drain()
            if close:
                writer.write_eof()
            while await reader.read(4096):
                pass
        writer.close()

    server = await asyncio.start_server(device, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = CorusClient("127.0.0.1", port, timeout=CLOSED_TIMEOUT if close else SILENT_TIMEOUT)
    try:
        async with asyncio.timeout(HANG_GUARD):
            return await job(client)
    finally:
        server.close()
        await server.wait_closed()


def run_against(
    script: bytes, close: bool, job: Callable[[CorusClient], Awaitable[object]]
) -> object:
    """Run one example on its own loop: the outcome, or the CorusError the client raised."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_serve_script(script, close, job))
    except CorusError as err:
        return err
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def read_all(client: CorusClient) -> Awaitable[object]:
    return client.read_all()


def read_hourly(client: CorusClient) -> Awaitable[object]:
    return client.read_database("hourly")


@NET_EXAMPLES
@given(st.binary(max_size=400), st.sampled_from([True, True, True, False]))
def test_garbage_from_the_first_byte(garbage: bytes, close: bool) -> None:
    outcome = run_against(garbage, close, read_all)
    assert isinstance(outcome, CorusError)


@NET_EXAMPLES
@given(
    st.binary(max_size=400),
    st.sampled_from([read_all, read_hourly]),
    st.sampled_from([True, True, True, False]),  # a silent device costs a timeout
)
def test_garbage_after_sign_on(garbage: bytes, job: Callable[..., Any], close: bool) -> None:
    outcome = run_against(SIGN_ON + garbage, close, job)
    assert isinstance(outcome, CorusError | CorusReading | list)


@NET_EXAMPLES
@given(st.data())
def test_well_framed_parameter_reply_with_any_payload(data: st.DataObject) -> None:
    definitions = get_parameter_map("b0040").definitions()
    expected = sum(d.type.length for d in definitions)
    size = data.draw(st.sampled_from([expected, expected, expected - 1, expected + 1, 0]))
    payload = data.draw(st.binary(min_size=size, max_size=size))
    script = SIGN_ON + MAP_REPLY + frames.build_reply(payload)
    outcome = run_against(script, True, read_all)
    if size != expected:
        assert isinstance(outcome, CorusProtocolError)
    else:
        assert isinstance(outcome, CorusReading | CorusDecodeError)


@NET_EXAMPLES
@given(st.data())
def test_well_framed_database_reply_with_any_records(data: st.DataObject) -> None:
    record_size = data.draw(st.sampled_from([0, 52, 90, 92, 53]) | st.integers(0, 255))
    count = data.draw(st.integers(0, 6))
    size = count * max(record_size, 1)
    records = data.draw(st.binary(min_size=size, max_size=max(size, 600)))
    pulse_weight = data.draw(st.binary(min_size=4, max_size=4))
    script = (
        SIGN_ON
        + b"".join(frames.build_database_frames(record_size, records))
        + frames.build_reply(pulse_weight)
    )
    outcome = run_against(script, True, read_hourly)
    assert isinstance(outcome, CorusError | list)
    if isinstance(outcome, list):
        assert len(outcome) * record_size == len(records)
