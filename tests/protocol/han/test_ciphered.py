"""Raw ciphered APDUs on a stream (Luxembourg, Steiermark): framing, lock-on, keys, damage."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.amshan_corus.protocol.han.ciphered import (
    CipheredFrameReader,
    decode_ciphered,
)
from custom_components.amshan_corus.protocol.han.crc import crc16_arc
from custom_components.amshan_corus.protocol.han.decode import decode_any
from custom_components.amshan_corus.protocol.han.errors import (
    ChecksumError,
    FrameError,
    KeyRequiredError,
    WrongKeyError,
)
from custom_components.amshan_corus.protocol.han.hdlc import HdlcFrameReader
from custom_components.amshan_corus.protocol.han.models import MeterMessage, Source
from custom_components.amshan_corus.protocol.han.security import SecurityKeys, encrypt_apdu
from custom_components.amshan_corus.protocol.han.stream import MeterStreamDecoder, StreamFormat

from .vectors import vector, vector_keys

KELAG = [f"ENC-{n}" for n in (14, 15, 16, 17, 18)]  # one AM550, SC 0x20, short-form length
KELAG_KEYS = vector_keys("ENC-14")


def _apdu(name: str) -> bytes:
    """The vector's ciphered APDU without its HDLC frame and LLC: what a raw port sends."""
    (frame,) = HdlcFrameReader().feed(vector(name))
    return frame.information[3:]


APDUS = [_apdu(name) for name in KELAG]
GARBAGE = bytes(range(256)).replace(b"\xdb", b"").replace(b"\xdc", b"")


def _feed(decoder: MeterStreamDecoder, data: bytes, chunk: int) -> list[MeterMessage]:
    return [m for i in range(0, len(data), chunk) for m in decoder.feed(data[i : i + chunk])]


def _lux_readout(crc: bool = True) -> bytes:
    """SYNTH: a short DSMR readout as Luxembourg's Sagemcom T210 carries it inside the APDU."""
    body = b"/Lux5\\2M550T-1013\r\n\r\n1-0:1.8.0(000123.456*kWh)\r\n1-0:1.7.0(01.234*kW)\r\n!"
    checksum = crc16_arc(body) if crc else crc16_arc(body) ^ 1
    return body + f"{checksum:04X}\r\n".encode()


def test_real_apdus_decode_one_by_one() -> None:
    assert APDUS[0][:2] == b"\xdb\x08"
    assert APDUS[0][10] == 0x5F  # short-form length
    long_form = _apdu("ENC-01")  # 82 01D0, authenticated: the tag is checked
    message = decode_ciphered(long_form, keys=vector_keys("ENC-01"))
    assert message.source is Source.DLMS
    assert message.raw == long_form
    assert message.value("active_power_import") == 1083
    assert decode_any(APDUS[0], keys=KELAG_KEYS)[0].value("active_power_import_total") == 14370048


@pytest.mark.parametrize("chunk", [1, 2, 5, 11, 64, 1000])
def test_stream_of_raw_apdus_in_any_chunking_with_garbage(chunk: int) -> None:
    data = GARBAGE + GARBAGE.join(APDUS) + GARBAGE
    decoder = MeterStreamDecoder(KELAG_KEYS)
    messages = _feed(decoder, data, chunk)
    assert [m.raw for m in messages] == APDUS
    assert decoder.format is StreamFormat.CIPHERED
    assert decoder.decode_errors == 0
    assert messages[0].value("meter_id") == "1121378381199"
    assert messages[0].value("active_power_import") == 9


@settings(max_examples=200)
@given(st.lists(st.integers(1, 200), min_size=1, max_size=40))
def test_any_split_gives_the_same_frames(cuts: list[int]) -> None:
    data = b"\x00\x55".join(APDUS)
    reader = CipheredFrameReader()
    frames, pos = [], 0
    for cut in cuts:
        frames += reader.feed(data[pos : pos + cut])
        pos += cut
    frames += reader.feed(data[pos:])
    assert [frame.apdu for frame in frames] == APDUS
    assert reader.buffered <= 7


