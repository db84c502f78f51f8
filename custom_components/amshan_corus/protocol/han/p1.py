"""IEC 62056-21 mode D / DSMR "P1" text readouts.

A readout is an ident line `/XXX5<identification>`, a blank line, data lines
`A-B:C.D.E(value*unit)(...)`, and an end line `!` with an optional CRC-16/ARC (four hex
digits) computed over everything from `/` through `!` inclusive.

`P1Reader` frames readouts out of a byte stream (sans-I/O); `decode_p1()` turns one readout
into a `MeterMessage`. Values stay exact (`Decimal`), units stay as the meter wrote them,
timestamps become timezone-aware, and DSMR M-Bus channels (gas, water, heat) give readings
with their own capture time. Belgian (e-MUCS) demand lines are parsed here too, the one place
that knows their syntax: `1-0:1.6.0(peak time)(value)` becomes the `peak_demand_month` reading
(its `timestamp` is the peak time) and `0-0:98.1.0` the message's `demand_history`.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
import re
from typing import NamedTuple

from .crc import crc16_arc
from .dlms import DEFAULT_TIMEZONE
from .errors import ChecksumError, DecodeError, FrameError
from .models import DemandPeak, MeterMessage, Reading, ReadingValue, Source
from .obis import mbus_value_name, normalize_obis, obis_name

__all__ = [
    "DEFAULT_TIMEZONE",  # shared with the DLMS decoder
    "MAX_READOUT_LENGTH",
    "P1Reader",
    "P1Readout",
    "decode_p1",
    "parse_demand_history",
    "parse_demand_peak",
    "parse_p1_readout",
    "parse_p1_timestamp",
]

MAX_READOUT_LENGTH = 8192  # DSMR 5 telegrams are about 1 KiB; amshan uses the same bound

_IDENT = re.compile(rb"^/([A-Za-z]{3})(\d)(?:\\\w)*([ -~]{0,32})$")
_READOUT_START = re.compile(rb"/[A-Za-z]{3}\d")
_ADDRESS = re.compile(r"(\d{1,3})-(\d{1,3}):(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:[.*](\d{1,3}))?")
_DATA_SET = re.compile(
    r"^(\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}(?:[.*]\d{1,3})?)((?:\([^()\r\n]*\))+)",
    re.MULTILINE,
)
_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?")
_TIMESTAMP = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})([SW]?)")
_HEX_ID = re.compile(r"(?:[0-9A-Fa-f]{2})+")

# FLAG manufacturer ids (ident line) whose owner is unambiguous.
_MANUFACTURERS = {
    "ISK": "Iskraemeco",
    "KAM": "Kamstrup",
    "KFM": "Kaifa",
    "LGB": "Landis+Gyr",
    "LGF": "Landis+Gyr",
}


@dataclass(frozen=True, slots=True)
class P1Readout:
    """One framed readout: `raw` runs from `/` to the end of the `!` line."""

    raw: bytes
    crc_checked: bool


def parse_p1_readout(data: bytes) -> P1Readout:
    """Validate one complete readout (leading CR/LF allowed, trailing line end optional).

    Raises `ChecksumError` on a CRC mismatch and `FrameError` when `data` is not a readout.
    """
    start = data.find(b"/")
    if start < 0 or data[:start].strip():
        raise FrameError("a P1 readout starts with '/'")
    end = data.rfind(b"!")
    if end < start:
        raise FrameError("P1 readout has no end line ('!')")
    tail = data[end + 1 :].strip()
    if tail and not re.fullmatch(rb"[0-9A-Fa-f]{4}", tail):
        raise FrameError(f"P1 end line '!{tail[:8].decode('latin-1')}' is not '!' + 4 hex digits")
    return _checked(data[start:].rstrip(b"\r\n") + b"\r\n", end - start)


def _checked(raw: bytes, bang: int) -> P1Readout:
    """`raw` holds '/' .. '!' at `bang`, optional CRC digits, then the line end."""
    ident_end = raw.find(b"\n")
    if not _IDENT.match(raw[:ident_end].rstrip(b"\r")):
        shown = raw[: min(ident_end, 40)].decode("latin-1").rstrip()
        raise FrameError(f"not a P1 ident line: {shown!r}")
    digits = raw[bang + 1 : bang + 5]
    if len(digits) == 4 and all(chr(c) in "0123456789abcdefABCDEF" for c in digits):
        expected = int(digits, 16)
        actual = crc16_arc(raw[: bang + 1])
        if actual != expected:
            raise ChecksumError(
                f"P1 readout CRC mismatch: readout says {expected:04X}, computed {actual:04X}"
            )
        return P1Readout(raw, crc_checked=True)
    return P1Readout(raw, crc_checked=False)


class P1Reader:
    """Frames P1 readouts out of a byte stream fed in any chunking.

    Counters: `frames` (good readouts returned) and `rejected` (bad CRC, bad ident,
    truncated by a new readout, or longer than `MAX_READOUT_LENGTH`). `last_error` holds
    the reason of the latest rejection. Between calls the buffer holds at most
    `MAX_READOUT_LENGTH` bytes plus the last chunk.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.frames = 0
        self.rejected = 0
        self.last_error: FrameError | None = None

    def feed(self, data: bytes) -> list[P1Readout]:
        """Add bytes; return the readouts they complete."""
        self._buffer += data
        readouts: list[P1Readout] = []
        while self._step(readouts):
            pass
        return readouts

    def _reject(self, error: FrameError) -> None:
        self.rejected += 1
        self.last_error = error

    def _step(self, readouts: list[P1Readout]) -> bool:
        """Consume what can be decided now; True when it is worth looking again."""
        buffer = self._buffer
        start = _READOUT_START.search(buffer)
        if start is None:  # noise; keep only what may be the beginning of an ident
            tail = buffer.rfind(b"/", max(0, len(buffer) - 4))
            del buffer[: tail if tail >= 0 else len(buffer)]
            return False
        del buffer[: start.start()]
        bang = buffer.find(b"!")
        if bang < 0:
            if len(buffer) > MAX_READOUT_LENGTH:
                # Every start before the last MAX_READOUT_LENGTH bytes is too long as well.
                self._reject(FrameError(f"P1 readout longer than {MAX_READOUT_LENGTH} bytes"))
                del buffer[: max(1, len(buffer) - MAX_READOUT_LENGTH)]
                return True
            return False
        # A readout interrupted by a new one: drop the broken part(s), keep the last start.
        restart = None
        for restart in _READOUT_START.finditer(buffer, 1, bang):  # noqa: B007  the last one
            pass
        if restart is not None:
            self._reject(FrameError("P1 readout interrupted by the start of another"))
            del buffer[: restart.start()]
            bang -= restart.start()
        end = self._end_of_readout(bang)
        if end is None:
            return False
        raw = bytes(buffer[:end])
        del buffer[:end]
        try:
            readouts.append(_checked(raw.rstrip(b"\r\n") + b"\r\n", bang))
        except FrameError as err:
            self._reject(err)
        else:
            self.frames += 1
        return True

    def _end_of_readout(self, bang: int) -> int | None:
        """Index just past the end line, or None while its CRC digits are still coming."""
        buffer = self._buffer
        pos = bang + 1
        while pos < len(buffer) and pos < bang + 5 and chr(buffer[pos]) in _HEX_CHARS:
            pos += 1
        if pos == len(buffer) and pos < bang + 5:
            return None  # CRC digits or the line end may still follow
        for ending in (b"\r\n", b"\n", b"\r"):
            if buffer.startswith(ending, pos):
                return pos + len(ending)
        return pos


