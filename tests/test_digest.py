"""The weekly digest and the reminders (issue 21 item 5), received by a real SMTP server.

The server is aiosmtpd on a local port, with STARTTLS required (a throwaway self-signed
certificate made here, trusted through the `ca_file` setting as a hospital's own authority
would be) and the login checked by an authenticator. The command line sends as cron runs it;
each message is parsed back: who got it, its subject, its counts, both parts, and no
participant id or password anywhere.
"""

import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import socket
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dashboard import digest, mail, service
from dashboard.access import parse_access
from dashboard.cli import main
from dashboard.ingest import check_file, commit
from dashboard.store import Store
from support import HEADER, TODAY, template_csv, upload

USER, PASSWORD = "pump-mailer@example.org", "s3cret-Mail-Pa55"
DIRECTOR = "k.director@example.org"
STALE_COORDINATOR = "i.emc@example.org"  # PUMP-IT at EMC: stale
WAITED_COORDINATOR = "n.nki@example.org"  # PUMP-2 at NKI: fresh, but a pull waits for a decision
FRESH_COORDINATOR = "e.emc@example.org"  # PUMP-2 at EMC: fresh, nothing waits: no mail
VIEWER = "chair@example.org"
PARTICIPANT_IDS = ["P2-E1", "P2-E2", "P2-E3", "P2-E4", "P2-N1", "P2-N2", "I-1"]

ACCESS = f"""
[users."{DIRECTOR}"]
role = "director"
name = "Programme director"

[users."{STALE_COORDINATOR}"]
role = "coordinator"
trials = ["PUMP-IT"]
sites = ["EMC"]
name = "Ida"

[users."{WAITED_COORDINATOR}"]
role = "coordinator"
trials = ["PUMP-2"]
sites = ["NKI"]

[users."{FRESH_COORDINATOR}"]
role = "coordinator"
trials = ["PUMP-2"]
sites = ["EMC"]

[users."{VIEWER}"]
role = "viewer"
"""


# ---- a real SMTP server with STARTTLS and login -------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


class Inbox:
    """The server's handler: keeps what it received, refuses the addresses in `refuse`."""

    def __init__(self):
        self.received = []  # (envelope sender, recipients, raw bytes, over TLS)
        self.logins = []  # (mechanism, accepted)
        self.refuse = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content, session.ssl is not None))
        return "250 Message accepted"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (USER.encode(), PASSWORD.encode())
        self.logins.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)  # a refusal is answered 535 by the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(certificate, mechanisms=("LOGIN", "PLAIN")):
    inbox = Inbox()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    excluded = [m for m in ("LOGIN", "PLAIN") if m not in mechanisms]
    controller = Controller(
        inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
        auth_require_tls=True, authenticator=inbox.authenticator, auth_exclude_mechanism=excluded,
    )
    controller.start()
    return controller, inbox


@pytest.fixture
def smtp(certificate, monkeypatch):
    controller, inbox = start_server(certificate)
    use_server(monkeypatch, controller.port, certificate)
    yield inbox
    controller.stop()


def use_server(monkeypatch, port, certificate, password=PASSWORD):
    for name, value in {"HOST": "127.0.0.1", "PORT": str(port), "USERNAME": USER, "PASSWORD": password,
                        "SENDER": "PUMP dashboard <pump@example.org>", "STARTTLS": "true", "CA_FILE": str(certificate[0])}.items():
        monkeypatch.setenv(f"PUMP_SMTP_{name}", value)


# ---- a programme's week ---------------------------------------------------------------------------------


