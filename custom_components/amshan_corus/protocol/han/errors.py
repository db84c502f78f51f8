"""Errors of the HAN protocol library.

The hierarchy encodes the reaction (style: dsmr_parser):
- `FrameError`: this one frame/readout is damaged (checksum, length). Skip it and count it.
- `DecodeError`: the frame was intact but its content is not a meter message we can decode.
  Skip it and count it.
- `DecryptionError`: a wrong or missing key fails every frame; the caller should report it
  to the user instead of silently skipping forever. Deliberately not a `DecodeError`.
"""

from __future__ import annotations


class HanError(Exception):
    """Base of every error this library raises."""


class FrameError(HanError):
    """A frame or readout failed its integrity checks (HCS/FCS/CRC, length, format)."""


class ChecksumError(FrameError):
    """A header or frame checksum (HDLC HCS/FCS, P1 CRC-16) did not match."""


class DecodeError(HanError):
    """An intact message whose content could not be decoded as a meter message."""


class UnsupportedDataTypeError(DecodeError):
    """An A-XDR data type tag this decoder does not know."""


class DecryptionError(HanError):
    """An encrypted APDU could not be decrypted or authenticated."""


class KeyRequiredError(DecryptionError):
    """An encrypted APDU arrived and no encryption key was configured."""


class WrongKeyError(DecryptionError):
    """The GCM tag (or plaintext structure) shows the configured key is wrong."""


class ConnectionFailedError(HanError):
    """A serial port or TCP connection could not be opened, or failed while reading."""


class ConnectionLostError(ConnectionFailedError):
    """An open connection was closed by the other end or stopped delivering data."""
