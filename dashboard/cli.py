"""`python -m dashboard`: the same logic as the pages, without a browser (DESIGN.md section 6).

Exit status: 0 done; 1 the extract or request was refused and nothing changed; 2 bad usage;
3 could not run (the database is busy beyond the wait, not a database, or from a newer
version; or an internal error): nothing changed, a traceback goes to the log file only.
With --json every outcome, a refusal or an internal error too, prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import sys
from pathlib import Path

from dashboard import access, clock, service
from dashboard.config import ConfigError, load_programme
from dashboard.forecast import Site, centres_needed, forecast_completion, forecast_sites, predict_enrolled_by_end
from dashboard.forecast.multi import MOST_CENTRES
from dashboard.ingest import check_file, commit
from dashboard.readers import FORMATS
from dashboard.store import AlreadyLoaded, Refused, Store, StoreUnavailable, is_address, lock_wait_from_environment

DONE, REFUSED, USAGE, FAILED = 0, 1, 2, 3
# The commands that change the database in a person's name: with an access file, the person is the
# operating-system user as the file maps it (os_user), and --by must be them.
WRITES = ("ingest", "retract", "redact", "meeting", "access")


class BadUsage(Exception):
    """argparse found a mistake in the command line: said as one sentence (or one JSON object)."""

    def __init__(self, message: str, usage: str):
        super().__init__(message)
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise BadUsage(f"{self.prog}: {message}", self.format_usage())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dashboard", description="PUMP trial recruitment dashboard")
    parser.add_argument("--db", help="DuckDB file or postgresql:// address (default: $PUMP_DB or data/pump.duckdb)")
    parser.add_argument("--config", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("init", help="create or upgrade the database").add_argument("--json", action="store_true")
    commands.add_parser("demo", help="load the demo data into an empty database").add_argument("--json", action="store_true")
    for name in ("validate", "ingest"):
        sub = commands.add_parser(name, help=f"{name} an extract file")
        sub.add_argument("file", type=Path)
        sub.add_argument("--trial", required=True)
        sub.add_argument("--site", help="the site, when the file has no site column")
        sub.add_argument("--format", choices=FORMATS)
        sub.add_argument("--json", action="store_true")
        sub.add_argument(
            "--map",
            action="append",
            default=[],
            type=_mapping_pair,
            metavar="FIELD=COLUMN",
            help="read a field from this column of the file, e.g. --map enrolled_on=ic_date (remembered for the trial "
            "and format once the extract is stored, as the upload page does)",
        )
        sub.add_argument(
            "--map-reason",
            action="append",
            default=[],
            type=_reason_triple,
            metavar="FIELD:TEXT=CODE",
            help="store a typed reason that is none of the trial's as this code, e.g. --map-reason "
            "'screen_fail_reason:te ver van huis=travel_distance' (remembered for the trial, by a fingerprint of the text)",
        )
        if name == "ingest":
            sub.add_argument("--by", help="who is uploading (default: you; with an access file, the person your login "
                             "is mapped to by its os_user)")
            sub.add_argument("--accept-warnings", action="store_true", help="accept warnings that need a decision")
            sub.add_argument(
                "--confirm-removals",
                type=int,
                metavar="N",
                help="the number of participants the extract removes, when it removes many (10 or more, or 20%% or more)",
            )
    sub = commands.add_parser("extracts", help="list every extract")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("retract", help="retract an extract; the previous one becomes current again")
    sub.add_argument("extract_id", type=int)
    sub.add_argument("--by", required=True)
    sub.add_argument("--reason", required=True)
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("redact", help="blank text fields of a stored extract that should never have held them")
    sub.add_argument("extract_id", type=int)
    sub.add_argument("--fields", required=True, help="comma-separated: screen_fail_reason, withdrawal_reason, file_name")
    sub.add_argument("--by", required=True)
    sub.add_argument("--reason", required=True)
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("summary", help="accrual per trial and site")
    sub.add_argument("--as-of", type=_iso_date, help="YYYY-MM-DD (default: today)")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("report", help="write the meeting pack (HTML that works offline, or PDF)")
    sub.add_argument("--out", type=Path, required=True, help="FILE.html or FILE.pdf")
    sub.add_argument("--since-meeting", type=int, metavar="ID", help="compare with this meeting (default: the last one)")
    sub.add_argument("--as-of", type=_iso_date, default=None, help="YYYY-MM-DD (default: today)")
    sub.add_argument("--force", action="store_true", help="replace --out when it exists (never through a symbolic link)")
    sub.add_argument(
        "--meeting", type=int, metavar="N",
        help="the pack of meeting N for its minutes: what it saw, against the meeting before it, with its date, chair and note",
    )
    sub = commands.add_parser("consort", help="the CONSORT flow of a trial: the count in each box, as of a date")
    sub.add_argument("--trial", required=True)
    sub.add_argument("--as-of", type=_iso_date, default=None, help="YYYY-MM-DD (default: today)")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("meeting", help="steering meetings")
    actions = sub.add_subparsers(dest="action", required=True)
    hold = actions.add_parser("hold", help="mark a meeting as held now, with the data cut of this moment")
    hold.add_argument("--by", required=True, help="who held it (the chair)")
    hold.add_argument("--note", help="a note for the minutes (no patient identifiers)")
    hold.add_argument("--json", action="store_true")
    sub = commands.add_parser("access", help="the access file this database is used with")
    moves = sub.add_subparsers(dest="action", required=True)
    adopt = moves.add_parser("adopt", help="use the database with the access file PUMP_ACCESS names from now on "
                             "(a programme director of the file it is used with now)")
    adopt.add_argument("--by", required=True, help="the programme director (your own login's person)")
    adopt.add_argument("--json", action="store_true")
    sub = commands.add_parser("meetings", help="list the meetings held")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("changes", help="what changed since a meeting (default: the last one)")
    sub.add_argument("--since-meeting", type=int, metavar="ID")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("audit", help="the audit log, newest first: uploads, retractions, refusals, meetings, sign-ins")
    sub.add_argument("--actor", help="only this person's entries (e-mail or name)")
    sub.add_argument("--action", help="only this action (ingest, retract, refused, meeting, sign_in, config_loaded, ...)")
    sub.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD", help="only entries from this day on")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("digest", help="the weekly e-mail: a digest per director, a reminder per coordinator with stale data")
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--send", action="store_true", help="send them (SMTP settings: [smtp] in .streamlit/secrets.toml)")
    what.add_argument("--out", type=Path, metavar="FILE.html", help="write the director's digest to this file, send nothing")
    sub.add_argument("--force", action="store_true", help="with --out: overwrite the file if it exists")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("pull", help="pull each configured Castor/REDCap source through the upload's checks")
    sub.add_argument("--trial", help="only this trial's sources")
    sub.add_argument("--site", help="only this site's sources")
    sub.add_argument("--json", action="store_true", help="one JSON object per source, one per line")
    sub = commands.add_parser("forecast", help="the completion forecast on its own (a what-if calculator)")
    sub.add_argument("--target", type=int, required=True)
    sub.add_argument("--enrolled", type=int, required=True)
    sub.add_argument("--elapsed-days", type=float, required=True)
    sub.add_argument("--planned-days", type=float, required=True)
    sub.add_argument("--certainty", type=float, default=0.5)
    sub.add_argument(
        "--site",
        action="append",
        default=[],
        type=_site_spec,
        metavar="DAYS_OPEN:ENROLLED[:SHARE]",
        help="a site for the multi-centre model (Jiang et al. 2015), once per site: days open (negative: opens that many days "
        "from now), its enrolments, its planned share (default: equal)",
    )
    sub.add_argument("--extra-sites-from", type=_iso_date, metavar="YYYY-MM-DD",
                     help="add centres_needed: the fewest extra sites opening then, at the median site rate, for --chance of the target")
    sub.add_argument("--chance", type=float, default=0.8, help="the chance centres_needed aims for (default 0.8)")
    sub.add_argument("--json", action="store_true")
    sub = commands.add_parser("store", help="the database itself")
    moves = sub.add_subparsers(dest="action", required=True)
    copy = moves.add_parser("copy", help="copy every table of a database into an empty one (DuckDB file or postgresql:// "
                            "address, either way), verified before it commits")
    copy.add_argument("--from", dest="source", required=True, metavar="PATH_OR_URL",
                      help="the database to copy (only read; first upgraded, as by any command, when an older version wrote it)")
    copy.add_argument("--to", dest="target", required=True, metavar="URL_OR_PATH",
                      help="an empty database (created when it does not exist); put a password in PGPASSWORD or ~/.pgpass, "
                      "never on the command line")
    copy.add_argument("--json", action="store_true")
    grant = moves.add_parser("grant", help="PostgreSQL, as the tables' owner: let the dashboard's own role (owning nothing) "
                             "read and write the tables and only add to the audit log")
    grant.add_argument("--to", dest="role", required=True, metavar="ROLE")
    grant.add_argument("--json", action="store_true")
    rewrite = moves.add_parser("rewrite", help="PostgreSQL, as the tables' owner: write the tables afresh, so that a "
                               "redaction's old values leave the database's files (the dashboard's own role may not)")
    rewrite.add_argument("--json", action="store_true")
    sub = commands.add_parser("bench", help="measure the dashboard at scale N (1 is today) in a temporary database")
    sub.add_argument("--scale", type=int, nargs="+", default=[1, 10, 100], metavar="N")
    sub.add_argument("--runs", type=int, default=3, help="runs per figure (the median is printed)")
    sub.add_argument("--history", type=int, default=3, help="extracts per trial and site at N >= 2")
    sub.add_argument("--no-apptest", action="store_true", help="skip the overview page's AppTest run")
    sub.add_argument("--no-ingest", action="store_true", help="skip the 100,000-row ingest")
    sub.add_argument("--db", dest="bench_server", metavar="URL",
                     help="measure on this PostgreSQL database instead (each scale copied into a schema of its own there, "
                     "dropped afterwards); put a password in PGPASSWORD or ~/.pgpass")
    sub.add_argument("--json", action="store_true")
    return parser


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in the form YYYY-MM-DD") from exc


def _site_spec(text: str) -> tuple[float, int, float | None]:
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        days, enrolled = float(parts[0]), int(parts[1])
        share = float(parts[2]) if len(parts) == 3 else None
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not DAYS_OPEN:ENROLLED[:SHARE] (e.g. 300:12 or -90:0:0.25)") from exc
    if not math.isfinite(days) or enrolled < 0 or (share is not None and not 0 < share <= 1) or (days <= 0 and enrolled):
        raise argparse.ArgumentTypeError(
            f"{text!r}: days open must be a number, enrolled a whole number >= 0 (0 for a site not open yet), the share in (0, 1]"
        )
    return days, enrolled, share


def _forecast_sites(specs: list[tuple[float, int, float | None]]) -> list[Site]:
    """The --site values as sites; shares all given or none (equal)."""
    shares = [share for _, _, share in specs]
    if any(x is None for x in shares) and any(x is not None for x in shares):
        raise ValueError("give every --site a share, or none (equal shares)")
    if shares[0] is not None and abs(sum(shares) - 1) > 1e-6:
        raise ValueError(f"the --site shares must add up to 1, they add up to {sum(shares):g}")
    return [Site(days, enrolled, share or 1 / len(specs), name=f"site {i + 1}") for i, (days, enrolled, share) in enumerate(specs)]


def _mapping_pair(text: str) -> tuple[str, str]:
    field, sep, column = text.partition("=")
    if not sep or not field.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=COLUMN (e.g. enrolled_on=ic_date)")
    return field.strip(), column.strip()


def _joined_sites(argv: list[str]) -> list[str]:
    """`--site -90:0` as `--site=-90:0`: argparse takes a value starting with '-' (a site opening in 90 days)
    for an option."""
    out: list[str] = []
    for word in argv:
        if out and out[-1] == "--site" and word.startswith("-") and word[1:2].isdigit():
            out[-1] = f"--site={word}"
        else:
            out.append(word)
    return out


def _reason_triple(text: str) -> tuple[str, str, str]:
    field, colon, rest = text.partition(":")
    value, equals, code = rest.rpartition("=")
    if not (colon and equals and field.strip() and value.strip() and code.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD:TEXT=CODE (e.g. screen_fail_reason:te ver weg=travel_distance)")
    return field.strip(), value.strip(), code.strip()


def main(argv: list[str] | None = None) -> int:
    argv = _joined_sites(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except BadUsage as exc:  # with --json, one JSON object; else the usage line and the mistake
        as_json = "--json" in argv
        if not as_json:
            print(exc.usage, end="", file=sys.stderr)
        return _fail(argparse.Namespace(json=as_json), USAGE, f"bad usage: {exc}")
    try:  # the environment's settings, checked before any work: a mistake is bad usage, not a crash
        today = clock.today()
        lock_wait_from_environment()
    except ValueError as exc:
        return _fail(args, USAGE, f"bad usage: {exc}")
    if getattr(args, "as_of", False) is None and getattr(args, "meeting", None) is None:  # a meeting's pack is as it was
        args.as_of = today
    if args.command == "forecast":
        return _forecast(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "store" and args.action == "copy":
        return _store_copy(args)
    try:
        programme = load_programme(args.config) if args.config else load_programme()
    except ConfigError as exc:
        return _fail(args, USAGE, f"configuration error: {exc}")
    try:  # the access file, checked like the configuration: a mistake names the entry
        grants = access.active(programme)
    except access.AccessError as exc:
        return _fail(args, USAGE, f"access file error: {exc}")
    site = getattr(args, "site", None)
    if site is not None and programme.site_code(site) is None:
        return _fail(args, USAGE, f"bad usage: --site {site} is not a site of the programme; its sites are {', '.join(programme.sites)}")
    # Only init and demo create a database: any other command on a path that holds none is refused (exit 3).
    store = Store(service.db_path(args.db), on_wait=_say_waiting, create=args.command in ("init", "demo"))
    try:
        # One use for the whole command: it waits its turn for the file once, not at every query.
        with store.connect():
            service.record_config(store, programme)
            if args.command in WRITES and args.command != "access":
                _act_as_login(args, store, grants)
            return COMMANDS[args.command](args, store, programme)
    except StoreUnavailable as exc:  # busy beyond the wait, not a database, from a newer version
        return _fail(args, FAILED, f"could not run: {exc}")
    except Refused as exc:
        return _fail(args, REFUSED, f"refused: {exc}")
    except Exception:  # anything unforeseen: a sentence here, the traceback in the log only
        log_file = service.log_path(store.location)
        service.error_log(log_file).exception("internal error in %s", args.command)
        return _fail(args, FAILED, f"internal error, nothing was stored (the details are in {log_file})")


def _act_as_login(args, store: Store, grants: access.Access | None) -> None:
    """With an access file, a change is made by this computer's login as the file maps it (os_user):
    --by (default: that person) must be them, unless they are a programme director running a service.
    The audit entry records the login and the person; a mismatch is refused and audited."""
    login = service.current_user()
    if grants is None:
        args.by = args.by or login
        return
    person = grants.grant_for_login(login)
    args.by = args.by or (person.email if person else login)
    store.run_by = {"os_user": login, "os_user_is": person.email if person else None}
    reason = access.command_line_refusal(grants, login, args.by)
    if reason is not None:
        store.refuse(args.by, args.command, reason)


def _say_waiting(message: str) -> None:
    """Another program holds the database: say so on stderr (stdout stays the answer)."""
    print(message, file=sys.stderr, flush=True)


def _fail(args, code: int, message: str) -> int:
    """Say why a command did not do its work: one JSON object with --json, else a line on stderr."""
    if getattr(args, "json", False):
        problem = {"row": None, "column": None, "code": {REFUSED: "refused", USAGE: "bad_usage"}.get(code, "failed"), "message": message}
        print(json.dumps({"ok": False, "message": message, "errors": [problem], "warnings": []}, indent=2))
    else:
        print(message, file=sys.stderr)
    return code


def _init(args, store: Store, programme) -> int:
    version = store.schema_version()
    _say(args, {"ok": True, "message": f"database {store.location} is ready (schema version {version})", "database": str(store.location),
                "schema_version": version})
    return DONE


def _demo(args, store: Store, programme) -> int:
    from dashboard.demo import load_demo

    if not store.is_empty():
        return _fail(args, REFUSED, "refused: the database already holds extracts; demo data only goes into an empty database")
    count = load_demo(store, programme)
    _say(args, {"ok": True, "message": f"loaded {count} demo extracts into {store.location}", "database": str(store.location), "extracts": count})
    return DONE


def _check(args, store: Store, programme):
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        _fail(args, USAGE, f"cannot read {args.file}: {exc.strerror}")
        return None
    return check_file(
        store, programme, data, args.file.name, args.trial, site=args.site, fmt=args.format, mapping=_mapping(args),
        reason_mapping=_reason_mapping(args),
    )


def _mapping(args) -> dict[str, str] | None:
    return dict(args.map) or None


def _reason_mapping(args) -> dict[str, dict[str, str]] | None:
    chosen: dict[str, dict[str, str]] = {}
    for field, value, code in args.map_reason:
        chosen.setdefault(field, {})[value] = code
    return chosen or None


def _validate(args, store: Store, programme) -> int:
    checked = _check(args, store, programme)
    if checked is None:
        return USAGE
    result = checked.to_json()
    if checked.already_loaded is not None:
        result["message"] = f"this very file is already loaded as extract #{checked.already_loaded}"
    _print_result(result, args.json, checked)
    return DONE if checked.ok else REFUSED


def _ingest(args, store: Store, programme) -> int:
    checked = _check(args, store, programme)
    if checked is None:
        return USAGE
    result = checked.to_json()
    if checked.already_loaded is not None:
        return _confirm_loaded(args, store, checked, result)
    try:
        result["extract_id"] = commit(
            store, checked, args.by, accept_warnings=args.accept_warnings, mapping=_mapping(args), confirm_removals=args.confirm_removals,
            reason_mapping=_reason_mapping(args),
        )
    except AlreadyLoaded as exc:  # the same file landed from elsewhere while this run checked it
        return _confirm_loaded(args, store, dataclasses.replace(checked, already_loaded=exc.extract_id), result)
    except Refused as exc:
        result["ok"] = False
        result["message"] = f"refused: {exc}"
        _print_result(result, args.json, checked)
        return REFUSED
    counts = checked.diff.counts()
    result["message"] = (
        f"stored as extract #{result['extract_id']}: {counts['new']} new, {counts['changed']} changed, "
        f"{counts['missing']} no longer in the extract, {counts['unchanged']} unchanged"
    )
    _print_result(result, args.json, checked)
    return DONE


def _confirm_loaded(args, store: Store, checked, result: dict) -> int:
    """The very file is current already: nothing new is stored, its data is confirmed current."""
    result["extract_id"] = commit(store, checked, args.by)
    result["message"] = (
        f"already loaded as extract #{checked.already_loaded}; nothing changed "
        "(recorded that its data was confirmed current today)"
    )
    _print_result(result, args.json, checked)
    return DONE


def _print_result(result: dict, as_json: bool, checked) -> None:
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    print(f"{checked.file_name}: {result['format'] or 'unknown format'}, {result['rows']} rows, {result['participants']} participants")
    for issue in checked.errors:
        print(f"  error: {issue.message}")
    for issue in checked.warnings:
        print(f"  warning: {issue.message}")
    if result.get("diff"):
        d = result["diff"]
        print(f"  against the current data: {d['new']} new, {d['changed']} changed, {d['missing']} missing, {d['unchanged']} unchanged")
    if result.get("message"):
        print(result["message"])
    elif checked.ok:
        print("no errors" + (": ready to ingest" if not checked.needs_confirmation else "; warnings need --accept-warnings"))


def _extracts(args, store: Store, programme) -> int:
    frame = store.extracts().drop(columns=["diff"])
    if args.json:
        print(frame.to_json(orient="records", date_format="iso", indent=2))
        return DONE
    if frame.empty:
        print("no extracts yet")
        return DONE
    shown = frame[["extract_id", "trial", "sites", "file_name", "uploaded_by", "uploaded_at", "participant_count", "status"]]
    print(shown.to_string(index=False))
    return DONE


def _retract(args, store: Store, programme) -> int:
    detail = store.retract(args.extract_id, args.by, args.reason)
    message = f"extract #{detail['extract_id']} ({detail['trial']}) retracted; the previous extract of its sites is current again"
    _say(args, {"ok": True, "message": message, "extract_id": detail["extract_id"], "trial": detail["trial"]})
    return DONE


# A redaction by a PostgreSQL role that does not own the tables: the rows are blank, the files not yet rewritten.
NOT_REWRITTEN = ("the database's files still hold the old values until the tables' owner writes them afresh "
                 "(python -m dashboard --db OWNER_ADDRESS store rewrite; README: Hospital deployment)")


def _redact(args, store: Store, programme) -> int:
    fields = [f.strip() for f in args.fields.split(",") if f.strip()]
    detail = store.redact(args.extract_id, fields, args.by, args.reason)
    blanked = ", ".join(f"{name} ({count} value{'s' if count != 1 else ''})" for name, count in detail["values_blanked"].items())
    message = f"extract #{args.extract_id}: blanked {blanked}; the audit log records who, when and which fields"
    if not detail["files_rewritten"]:
        message += f"; {NOT_REWRITTEN}"
    _say(args, {"ok": True, "message": message, "extract_id": args.extract_id, "values_blanked": detail["values_blanked"],
                "files_rewritten": detail["files_rewritten"]})
    return DONE


def _summary(args, store: Store, programme) -> int:
    summary = service.programme_summary(store, programme, args.as_of)
    if args.json:
        print(json.dumps(summary, indent=2))
        return DONE
    print(f"as of {summary['as_of']} (newest extract {summary['latest_extract_on'] or 'none'})")
    for t in summary["trials"]:
        f = t["forecast"]
        finish = f"forecast {f['median']} (90% {f['p05']} to {f['p95']}), on time {f['p_on_time']:.0%}" if f else "no forecast"
        if f:
            basis = "recent pace" if t["forecast_basis"] == "recent" else "pace since opening"
            finish += f" at the {basis}; by the planned end {t['enrolled_by_end_median']} ({t['enrolled_by_end_p05']} to {t['enrolled_by_end_p95']})"
        print(f"{t['trial']:8} {t['enrolled']:4}/{t['target']:<4} {t['percent_of_target']:5.1f}%  {t['status'] or '-':6} {finish}")
        gap = t["ahead_of_plan"]
        plan = f"{-gap} behind plan" if gap < 0 else f"{gap} ahead of plan" if gap > 0 else "on plan"
        pace = f"{t['rate_recent']:.2f}/month over {t['recent_months']} months" if t["rate_recent"] is not None else "no pace yet"
        needed = f"{t['rate_needed']:.2f}/month needed" if t["rate_needed"] is not None else "planned end passed"
        print(f"{'':8} {plan}; {pace}, {needed}")
        for s in t["sites"]:
            rate = f"{s['rate_per_month']:.2f}/month" if s["rate_per_month"] is not None else "-"
            stale = "  STALE" if s["stale"] else ""
            print(
                f"    {s['site']:4} {s['enrolled']:4} enrolled, {s['months_open']:6.1f} months open, {rate}, "
                f"last extract {s['last_extract_on'] or 'none'}{stale}"
            )
    return DONE


def _meeting(args, store: Store, programme) -> int:
    meeting = service.hold_meeting(store, args.by, args.note)
    if args.json:
        print(json.dumps({"id": meeting["meeting"], **meeting}, indent=2))
    else:
        print(f"meeting #{meeting['meeting']} held on {meeting['held_on']} by {meeting['held_by']}; "
              f"its data cut: {meeting['extracts']} extracts")
    return DONE


def _meetings(args, store: Store, programme) -> int:
    listed = service.meeting_list(store)
    if args.json:
        print(json.dumps(listed, indent=2))
    elif not listed:
        print("no meeting held yet")
    for m in [] if args.json else listed:
        print(f"#{m['meeting']:<4} {m['held_at']}  {m['held_by']:20} {m['extracts']} extracts  {m['note'] or ''}")
    return DONE


def _changes(args, store: Store, programme) -> int:
    from dashboard.meetings import forecast_line, since_line

    result = service.changes(store, programme, args.since_meeting)
    if args.json:
        print(json.dumps(result, indent=2))
        return DONE
    since = result["since"]
    print(f"as of {result['as_of']}, since meeting #{since['meeting']} of {since['held_on']}")
    for t in result["trials"]:
        print(f"{t['trial']:8} {t['enrolled_now']:4}/{t['target_now']:<4} was {t['enrolled_then']}; since: {since_line(t)}")
        print(f"{'':8} {forecast_line(t)}; status {t['status_now'] or '-'} (was {t['status_then'] or '-'})")
        for c in t["corrections"]:
            fields = "; ".join(f"{k} {v['then']} -> {v['now']}" for k, v in c.items() if isinstance(v, dict))
            print(f"{'':8} correction {c['site']} {c['participant_id']}: {fields}")
        if t["stale_sites"]:
            print(f"{'':8} stale since: {', '.join(t['stale_sites'])}")
    return DONE


def _report(args, store: Store, programme) -> int:
    from dashboard import report

    suffix = args.out.suffix.lower()
    if suffix not in (".html", ".pdf"):
        return _fail(args, USAGE, f"bad usage: --out must end in .html or .pdf, not {args.out.name}")
    if args.meeting is not None and (args.since_meeting is not None or args.as_of is not None):
        return _fail(args, USAGE, "bad usage: --meeting N is the pack of that meeting as it was: give no --since-meeting or --as-of with it")
    problem = output_problem(args.out, args.force)
    if problem:
        return _fail(args, *problem)
    if args.meeting is not None:
        pack = service.meeting_as_it_was(store, programme, args.meeting)
    else:
        pack = service.meeting_pack(store, programme, args.since_meeting, args.as_of)
    html = report.pack_html(programme, pack, demo=service.is_demo(store.extracts()))
    write_output(args.out, html.encode("utf-8") if suffix == ".html" else report.html_to_pdf(html), args.force)
    what = f"of meeting #{args.meeting}" if args.meeting is not None else "as of"
    print(f"wrote the meeting pack {what} {pack['summary']['as_of']} to {args.out}")
    return DONE


def _digest(args, store: Store, programme) -> int:
    """The week's messages: written to a file (--out, the director's digest), sent (--send), or
    else listed (to whom, which, the subject). A message already sent in the last six days is not
    sent again. Each message sent is audited (to whom, which digest), never its content."""
    from dashboard import digest

    facts = service.weekly_digest(store, programme)
    if args.out is not None:
        return _digest_out(args, digest.director_digest(facts, to="").html, facts["as_of"])
    grants = access.active(programme)
    if grants is None and args.send:
        return _fail(args, REFUSED, "refused: no access file, so no addresses; the digest goes to the directors and "
                                    "coordinators it lists (data/access.toml or $PUMP_ACCESS)")
    planned = digest.plan(facts, grants) if grants else []
    due = digest.not_sent_yet(planned, service.audit_entries(store, action="digest_sent"), clock.now())
    result = {"ok": True, "as_of": facts["as_of"], "demo": facts["demo"], "sent": 0, "already_sent": len(planned) - len(due),
              "messages": [{"to": m.to, "digest": m.kind, "subject": m.subject} for m in due], "facts": facts}
    again = f"; {result['already_sent']} went out in the last 6 days and are not sent again" if result["already_sent"] else ""
    if args.send:
        return _digest_send(args, store, due, result, again)
    result["message"] = f"would send {_messages(len(due))} (add --send to send them){again}" + (
        "" if grants else "; there is no access file, so no addresses")
    _say(args, result, [f"  {m['to']:32} {m['digest']:14} {m['subject']}" for m in result["messages"]])
    return DONE


def _digest_out(args, html: str, as_of: str) -> int:
    if args.out.suffix.lower() != ".html":
        return _fail(args, USAGE, f"bad usage: --out must end in .html, not {args.out.name}")
    problem = output_problem(args.out, args.force)
    if problem:
        return _fail(args, *problem)
    write_output(args.out, html.encode("utf-8"), args.force)
    message = f"wrote the director's digest as of {as_of} to {args.out} (nothing sent)"
    _say(args, {"ok": True, "as_of": as_of, "out": str(args.out), "message": message})
    return DONE


def _digest_send(args, store: Store, due: list, result: dict, again: str) -> int:
    """Send over one SMTP session, auditing each message the server took as it takes it."""
    from dashboard import mail

    def audit(sent) -> None:
        store.record(service.SYSTEM_ACTOR, "digest_sent", {"to": sent.to, "digest": sent.kind, "as_of": result["as_of"]})
        result["sent"] += 1

    try:
        settings = mail.smtp_settings()
    except mail.MailError as exc:
        return _fail(args, USAGE, f"bad usage: {exc}")
    try:
        mail.send(settings, due, audit)
    except mail.MailError as exc:
        message = f"could not send: {exc}"
        result.update(ok=False, message=message, errors=[{"row": None, "column": None, "code": "failed", "message": message}])
        _say(args, result)
        return FAILED
    result["message"] = f"sent {_messages(result['sent'])} through {settings.server}{again}"
    _say(args, result, [f"  {m['to']:32} {m['digest']:14} {m['subject']}" for m in result["messages"]])
    return DONE


def _messages(n: int) -> str:
    return f"{n} message{'s' if n != 1 else ''}"


def _say(args, result: dict, lines: list[str] = ()) -> None:
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(result["message"], file=sys.stdout if result["ok"] else sys.stderr)
    for line in lines:
        print(line)


def output_problem(path: Path, force: bool) -> tuple[int, str] | None:
    """Why the command may not write `path` (the exit status and a sentence), or None: it writes only
    where it was told (no `..` to climb out of the folder named), never through a symbolic link, and
    over an existing file only with --force (as `digest --out`)."""
    if ".." in path.parts:
        return USAGE, f"bad usage: --out {path} climbs out of its folder with '..'; name the folder plainly"
    if not path.parent.is_dir():
        return USAGE, f"bad usage: the folder {path.parent} does not exist"
    if path.is_symlink():
        return REFUSED, f"refused: {path} is a symbolic link; the pack is never written through one. Give the path of the file itself"
    if path.exists() and not path.is_file():
        return USAGE, f"bad usage: --out {path} is not a file"
    if path.exists() and not force:
        return REFUSED, f"refused: {path} exists; add --force to overwrite it"
    return None


def write_output(path: Path, data: bytes, force: bool) -> None:
    """Write `data` to `path` whole: into a new file beside it, then renamed over it (a rename
    replaces a link that appeared meanwhile, never what it points to); without --force, never over a file."""
    fresh = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if force:
            os.replace(fresh, path)
        else:
            os.link(fresh, path)  # fails when the name exists by now
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fresh)


def _access(args, store: Store, programme) -> int:
    """`access adopt`: the database is used with the access file PUMP_ACCESS names from now on. Only a
    programme director of the file it is used with now, as this computer's login (os_user) there."""
    login = service.current_user()
    remembered = store.remembered_access()
    new = access.active(programme)
    if new is None:
        return _fail(args, USAGE, f"bad usage: name the new access file with {access.ACCESS_VARIABLE}")
    old = new
    if remembered is not None and remembered["path"] != str(new.path.resolve()):
        try:
            old = access.load_access(remembered["path"], programme)
        except access.AccessError as exc:
            return _fail(args, REFUSED, f"refused: the access file this database is used with cannot be read, so nobody can be "
                                        f"checked as its director ({exc}); put it back first")
    store.run_by = {"os_user": login}
    person = old.grant_for_login(login)
    if person is None or person.role != "director" or person.email.casefold() != args.by.strip().casefold():
        store.refuse(args.by, "adopt_access", f"only a programme director of {old.path}, as their own login (os_user), "
                                             "moves the database to another access file")
    detail = store.adopt_access(new, args.by)
    if args.json:
        print(json.dumps({"ok": True, **detail}, indent=2))
    else:
        print(f"the database is used with the access file {detail['path']} from now on")
    return DONE


