"""HAN decoding throughput: messages per second through `MeterStreamDecoder`, against amshan.

Builds long realistic byte streams (Aidon and Kaifa NO lists 1/2/3, the Aidon SE list, P1
readouts, encrypted Iskraemeco AM550 frames), decodes each in 4 KiB chunks as a serial/TCP
source delivers them, and prints messages/s. amshan 2.1.1 (import package `han`) decodes the
same streams in a throw-away venv under /tmp (never a project dependency); it cannot decrypt.
Best of several runs. Usage: scripts/bench han  (or .venv/bin/python scripts/bench_han.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
import itertools
import json
from pathlib import Path
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from custom_components.amshan_corus.protocol.han.hdlc import encode_hdlc_frame  # noqa: E402
from custom_components.amshan_corus.protocol.han.security import SecurityKeys  # noqa: E402
from custom_components.amshan_corus.protocol.han.simulator import AidonNoMeter  # noqa: E402
from custom_components.amshan_corus.protocol.han.stream import MeterStreamDecoder  # noqa: E402

VECTORS = REPO.parent / "shared" / "vectors"
AMSHAN_VENV = Path(tempfile.gettempdir()) / "amshan-bench-venv"
CHUNK = 4096
RUNS = 3


def _vectors() -> dict[str, tuple[bytes, dict[str, str]]]:
    found: dict[str, tuple[bytes, dict[str, str]]] = {}
    for filename in ("han_vectors.txt", "dlms_extra_vectors.txt"):
        name, meta = "", {}
        for line in (VECTORS / filename).read_text(encoding="utf-8").splitlines():
            if line.startswith(("# [", "# =====")):
                name = line.split("[")[1].split("]")[0] if "[" in line else line.strip("# =")
                meta = {}
            elif line.startswith("#"):
                key, _, value = line.lstrip("#").strip().partition(":")
                meta.setdefault(key.strip(), value.strip())
            elif line.strip() and name and name not in found:
                found[name] = (bytes.fromhex(line.strip()), meta)
    return found


def build_streams() -> dict[str, tuple[bytes, SecurityKeys | None]]:
    """Name -> (stream bytes, keys)."""
    vectors = _vectors()

    def kaifa(name: str) -> bytes:
        info = vectors[name][0]
        return encode_hdlc_frame(info, destination=b"\x01", source=b"\x02\x01", control=0x10)

    aidon = AidonNoMeter(datetime(2026, 1, 1, tzinfo=UTC), seed=1).frames()
    aidon_frames = [frame for _, frame in itertools.islice(aidon, 3600)]  # two hours
    kaifa_cycle = [kaifa("kaifa_no_list1_info")] * 4 + [kaifa("kaifa_no_list2_info")]
    kaifa_frames = kaifa_cycle * 400 + [kaifa("kaifa_no_list3_info")] * 10
    aidon_se = encode_hdlc_frame(vectors["aidon_se_list_info"][0])
    readouts = [vectors[n][0] for n in ("p1_lg_e360_D", "p1_ell_C", "p1_kamstrup")]
    encrypted = [vectors[f"ENC-{n}"][0] for n in (14, 15, 16, 17, 18)]
    key = SecurityKeys(bytes.fromhex(vectors["ENC-14"][1]["ek"]))
    return {
        "hdlc_no_lists": (b"".join(aidon_frames + kaifa_frames), None),
        "aidon_se": (aidon_se * 2000, None),
        "p1": (b"".join(readouts) * 700, None),
        "encrypted_hdlc": (b"".join(encrypted) * 400, key),
    }


def _best(run: Callable[[], int]) -> tuple[int, float]:
    best = float("inf")
    messages = 0
    for _ in range(RUNS):
        start = time.perf_counter()
        messages = run()
        best = min(best, time.perf_counter() - start)
    return messages, best


def bench_ours(data: bytes, keys: SecurityKeys | None) -> tuple[int, float]:
    def run() -> int:
        decoder = MeterStreamDecoder(keys)
        count = 0
        for i in range(0, len(data), CHUNK):
            count += len(decoder.feed(data[i : i + CHUNK]))
        return count

    return _best(run)


AMSHAN_RUNNER = (
    textwrap.dedent(
        """
    import json, sys, time
    from han.autodecoder import AutoDecoder
    from han.dlde import ModeDReader
    from han.hdlc import HdlcFrameReader

    results = {}
    for name, kind, path in json.loads(sys.argv[1]):
        data = open(path, "rb").read()
        best, count = float("inf"), 0
        for _ in range(RUNS):
            start = time.perf_counter()
            # The readers amshan's serial/TCP factories use.
            reader = HdlcFrameReader(False, True) if kind == "hdlc" else ModeDReader()
            decoder = AutoDecoder()
            count = 0
            for i in range(0, len(data), CHUNK):
                for frame in reader.read(data[i : i + CHUNK]):
                    if frame.is_valid and decoder.decode_message(frame):
                        count += 1
            best = min(best, time.perf_counter() - start)
        results[name] = [count, best]
    print(json.dumps(results))
    """
    )
    .replace("RUNS", str(RUNS))
    .replace("CHUNK", str(CHUNK))
)


def ensure_amshan() -> Path | None:
    python = AMSHAN_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing amshan==2.1.1 into {AMSHAN_VENV} (throw-away) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(AMSHAN_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "amshan==2.1.1"], check=True)
        except (OSError, subprocess.CalledProcessError) as err:
            print(f"amshan unavailable ({err}); printing our figures only")
            return None
    return python


def bench_amshan(streams: dict[str, tuple[bytes, SecurityKeys | None]]) -> dict[str, list[float]]:
    python = ensure_amshan()
    if python is None:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for name, (data, keys) in streams.items():
            if keys is not None:
                continue  # amshan has no decryption
            path = Path(tmp) / f"{name}.bin"
            path.write_bytes(data)
            jobs.append([name, "p1" if name == "p1" else "hdlc", str(path)])
        out = subprocess.run(
            [str(python), "-c", AMSHAN_RUNNER, json.dumps(jobs)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    results: dict[str, list[float]] = json.loads(out)
    return results


def main() -> None:
    streams = build_streams()
    theirs = bench_amshan(streams)
    header = f"{'stream':<16}{'bytes':>9}{'msgs':>7}{'ours msg/s':>12}{'amshan msg/s':>14}"
    print(f"{header}{'ratio':>8}")
    for name, (data, keys) in streams.items():
        messages, seconds = bench_ours(data, keys)
        ours = messages / seconds
        if name in theirs:
            their_messages, their_seconds = theirs[name]
            their_rate = their_messages / their_seconds
            note = "" if their_messages == messages else f"  (amshan decoded {their_messages:.0f})"
            print(
                f"{name:<16}{len(data):>9}{messages:>7}{ours:>12.0f}{their_rate:>14.0f}"
                f"{ours / their_rate:>7.1f}x{note}"
            )
        else:
            print(f"{name:<16}{len(data):>9}{messages:>7}{ours:>12.0f}{'n/a':>14}{'':>8}")


if __name__ == "__main__":
    main()
