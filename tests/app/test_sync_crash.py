"""Crash: real ``deskbridge`` worker processes killed with SIGKILL mid-sync, restarted, and the sync
completes from its checkpoint with a store equal to the vendor's data.

The Zendesk emulator runs in this process on loopback, every reply delayed (its ``slow`` fault) so a
sync lasts long enough to be killed at chosen points; a counting ASGI wrapper records every request,
which is how the test knows what a restarted process asked for. Three scenarios:

* ``deskbridge sync --model Ticket`` over 2,500 tickets (three export pages of 1,000): killed right
  after the first page's checkpoint is stored; the next process continues from the stored cursor —
  the export's first page is requested once in all — and ends with every ticket once.
* ``deskbridge worker`` on SQLite and on PostgreSQL over the same 2,500 tickets (only the Ticket job
  due): killed after the first and after the second page's checkpoint; each next worker takes the job
  over when the dead one's lease runs out and asks for the page after the stored cursor.
* ``deskbridge worker`` over a smaller desk: killed twice while it reads comments ticket by ticket;
  the restarted workers read only tickets not yet done (each ticket's comments requested at most twice:
  once more for the one in flight at the kill), and the store ends with exactly the vendor's comments.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.asgi import build_services
from app.db.engine import create_engine, migrate
from app.db.tables import comments, sync_parents, sync_state, tickets
from app.settings import Settings
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests.support.linking import link_desk

LEASE_SECONDS = 2
CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
EXPORT = "/api/v2/incremental/tickets/cursor.json"
DEADLINE = 120.0
SECRET = "crash-test-secret"  # the credentials' key, the same in every process (PostgreSQL needs one)


class Counting:
    """ASGI wrapper recording (path, query) of every request the emulator is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/_emulator"):
            self.requests.append((scope["path"], scope["query_string"].decode()))
        await self.app(scope, receive, send)


class Desk:
    def __init__(self, tickets_: int, slow_seconds: float) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = ZendeskConfig(
            tickets=tickets_, seed=3, base_url=self.url, rate_limit=RateLimit(enabled=False)
        )
        self.app = create_zendesk(config)
        self.counting = Counting(self.app)
        self.server = ServerThread(self.counting, port=port)
        self.slow_seconds = slow_seconds

    def __enter__(self) -> Desk:
        self.server.__enter__()
        r = httpx.put(
            f"{self.url}/_emulator/faults", json={"rate_slow": 1.0, "slow_seconds": self.slow_seconds}
        )
        assert r.status_code == 200, r.text
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def live_ids(self) -> set[str]:
        return {str(i) for i in httpx.get(f"{self.url}/_emulator/tables/tickets").json()["ids"]}

    def comment_count(self, remote_id: str) -> int:
        view = httpx.get(f"{self.url}/_emulator/tables/tickets/{remote_id}").json()
        return len(view["comments"])


def _settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        secret_key=SECRET,
        outbound_allow=("127.0.0.0/8",),
        sync_lease_seconds=LEASE_SECONDS,
        sync_interval=3600,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return _settings(f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}", tmp_path)


def _env(settings: Settings) -> dict[str, str]:
    return dict(
        os.environ,
        DESKBRIDGE_DATABASE_URL=settings.database_url,
        DESKBRIDGE_DATA_DIR=str(settings.data_dir),
        DESKBRIDGE_SECRET_KEY=SECRET,  # the same key decrypts the stored credentials
        DESKBRIDGE_OUTBOUND_ALLOW="127.0.0.0/8",
        DESKBRIDGE_SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        DESKBRIDGE_SYNC_INTERVAL="3600",
        DESKBRIDGE_LOG_LEVEL="WARNING",
    )


async def _link(settings: Settings, url: str) -> str:
    services = build_services(settings)
    try:
        await migrate(services.engine)
        return await link_desk(services, "zendesk", url, CREDENTIALS, "crash")
    finally:
        await services.http.aclose()
        await services.engine.dispose()


