"""Running one leased sync job: a full or incremental read of one model, page by page.

Per page, in one transaction: upsert the records, flag tombstones, queue the parents whose dependent
records must be read again, save the checkpoint and renew the lease. A crash loses at most the page in
flight, which the next run reads again (upserts are idempotent). The run's start time is recorded before
the first read and becomes the next run's changed-since, so nothing changed during a run is missed.
Deletions found by diff (records a complete full enumeration did not see) are applied only after the
last page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import relink
from app.api.state import Services
from app.db import accounts as account_store
from app.db import bulk, records
from app.db.accounts import LinkedAccountRecord
from app.db.tables import RECORD_TABLES, sync_parents, sync_state
from app.db.transaction import Work, ordered_transactions, run_transaction
from app.sharing import outbound as sharing_outbound
from app.sync import jobs
from app.sync.jobs import SECOND, Job
from app.sync.prefetch import ahead
from app.timeutil import from_micros, now_micros
from app.vendors import connector_for
from app.webhooks import hooks as webhooks
from connectors.base import Connector, RemoteRecord
from connectors.http.errors import (
    AuthError,
    NotFoundError,
    PermanentError,
    RateLimitError,
    TransientError,
)
from connectors.http.pagination import PageRequest
from connectors.http.tasks import settle_unwanted
from connectors.streams import Stream, StreamPage, carrier_of, first_request, read

log = logging.getLogger("deskbridge.sync")

#: The checkpoint of a dependent job whose parents were all queued for this full pass.
ALL_PARENTS_QUEUED = b"all-parents-queued"

#: Records prepared between turns of the event loop. On PostgreSQL each statement of the previous
#: page's writes waits for the loop's turn (~3 ms of CPU per slice of 250 kept it waiting); on SQLite
#: they run whole in the database thread, and the turns let the read-ahead and other jobs go on.
PREPARE_SLICE = 100
#: Pages handed to the database at once: while one is written the next waits in its queue, so the
#: database goes from one commit straight to the next page, without waiting for the event loop.
WRITES_AHEAD = 2
#: Pages read ahead of the one being prepared. Two keep the vendor busy while a page is decoded and
#: the previous one prepared; each costs the memory of one decoded page.
PREFETCH_PAGES = 2

#: Parents (tickets) whose dependents (comments) are read per transaction batch.
PARENT_BATCH = 50
#: Parents whose dependents are being read at once. A request per parent, each a round trip to the
#: vendor: one at a time, a vendor 300 ms away allows 200 a minute whatever the account's quota (400
#: or 700 at Zendesk). The limiter still keeps their starts to the quota; each parent's dependents are
#: stored in its own transaction, in the queue's order.
PARENTS_IN_FLIGHT = 4
MAX_ATTEMPTS = 8

Progress = Callable[[str, int], None]
#: Records stored per common model (a page, a run): a stream's pages may carry several models.
Counts = dict[str, int]


@dataclass(frozen=True)
class RunnerConfig:
    lease_seconds: float = 60.0
    #: Seconds between the end of a run and the next incremental run.
    interval_seconds: float = 300.0
    #: How soon a dependent model looks again while its parent is still syncing.
    waiting_seconds: float = 5.0
    #: Overlap subtracted from the last run's start when asking a vendor for changes "since": vendor
    #: clocks differ a little from ours, and reading a record twice is harmless.
    since_overlap_seconds: float = 60.0


def _model_name(record: RemoteRecord[Any]) -> str:
    return type(record.model).__name__


class SyncRunner:
    def __init__(
        self, services: Services, config: RunnerConfig | None = None, progress: Progress | None = None
    ):
        self.services = services
        self.config = config or RunnerConfig()
        self.progress = progress

    async def run(self, job: Job) -> str:
        """Run ``job`` to its end (or to the first failure); returns the resulting status."""
        async with self.services.engine.connect() as conn:
            account = await account_store.account_by_id(conn, job.linked_account_id)
        if account is None:
            return "DISABLED"
        status = await self._run(job, account)
        # --- webhooks: LinkedAccount.sync_completed once the account's last model finished ---
        await webhooks.sync_finished(
            self.services.engine, account, status=status, is_initial_sync=job.is_initial_sync
        )
        return status

    async def _run(self, job: Job, account: LinkedAccountRecord) -> str:
        engine = self.services.engine
        # The models whose records the job's stream carries: every outcome below is theirs too.
        carried: tuple[str, ...] = ()
        try:
            connector = connector_for(self.services, account)
            stream = connector.streams.get(job.model)
            if stream is None:
                # Never scheduled on its own: read with its carrier, whose runs set its status, or
                # not read at all. ("CARRIED" names this lease's outcome in logs, not a sync status.)
                carrier = carrier_of(connector.streams, job.model)
                if carrier is not None:
                    # Made due by a resync or a relink: say what the carrier says, not "SYNCING" until
                    # its next run (a resync made that due too).
                    await jobs.release_to_carrier(engine, job, carrier.model)
                    return "CARRIED"
                await jobs.release(engine, job, status="DISABLED", next_sync_start=None)
                return "DISABLED"
            carried = stream.carries
            async with self._heartbeat(job):
                if stream.parent:
                    return await self._run_dependent(job, connector, stream, account)
                return await self._run_stream(job, connector, stream, account)
        except jobs.LeaseLostError:
            log.warning("lease lost on %s/%s; another worker continues", job.linked_account_id, job.model)
            return "SYNCING"
        except AuthError as exc:
            await self._finish_failed(job, f"credentials refused: {exc}", retry_in=None, carried=carried)
            async with engine.begin() as conn:
                # Every model of the account stops until it is relinked (linking requeues them).
                await relink.credentials_refused(
                    conn, account, f"{job.model} sync: credentials refused: {exc}"
                )
            self.services.auth_cache.clear()
            return "FAILED"
        except RateLimitError as exc:
            wait = exc.retry_after or 60.0
            await jobs.release(
                engine,
                job,
                carried=carried,
                status="SYNCING",
                sync_status_reason="RATE_LIMITED",
                next_sync_start=now_micros() + int(wait * SECOND),
            )
            return "SYNCING"
        except TransientError as exc:
            attempts = job.attempts + 1
            if attempts >= MAX_ATTEMPTS:
                await self._finish_failed(
                    job, str(exc), retry_in=self.config.interval_seconds, carried=carried
                )
                return "FAILED"
            backoff = min(2**attempts * 5.0, 900.0)
            await jobs.release(
                engine,
                job,
                carried=carried,
                status="PARTIALLY_SYNCED",
                last_sync_result="PARTIALLY_SYNCED",
                attempts=attempts,
                last_error=str(exc),
                next_sync_start=now_micros() + int(backoff * SECOND),
            )
            return "PARTIALLY_SYNCED"
        except PermanentError as exc:
            await self._finish_failed(
                job, str(exc), retry_in=self.config.interval_seconds, restart=True, carried=carried
            )
            return "FAILED"
        except Exception as exc:  # a bug: keep the worker alive, report honestly, retry later
            log.exception("sync of %s/%s failed", job.linked_account_id, job.model)
            await self._finish_failed(
                job,
                f"internal error: {type(exc).__name__}",
                retry_in=self.config.interval_seconds,
                carried=carried,
            )
            return "FAILED"

    @contextlib.asynccontextmanager
    async def _heartbeat(self, job: Job) -> AsyncIterator[None]:
        """Renew the lease every third of its length while the run goes on. Each stored page renews it
        too, but a vendor can hold the next page back for longer than a lease: Zendesk's export quota
        (20 pages a minute) makes a full sync wait up to a minute every 20 pages, and another worker
        must not take over a run that is only waiting. A lost lease ends the heartbeat; the run finds
        out at its next page (``LeaseLostError``)."""
        stop = asyncio.Event()

        async def beat() -> None:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.lease_seconds / 3)
                    return
                try:
                    async with self.services.engine.begin() as conn:
                        await jobs.renew(conn, job, lease_seconds=self.config.lease_seconds)
                except jobs.LeaseLostError:
                    return
                except Exception:  # the database is busy or gone: the run's next page will say so too
                    log.warning(
                        "lease heartbeat of %s/%s failed", job.linked_account_id, job.model, exc_info=True
                    )

        beating = asyncio.create_task(beat())
        try:
            yield
        finally:
            stop.set()  # a renewal under way finishes (a transaction is not cut short); then it stops
            await settle_unwanted(beating, cancel=False)

    async def _finish_failed(
        self,
        job: Job,
        error: str,
        *,
        retry_in: float | None,
        restart: bool = False,
        carried: tuple[str, ...],
    ) -> None:
        values: dict[str, Any] = {
            "status": "FAILED",
            "last_sync_result": "FAILED",
            "last_sync_finished": now_micros(),
            "last_error": error,
            "sync_status_reason": None,
            "attempts": 0,
            "next_sync_start": None if retry_in is None else now_micros() + int(retry_in * SECOND),
        }
        if restart:
            values["checkpoint"] = None
        await jobs.release(self.services.engine, job, carried=carried, **values)

    # --- top-level streams -------------------------------------------------------------------------

    async def _start(self, job: Job, stream: Stream) -> tuple[PageRequest, int, int, bool]:
        """Begin a new run (or continue an interrupted one): (request, run id, start, full)."""
        if job.checkpoint is not None and job.run_started_at is not None:
            return PageRequest.from_json(job.checkpoint), job.run_id, job.run_started_at, job.run_full
        full = (
            job.is_initial_sync
            or job.full_resync_requested
            or (stream.since_param is None and not job.resume)
        )
        if full:
            first = first_request(stream)
        elif job.resume:
            first = PageRequest.from_json(job.resume)
        else:
            since = from_micros(job.synced_since)
            overlap = timedelta(seconds=self.config.since_overlap_seconds)
            first = first_request(stream, since=since - overlap if since else None)
        run_id, started = job.run_id + 1, now_micros()
        values: dict[str, Any] = {
            "status": "SYNCING",
            "last_sync_start": started,
            "full_resync_requested": False,
            "sync_status_reason": None,
        }
        async with self.services.engine.begin() as conn:
            await jobs.renew(
                conn,
                job,
                lease_seconds=self.config.lease_seconds,
                run_id=run_id,
                run_started_at=started,
                run_full=full,
                run_records=0,
                checkpoint=first.to_json(),
                **values,
            )
            await jobs.mirror(conn, job, stream.carries, counts={}, **values)
        return first, run_id, started, full

    async def _run_stream(
        self, job: Job, connector: Connector, stream: Stream, account: LinkedAccountRecord
    ) -> str:
        request, run_id, started, full = await self._start(job, stream)
        dependents = [s.model for s in connector.streams.values() if s.parent == job.model]
        resume: bytes | None = None
        totals: Counts = {}

        # Records of the job's model stored by this run so far, saved with each page's checkpoint. Pages
        # are written one after another (``ordered_transactions``), so each adds its own in turn.
        stored = 0

        def page_write(
            page: StreamPage, prepared: list[records.Prepared], resume: bytes | None
        ) -> Work[Counts]:
            async def write(conn: AsyncConnection) -> Counts:
                nonlocal stored
                counts = await self._store_page(
                    conn, job, stream, page, prepared, run_id, dependents, account
                )
                stored += counts[job.model]
                await jobs.renew(
                    conn,
                    job,
                    lease_seconds=self.config.lease_seconds,
                    checkpoint=page.next.to_json() if page.next else None,
                    run_records=stored,
                    resume=resume,
                )
                return counts

            return write

        async def settle(write: asyncio.Future[Counts]) -> None:
            # Progress is reported here, not in the write: an exception from the callback (Ctrl-C in
            # the CLI) must reach this coroutine, not the event loop.
            self._add(totals, await write)

        # A pipeline: the vendor prepares the next page as soon as one is decoded (``read`` reads
        # ahead), decoded pages are mapped up to ``PREFETCH_PAGES`` ahead (``ahead``), and page N+1 is
        # prepared while page N is written, each in one transaction run in the database's thread
        # (``ordered_transactions``). Up to ``WRITES_AHEAD`` pages are handed over at once, so that
        # thread goes from one page's commit straight to the next page. Pages are still committed one
        # at a time and in order, each with its checkpoint, none after one that failed: a crash resumes
        # exactly as without the overlap (the pages read ahead are read again).
        writes: deque[asyncio.Future[Counts]] = deque()
        async with ordered_transactions(self.services.engine) as transactions:
            try:
                # Closed explicitly: on an error the page being prefetched must stop now, not at GC.
                async with contextlib.aclosing(
                    ahead(read(connector.client, stream, checkpoint=request), depth=PREFETCH_PAGES)
                ) as pages:
                    async for page in pages:
                        # Only the last page's resume point matters: a cursor export's
                        # end-of-stream cursor.
                        resume = page.resume.to_json() if page.resume else None
                        prepared = await self._prepare_page(job, page)
                        while len(writes) >= WRITES_AHEAD:
                            await settle(writes.popleft())
                        writes.append(transactions.submit(page_write(page, prepared, resume)))
                while writes:
                    await settle(writes.popleft())
            finally:
                # On a failure, the pages already handed over are stored (or fail, or are skipped after
                # one that failed) before the error goes on. The error that stopped us is the one
                # raised, not a write's.
                for write in writes:
                    await settle_unwanted(write, cancel=False)
        async with self.services.engine.begin() as conn:
            # Still ours? A run that stalled past its lease must not flag as deleted what the worker
            # that took the job over has stored since (renew raises LeaseLostError otherwise).
            await jobs.renew(conn, job, lease_seconds=self.config.lease_seconds)
            if full:  # a complete enumeration: what it did not see is gone
                for model in (job.model, *stream.carries):
                    gone = await records.mark_unseen_deleted(
                        conn, job.linked_account_id, model, sync_run=run_id, run_started_at=started
                    )
                    if not job.is_initial_sync:  # webhooks: {Model}.removed
                        await webhooks.record_changes(conn, account, model, removed=gone)
        finished = now_micros()
        await jobs.release(
            self.services.engine,
            job,
            carried=stream.carries,
            counts=totals,
            status="DONE",
            last_sync_result="DONE",
            last_sync_finished=finished,
            data_fresh_as_of=started,
            is_initial_sync=False,
            synced_since=started,
            checkpoint=None,
            resume=resume,
            attempts=0,
            last_error=None,
            sync_status_reason=None,
            next_sync_start=finished + int(self.config.interval_seconds * SECOND),
        )
        return "DONE"

    async def _prepare_page(self, job: Job, page: StreamPage) -> list[records.Prepared]:
        """The page's records localized and encoded, one ``Prepared`` per model. Yields to the loop
        every ``PREPARE_SLICE`` records, so the previous page's writes keep the database thread busy."""
        by_model: dict[str, list[RemoteRecord[Any]]] = defaultdict(list)
        for record in page.records:
            by_model[_model_name(record)].append(record)
        now = now_micros()
        prepared: list[records.Prepared] = []
        for model, items in by_model.items():
            slices = []
            for i in range(0, len(items), PREPARE_SLICE):
                slices.append(
                    records.prepare_records(
                        job.linked_account_id, model, items[i : i + PREPARE_SLICE], now=now
                    )
                )
                await asyncio.sleep(0)
            prepared.append(slices[0]._replace(items=[item for part in slices for item in part.items]))
        return prepared

    async def _store_page(
        self,
        conn: AsyncConnection,
        job: Job,
        stream: Stream,
        page: StreamPage,
        prepared: list[records.Prepared],
        run_id: int,
        dependents: Sequence[str],
        account: LinkedAccountRecord,
    ) -> Counts:
        # Webhooks: per-record events, in this page's transaction. None during an initial sync: Merge
        # does not flood receivers with one ``added`` per record; they get ``sync_completed`` instead.
        notify = not job.is_initial_sync
        parents: set[str] = set(page.deleted)
        counts: Counts = {job.model: 0}
        for part in prepared:
            model = part.model_name
            counts[model] = counts.get(model, 0) + len(part.items)
            # The run's mark (deletion by diff) goes on what the stream enumerates: its model and the
            # models it carries; records of other models a page mentions are not a full list of them.
            seen = model == job.model or model in stream.carries
            upserted = await records.write_prepared(conn, part, sync_run=run_id if seen else None)
            if model == job.model:
                parents.update(item.remote_id for item in part.items)
            if notify:
                await webhooks.record_changes(conn, account, model, upserted)
            await sharing_outbound.on_records_stored(conn, job.linked_account_id, model, upserted)
        for model, remote_ids in ((job.model, page.deleted), *page.deleted_carried.items()):
            if not remote_ids:
                continue
            gone = await records.mark_deleted(conn, job.linked_account_id, model, remote_ids)
            # What was flagged: a tombstone of a record never stored (every Zendesk user is one in the
            # model it is not) changed nothing.
            counts[model] = counts.get(model, 0) + len(gone)
            if notify:
                await webhooks.record_changes(conn, account, model, removed=gone)
        await _queue_parents(conn, job.linked_account_id, dependents, parents)
        return counts

    def _add(self, totals: Counts, counts: Counts) -> None:
        """Add a page's counts to the run's, reporting progress per model."""
        _merge(totals, counts)
        if self.progress:
            for model, count in counts.items():
                self.progress(model, count)

    # --- dependent streams (comments of tickets) ---------------------------------------------------

    async def _run_dependent(
        self, job: Job, connector: Connector, stream: Stream, account: LinkedAccountRecord
    ) -> str:
        engine = self.services.engine
        started = now_micros()
        # A full read queues every parent once per pass, marked in the checkpoint: a run resumed
        # after a crash, or woken again while the parent model still syncs, must not queue them all
        # again and re-read children it already has.
        queue_all = job.full_resync_requested or (
            job.is_initial_sync and job.checkpoint != ALL_PARENTS_QUEUED
        )
        values: dict[str, Any] = {
            "status": "SYNCING",
            "last_sync_start": started,
            "full_resync_requested": False,
        }
        async with engine.begin() as conn:
            await jobs.renew(
                conn,
                job,
                lease_seconds=self.config.lease_seconds,
                run_records=0,
                **values,
                **({"checkpoint": ALL_PARENTS_QUEUED} if queue_all else {}),
            )
            await jobs.mirror(conn, job, stream.carries, counts={}, **values)
            if queue_all:
                await _queue_all_parents(conn, job.linked_account_id, job.model, stream)
        totals: Counts = {}
        while True:
            batch = await _queued_parents(engine, job)
            if batch:
                await self._read_batch(job, connector, stream, batch, totals, account)
                continue
            # The queue is empty: what is the parent doing? Its state is read *before* the queue is
            # looked at once more. A parent run that finished after our last look queued its last
            # parents before it said DONE, so this look sees them; looking only before reading the state
            # missed them, and we said DONE over parents that then waited a whole interval.
            async with engine.connect() as conn:
                parent_state = await jobs.state_of(conn, job.linked_account_id, stream.parent or "")
            if not await _queued_parents(engine, job):
                break
        total = totals.get(job.model, 0)
        parent_status = "DONE" if parent_state is None else parent_state.status
        finished = now_micros()
        if parent_status != "DONE" and parent_status != "SYNCING":
            # The parent failed: what we read is all we can know; say so rather than wait forever.
            await self._release_dependent(
                job,
                stream,
                counts=totals,
                status="PARTIALLY_SYNCED",
                last_sync_result="PARTIALLY_SYNCED",
                last_sync_finished=finished,
                sync_status_reason=None,
                last_error=f"{stream.parent} sync is {parent_status}",
                run_records=total,
                next_sync_start=finished + int(self.config.interval_seconds * SECOND),
            )
            return "PARTIALLY_SYNCED"
        if parent_status == "SYNCING":
            await self._release_dependent(
                job,
                stream,
                counts=totals,
                status="SYNCING",
                sync_status_reason="WAITING_ON_OTHER_MODELS",
                run_records=total,
                next_sync_start=finished + int(self.config.waiting_seconds * SECOND),
            )
            return "SYNCING"
        fresh = parent_state.data_fresh_as_of if parent_state is not None else started
        await self._release_dependent(
            job,
            stream,
            counts=totals,
            checkpoint=None,  # the pass is complete
            status="DONE",
            last_sync_result="DONE",
            last_sync_finished=finished,
            data_fresh_as_of=fresh,
            is_initial_sync=False,
            synced_since=started,
            attempts=0,
            last_error=None,
            sync_status_reason=None,
            run_records=total,
            next_sync_start=finished + int(self.config.interval_seconds * SECOND),
        )
        return "DONE"

    async def _release_dependent(self, job: Job, stream: Stream, **values: Any) -> None:
        """Give a dependent job back; if parents were queued after its last look at the queue (a parent
        run storing pages meanwhile), it is due again now, not at the ``next_sync_start`` it was given.

        The look comes after the release: a parent page committed later finds our ``next_sync_start``
        in the future and brings it forward itself (``_queue_parents``); one committed earlier is seen
        here. Before, the release overwrote the wake-up of parents queued while the job ran."""
        engine = self.services.engine
        await jobs.release(engine, job, carried=stream.carries, **values)
        if await _queued_parents(engine, job):
            async with engine.begin() as conn:
                await _wake(conn, job.linked_account_id, [job.model])

    async def _read_batch(
        self,
        job: Job,
        connector: Connector,
        stream: Stream,
        batch: Sequence[tuple[str, int]],
        totals: Counts,
        account: LinkedAccountRecord,
    ) -> None:
        """Read the dependents of ``batch``'s parents, ``PARENTS_IN_FLIGHT`` at once, and store each
        parent's in turn. An error stops the batch at that parent, as one read after another would:
        the parents before it are stored, the reads started after it are cancelled."""
        reading: deque[tuple[str, int, asyncio.Task[tuple[list[StreamPage], bool]]]] = deque()

        async def store_next() -> None:
            parent, queued_at, task = reading.popleft()
            pages, parent_gone = await task
            written = await self._write_children(
                job, stream, parent, queued_at, pages, parent_gone, totals, account
            )
            self._add(totals, written)

        try:
            for parent, queued_at in batch:
                read_task = asyncio.create_task(_children(connector, stream, parent))
                reading.append((parent, queued_at, read_task))
                if len(reading) >= PARENTS_IN_FLIGHT:
                    await store_next()
            while reading:
                await store_next()
        finally:
            for _, _, task in reading:
                await settle_unwanted(task, cancel=True)

    async def _write_children(
        self,
        job: Job,
        stream: Stream,
        parent: str,
        queued_at: int,
        pages: list[StreamPage],
        parent_gone: bool,
        totals: Counts,
        account: LinkedAccountRecord,
    ) -> Counts:
        prepared = [await self._prepare_page(job, page) for page in pages]

        async def write(conn: AsyncConnection) -> Counts:
            counts: Counts = {job.model: 0}
            for page, parts in zip(pages, prepared, strict=True):
                _merge(counts, await self._store_page(conn, job, stream, page, parts, 0, (), account))
            if parent_gone and stream.parent:
                gone = await records.mark_children_deleted(
                    conn, job.linked_account_id, job.model, stream.parent, parent
                )
                if not job.is_initial_sync:
                    await webhooks.record_changes(conn, account, job.model, removed=gone)
            # Only forget the parent if it was not queued again while we read it.
            await conn.execute(
                delete(sync_parents).where(
                    sync_parents.c.linked_account_id == job.linked_account_id,
                    sync_parents.c.model == job.model,
                    sync_parents.c.parent_remote_id == parent,
                    sync_parents.c.queued_at <= queued_at,
                )
            )
            await jobs.renew(
                conn,
                job,
                lease_seconds=self.config.lease_seconds,
                run_records=totals.get(job.model, 0) + counts[job.model],
            )
            return counts

        return await run_transaction(self.services.engine, write)