_HEX_CHARS = frozenset("0123456789abcdefABCDEF")


# --------------------------------------------------------------------------- decoding


def decode_p1(readout: P1Readout | bytes, *, timezone: tzinfo = DEFAULT_TIMEZONE) -> MeterMessage:
    """Decode one readout into a `MeterMessage`; raises `FrameError` / `DecodeError`."""
    if isinstance(readout, bytes | bytearray):
        readout = parse_p1_readout(bytes(readout))
    try:
        text = readout.raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise DecodeError(f"P1 readout has a non-ASCII byte at offset {err.start}") from err
    ident = _IDENT.match(readout.raw[: readout.raw.find(b"\n")].rstrip(b"\r"))
    assert ident is not None  # checked when framed
    flag_id = ident.group(1).decode("ascii")
    readings: dict[str, Reading] = {
        "meter_manufacturer_id": Reading(flag_id),
    }
    if type_id := ident.group(3).decode("ascii").strip():
        readings["meter_type_id"] = Reading(type_id)

    mbus_lines: list[tuple[tuple[int, ...], str, list[str]]] = []
    history: tuple[DemandPeak, ...] = ()
    for match in _DATA_SET.finditer(text):
        address = _address(match.group(1))
        values = match.group(2)
        if address.mbus:
            mbus_lines.append((address.groups, address.obis, values[1:-1].split(")(")))
        elif address.obis in (_MONTH_PEAK, _PEAK_HISTORY):
            # A line that does not parse is left out; the rest of the readout still counts.
            with suppress(DecodeError):
                if address.obis == _PEAK_HISTORY:
                    history = parse_demand_history(values[1:-1].split(")("), timezone)
                else:
                    peak = parse_demand_peak(values[1:-1].split(")("), timezone)
                    readings[address.name] = Reading(peak.value, peak.unit, address.obis, peak.at)
        elif values.count("(") == 1:  # multi-value lines (99.97.0 failure log) are no reading
            reading = _reading(values[1:-1], address, timezone)
            if reading is not None:
                # A name sent twice (96.1.0 and 96.1.1 are both "meter_id"): first one wins.
                readings.setdefault(
                    address.obis if address.name in readings else address.name, reading
                )
    if mbus_lines:
        device_types = {
            groups[1]: int(values[0])
            for groups, _, values in mbus_lines
            if groups[2:] == (24, 1, 0) and values[0].isdigit()
        }
        for groups, obis, values in mbus_lines:
            _add_mbus(readings, groups, obis, values, device_types, timezone)
    return MeterMessage(
        source=Source.P1,
        manufacturer=_MANUFACTURERS.get(flag_id.upper(), flag_id),
        readings=readings,
        raw=readout.raw,
        demand_history=history,
    )


