"""A source's credentials: `[sources.NAME]` in .streamlit/secrets.toml, or the environment
(PUMP_SOURCE_<NAME>_TOKEN, _CLIENT_ID, _CLIENT_SECRET, the name in capitals with `-` as `_`),
the environment winning (DESIGN.md 3). They are handed to the source module and go nowhere
else: not to the configuration, the store, a log or a message."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

SECRETS_PATH = Path(__file__).resolve().parent.parent.parent / ".streamlit" / "secrets.toml"
KEYS = ("token", "client_id", "client_secret")


def env_prefix(name: str) -> str:
    return "PUMP_SOURCE_" + name.upper().replace("-", "_") + "_"


def source_secrets(name: str, environ: Mapping[str, str] | None = None, path: Path | None = None) -> dict[str, str]:
    """The credentials of source `name` that are set (a key missing is simply absent)."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    path = path or Path(environ.get("PUMP_SECRETS") or SECRETS_PATH)
    if path.is_file():
        try:
            section = tomllib.loads(path.read_text(encoding="utf-8")).get("sources", {}).get(name, {})
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            section = {}  # an unreadable secrets file is said by the source: "no credentials for ..."
        found.update({k: str(v) for k, v in section.items() if k in KEYS and v})
    prefix = env_prefix(name)
    found.update({k: environ[prefix + k.upper()] for k in KEYS if environ.get(prefix + k.upper())})
    return found


def where_to_set(name: str, keys: tuple[str, ...]) -> str:
    """Where a person puts the credentials: both places, by name (never a value)."""
    env = " and ".join(env_prefix(name) + k.upper() for k in keys)
    return f"set {', '.join(keys)} in [sources.{name}] of .streamlit/secrets.toml, or {env}"
