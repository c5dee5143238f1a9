"""How long the check takes on files made to be slow (issue 9): a single huge cell, a very
wide file, free text in every row. Speed is shown by this script's figures, not by timed
tests.

    .venv/bin/python scripts/bench_hostile.py [--repeat 3]

Each line: the shape, the outcome (refused with its first words, or loaded) and the best of
--repeat wall-clock runs of `check_extract` (read, identifier screen, every rule).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.config import load_programme
from dashboard.fields import FIELD_NAMES
from dashboard.ingest import check_extract

HEADER = "participant_id,site,screened_on,enrolled_on,arm"
TODAY = dt.date(2026, 11, 21)


def lines(*rows: str) -> bytes:
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


def shapes() -> dict[str, bytes]:
    wide = 2_990
    return {
        "one 99,999-character cell, no spaces": lines(HEADER + ",note", "P-1,EMC,,05-03-2024,haip," + "a" * 99_999),
        "one 99,998-character cell of 'a@' (e-mail worst case)": lines(HEADER + ",note", "P-1,EMC,,05-03-2024,haip," + "a@" * 49_999),
        "one 99,999-character cell of digits (phone/BSN worst case)": lines(HEADER + ",note", "P-1,EMC,,05-03-2024,haip," + "7" * 99_999),
        "one 100,001-character cell (over the limit)": lines(HEADER + ",note", "P-1,EMC,,05-03-2024,haip," + "a" * 100_001),
        f"{wide + 5:,} columns x 100 rows (under the limit)": lines(
            HEADER + "," + ",".join(f"v{i}" for i in range(wide)),
            *[f"P-{r},EMC,,05-03-2024,haip," + ",".join(str(i % 7) for i in range(wide)) for r in range(100)],
        ),
        "50,002 columns (over the limit)": lines(
            "participant_id,enrolled_on," + ",".join(f"c{i}" for i in range(50_000)), "P-1,05-03-2024" + ",x" * 50_000
        ),
        "100,000 rows with a free-text reason each": lines(
            HEADER + ",screen_fail_reason",
            *[f"P-{r},EMC,2024-03-01,,,reason {r % 500} bilirubin > 2x ULN" for r in range(100_000)],
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    programme = load_programme()
    current = pd.DataFrame(columns=["trial", *FIELD_NAMES, "source_row"])
    print(f"{'shape':60} {'outcome':58} {'seconds':>8}")
    for name, data in shapes().items():
        best, checked = float("inf"), None
        for _ in range(args.repeat):
            start = time.perf_counter()
            checked = check_extract(data, "bench.csv", programme, "PUMP", TODAY, current)
            best = min(best, time.perf_counter() - start)
        outcome = "loaded" if checked.ok else "refused: " + checked.errors[0].message[:48]
        print(f"{name:60} {outcome:58} {best:8.3f}")


if __name__ == "__main__":
    main()
