"""Sending the digest's messages by SMTP: STARTTLS, then login, one connection for all.

The settings are secrets: `[smtp]` in `.streamlit/secrets.toml` (host, port, username,
password, sender, starttls, and ca_file for a hospital's own certificate authority) or the
environment variables PUMP_SMTP_HOST, PUMP_SMTP_PORT, PUMP_SMTP_USERNAME, PUMP_SMTP_PASSWORD,
PUMP_SMTP_SENDER, PUMP_SMTP_STARTTLS, PUMP_SMTP_CA_FILE; the environment wins. The password
never appears in a message, an error or a log: a failure names the server and what to do.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from dashboard.digest import Message

SECRETS_PATH = Path(__file__).resolve().parent.parent / ".streamlit" / "secrets.toml"
ENV_PREFIX = "PUMP_SMTP_"
SETTINGS = ("host", "port", "username", "password", "sender", "starttls", "ca_file")
DEFAULT_PORT = 587
TIMEOUT_SECONDS = 30


class MailError(RuntimeError):
    """The mail could not go out: one sentence naming the server (never the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ca_file: str | None = None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def _flag(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise MailError(f"{where} must be true or false, not {value!r}")


def smtp_settings(secrets_path: Path | None = None, environ: dict | None = None) -> SmtpSettings:
    """The SMTP settings from `[smtp]` of the secrets file (default SECRETS_PATH), each overridden
    by its environment variable. MailError names what is missing or wrong."""
    secrets_path = secrets_path or SECRETS_PATH
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    if secrets_path.exists():
        try:
            section = tomllib.loads(secrets_path.read_text(encoding="utf-8")).get("smtp", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise MailError(f"cannot read {secrets_path}: {exc}") from None
        if not isinstance(section, dict):
            raise MailError(f"{secrets_path}: [smtp] must be a table")
        unknown = sorted(set(section) - set(SETTINGS))
        if unknown:
            raise MailError(f"{secrets_path}: unknown [smtp] setting {', '.join(unknown)} (allowed: {', '.join(SETTINGS)})")
        values.update(section)
    for name in SETTINGS:
        if environ.get(ENV_PREFIX + name.upper()):
            values[name] = environ[ENV_PREFIX + name.upper()]
    for name in ("host", "sender"):
        if not values.get(name):
            raise MailError(f"no SMTP {name}: set [smtp] {name} in {secrets_path} or {ENV_PREFIX}{name.upper()}")
    try:
        port = int(values.get("port") or DEFAULT_PORT)
    except (TypeError, ValueError):
        raise MailError(f"the SMTP port must be a number, not {values['port']!r}") from None
    if (values.get("username") is None) != (values.get("password") is None):
        raise MailError("the SMTP username and password go together: set both, or neither for a relay without login")
    starttls = _flag(values.get("starttls", True), "the SMTP starttls setting")
    if values.get("username") is not None and not starttls:
        raise MailError("a login without STARTTLS would send the SMTP password unencrypted: set [smtp] starttls = true")
    return SmtpSettings(
        host=str(values["host"]),
        port=port,
        sender=str(values["sender"]),
        username=None if values.get("username") is None else str(values["username"]),
        password=None if values.get("password") is None else str(values["password"]),
        starttls=starttls,
        ca_file=None if not values.get("ca_file") else str(values["ca_file"]),
    )


def email_of(message: Message, sender: str) -> EmailMessage:
    """The message as MIME: multipart/alternative, the plain text first and the HTML second."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise MailError(f"cannot read the certificate authority file {settings.ca_file} for {settings.server}: {exc}") from None


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    """An SMTP session after STARTTLS and login, or MailError saying which step failed."""
    try:
        session = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not connect to the mail server {settings.server} ({_why(exc)}); "
                        "check [smtp] host and port, and that the server is reachable from here") from None
    step = "STARTTLS"
    try:
        session.ehlo()
        if settings.starttls:
            session.starttls(context=_tls_context(settings))
            session.ehlo()
        step = "login (AUTH)"
        if settings.username is not None:
            session.login(settings.username, settings.password or "")
    except smtplib.SMTPAuthenticationError as exc:
        _close(session)
        raise MailError(f"the mail server {settings.server} refused the login of {settings.username} "
                        f"(code {exc.smtp_code}); check [smtp] username and password") from None
    except smtplib.SMTPNotSupportedError:
        _close(session)
        raise MailError(f"the mail server {settings.server} does not offer {step}; check [smtp] host, port and starttls") from None
    except MailError:
        _close(session)
        raise
    except (OSError, ssl.SSLError, smtplib.SMTPException) as exc:
        _close(session)
        raise MailError(f"could not start a secure session with the mail server {settings.server} ({_why(exc)}); "
                        "check [smtp] host, port, starttls and ca_file") from None
    return session


def _why(exc: BaseException) -> str:
    """A short cause, from the exception's class and text (neither ever holds the password)."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its certificate is not trusted: {exc.verify_message}"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__


def _close(session: smtplib.SMTP) -> None:
    try:
        session.quit()
    except (OSError, smtplib.SMTPException):
        session.close()


def send(settings: SmtpSettings, messages: Iterable[Message], on_sent: Callable[[Message], None]) -> int:
    """Send each message over one session; `on_sent` is called after each message the server
    accepted (to audit exactly what went out). Returns the number sent; MailError on the first
    failure (the messages sent before it stay sent, and were reported)."""
    messages = list(messages)
    if not messages:
        return 0
    session = _connect(settings)
    sent = 0
    try:
        for message in messages:
            try:
                session.send_message(email_of(message, settings.sender), from_addr=settings.sender, to_addrs=[message.to])
            except smtplib.SMTPRecipientsRefused:
                raise MailError(f"the mail server {settings.server} refused the address {message.to}; "
                                f"{sent} of {len(messages)} messages were sent") from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MailError(f"the mail server {settings.server} did not take the message to {message.to} "
                                f"({_why(exc)}); {sent} of {len(messages)} messages were sent") from None
            sent += 1
            on_sent(message)
    finally:
        _close(session)
    return sent
