"""What a director waits for: the figures behind a page, on the demo data.

    .venv/bin/python scripts/bench_dashboard.py [--repeat 5]

Loads the demo into a temporary database through the real ingest path (timed), then
times what a page render and the live refresh do against it: the cheap data-version poll
(open the file, one query, close), the as-of snapshot query, and the programme summary
with its forecasts (the overview's and `summary --json`'s numbers). Best of --repeat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard import service
from dashboard.config import load_programme
from dashboard.demo import DEMO_UNTIL, load_demo
from dashboard.store import Store


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    programme = load_programme()
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "bench.duckdb")
        start = time.perf_counter()
        extracts = load_demo(store, programme)
        load = time.perf_counter() - start
        participants = len(store.current_participants())
        print(f"demo: {extracts} extracts, {participants} current participant rows; best of {args.repeat}")
        print(f"  load the demo through check + commit        {load:7.2f} s ({1000 * load / extracts:.0f} ms per extract)")
        print(f"  data-version poll (open, query, close)      {1000 * best(args.repeat, store.data_version):7.1f} ms")
        as_of = DEMO_UNTIL
        snap = best(args.repeat, lambda: service.snapshot(store, as_of))
        print(f"  as-of snapshot (participants + freshness)   {1000 * snap:7.1f} ms")
        summ = best(args.repeat, lambda: service.programme_summary(store, programme, as_of))
        print(f"  programme summary with forecasts            {1000 * summ:7.1f} ms")


if __name__ == "__main__":
    main()
