"""Service configuration, read once from the environment (see the README's configuration table)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

T = TypeVar("T")

DEFAULT_DATA_DIR = "var"


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    #: SQLAlchemy async URL. Default: an embedded SQLite file under ``data_dir``.
    database_url: str
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    #: Comma-separated Fernet secrets; the first encrypts, all decrypt (rotation). None: generated file
    #: beside the embedded database; required for PostgreSQL.
    secret_key: str | None = None
    #: When set, ``serve`` makes sure this API key exists (scripts and containers start with a known key).
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: Networks (CIDR) that user-supplied URLs may point into besides the public Internet. Empty: none.
    outbound_allow: tuple[str, ...] = ()
    #: Public base URL of this service, used in URLs we hand out (webhook listener, Link page).
    public_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    #: Run a sync worker inside ``serve``: None = only on the embedded SQLite store (one process owns
    #: it); with PostgreSQL run ``deskbridge worker`` processes instead (or set it true).
    inprocess_worker: bool | None = None
    #: Seconds between the end of a model's sync and its next incremental sync.
    sync_interval: float = 300.0
    #: Seconds a worker holds a sync job without renewing it (renewed after every page); a crashed
    #: worker's job is taken over this long after its last page.
    sync_lease_seconds: float = 60.0

    @property
    def runs_inprocess_worker(self) -> bool:
        return self.is_embedded_sqlite if self.inprocess_worker is None else self.inprocess_worker

    @property
    def is_embedded_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


class SettingsError(ValueError):
    """A ``DESKBRIDGE_*`` variable holds a value we cannot use; the message names the variable."""


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
BACKENDS = ("sqlite", "postgresql")


def from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``DESKBRIDGE_*`` variables; raises ``SettingsError`` naming the first
    variable whose value is unusable, before anything starts with it."""
    e = dict(os.environ) if env is None else env

    def read(name: str, default: T, parse: Callable[[str], T], *, echo: bool = True) -> T:
        raw = e.get(f"DESKBRIDGE_{name}", "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as exc:
            shown = f"={raw!r}" if echo else ""  # a database URL may carry a password
            raise SettingsError(f"DESKBRIDGE_{name}{shown}: {exc}") from None

    data_dir = Path(read("DATA_DIR", DEFAULT_DATA_DIR, str))
    host = read("HOST", "127.0.0.1", str)
    port = read("PORT", 8000, _port)
    return Settings(
        database_url=read(
            "DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'deskbridge.db'}", _database_url, echo=False
        ),
        data_dir=data_dir,
        secret_key=read("SECRET_KEY", None, str),
        api_key=read("API_KEY", None, str),
        host=host,
        port=port,
        outbound_allow=read("OUTBOUND_ALLOW", (), _networks),
        public_url=read("PUBLIC_URL", f"http://{host}:{port}", str).rstrip("/"),
        log_level=read("LOG_LEVEL", "INFO", _log_level),
        inprocess_worker=read("INPROCESS_WORKER", None, _flag),
        sync_interval=read("SYNC_INTERVAL", 300.0, _seconds),
        sync_lease_seconds=read("SYNC_LEASE_SECONDS", 60.0, _seconds),
    )


# Parsers: each returns the value or raises ValueError saying what was expected.


def _port(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ValueError("expected a port number, 1 to 65535")
    return int(raw)


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):  # NaN fails this too
        raise ValueError("expected a number of seconds greater than 0")
    return value


def _networks(raw: str) -> tuple[str, ...]:
    networks = _csv(raw)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ValueError(f"{network!r} is not an IP network; expected CIDR, e.g. 127.0.0.0/8") from None
    return networks


def _log_level(raw: str) -> str:
    if raw.upper() not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return raw.upper()


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _database_url(raw: str) -> str:
    try:
        backend = make_url(raw).get_backend_name()
    except (ArgumentError, ValueError):  # ValueError: a bad port; its message would quote the URL
        raise ValueError("not a database URL; e.g. postgresql+asyncpg://user:pw@host/db") from None
    if backend not in BACKENDS:
        raise ValueError(f"unsupported database {backend!r}; expected {' or '.join(BACKENDS)}")
    return raw
