"""Leases belong to one run, not to a worker: a worker that leases a job again (its own earlier run of
it stalled past the lease) must not share the new lease with the stalled run."""

from __future__ import annotations

import pytest

from app.api.state import Services
from app.sync import jobs
from tests.app.test_sync_engine import link, seed_vendor, services

__all__ = ["services"]  # the fixture, re-exported for pytest


async def test_a_stalled_run_loses_its_lease_to_the_same_workers_next_run(services: Services) -> None:
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
    # Nor may the stalled run give the job back (and its outcome) under the new run's feet.
    await jobs.release(services.engine, stalled, status="DONE")
    async with services.engine.connect() as conn:
        row = await jobs.state_of(conn, again.linked_account_id, "Ticket")
    assert row.status != "DONE" and row.run_records == 2 and row.lease_expires_at is not None