def _query(settings: Settings, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(statement)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _start(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    cmd = [str(Path(sys.executable).parent / "deskbridge"), *args]
    return subprocess.Popen(cmd, env=_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the worker ended before {what}: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    time.sleep(LEASE_SECONDS + 0.5)  # the dead worker's lease runs out


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _state(settings: Settings, account_id: str, model: str) -> Any:
    (row,) = _query(
        settings,
        select(sync_state).where(sync_state.c.linked_account_id == account_id, sync_state.c.model == model),
    )
    return row


def _store_ids(settings: Settings, account_id: str) -> Counter[str]:
    rows = _query(settings, select(tickets.c.remote_id).where(tickets.c.linked_account_id == account_id))
    return Counter(r.remote_id for r in rows)


def test_sync_killed_after_a_checkpoint_resumes_from_it(
    settings: Settings, procs: list[subprocess.Popen[bytes]]
) -> None:
    with Desk(tickets_=2500, slow_seconds=0.6) as desk:
        account_id = asyncio.run(_link(settings, desk.url))
        sync = ["sync", "--linked-account", account_id, "--model", "Ticket"]
        procs.append(_start(settings, *sync))
        _kill_when(
            procs[-1],
            lambda: (
                (s := _state(settings, account_id, "Ticket")).checkpoint is not None and s.run_records >= 1000
            ),
            "the first page's checkpoint",
        )
        stored_at_kill = sum(_store_ids(settings, account_id).values())
        assert 1000 <= stored_at_kill < 2500
        procs.append(_start(settings, *sync))
        assert procs[-1].wait(timeout=DEADLINE) == 0, procs[-1].stderr.read().decode()[-2000:]  # type: ignore[union-attr]

        assert _state(settings, account_id, "Ticket").status == "DONE"
        ids = _store_ids(settings, account_id)
        assert set(ids) == desk.live_ids() and max(ids.values()) == 1
        exports = [q for path, q in desk.counting.requests if path == EXPORT]
        first_pages = [q for q in exports if "cursor=" not in q]
        assert len(first_pages) == 1, exports  # the restarted process did not start over
        assert len(exports) <= 4, exports  # three pages, and at most the one in flight asked again


def test_worker_killed_twice_while_reading_comments_finishes_the_rest(
    settings: Settings, procs: list[subprocess.Popen[bytes]]
) -> None:
    with Desk(tickets_=120, slow_seconds=0.03) as desk:
        account_id = asyncio.run(_link(settings, desk.url))

        def queued() -> int:
            (row,) = _query(
                settings,
                select(func.count())
                .select_from(sync_parents)
                .where(sync_parents.c.linked_account_id == account_id),
            )
            return int(row[0])

        def comments_read() -> int:
            return sum(1 for path, _ in desk.counting.requests if path.endswith("/comments.json"))

        procs.append(_start(settings, "worker", "--concurrency", "2"))
        _kill_when(procs[-1], lambda: comments_read() >= 30 and queued() > 0, "30 tickets' comments")
        left_after_first = queued()
        procs.append(_start(settings, "worker", "--concurrency", "2"))
        _kill_when(procs[-1], lambda: 0 < queued() < left_after_first - 20, "20 more tickets' comments")
        procs.append(_start(settings, "worker", "--concurrency", "2"))
        deadline = time.monotonic() + DEADLINE
        while _query(
            settings,
            select(sync_state.c.model).where(
                sync_state.c.linked_account_id == account_id, sync_state.c.status.not_in(("DONE", "DISABLED"))
            ),
        ):
            assert procs[-1].poll() is None, procs[-1].stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the restarted worker did not finish"
            time.sleep(0.1)

        ids = _store_ids(settings, account_id)
        assert set(ids) == desk.live_ids() and max(ids.values()) == 1
        per_ticket = Counter(
            path.split("/")[-2] for path, _ in desk.counting.requests if path.endswith("/comments.json")
        )
        assert set(per_ticket) == desk.live_ids()  # every ticket's comments were read
        assert max(per_ticket.values()) <= 2, per_ticket.most_common(3)  # none started over
        assert sum(per_ticket.values()) <= len(per_ticket) + 2 * 2  # at most the in-flight ones, again
        rows = _query(
            settings,
            select(tickets.c.remote_id, func.count(comments.c.id))
            .join(comments, comments.c.ticket_id == tickets.c.id)
            .where(tickets.c.linked_account_id == account_id)
            .group_by(tickets.c.remote_id),
        )
        stored = {r[0]: r[1] for r in rows}
        assert stored == {i: desk.comment_count(i) for i in desk.live_ids() if desk.comment_count(i)}


def test_worker_killed_twice_mid_export_is_taken_over_from_its_checkpoints(
    database_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    """``deskbridge worker`` processes on each backend, killed after the export's first and second page
    were stored; each next worker takes the job over once the dead one's lease ran out and asks for the
    page after the stored checkpoint, never the first page again."""
    settings = _settings(database_url, tmp_path)
    with Desk(tickets_=2500, slow_seconds=0.4) as desk:
        account_id = asyncio.run(_link(settings, desk.url))
        # Only the Ticket job is due: the other models (2,500 tickets' comments) are not this test's.
        _query(
            settings,
            update(sync_state)
            .where(sync_state.c.linked_account_id == account_id, sync_state.c.model != "Ticket")
            .values(next_sync_start=None),
        )
        resumed_at: list[int] = []  # index in the emulator's request log where each new worker starts
        for pages in (1, 2):
            procs.append(_start(settings, "worker"))
            _kill_when(
                procs[-1],
                lambda: (
                    _state(settings, account_id, "Ticket").checkpoint is not None
                    and sum(_store_ids(settings, account_id).values()) >= 1000 * pages
                ),
                f"the checkpoint of export page {pages}",
            )
            # Killed between pages (each reply takes 0.4 s: the poll does not miss the window).
            assert sum(_store_ids(settings, account_id).values()) == 1000 * pages
            resumed_at.append(len(desk.counting.requests))
        procs.append(_start(settings, "worker"))
        deadline = time.monotonic() + DEADLINE
        while _state(settings, account_id, "Ticket").status != "DONE":
            assert procs[-1].poll() is None, procs[-1].stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the last worker did not finish"
            time.sleep(0.1)

        ids = _store_ids(settings, account_id)
        assert set(ids) == desk.live_ids() and max(ids.values()) == 1
        exports = [q for path, q in desk.counting.requests if path == EXPORT]
        assert sum("cursor=" not in q for q in exports) == 1, exports  # page one asked by the first only
        for start in resumed_at:
            after = [q for path, q in desk.counting.requests[start:] if path == EXPORT]
            assert after and "cursor=" in after[0], after  # a taken-over job goes on from its cursor
        assert len(exports) <= 3 + 2, exports  # three pages, and at most the one in flight at each kill
