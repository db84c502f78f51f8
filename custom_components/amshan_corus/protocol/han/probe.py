"""Probe a HAN/P1 source once: does it deliver decodable meter messages, and which meter is it?

Used before a meter is added (Home Assistant's config flow) to turn "it doesn't work" into one
actionable answer. Public API:

- `ProbeOutcome`: cannot connect / connected but silent / bytes but no valid frame (usually the
  wrong baud rate or parity) / intact frames we cannot decode / encrypted and no key / wrong key /
  ok.
- `ProbeResult`: the outcome, the first message (preferably one carrying a meter id), the
  decoder's counters and a detail text.
- `HanProbe`: the sans-I/O classifier. `feed(data)` takes stream bytes (serial, TCP),
  `feed_payload(payload, topic=...)` takes one self-contained message (an MQTT payload); both
  return True once the outcome is settled and waiting longer cannot change it. `result()`
  classifies what was seen so far.
- `probe_han(open_source, *, keys=None, timeout=25.0)`: opens the transport (`open_source` is a
  zero-argument coroutine function returning a `transport.ByteSource`, e.g.
  `functools.partial(open_tcp, host, port)`), feeds a `HanProbe` until it is settled or
  `timeout` runs out, closes the transport, returns the `ProbeResult`. Never raises for I/O or
  data problems: they are outcomes.

Why wait up to 25 s: Norwegian list 1 (every 2-2.5 s) carries no meter id; list 2, which does,
comes every 10 s. The probe returns as soon as a message with a meter id arrives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import tzinfo
from enum import StrEnum

from .decode import PayloadDecoder
from .errors import ConnectionFailedError, DecryptionError, FrameError, HanError, KeyRequiredError
from .models import MeterMessage, Source
from .p1 import DEFAULT_TIMEZONE
from .security import SecurityKeys
from .stream import MeterStreamDecoder
from .transport import ByteSource

DEFAULT_PROBE_TIMEOUT = 25.0
"""Long enough for a Norwegian list 2 (every 10 s) to arrive twice over."""

GARBAGE_LIMIT = 16384
"""Bytes without one valid frame after which more waiting won't help (several meter cycles)."""

REJECTED_LIMIT = 5
"""Checksum failures (or undecodable intact frames) without one message that settle the probe."""

P1_MESSAGES_WITHOUT_ID = 2
"""Every P1 readout carries the same fields: if two have no meter id, none will."""


class ProbeOutcome(StrEnum):
    """What a probe found, from worst to best."""

    CANNOT_CONNECT = "cannot_connect"
    NO_DATA = "no_data"
    BAD_FRAMES = "bad_frames"
    UNDECODABLE = "undecodable"
    KEY_REQUIRED = "key_required"
    WRONG_KEY = "wrong_key"
    OK = "ok"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one probe.

    `message` is the first message carrying a meter id or, when none did, the first message.
    `detail` explains a failure in one line (the transport's or the decoder's error text).
    The counters are the stream decoder's: bytes received, valid frames, messages decoded,
    frames failing their checksum or length, intact frames that did not decode.
    """

    outcome: ProbeOutcome
    message: MeterMessage | None = None
    detail: str | None = None
    bytes: int = 0
    frames: int = 0
    messages: int = 0
    rejected: int = 0
    decode_errors: int = 0

    @property
    def meter_id(self) -> str | None:
        """The meter's id (serial number / GS1 number) if any message carried one."""
        return _text(self.message, "meter_id")

    @property
    def manufacturer(self) -> str | None:
        """The meter's manufacturer, from the message or its `meter_manufacturer` reading."""
        if self.message is None:
            return None
        return self.message.manufacturer or _text(self.message, "meter_manufacturer")

    @property
    def meter_type(self) -> str | None:
        """The meter's type designation (e.g. "MA304H3E"), if the meter sends one."""
        return _text(self.message, "meter_type")


def _text(message: MeterMessage | None, name: str) -> str | None:
    if message is None:
        return None
    value = message.value(name)
    return None if value is None else str(value).strip() or None


