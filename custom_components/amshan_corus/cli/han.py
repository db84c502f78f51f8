"""`han decode`, `han listen` and `simulate han` (HAN issue).

Output: JSON Lines, one line per decoded message:
`{"source": "hdlc", "manufacturer": "Aidon", "readings": {"active_power_import":
{"value": 7450, "unit": "W", "obis": "1-0:1.7.0"}, ...}}`. Numbers are JSON numbers,
datetimes ISO 8601, and a reading has "timestamp" only when it carries one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
import sys
from typing import Any

from ..protocol.han.bridges import is_text, parse_hex_text
from ..protocol.han.decode import decode_any
from ..protocol.han.errors import DecodeError, DecryptionError, FrameError, HanError
from ..protocol.han.models import MeterMessage, ReadingValue
from ..protocol.han.security import SecurityKeys
from ..protocol.han.simulator import Cadence, HanSimulator
from ..protocol.han.stream import MeterStreamDecoder
from ..protocol.han.transport import ByteSource, open_serial, open_tcp
from .common import CliError, Commands, dumps, run_until_interrupted

FILE_CHUNK = 4096
MAX_HISTORY_DAYS = 31  # a month of hours is computed in well under a second


def register(
    han_commands: Commands,
    simulate_commands: Commands,
) -> None:
    """Add the HAN sub-commands to the parser tree."""
    decode = han_commands.add_parser(
        "decode", help="decode one message (--hex) or a raw byte capture (--file)"
    )
    source = decode.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--hex", help="one message in any form (frame, APDU, body, P1, hex text...) as hex"
    )
    source.add_argument("--file", type=Path, help="a raw byte capture of a meter stream")
    _add_key_arguments(decode)
    decode.add_argument(
        "--summary", action="store_true", help="end with a line of the decoder's counters"
    )
    decode.set_defaults(handler=_decode)

    listen = han_commands.add_parser("listen", help="decode a live stream until interrupted")
    where = listen.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", metavar="HOST:PORT", help="a TCP byte stream (ser2net...)")
    where.add_argument("--serial", metavar="URL", help="a serial port or socket:// URL")
    listen.add_argument("--baud", type=int, default=2400, help="baud rate (default 2400)")
    listen.add_argument("--parity", choices=["N", "E", "O"], default="N", help="default N")
    _add_key_arguments(listen)
    listen.set_defaults(handler=_listen)

    simulate = simulate_commands.add_parser(
        "han", help="serve a simulated HAN meter (Aidon NO lists 1/2/3) over TCP"
    )
    simulate.add_argument("--port", type=int, required=True, help="TCP port (0: any free)")
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulate.add_argument("--file", type=Path, help="replay this raw capture instead")
    simulate.add_argument(
        "--cadence",
        choices=[cadence.value for cadence in Cadence],
        default=Cadence.REAL.value,
        help="real: list 1 every 2 s, list 2 every 10 s, list 3 hourly; "
        "fast: 60x faster (list 3 every minute)",
    )
    simulate.add_argument(
        "--history-days",
        type=float,
        default=0.0,
        help="send the first client the list 3 of every hour of the past N days first",
    )
    simulate.set_defaults(handler=_simulate)


def _add_key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", help="encryption key (GUEK), 32 hex digits")
    parser.add_argument("--auth-key", help="authentication key (GAK), 32 hex digits")


def _keys(args: argparse.Namespace) -> SecurityKeys | None:
    if args.key is None:
        if args.auth_key is not None:
            raise CliError("--auth-key needs --key (the encryption key)")
        return None
    return SecurityKeys(
        encryption_key=_key_bytes("--key", args.key),
        authentication_key=None
        if args.auth_key is None
        else _key_bytes("--auth-key", args.auth_key),
    )


def _key_bytes(option: str, text: str) -> bytes:
    try:
        key = parse_hex_text(text)
    except DecodeError as err:
        raise CliError(f"{option}: {err}") from err
    if len(key) != 16:
        raise CliError(f"{option}: a key is 16 bytes (32 hex digits), got {len(key)} bytes")
    return key


# --------------------------------------------------------------------------- output


def _json_value(value: ReadingValue) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        # Meter values have far fewer than 15 significant digits, so the float's shortest
        # repr is the decimal as sent (Decimal("227.4") is written 227.4).
        return float(value)
    return value


def message_json(message: MeterMessage) -> dict[str, Any]:
    """The JSON object of one message (the CLI's output contract)."""
    readings: dict[str, Any] = {}
    for name, reading in message.readings.items():
        entry: dict[str, Any] = {
            "value": _json_value(reading.value),
            "unit": reading.unit,
            "obis": reading.obis,
        }
        if reading.timestamp is not None:
            entry["timestamp"] = reading.timestamp
        readings[name] = entry
    return {
        "source": message.source.value,
        "manufacturer": message.manufacturer,
        "readings": readings,
    }


def _print(obj: dict[str, Any]) -> None:
    print(dumps(obj), flush=True)


# --------------------------------------------------------------------------- commands


def _decode(args: argparse.Namespace) -> int:
    keys = _keys(args)
    if args.hex is not None:
        return _decode_hex(args.hex, keys, summary=args.summary)
    return _decode_file(args.file, keys, summary=args.summary)


def _decode_hex(text: str, keys: SecurityKeys | None, *, summary: bool) -> int:
    try:
        data = parse_hex_text(text)
    except DecodeError as err:
        raise CliError(f"--hex: {err}") from err
    try:
        messages = decode_any(data, keys=keys)
    except HanError as err:
        raise CliError(_explain(err)) from err
    for message in messages:
        _print(message_json(message))
    if summary:
        frames = len(messages)
        _print(
            {"summary": {"bytes": len(data), "frames": frames, "messages": frames, "rejected": 0}}
        )
    return 0


def _explain(err: HanError) -> str:
    if isinstance(err, DecryptionError):
        return f"cannot decrypt: {err}"
    if isinstance(err, FrameError):
        return f"damaged frame: {err}"
    return f"not a meter message: {err}"


def _decode_file(path: Path, keys: SecurityKeys | None, *, summary: bool) -> int:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise CliError(f"cannot read {path}: {err.strerror or err}") from err
    if is_text(data) and not data.lstrip().startswith(b"/"):
        # A capture saved as hex text (copied from a bridge's log) rather than raw bytes.
        with contextlib.suppress(DecodeError):
            data = parse_hex_text(data)
    decoder = MeterStreamDecoder(keys)
    for offset in range(0, len(data), FILE_CHUNK):
        for message in decoder.feed(data[offset : offset + FILE_CHUNK]):
            _print(message_json(message))
    if decoder.messages == 0:
        reason = f"; last error: {_explain(decoder.last_error)}" if decoder.last_error else ""
        raise CliError(
            f"no meter message in {path} ({decoder.bytes} bytes, {decoder.frames} intact "
            f"frames, {decoder.rejected} rejected){reason}"
        )
    if summary:
        _print(
            {
                "summary": {
                    "bytes": decoder.bytes,
                    "frames": decoder.frames,
                    "messages": decoder.messages,
                    "rejected": decoder.rejected,
                }
            }
        )
    return 0


def _listen(args: argparse.Namespace) -> int:
    keys = _keys(args)
    if args.tcp is not None:
        host, _, port_text = args.tcp.rpartition(":")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise CliError(f"--tcp wants HOST:PORT, got {args.tcp!r}")
        port = int(port_text)

        async def connect() -> ByteSource:
            return await open_tcp(host, port)

    else:

        async def connect() -> ByteSource:
            return await open_serial(args.serial, baudrate=args.baud, parity=args.parity)

    async def listen() -> None:
        try:
            source = await connect()
        except HanError as err:
            raise CliError(str(err)) from err
        decoder = MeterStreamDecoder(keys)
        reported: str | None = None
        async with source:
            while True:
                try:
                    chunk = await source.read()
                except HanError as err:
                    raise CliError(str(err)) from err
                for message in decoder.feed(chunk):
                    _print(message_json(message))
                error = str(decoder.last_error) if decoder.last_error else None
                if error != reported and error is not None:
                    print(f"warning: {error}", file=sys.stderr, flush=True)
                reported = error

    return run_until_interrupted(listen)


def _simulate(args: argparse.Namespace) -> int:
    capture: bytes | None = None
    if args.file is not None:
        try:
            capture = args.file.read_bytes()
        except OSError as err:
            raise CliError(f"cannot read {args.file}: {err.strerror or err}") from err
        if not capture:
            raise CliError(f"{args.file} is empty")
    if not 0 <= args.port < 65536:
        raise CliError(f"--port must be 0..65535, got {args.port}")
    if not 0 <= args.history_days <= MAX_HISTORY_DAYS:
        raise CliError(f"--history-days must be 0..{MAX_HISTORY_DAYS}, got {args.history_days}")
    if args.history_days and capture is not None:
        raise CliError("--history-days is the built-in meter's; a --file capture has none")

    async def serve() -> None:
        simulator = HanSimulator(
            host=args.host,
            port=args.port,
            capture=capture,
            cadence=Cadence(args.cadence),
            history=timedelta(days=args.history_days),
        )
        try:
            await simulator.start()
        except HanError as err:
            raise CliError(str(err)) from err
        _print({"simulator": "han", "host": args.host, "port": simulator.port})
        try:
            await asyncio.Event().wait()
        finally:
            await simulator.stop()

    return run_until_interrupted(serve)