@pytest.fixture
def week(tmp_path, programme, store, monkeypatch):
    """Today is Sat 21 Nov 2026. A week ago PUMP-2 had 2 enrolled at EMC and 1 at NKI; since then EMC
    reported 2 more (and one moved to follow-up) and NKI 1 more. PUMP-IT at EMC last sent data on
    30 Oct (stale). A pull of PUMP-2 at NKI waits for a decision; one of PUMP at EMC failed."""
    upload(store, programme, ["P2-N1,NKI,,2026-09-15,haip,on_treatment,"], at=dt.datetime(2026, 10, 1, 9))
    upload(store, programme, ["I-1,EMC,,2026-10-01,haip,on_treatment,"], trial="PUMP-IT", at=dt.datetime(2026, 10, 30, 12))
    upload(store, programme, ["P2-E1,EMC,,2026-10-01,haip,on_treatment,", "P2-E2,EMC,,2026-10-10,haip,on_treatment,"],
           at=dt.datetime(2026, 11, 10, 10))
    upload(store, programme, ["P2-N1,NKI,,2026-09-15,haip,on_treatment,", "P2-N2,NKI,,2026-11-17,haip,on_treatment,"],
           at=dt.datetime(2026, 11, 18, 9))
    upload(store, programme, ["P2-E1,EMC,,2026-10-01,haip,follow_up,", "P2-E2,EMC,,2026-10-10,haip,on_treatment,",
                              "P2-E3,EMC,,2026-11-16,haip,on_treatment,", "P2-E4,EMC,,2026-11-18,haip,on_treatment,"],
           at=dt.datetime(2026, 11, 19, 9))
    store.record("pump-service", "pull", {"source": "pump2-nki", "site": "NKI", "outcome": "waiting",
                                          "reason": "2 warnings need a person to accept them"}, trial="PUMP-2")
    store.record("pump-service", "pull", {"source": "pump-emc", "site": "EMC", "outcome": "failed",
                                          "reason": "pump-emc: Castor refused the client id and secret; renew them in the secrets"},
                 trial="PUMP")
    access_file = tmp_path / "access.toml"
    access_file.write_text(ACCESS, encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(access_file))
    return str(store.path)