def _consort(args, store: Store, programme) -> int:
    from dashboard import consort

    code = programme.trial_code(args.trial)
    if code is None:
        return _fail(args, USAGE, f"bad usage: {args.trial!r} is not a trial of the programme ({', '.join(programme.trials)})")
    result = consort.flow(code, programme.trials[code], service.trial_rows(store, args.as_of, code), args.as_of)
    if args.json:
        print(json.dumps({k: result[k] for k in ("trial", "as_of", "counts", "reasons")}, indent=2))
        return DONE
    counts = result["counts"]
    print(f"{code}, as of {result['as_of']} (\"not recorded\": no extract holds that field)")
    for key, value in counts.items():
        if key == "arms":
            for arm, n in value.items():
                print(f"  arm {arm:18} {consort.shown(n)}")
        elif key != "converted" or result["converts"]:
            print(f"  {key.replace('_', ' '):22} {consort.shown(value)}")
    for reason in result["reasons"]:
        print(f"  reason: {reason['reason']} ({reason['count']})")
    return DONE


def _forecast(args) -> int:
    try:
        result = forecast_completion(args.target, args.enrolled, args.elapsed_days, args.planned_days, args.certainty)
        by_end = predict_enrolled_by_end(args.target, args.enrolled, args.elapsed_days, args.planned_days, args.certainty)
        sites = _forecast_sites(args.site) if args.site else None
        outlook = forecast_sites(args.target, args.enrolled, args.elapsed_days, args.planned_days, sites, args.certainty) if sites else None
        if not 0 < args.chance < 1:
            raise ValueError(f"--chance must be between 0 and 1, got {args.chance!r}")
        needed = None
        if args.extra_sites_from:  # without --site the trial counts as one site
            counted = sites or [Site(args.elapsed_days, args.enrolled, 1.0, name="the trial")]
            needed = centres_needed(args.target, args.enrolled, args.elapsed_days, args.planned_days, counted,
                                    (args.extra_sites_from - service.today()).days, args.certainty, args.chance)
    except ValueError as exc:
        return _fail(args, USAGE, f"bad usage: {exc}")
    out = {
        "median_days": result.median_days,
        "p05_days": result.p05_days,
        "p95_days": result.p95_days,
        "p_on_time": result.p_on_time,
        # The number enrolled by the planned end (negative binomial under the same posterior), not capped;
        # with --site, the multi-centre model's (the sum over sites).
        "enrolled_by_end_median": outlook.enrolled_by_end_median if outlook else by_end.median,
        "enrolled_by_end_p05": outlook.enrolled_by_end_p05 if outlook else by_end.p05,
        "enrolled_by_end_p95": outlook.enrolled_by_end_p95 if outlook else by_end.p95,
        "model": "multi-centre" if outlook else "single-rate",
    }
    if outlook:
        out["multicentre"] = outlook.as_dict()
    if args.extra_sites_from:
        out.update(centres_needed=needed, extra_sites_from=args.extra_sites_from.isoformat(), chance=args.chance)
    if args.json:
        print(json.dumps(out, indent=2))
        return DONE
    print(
        f"target reached in {result.median_days:.0f} days (90% interval {result.p05_days:.0f} to {result.p95_days:.0f}); "
        f"probability of reaching it by the planned end: {result.p_on_time:.0%}; "
        f"enrolled by the planned end: {by_end.median} (90% interval {by_end.p05} to {by_end.p95})"
    )
    if outlook:
        days = f"{outlook.median_days:.0f} days" if outlook.median_days is not None else "not within a century"
        print(f"multi-centre model ({len(sites)} sites): target reached in {days}; probability by the planned end: "
              f"{outlook.p_on_time:.0%}; enrolled by the planned end: {outlook.enrolled_by_end_median} "
              f"(90% interval {outlook.enrolled_by_end_p05} to {outlook.enrolled_by_end_p95})")
    if args.extra_sites_from:
        print(f"centres needed from {args.extra_sites_from}: " + (f"{needed}" if needed is not None else f"no number up to {MOST_CENTRES} is enough")
              + f" (for a {args.chance:.0%} chance)")
    return DONE


