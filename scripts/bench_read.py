"""How long a large Castor export takes to read and validate (DESIGN.md 7: speed is
measured by a script with figures in its output, not by timed tests).

    .venv/bin/python scripts/bench_read.py [--rows 100000] [--repeat 3]

Builds a Castor-like study export in memory (`;`, CRLF, day-first dates without padding,
times, user-missing codes, checkbox columns, two sites, two arms) and times each stage of
an upload: read_table, detect_format, read_castor, find_identifiers, validate, and the
whole check_extract (against an empty current snapshot). Prints the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dashboard.config import load_programme
from dashboard.fields import FIELD_NAMES
from dashboard.identifiers import find_identifiers
from dashboard.ingest import check_extract
from dashboard.readers import READERS, detect_format
from dashboard.readers.reading import read_table
from dashboard.validation import validate

TODAY = dt.date(2026, 11, 21)
HEADER = [
    "Participant Id",
    "Participant Status",
    "Site Abbreviation",
    "Randomization Id",
    "Randomization Group",
    "Randomized On",
    "Participant Creation Date",
    "inclusie_datum",
    "leeftijd",
    "crs_score",
    "ecog",
    "tumour_count",
    "max_diameter_mm",
    "chemo_before#FOLFOX",
    "chemo_before#CAPOX",
    "chemo_before#None",
    "pump_date",
    "fudr_start",
    "cycles",
    "opmerking",
]


def castor_export(rows: int, seed: int = 20261121) -> bytes:
    """A Castor-like export of `rows` participants, as Castor writes it."""
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2019-11-01") + pd.to_timedelta(rng.integers(0, 2500, rows), unit="D")
    randomised = created + pd.to_timedelta(rng.integers(0, 20, rows), unit="D")
    pump = randomised + pd.to_timedelta(rng.integers(5, 30, rows), unit="D")

    def day_first(dates: pd.DatetimeIndex) -> pd.Series:  # 6-12-2022: no zero padding
        return pd.Series(dates.day.astype(str) + "-" + dates.month.astype(str) + "-" + dates.year.astype(str))

    enrolled = rng.random(rows) < 0.8
    missing_code = rng.random(rows) < 0.01
    columns = {
        "Participant Id": pd.Series([f"PUMP-{i:06d}" for i in range(rows)]),
        "Participant Status": "Not Set",
        "Site Abbreviation": rng.choice(["EMC", "AVL"], rows),
        "Randomization Id": np.where(enrolled, pd.Series(np.arange(rows)).astype(str), ""),
        "Randomization Group": np.where(enrolled, rng.choice(["Arm A", "Arm B"], rows), ""),
        "Randomized On": np.where(enrolled, day_first(randomised) + " 13:38", ""),
        "Participant Creation Date": day_first(created) + " 9:05",
        "inclusie_datum": np.where(enrolled, day_first(randomised), "31-12-2999"),
        "leeftijd": rng.integers(30, 85, rows).astype(str),
        "crs_score": rng.integers(0, 3, rows).astype(str),
        "ecog": np.where(missing_code, "-99", rng.integers(0, 2, rows).astype(str)),
        "tumour_count": rng.integers(1, 6, rows).astype(str),
        "max_diameter_mm": rng.integers(5, 80, rows).astype(str),
        "chemo_before#FOLFOX": rng.integers(0, 2, rows).astype(str),
        "chemo_before#CAPOX": rng.integers(0, 2, rows).astype(str),
        "chemo_before#None": "0",
        "pump_date": np.where(enrolled, day_first(pump), ""),
        "fudr_start": "",
        "cycles": np.where(enrolled, rng.integers(0, 7, rows).astype(str), ""),
        "opmerking": np.where(rng.random(rows) < 0.05, "zie brief; controle", ""),
    }
    frame = pd.DataFrame(columns)[HEADER]
    return frame.to_csv(sep=";", index=False, lineterminator="\r\n").encode("utf-8")


def best_of(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    programme = load_programme()
    mapping = {"pump_implanted_on": "pump_date", "treatment_started_on": "fudr_start", "cycles_completed": "cycles"}
    data = castor_export(args.rows)
    current = pd.DataFrame(columns=["trial", *FIELD_NAMES, "source_row"])
    print(f"Castor-like export: {args.rows:,} rows, {len(HEADER)} columns, {len(data) / 1e6:.1f} MB; best of {args.repeat}")

    stages: list[tuple[str, float]] = []
    seconds, table = best_of(args.repeat, lambda: read_table(data))
    stages.append(("read_table (decode, delimiter, parse)", seconds))
    seconds, fmt = best_of(args.repeat, lambda: detect_format(table))
    stages.append((f"detect_format -> {fmt}", seconds))
    seconds, extract = best_of(args.repeat, lambda: READERS["castor"](table, mapping))
    stages.append(("read_castor (columns to canonical fields)", seconds))
    seconds, _ = best_of(args.repeat, lambda: find_identifiers(table.frame, extract.columns["participant_id"], "castor"))
    stages.append(("find_identifiers (every column)", seconds))
    seconds, validated = best_of(args.repeat, lambda: validate(extract, "PUMP", programme, TODAY))
    stages.append(("validate (all rules)", seconds))
    seconds, checked = best_of(
        args.repeat,
        lambda: check_extract(data, "bench.csv", programme, "PUMP", TODAY, current, mappings={"castor": mapping}),
    )
    for name, value in stages:
        print(f"  {name:<45} {value:7.3f} s")
    print(f"  {'check_extract, all of the above + compare':<45} {seconds:7.3f} s")
    print(
        f"result: ok={checked.ok}, participants={len(checked.participants) if checked.participants is not None else 0:,}, "
        f"enrolled={int(validated.participants['enrolled_on'].notna().sum()):,}, "
        f"errors={len(checked.errors)}, warnings={len(checked.warnings)}"
    )
    return 0 if checked.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