def digest_command(db, *args, capsys):
    code = main(["--db", db, "digest", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def parsed(raw: bytes):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return message, text, html


def audit(db, action):
    return service.audit_entries(Store(db), action=action)


# ---- sending ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_each_director_gets_the_digest_and_only_coordinators_with_something_to_do_a_reminder(
    week, certificate, monkeypatch, capsys, caplog, mechanism
):
    controller, inbox = start_server(certificate, mechanisms=(mechanism,))
    use_server(monkeypatch, controller.port, certificate)
    caplog.set_level(logging.DEBUG)
    try:
        code, out, err = digest_command(week, "--send", capsys=capsys)
    finally:
        controller.stop()
    assert code == 0, err
    assert "sent 3 messages" in out
    assert inbox.logins == [(mechanism, True)]
    recipients = [rcpt for _, rcpt, _, _ in inbox.received]
    # The viewer and the coordinator whose site is fresh with nothing waiting get nothing.
    assert recipients == [[DIRECTOR], [STALE_COORDINATOR], [WAITED_COORDINATOR]]
    assert all(tls for *_, tls in inbox.received), "every message went over STARTTLS"
    assert all(sender == "pump@example.org" for sender, *_ in inbox.received)

    messages = {rcpt[0]: parsed(raw) for _, rcpt, raw, _ in inbox.received}
    head, text, html = messages[DIRECTOR]
    assert head["To"] == DIRECTOR
    assert head["Subject"].strip() == "PUMP week to 21 Nov 2026: +3 enrolled, 4 stale sites, 1 failed pull"
    for part in (text, html):
        assert "6 / 50 enrolled (12% of target)" in part  # PUMP-2: 4 at EMC, 2 at NKI
        assert "+3 this week (EMC +2, NKI +1)" in part
        assert "1 on treatment → follow up" in part
        assert "EMC: last extract Fri 30 Oct 2026, 22 days ago (stale after 14)" in part
        assert "Castor refused the client id and secret" in part
        assert "pump2-nki (PUMP-2, NKI) waits for a decision" in part
        assert "Demo data" not in part
    assert html.startswith("<!DOCTYPE html>") and "<style" not in html and "src=" not in html and "http" not in html

    head, text, _ = messages[STALE_COORDINATOR]
    assert head["Subject"].strip() == "PUMP reminder: PUMP-IT EMC data is stale"
    assert "a reminder for Ida" in text and "PUMP-IT at EMC: last extract Fri 30 Oct 2026, 22 days ago" in text
    assert "pump2-nki" not in text  # not her grant
    head, text, _ = messages[WAITED_COORDINATOR]
    assert head["Subject"].strip() == "PUMP reminder: pump2-nki waits for you"
    assert "waits for a decision since" in text and "stale" not in text.split("You get")[0]

    for _, _, raw, _ in inbox.received:
        _, text, html = parsed(raw)
        for content in (raw.decode("ascii", "replace"), text, html):
            assert not [pid for pid in PARTICIPANT_IDS if pid in content]
            assert PASSWORD not in content
    # Nothing this program logged, printed or stored holds the password (the test server's own
    # protocol log, "mail.log", sees the encoded login as any server does).
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert not [line for line in [*ours, out, err] if PASSWORD in line]

    sent = audit(week, "digest_sent")
    assert sorted((e["detail"]["to"], e["detail"]["digest"]) for e in sent) == sorted(
        [(DIRECTOR, "weekly digest"), (STALE_COORDINATOR, "reminder"), (WAITED_COORDINATOR, "reminder")]
    )
    assert all(set(e["detail"]) == {"to", "digest", "as_of"} and e["actor"] == "system" for e in sent)
    assert PASSWORD not in json.dumps(service.audit_entries(Store(week)), default=str)


def test_a_wrong_password_is_one_sentence_naming_the_server_and_nothing_is_audited(week, certificate, monkeypatch, capsys):
    controller, inbox = start_server(certificate)
    use_server(monkeypatch, controller.port, certificate, password="not-the-password")
    try:
        code, out, err = digest_command(week, "--send", capsys=capsys)
    finally:
        controller.stop()
    assert code == 3
    assert err.strip() == (f"could not send: the mail server 127.0.0.1:{controller.port} refused the login of {USER} "
                           "(code 535); check [smtp] username and password")
    assert "not-the-password" not in out + err
    assert inbox.received == [] and audit(week, "digest_sent") == []


def test_no_server_listening_is_one_sentence_exit_3(week, certificate, monkeypatch, capsys):
    port = free_port()
    use_server(monkeypatch, port, certificate)
    code, out, _ = digest_command(week, "--send", "--json", capsys=capsys)
    result = json.loads(out)
    assert code == 3 and result["ok"] is False and result["sent"] == 0
    assert result["message"] == (f"could not send: could not connect to the mail server 127.0.0.1:{port} (connection refused); "
                                 "check [smtp] host and port, and that the server is reachable from here")
    assert PASSWORD not in out and audit(week, "digest_sent") == []


def test_a_server_whose_certificate_is_not_trusted_gets_no_login(week, certificate, smtp, monkeypatch, capsys):
    monkeypatch.delenv("PUMP_SMTP_CA_FILE")  # the system's authorities do not know the throwaway certificate
    code, _, err = digest_command(week, "--send", capsys=capsys)
    assert code == 3
    assert "could not start a secure session with the mail server 127.0.0.1:" in err and "certificate is not trusted" in err
    assert smtp.logins == [] and smtp.received == []


def test_a_server_without_starttls_never_sees_the_password(week, certificate, monkeypatch, capsys):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox.authenticator, auth_require_tls=False)
    controller.start()
    use_server(monkeypatch, controller.port, certificate)
    try:
        code, _, err = digest_command(week, "--send", capsys=capsys)
    finally:
        controller.stop()
    assert code == 3
    assert err.strip() == (f"could not send: the mail server 127.0.0.1:{controller.port} does not offer STARTTLS; "
                           "check [smtp] host, port and starttls")
    assert inbox.logins == [] and inbox.received == [] and audit(week, "digest_sent") == []


def test_a_refused_address_stops_the_sending_and_only_what_went_out_is_audited(week, smtp, capsys):
    smtp.refuse.add(STALE_COORDINATOR)
    code, _, err = digest_command(week, "--send", capsys=capsys)
    assert code == 3
    assert f"refused the address {STALE_COORDINATOR}; 1 of 3 messages were sent" in err
    assert [rcpt for _, rcpt, _, _ in smtp.received] == [[DIRECTOR]]
    assert [e["detail"]["to"] for e in audit(week, "digest_sent")] == [DIRECTOR]
    # Run again once the address is fixed: those reached this week are not sent the same again.
    smtp.refuse.clear()
    code, out, _ = digest_command(week, "--send", capsys=capsys)
    assert code == 0 and "sent 2 messages" in out and "1 went out in the last 6 days and are not sent again" in out
    assert [rcpt for _, rcpt, _, _ in smtp.received] == [[DIRECTOR], [STALE_COORDINATOR], [WAITED_COORDINATOR]]
    assert len(audit(week, "digest_sent")) == 3