def _bench(args) -> int:
    from dashboard import bench  # the benchmark's own imports stay out of every other command

    if any(n < 1 for n in args.scale) or args.runs < 1 or args.history < 1:
        return _fail(args, USAGE, "bad usage: --scale, --runs and --history take whole numbers of 1 or more")
    if args.bench_server and not is_address(args.bench_server):
        return _fail(args, USAGE, "bad usage: bench --db takes a PostgreSQL address (postgresql://...); without it the bench uses "
                     "a DuckDB file of its own")
    results = bench.run(args.scale, args.runs, args.history, ingest=not args.no_ingest, apptest=not args.no_apptest,
                        server=args.bench_server)
    print(json.dumps(results, indent=2) if args.json else bench.report(results))
    return DONE


def _store_copy(args) -> int:
    """`store copy`: every table into an empty database, in one transaction there, verified before it
    commits; the source is only read. Refused (1) when the target holds anything, 3 when the source is
    not a dashboard database or the copy failed: nothing copied either way."""
    from dashboard.store.copy import copy_store

    # (nothing is opened yet; a DuckDB file in use by a dashboard is waited for, saying so)
    source, target = Store(args.source, on_wait=_say_waiting), Store(args.target, on_wait=_say_waiting, create=True)
    if _same_place(args.source, args.target):
        return _fail(args, USAGE, f"bad usage: --from and --to are the same database ({source.location})")
    try:
        detail = copy_store(source, target, service.current_user())
    except StoreUnavailable as exc:
        return _fail(args, FAILED, f"could not copy: {exc}")
    except Refused as exc:
        return _fail(args, REFUSED, f"refused: {exc}")
    except Exception:  # a sentence here, the traceback (never an address's password) in the log only
        log_file = service.log_path(target.location)
        service.error_log(log_file).exception("internal error in store copy from %s to %s", source.location, target.location)
        return _fail(args, FAILED, f"internal error, nothing was copied (the details are in {log_file})")
    total = sum(detail["rows"].values())
    message = (f"copied {total} rows of {len(detail['rows'])} tables from {source.location} to {target.location} "
               f"({detail['rows']['extracts']} extracts, {detail['rows']['audit_log']} audit entries), verified")
    _say(args, {"ok": True, "message": message, "from": source.location, "to": target.location, "rows": detail["rows"]})
    return DONE


