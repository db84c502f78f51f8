"""Errors of the Corus protocol library.

Public API: `CorusError` is the base of everything this library raises; callers (the Home
Assistant coordinator, the CLI) catch it and map the subclasses:

- `CorusConnectionError`: the TCP connection could not be opened, was refused or was lost.
  - `CorusTimeoutError`: a step got no (complete) answer within the client's timeout.
- `CorusProtocolError`: the converter answered, but not as the protocol says (bad framing,
  unexpected byte, a length that does not match, a NAK, records out of order).
  - `CorusCrcError`: a frame's CRC-16 did not match (after the allowed retries).
  - `CorusDecodeError`: bytes of a value could not be decoded by their data type.
  - `UnsupportedLayoutError`: no record layout is known for a database record length.
- `CorusAuthenticationError`: the converter refused the password.
- `UnsupportedFirmwareError`: the converter's parameter map (`FL_<map>`) is not known.
- `CorusEncodeError`: a value cannot be encoded in the requested data type (out of range, wrong
  kind); raised before anything is sent.

Nothing else escapes the client: `ValueError`, `decimal.InvalidOperation` and `OSError` are
wrapped into one of these.
"""

from __future__ import annotations

from collections.abc import Iterable


class CorusError(Exception):
    """Base of every error this library raises."""


class CorusConnectionError(CorusError):
    """The TCP connection to the converter could not be opened or was lost."""


class CorusTimeoutError(CorusConnectionError):
    """The converter did not answer a step within the configured timeout."""


class CorusProtocolError(CorusError):
    """The converter's answer does not follow the protocol."""


class CorusCrcError(CorusProtocolError):
    """A frame's CRC-16 did not match its content."""


class CorusDecodeError(CorusProtocolError):
    """Bytes that cannot be decoded as the expected data type (length, invalid date...)."""


class UnsupportedLayoutError(CorusProtocolError):
    """Database records of a length for which no record layout is known."""


class CorusAuthenticationError(CorusError):
    """The converter refused the password of the sign-on."""


class CorusEncodeError(CorusError):
    """A value that the requested data type cannot represent."""


class UnsupportedFirmwareError(CorusError):
    """The converter reports a parameter map id (parameter 0x5E) that no known map matches."""

    def __init__(self, map_id: str, known: Iterable[str]) -> None:
        self.map_id = map_id
        self.known = tuple(sorted(known, key=str.lower))
        super().__init__(
            f"unsupported Corus parameter map {map_id!r} (known maps: {', '.join(self.known)})"
        )