def test_missing_smtp_settings_are_bad_usage_in_words(week, monkeypatch, capsys):
    for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "SENDER", "STARTTLS", "CA_FILE"):
        monkeypatch.delenv(f"PUMP_SMTP_{name}", raising=False)
    monkeypatch.setattr(mail, "SECRETS_PATH", Path(week + ".no-secrets.toml"))  # the checkout's own secrets stay out of it
    code, _, err = digest_command(week, "--send", capsys=capsys)
    assert code == 2 and err.startswith("bad usage: no SMTP host: set [smtp] host in") and "PUMP_SMTP_HOST" in err


def test_without_send_it_says_who_would_get_what_and_sends_nothing(week, smtp, capsys):
    code, out, _ = digest_command(week, capsys=capsys)
    assert code == 0
    assert out.splitlines()[0] == "would send 3 messages (add --send to send them)"
    assert f"{DIRECTOR}" in out and "PUMP reminder: PUMP-IT EMC data is stale" in out
    assert FRESH_COORDINATOR not in out and VIEWER not in out
    code, out, _ = digest_command(week, "--json", capsys=capsys)
    result = json.loads(out)
    assert [(m["to"], m["digest"]) for m in result["messages"]] == [
        (DIRECTOR, "weekly digest"), (STALE_COORDINATOR, "reminder"), (WAITED_COORDINATOR, "reminder")]
    assert result["facts"]["trials"][1]["new_by_site"] == {"EMC": 2, "NKI": 1}
    assert not [pid for pid in PARTICIPANT_IDS if pid in out]
    assert smtp.received == [] and audit(week, "digest_sent") == []


# ---- the file, and the demo label ------------------------------------------------------------------------------


def test_out_writes_the_directors_digest_never_over_a_file_or_through_a_link(week, smtp, tmp_path, capsys):
    target = tmp_path / "digest.html"
    code, out, _ = digest_command(week, "--out", str(target), capsys=capsys)
    assert code == 0 and "nothing sent" in out
    html = target.read_text(encoding="utf-8")
    assert "+3 this week (EMC +2, NKI +1)" in html and not [pid for pid in PARTICIPANT_IDS if pid in html]
    code, _, err = digest_command(week, "--out", str(target), capsys=capsys)
    assert code == 1 and "exists; add --force" in err
    elsewhere = tmp_path / "elsewhere.html"
    elsewhere.write_text("keep me")
    link = tmp_path / "link.html"
    link.symlink_to(elsewhere)
    code, _, err = digest_command(week, "--out", str(link), "--force", capsys=capsys)
    assert code == 1 and "symbolic link" in err and elsewhere.read_text() == "keep me"
    assert digest_command(week, "--out", str(target), "--force", capsys=capsys)[0] == 0
    assert smtp.received == []


def test_demo_data_says_so_in_the_subject_and_both_parts(programme, store, smtp, tmp_path, monkeypatch, capsys):
    checked = check_file(store, programme, template_csv("D-1,EMC,,2026-11-02,haip,on_treatment,", header=HEADER), "demo.csv", "PUMP-2", today=TODAY)
    commit(store, checked, service.DEMO_ACTOR, accept_warnings=True, uploaded_at=dt.datetime(2026, 11, 16, 7))
    access_file = tmp_path / "access.toml"
    access_file.write_text(f'[users."{DIRECTOR}"]\nrole = "director"\n', encoding="utf-8")
    monkeypatch.setenv("PUMP_ACCESS", str(access_file))
    code, _, err = digest_command(str(store.path), "--send", capsys=capsys)
    assert code == 0, err
    (_, _, raw, _), = smtp.received
    head, text, html = parsed(raw)
    assert head["Subject"].strip() == "[Demo data] PUMP week to 21 Nov 2026: +1 enrolled, 5 stale sites"
    assert digest.DEMO_NOTICE in text and digest.DEMO_NOTICE in html


# ---- the pure parts -------------------------------------------------------------------------------------------


def pull(at, source, outcome, trial="PUMP", site="EMC"):
    return {"at": at, "action": "pull", "trial": trial, "detail": {"source": source, "site": site, "outcome": outcome, "reason": f"{outcome} because"}}


