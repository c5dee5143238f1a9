"""How well the identifier screen tells identifiers from clinical text (issue 19): every planted
identifier and every harmless value of tests/files/identifier_screen.yaml, in each generated
variant, goes through the real check of an upload (`check_extract`); it prints the recall (the
share of identifiers refused) and the false alarms (harmless values refused), and lists the misses.

    .venv/bin/python scripts/identifier_screen_bench.py [--all]

tests/test_identifier_corpus.py asserts what this prints: recall 100 %, no false alarm.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.config import load_programme  # noqa: E402
from dashboard.fields import FIELD_NAMES  # noqa: E402
from dashboard.ingest import check_extract  # noqa: E402

CORPUS = ROOT / "tests" / "files" / "identifier_screen.yaml"
TODAY = dt.date(2026, 11, 21)
NO_CURRENT = pd.DataFrame(columns=["trial", *FIELD_NAMES, "source_row"])
BASE = {"participant_id": "P-1", "site": "EMC", "screened_on": "", "enrolled_on": "2024-03-05", "arm": "haip"}


@dataclass(frozen=True)
class Case:
    place: str  # "text", "participant_id", "date", "birth_column" or "columns"
    original: str
    variant: str  # how it was varied
    value: str
    field: str = ""  # the date field of a date or a birth column
    identifier: bool = True

    def describe(self) -> str:
        where = f"{self.place}:{self.field}" if self.field else self.place
        return f"[{where}, {self.variant}] {self.value!r}"


def text_variants(text: str, identifier: bool) -> list[tuple[str, str]]:
    """As typed, in capitals, spaced out, with a full stop, after a Dutch or an English lead-in;
    harmless text also in lower case (a name in lower case is beyond any pattern: not asked)."""
    variants = [
        ("as typed", text),
        ("capitals", text.upper()),
        ("spaced", "  " + text.replace(" ", "  ") + " "),
        ("full stop", text + "."),
        ("Dutch lead-in", f"reden: {text}"),
        ("English lead-in", f"reason: {text}"),
    ]
    if not identifier:
        variants.append(("lower case", text.lower()))
    return variants


def id_variants(value: str) -> list[tuple[str, str]]:
    digits = value.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ-")
    prefix = value[: len(value) - len(digits)].rstrip("-")
    if not prefix:
        return [("as typed", value), ("zero first", "0" + value)]
    return [("as typed", value), ("lower case", value.lower()), ("dash", f"{prefix}-{digits}"), ("space", f"{prefix} {digits}")]


def date_variants(value: str) -> list[tuple[str, str]]:
    day = dt.datetime.strptime(value, "%d-%m-%Y").date()
    months = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"]
    return [
        ("day first", value),
        ("ISO", day.isoformat()),
        ("slashes", day.strftime("%d/%m/%Y")),
        ("Dutch month", f"{day.day} {months[day.month - 1]} {day.year}"),
    ]


def column_variants(header: str) -> list[tuple[str, str]]:
    words = header.split("_")
    return [
        ("as named", header),
        ("capitals", header.upper()),
        ("camelCase", words[0] + "".join(w.title() for w in words[1:])),
        ("spaced", " ".join(words)),
    ]


def cases(corpus: Path = CORPUS) -> list[Case]:
    sets = yaml.safe_load(corpus.read_text(encoding="utf-8"))
    found: list[Case] = []
    for kind, identifier in (("identifiers", True), ("harmless", False)):
        places = sets[kind]
        for text in places.get("text", []):
            found += [Case("text", text, name, value, identifier=identifier) for name, value in text_variants(text, identifier)]
        for value in places.get("participant_id", []):
            found += [Case("participant_id", value, name, v, identifier=identifier) for name, v in id_variants(str(value))]
        for entry in places.get("dates", []):
            (field, value), = entry.items()
            found += [Case("date", value, name, v, field, identifier) for name, v in date_variants(value)]
        for entry in places.get("birth_column", []):
            found += [
                Case("birth_column", entry["column"], name, v, entry["field"], identifier) for name, v in (("day first", "dd-mm-yyyy"), ("ISO", "yyyy-mm-dd"))
            ]
        for header in places.get("columns", []):
            found += [Case("columns", header, name, v, identifier=identifier) for name, v in column_variants(header)]
    return found


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


BIRTH_DATES = [dt.date(1956, 3, 12), dt.date(1948, 11, 3), dt.date(1961, 7, 30)]


def upload_of(case: Case) -> tuple[bytes, dict]:
    """The file a coordinator would upload with the case in its place, and the column mapping."""
    if case.place == "text":
        return _csv([{**BASE, "opmerking": case.value}]), {}
    if case.place == "participant_id":
        return _csv([{**BASE, "participant_id": case.value}]), {}
    if case.place == "date":
        return _csv([{**BASE, case.field: case.value}]), {}
    if case.place == "birth_column":
        form = "%d-%m-%Y" if case.value == "dd-mm-yyyy" else "%Y-%m-%d"
        rows = [{**BASE, "participant_id": f"P-{i}", case.original: day.strftime(form)} for i, day in enumerate(BIRTH_DATES, 1)]
        return _csv(rows), {"template": {case.field: case.original}}
    return _csv([{**BASE, case.value: "x"}]), {}


def refused(case: Case, programme) -> bool:
    """Whether the upload is refused (an identifier, a hospital number, a date of birth)."""
    data, mappings = upload_of(case)
    checked = check_extract(data, "week.csv", programme, "PUMP", TODAY, NO_CURRENT, mappings=mappings or None)
    return not checked.ok


def run(programme=None, chosen: list[Case] | None = None) -> dict:
    """Recall and false alarms over `chosen` cases (all of the set by default)."""
    programme = programme or load_programme()
    results = {"identifiers": 0, "refused": 0, "harmless": 0, "false_alarms": 0, "missed": [], "alarms": []}
    for case in cases() if chosen is None else chosen:
        if case.identifier:
            results["identifiers"] += 1
            if refused(case, programme):
                results["refused"] += 1
            else:
                results["missed"].append(case.describe())
        else:
            results["harmless"] += 1
            if refused(case, programme):
                results["false_alarms"] += 1
                results["alarms"].append(case.describe())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every miss and false alarm, not the first 20")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run()
    seconds = time.perf_counter() - started
    recall = results["refused"] / max(1, results["identifiers"])
    print(f"identifiers refused: {results['refused']} of {results['identifiers']} variants (recall {recall:.1%})")
    print(f"false alarms: {results['false_alarms']} of {results['harmless']} harmless variants")
    print(f"({len(cases())} checks in {seconds:.1f} s)")
    shown = None if args.all else 20
    for title, items in (("missed", results["missed"]), ("false alarms", results["alarms"])):
        if items:
            print(f"{title}:")
            for line in items[:shown]:
                print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
