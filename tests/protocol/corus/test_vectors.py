"""Every vector of corus_vectors.txt: the codec (sections 1-9) and the mock sessions (section 10).

Where iflag 1.0.1 has a bug the vector documents, the test asserts our documented behaviour
instead (and says so): Float1 encoding scales by 100, id >= 239 writes keep their data, an
all-zero Date is "no value", an overflowing Float is refused/None, Float decodes to the
shortest round-tripping decimal, CorusString refuses more than 8 characters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
import re

import pytest

from custom_components.amshan_corus.protocol.corus import datatypes as dt, frames
from custom_components.amshan_corus.protocol.corus.client import CorusClient, CorusSession
from custom_components.amshan_corus.protocol.corus.crc import crc_bytes
from custom_components.amshan_corus.protocol.corus.databases import get_layout
from custom_components.amshan_corus.protocol.corus.errors import (
    CorusDecodeError,
    CorusEncodeError,
)
from custom_components.amshan_corus.protocol.corus.firmware import (
    PARAMETER_MAP_VERSION,
    PULSE_WEIGHT,
    ParameterDefinition,
)
from tests.conftest import SHARED_VECTORS

VECTORS = (SHARED_VECTORS / "corus_vectors.txt").read_text()


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ---------------------------------------------------------------- §1 upstream tests, §7 Index


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        (dt.INDEX, b"\x14.\x00\x00\x80\x1d,\x04", Decimal("11796.7")),
        (dt.INDEX9, b"\x14.\x00\x00\x00\x80\x1d,\x04", Decimal("11796.7")),
    ],
)
def test_upstream_index_tests(kind: dt.DataType, data: bytes, expected: Decimal) -> None:
    assert kind.decode(data) == expected


# ---------------------------------------------------------------- §3 device bytes, §4 CRC


def test_device_session_constants() -> None:
    assert h("2f 3f 21 0d 0a") == frames.SIGN_ON
    assert h("06 30 37 36 0d 0a") == frames.OPTION_SELECT
    assert frames.password_message(b"PASS") == h("50 41 53 53 e0 ae")
    assert h("01 42 30 03 21 31") == frames.BREAK
    assert h("00 00 00") == frames.WAKEUP_REPLY


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", "e8 fe"),
        (b"PASS", "e0 ae"),
        (h("01 42 30 03"), "21 31"),
        (h("01 be 0d 00 f9 ff 0f 38 00 00 00 00 00 00 00 00 03"), "fa 0e"),
        (h("01 be 0d 04 7a 00 00 00 00 00 00 00 00 00 00 00 03"), "c1 e3"),
    ],
)
def test_crc_vectors(data: bytes, crc: str) -> None:
    assert crc_bytes(data) == h(crc)


# ---------------------------------------------------------------- §5 request frames

READ_REQUEST = re.compile(r"^ReadRequest\((\[[\d, ]+\])\)\s+-> ([0-9a-f ]+?)\s*$", re.M)


def test_every_read_request_vector() -> None:
    found = READ_REQUEST.findall(VECTORS)
    assert len(found) == 14
    for ids_text, frame in found:
        ids = [int(i) for i in ids_text.strip("[]").split(",")]
        assert frames.build_read_request(ids) == h(frame), ids_text


@pytest.mark.parametrize(
    ("items", "frame"),
    [
        (
            [(106, dt.DATE.encode(datetime(2020, 10, 7, 13, 42, 27)))],
            "01 ff 05 6a 9b da 8e 52 03 44 d7",
        ),
        ([(1, dt.FLOAT.encode(Decimal("0.1")))], "01 ff 05 01 cd cc cc 3d 03 90 d8"),
        ([(107, dt.WORD.encode(Decimal(1000)))], "01 ff 03 6b e8 03 03 53 b2"),
    ],
)
def test_write_request_vectors(items: list[tuple[int, bytes]], frame: str) -> None:
    assert frames.build_write_request(items) == h(frame)


def test_write_request_two_byte_id_keeps_its_data() -> None:
    """iflag 1.0.1 sends `01 ff 02 f1 18 03 f5 a4` (data dropped); we keep the data."""
    frame = frames.build_write_request([(280, dt.FLOAT.encode(Decimal("1.5")))])
    assert frame[:9] == h("01 ff 06 f1 18 00 00 c0 3f")
    assert frame != h("01 ff 02 f1 18 03 f5 a4")
    assert frame[-2:] == crc_bytes(frame[:-2])


@pytest.mark.parametrize(
    ("database", "newest", "oldest", "frame"),
    [
        ("interval", None, None, "01 be 0d 00 f9 ff ff ff 00 00 00 00 00 00 00 00 03 48 2d"),
        ("hourly", None, None, "01 be 0d 01 f9 ff ff ff 00 00 00 00 00 00 00 00 03 4a ac"),
        ("daily", None, None, "01 be 0d 02 f9 ff ff ff 00 00 00 00 00 00 00 00 03 49 af"),
        ("monthly", None, None, "01 be 0d 03 f9 ff ff ff 00 00 00 00 00 00 00 00 03 4b 2e"),
        ("event", None, None, "01 be 0d 04 f9 ff ff ff 00 00 00 00 00 00 00 00 03 4f a9"),
        ("parameter", None, None, "01 be 0d 05 f9 ff ff ff 00 00 00 00 00 00 00 00 03 4d 28"),
        (
            "interval",
            datetime(2020, 10, 7, 12),
            datetime(2020, 10, 7, 8),
            "01 be 0d 00 f9 ff ff ff 00 c0 8e 52 00 80 8e 52 03 b7 bf",
        ),
        (
            "interval",
            datetime(2020, 10, 7, 12),
            datetime(2020, 10, 7, 10),
            "01 be 0d 00 f9 ff ff ff 00 c0 8e 52 00 a0 8e 52 03 bb 3f",
        ),
        (
            "daily",
            datetime(2021, 1, 1),
            datetime(2020, 12, 1),
            "01 be 0d 02 f9 ff ff ff 00 00 42 54 00 00 02 53 03 14 e3",
        ),
    ],
)
def test_database_request_vectors(
    database: str, newest: datetime | None, oldest: datetime | None, frame: str
) -> None:
    assert frames.build_database_request(database, newest, oldest, UTC) == h(frame)


def test_device_database_requests() -> None:
    """§3: the real device requests used other option masks; frame + CRC still match."""
    for db, options, crc in ((0, "f9 ff 0f 38", "fa 0e"), (4, "7a 00 00 00", "c1 e3")):
        payload = bytes([db]) + h(options) + bytes(8)
        assert frames.build_request(frames.CMD_DATABASE, payload)[-2:] == h(crc)


# ---------------------------------------------------------------- §6 Date


@pytest.mark.parametrize(
    ("when", "data"),
    [
        (datetime(2000, 1, 1, 0, 0, 0), "00 00 42 00"),
        (datetime(2020, 1, 8, 14, 25, 23), "57 e6 50 50"),
        (datetime(2020, 10, 7, 13, 42, 27), "9b da 8e 52"),
        (datetime(2024, 2, 29, 12, 30, 45), "ad c7 ba 60"),
        (datetime(2063, 12, 31, 23, 59, 59), "fb 7e 3f ff"),
    ],
)
def test_date_vectors(when: datetime, data: str) -> None:
    assert dt.DATE.encode(when) == h(data)
    assert dt.DATE.decode(h(data)) == when.replace(tzinfo=UTC)


def test_date_no_value() -> None:
    assert dt.DATE.decode(h("ff ff ff ff")) is None
    # iflag raises ValueError("month must be in 1..12"); an all-zero Date means "no value".
    assert dt.DATE.decode(h("00 00 00 00")) is None


# ---------------------------------------------------------------- §7 decode


DECODE = [
    (dt.BYTE, "00", 0),
    (dt.BYTE, "07", 7),
    (dt.BYTE, "ff", None),
    (dt.WORD, "e8 03", Decimal(1000)),
    (dt.WORD, "fe ff", Decimal(65534)),
    (dt.WORD, "ff ff", None),
    (dt.EWORD, "40 42 0f", Decimal(1000000)),
    (dt.EWORD, "ff ff ff", None),
    (dt.ULONG, "40 42 0f 00", Decimal(1000000)),
    (dt.ULONG, "ff ff ff ff", None),
    (dt.EULONG, "00 e4 0b 54 02", Decimal(10000000000)),
    (dt.EULONG, "ff ff ff ff ff", None),
    (dt.FLOAT, "cd cc cc 3d", Decimal("0.1")),
    (dt.FLOAT, "00 00 80 3f", Decimal(1)),
    (dt.FLOAT, "00 50 7d 44", Decimal("1013.25")),
    (dt.FLOAT, "00 00 70 41", Decimal(15)),
    (dt.FLOAT, "33 13 90 43", Decimal("288.15")),  # iflag: 288.149994 (6 dp of the float)
    (dt.FLOAT, "a4 70 45 c1", Decimal("-12.34")),
    (dt.FLOAT, "65 20 f1 47", Decimal("123456.79")),  # iflag: 123456.789062
    (dt.FLOAT, "ca f2 49 71", Decimal("1E+30")),  # iflag: decimal.InvalidOperation
    (dt.FLOAT, "00 00 80 7f", None),  # +inf; iflag: decimal.InvalidOperation
    (dt.FLOAT, "00 00 c0 7f", None),  # NaN; iflag: Decimal('NaN')
    (dt.FLOAT, "ff ff ff ff", None),
    (dt.FLOAT1, "b4 f9", Decimal("-16.12")),
    (dt.FLOAT1, "66 08", Decimal("21.5")),
    (dt.FLOAT1, "fe ff", Decimal("-0.02")),
    (dt.FLOAT1, "ff ff", None),
    (dt.FLOAT2, "f5 03", Decimal("1.013")),
    (dt.FLOAT2, "f5 83", Decimal("10.13")),
    (dt.FLOAT2, "94 91", Decimal("45.00")),
    (dt.FLOAT2, "fe ff", Decimal("327.66")),
    (dt.FLOAT2, "ff ff", None),
    (dt.FLOAT3, "d2 04", Decimal("123.4")),
    (dt.FLOAT3, "d2 44", Decimal(1234)),
    (dt.FLOAT3, "d2 84", Decimal(12340)),
    (dt.FLOAT3, "d2 c4", Decimal(123400)),
    (dt.FLOAT3, "fe ff", Decimal(1638200)),
    (dt.FLOAT3, "ff ff", None),
    (dt.INDEX, "14 2e 00 00 80 1d 2c 04", Decimal("11796.7")),
    (dt.INDEX, "47 94 03 00 c0 69 da 05", Decimal("234567.982")),
    (dt.INDEX, "ff ff ff ff ff ff ff ff", None),
    (dt.INDEX9, "14 2e 00 00 00 80 1d 2c 04", Decimal("11796.7")),
    (dt.INDEX9, "00 e4 0b 54 02 4e 61 bc 00", Decimal("10000000000.12345678")),
    (dt.CORUS_STRING, "46 4c 5f 62 30 30 34 30", "FL_b0040"),
    (dt.CORUS_STRING, "46 4c 5f 4d 35 41 30 30", "FL_M5A00"),
    (dt.CORUS_STRING, "41 33 2e 30 30 00 00 00", "A3.00"),
    (dt.CORUS_STRING, "ff ff ff ff ff ff ff ff", None),
    (dt.NULL2, "00 00", None),
    (dt.NULL4, "12 34 56 78", None),
]


@pytest.mark.parametrize(("kind", "data", "expected"), DECODE)
def test_decode_vectors(kind: dt.DataType, data: str, expected: dt.Value) -> None:
    value = kind.decode(h(data))
    assert value == expected
    assert type(value) is type(expected)


def test_byte_is_int_and_numbers_are_decimal() -> None:
    assert type(dt.BYTE.decode(b"\x07")) is int
    assert str(dt.WORD.decode(h("e8 03"))) == "1000"  # not iflag's 1E+3


# ---------------------------------------------------------------- §8 encode


ENCODE = [
    (dt.BYTE, 7, "07"),
    (dt.WORD, Decimal(1000), "e8 03"),
    (dt.EWORD, Decimal(1000000), "40 42 0f"),
    (dt.ULONG, Decimal(1000000), "40 42 0f 00"),
    (dt.EULONG, Decimal(10000000000), "00 e4 0b 54 02"),
    (dt.FLOAT, Decimal("0.1"), "cd cc cc 3d"),
    (dt.FLOAT, Decimal("1013.25"), "00 50 7d 44"),
    (dt.FLOAT1, Decimal("-16.12"), "b4 f9"),  # iflag: f0 ff (forgets the x100)
    (dt.FLOAT2, Decimal("1.013"), "f5 03"),
    (dt.FLOAT2, Decimal("10.13"), "f5 83"),
    (dt.FLOAT3, Decimal("123.4"), "d2 04"),
    (dt.FLOAT3, Decimal(1234), "d2 44"),
    (dt.CORUS_STRING, "FL_b0040", "46 4c 5f 62 30 30 34 30"),
    (dt.CORUS_STRING, "abc", "61 62 63 00 00 00 00 00"),
    (dt.DATE, datetime(2020, 10, 7, 13, 42, 27), "9b da 8e 52"),
    (dt.NULL2, None, "ff ff"),
    (dt.FLOAT, None, "ff ff ff ff"),
]


@pytest.mark.parametrize(("kind", "value", "data"), ENCODE)
def test_encode_vectors(kind: dt.DataType, value: dt.EncodableValue, data: str) -> None:
    assert kind.encode(value) == h(data)


def test_encode_vectors_where_iflag_differs() -> None:
    # iflag packs int(-1612) for Float1(-1612): -1612 hundredths do not fit an int16.
    with pytest.raises(CorusEncodeError):
        dt.FLOAT1.encode(Decimal(-1612))
    # iflag raises struct.error for Float3(12.34); we round to the nearest representable.
    assert dt.FLOAT3.encode(Decimal("12.34")) == dt.FLOAT3.encode(Decimal("12.3"))
    # iflag truncates a 9-character CorusString silently; we refuse it.
    with pytest.raises(CorusEncodeError):
        dt.CORUS_STRING.encode("123456789")


# ---------------------------------------------------------------- §9 response parsing


def test_response_frame_vector() -> None:
    frame = h(
        "01 20 46 4c 5f 62 30 30 34 30 cd cc cc 3d 9b da 8e 52 47 94 03 00 c0 69 da 05"
        " ff ff ff ff ff ff ff ff 03 f5 31"
    )
    payload = frames.reply_payload(frame)
    kinds = [dt.CORUS_STRING, dt.FLOAT, dt.DATE, dt.INDEX, dt.INDEX]
    values, offset = [], 0
    for kind in kinds:
        values.append(kind.decode(payload[offset : offset + kind.length]))
        offset += kind.length
    assert offset == len(payload)
    assert values == [
        "FL_b0040",
        Decimal("0.1"),
        datetime(2020, 10, 7, 13, 42, 27, tzinfo=UTC),
        Decimal("234567.982"),
        None,
    ]
    assert frames.build_reply(payload) == frame


# ---------------------------------------------------------------- §10 database frames


FRAME0 = h(
    "01 4b 00 00 34 3c 00 00 c0 8e 52 0c 00 0d 00 00 00 64 00 6e 00 00 00 e6 05 54 06 27 06"
    " f5 83 fc 83 f8 83 05 40 14 40 06 40 16 40 00 00 00 00 0c 40 0d 40 00 b0 8e 52 00 00 3c"
    " 00 00 b0 8e 52 00 00 00 00 00 00 58 00 61 00 00 00 d2 05 03 7e 53"
)
FRAME1 = h(
    "01 22 01 80 dc 05 d7 05 f5 03 f5 03 f5 03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 a0 8e 52 00 00 03 86 50"
)
EMPTY = h("01 03 00 80 00 03 82 72")


def test_database_frame_vectors() -> None:
    first = frames.parse_database_frame(frames.reply_payload(FRAME0), first=True)
    second = frames.parse_database_frame(frames.reply_payload(FRAME1), first=False)
    assert (first.number, first.last, first.record_size) == (0, False, 52)
    assert (second.number, second.last, second.record_size) == (1, True, None)
    data = first.data + second.data
    assert len(data) == 104
    assert frames.build_database_frames(52, data, max_payload=0x4B) == [FRAME0, FRAME1]
    empty = frames.parse_database_frame(frames.reply_payload(EMPTY), first=True)
    assert (empty.number, empty.last, empty.record_size, empty.data) == (0, True, 0, b"")
    assert frames.build_database_frames(0, b"") == [EMPTY]


def test_database_record_vectors() -> None:
    data = (
        frames.parse_database_frame(frames.reply_payload(FRAME0), first=True).data
        + frames.parse_database_frame(frames.reply_payload(FRAME1), first=False).data
    )
    layout = get_layout("interval", 52)
    assert layout is not None
    pw = Decimal("0.1")
    first = layout.parse(data[:52], pw)
    assert first == {
        "record_duration": 60,
        "status": 0,
        "end_date": datetime(2020, 10, 7, 12, tzinfo=UTC),
        "consumption_interval_unconverted": Decimal("1.2"),
        "consumption_interval_converted": Decimal("1.3"),
        "counter_interval_unconverted": Decimal(10),
        "counter_interval_converted": Decimal(11),
        "temperature_interval_minimum": Decimal("15.1"),
        "temperature_interval_maximum": Decimal("16.2"),
        "temperature_interval_average": Decimal("15.75"),
        "pressure_interval_minimum": Decimal("10.13"),
        "pressure_interval_maximum": Decimal("10.20"),
        "pressure_interval_average": Decimal("10.16"),
        "flowrate_unconverted_interval_minimum": Decimal("0.5"),
        "flowrate_unconverted_interval_maximum": Decimal("2.0"),
        "flowrate_converted_interval_minimum": Decimal("0.6"),
        "flowrate_converted_interval_maximum": Decimal("2.2"),
        "flowrate_unconverted_interval_average": Decimal("1.2"),
        "flowrate_converted_interval_average": Decimal("1.3"),
        "start_date": datetime(2020, 10, 7, 11, tzinfo=UTC),
    }
    second = layout.parse(data[52:], pw)
    assert second["consumption_interval_unconverted"] == 0
    assert second["counter_interval_unconverted"] == Decimal("8.8")
    assert second["counter_interval_converted"] == Decimal("9.7")
    assert second["temperature_interval_minimum"] == Decimal("14.9")
    assert second["temperature_interval_maximum"] == 15
    assert second["temperature_interval_average"] == Decimal("14.95")
    assert second["pressure_interval_average"] == Decimal("1.013")
    assert second["flowrate_converted_interval_average"] == 0
    assert second["end_date"] == datetime(2020, 10, 7, 11, tzinfo=UTC)
    assert second["start_date"] == datetime(2020, 10, 7, 10, tzinfo=UTC)
    # The record re-encodes byte for byte from its values (one codec, both directions).
    assert layout.encode(first, pw) == data[:52]


def test_bad_date_is_a_decode_error() -> None:
    with pytest.raises(CorusDecodeError):
        dt.DATE.decode(h("00 00 40 03"))  # month 13


# ---------------------------------------------------------------- §10 mock sessions, on TCP


class ScriptedConverter:
    """A converter that replays §10: expects the client's exact bytes, answers the device's."""

    def __init__(self, steps: list[tuple[bytes, bytes]]) -> None:
        self.steps = steps
        self.problems: list[str] = []
        self.done = asyncio.Event()
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for expected, answer in self.steps:
                got = await asyncio.wait_for(reader.readexactly(len(expected)), 5)
                if got != expected:
                    self.problems.append(f"expected {expected.hex(' ')}, got {got.hex(' ')}")
                    return
                writer.write(answer)
                await writer.drain()
            if rest := await asyncio.wait_for(reader.read(), 5):  # then only the close
                self.problems.append(f"unexpected trailing bytes {rest.hex(' ')}")
        except (TimeoutError, asyncio.IncompleteReadError) as err:
            self.problems.append(f"script stopped: {err!r}")
        finally:
            writer.close()
            self.done.set()


SIGN_ON_STEPS = [
    (bytes(200), h("00 00 00")),
    (h("2f 3f 21 0d 0a"), b"/ACT7CORUS\r\n"),
    (h("06 30 37 36 0d 0a"), h("50 41 53 53 e0 ae")),
    (h("50 41 53 53 e0 ae"), h("06")),
]
READ_STEP = (
    h("01 bf 03 5e 01 94 03 20 c9"),
    h("01 14 46 4c 5f 62 30 30 34 30 cd cc cc 3d 47 94 03 00 c0 69 da 05 03 a0 4c"),
)
WRITE_STEP = (h("01 ff 05 6a 9b da 8e 52 03 44 d7"), h("06"))
DB_REQUEST = h("01 be 0d 00 f9 ff ff ff 00 c0 8e 52 00 a0 8e 52 03 bb 3f")
# We read the pulse weight from the converter (iflag was handed 0.1): parameter 1, Float 0.1.
PULSE_WEIGHT_STEP = (h("01 bf 01 01 03 50 0a"), frames.build_reply(h("cd cc cc 3d")))
BREAK_STEP = (h("01 42 30 03 21 31"), b"")


async def run_script(
    steps: list[tuple[bytes, bytes]], body: Callable[[CorusSession], Awaitable[object]]
) -> object:
    script = ScriptedConverter(steps)
    server = await asyncio.start_server(script.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        client = CorusClient("127.0.0.1", port, timeout=5)
        async with client.session() as session:
            result = await body(session)
        await asyncio.wait_for(script.done.wait(), 5)
    finally:
        server.close()
        await server.wait_closed()
    assert script.problems == []
    return result


@pytest.mark.usefixtures("socket_enabled")
async def test_mock_session_read_write_database() -> None:
    """§10 startup, read_parameters, write_parameters, read_database (2 frames), shutdown."""
    index = ParameterDefinition("index", 148, dt.INDEX)
    clock = ParameterDefinition("datetime", 106, dt.DATE)

    async def body(session: CorusSession) -> object:
        assert session.ident == "/ACT7CORUS"
        values = await session.read_parameters([PARAMETER_MAP_VERSION, PULSE_WEIGHT, index])
        assert values == {
            "parameter_mapping_version": "FL_b0040",
            "input_pulse_weight": Decimal("0.1"),
            "index": Decimal("234567.982"),
        }
        await session.write_parameters([(clock, datetime(2020, 10, 7, 13, 42, 27))])
        return await session.read_database(
            "interval", since=datetime(2020, 10, 7, 10), until=datetime(2020, 10, 7, 12)
        )

    steps = [
        *SIGN_ON_STEPS,
        READ_STEP,
        WRITE_STEP,
        (DB_REQUEST, FRAME0),
        (h("06"), FRAME1),  # nothing is sent after the last frame
        PULSE_WEIGHT_STEP,
        BREAK_STEP,
    ]
    records = await run_script(steps, body)
    assert isinstance(records, list)
    assert [r.values["end_date"] for r in records] == [
        datetime(2020, 10, 7, 12, tzinfo=UTC),
        datetime(2020, 10, 7, 11, tzinfo=UTC),
    ]
    assert records[0].values["consumption_interval_unconverted"] == Decimal("1.2")
    assert records[1].values["counter_interval_converted"] == Decimal("9.7")


@pytest.mark.usefixtures("socket_enabled")
async def test_mock_session_crc_error_naks_and_keeps_only_the_good_frame() -> None:
    """§10 CRC error on the first frame: NAK, good resend, ACK; iflag duplicated the data."""
    bad = FRAME0[:-1] + bytes([FRAME0[-1] ^ 0x01])

    async def body(session: CorusSession) -> object:
        return await session.read_database(
            "interval", since=datetime(2020, 10, 7, 10), until=datetime(2020, 10, 7, 12)
        )

    steps = [
        *SIGN_ON_STEPS,
        (DB_REQUEST, bad),
        (h("15"), FRAME0),
        (h("06"), FRAME1),
        PULSE_WEIGHT_STEP,
        BREAK_STEP,
    ]
    records = await run_script(steps, body)
    assert isinstance(records, list)
    assert len(records) == 2
    assert records[0].values["start_date"] == datetime(2020, 10, 7, 11, tzinfo=UTC)


@pytest.mark.usefixtures("socket_enabled")
async def test_mock_session_empty_database_stays_in_sync() -> None:
    """§10 empty DB: iflag raises and leaves the CRC unread; we return [] and go on."""

    async def body(session: CorusSession) -> object:
        records = await session.read_database("interval")
        values = await session.read_parameters(
            [PARAMETER_MAP_VERSION, PULSE_WEIGHT, ParameterDefinition("index", 148, dt.INDEX)]
        )
        return records, values

    steps = [
        *SIGN_ON_STEPS,
        (frames.build_database_request("interval", None, None, UTC), EMPTY),
        READ_STEP,  # the next request is understood: nothing was left in the stream
        BREAK_STEP,
    ]
    result = await run_script(steps, body)
    assert isinstance(result, tuple)
    assert result[0] == []
    assert result[1]["index"] == Decimal("234567.982")
