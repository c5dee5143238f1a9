"""The validation rules of DESIGN.md 4.3, applied to the canonical fields whatever the
file's format. Vectorised: each rule works on whole columns; Python only loops over the
problems it reports.

`validate` turns a `CanonicalExtract` into typed participant rows and a list of issues;
`compare` describes what an extract changes against the current snapshot.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.config import OTHER_LABELS, OTHER_REASON, REASON_FIELDS, Programme, Trial, _fold, reason_fingerprint, reason_key
from dashboard.fields import BY_NAME, COMPARED_FIELDS, DATE_FIELDS, FIELD_NAMES, OUTCOME_ALIASES, STATUS_ALIASES
from dashboard.issues import Issue, located
from dashboard.readers.mapping import CanonicalExtract, missing_required
from dashboard.textnorm import ascii_digits

TIME = r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
ISO_DATE = rf"^(?P<y>[0-9]{{4}})-(?P<m>[0-9]{{1,2}})-(?P<d>[0-9]{{1,2}}){TIME}$"
DAY_FIRST_DATE = rf"^(?P<d>[0-9]{{1,2}})[-/.](?P<m>[0-9]{{1,2}})[-/.](?P<y>[0-9]{{4}}){TIME}$"
# Castor's "Format" exports write month names: "June 22 2021", "22 June 2021", "22-Jun-2021".
MONTH_FIRST_NAMED = rf"^(?P<mon>[^\W\d_]+)\.? (?P<d>[0-9]{{1,2}}),? (?P<y>[0-9]{{4}}){TIME}$"
DAY_FIRST_NAMED = rf"^(?P<d>[0-9]{{1,2}})[ -](?P<mon>[^\W\d_]+)\.?[ -](?P<y>[0-9]{{4}}){TIME}$"
YEAR_TOKEN = r"(?:^|[^0-9])[0-9]{4}(?:[^0-9]|$)"
MONTHS = {
    name: str(number)
    for number, names in enumerate(
        (
            ("january", "jan", "januari"), ("february", "feb", "februari"), ("march", "mar", "maart", "mrt"),
            ("april", "apr"), ("may", "mei"), ("june", "jun", "juni"), ("july", "jul", "juli"),
            ("august", "aug", "augustus"), ("september", "sep", "sept"), ("october", "oct", "oktober", "okt"),
            ("november", "nov"), ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
# EDC codes for "user missing": Castor's -95 ... -99, also as -95.0 once a spreadsheet made
# them numbers (and its API's ##USER_MISSING_95##).
MISSING_NUMBER = r"^(?:-9[5-9](?:[.,]0+)?|##USER_MISSING_9[5-9]##)$"
MISSING_YEARS = (2995, 2999)


@dataclass
class Validated:
    participants: pd.DataFrame  # FIELD_NAMES + source_row, typed (dates as datetime64)
    issues: list[Issue] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)  # the sites this extract is a snapshot of

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]


def parse_dates(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(dates, not_a_date, user_missing) for text values, day-first or ISO, never month-first."""
    text = ascii_digits(values).str.strip()
    filled = text[text != ""]  # most date cells are empty: parse only the others
    parts = _extract(filled, ISO_DATE)
    parts = parts.fillna(_extract(filled, DAY_FIRST_DATE))
    # A month name needs letters and a year of four digits of its own ("PUMP-EMC-000001" has neither).
    unread = parts["y"].isna() & filled.str.contains(r"[^\W\d_]", regex=True) & _matches(filled, YEAR_TOKEN)
    if unread.any():  # month names are rare: only the cells with letters are tried
        parts.update(_named_month_parts(filled[unread]))
    numbers = parts.apply(lambda part: pd.to_numeric(part, errors="coerce")).reindex(text.index)
    missing_code = numbers["y"].between(*MISSING_YEARS)
    dates = pd.to_datetime(
        pd.DataFrame({"year": numbers["y"], "month": numbers["m"], "day": numbers["d"]}), errors="coerce"
    )
    dates = dates.where(~missing_code)
    not_a_date = (text != "") & dates.isna() & ~missing_code
    return dates, not_a_date, missing_code


def _arrow(text: pd.Series) -> pa.Array:
    return pa.array(text.to_numpy(dtype=object), type=pa.string())


def _matches(text: pd.Series, pattern: str) -> pd.Series:
    """Whether each value holds an ASCII pattern, by pyarrow's RE2 in one pass."""
    found = pc.match_substring_regex(_arrow(text), pattern)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=text.index, dtype=bool)


