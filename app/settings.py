"""Service configuration, read once from the environment (see the README's configuration table)."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

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


def from_env(env: dict[str, str] | None = None) -> Settings:
    """Build settings from ``DESKBRIDGE_*`` variables."""
    e = dict(os.environ) if env is None else env
    data_dir = Path(e.get("DESKBRIDGE_DATA_DIR", DEFAULT_DATA_DIR))
    default_db = f"sqlite+aiosqlite:///{data_dir / 'deskbridge.db'}"
    host = e.get("DESKBRIDGE_HOST", "127.0.0.1")
    port = int(e.get("DESKBRIDGE_PORT", "8000"))
    return Settings(
        database_url=e.get("DESKBRIDGE_DATABASE_URL", default_db),
        data_dir=data_dir,
        secret_key=e.get("DESKBRIDGE_SECRET_KEY") or None,
        api_key=e.get("DESKBRIDGE_API_KEY") or None,
        host=host,
        port=port,
        outbound_allow=_csv(e.get("DESKBRIDGE_OUTBOUND_ALLOW")),
        public_url=e.get("DESKBRIDGE_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
        log_level=e.get("DESKBRIDGE_LOG_LEVEL", "INFO"),
        inprocess_worker=_flag(e.get("DESKBRIDGE_INPROCESS_WORKER")),
        sync_interval=float(e.get("DESKBRIDGE_SYNC_INTERVAL", "300")),
        sync_lease_seconds=float(e.get("DESKBRIDGE_SYNC_LEASE_SECONDS", "60")),
    )


def _flag(value: str | None) -> bool | None:
    if value is None or value.strip() == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")