def _store(args, store: Store, programme) -> int:
    """`store grant` and `store rewrite`: the owner's upkeep of a PostgreSQL database (refused on DuckDB)."""
    if args.action == "grant":
        detail = store.grant_role(args.role, service.current_user())
        message = (f"the role {args.role} may now read and write the dashboard's tables in {store.location} and only add to "
                   "its audit log: point the dashboard, the command line and the pulls at it with that role")
        _say(args, {"ok": True, "message": message, "role": detail["role"], "database": store.location})
    else:
        store.rewrite(service.current_user())
        _say(args, {"ok": True, "message": f"the tables of {store.location} are written afresh: a redaction's old values are gone "
                    "from its files", "database": store.location})
    return DONE


def _same_place(one: str, other: str) -> bool:
    if "://" in one or "://" in other:
        return one.rstrip("/") == other.rstrip("/")
    return Path(one).resolve() == Path(other).resolve()


def _pull(args, store: Store, programme) -> int:
    """Exit 0 when every source was stored or confirmed, 1 when one was refused or waits for a
    person, 3 when one could not be pulled (the worst wins); the others are pulled regardless."""
    from dashboard.pull import chosen_sources, pull_all

    if (args.trial and programme.trial_code(args.trial) is None) or (args.site and programme.site_code(args.site) is None):
        return _fail(args, USAGE, f"bad usage: no trial {args.trial!r} or site {args.site!r} in the programme")
    if not chosen_sources(programme, args.trial, args.site):
        return _fail(args, USAGE, "bad usage: no source is configured for this choice (sources sit on a trial's site in data/programme.yaml)")
    outcomes = pull_all(store, programme, args.trial, args.site)
    for outcome in outcomes:
        if args.json:
            print(json.dumps(outcome.to_json(), default=str), flush=True)
        else:
            print(f"{outcome.trial} {outcome.site} {outcome.outcome}: {outcome.message}", flush=True)
    worst = {o.outcome for o in outcomes}
    return FAILED if "failed" in worst else REFUSED if worst & {"refused", "waiting"} else DONE


def _audit(args, store: Store, programme) -> int:
    entries = service.audit_entries(store, args.actor, args.action, args.since)
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return DONE
    if not entries:
        print("no audit entries" + (" match" if args.actor or args.action or args.since else ""))
    for e in entries:
        detail = json.dumps(e["detail"], default=str) if e["detail"] else ""
        print(f"{e['at'][:19]}  {e['actor']:28} {e['action']:14} {e['trial'] or '-':8} {detail}")
    return DONE


COMMANDS = {
    "init": _init,
    "demo": _demo,
    "validate": _validate,
    "ingest": _ingest,
    "extracts": _extracts,
    "retract": _retract,
    "redact": _redact,
    "store": _store,
    "summary": _summary,
    "report": _report,
    "consort": _consort,
    "meeting": _meeting,
    "meetings": _meetings,
    "access": _access,
    "changes": _changes,
    "audit": _audit,
    "digest": _digest,
    "pull": _pull,
}