async def _children(connector: Connector, stream: Stream, parent: str) -> tuple[list[StreamPage], bool]:
    """The pages of ``parent``'s dependents, and whether the parent is gone at the vendor."""
    try:
        return [p async for p in read(connector.client, stream, parent=parent)], False
    except NotFoundError:
        # The parent is gone at the vendor (deleted since it was queued, or a deleted ticket queued by
        # its tombstone): so are its children. Failing instead would fail every later run too.
        return [], True


def _merge(into: Counts, counts: Counts) -> None:
    for model, count in counts.items():
        into[model] = into.get(model, 0) + count


async def _queued_parents(engine: AsyncEngine, job: Job) -> list[tuple[str, int]]:
    """The next ``PARENT_BATCH`` parents queued for the dependent ``job``, oldest first: (remote id,
    queued at)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(sync_parents.c.parent_remote_id, sync_parents.c.queued_at)
            .where(
                sync_parents.c.linked_account_id == job.linked_account_id,
                sync_parents.c.model == job.model,
            )
            .order_by(sync_parents.c.queued_at, sync_parents.c.parent_remote_id)
            .limit(PARENT_BATCH)
        )
        return [(parent, queued_at) for parent, queued_at in rows]


async def _wake(conn: AsyncConnection, account_id: str, models: Sequence[str]) -> None:
    """Make the dependent ``models``' jobs due now (not those suspended, nor those already due)."""
    now = now_micros()
    await conn.execute(
        update(sync_state)
        .where(
            sync_state.c.linked_account_id == account_id,
            sync_state.c.model.in_(list(models)),
            sync_state.c.next_sync_start.is_not(None),
            sync_state.c.next_sync_start > now,
        )
        .values(next_sync_start=now)
    )