def _extract(text: pd.Series, pattern: str, groups: tuple[str, ...] = ("y", "m", "d")) -> pd.DataFrame:
    """The named groups (all digits) of an ASCII pattern in each value, as numbers (NaN where it does
    not match), matched by pyarrow's RE2 in one pass: pandas' extract runs Python's re once per cell."""
    found = pc.extract_regex(_arrow(text), pattern)
    return pd.DataFrame(
        {name: pc.cast(pc.struct_field(found, name), pa.float64()).to_numpy(zero_copy_only=False) for name in groups},
        index=text.index,
    )


def _named_month_parts(text: pd.Series) -> pd.DataFrame:
    named = text.str.extract(MONTH_FIRST_NAMED)
    named = named.fillna(text.str.extract(DAY_FIRST_NAMED))
    named["m"] = named["mon"].str.casefold().map(MONTHS)
    return named[["y", "m", "d"]].where(named["m"].notna()).apply(lambda part: pd.to_numeric(part, errors="coerce"))


def validate(
    extract: CanonicalExtract,
    trial_code: str,
    programme: Programme,
    today: dt.date,
    site_given: str | None = None,
    reason_mappings: dict[str, dict[str, str]] | None = None,
) -> Validated:
    """Check every rule at once; the participants are only meaningful when there is no error.
    `reason_mappings` holds, per reason field, the codes a coordinator chose for typed reasons
    that match no code of the trial's vocabulary, by `reason_fingerprint`."""
    trial = programme.trials[trial_code]
    missing = missing_required(extract, site_given is not None)
    if missing:
        return Validated(pd.DataFrame(columns=[*FIELD_NAMES, "source_row"]), [*extract.issues, _missing_columns(missing, extract)])

    text = extract.fields.reindex(columns=FIELD_NAMES, fill_value="")
    rows, column_of = extract.rows, extract.columns
    # The row of each cell: for a record folded from several rows, the row that holds the value.
    cells = extract.rows_of_cells().reindex(columns=FIELD_NAMES)
    cells = cells.fillna(pd.DataFrame({n: rows for n in FIELD_NAMES}, index=rows.index)).astype(int)
    issues: list[Issue] = list(extract.issues)
    out = pd.DataFrame({"source_row": rows}, index=text.index)

    missing_codes = text.apply(lambda col: col.str.fullmatch(MISSING_NUMBER)).fillna(False)
    issues += _report(missing_codes, text, cells, column_of, "user_missing", "{value!r} is a 'user missing' code; read as empty", warn=True, confirm=False)
    text = text.mask(missing_codes, "")

    out["participant_id"] = text["participant_id"]
    issues += _check_ids(text["participant_id"], rows, column_of)
    prefixes = [p for code in trial.sites for p in programme.sites[code].record_number_prefixes]
    issues += _check_study_numbers(text["participant_id"], rows, column_of, trial_code, trial.participant_id_pattern, prefixes)
    out["site"], site_issues = _sites(text["site"], cells["site"], column_of, programme, trial_code, trial, site_given)
    issues += site_issues

    # All date columns in one pass: one long column, parsed once, unstacked again.
    long = text[list(DATE_FIELDS)].stack()
    dates, bad, user_missing = (part.unstack() for part in parse_dates(long))
    out[list(DATE_FIELDS)] = dates.reindex(index=text.index, columns=list(DATE_FIELDS))
    issues += _report(bad, text, cells, column_of, "bad_date", "{value!r} is not a date (write day-month-year, e.g. 27-10-2024, or 2024-10-27)")
    issues += _report(user_missing, text, cells, column_of, "user_missing", "{value!r} is a 'user missing' date; read as empty", warn=True, confirm=False)
    issues += _report(dates > pd.Timestamp(today), text, cells, column_of, "future_date", f"{{value!r}} is in the future (today is {today:%d-%m-%Y})")

    too_early = out[list(DATE_FIELDS)] < _earliest_event(trial)
    issues += _check_event_window(too_early, out, text, cells, column_of, trial, trial_code)
    issues += _check_enrolment_window(out, text, cells, column_of, trial, programme, too_early["enrolled_on"])
    out["arm"], arm_issues = _choices(text["arm"], trial.arm_lookup, cells["arm"], column_of, "arm", "unknown_arm", f"is not an arm of {trial_code} ({', '.join(trial.arms)})")
    issues += arm_issues
    out["screening_outcome"], o_issues = _choices(text["screening_outcome"], OUTCOME_ALIASES, cells["screening_outcome"], column_of, "screening_outcome", "unknown_outcome", f"is not a screening outcome ({', '.join(BY_NAME['screening_outcome'].choices)})")
    issues += o_issues
    out["status"], s_issues = _choices(text["status"], STATUS_ALIASES, cells["status"], column_of, "status", "unknown_status", f"is not a status ({', '.join(BY_NAME['status'].choices)})")
    issues += s_issues
    out["cycles_completed"], c_issues = _cycles(text["cycles_completed"], cells["cycles_completed"], column_of)
    issues += c_issues
    for name in REASON_FIELDS:
        out[name], reason_issues = _reasons(text[name], cells[name], column_of, name, trial, trial_code, (reason_mappings or {}).get(name, {}))
        issues += reason_issues

    out = _derive(out, trial)
    sites = [site_given] if site_given else sorted(out["site"].dropna().unique())
    return Validated(out[[*FIELD_NAMES, "source_row"]], issues, sites)


