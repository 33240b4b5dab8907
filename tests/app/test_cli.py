"""The ``deskbridge`` command, run as a user would: in subprocesses, against a temporary data directory."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from app.settings import from_env

DESKBRIDGE = str(Path(sys.executable).with_name("deskbridge"))
API = "/api/ticketing/v1"


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKBRIDGE_")}
    env.update({"DESKBRIDGE_DATA_DIR": str(data_dir), "NO_PROXY": "127.0.0.1,localhost", **extra})
    return env


def run(data_dir: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DESKBRIDGE, *args], env=env_for(data_dir, **extra), capture_output=True, text=True, timeout=60
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_migrate_creates_the_database_and_is_idempotent(tmp_path: Path) -> None:
    first = run(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("migrated sqlite+aiosqlite:///")
    assert (tmp_path / "deskbridge.db").stat().st_size > 0
    again = run(tmp_path, "migrate")
    assert again.returncode == 0, again.stderr


def test_migrate_hides_the_database_password(tmp_path: Path) -> None:
    r = run(tmp_path, "migrate", DESKBRIDGE_DATABASE_URL="postgresql+asyncpg://u:hunter2@127.0.0.1:1/db")
    assert r.returncode != 0  # nothing listens on port 1
    assert "hunter2" not in r.stdout


def test_usage_errors() -> None:
    r = subprocess.run([DESKBRIDGE], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([DESKBRIDGE, "api-key", "create"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--name" in r.stderr


async def test_api_key_create_prints_a_key_that_authenticates(tmp_path: Path) -> None:
    r = run(tmp_path, "api-key", "create", "--name", "ci")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("dbk_") and "\n" not in key
    assert "shown once" in r.stderr and key not in r.stderr
    other = run(tmp_path, "api-key", "create", "--name", "ci2", "--organization", "acme").stdout.strip()
    assert other != key

    app = create_app(from_env(env_for(tmp_path)))
    async with AsyncTestClient(app=app) as client:
        ok = await client.get(f"{API}/linked-accounts", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json()["results"] == []
        assert (
            await client.get(f"{API}/linked-accounts", headers={"Authorization": f"Bearer {other}"})
        ).status_code == 200
        bad = await client.get(f"{API}/linked-accounts", headers={"Authorization": f"Bearer {key}x"})
        assert bad.status_code == 401


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str, Path]]:
    port = free_port()
    key = "dbk_from-the-environment-0123456789"
    proc = subprocess.Popen(
        [DESKBRIDGE, "serve", "--port", str(port)],
        env=env_for(tmp_path, DESKBRIDGE_API_KEY=key),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                httpx.get(f"{base}/schema/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield proc, base, key, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def test_serve(served: tuple[subprocess.Popen[str], str, str, Path]) -> None:
    proc, base, key, data_dir = served
    with httpx.Client(base_url=base, timeout=5) as client:
        ok = client.get(f"{API}/linked-accounts", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"next": None, "previous": None, "results": []}
        bad = client.get(f"{API}/linked-accounts", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["detail"]

    secret = data_dir / "secret.key"
    assert secret.parent == (data_dir / "deskbridge.db").parent
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(secret.read_text().strip()) >= 32

    proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (exit by SIGTERM).
    assert proc.wait(15) in (0, -signal.SIGTERM)
    output = proc.stdout.read() if proc.stdout else ""
    assert "Shutting down" in output and "Finished server process" in output
    assert key not in output
    assert secret.read_text().strip() not in output


def test_serve_reuses_the_key_file_and_key(tmp_path: Path) -> None:
    """A restart keeps the generated secret (stored tokens stay decryptable) and the env API key."""
    port = free_port()
    key = "dbk_restart-0123456789"
    for attempt in range(2):
        proc = subprocess.Popen(
            [DESKBRIDGE, "serve", "--port", str(port)],
            env=env_for(tmp_path, DESKBRIDGE_API_KEY=key),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = httpx.get(
                        f"http://127.0.0.1:{port}{API}/linked-accounts",
                        headers={"Authorization": f"Bearer {key}"},
                        timeout=1,
                    )
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline
                    time.sleep(0.1)
            assert r.status_code == 200
            if attempt == 0:
                first_secret = (tmp_path / "secret.key").read_text()
            else:
                assert (tmp_path / "secret.key").read_text() == first_secret
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) in (0, -signal.SIGTERM)


def test_an_unusable_setting_is_reported_not_raised(tmp_path: Path) -> None:
    r = run(tmp_path, "migrate", DESKBRIDGE_OUTBOUND_ALLOW="loopback")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "deskbridge: DESKBRIDGE_OUTBOUND_ALLOW='loopback': 'loopback' is not an IP network; "
        "expected CIDR, e.g. 127.0.0.0/8"
    )
    assert not (tmp_path / "deskbridge.db").exists()  # nothing started with it
