"""Settings from ``DESKBRIDGE_*`` variables: defaults, and a clear error naming the variable for a value
we cannot use (never a traceback from deep inside the start-up)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import SettingsError, from_env


def test_defaults() -> None:
    settings = from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///var/deskbridge.db"
    assert (settings.port, settings.log_level, settings.outbound_allow) == (8000, "INFO", ())
    assert (settings.sync_interval, settings.sync_lease_seconds, settings.inprocess_worker) == (300, 60, None)
    assert settings.public_url == "http://127.0.0.1:8000"


def test_values_are_read() -> None:
    settings = from_env(
        {
            "DESKBRIDGE_DATA_DIR": "/srv/desk",
            "DESKBRIDGE_PORT": "9000",
            "DESKBRIDGE_OUTBOUND_ALLOW": "127.0.0.0/8, ::1/128",
            "DESKBRIDGE_LOG_LEVEL": "debug",
            "DESKBRIDGE_INPROCESS_WORKER": "off",
            "DESKBRIDGE_SYNC_INTERVAL": "30.5",
            "DESKBRIDGE_DATABASE_URL": "postgresql+asyncpg://u:pw@db/desk",
            "DESKBRIDGE_SECRET_KEY": "",  # empty is unset
        }
    )
    assert settings.data_dir == Path("/srv/desk") and settings.port == 9000
    assert settings.outbound_allow == ("127.0.0.0/8", "::1/128")
    assert settings.log_level == "DEBUG" and settings.inprocess_worker is False
    assert settings.sync_interval == 30.5 and settings.secret_key is None
    assert settings.public_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("OUTBOUND_ALLOW", "127.0.0.0/8,loopback", "'loopback' is not an IP network"),
        ("PORT", "http", "expected a port number"),
        ("PORT", "70000", "expected a port number"),
        ("SYNC_INTERVAL", "five", "greater than 0"),
        ("SYNC_INTERVAL", "nan", "greater than 0"),
        ("SYNC_LEASE_SECONDS", "0", "greater than 0"),
        ("LOG_LEVEL", "loud", "expected one of DEBUG"),
        ("INPROCESS_WORKER", "maybe", "expected true or false"),
        ("DATABASE_URL", "not a url", "not a database URL"),
        ("DATABASE_URL", "postgresql+asyncpg://u:pw@db:port/desk", "not a database URL"),
        ("DATABASE_URL", "mysql+aiomysql://u:pw@db/desk", "unsupported database 'mysql'"),
    ],
)
def test_an_unusable_value_is_named(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        from_env({f"DESKBRIDGE_{name}": value})
    assert str(caught.value).startswith(f"DESKBRIDGE_{name}")
    assert expected in str(caught.value)


def test_a_database_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        from_env({"DESKBRIDGE_DATABASE_URL": "mysql://admin:hunter2@db/desk"})
    assert "hunter2" not in str(caught.value) and "admin" not in str(caught.value)
