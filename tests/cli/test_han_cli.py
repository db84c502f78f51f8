"""`han decode`, `han listen` and `simulate han`, run as the real command (subprocess)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
import json
import os
from pathlib import Path
import select
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from custom_components.amshan_corus.protocol.han.stream import MeterStreamDecoder
from tests.conftest import REPO_ROOT
from tests.protocol.han.vectors import all_vectors, vector

pytestmark = pytest.mark.usefixtures("socket_enabled")

FRAME_7D = b"\x7e" + vector("hdlc_aidon_list1_with_7d") + b"\x7e"  # Aidon list 1, 1661 W
FRAME_7E = b"\x7e" + vector("hdlc_kaifa_list1_with_7e") + b"\x7e"  # Kaifa list 1, 5502 W
COMMAND = [sys.executable, "-m", "custom_components.amshan_corus"]
ENC_01 = all_vectors()["ENC-01"]


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _capture(tmp: Path) -> Path:
    corrupt = bytearray(FRAME_7E)
    corrupt[20] ^= 0x40
    path = tmp / "capture.bin"
    path.write_bytes(b"\x00\x13noise" + FRAME_7D + bytes(corrupt) + FRAME_7E + b"\xff" * 5)
    return path


# Each run starts Python and imports the package; run the decode cases side by side.
CASES: dict[str, tuple[str, ...]] = {
    "frame": ("han", "decode", "--hex", FRAME_7D.hex()),
    "p1": ("han", "decode", "--hex", vector("p1_lg_e360_D").hex()),
    "gas": ("han", "decode", "--hex", vector("p1_dsmr_B").hex().upper()),
    "body_summary": ("han", "decode", "--hex", vector("kaifa_no_list1_body").hex(), "--summary"),
    "encrypted": (
        "han",
        "decode",
        "--hex",
        ENC_01.data.hex(),
        "--key",
        ENC_01.meta["ek"],
        "--auth-key",
        ENC_01.meta["ak"],
    ),
    "no_key": ("han", "decode", "--hex", ENC_01.data.hex()),
    "zz": ("han", "decode", "--hex", "zz"),
    "0201": ("han", "decode", "--hex", "0201"),
    "bad_fcs": ("han", "decode", "--hex", FRAME_7E[:-3].hex() + "00007e"),
    "short_key": ("han", "decode", "--hex", "0201", "--key", "0011"),
    "missing_file": ("han", "decode", "--file", "/nonexistent/capture.bin"),
}


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("cli")
    cases = dict(CASES)
    cases["file"] = ("han", "decode", "--file", str(_capture(tmp)), "--summary")
    (tmp / "capture.txt").write_text(f"{FRAME_7D.hex()}\n{FRAME_7E.hex().upper()}\n")
    cases["hex_file"] = ("han", "decode", "--file", str(tmp / "capture.txt"))
    (tmp / "noise.bin").write_bytes(b"\x00" * 5000)
    cases["noise_file"] = ("han", "decode", "--file", str(tmp / "noise.bin"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_run, *args) for name, args in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def _lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [json.loads(line) for line in result.stdout.splitlines()]


def _error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_decode_frame_exact_json(results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    assert results["frame"].stdout == (
        '{"source": "hdlc", "manufacturer": null, "readings": {"active_power_import": '
        '{"value": 1661, "unit": "W", "obis": "1-0:1.7.0"}}}\n'
    )


def test_decode_p1_numbers_and_datetimes(
    results: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    (line,) = _lines(results["p1"])
    assert line["source"] == "p1"
    assert line["manufacturer"] == "Landis+Gyr"
    readings = line["readings"]
    assert readings["active_power_import_total"] == {
        "value": 10501.076,
        "unit": "kWh",
        "obis": "1-0:1.8.0",
    }
    assert readings["voltage_l1"] == {"value": 232.1, "unit": "V", "obis": "1-0:32.7.0"}
    assert readings["meter_datetime"] == {
        "value": "2022-02-04T11:06:50+01:00",
        "unit": None,
        "obis": "0-0:1.0.0",
    }
    assert '"value": 10501.076,' in results["p1"].stdout  # a JSON number, as sent
    assert all("timestamp" not in reading for reading in readings.values())


def test_decode_gas_reading_has_timestamp(
    results: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    (line,) = _lines(results["gas"])
    assert line["readings"]["gas_volume"] == {
        "value": 4890.857,
        "unit": "m3",
        "obis": "0-1:24.2.1",
        "timestamp": "2018-09-24T13:00:00+02:00",
    }
    assert line["readings"]["current_l1"]["value"] == 1  # "001*A": an int stays an int


def test_decode_body_with_summary(results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    message, summary = _lines(results["body_summary"])
    assert message["readings"]["active_power_import"]["value"] == 5852
    assert summary == {"summary": {"bytes": 7, "frames": 1, "messages": 1, "rejected": 0}}


def test_decode_file_with_corrupt_frame(
    results: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    lines = _lines(results["file"])
    assert [line["readings"]["active_power_import"]["value"] for line in lines[:-1]] == [
        1661,
        5502,
    ]
    size = 7 + len(FRAME_7D) + 2 * len(FRAME_7E) + 5
    assert lines[-1] == {"summary": {"bytes": size, "frames": 2, "messages": 2, "rejected": 1}}


def test_decode_file_of_hex_text(results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    lines = _lines(results["hex_file"])
    assert [line["readings"]["active_power_import"]["value"] for line in lines] == [1661, 5502]


def test_decode_encrypted_with_keys(results: dict[str, subprocess.CompletedProcess[str]]) -> None:
    (line,) = _lines(results["encrypted"])
    assert line["manufacturer"] == "Kamstrup"
    assert line["readings"]["active_power_import"]["value"] == 1083


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("zz", "error: --hex: not hex text: 'z' at position 0"),
        ("0201", "error: not a meter message: "),
        ("bad_fcs", "error: damaged frame: HDLC frame check sequence (FCS) mismatch"),
        ("no_key", "error: cannot decrypt: "),
        ("short_key", "error: --key: a key is 16 bytes (32 hex digits), got 2 bytes"),
        ("missing_file", "error: cannot read /nonexistent/capture.bin: "),
        ("noise_file", "error: no meter message in "),
    ],
)
def test_errors_are_one_line(
    results: dict[str, subprocess.CompletedProcess[str]], case: str, text: str
) -> None:
    assert _error(results[case]).startswith(text)


@pytest.fixture
def one_shot_server() -> Iterator[int]:
    """A TCP server that sends two frames to its first client, then hangs up."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.sendall(FRAME_7D + FRAME_7E)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    thread.join(5)
    server.close()


