"""Constants of the amshan_corus integration: domain, config-entry keys and defaults."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
import logging
from typing import Final

from homeassistant.const import Platform

DOMAIN: Final = "amshan_corus"
LOGGER: Final = logging.getLogger(__package__)
PLATFORMS: Final = [Platform.SENSOR]


class Connection(StrEnum):
    """How a configured meter is reached; stored in entry.data[CONF_CONNECTION]."""

    HAN_SERIAL = "han_serial"
    HAN_TCP = "han_tcp"
    HAN_MQTT = "han_mqtt"
    CORUS_TCP = "corus_tcp"


HAN_CONNECTIONS: Final = frozenset({Connection.HAN_SERIAL, Connection.HAN_TCP, Connection.HAN_MQTT})

# entry.data (how to connect; changed by the reconfigure flow). CONF_HOST, CONF_PORT,
# CONF_PASSWORD and CONF_DEVICE come from homeassistant.const.
CONF_CONNECTION: Final = "connection"
CONF_BAUDRATE: Final = "baudrate"
CONF_PARITY: Final = "parity"
CONF_TOPICS: Final = "topics"
CONF_ENCRYPTION_KEY: Final = "encryption_key"
CONF_AUTHENTICATION_KEY: Final = "authentication_key"
CONF_TIMEZONE: Final = "timezone"

# entry.options (tuning; changed by the options flow)
CONF_POLL_INTERVAL: Final = "poll_interval"  # Corus, in seconds
CONF_BACKFILL_DAYS: Final = "backfill_days"  # Corus: how far back the first hourly import reads
CONF_SCALE_CURRENT: Final = "scale_current"  # current-transformer meters
CONF_SCALE_POWER: Final = "scale_power"
CONF_SCALE_ENERGY: Final = "scale_energy"
CONF_CAPACITY_TARIFF: Final = "capacity_tariff"  # HAN: a name of insight.tariffs.TARIFF_NAMES
CONF_CAPACITY_RULES: Final = "capacity_rules"  # HAN, with the tariff "custom": its rules mapping

DEFAULT_BAUDRATE: Final = 2400
BAUDRATES: Final = [2400, 9600, 19200, 38400, 57600, 115200]
DEFAULT_PARITY: Final = "N"
PARITIES: Final = ["N", "E", "O"]
DEFAULT_CORUS_PORT: Final = 4000
DEFAULT_POLL_INTERVAL: Final = timedelta(minutes=5)
DEFAULT_BACKFILL_DAYS: Final = 31
MAX_BACKFILL_DAYS: Final = 366
