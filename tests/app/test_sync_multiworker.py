"""Three ``deskbridge worker`` processes share one PostgreSQL store: every job of many linked accounts
is done, none is run by two workers at once (nor are two jobs of one account, which share its rate
limiter), and a frozen worker's job is taken over once its lease has expired — and when the frozen
worker wakes up, it notices and writes nothing.

Evidence comes from the workers and the database, not from timing hopes: each worker logs ``job
<account>/<model> run <n> leased by <worker>#<lease> at <t>`` and ``... <status> by <worker>#<lease> at
<t>`` around every run it makes (app/sync/worker.py; wall clock, so the three logs can be merged; the
lease tells two runs of one job by one worker apart), ``... released by <worker>#<lease> at <t>`` when
the run gives its lease back (app/sync/jobs.py: a run's end, as far as who holds the job goes; it may
still write its webhook afterwards, and the job be leased again; its time is taken before the commit,
a lease's after, so logged holds never overlap unless the real ones did), the runner logs
``lease lost on <account>/<model>`` when a renewal finds the job taken, and the test reads the leases
(``lease_owner``, ``lease_expires_at``) from ``sync_state`` while the victim is frozen. Leasing uses
``FOR UPDATE SKIP LOCKED`` (app/sync/jobs.py).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from app.db.engine import create_engine
from app.db.tables import RECORD_TABLES, sync_parents, sync_state
from app.services import build_services
from app.settings import Settings
from app.sync.runner import ALL_PARENTS_QUEUED
from app.timeutil import now_micros
from connectors.zendesk.connector import ZendeskConnector
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests.support import postgres as pg
from tests.support.linking import link_desk

pytestmark = pytest.mark.postgres

ACCOUNTS = 16
TICKETS = 30
LEASE_SECONDS = 3
CONCURRENCY = 3
SECRET = "multiworker-secret"
CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
RUN_LINE = re.compile(r"job (\S+)/(\S+) run \d+ (\S+) by (\S+#\S+) at ([\d.]+)")
LOST_LINE = re.compile(r"lease lost on (\S+)/(\S+);")
#: A run that had nothing left to store finds its lease gone only when it gives the job back.
RELEASE_LOST_LINE = re.compile(r"lease on (\S+)/(\S+) was lost before the run ended")
FAILED_LINE = re.compile(r"sync of (\S+)/(\S+) failed")
DEADLINE = 90.0
#: A job's end: DONE, or CARRIED for a model read with another's stream (Zendesk's Users come with
#: Contacts, Attachments with comments): its lease only hands it to its carrier, whose runs set its status.
SETTLED = ("DONE", "CARRIED")
CARRIED = {model for stream in ZendeskConnector.streams.values() for model in stream.carries}

Job = tuple[str, str]  # (linked account id, model)


@pytest.fixture
def postgres_url(postgres_server: pg.ThrowawayPostgres, postgres_template: str) -> str:
    return postgres_server.create_database(f"mw_{uuid.uuid4().hex[:12]}", template=postgres_template)


@pytest.fixture
def desk() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = ZendeskConfig(tickets=TICKETS, seed=8, base_url=url, rate_limit=RateLimit(enabled=False))
    with ServerThread(create_zendesk(config), port=port):
        # Every reply a little late, so runs last long enough to overlap and to be frozen mid-run.
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
        DESKBRIDGE_SYNC_INTERVAL="3600",  # one round only: a DONE job is not due again during the test
        DESKBRIDGE_LOG_LEVEL="INFO",
    )
    cmd = [str(Path(sys.executable).parent / "deskbridge"), "worker", "--concurrency", str(CONCURRENCY)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))


@dataclass
class Run:
    """One run of a job by one worker, from its log lines (``end`` None while it holds the lease)."""

    job: Job
    worker: str
    lease: str  # ``<worker>#<token>``: one run's
    start: float
    end: float | None = None
    status: str | None = None
    released: bool = False  # gave its lease back (a run whose lease expired cannot)


def _runs(logs: list[Path]) -> list[Run]:
    """Every run the workers logged, in order of start.

    A run ends when it gives its lease back (``released``, logged by app/sync/jobs.py): it may still
    write afterwards (the comment queue's wake-up, the account's webhook) while the job is leased again,
    by this worker too. A run whose lease expired ends at its worker's end line. A worker may lease a job
    again while a run of its own on it is still alive only if that run's lease had expired: such a run
    must never give a lease back."""
    events = []
    for path in logs:
        for line in path.read_text(errors="replace").splitlines():
            if m := RUN_LINE.search(line):
                account, model, event, lease, at = m.groups()
                events.append(((account, model), event, lease, float(at)))
    runs: list[Run] = []
    by_lease: dict[str, Run] = {}
    holding: dict[tuple[Job, str], Run] = {}  # per (job, worker): its run holding the lease, if any
    stale: list[Run] = []  # runs still alive when their worker leased their job again
    for job, event, lease, at in sorted(events, key=lambda e: e[3]):
        worker = lease.split("#")[0]
        if event == "leased":
            if (earlier := holding.get((job, worker))) is not None:
                stale.append(earlier)
            holding[(job, worker)] = by_lease[lease] = run = Run(job, worker, lease, at)
            runs.append(run)
            continue
        run = by_lease[lease]
        if holding.get((job, worker)) is run:
            del holding[(job, worker)]
        if event == "released":
            run.end, run.released = at, True
        else:  # the worker's end line
            run.end, run.status = run.end or at, event
    for run in stale:
        assert not run.released, f"{run.worker} leased {run.job} while its run {run.lease} held the lease"
    return runs


def _jobs_logged(line: re.Pattern[str], log: Path) -> set[Job]:
    return {(a, m) for a, m in line.findall(log.read_text(errors="replace"))}


def _wait(
    condition: Callable[[], object],
    what: str | Callable[[], str],
    deadline: float,
    *alive: subprocess.Popen[bytes],
) -> None:
    while not condition():
        assert all(w.poll() is None for w in alive), (
            f"a worker died while waiting: {what if isinstance(what, str) else what()}"
        )
        assert time.monotonic() < deadline, f"timed out: {what if isinstance(what, str) else what()}"
        time.sleep(0.1)


def _open_writes(url: str) -> set[tuple[int, Any]]:
    """Transactions that have written (and may hold row locks), as (backend pid, start)."""
    rows = _query(
        url,
        text(
            "SELECT pid, xact_start FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_xid IS NOT NULL"
        ),
    )
    return {(pid, start) for pid, start in rows}


def _freeze_mid_job(
    victim: subprocess.Popen[bytes], log: Path, url: str, deadline: float
) -> tuple[float, dict[Job, int], set[Job]]:
    """SIGSTOP ``victim`` at a moment it is running jobs under live leases and has no write transaction
    open (its row locks would stall the other workers until it woke, not just its jobs). Returns when
    it froze, the jobs it holds with their lease expiry (µs) as the database has them, and which of
    them still have a page to store (so the frozen run must renew its lease before it can write)."""
    tag = f":{victim.pid}:"
    while True:
        assert time.monotonic() < deadline, "the victim never held a lease between writes"
        assert victim.poll() is None, log.read_text()[-3000:]
        runs = _runs([log])
        if any(run.status in SETTLED for run in runs):  # it did work before it froze
            victim.send_signal(signal.SIGSTOP)
            frozen_at = time.time()
            running = {run.job for run in runs if run.end is None}
            held = _query(
                url,
                select(
                    sync_state.c.linked_account_id, sync_state.c.model, sync_state.c.lease_expires_at
                ).where(sync_state.c.lease_owner.contains(tag), sync_state.c.lease_expires_at > now_micros()),
            )
            # Every lease it holds, also one taken just before it froze whose run has not begun.
            leases = {(str(a), m): expires for a, m, expires in held}
            # At least one of them with a page still to store, so that waking up will test its lease.
            ahead = _writes_ahead(url, set(leases)) if running & set(leases) else set()
            if ahead:
                # A frozen process's open write transaction is still open a moment later; others' end.
                before = _open_writes(url)
                time.sleep(0.3)
                if not before & _open_writes(url):
                    return frozen_at, leases, ahead
            victim.send_signal(signal.SIGCONT)
        time.sleep(0.05)


def _writes_ahead(url: str, jobs: set[Job]) -> set[Job]:
    """Of ``jobs``, those whose run still has a page to store: a top-level stream's checkpoint is the
    next page's request (None once the last page is stored); comments have tickets queued."""
    rows = _query(url, select(sync_state.c.linked_account_id, sync_state.c.model, sync_state.c.checkpoint))
    queued = _query(url, select(sync_parents.c.linked_account_id, sync_parents.c.model).distinct())
    ahead = {(str(a), m) for a, m, checkpoint in rows if checkpoint and checkpoint != ALL_PARENTS_QUEUED}
    return jobs & (ahead | {(str(a), m) for a, m in queued})


