"""Job rows: leasing, heartbeats and bookkeeping of ``sync_state``.

A job is due when ``next_sync_start`` has passed and nobody holds an unexpired lease on it. Leasing is
one ``UPDATE`` of a row picked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serializes writers
anyway), so two workers never hold the same job; a worker that dies simply lets its lease expire and
another takes the job over from its last checkpoint. A lease is one run's, not its worker's: the stored
``lease_owner`` is the worker's name plus a token of this lease, so a run that stalled past its lease
loses it even when the same worker leased the job again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.tables import linked_accounts, sync_state
from app.timeutil import now_micros

log = logging.getLogger("deskbridge.sync")
#: A line per lease and per release, with wall-clock times: the record of who ran which job when, for
#: operators and the multi-worker test. Commands that show a progress display instead hold it back.
runs_log = logging.getLogger("deskbridge.sync.runs")

SECOND = 1_000_000


class Job(msgspec.Struct, kw_only=True):
    """A leased job: what the runner needs to start or resume a run."""

    linked_account_id: str
    model: str
    owner: str
    #: This lease's ``lease_owner``: renewals and the release count only while it is still stored.
    lease: str
    run_id: int
    run_full: bool
    run_started_at: int | None
    checkpoint: bytes | None
    resume: bytes | None
    synced_since: int | None
    is_initial_sync: bool
    full_resync_requested: bool
    attempts: int


def _job(row: Any, owner: str) -> Job:
    return Job(
        linked_account_id=row.linked_account_id,
        model=row.model,
        owner=owner,
        lease=f"{owner}#{uuid.uuid4().hex[:8]}",
        run_id=row.run_id,
        run_full=bool(row.run_full),
        run_started_at=row.run_started_at,
        checkpoint=row.checkpoint,
        resume=row.resume,
        synced_since=row.synced_since,
        is_initial_sync=bool(row.is_initial_sync),
        full_resync_requested=bool(row.full_resync_requested),
        attempts=row.attempts,
    )


def _key(job: Job) -> Any:
    return and_(sync_state.c.linked_account_id == job.linked_account_id, sync_state.c.model == job.model)


async def lease_next(
    engine: AsyncEngine,
    owner: str,
    *,
    lease_seconds: float,
    account_id: str | None = None,
    models: tuple[str, ...] | None = None,
    ignore_schedule: bool = False,
) -> Job | None:
    """Lease the most overdue job (optionally of one account / some models); None when none is due.

    An account's jobs run in one worker at a time: none is leased while another worker holds a live
    lease on one of them. The account's rate limiter lives in the worker's process, shared by the jobs
    it runs there; two workers would each spend the account's whole quota and draw the vendor's 429s.
    On PostgreSQL the account's row is locked along with the job's (``SKIP LOCKED`` both), so two
    workers leasing at the same moment cannot both take jobs of one account."""
    now = now_micros()
    conditions = [
        linked_accounts.c.status == "COMPLETE",
        or_(sync_state.c.lease_expires_at.is_(None), sync_state.c.lease_expires_at < now),
        sync_state.c.next_sync_start.is_not(None),
        ~_leases_elsewhere(sync_state.c.linked_account_id, owner, now).exists(),
    ]
    if not ignore_schedule:
        conditions.append(sync_state.c.next_sync_start <= now)
    if account_id is not None:
        conditions.append(sync_state.c.linked_account_id == account_id)
    if models is not None:
        conditions.append(sync_state.c.model.in_(models))
    pick = (
        select(sync_state)
        .join(linked_accounts, linked_accounts.c.id == sync_state.c.linked_account_id)
        .where(*conditions)
        .order_by(sync_state.c.next_sync_start, sync_state.c.model)
        .limit(1)
        # FOR NO KEY UPDATE: the account's row stays free for the key-share locks that every insert
        # referencing it takes (a run storing records of that account must not wait for a lease).
        .with_for_update(skip_locked=True, key_share=True, of=[sync_state, linked_accounts])
    )
    async with engine.begin() as conn:
        row = (await conn.execute(pick)).first()
        if row is None:
            return None
        # Asked again in a statement of its own: under READ COMMITTED the pick saw the leases as of its
        # start, not one committed meanwhile by the worker whose lock on the account we then got.
        if (
            await conn.execute(select(_leases_elsewhere(row.linked_account_id, owner, now).exists()))
        ).scalar():
            return None
        job = _job(row, owner)
        await conn.execute(
            update(sync_state)
            .where(_key(job))
            .values(lease_owner=job.lease, lease_expires_at=now + int(lease_seconds * SECOND))
        )
    return job


def _leases_elsewhere(account_id: Any, owner: str, now: int) -> Select[str, str]:
    """The live leases on jobs of ``account_id`` that workers other than ``owner`` hold."""
    held = sync_state.alias("held")
    return select(held.c.model, held.c.lease_owner).where(
        held.c.linked_account_id == account_id,
        held.c.lease_expires_at >= now,
        ~held.c.lease_owner.startswith(f"{owner}#", autoescape=True),
    )


async def leased_elsewhere(conn: AsyncConnection, account_id: str, owner: str) -> list[tuple[str, str]]:
    """(model, lease) of the account's jobs that another worker holds now: ``owner`` leases none of
    the account's jobs until they are given back or expire."""
    rows = await conn.execute(_leases_elsewhere(account_id, owner, now_micros()))
    return [(model, lease) for model, lease in rows]


