"""A run that stalled past its lease must not write once the job was taken over: leases belong to one
run, not to a worker (a worker that leases a job again must not share the new lease with its own
stalled run), and nothing the stalled run does afterwards may change the store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.api.state import Services
from app.db import syncstate
from app.db.tables import tickets
from app.sync import jobs, prefetch, runner
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from tests.app.test_sync_engine import link, seed_vendor, services, stored, worker

__all__ = ["services"]  # the fixture, re-exported for pytest


async def test_a_stalled_run_loses_its_lease_to_the_same_workers_next_run(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    seed_vendor(n=2)
    await link(services)
    stalled = await jobs.lease_next(services.engine, "w", lease_seconds=0.000001, models=("Ticket",))
    assert stalled is not None
    # The same worker (one process, one name) leases the job again once the lease has run out.
    again = await jobs.lease_next(services.engine, "w", lease_seconds=60, models=("Ticket",))
    assert again is not None and again.owner == stalled.owner == "w"
    async with services.engine.begin() as conn:
        with pytest.raises(jobs.LeaseLostError):
            await jobs.renew(conn, stalled, lease_seconds=60, run_records=1)
    async with services.engine.begin() as conn:
        await jobs.renew(conn, again, lease_seconds=60, run_records=2)
    # Nor may the stalled run give the job back (and its outcome) under the new run's feet; it says so.
    with caplog.at_level("WARNING", logger="deskbridge.sync"):
        await jobs.release(services.engine, stalled, status="DONE")
    assert "lost before the run ended; its outcome (DONE) is not saved" in caplog.text
    async with services.engine.connect() as conn:
        row = await jobs.state_of(conn, again.linked_account_id, "Ticket")
    assert row.status != "DONE" and row.run_records == 2 and row.lease_expires_at is not None


async def test_a_stale_run_does_not_apply_its_deletions_after_losing_its_lease(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = seed_vendor(n=3, comments_per=0)
    account = await link(services)
    await worker(services).run_until_idle()
    async with services.engine.begin() as conn:
        await syncstate.request_resync(conn, account)
    stalled = Worker(services, WorkerConfig(runner=RunnerConfig(lease_seconds=0.000001)))
    # Stalled as a frozen process is (a GC pause, a suspended VM): its heartbeat stands still too.
    monkeypatch.setattr(stalled.runner, "_heartbeat", lambda job: contextlib.nullcontext())
    taken: list[str | None] = []

    async def stall_after_the_last_page(pages: AsyncIterator[Any], depth: int = 1) -> AsyncIterator[Any]:
        async with contextlib.aclosing(prefetch.ahead(pages, depth)) as inner:
            async for page in inner:
                yield page
        # The last page is handed over: wait until it is stored with its checkpoint, then stand still
        # while the lease expires, the vendor's tickets change and another worker syncs them.
        for _ in range(500):
            async with services.engine.connect() as conn:
                if (await jobs.state_of(conn, account, "Ticket")).checkpoint is None:
                    break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the stalled run never stored its last page")
        for i in range(3):
            desk.put_ticket({"id": f"t{i}", "title": f"Ticket {i}, edited", "priority": "HIGH"})
        monkeypatch.setattr(runner, "ahead", prefetch.ahead)
        taken.append(await worker(services).run_one(models=("Ticket",), ignore_schedule=True))

    monkeypatch.setattr(runner, "ahead", stall_after_the_last_page)
    await stalled.run_one(models=("Ticket",))
    assert taken == ["DONE"]  # the job was taken over while the stalled run stood still
    # The vendor has all three tickets: the stalled run's late deletion pass must not flag them.
    assert sorted(await stored(services, tickets, account)) == ["t0", "t1", "t2"]


async def test_a_run_waiting_on_the_vendor_keeps_its_lease(services: Services) -> None:
    # A vendor can hold the next page back for longer than a lease (Zendesk's export quota: up to a
    # minute). The run is alive, so no other worker may take the job over meanwhile.
    seed_vendor(n=6, comments_per=0)  # two pages
    account = await link(services)
    serve = services.http._transport.handle_async_request

    async def slow_second_page(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor"):
            await asyncio.sleep(1.5)
        response = await serve(request)
        await response.aread()
        return response

    services.http._transport = httpx.MockTransport(slow_second_page)
    waiting = Worker(
        services,
        WorkerConfig(runner=RunnerConfig(lease_seconds=0.6, interval_seconds=3600, waiting_seconds=0)),
    )
    run = asyncio.create_task(waiting.run_one(models=("Ticket",)))
    await asyncio.sleep(1.0)  # the first page was stored well over a lease ago; the second is on its way
    assert not run.done()
    assert await jobs.lease_next(services.engine, "other", lease_seconds=60, models=("Ticket",)) is None
    assert await run == "DONE"
    assert len(await stored(services, tickets, account)) == 6
