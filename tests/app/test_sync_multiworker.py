"""Three ``deskbridge worker`` processes share one PostgreSQL store: every job of many linked accounts
is done, none is run by two workers at once, and a killed worker's job is taken over after its lease.

Evidence comes from the workers themselves: each logs ``job <account>/<model> ... leased by <worker>
at <t>`` and ``... <status> by <worker> at <t>`` around every run it makes, and the test orders these
lines from all three processes. Leasing uses ``FOR UPDATE SKIP LOCKED`` (app/sync/jobs.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.asgi import build_services
from app.db.engine import create_engine
from app.db.tables import comments, sync_state, tickets
from app.settings import Settings
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests.support import postgres as pg
from tests.support.linking import link_desk

pytestmark = pytest.mark.postgres

ACCOUNTS = 12
TICKETS = 30
LEASE_SECONDS = 2
SECRET = "multiworker-secret"
CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
LINE = re.compile(r"job (\S+)/(\S+) run \d+ (\S+) by (\S+) at ([\d.]+)")
SETTLED = ("DONE", "DISABLED")
DEADLINE = 180.0


@pytest.fixture
def postgres_url(postgres_server: pg.ThrowawayPostgres, postgres_template: str) -> str:
    return postgres_server.create_database(f"mw_{uuid.uuid4().hex[:12]}", template=postgres_template)


@pytest.fixture
def desk() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = ZendeskConfig(tickets=TICKETS, seed=8, base_url=url, rate_limit=RateLimit(enabled=False))
    with ServerThread(create_zendesk(config), port=port):
        # Every reply a little late, so runs last long enough to overlap and to be killed mid-run.
        r = httpx.put(f"{url}/_emulator/faults", json={"rate_slow": 1.0, "slow_seconds": 0.03})
        assert r.status_code == 200, r.text
        yield url


def _query(url: str, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _link_all(settings: Settings, url: str) -> list[str]:
    services = build_services(settings)
    try:
        return [await link_desk(services, "zendesk", url, CREDENTIALS, f"desk-{n}") for n in range(ACCOUNTS)]
    finally:
        await services.http.aclose()
        await services.engine.dispose()


def _worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        DESKBRIDGE_DATABASE_URL=settings.database_url,
        DESKBRIDGE_SECRET_KEY=SECRET,
        DESKBRIDGE_DATA_DIR=str(settings.data_dir),
        DESKBRIDGE_OUTBOUND_ALLOW="127.0.0.0/8",
        DESKBRIDGE_SYNC_LEASE_SECONDS=str(LEASE_SECONDS),
        DESKBRIDGE_SYNC_INTERVAL="3600",
        DESKBRIDGE_LOG_LEVEL="INFO",
    )
    cmd = [str(Path(sys.executable).parent / "deskbridge"), "worker", "--concurrency", "3"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def _runs(logs: list[Path]) -> list[tuple[str, str, str, str, float]]:
    """(account, model, event, worker, time) from every worker's log, in time order."""
    found = []
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if m := LINE.search(line):
                account, model, event, worker, at = m.groups()
                found.append((account, model, event, worker, float(at)))
    return sorted(found, key=lambda r: r[4])


def test_three_workers_share_the_jobs_of_many_accounts(postgres_url: str, desk: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=postgres_url, data_dir=tmp_path, secret_key=SECRET, outbound_allow=("127.0.0.0/8",)
    )
    accounts = asyncio.run(_link_all(settings, desk))
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    workers = [_worker(settings, log) for log in logs]
    killed_at = 0.0
    orphans: set[tuple[str, str]] = set()
    try:
        # Kill the first worker while it holds a lease on a running job: its job must be taken over.
        deadline = time.monotonic() + DEADLINE
        victim = f":{workers[0].pid}:"
        while not killed_at:
            # Frozen first, so the job it holds cannot finish between the check and the kill.
            workers[0].send_signal(signal.SIGSTOP)
            held = _query(
                postgres_url,
                select(sync_state.c.linked_account_id, sync_state.c.model).where(
                    sync_state.c.lease_owner.contains(victim), sync_state.c.status == "SYNCING"
                ),
            )
            if held:
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait(timeout=10)
                killed_at = time.time()
                orphans = {(a, m) for a, m in held}
            else:
                workers[0].send_signal(signal.SIGCONT)
            assert time.monotonic() < deadline, "the first worker never held a lease"
            time.sleep(0.02)

        while _query(postgres_url, select(sync_state.c.model).where(sync_state.c.status.not_in(SETTLED))):
            assert all(w.poll() is None for w in workers[1:]), [log.read_text()[-2000:] for log in logs]
            assert time.monotonic() < deadline, "jobs still unfinished"
            time.sleep(0.2)
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=15)
            except subprocess.TimeoutExpired:
                w.kill()

    runs = _runs(logs)
    names = {worker for *_, worker, _ in runs}
    assert len(names) == 3, names  # all three workers ran jobs

    # No job was ever run by two workers at once: per job, runs do not overlap in time, except the
    # killed worker's unfinished run, which another worker may only take over after the lease ran out.
    by_job: dict[tuple[str, str], list[tuple[str, str, float]]] = defaultdict(list)
    for account, model, event, worker, at in runs:
        by_job[(account, model)].append((event, worker, at))
    taken_over = 0
    for job, events in by_job.items():
        open_run: tuple[str, float] | None = None
        for event, worker, at in events:
            if event == "leased":
                if open_run is not None:
                    dead_worker, _since = open_run
                    assert victim in dead_worker and job in orphans, (job, events)
                    assert at >= killed_at + LEASE_SECONDS - 0.5, (
                        job,
                        events,
                    )  # only after the lease expired
                    taken_over += 1
                open_run = (worker, at)
            else:
                assert open_run is not None and open_run[0] == worker, (job, events)
                open_run = None
        assert open_run is None or victim in open_run[0], (job, events)
    assert taken_over >= 1  # the killed worker's job was taken over
    print(
        f"{len(runs)} run events from {len(names)} workers;"
        f" {len(orphans)} orphaned job(s), {taken_over} taken over"
    )
    done = Counter(job for job, events in by_job.items() for event, _w, _t in events if event == "DONE")
    jobs_total = _query(
        postgres_url, select(func.count()).select_from(sync_state).where(sync_state.c.status == "DONE")
    )
    assert len(done) == jobs_total[0][0] and set(done.values()) == {1}  # each job finished once

    # And the store holds every account's copy of the vendor's data, once.
    per_account = dict(
        _query(
            postgres_url,
            select(tickets.c.linked_account_id, func.count()).group_by(tickets.c.linked_account_id),
        )
    )
    assert per_account == {a: TICKETS for a in accounts}
    vendor_comments = sum(
        len(httpx.get(f"{desk}/_emulator/tables/tickets/{i}").json()["comments"])
        for i in httpx.get(f"{desk}/_emulator/tables/tickets").json()["ids"]
    )
    stored_comments = dict(
        _query(
            postgres_url,
            select(comments.c.linked_account_id, func.count()).group_by(comments.c.linked_account_id),
        )
    )
    assert stored_comments == {a: vendor_comments for a in accounts}