def test_listen_tcp_until_the_peer_hangs_up(one_shot_server: int) -> None:
    result = _run("han", "listen", "--tcp", f"127.0.0.1:{one_shot_server}")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["readings"]["active_power_import"]["value"] for line in lines] == [1661, 5502]
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: tcp://127.0.0.1:{one_shot_server}: connection closed by the other end"
    )


def test_listen_bad_address() -> None:
    assert _error(_run("han", "listen", "--tcp", "localhost")) == (
        "error: --tcp wants HOST:PORT, got 'localhost'"
    )


def test_simulate_han_serves_decodable_frames() -> None:
    process = subprocess.Popen(
        [*COMMAND, "simulate", "han", "--port", "0", "--cadence", "fast"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        announce = json.loads(process.stdout.readline())
        assert announce["simulator"] == "han"
        decoder = MeterStreamDecoder()
        messages = []
        with socket.create_connection(("127.0.0.1", announce["port"]), timeout=30) as client:
            while not any(m.value("meter_id") for m in messages):
                data = client.recv(4096)
                assert data
                messages += decoder.feed(data)
        assert decoder.rejected == 0
        assert any(m.value("meter_id") == "7359992892587665" for m in messages)
    finally:
        process.terminate()
        process.wait(30)


def test_listen_serial_pseudo_terminal() -> None:
    master, slave = os.openpty()
    process = subprocess.Popen(
        [
            *COMMAND,
            "han",
            "listen",
            "--serial",
            os.ttyname(slave),
            "--baud",
            "2400",
            "--parity",
            "E",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[dict[str, Any]] = []
        # Until the port is open, what is written is lost: repeat until lines come back.
        while len(lines) < 2:
            os.write(master, FRAME_7D + FRAME_7E)
            ready, _, _ = select.select([process.stdout], [], [], 5)
            if ready:
                lines.append(json.loads(process.stdout.readline()))
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
        powers = {line["readings"]["active_power_import"]["value"] for line in lines}
        assert powers <= {1661, 5502}
    finally:
        process.terminate()
        process.wait(30)
        os.close(slave)
        os.close(master)