def _missing_columns(missing: list[str], extract: CanonicalExtract) -> Issue:
    meaning = {name: BY_NAME[name].meaning for name in missing}
    wanted = "; ".join(f"`{name}` ({meaning[name]})" for name in missing)
    offered = ", ".join(extract.file_columns)
    return Issue.error(
        "missing_columns",
        f"the file has no column for {wanted}. Columns on offer: {offered or 'none'}. "
        "Map the field to one of them, or export the file again with it.",
        column=", ".join(missing),
    )


def _report(mask, text, rows, column_of, code, template, warn=False, confirm=True) -> list[Issue]:
    """One issue per True cell of `mask`: a DataFrame of fields, or a Series named after its field."""
    frame = mask.to_frame() if isinstance(mask, pd.Series) else mask
    found = frame.stack()
    found = found[found]
    issues = []
    for index, name in found.index:
        value = text.at[index, name]
        column = column_of.get(name, name)
        row = int(rows.at[index, name] if isinstance(rows, pd.DataFrame) else rows[index])
        message = located(row, column) + template.format(value=value)
        make = Issue.warning if warn else Issue.error
        extra = {"needs_confirmation": confirm} if warn else {}
        issues.append(make(code, message, row, column, value, **extra))
    return issues


def _check_ids(ids: pd.Series, rows, column_of) -> list[Issue]:
    column = column_of.get("participant_id", "participant_id")
    issues = [
        Issue.error("empty_id", located(int(rows[i]), column) + "the participant id is empty", int(rows[i]), column, "")
        for i in ids.index[ids == ""]
    ]
    filled = ids[ids != ""]
    first_row = rows[filled.index].groupby(filled).transform("min")
    repeated = filled[filled.duplicated(keep="first")]
    for i, value in repeated.items():
        issues.append(
            Issue.error(
                "duplicate_id",
                located(int(rows[i]), column) + f"{value!r} is also on row {int(first_row[i])}; each participant may appear once",
                int(rows[i]),
                column,
                value,
            )
        )
    return issues


def record_number_pattern(prefixes: list[str]) -> str:
    """A hospital record number: 6-10 digits, alone or after one of the sites' prefixes (EMC1234567)."""
    prefix = "|".join(re.escape(p) for p in sorted(set(prefixes), key=len, reverse=True))
    return (rf"(?i:(?:{prefix})[ ._/-]?)?" if prefix else "") + r"[0-9]{6,10}"


def _check_study_numbers(ids: pd.Series, rows, column_of, trial_code: str, pattern: str | None, prefixes: list[str] = ()) -> list[Issue]:
    """Ids that are not the trial's study numbers: most often a hospital record number,
    a direct identifier that may never be stored. Without a configured pattern, an id that
    looks like a record number is refused; with one, whatever does not match it."""
    column = column_of.get("participant_id", "participant_id")
    filled = ids != ""
    if pattern:
        wrong = filled & ~ids.str.fullmatch(pattern).fillna(False)
        return [
            Issue.error(
                "not_a_study_number",
                located(int(rows[i]), column)
                + f"{ids[i]!r} is not a {trial_code} study number (they match {pattern}); a hospital record number "
                "identifies the patient and may not be stored here: export the study number instead",
                int(rows[i]),
                column,
                ids[i],
            )
            for i in ids.index[wrong]
        ]
    record = filled & ids.str.strip().str.fullmatch(record_number_pattern(list(prefixes))).fillna(False)
    return [
        Issue.error(
            "hospital_number",
            located(int(rows[i]), column)
            + f"{ids[i]!r} looks like a hospital record number (6 to 10 digits, alone or after a site's prefix); it "
            f"identifies the patient and may not be stored here: export the {trial_code} study number instead",
            int(rows[i]),
            column,
            ids[i],
        )
        for i in ids.index[record]
    ]