class _Address(NamedTuple):
    groups: tuple[int, ...]
    obis: str
    name: str  # the shared reading name, or the OBIS text when it has none
    kind: str  # "clock", "text" (hex-coded ASCII) or "value"
    mbus: bool  # a DSMR M-Bus channel line (0-n:..., n > 0)


@lru_cache(maxsize=512)
def _address(text: str) -> _Address:
    """'1-0:1.8.0' -> its groups, reduced OBIS, name...; the same few addresses recur."""
    match = _ADDRESS.fullmatch(text)
    assert match is not None
    groups = tuple(int(g) for g in match.groups()[:5])
    obis = normalize_obis(text)
    kind = "clock" if groups[2:] == (1, 0, 0) else "value"
    if groups[2:4] in ((96, 1), (96, 13)):  # equipment ids and text messages
        kind = "text"
    mbus = groups[0] == 0 and groups[1] > 0
    return _Address(groups, obis, obis_name(obis) or obis, kind, mbus)


def _reading(value: str, address: _Address, timezone: tzinfo) -> Reading | None:
    """The reading of a one-value line; None for a clock that is not a valid time."""
    if address.kind == "clock":
        try:
            return Reading(parse_p1_timestamp(value, timezone), None, address.obis)
        except DecodeError:
            return None
    if address.kind == "text":
        return Reading(_hex_ascii(value), None, address.obis)
    number, unit = _number(value)
    return Reading(number, unit, address.obis)


def _number(value: str) -> tuple[ReadingValue, str | None]:
    """'00.503*kW' -> (Decimal('0.503'), 'kW'); '001*A' -> (1, 'A'); '0002' -> ('0002', None)."""
    digits, star, unit = value.partition("*")
    if not star:
        return value, None
    if digits.isdigit():
        return int(digits), unit or None
    if digits.replace(".", "", 1).isdigit() or _NUMBER.fullmatch(digits):
        return Decimal(digits), unit or None
    return value, None


def _hex_ascii(value: str) -> str:
    if _HEX_ID.fullmatch(value):
        text = bytes.fromhex(value).decode("latin-1")
        if text.isprintable():
            return text
    return value


