"""The HAN probe against real sources: TCP servers on 127.0.0.1, the HAN simulator, a pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from functools import partial
import os

import pytest

from custom_components.amshan_corus.protocol.han.models import Source
from custom_components.amshan_corus.protocol.han.probe import (
    GARBAGE_LIMIT,
    REJECTED_LIMIT,
    HanProbe,
    ProbeOutcome,
    probe_han,
)
from custom_components.amshan_corus.protocol.han.security import SecurityKeys
from custom_components.amshan_corus.protocol.han.simulator import (
    AIDON_METER_ID,
    Cadence,
    HanSimulator,
)
from custom_components.amshan_corus.protocol.han.transport import ByteSource, open_serial, open_tcp

from .sources import (
    ENCRYPTED as ENC,
    ENCRYPTED_KEYS as ENC_KEYS,
    START,
    ByteServers,
    corrupted,
    free_port,
    list1_frame,
    list2_frame,
    unknown_frame,
)
from .vectors import vector

pytestmark = pytest.mark.usefixtures("socket_enabled")

type Serve = Callable[..., Awaitable[int]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """`await serve(chunks, close=False)` starts a byte server on 127.0.0.1; returns its port."""
    servers = ByteServers()
    yield servers.start
    await servers.stop()


def tcp(port: int) -> Callable[[], Awaitable[object]]:
    return partial(open_tcp, "127.0.0.1", port)


# ----------------------------------------------------------------------------- outcomes


async def test_good_stream_from_the_simulator_returns_the_meter() -> None:
    simulator = HanSimulator(cadence=Cadence.FAST, seed=7, start_time=START)
    await simulator.start()
    try:
        result = await probe_han(tcp(simulator.port), timeout=10)
    finally:
        await simulator.stop()
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id == AIDON_METER_ID
    assert result.manufacturer == "Aidon"
    assert result.meter_type == "6525"
    assert result.detail is None
    assert result.rejected == 0
    assert result.decode_errors == 0
    # Returned at the first list 2 (the 5th frame after 12:00:01), not after the timeout.
    assert result.messages == 5
    assert result.message is not None
    assert result.message.source is Source.HDLC


async def test_list_1_only_is_ok_without_a_meter_id(serve: Serve) -> None:
    port = await serve([list1_frame()] * 3)
    result = await probe_han(tcp(port), timeout=0.5)
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id is None
    assert result.messages == 3
    assert result.message is not None
    assert result.message.value("active_power_import") is not None


async def test_meter_id_arriving_after_list_1_is_waited_for(serve: Serve) -> None:
    port = await serve([list1_frame(), list1_frame(), list2_frame()])
    result = await probe_han(tcp(port), timeout=10)
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id == AIDON_METER_ID
    assert result.messages == 3


async def test_nothing_listening_is_cannot_connect() -> None:
    port = free_port()
    result = await probe_han(tcp(port), timeout=5)
    assert result.outcome is ProbeOutcome.CANNOT_CONNECT
    assert result.detail is not None
    assert f"127.0.0.1:{port}" in result.detail
    assert result.bytes == 0


async def test_silent_server_is_no_data(serve: Serve) -> None:
    port = await serve([])
    result = await probe_han(tcp(port), timeout=0.3)
    assert result.outcome is ProbeOutcome.NO_DATA
    assert result.bytes == 0
    assert result.detail is None


async def test_server_closing_at_once_is_no_data_and_says_why(serve: Serve) -> None:
    port = await serve([], close=True)
    result = await probe_han(tcp(port), timeout=5)
    assert result.outcome is ProbeOutcome.NO_DATA
    assert result.detail is not None
    assert "closed" in result.detail


async def test_garbage_is_bad_frames_and_settles_early(serve: Serve) -> None:
    garbage = bytes((i * 37 + 11) % 251 for i in range(GARBAGE_LIMIT)).replace(b"\x7e", b"\x00")
    port = await serve([garbage])
    result = await probe_han(tcp(port), timeout=30)
    assert result.outcome is ProbeOutcome.BAD_FRAMES
    assert result.bytes == GARBAGE_LIMIT
    assert result.frames == 0
    assert result.messages == 0


async def test_frames_failing_their_checksum_are_bad_frames(serve: Serve) -> None:
    port = await serve([corrupted(list2_frame())] * REJECTED_LIMIT)
    result = await probe_han(tcp(port), timeout=30)
    assert result.outcome is ProbeOutcome.BAD_FRAMES
    assert result.rejected == REJECTED_LIMIT
    assert result.frames == 0
    assert result.messages == 0


async def test_one_corrupted_frame_among_good_ones_is_still_ok(serve: Serve) -> None:
    port = await serve([corrupted(list1_frame()), list1_frame(), list2_frame()])
    result = await probe_han(tcp(port), timeout=10)
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id == AIDON_METER_ID
    assert result.rejected == 1


async def test_intact_frames_of_an_unknown_format_are_undecodable(serve: Serve) -> None:
    port = await serve([unknown_frame()] * REJECTED_LIMIT)
    result = await probe_han(tcp(port), timeout=30)
    assert result.outcome is ProbeOutcome.UNDECODABLE
    assert result.frames == REJECTED_LIMIT
    assert result.decode_errors == REJECTED_LIMIT
    assert result.detail


async def test_encrypted_without_key_is_key_required_at_once(serve: Serve) -> None:
    port = await serve([ENC.data])
    result = await probe_han(tcp(port), timeout=30)
    assert result.outcome is ProbeOutcome.KEY_REQUIRED
    assert result.frames == 1
    assert result.detail is not None
    assert "4b414d4501349083" in result.detail


@pytest.mark.parametrize(
    "keys",
    [
        SecurityKeys(bytes(16)),  # no authentication key: the plaintext shows it is wrong
        SecurityKeys(ENC_KEYS.encryption_key, bytes(16)),  # the tag shows it
    ],
    ids=["wrong_encryption_key", "wrong_authentication_key"],
)
async def test_encrypted_with_a_wrong_key_is_wrong_key(serve: Serve, keys: SecurityKeys) -> None:
    port = await serve([ENC.data])
    result = await probe_han(tcp(port), keys=keys, timeout=30)
    assert result.outcome is ProbeOutcome.WRONG_KEY
    assert result.frames == 1
    assert result.messages == 0


async def test_encrypted_with_the_right_key_is_ok(serve: Serve) -> None:
    port = await serve([ENC.data])
    result = await probe_han(tcp(port), keys=ENC_KEYS, timeout=0.5)
    assert result.outcome is ProbeOutcome.OK
    assert result.manufacturer == "Kamstrup"
    assert result.message is not None
    assert result.message.value("active_power_import_total") == 63074980


async def test_serial_port_on_a_pseudo_terminal() -> None:
    controller, device = os.openpty()

    async def meter() -> None:  # keeps sending: opening a port may flush what came before
        while True:
            os.write(controller, list1_frame() + list2_frame())
            await asyncio.sleep(0.05)

    sending = asyncio.create_task(meter())
    try:
        result = await probe_han(partial(open_serial, os.ttyname(device)), timeout=10)
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
        os.close(device)
        os.close(controller)
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id == AIDON_METER_ID
    assert result.message is not None
    assert result.message.source is Source.HDLC


async def test_missing_serial_port_is_cannot_connect() -> None:
    result = await probe_han(partial(open_serial, "/dev/does-not-exist-amshan"), timeout=5)
    assert result.outcome is ProbeOutcome.CANNOT_CONNECT
    assert result.detail is not None
    assert "/dev/does-not-exist-amshan" in result.detail


# ----------------------------------------------------------------------------- sans-I/O


def test_p1_without_meter_id_settles_after_two_readouts() -> None:
    probe = HanProbe()
    readout = vector("p1_lg_e360_D")
    assert probe.feed(readout) is False  # one readout: an id could still be in the next
    assert probe.feed(readout) is True
    result = probe.result()
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id is None
    assert result.manufacturer == "Landis+Gyr"
    assert result.messages == 2


def test_p1_with_meter_id_settles_at_once() -> None:
    probe = HanProbe()
    assert probe.feed(vector("p1_dsmr_B")) is True
    assert probe.result().meter_id == "E2206017647934515"


def test_nothing_fed_is_no_data() -> None:
    result = HanProbe().result(detail="nothing for 25 s")
    assert result.outcome is ProbeOutcome.NO_DATA
    assert result.detail == "nothing for 25 s"


def test_payloads_of_any_form_and_chatter_between_them() -> None:
    """MQTT: hex text, debug lines and raw frames on one topic."""
    probe = HanProbe()
    assert probe.feed_payload(b"Debug: WiFi ps disable") is False
    assert probe.feed_payload(list1_frame().hex().encode()) is False
    assert probe.feed_payload(list2_frame()) is True
    result = probe.result()
    assert result.outcome is ProbeOutcome.OK
    assert result.meter_id == AIDON_METER_ID
    assert (result.frames, result.messages, result.decode_errors) == (2, 2, 1)


def test_payload_counts_classify_like_the_stream() -> None:
    probe = HanProbe()
    for _ in range(REJECTED_LIMIT - 1):
        assert probe.feed_payload(corrupted(list1_frame())) is False
    assert probe.feed_payload(corrupted(list1_frame())) is True
    assert probe.result().outcome is ProbeOutcome.BAD_FRAMES
    keyless = HanProbe()
    assert keyless.feed_payload(ENC.data) is True
    assert keyless.result().outcome is ProbeOutcome.KEY_REQUIRED


def test_only_chatter_is_undecodable() -> None:
    probe = HanProbe()
    probe.feed_payload(b"Debug: Cap voltage critical!")
    result = probe.result()
    assert result.outcome is ProbeOutcome.UNDECODABLE
    assert result.decode_errors == 1
    assert result.detail is not None  # the decoder's reason, for the logs


async def test_an_open_that_never_finishes_is_bounded_by_the_timeout() -> None:
    async def never_opens() -> ByteSource:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    result = await probe_han(never_opens, timeout=0.05)
    assert result.outcome is ProbeOutcome.CANNOT_CONNECT
    assert result.detail == "not connected within 0.05 s"
    assert (result.meter_id, result.manufacturer, result.meter_type) == (None, None, None)


def test_tibber_pulses_on_two_topics_keep_their_own_streams() -> None:
    """A Pulse's zlib stream runs across its messages: one decoder per topic, or both break."""
    from .test_bridges import TibberPulse  # H2's envelope builder (that module needs hypothesis)

    first, second = TibberPulse(), TibberPulse()
    telegram = vector("p1_lg_e360_D")
    probe = HanProbe()
    assert probe.feed_payload(first.envelope(("P1", telegram[:300])), topic="tibber/a") is False
    assert probe.feed_payload(second.envelope(("P1", telegram[:200])), topic="tibber/b") is False
    assert probe.feed_payload(first.envelope(("P1", telegram[300:])), topic="tibber/a") is False
    result = probe.result()
    assert result.outcome is ProbeOutcome.OK
    assert (result.messages, result.rejected, result.decode_errors) == (1, 0, 0)
    assert result.manufacturer == "Landis+Gyr"
