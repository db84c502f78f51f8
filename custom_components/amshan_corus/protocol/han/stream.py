"""The combined stream decoder: bytes of any chunking in, meter messages out (sans-I/O).

Serial and TCP sources deliver a byte stream that may carry HDLC frames (Norway, Austria...),
DLMS in M-Bus long frames (EVN, Tirol), P1 text readouts (Sweden, the Netherlands), or raw
ciphered APDUs without framing (Luxembourg, Steiermark; their plaintext DLMS or P1). The
decoder runs every framer until one of them yields a message that decodes, then locks on to
that format; if the locked format goes quiet for `RELOCK_AFTER_BYTES` it hunts again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo
from enum import StrEnum
from typing import Any, Protocol

from .ciphered import CipheredFrame, CipheredFrameReader, decode_ciphered
from .dlms import DEFAULT_TIMEZONE, decode_dlms
from .errors import DecodeError, DecryptionError, FrameError, HanError
from .hdlc import HdlcFrame, HdlcFrameReader
from .mbus import MbusFrame, MbusFrameReader
from .models import MeterMessage, Source
from .p1 import P1Reader, P1Readout, decode_p1
from .security import SecurityKeys

RELOCK_AFTER_BYTES = 16384  # several list-2 periods at 2400 baud without one good message


class StreamFormat(StrEnum):
    """Framing of a byte stream."""

    HDLC = "hdlc"
    MBUS = "mbus"
    P1 = "p1"
    CIPHERED = "ciphered"  # raw DB/DC APDUs, no framing


class _Framer[Unit](Protocol):
    frames: int
    rejected: int

    def feed(self, data: bytes) -> Sequence[Unit]: ...


class _Channel[Unit]:
    """One framer and how to decode what it frames."""

    def __init__(self, framer: _Framer[Unit], decode: Callable[[Unit], MeterMessage]) -> None:
        self.framer = framer
        self.decode = decode
        self.frames_seen = 0
        self.rejected_seen = 0


class MeterStreamDecoder:
    """Turns a meter byte stream into `MeterMessage`s.

    Counters: `bytes` fed, `frames` (intact frames/readouts), `messages` decoded, `rejected`
    (frames failing checksum or length), `decode_errors` (intact frames that did not decode),
    and `last_error` (e.g. a `WrongKeyError`, so a UI can say "wrong key"). `format` is the
    framing locked on to, or None while hunting. Memory stays bounded whatever is fed.
    """

    def __init__(
        self, keys: SecurityKeys | None = None, timezone: tzinfo = DEFAULT_TIMEZONE
    ) -> None:
        self.keys = keys
        self.timezone = timezone
        self.bytes = 0
        self.frames = 0
        self.messages = 0
        self.rejected = 0
        self.decode_errors = 0
        self.last_error: HanError | None = None
        self.format: StreamFormat | None = None
        self._quiet_bytes = 0
        self._channels = self._new_channels()

    def _new_channels(self) -> dict[StreamFormat, _Channel[Any]]:
        return {
            StreamFormat.HDLC: _Channel(HdlcFrameReader(), self._decode_hdlc),
            StreamFormat.MBUS: _Channel(MbusFrameReader(), self._decode_mbus),
            StreamFormat.P1: _Channel(P1Reader(), self._decode_p1),
            StreamFormat.CIPHERED: _Channel(CipheredFrameReader(), self._decode_ciphered),
        }

    def _decode_hdlc(self, frame: HdlcFrame) -> MeterMessage:
        return decode_dlms(
            frame.information,
            source=Source.HDLC,
            raw=frame.raw,
            keys=self.keys,
            timezone=self.timezone,
        )

    def _decode_mbus(self, frame: MbusFrame) -> MeterMessage:
        return decode_dlms(
            frame.apdu, source=Source.MBUS, raw=frame.raw, keys=self.keys, timezone=self.timezone
        )

    def _decode_p1(self, readout: P1Readout) -> MeterMessage:
        return decode_p1(readout, timezone=self.timezone)

    def _decode_ciphered(self, frame: CipheredFrame) -> MeterMessage:
        return decode_ciphered(frame.apdu, keys=self.keys, timezone=self.timezone)

    def feed(self, data: bytes) -> list[MeterMessage]:
        """Add bytes; return the messages they complete (possibly none)."""
        self.bytes += len(data)
        messages: list[MeterMessage] = []
        if self.format is None:
            for stream_format, channel in self._channels.items():
                found = self._run(channel, data)
                if found and self.format is None:
                    self.format = stream_format
                    messages.extend(found)
            if self.format is not None:
                self._channels = {self.format: self._channels[self.format]}
        else:
            messages = self._run(self._channels[self.format], data)
            self._quiet_bytes = 0 if messages else self._quiet_bytes + len(data)
            if self._quiet_bytes > RELOCK_AFTER_BYTES:
                self.format = None
                self._quiet_bytes = 0
                self._channels = self._new_channels()
        self.messages += len(messages)
        return messages

    def _run(self, channel: _Channel[Any], data: bytes) -> list[MeterMessage]:
        messages: list[MeterMessage] = []
        framer = channel.framer
        units = framer.feed(data)  # framers count damaged frames, they never raise
        self.frames += framer.frames - channel.frames_seen
        if framer.rejected > channel.rejected_seen:
            self.rejected += framer.rejected - channel.rejected_seen
            reason = getattr(framer, "last_error", None)  # the P1 reader says why
            if isinstance(reason, HanError):
                self.last_error = reason
        channel.frames_seen, channel.rejected_seen = framer.frames, framer.rejected
        for unit in units:
            try:
                message = channel.decode(unit)
            except (DecodeError, DecryptionError, FrameError) as err:
                self.decode_errors += 1
                self.last_error = err
                continue
            if not message.readings:
                self.decode_errors += 1
                self.last_error = DecodeError("message carries no readings")
                continue
            messages.append(message)
        return messages
