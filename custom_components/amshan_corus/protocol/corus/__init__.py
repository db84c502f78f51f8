"""Itron/Actaris Corus gas volume converter protocol library (I-FLAG/Corus, SAM over TCP).

Pure Python, no Home Assistant imports. Modules, from the wire up:
- `crc`: CRC-16/UMTS, sent low byte first.
- `frames`: every message's bytes, built and checked (sans-I/O).
- `datatypes`: the 15 Corus data types, decoded and encoded (exact `Decimal`, aware dates).
- `firmware`: the 32 parameter maps (`FL_<map>` in parameter 0x5E), with units.
- `databases`: record layouts by record length, parsing with pulse-weight scaling.
- `client`: `CorusClient`, the asyncio client (sessions, reads, writes, databases).
- `simulator`: `CorusSimulator`, a converter on TCP with fault switches.
- `errors`: `CorusError` and its subclasses; nothing else escapes the client.
"""