class HanProbe:
    """Sans-I/O classifier of what a HAN source delivers (see the module docstring).

    Feed either stream bytes (`feed`) or whole payloads (`feed_payload`), not both.
    """

    def __init__(
        self, *, keys: SecurityKeys | None = None, timezone: tzinfo = DEFAULT_TIMEZONE
    ) -> None:
        self._keys = keys
        self._timezone = timezone
        self._stream = MeterStreamDecoder(keys, timezone)
        self._payloads: dict[str, PayloadDecoder] = {}  # per topic: Tibber's zlib stream spans them
        self._payload_counts = {
            "bytes": 0,
            "frames": 0,
            "messages": 0,
            "rejected": 0,
            "decode_errors": 0,
        }
        self._payload_error: HanError | None = None
        self._first: MeterMessage | None = None
        self._with_id: MeterMessage | None = None
        self._p1_without_id = 0

    def feed(self, data: bytes) -> bool:
        """Add stream bytes; True once the outcome is settled."""
        self._see(self._stream.feed(data))
        return self.settled

    def feed_payload(self, payload: bytes, *, topic: str = "") -> bool:
        """Add one self-contained payload (an MQTT message); True once the outcome is settled.

        Payloads of one `topic` share a decoder (a Tibber Pulse's compressed stream runs
        across messages). Text that is not meter data (bridges publish debug lines on the same
        topic) counts as an undecodable payload, never as an error of the probe.
        """
        counts = self._payload_counts
        counts["bytes"] += len(payload)
        decoder = self._payloads.get(topic)
        if decoder is None:
            decoder = self._payloads[topic] = PayloadDecoder(self._keys, self._timezone)
        try:
            messages = decoder.decode(payload)
        except FrameError as err:
            counts["rejected"] += 1
            self._payload_error = err
        except HanError as err:
            counts["decode_errors"] += 1
            self._payload_error = err
        else:
            counts["frames"] += 1
            counts["messages"] += len(messages)
            self._see(messages)
        return self.settled

    def _see(self, messages: list[MeterMessage]) -> None:
        for message in messages:
            if self._first is None:
                self._first = message
            if _text(message, "meter_id") is not None:
                self._with_id = self._with_id or message
            elif message.source is Source.P1:
                self._p1_without_id += 1

    @property
    def _counts(self) -> dict[str, int]:
        if self._payload_counts["bytes"]:
            return self._payload_counts
        stream = self._stream
        return {
            "bytes": stream.bytes,
            "frames": stream.frames,
            "messages": stream.messages,
            "rejected": stream.rejected,
            "decode_errors": stream.decode_errors,
        }

    @property
    def _last_error(self) -> HanError | None:
        return self._payload_error or self._stream.last_error

    @property
    def settled(self) -> bool:
        """True when waiting longer cannot change the outcome."""
        if self._with_id is not None or self._p1_without_id >= P1_MESSAGES_WITHOUT_ID:
            return True
        if self._first is not None:
            return False  # a meter id may still come (Norwegian list 2)
        counts = self._counts
        return (
            isinstance(self._last_error, DecryptionError)
            or counts["rejected"] >= REJECTED_LIMIT
            or counts["decode_errors"] >= REJECTED_LIMIT
            or (counts["bytes"] >= GARBAGE_LIMIT and counts["frames"] == 0)
        )

    def result(self, *, detail: str | None = None) -> ProbeResult:
        """Classify what was seen so far.

        `detail` (e.g. "connection closed by the other end") explains a failure when the
        decoder has no error of its own to tell.
        """
        counts = self._counts
        error = self._last_error
        message = self._with_id or self._first
        if message is not None:
            outcome = ProbeOutcome.OK
        elif isinstance(error, KeyRequiredError):
            outcome = ProbeOutcome.KEY_REQUIRED
        elif isinstance(error, DecryptionError):
            outcome = ProbeOutcome.WRONG_KEY
        elif counts["decode_errors"]:
            outcome = ProbeOutcome.UNDECODABLE
        elif counts["bytes"]:
            outcome = ProbeOutcome.BAD_FRAMES
        else:
            outcome = ProbeOutcome.NO_DATA
        if outcome is ProbeOutcome.OK:
            detail = None
        elif error is not None:
            detail = str(error)
        return ProbeResult(outcome, message, detail, **counts)


type SourceOpener = Callable[[], Awaitable[ByteSource]]


async def probe_han(
    open_source: SourceOpener,
    *,
    keys: SecurityKeys | None = None,
    timeout: float = DEFAULT_PROBE_TIMEOUT,  # noqa: ASYNC109 - how long to listen: part of the probe
    timezone: tzinfo = DEFAULT_TIMEZONE,
) -> ProbeResult:
    """Open the source, read until the outcome is settled or `timeout` s passed, close it.

    Opening counts against `timeout` too, so the whole probe is bounded.
    """
    probe = HanProbe(keys=keys, timezone=timezone)
    detail: str | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            source = await open_source()
    except ConnectionFailedError as err:
        return ProbeResult(ProbeOutcome.CANNOT_CONNECT, detail=str(err))
    except TimeoutError:
        return ProbeResult(
            ProbeOutcome.CANNOT_CONNECT, detail=f"not connected within {timeout:g} s"
        )
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in source:
                if probe.feed(chunk):
                    break
    except TimeoutError:
        pass
    except ConnectionFailedError as err:  # closed by the peer, or a read error
        detail = str(err)
    finally:
        await source.close()
    return probe.result(detail=detail)