def test_corrupted_frame_in_the_middle_spares_its_neighbours() -> None:
    broken = bytearray(APDUS[2])
    # The first ciphertext byte (the plaintext's 0F tag). Without a GCM tag (SC 0x20) only the
    # decrypted structure can show damage: a flipped bit in a value would go unnoticed.
    broken[16] ^= 0x01
    data = APDUS[0] + APDUS[1] + bytes(broken) + APDUS[3] + APDUS[4]
    decoder = MeterStreamDecoder(KELAG_KEYS)
    messages = _feed(decoder, data, 7)
    assert [m.raw for m in messages] == APDUS[:2] + APDUS[3:]
    assert decoder.decode_errors == 1


@pytest.mark.parametrize("chunk", [1, 9, 1000])
def test_cut_short_or_overlong_frame_spares_the_next(chunk: int) -> None:
    overlong = APDUS[3][:10] + b"\x7f" + APDUS[3][11:]  # length damaged: 0x5F -> 0x7F
    data = APDUS[0] + APDUS[1][:50] + APDUS[2] + overlong + APDUS[4]
    decoder = MeterStreamDecoder(KELAG_KEYS)
    messages = _feed(decoder, data, chunk)
    assert [m.raw for m in messages] == [APDUS[0], APDUS[2], APDUS[4]]
    assert decoder.rejected == 2
    assert isinstance(decoder.last_error, FrameError)
    assert "cut short" in str(decoder.last_error)


def test_wrong_and_missing_key_are_counted_with_the_reason() -> None:
    data = b"".join(APDUS)
    wrong = MeterStreamDecoder(SecurityKeys(bytes(16)))
    assert wrong.feed(data) == []
    assert wrong.decode_errors == 5
    assert isinstance(wrong.last_error, WrongKeyError)
    missing = MeterStreamDecoder()
    assert missing.feed(data) == []
    assert missing.decode_errors == 5
    assert isinstance(missing.last_error, KeyRequiredError)


def test_p1_plaintext_decodes_from_stream_and_payload() -> None:
    keys = SecurityKeys(bytes(range(16)), bytes(range(16, 32)))
    title = b"SAG\x00\x00\x01\x02\x03"
    readout = _lux_readout()
    apdus = [
        encrypt_apdu(readout, system_title=title, frame_counter=n, keys=keys) for n in (1, 2, 3)
    ]
    decoder = MeterStreamDecoder(keys)
    messages = _feed(decoder, GARBAGE.join(apdus), 3)
    assert [m.raw for m in messages] == apdus
    assert messages[0].source is Source.DLMS
    assert messages[0].value("active_power_import_total") is not None
    (single,) = decode_any(apdus[0], keys=keys)
    assert single.readings == messages[0].readings
    bad_crc = encrypt_apdu(_lux_readout(crc=False), system_title=title, frame_counter=4, keys=keys)
    with pytest.raises(ChecksumError):  # the GCM tag passed: the P1 layer is the one that failed
        decode_ciphered(bad_crc, keys=keys)


def test_db_inside_hdlc_and_gbt_frames_keeps_the_hdlc_lock() -> None:
    for name in ("ENC-14", "ENC-16", "ENC-02"):  # ENC-16 has DB bytes in its ciphertext too
        decoder = MeterStreamDecoder(vector_keys(name))
        messages = _feed(decoder, vector(name) * 3, 1)
        assert decoder.format is StreamFormat.HDLC, name
        assert [m.source for m in messages] == [Source.HDLC] * 3
        assert decoder.decode_errors == 0
        assert decoder.last_error is None


def test_implausible_headers_are_skipped() -> None:
    good = APDUS[0]
    no_flags = good[:11] + b"\x00" + good[12:]  # SC without encryption or authentication
    suite_7 = good[:11] + b"\x27" + good[12:]
    too_long = good[:10] + b"\x82\x7f\xff" + good[11:]
    not_a_title = b"\xdb\x09" + good[2:]
    reader = CipheredFrameReader()
    frames = reader.feed(no_flags + suite_7 + too_long + not_a_title + good)
    assert [frame.apdu for frame in frames] == [good]
    assert reader.buffered == 0
