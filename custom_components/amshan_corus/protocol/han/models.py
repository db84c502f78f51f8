"""The one vocabulary every decoded HAN/P1 message is expressed in, whatever its source."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

type ReadingValue = int | Decimal | str | datetime


class Source(StrEnum):
    """How the message reached us (the outermost format that was unwrapped)."""

    HDLC = "hdlc"  # HDLC frame (possibly reassembled from segments)
    DLMS = "dlms"  # bare LLC/APDU or notification body without HDLC framing
    MBUS = "mbus"  # DLMS carried in M-Bus long frames
    P1 = "p1"  # IEC 62056-21 mode D / DSMR text readout


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured or identifying value.

    `value` is exact: integers stay `int`, scaled numbers are `Decimal` (227.4 V, 518.309 kvarh),
    identifiers are `str`, clocks are timezone-aware `datetime` where the meter says enough.
    `unit` is the meter's own unit symbol ("W", "Wh", "kWh", "var", "A", "V", "Hz", "m3"), or None.
    `obis` is the reduced OBIS form "A-B:C.D.E" (or "A-B:C.D.E.F" when F is not 255), or None
    for values without an OBIS code (e.g. Kamstrup's list version, P1 ident fields).
    `timestamp` is the reading's own capture time where the message carries one (M-Bus gas).
    """

    value: ReadingValue
    unit: str | None = None
    obis: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class DemandPeak:
    """A month's highest quarter-hour average demand as a Belgian meter keeps it.

    `value`/`unit` as the meter wrote them (kW); `at` is when the peak happened; `period_end`
    is the history entry's own stamp, the moment its month closed (None for 1-0:1.6.0).
    """

    value: Decimal
    unit: str
    at: datetime | None
    period_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class MeterMessage:
    """A decoded meter message.

    `readings` is keyed by stable names (`active_power_import`, `voltage_l1`, `meter_id`,
    `active_power_import_total`, `gas_volume`, ...) or, for codes without a name, by the OBIS
    code itself ("1-0:96.7.21").
    `raw` is the message's bytes as received (the whole frame/readout), for diagnostics.
    `demand_history` is a Belgian meter's 0-0:98.1.0 list of monthly peaks (oldest last, as
    sent); empty for other meters.
    """

    source: Source
    manufacturer: str | None
    readings: Mapping[str, Reading] = field(default_factory=dict)
    raw: bytes = b""
    demand_history: tuple[DemandPeak, ...] = ()

    def value(self, name: str) -> ReadingValue | None:
        """The value of reading `name`, or None when the message does not carry it."""
        reading = self.readings.get(name)
        return None if reading is None else reading.value