class LeaseLostError(RuntimeError):
    """Another worker took the job over (our lease had expired): stop without writing."""


async def renew(conn: AsyncConnection, job: Job, *, lease_seconds: float, **values: Any) -> None:
    """Heartbeat inside the page's transaction: extend the lease and save ``values`` (checkpoint,
    counters), or raise ``LeaseLostError`` (the transaction then rolls back)."""
    result = await conn.execute(
        update(sync_state)
        .where(_key(job), sync_state.c.lease_owner == job.lease)
        .values(lease_expires_at=now_micros() + int(lease_seconds * SECOND), **values)
    )
    if result.rowcount != 1:
        raise LeaseLostError(f"lost the lease on {job.model} of {job.linked_account_id}")


#: What a carried model's row takes over from its carrier's (``Stream.carries``): its status, not the
#: carrier's schedule, checkpoint or lease.
MIRRORED = frozenset(
    {
        "status",
        "last_sync_start",
        "last_sync_result",
        "last_sync_finished",
        "data_fresh_as_of",
        "is_initial_sync",
        "last_error",
        "sync_status_reason",
        "full_resync_requested",
    }
)


async def release(
    engine: AsyncEngine,
    job: Job,
    *,
    carried: Sequence[str] = (),
    counts: Mapping[str, int] | None = None,
    **values: Any,
) -> None:
    """Save the outcome and give the job back (only if we still hold it). The ``carried`` models (those
    the job's stream carries) take the outcome over in the same transaction, so their status never
    lags the carrier's; ``counts``, when given, are the records the run stored of each."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(sync_state)
            .where(_key(job), sync_state.c.lease_owner == job.lease)
            .values(lease_owner=None, lease_expires_at=None, **values)
        )
        if result.rowcount == 0:
            # Another run holds the job now (this one stalled past its lease): its outcome stands.
            log.warning(
                "lease on %s/%s was lost before the run ended; its outcome (%s) is not saved",
                job.linked_account_id,
                job.model,
                values.get("status", "unchanged"),
            )
            return
        if carried:
            await mirror(conn, job, carried, counts=counts, **values)
        released_at = time.time()
    _released(job, released_at)


async def mirror(
    conn: AsyncConnection,
    job: Job,
    carried: Sequence[str],
    *,
    counts: Mapping[str, int] | None = None,
    **values: Any,
) -> None:
    """Carry the ``MIRRORED`` part of ``values`` (the carrier's) over to the ``carried`` models' rows,
    with their own record ``counts`` if given. A carried model is never scheduled on its own."""
    shared = {k: v for k, v in values.items() if k in MIRRORED}
    for model in carried:
        own = {} if counts is None else {"run_records": counts.get(model, 0)}
        await conn.execute(
            update(sync_state)
            .where(sync_state.c.linked_account_id == job.linked_account_id, sync_state.c.model == model)
            .values(**shared, **own, next_sync_start=None)
        )


async def release_to_carrier(engine: AsyncEngine, job: Job, carrier: str) -> None:
    """Give back a carried model's job (never scheduled on its own) with its carrier's status, read in
    the same statement: a copy read earlier could overwrite a newer one the carrier has mirrored since
    (a run paused between reading and writing)."""
    source = sync_state.alias("carrier")
    row = select(source).where(source.c.linked_account_id == job.linked_account_id, source.c.model == carrier)
    copied = {column: row.with_only_columns(source.c[column]).scalar_subquery() for column in MIRRORED}
    async with engine.begin() as conn:
        result = await conn.execute(
            update(sync_state)
            .where(_key(job), sync_state.c.lease_owner == job.lease, row.exists())
            .values(lease_owner=None, lease_expires_at=None, next_sync_start=None, **copied)
        )
        released_at = time.time()
    if result.rowcount == 0:  # no carrier row (or the lease is gone, and this changes nothing)
        await release(engine, job, next_sync_start=None)
    else:
        _released(job, released_at)


def _released(job: Job, at: float) -> None:
    # Logged once the release has committed: any worker, this one too, may lease the job (or, another
    # worker, the account's other jobs) from now on, while the run may still write (the queue's
    # wake-up, the account's ``sync_completed``) before its worker logs the run's end. Logs merged by
    # time show who held a job when (the multi-worker test). ``at`` is taken before the commit and a
    # lease's time after its own (app/sync/worker.py), so a hold shows inside its true span: two that
    # never overlapped cannot look as if they did, however late either line is written.
    runs_log.info(
        "job %s/%s run %d released by %s at %.6f",
        job.linked_account_id,
        job.model,
        job.run_id,
        job.lease,
        at,
    )


async def state_of(conn: AsyncConnection, account_id: str, model: str) -> Any:
    return (
        await conn.execute(
            select(sync_state).where(
                sync_state.c.linked_account_id == account_id, sync_state.c.model == model
            )
        )
    ).first()