def _sites(values, rows, column_of, programme: Programme, trial_code: str, trial: Trial, site_given):
    column = column_of.get("site", "site")
    known = "; ".join(f"{code} ({site.name})" for code, site in programme.sites.items())
    if site_given is not None:
        given = programme.site_code(site_given)
        if given is None:
            return values.where(False), [Issue.error("unknown_site", f"the site given at upload, {site_given!r}, is not a known site; known sites: {known}", value=site_given)]
        if given not in trial.sites:
            return values.where(False), [Issue.error("site_not_in_trial", f"site {given} does not take part in {trial_code} (its sites: {', '.join(trial.sites)})", value=site_given)]
        codes = values.map(lambda v: programme.site_code(v) if v else given)
        other = codes != given
        issues = [
            Issue.error("site_mismatch", located(int(rows[i]), column) + f"{values[i]!r} is not {given}, the site chosen for this upload", int(rows[i]), column, values[i])
            for i in values.index[other]
        ]
        return pd.Series(given, index=values.index), issues
    lookup = {v: programme.site_code(v) for v in values.unique()}
    codes = values.map(lookup)
    issues = []
    for i in values.index[codes.isna()]:
        value = values[i]
        message = "the site is empty" if not value else f"{value!r} is not a known site; known sites: {known}"
        issues.append(Issue.error("unknown_site", located(int(rows[i]), column) + message, int(rows[i]), column, value))
    outside = codes.notna() & ~codes.isin(list(trial.sites))
    for i in values.index[outside]:
        issues.append(
            Issue.error(
                "site_not_in_trial",
                located(int(rows[i]), column) + f"site {codes[i]} does not take part in {trial_code} (its sites: {', '.join(trial.sites)})",
                int(rows[i]),
                column,
                values[i],
            )
        )
    return codes, issues


def _choices(values, lookup: dict[str, str], rows, column_of, name, code, problem):
    unique = values.unique()
    mapped = values.map(dict(zip(unique, [lookup.get(_fold(v)) for v in unique], strict=True)))
    bad = (values != "") & mapped.isna()
    column = column_of.get(name, name)
    issues = [
        Issue.error(code, located(int(rows[i]), column) + f"{values[i]!r} {problem}", int(rows[i]), column, values[i])
        for i in values.index[bad]
    ]
    return mapped.where(values != ""), issues


def _cycles(values, rows, column_of):
    numbers = pd.to_numeric(values.where(values != ""), errors="coerce")
    bad = (values != "") & (numbers.isna() | (numbers < 0) | (numbers % 1 != 0) | (numbers > 1000))
    column = column_of.get("cycles_completed", "cycles_completed")
    issues = [
        Issue.error("bad_number", located(int(rows[i]), column) + f"{values[i]!r} is not a whole number of cycles", int(rows[i]), column, values[i])
        for i in values.index[bad]
    ]
    return numbers.where(~bad).astype("Int64"), issues


def _earliest_event(trial: Trial) -> pd.Timestamp:
    return pd.Timestamp(trial.opened_on) - pd.DateOffset(years=trial.earliest_event_years_before_opening)


# A date this many years before the trial opened is asked about as a date of birth.
BIRTH_DATE_YEARS = 12


