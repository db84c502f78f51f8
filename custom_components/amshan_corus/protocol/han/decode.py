"""Decode whole payloads, each one message in any form (MQTT, `han decode --hex`).

Accepted forms: HDLC frame with or without flags (several frames of one segmented message
too), HDLC information field (`e6e700...`), bare APDU, bare notification body, M-Bus long
frame(s), P1 readout, raw ciphered APDU (DLMS or P1 plaintext), ASCII-hex text of any of
these, and the Tibber Pulse envelope.
"""

from __future__ import annotations

from datetime import tzinfo

from .apdu import ApduTag
from .bridges import TibberEnvelopeDecoder, is_text, parse_hex_text, strip_tibber_prefix
from .ciphered import decode_ciphered
from .dlms import DEFAULT_TIMEZONE, decode_dlms
from .errors import DecodeError, FrameError
from .hdlc import HdlcFrameReader, parse_hdlc_frame
from .mbus import MbusFrameReader
from .models import MeterMessage, Source
from .p1 import decode_p1, parse_p1_readout
from .security import SecurityKeys
from .stream import MeterStreamDecoder

_FLAG = 0x7E


class PayloadDecoder:
    """Decodes a sequence of payloads from one source (e.g. one MQTT topic).

    Stateful only where the format is: the Tibber envelope's compressed stream spans
    payloads, so use one instance per topic. `decode()` raises `HanError` subclasses.
    """

    def __init__(
        self, keys: SecurityKeys | None = None, timezone: tzinfo = DEFAULT_TIMEZONE
    ) -> None:
        self.keys = keys
        self.timezone = timezone
        self._tibber = TibberEnvelopeDecoder()
        self._tibber_streams: dict[str, MeterStreamDecoder] = {}

    def decode(self, payload: bytes | bytearray) -> list[MeterMessage]:
        """The messages in `payload` (usually one); raises `DecodeError`/`FrameError`/..."""
        messages = self._decode(bytes(payload), hex_allowed=True)
        for message in messages:
            if not message.readings:
                raise DecodeError("not a meter message: it carries no readings")
        return messages

    def _decode(self, data: bytes, *, hex_allowed: bool) -> list[MeterMessage]:
        if not data.strip():
            raise DecodeError("empty payload")
        if data.lstrip(b"\r\n\t ").startswith(b"/"):
            return [decode_p1(parse_p1_readout(data), timezone=self.timezone)]
        if is_text(data):
            if not hex_allowed:
                raise DecodeError("hex text decoded to more text; not meter data")
            return self._decode(parse_hex_text(data), hex_allowed=False)
        first = data[0]
        if first == _FLAG:
            return self._decode_hdlc(data)
        if first >> 4 == 0xA:  # HDLC frame type 3 without its flags (no APDU starts so)
            return self._decode_hdlc(bytes([_FLAG]) + data + bytes([_FLAG]))
        if first == 0x68:
            return self._decode_mbus(data)
        if first == 0x08:
            return self._decode_tibber(data)
        if first in (ApduTag.GENERAL_GLO_CIPHERING, ApduTag.GENERAL_DED_CIPHERING):
            return [decode_ciphered(data, keys=self.keys, timezone=self.timezone)]
        return [self._dlms(data, Source.DLMS, data)]

    def _dlms(self, payload: bytes, source: Source, raw: bytes) -> MeterMessage:
        return decode_dlms(payload, source=source, raw=raw, keys=self.keys, timezone=self.timezone)

    def _decode_hdlc(self, data: bytes) -> list[MeterMessage]:
        reader = HdlcFrameReader()
        frames = reader.feed(data)
        if not frames:
            inner = data.strip(bytes([_FLAG]))
            parse_hdlc_frame(inner)  # raises the specific reason (checksum, length...)
            raise FrameError("no complete HDLC message (a segment is missing)")
        return [self._dlms(frame.information, Source.HDLC, frame.raw) for frame in frames]

    def _decode_mbus(self, data: bytes) -> list[MeterMessage]:
        reader = MbusFrameReader()
        frames = reader.feed(data)
        if not frames:
            raise FrameError("no complete M-Bus message (bad checksum or a missing segment)")
        return [self._dlms(frame.apdu, Source.MBUS, frame.raw) for frame in frames]

    def _decode_tibber(self, data: bytes) -> list[MeterMessage]:
        try:
            records = self._tibber.unwrap(data)
        except DecodeError:
            frame = strip_tibber_prefix(data)
            if frame is None:
                raise
            return self._decode_hdlc(frame)
        messages: list[MeterMessage] = []
        for tag, chunk in records:
            stream = self._tibber_streams.get(tag)
            if stream is None:
                stream = MeterStreamDecoder(self.keys, self.timezone)
                self._tibber_streams[tag] = stream
            errors_before = stream.decode_errors + stream.rejected
            messages.extend(stream.feed(chunk))
            if stream.decode_errors + stream.rejected > errors_before and stream.last_error:
                raise stream.last_error
        return messages


def decode_any(
    data: bytes | bytearray,
    *,
    keys: SecurityKeys | None = None,
    timezone: tzinfo = DEFAULT_TIMEZONE,
) -> list[MeterMessage]:
    """Decode ONE message given in any form (see the module docstring).

    Raises `DecodeError` (not meter data, or hex text with a bad character), `FrameError`
    (checksum/length) or `DecryptionError` (missing or wrong key).
    """
    return PayloadDecoder(keys, timezone).decode(data)