def _vendor_ids(desk: str) -> dict[str, list[str]]:
    """Remote ids per common model, as the vendor has them (every account links this one desk)."""

    def rows(table: str) -> list[dict[str, Any]]:
        ids = httpx.get(f"{desk}/_emulator/tables/{table}").json()["ids"]
        return [httpx.get(f"{desk}/_emulator/tables/{table}/{i}").json() for i in ids]

    tickets, users = rows("tickets"), rows("users")
    comments = [c for t in tickets for c in t["comments"]]
    ids = {
        "Ticket": [t["id"] for t in tickets],
        "Comment": [c["id"] for c in comments],
        "Attachment": [a["id"] for c in comments for a in c.get("attachments") or ()],
        "User": [u["id"] for u in users if u["role"] in ("agent", "admin")],
        "Contact": [u["id"] for u in users if u["role"] not in ("agent", "admin")],
        "Account": [o["id"] for o in rows("organizations")],
        "Team": [g["id"] for g in rows("groups")],
    }
    return {model: sorted(str(i) for i in values) for model, values in ids.items()}


def _stored_ids(url: str, model: str) -> dict[str, list[str]]:
    """Live remote ids per account in the store (duplicates kept: a list, not a set)."""
    table = RECORD_TABLES[model]
    rows = _query(
        url,
        select(table.c.linked_account_id, table.c.remote_id).where(table.c.remote_was_deleted.is_(False)),
    )
    found: dict[str, list[str]] = defaultdict(list)
    for account, remote_id in rows:
        found[str(account)].append(remote_id)
    return {account: sorted(ids) for account, ids in found.items()}


