"""The HAN simulator: the Aidon NO meter model and the TCP server, checked with real clients."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice

import pytest

from custom_components.amshan_corus.protocol.han.decode import decode_any
from custom_components.amshan_corus.protocol.han.errors import ConnectionFailedError
from custom_components.amshan_corus.protocol.han.hdlc import encode_hdlc_frame, parse_hdlc_frame
from custom_components.amshan_corus.protocol.han.models import MeterMessage
from custom_components.amshan_corus.protocol.han.simulator import (
    AidonNoMeter,
    Cadence,
    HanSimulator,
    split_capture,
)
from custom_components.amshan_corus.protocol.han.stream import MeterStreamDecoder
from custom_components.amshan_corus.protocol.han.transport import open_tcp

from .vectors import vector

pytestmark = pytest.mark.usefixtures("socket_enabled")

START = datetime(2026, 1, 1, 10, 59, 40, tzinfo=UTC)


def test_hdlc_frame_builder_reproduces_a_real_frame() -> None:
    inner = vector("hdlc_aidon_list1_with_7d")
    rebuilt = encode_hdlc_frame(inner[8:-2])
    assert rebuilt == b"\x7e" + inner + b"\x7e"


def test_list_templates_match_the_vector_layout() -> None:
    meter = AidonNoMeter(START, seed=1)
    reference = vector("aidon_no_list3_body")
    body = meter.list3_body(START)
    # Same element count, OBIS codes, types, scalers and units: only values differ.
    assert body[:2] == reference[:2] == b"\x01\x11"
    assert len(body) == len(reference)
    differing = [i for i, (a, b) in enumerate(zip(body, reference, strict=True)) if a != b]
    value_positions = set()
    for obis in (
        b"\x01\x00\x01\x07\x00\xff",
        b"\x01\x00\x02\x07\x00\xff",
        b"\x01\x00\x04\x07\x00\xff",
        b"\x01\x00\x1f\x07\x00\xff",
        b"\x01\x00\x47\x07\x00\xff",
        b"\x01\x00\x20\x07\x00\xff",
        b"\x01\x00\x34\x07\x00\xff",
        b"\x01\x00\x48\x07\x00\xff",
        b"\x00\x00\x01\x00\x00\xff",
        b"\x01\x00\x01\x08\x00\xff",
        b"\x01\x00\x02\x08\x00\xff",
        b"\x01\x00\x03\x08\x00\xff",
        b"\x01\x00\x04\x08\x00\xff",
    ):
        at = reference.index(obis) + 6
        size = {0x06: 5, 0x10: 3, 0x12: 3, 0x09: 14}[reference[at]]
        value_positions.update(range(at + 1, at + size))
    assert set(differing) <= value_positions


def test_cadence_and_values() -> None:
    meter = AidonNoMeter(START, seed=5)
    frames = list(islice(meter.frames(), 1800 + 20))  # one hour and a bit, every 2 s
    times = [t for t, _ in frames]
    assert times[1] - times[0] == timedelta(seconds=2)
    messages = [decode_any(frame)[0] for _, frame in frames]
    for moment, message in zip(times, messages, strict=True):
        names = set(message.readings)
        if moment.minute == 0 and moment.second == 0:
            assert "active_power_import_total" in names, moment
            assert message.value("meter_datetime") == moment
        elif moment.second % 10 == 0:
            assert message.value("meter_id") == "7359992892587665"
            assert "active_power_import_total" not in names
        else:
            assert names == {"active_power_import"}, moment
        power = message.value("active_power_import")
        assert isinstance(power, int)
        assert 0 <= power <= 9000
        if "active_power_export" in message.readings:  # the meter nets: one direction at a time
            assert power == 0 or message.value("active_power_export") == 0
    list3 = [(t, m) for t, m in zip(times, messages, strict=True) if "meter_datetime" in m.readings]
    assert [t for t, _ in list3] == [
        datetime(2026, 1, 1, 11, tzinfo=UTC),
        datetime(2026, 1, 1, 12, tzinfo=UTC),
    ]
    # The register grows by the energy the published power implies (register unit: 10 Wh).
    first, second = (m.value("active_power_import_total") for _, m in list3)
    assert isinstance(first, int)
    assert isinstance(second, int)
    published = [
        m.value("active_power_import")
        for t, m in zip(times, messages, strict=True)
        if list3[0][0] < t <= list3[1][0]
    ]
    implied = sum(p for p in published if isinstance(p, int)) * 2 / 3600
    assert abs((second - first) - implied) <= 20
    # Midday (12:00-13:00 meter time): the solar panels export, and the export register, which
    # starts non-zero, grows by the energy the export power implies (sampled every 10 s).
    exports = [m.value("active_power_export_total") for _, m in list3]
    assert isinstance(exports[0], int)
    assert isinstance(exports[1], int)
    assert exports[0] > 400_000
    export_powers = [
        m.value("active_power_export")
        for t, m in zip(times, messages, strict=True)
        if list3[0][0] < t <= list3[1][0] and "active_power_export" in m.readings
    ]
    assert len(export_powers) == 360
    assert sum(1 for p in export_powers if p) > 300
    implied_export = sum(p for p in export_powers if isinstance(p, int)) * 10 / 3600
    assert implied_export > 1000
    assert abs((exports[1] - exports[0]) - implied_export) <= 0.02 * implied_export + 20
    voltages = [m.value("voltage_l1") for m in messages if "voltage_l1" in m.readings]
    assert all(Decimal("225.0") <= v <= Decimal("235.0") for v in voltages)  # type: ignore[operator]


def test_night_imports_only() -> None:
    meter = AidonNoMeter(datetime(2026, 1, 1, 1, 0, 0, tzinfo=UTC), seed=5)  # 02:00 meter time
    frames = list(islice(meter.frames(), 30))
    messages = [decode_any(frame)[0] for _, frame in frames]
    list2 = [m for m in messages if "active_power_export" in m.readings]
    assert list2
    assert all(m.value("active_power_export") == 0 for m in list2)
    assert all(200 <= m.value("active_power_import") <= 9000 for m in messages)  # type: ignore[operator]
    assert meter.state.export_wh == 412560.0


def test_split_capture_keeps_noise_with_the_next_frame() -> None:
    frame_7d = b"\x7e" + vector("hdlc_aidon_list1_with_7d") + b"\x7e"
    capture = b"noise" + frame_7d + b"xx" + vector("TIB-02") + b"tail"
    assert split_capture(capture) == [b"noise" + frame_7d, b"xx" + vector("TIB-02"), b"tail"]
    assert split_capture(b"\x00" * 300) == [b"\x00" * 256, b"\x00" * 44]
    p1_a, p1_c = vector("p1_lg_e360_A"), vector("p1_ell_C")  # A ends without CR LF
    assert split_capture(p1_c + p1_a + b"\n" + p1_c) == [p1_c, p1_a + b"\n", p1_c]


async def _read_messages(port: int, count: int) -> list[MeterMessage]:
    source = await open_tcp("127.0.0.1", port)
    decoder = MeterStreamDecoder()
    messages: list[MeterMessage] = []
    async with source:
        while len(messages) < count:
            messages += decoder.feed(await source.read())
    assert decoder.rejected == 0
    return messages


async def test_server_streams_valid_frames_to_every_client() -> None:
    simulator = HanSimulator(port=0, cadence=Cadence.FAST, seed=3, start_time=START)
    await simulator.start()
    try:
        first, second = await asyncio.gather(
            _read_messages(simulator.port, 12), _read_messages(simulator.port, 12)
        )
    finally:
        await simulator.stop()
    for messages in (first, second):
        assert any(m.value("meter_id") == "7359992892587665" for m in messages)
        assert all(m.manufacturer in (None, "Aidon") for m in messages)
    assert simulator.clients == 0


async def test_server_replays_a_capture() -> None:
    frame_7d = b"\x7e" + vector("hdlc_aidon_list1_with_7d") + b"\x7e"
    simulator = HanSimulator(port=0, capture=frame_7d + vector("TIB-02"), cadence=Cadence.FAST)
    await simulator.start()
    try:
        messages = await _read_messages(simulator.port, 4)
    finally:
        await simulator.stop()
    powers = [m.value("active_power_import") for m in messages]
    assert len(powers) == 4
    assert set(powers) == {1661, 583}
    assert all(powers[i] != powers[i + 1] for i in range(3))  # alternating, looping


async def test_port_in_use_is_a_typed_error() -> None:
    first = HanSimulator(port=0)
    await first.start()
    try:
        second = HanSimulator(port=first.port)
        with pytest.raises(ConnectionFailedError, match="cannot listen"):
            await second.start()
    finally:
        await first.stop()


def test_frames_are_valid_hdlc() -> None:
    meter = AidonNoMeter(START, seed=9)
    for _, frame in islice(meter.frames(), 40):
        parsed = parse_hdlc_frame(frame)
        assert parsed.information.startswith(b"\xe6\xe7\x00\x0f")