async def _queue_parents(
    conn: AsyncConnection, account_id: str, models: Sequence[str], parents: set[str]
) -> None:
    """Queue ``parents`` for the dependent ``models`` and make those jobs due now.

    Only for models whose pass over every parent has begun (``_passes_begun``): until then that pass
    is still to queue them all itself, and an initial sync of tickets queuing each one as well cost a
    thousand upserts a page."""
    if not models or not parents:
        return
    await _wake(conn, account_id, models)
    now = now_micros()
    for model in await _passes_begun(conn, account_id, models):
        # A parent already queued is queued again, as of now.
        await bulk.insert_rows(
            conn,
            sync_parents,
            [
                {"linked_account_id": account_id, "model": model, "parent_remote_id": p, "queued_at": now}
                for p in parents
            ],
            on_conflict_update=("queued_at",),
        )


async def _passes_begun(conn: AsyncConnection, account_id: str, models: Sequence[str]) -> set[str]:
    """Which of the dependent ``models`` have begun their pass over every parent, and so need new
    parents queued. The others' next run makes that pass (``_run_dependent``'s ``queue_all``): a job
    without its initial pass queued yet, or with a full resync asked for, or no job at all yet (one
    made later starts with that pass).

    The pass queues the parents we hold when it begins, in a transaction that first updates its job's
    row, so it must not begin between this look and our commit, or it would miss this page's parents:
    on SQLite our transaction holds the database's one write lock by now (``_wake`` is an UPDATE); on
    PostgreSQL the row is read ``FOR SHARE``, which waits for a pass that has begun to commit, and
    makes one that begins wait for us."""
    rows = await conn.execute(
        select(
            sync_state.c.model,
            sync_state.c.is_initial_sync,
            sync_state.c.checkpoint,
            sync_state.c.full_resync_requested,
        )
        .where(sync_state.c.linked_account_id == account_id, sync_state.c.model.in_(list(models)))
        .with_for_update(read=True)
    )
    return {
        model
        for model, initial, checkpoint, full in rows
        if not full and (not initial or checkpoint == ALL_PARENTS_QUEUED)
    }


async def _queue_all_parents(conn: AsyncConnection, account_id: str, model: str, stream: Stream) -> None:
    """A full read of a dependent model: every parent we hold is queued."""
    table = RECORD_TABLES[stream.parent or ""]
    ids = (
        (
            await conn.execute(
                select(table.c.remote_id).where(
                    table.c.linked_account_id == account_id, table.c.remote_was_deleted.is_(False)
                )
            )
        )
        .scalars()
        .all()
    )
    await _queue_parents(conn, account_id, [model], set(ids))