def test_failed_pulls_are_those_of_the_last_seven_days_and_a_pull_waits_until_one_is_stored_or_confirmed():
    entries = [  # newest first, as the audit log lists them
        pull("2026-11-21 06:00:00", "a", "failed"),
        pull("2026-11-20 06:00:00", "a", "failed"),
        pull("2026-11-19 06:00:00", "a", "waiting"),
        pull("2026-11-18 06:00:00", "b", "confirmed"),
        pull("2026-11-17 06:00:00", "b", "waiting"),
        pull("2026-11-16 06:00:00", "c", "refused"),
        pull("2026-11-15 06:00:00", "c", "waiting", site="NKI"),
        pull("2026-11-13 06:00:00", "d", "failed"),
    ]
    failed = digest.failed_pulls(entries, dt.datetime(2026, 11, 14, 7, 0))
    assert [(p["source"], p["at"], p["count"]) for p in failed] == [("a", "2026-11-21 06:00", 2)]
    text = digest.director_digest({**facts(), "failed_pulls": failed}, "d@x.org").text
    assert "- a (PUMP, EMC) failed 2 times, last Sat 21 Nov 06:00: failed because" in text
    # a: a failed pull after it decides nothing; b: confirmed since; c: a refused pull decides nothing either.
    assert [(p["source"], p["at"], p["site"]) for p in digest.waiting_pulls(entries)] == [
        ("a", "2026-11-19 06:00", "EMC"), ("c", "2026-11-15 06:00", "NKI")]


def facts(stale_sites=(), waiting=()):
    trial = {"trial": "PUMP-2", "title": "PUMP-2 - HAIP", "enrolled": 4, "target": 50, "percent_of_target": 8.0, "new": 0,
             "new_by_site": {}, "no_longer_enrolled": 0, "withdrawals": 0, "corrections": 0, "status": "green",
             "status_then": "amber", "participant_status_changes": [],
             "stale_sites": [{"site": s, "last_extract_on": "2026-10-30", "days": 22} for s in stale_sites]}
    return {"as_of": "2026-11-21", "since": "2026-11-14 07:00", "demo": False, "stale_after_days": 14, "trials": [trial],
            "failed_pulls": [], "waiting_pulls": list(waiting)}


def test_a_coordinator_is_reminded_only_of_their_own_stale_sites_and_waiting_pulls():
    access = parse_access({"users": {"c@x.org": {"role": "coordinator", "trials": ["PUMP-2"], "sites": ["EMC"]},
                                     "d@x.org": {"role": "director"}}})
    coordinator = access.grant_for("c@x.org")
    assert digest.coordinator_reminder(facts(), coordinator) is None
    assert digest.coordinator_reminder(facts(stale_sites=["NKI"]), coordinator) is None
    other = {"at": "2026-11-20 06:00", "source": "p2-nki", "trial": "PUMP-2", "site": "NKI"}
    assert digest.coordinator_reminder(facts(waiting=[other]), coordinator) is None
    assert digest.coordinator_reminder(facts(stale_sites=["EMC"]), coordinator).subject == "PUMP reminder: PUMP-2 EMC data is stale"
    # The director's digest goes out every week, even a quiet one, with the status move in words.
    (quiet,) = digest.plan(facts(), access)
    assert quiet.to == "d@x.org" and "no new enrolment this week" in quiet.text and "On track (was At risk)" in quiet.text


def test_smtp_settings_come_from_the_secrets_file_and_the_environment_wins(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[smtp]\nhost = "smtp.example.org"\nusername = "u"\npassword = "file-pass"\nsender = "pump@example.org"\n')
    settings = mail.smtp_settings(secrets, environ={"PUMP_SMTP_PASSWORD": "env-pass", "PUMP_SMTP_PORT": "2525"})
    assert (settings.host, settings.port, settings.password, settings.starttls) == ("smtp.example.org", 2525, "env-pass", True)
    assert "env-pass" not in repr(settings)
    with pytest.raises(mail.MailError, match=r"no SMTP host: set \[smtp\] host in .* or PUMP_SMTP_HOST"):
        mail.smtp_settings(tmp_path / "none.toml", environ={"PUMP_SMTP_SENDER": "a@b.org"})
    with pytest.raises(mail.MailError, match="unencrypted"):
        mail.smtp_settings(secrets, environ={"PUMP_SMTP_STARTTLS": "false"})
