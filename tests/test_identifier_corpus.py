"""The identifier screen against issue 19's test set (tests/files/identifier_screen.yaml): the
issue's 52 planted identifiers and 54 harmless values and a few more of realistic Dutch trial data, each in generated
variants (capitals, spacing, a full stop, a Dutch or English lead-in, other id and date forms).
Every identifier is refused, every harmless value passes. scripts/identifier_screen_bench.py
prints the same as recall and false-alarm counts."""

from collections import defaultdict

import pandas as pd
import pytest

from dashboard.identifiers import identifying_value, screen_stored
from scripts.identifier_screen_bench import cases, refused, run

CASES = cases()
# One test per value of the set, its variants inside: a failure names the variants that failed.
BY_ORIGINAL = defaultdict(list)
for case in CASES:
    BY_ORIGINAL[(case.identifier, case.place, case.original)].append(case)


def test_the_set_holds_at_least_the_issues_52_identifiers_and_54_harmless_values_in_variants():
    originals = {key for key in BY_ORIGINAL}
    assert sum(identifier for identifier, _, _ in originals) >= 52
    assert sum(not identifier for identifier, _, _ in originals) >= 54
    assert len(CASES) > 600


def _text_refused(value: str) -> bool:
    """The value screen every column of an upload meets, and the write path's for stored text."""
    found = identifying_value(pd.Series(["extrahepatische ziekte", value]))
    stored = screen_stored({"`screen_fail_reason`": pd.Series([value])})
    assert (found is not None) == (stored is not None), value
    return found is not None


@pytest.mark.parametrize("key", sorted(k for k in BY_ORIGINAL if k[0] and k[1] == "text"), ids=lambda k: k[2])
def test_every_planted_identifier_in_free_text_is_refused_in_every_variant(key):
    missed = [case.describe() for case in BY_ORIGINAL[key] if not _text_refused(case.value)]
    assert missed == []


@pytest.mark.parametrize("key", sorted(k for k in BY_ORIGINAL if not k[0] and k[1] == "text"), ids=lambda k: k[2])
def test_every_harmless_text_passes_in_every_variant(key):
    alarms = [case.describe() for case in BY_ORIGINAL[key] if _text_refused(case.value)]
    assert alarms == []


@pytest.mark.parametrize("key", sorted(k for k in BY_ORIGINAL if k[1] != "text"), ids=lambda k: f"{k[1]}:{k[2]}")
def test_ids_dates_and_columns_are_judged_in_the_upload_check(programme, key):
    identifier = key[0]
    wrong = [case.describe() for case in BY_ORIGINAL[key] if refused(case, programme) != identifier]
    assert wrong == []


def test_the_benchmark_counts_what_the_tests_assert(programme):
    # The script's own figures on a slice of the set, through the whole upload check.
    sample = [c for c in CASES if c.variant in ("as typed", "as named", "day first", "capitals")][::4]
    results = run(programme, sample)
    assert results["identifiers"] + results["harmless"] == len(sample)
    assert (results["refused"], results["false_alarms"]) == (results["identifiers"], 0)