def _check_event_window(too_early: pd.DataFrame, dates: pd.DataFrame, text, rows, column_of, trial: Trial, trial_code: str) -> list[Issue]:
    """Every date field: no event of the trial happens long before it opened; such a date is
    most often a date of birth exported in the wrong column."""
    found = too_early.stack()
    issues = []
    for index, name in found.index[found.to_numpy()]:
        value, column, row = text.at[index, name], column_of.get(name, name), int(rows.at[index, name])
        years = int((pd.Timestamp(trial.opened_on) - dates.at[index, name]).days // 365.25)
        why = (
            "is this a date of birth?" if years >= BIRTH_DATE_YEARS
            else f"no event of the trial happens more than {trial.earliest_event_years_before_opening} years before it opened"
        )
        plural = "year" if years == 1 else "years"
        message = f"{value!r} is {years} {plural} before {trial_code} opened ({trial.opened_on:%d-%m-%Y}): {why}"
        issues.append(Issue.error("before_trial", located(row, column) + message, row, column, value))
    return issues


def _reasons(values: pd.Series, rows, column_of, name: str, trial: Trial, trial_code: str, remembered: dict[str, str]):
    """A reason field as codes of the trial's vocabulary (or as typed, when the trial allows free text).
    A value that matches no code, and that the coordinator has not mapped, is stored as `other`,
    its text not kept; a note lists each such value once so it can be mapped."""
    filled = values != ""
    if trial.free_text:
        return values.where(filled), []
    lookup = trial.reason_lookup.get(name) or {reason_key(label): OTHER_REASON for label in [OTHER_REASON, *OTHER_LABELS]}
    known = set(lookup.values())
    unique = values[filled].unique()
    keys = [reason_key(v) for v in unique]
    chosen = [lookup.get(k) or remembered.get(reason_fingerprint(k)) for k in keys]
    codes = values.map(dict(zip(unique, [c if c in known else None for c in chosen], strict=True))).astype(object)
    unmatched = filled & codes.isna()
    column = column_of.get(name, name)
    first_rows = rows[unmatched].groupby(values[unmatched]).min().sort_values()
    issues = [
        Issue.warning(
            f"unmatched_{name}",
            located(int(row), column) + f"{value!r} is none of the {trial_code} reasons, so it is stored as `other` and its text "
            "is not kept; map it to a reason to have it counted as one",
            int(row),
            column,
            value,
            needs_confirmation=False,
        )
        for value, row in first_rows.head(MAX_UNMATCHED_LISTED).items()
    ]
    if len(first_rows) > MAX_UNMATCHED_LISTED:
        more = len(first_rows) - MAX_UNMATCHED_LISTED
        issues.append(Issue.warning(f"unmatched_{name}", f"`{column}`: {more} more values are none of the reasons and are stored as `other`", column=column, needs_confirmation=False))
    return codes.mask(unmatched, OTHER_REASON).where(filled), issues


MAX_UNMATCHED_LISTED = 50


def ids_at_other_sites(new: pd.DataFrame, current: pd.DataFrame, sites: list[str], column: str) -> list[Issue]:
    """One participant belongs to one site: an id of this extract that is current at another
    site of the trial is an error naming both (a transfer is not something an export does)."""
    elsewhere = current[~current["site"].isin(sites)].drop_duplicates("participant_id").set_index("participant_id")["site"]
    clash = new[new["participant_id"].isin(elsewhere.index)]
    return [
        Issue.error(
            "other_site",
            located(int(row.source_row), column)
            + f"{row.participant_id!r} is current at {elsewhere[row.participant_id]}, and this extract has it at {row.site}; "
            "one participant belongs to one site, so it would be counted twice. Correct the id, or ask the trial office "
            "to record a transfer",
            int(row.source_row),
            column,
            row.participant_id,
        )
        for row in clash.itertuples()
    ]


def _check_enrolment_window(out, text, rows, column_of, trial: Trial, programme: Programme, too_early: pd.Series) -> list[Issue]:
    enrolled = out["enrolled_on"]
    early = (enrolled < pd.Timestamp(trial.opened_on)) & ~too_early
    issues = _report(early.rename("enrolled_on"), text, rows, column_of, "before_opening", f"{{value!r}} is before the trial opened ({trial.opened_on:%d-%m-%Y})")
    activation = pd.to_datetime(out["site"].map({code: s.activated_on for code, s in trial.sites.items()}))
    before_site = ~early & ~too_early & (enrolled < activation)
    rows = rows["enrolled_on"]
    for i in enrolled.index[before_site]:
        column = column_of.get("enrolled_on", "enrolled_on")
        issues.append(
            Issue.warning(
                "before_activation",
                located(int(rows[i]), column)
                + f"{text.at[i, 'enrolled_on']!r} is before site {out.at[i, 'site']} was activated for this trial ({activation[i]:%d-%m-%Y})",
                int(rows[i]),
                column,
                text.at[i, "enrolled_on"],
            )
        )
    return issues


def _derive(out: pd.DataFrame, trial: Trial) -> pd.DataFrame:
    """Fill what the file leaves implicit: the only arm of a single-arm trial, and a status
    from the dates when the file has none."""
    if not trial.is_randomised:
        only_arm = next(iter(trial.arms))
        out["arm"] = out["arm"].where(out["arm"].notna() | out["enrolled_on"].isna(), only_arm)
    # A screen failure has no trial status: it never entered the trial.
    screen_failed = out["screening_outcome"].isin(["ineligible", "declined"]) & out["enrolled_on"].isna()
    derived = pd.Series("screening", index=out.index).mask(screen_failed, None)
    derived = derived.mask(out["enrolled_on"].notna(), "enrolled")
    derived = derived.mask(out["treatment_started_on"].notna(), "on_treatment")
    derived = derived.mask(out["treatment_ended_on"].notna(), "follow_up")
    derived = derived.mask(out["withdrawn_on"].notna(), "withdrawn")
    out["status"] = out["status"].fillna(derived)
    return out


@dataclass
class Diff:
    new: list[str]
    changed: dict[str, dict[str, tuple[str | None, str | None]]]  # id -> field -> (old, new)
    missing: list[str]
    unchanged: int
    per_site: dict[str, dict[str, int]]

    def counts(self) -> dict[str, int]:
        return {"new": len(self.new), "changed": len(self.changed), "missing": len(self.missing), "unchanged": self.unchanged}


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Participants as text keyed by id, so old and new rows compare field by field."""
    table = frame.set_index("participant_id")[list(COMPARED_FIELDS)].copy()
    for name in DATE_FIELDS:
        table[name] = pd.to_datetime(table[name]).dt.strftime("%Y-%m-%d")
    # Text or None in object columns, whatever the source dtypes (pandas 3 would infer its
    # string dtype and turn None back into NaN).
    missing = table.isna().to_numpy()
    text = table.astype(str).to_numpy(dtype=object)
    text[missing] = None
    return pd.DataFrame(text, index=table.index, columns=table.columns, dtype=object)


def compare(new: pd.DataFrame, current: pd.DataFrame) -> tuple[Diff, list[Issue]]:
    """What `new` changes against the current snapshot of the same sites, and the warnings
    that need a decision: participants missing, enrolment dates or arms changed."""
    new_t, old_t = comparable(new), comparable(current)
    # Set operations on the indexes (order kept): a Python loop over ids took seconds at 100,000.
    added = new_t.index[~new_t.index.isin(old_t.index)].tolist()
    missing = old_t.index[~old_t.index.isin(new_t.index)].tolist()
    both = new_t.index.intersection(old_t.index)
    a, b = old_t.loc[both], new_t.loc[both]
    differs = (a != b) & ~(a.isna() & b.isna())
    changed: dict[str, dict[str, tuple]] = {}
    for pid, name in differs.stack()[lambda s: s].index:
        changed.setdefault(pid, {})[name] = (a.at[pid, name], b.at[pid, name])
    per_site = _per_site(new_t, old_t, added, missing, changed)
    diff = Diff(added, changed, missing, len(both) - len(changed), per_site)
    return diff, _diff_warnings(diff, new.set_index("participant_id")["source_row"], old_t)


def _per_site(new_t, old_t, added, missing, changed) -> dict[str, dict[str, int]]:
    site_of = pd.concat([old_t["site"], new_t["site"]])
    site_of = site_of[~site_of.index.duplicated(keep="last")]
    result: dict[str, dict[str, int]] = {}
    for kind, ids in (("new", added), ("changed", list(changed)), ("missing", missing)):
        for site, count in site_of.loc[ids].value_counts().items() if ids else []:
            result.setdefault(site, {"new": 0, "changed": 0, "missing": 0})[kind] = int(count)
    return result


def _diff_warnings(diff: Diff, row_of: pd.Series, old_t: pd.DataFrame) -> list[Issue]:
    issues = []
    for pid in diff.missing:
        issues.append(
            Issue.warning(
                "participant_missing",
                f"{pid!r} (site {old_t.at[pid, 'site']}) is in the current data but not in this extract; "
                "if you confirm, it is no longer counted",
                column="participant_id",
                value=pid,
            )
        )
    for pid, fields in diff.changed.items():
        for name in ("enrolled_on", "arm"):
            # A first enrolment or allocation (empty before) is progress, not a correction.
            if name in fields and fields[name][0] is not None:
                old, new = fields[name]
                issues.append(
                    Issue.warning(
                        f"changed_{name}",
                        f"row {int(row_of[pid])}: {pid!r} {name.replace('_', ' ')} changes from {old or 'empty'} to {new or 'empty'}",
                        row=int(row_of[pid]),
                        column=name,
                        value=new,
                    )
                )
    return issues
