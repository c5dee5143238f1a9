"""How long the command line waits for the database while the dashboard is being watched.

Loads the demo programme into a temporary database, then runs the command line
(`extracts`, and `ingest` of one more participant) three times each: first with nobody
watching, then while 20 sessions poll the dashboard's store in this process, as the
dashboard's sessions do (each checks the data version every second, ten times the live
view's rate, and reads the whole snapshot every 5 seconds), with the dashboard's own
idle release. Prints the command line's times, the sessions' read times and their errors.

    .venv/bin/python scripts/bench_store.py [--sessions 20]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app_pages.common import IDLE_RELEASE_SECONDS  # noqa: E402
from dashboard.config import load_programme  # noqa: E402
from dashboard.demo import load_demo  # noqa: E402
from dashboard.store import Store  # noqa: E402

RUNS = 3


def cli(db: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "dashboard", "--db", str(db), *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {result.stdout}{result.stderr}")
    return time.perf_counter() - started, result


def one_more(folder: Path, n: int) -> Path:
    """The demo's last PUMP-IT export with one more participant (a new file every run)."""
    lines = (ROOT / "data" / "demo" / "PUMP-IT_NKI_2026-11-16.csv").read_bytes().decode().splitlines()
    extra = [line.replace("PIT-NKI-043", f"PIT-NKI-9{n:02d}") for line in lines if line.startswith("PIT-NKI-043,")]
    path = folder / f"PUMP-IT_bench_{n}.csv"
    path.write_text("\r\n".join(lines + extra) + "\r\n")
    return path


def measure(db: Path, folder: Path, start: int) -> dict[str, list[float]]:
    times = {"extracts": [], "ingest": []}
    for n in range(RUNS):
        took, _ = cli(db, "extracts", "--json")
        times["extracts"].append(took)
        took, _ = cli(db, "ingest", str(one_more(folder, start + n)), "--trial", "PUMP-IT", "--by", "bench", "--accept-warnings")
        times["ingest"].append(took)
    return times


def watched(db: Path, folder: Path, sessions: int) -> tuple[dict[str, list[float]], list[float], list[str]]:
    store = Store(db, idle_release=IDLE_RELEASE_SECONDS)
    stop, reads, errors = threading.Event(), [], []

    def session(offset: float) -> None:
        time.sleep(offset)
        tick = 0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                store.data_version()
                if tick % 5 == 0:
                    store.current_participants()
                    store.last_extract_per_site()
            except Exception as exc:  # counted: there must be none
                errors.append(repr(exc))
            reads.append(time.perf_counter() - started)
            tick += 1
            time.sleep(1.0)

    threads = [threading.Thread(target=session, args=(i / sessions,)) for i in range(sessions)]
    for t in threads:
        t.start()
    time.sleep(2)
    try:
        times = measure(db, folder, start=50)
    finally:
        stop.set()
        for t in threads:
            t.join()
    return times, reads, errors


def line(name: str, values: list[float]) -> str:
    return f"{name:<34} median {statistics.median(values):6.2f} s   max {max(values):6.2f} s   ({len(values)} runs)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "bench.duckdb"
        started = time.perf_counter()
        load_demo(Store(db, create=True), load_programme())
        print(f"demo programme loaded in {time.perf_counter() - started:.1f} s")
        alone = measure(db, folder, start=0)
        busy, reads, errors = watched(db, folder, args.sessions)
        print("\nthe command line, nobody watching:")
        print(line("  extracts --json", alone["extracts"]))
        print(line("  ingest (one more participant)", alone["ingest"]))
        print(f"\nthe command line, {args.sessions} sessions polling (idle release {IDLE_RELEASE_SECONDS:.0f} s):")
        print(line("  extracts --json", busy["extracts"]))
        print(line("  ingest (one more participant)", busy["ingest"]))
        wait = [b - a for b, a in zip(sorted(busy["extracts"] + busy["ingest"]), sorted(alone["extracts"] + alone["ingest"]), strict=True)]
        print(f"  extra time from waiting: median {statistics.median(wait):.2f} s, max {max(wait):.2f} s")
        reads.sort()
        print(f"\nthe sessions: {len(reads)} polls, median {statistics.median(reads) * 1000:.0f} ms, "
              f"95th percentile {reads[int(len(reads) * 0.95)] * 1000:.0f} ms, max {reads[-1] * 1000:.0f} ms, errors {len(errors)}")
        for error in sorted(set(errors))[:5]:
            print(f"  {error}")


if __name__ == "__main__":
    main()