def _add_mbus(
    readings: dict[str, Reading],
    groups: tuple[int, ...],
    obis: str,
    values: list[str],
    device_types: dict[int, int],
    timezone: tzinfo,
) -> None:
    """A DSMR M-Bus channel line (0-n:...), named after the channel's device type."""
    channel = groups[1]
    code = groups[2:]
    value_name = mbus_value_name(device_types.get(channel))  # "gas_volume", "heat_energy"...
    kind = value_name.rpartition("_")[0]
    if code == (96, 1, 0):  # the sub-meter's own id, not the electricity meter's
        if ident := _hex_ascii(values[0]):
            _put(readings, _channel_key(readings, f"{kind}_meter_id", channel), ident, obis)
    elif code[:2] == (24, 2) and len(values) == 2:
        number, unit = _number(values[1])
        if unit is None:  # DSMR writes an unfilled channel as (00000000) without a unit
            return
        try:
            timestamp: datetime | None = parse_p1_timestamp(values[0], timezone)
        except DecodeError:
            timestamp = None  # the volume is still right; only its capture time is unknown
        readings[_channel_key(readings, value_name, channel)] = Reading(
            number, unit, obis, timestamp
        )
    elif len(values) == 1 and (reading := _reading(values[0], _address(obis), timezone)):
        readings.setdefault(obis, reading)


def _put(readings: dict[str, Reading], name: str, value: ReadingValue, obis: str) -> None:
    readings.setdefault(name, Reading(value, None, obis))


def _channel_key(readings: dict[str, Reading], key: str, channel: int) -> str:
    """The first channel of a kind gets the plain name; a further one gets a suffix."""
    existing = readings.get(key)
    if existing is None or existing.obis is None or existing.obis.startswith(f"0-{channel}:"):
        return key
    return f"{key}_{channel}"


_MONTH_PEAK = "1-0:1.6.0"
_PEAK_HISTORY = "0-0:98.1.0"


def _demand(value: str) -> tuple[Decimal, str]:
    number, unit = _number(value)
    if not isinstance(number, int | Decimal) or number < 0 or unit not in ("kW", "W"):
        raise DecodeError(f"not a demand value in kW or W: {value!r}")
    return Decimal(number), unit


def parse_demand_peak(values: list[str], timezone: tzinfo = DEFAULT_TIMEZONE) -> DemandPeak:
    """`1-0:1.6.0`'s value groups `['200509134558S', '02.589*kW']` -> the month's peak so far."""
    if len(values) != 2:
        raise DecodeError(f"{_MONTH_PEAK} needs a timestamp and a value, got {values!r}")
    value, unit = _demand(values[1])
    return DemandPeak(value, unit, parse_p1_timestamp(values[0], timezone))


def parse_demand_history(
    values: list[str], timezone: tzinfo = DEFAULT_TIMEZONE
) -> tuple[DemandPeak, ...]:
    """`0-0:98.1.0`'s value groups -> its monthly peaks, in the meter's order.

    Layout: a count, two column codes (1-0:1.6.0), then per month the stamp of its end, the
    peak time and the value: `(3)(1-0:1.6.0)(1-0:1.6.0)(200501000000S)(200423192538S)(03.695*kW)`.
    A meter without history yet sends a count of 0 (some add one empty group).
    """
    if not values or not values[0].isdigit():
        raise DecodeError(f"{_PEAK_HISTORY} must start with a count, got {values[:3]!r}")
    count = int(values[0])
    entries = [value for value in values[3:] if value] if count == 0 else values[3:]
    if len(values) < 3 or len(entries) != 3 * count:
        raise DecodeError(f"{_PEAK_HISTORY} announces {count} months but has {len(entries)} values")
    peaks = []
    for index in range(0, len(entries), 3):
        stamp, at, text = entries[index : index + 3]
        value, unit = _demand(text)
        peaks.append(
            DemandPeak(
                value, unit, parse_p1_timestamp(at, timezone), parse_p1_timestamp(stamp, timezone)
            )
        )
    return tuple(peaks)


def parse_p1_timestamp(value: str, timezone: tzinfo = DEFAULT_TIMEZONE) -> datetime:
    """'YYMMDDhhmmssX' -> aware datetime; X = S (summer) / W (winter) picks the DST fold."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        raise DecodeError(f"not a P1 timestamp (YYMMDDhhmmssX): {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        naive = datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as err:
        raise DecodeError(f"impossible P1 timestamp {value!r}: {err}") from err
    # fold=1 is the second (winter) occurrence of an hour repeated when DST ends.
    return naive.replace(tzinfo=timezone, fold=1 if match.group(7) == "W" else 0)