def test_three_workers_share_the_jobs_of_many_accounts(postgres_url: str, desk: str, tmp_path: Path) -> None:
    began = time.monotonic()
    deadline = began + DEADLINE
    settings = Settings(
        database_url=postgres_url, data_dir=tmp_path, secret_key=SECRET, outbound_allow=("127.0.0.0/8",)
    )
    accounts = [str(a) for a in asyncio.run(_link_all(settings, desk))]
    all_jobs = {
        (str(a), m)
        for a, m in _query(postgres_url, select(sync_state.c.linked_account_id, sync_state.c.model))
    }
    assert len(all_jobs) >= 5 * ACCOUNTS  # dozens of jobs for three workers
    logs = [tmp_path / f"worker-{n}.log" for n in range(3)]
    workers = [_worker(settings, log) for log in logs]
    victim, victim_log, others = workers[0], logs[0], workers[1:]
    try:
        # 1. Freeze the victim while it runs jobs under live leases.
        frozen_at, leases, must_renew = _freeze_mid_job(victim, victim_log, postgres_url, deadline)
        # A carried model's job reads nothing and writes only its carrier's status, copied in one
        # statement; once the carrier has run it is not due, so nobody takes it over, and the frozen
        # run's copy, when it wakes, is as fresh as any.
        orphans = {job for job in leases if job[1] not in CARRIED}

        # 2. Another worker takes every orphaned job over (only once its lease has expired: checked
        # below from the logs); then wake the victim while the takers are still at work, if they are.
        def taken_over() -> bool:
            return orphans <= {r.job for r in _runs(logs[1:]) if r.start > frozen_at}

        _wait(taken_over, "the frozen worker's jobs taken over", deadline, *others)
        victim.send_signal(signal.SIGCONT)
        woken_at = time.time()

        # 3. Every job done and every run (the victim's stale ones too) ended.
        def finished() -> bool:
            nonlocal unfinished
            unsettled = _query(
                postgres_url,
                select(
                    sync_state.c.model,
                    sync_state.c.status,
                    sync_state.c.sync_status_reason,
                    sync_state.c.lease_owner,
                    sync_state.c.next_sync_start,
                ).where(sync_state.c.status.not_in(SETTLED)),
            )
            # A run is over when its worker logs its end (a released run may still be writing).
            unfinished = [tuple(row) for row in unsettled] + [r for r in _runs(logs) if r.status is None]
            return not unfinished

        unfinished: list[object] = []
        _wait(finished, lambda: f"every job settled and every run ended: {unfinished}", deadline, *workers)
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGCONT)
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=15)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait(timeout=5)

    runs = _runs(logs)
    victim_name = next(r.worker for r in _runs([victim_log]))
    # The victim's runs under the frozen leases: each ended after it woke. (A run whose lease was
    # taken just before the freeze logs "leased" only on waking.)
    stale: dict[Job, Run] = {}
    for r in runs:
        if r.worker == victim_name and r.job in orphans and (r.end or 0) > woken_at:
            stale.setdefault(r.job, r)
    assert set(stale) == orphans, (stale, orphans)
    print(
        f"{len(all_jobs)} jobs, {len(runs)} runs by {len({r.worker for r in runs})} workers in"
        f" {time.monotonic() - began:.1f}s; frozen holding {len(orphans)} job(s)"
        f" {sorted(m for _a, m in orphans)}; woke after {woken_at - frozen_at:.1f}s"
    )

    # All three workers did work: each finished runs of its own.
    done_by = Counter(r.worker for r in runs if r.status in SETTLED and r not in stale.values())
    assert len(done_by) == 3, done_by

    # No job ran in two workers at once. The only overlaps allowed are an orphan's stale run (frozen)
    # with its taker's, and the taker leased it only after the frozen lease had expired.
    by_job: dict[Job, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job].append(run)
    for job, job_runs in by_job.items():
        for i, a in enumerate(job_runs):
            for b in job_runs[i + 1 :]:
                assert a.end is not None and b.end is not None
                if b.start < a.end and a.start < b.end:
                    frozen, taker = (a, b) if a is stale.get(job) else (b, a)
                    assert frozen is stale.get(job), (job, a, b)
                    assert taker.start * 1e6 >= leases[job], (job, taker, leases[job])  # after expiry

    # Nor did two workers run jobs of one account at once: the account's rate limiter lives in a
    # worker's process, and two would each spend its quota. The frozen worker's runs (of the jobs it held
    # when it froze, carried ones too) overlap others' only from the moment their leases had expired.
    frozen_runs = [r for r in runs if r.worker == victim_name and r.job in leases and (r.end or 0) > woken_at]
    by_account: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_account[run.job[0]].append(run)
    for account, account_runs in by_account.items():
        for i, a in enumerate(account_runs):
            for b in account_runs[i + 1 :]:
                assert a.end is not None and b.end is not None
                if a.worker == b.worker or not (b.start < a.end and a.start < b.end):
                    continue
                frozen, other = (a, b) if a in frozen_runs else (b, a)
                assert frozen in frozen_runs, (account, a, b)
                assert other.start * 1e6 >= leases[frozen.job], (account, other, leases[frozen.job])

    # And the store holds exactly the vendor's records for every account: same remote ids, each once,
    # none flagged deleted (a stale worker's late write would have left duplicates or deletions).
    for model, ids in _vendor_ids(desk).items():
        assert ids, model
        assert _stored_ids(postgres_url, model) == {a: ids for a in accounts}, model

    # The stale runs, woken, wrote nothing. One with a page still to store writes it in a transaction
    # that ends with renewing the lease: the renewal finds the lease taken ("lease lost") and the page
    # is rolled back. (As the renewal comes last, the page's inserts may first collide with the
    # taker's own inserts of the same records: a unique violation, logged as "sync of ... failed",
    # rolled back all the same.) Either way it does not claim the job. A run frozen after its last page
    # has only the release left, a no-op without the lease: its outcome is not recorded (checked below:
    # every job's row holds its one settled run's finish time).
    # A comments run frozen with parents queued may wake to find its taker has read them all: it then
    # stores nothing and learns of the lost lease when it gives the job back, which saves nothing.
    lost = _jobs_logged(LOST_LINE, victim_log) | _jobs_logged(RELEASE_LOST_LINE, victim_log)
    failed = _jobs_logged(FAILED_LINE, victim_log)
    assert lost <= orphans and failed <= orphans, (lost, failed, orphans)
    assert not any(
        _jobs_logged(FAILED_LINE, log) | _jobs_logged(LOST_LINE, log) | _jobs_logged(RELEASE_LOST_LINE, log)
        for log in logs[1:]
    )
    for job in must_renew:
        assert job in lost or (job in failed and stale[job].status == "FAILED"), (job, stale[job])
        assert stale[job].status not in SETTLED, stale[job]
    print(
        f"stale runs: {len(lost)} found their lease lost on waking, {len(failed)} collided with the taker's"
        f" inserts before renewing, {len(orphans - lost - failed)} had only the release left"
    )

    # Every job ran to completion exactly once (the stale runs aside) and was released. A carried
    # model's job runs at most once: not at all when its carrier's first run made it not due.
    settled = [r for r in runs if r.status in SETTLED and r not in stale.values()]
    done = Counter(r.job for r in settled)
    own = {job for job in all_jobs if job[1] not in CARRIED}
    assert own <= set(done) <= all_jobs and set(done.values()) == {1}, done
    finished = {
        (str(a), m): at
        for a, m, at in _query(
            postgres_url,
            select(sync_state.c.linked_account_id, sync_state.c.model, sync_state.c.last_sync_finished),
        )
    }
    for r in settled:  # the outcome recorded is that run's (a carried model's is its carrier's)
        if r.status == "CARRIED":
            continue
        at = finished[r.job]
        assert at is None or r.start * 1e6 <= at <= (r.end or 0) * 1e6, (r, at)
    rows = _query(postgres_url, select(sync_state.c.model, sync_state.c.status, sync_state.c.lease_owner))
    assert {(status, owner) for _model, status, owner in rows} == {("DONE", None)}
