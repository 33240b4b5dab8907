"""The sync engine against the fake vendor over HTTP: initial, incremental, deletions, dependents,
resumption, failures and honest status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import false, select, update

from app.api.state import Services
from app.db import accounts as account_store
from app.db import syncstate
from app.db.accounts import NewLinkedAccount
from app.db.tables import comments, sync_parents, sync_state, tickets
from app.services import build_services
from app.settings import Settings
from app.sync import jobs
from app.sync import runner as runner_module
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from connectors.http import IN_FLIGHT, RateLimiter, RetryPolicy
from tests import fakes
from tests.app.conftest import LOOPBACK, desk_url

DESK = desk_url("sync")


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    fakes.DESKS.clear()
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="k", outbound_allow=LOOPBACK)
    http = httpx.AsyncClient(transport=httpx.MockTransport(fakes.vendor_api))
    services = build_services(settings, http_client=http, retry=RetryPolicy.for_tests())
    yield services
    await http.aclose()
    await services.engine.dispose()


async def link(services: Services, key: str = fakes.GOOD_KEY, *, origin: str = "o") -> str:
    async with services.engine.begin() as conn:
        org = await account_store.ensure_organization(conn)
        account, _token, _ = await account_store.link_account(
            conn,
            services.box,
            NewLinkedAccount(
                organization_id=org,
                integration="fakedesk",
                end_user_origin_id=origin,
                end_user_organization_name="O",
                end_user_email_address="o@example.com",
                base_url=DESK,
                credentials={"api_key": key},
            ),
        )
        await syncstate.ensure_models(conn, account.id, ["Ticket", "Comment"])
    return account.id


def worker(services: Services) -> Worker:
    # Finished jobs are not due again for an hour; a dependent waiting for its parent retries at once.
    return Worker(
        services,
        WorkerConfig(runner=RunnerConfig(interval_seconds=3600, waiting_seconds=0, since_overlap_seconds=0)),
    )


async def make_due(services: Services) -> None:
    """Time passes: every finished job is due for its next incremental run."""
    async with services.engine.begin() as conn:
        await conn.execute(
            update(sync_state).where(sync_state.c.next_sync_start.is_not(None)).values(next_sync_start=0)
        )


async def stored(
    services: Services, table: Any, account: str, *, deleted: bool = False
) -> dict[str, dict[str, Any]]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            select(table.c.remote_id, table.c.remote_was_deleted, table.c.data).where(
                table.c.linked_account_id == account
            )
        )
        import msgspec

        return {r.remote_id: msgspec.json.decode(r.data) for r in rows if deleted or not r.remote_was_deleted}


async def status(services: Services, account: str) -> dict[str, Any]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(select(sync_state).where(sync_state.c.linked_account_id == account))
        return {r.model: r for r in rows}


def seed_vendor(n: int = 8, comments_per: int = 2) -> fakes.FakeDesk:
    d = fakes.desk(DESK)
    for i in range(n):
        d.put_ticket({"id": f"t{i}", "title": f"Ticket {i}", "priority": "HIGH"})
        for j in range(comments_per):
            d.put_comment(
                {"id": f"c{i}-{j}", "ticket_id": f"t{i}", "text": f"comment {j}", "internal": j == 1}
            )
    return d


async def test_initial_sync_reads_everything_and_reports_done(services: Services) -> None:
    seed_vendor()
    account = await link(services)
    ran = await worker(services).run_until_idle()
    assert ran >= 2
    assert sorted(await stored(services, tickets, account)) == sorted(f"t{i}" for i in range(8))
    assert len(await stored(services, comments, account)) == 16
    st = await status(services, account)
    for model in ("Ticket", "Comment"):
        assert st[model].status == "DONE" and st[model].last_sync_result == "DONE"
        assert st[model].is_initial_sync is False and st[model].checkpoint is None
        assert st[model].data_fresh_as_of is not None and st[model].last_sync_finished is not None
    assert st["Ticket"].run_records == 8
    assert st["Ticket"].data_fresh_as_of <= st["Ticket"].last_sync_finished


async def test_comments_see_parents_queued_while_they_looked_at_the_ticket_sync(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket run that finishes between the comment job's last look at its queue and its look at the
    tickets' state: the comment job must read the parents that run queued, not say DONE over them (they
    would wait a whole interval). Seen under load in the three-worker test."""
    seed_vendor(n=3)
    account = await link(services)
    real_state_of = jobs.state_of
    interleaved = []
    w = worker(services)  # one worker: an account's jobs run in one worker at a time

    async def ticket_run_finishes_first(conn: Any, account_id: str, model: str) -> Any:
        if not interleaved:  # the comment job's queue was empty: now the whole ticket run happens
            interleaved.append(await w.run_one(models=("Ticket",)))
        return await real_state_of(conn, account_id, model)

    monkeypatch.setattr(jobs, "state_of", ticket_run_finishes_first)
    assert await w.run_one(models=("Comment",)) == "DONE"
    assert interleaved == ["DONE"]
    assert len(await stored(services, comments, account)) == 6
    assert (await status(services, account))["Comment"].run_records == 6


async def test_parents_queued_while_comments_finish_are_not_left_for_an_interval(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental ticket run that queues a changed ticket after the comment job's last look at its
    queue, but before the comment job gives its lease back: the comment job is due again at once, not
    an interval later (its release used to overwrite the wake-up)."""
    d = seed_vendor(n=3)
    account = await link(services)
    await worker(services).run_until_idle()
    d.put_comment({"id": "late", "ticket_id": "t1", "text": "late", "internal": False})
    d.put_ticket({**d.tickets["t1"], "title": "Changed"})
    await make_due(services)
    real_release = jobs.release
    interleaved = []
    w = worker(services)  # one worker: an account's jobs run in one worker at a time

    async def ticket_run_lands_first(engine: Any, job: jobs.Job, **values: Any) -> None:
        if job.model == "Comment" and not interleaved:
            interleaved.append(await w.run_one(models=("Ticket",)))
        await real_release(engine, job, **values)

    monkeypatch.setattr(jobs, "release", ticket_run_lands_first)
    assert await w.run_one(models=("Comment",)) == "DONE"
    assert interleaved == ["DONE"]
    monkeypatch.setattr(jobs, "release", real_release)
    # Due now, not in an hour (the worker's interval): the next look reads the late comment.
    assert await worker(services).run_one(models=("Comment",)) == "DONE"
    assert "late" in await stored(services, comments, account)


async def test_incremental_sync_asks_only_for_changes_and_reads_changed_tickets_comments(
    services: Services,
) -> None:
    d = seed_vendor()
    account = await link(services)
    await worker(services).run_until_idle()
    d.requests.clear()
    d.put_ticket({**d.tickets["t3"], "title": "Renamed"})
    d.put_comment({"id": "new", "ticket_id": "t5", "text": "late", "internal": False})
    await make_due(services)
    await worker(services).run_until_idle()
    listing = [r for r in d.requests if r.url.path.endswith("/tickets")]
    assert listing and all("updated_since" in r.url.params for r in listing)
    comment_reads = sorted(r.url.path.split("/")[-2] for r in d.requests if r.url.path.endswith("/comments"))
    assert comment_reads == ["t3", "t5"]  # only the changed tickets, not all eight
    assert (await stored(services, tickets, account))["t3"]["name"] == "Renamed"
    assert "new" in await stored(services, comments, account)


async def queued_parents(services: Services, account: str) -> list[str]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            select(sync_parents.c.parent_remote_id).where(sync_parents.c.linked_account_id == account)
        )
        return sorted(rows.scalars())


async def test_tickets_queue_no_parents_for_a_comment_pass_that_reads_them_all(services: Services) -> None:
    """Before the comment job's first pass, and while a full resync of comments is pending, that pass
    queues every ticket itself: a ticket run queuing them too would only cost writes. Once the pass has
    begun, changed tickets are queued again."""
    d = seed_vendor(n=4)
    account = await link(services)
    assert await worker(services).run_one(models=("Ticket",)) == "DONE"
    assert await queued_parents(services, account) == []
    assert await worker(services).run_one(models=("Comment",)) == "DONE"
    assert len(await stored(services, comments, account)) == 8

    async with services.engine.begin() as conn:
        await syncstate.request_resync(conn, account)
    d.put_comment({"id": "resynced", "ticket_id": "t2", "text": "late", "internal": False})
    await make_due(services)
    assert await worker(services).run_one(models=("Ticket",)) == "DONE"
    assert await queued_parents(services, account) == []
    assert await worker(services).run_one(models=("Comment",)) == "DONE"
    assert "resynced" in await stored(services, comments, account)

    d.put_ticket({**d.tickets["t1"], "title": "Changed"})
    await make_due(services)
    assert await worker(services).run_one(models=("Ticket",)) == "DONE"
    assert await queued_parents(services, account) == ["t1"]


async def test_a_comment_pass_cannot_begin_between_a_ticket_page_skipping_the_queue_and_its_commit(
    services: Services,
) -> None:
    """The page's look at the comment job (no pass begun: skip the queue) holds until the page commits:
    the pass, which marks its job's row before it reads the tickets, waits, and then sees the page's
    tickets. Without that, the pass could read the tickets before the page's commit and both would
    skip them."""
    account = await link(services)
    async with services.engine.connect() as page:
        await page.begin()
        await runner_module._queue_parents(page, account, ["Comment"], {"t1"})
        assert (await page.execute(select(sync_parents.c.parent_remote_id))).all() == []  # skipped

        async def pass_begins() -> None:
            async with services.engine.begin() as conn:
                await conn.execute(
                    update(sync_state)
                    .where(sync_state.c.linked_account_id == account, sync_state.c.model == "Comment")
                    .values(checkpoint=runner_module.ALL_PARENTS_QUEUED)
                )

        marking = asyncio.ensure_future(pass_begins())
        await asyncio.sleep(0.5)
        assert not marking.done()  # waits for the page
        await page.commit()
    await asyncio.wait_for(marking, 10)


async def test_comments_read_ahead_are_stored_in_queue_order_and_stop_at_a_failing_ticket(
    services: Services,
) -> None:
    vendor = seed_vendor(n=12, comments_per=1)
    vendor.page_size = 100  # one page: every ticket is queued at once, so the queue is in id order
    account = await link(services)
    services.limiters[account] = RateLimiter(concurrency=IN_FLIGHT)  # reads of several tickets at once
    order = sorted(vendor.tickets)
    vendor.failing_comments = {order[5]}
    await worker(services).run_until_idle()
    # The tickets before the failing one are stored, in order; the reads started after it were not.
    assert set(await stored(services, comments, account)) == {f"c{t[1:]}-0" for t in order[:5]}
    assert sorted(await queued_parents(services, account)) == order[5:]
    comment_job = (await status(services, account))["Comment"]
    assert comment_job.last_error and "500" in comment_job.last_error
    vendor.failing_comments.clear()
    await make_due(services)
    await worker(services).run_until_idle()
    assert set(await stored(services, comments, account)) == {f"c{t[1:]}-0" for t in order}
    assert await queued_parents(services, account) == []


async def test_vendor_tombstones_mark_records_deleted(services: Services) -> None:
    d = seed_vendor()
    account = await link(services)
    await worker(services).run_until_idle()
    d.delete_ticket("t2")
    await make_due(services)
    await worker(services).run_until_idle()
    everything = await stored(services, tickets, account, deleted=True)
    assert everything["t2"]["remote_was_deleted"] is True
    assert "t2" not in await stored(services, tickets, account)


async def test_full_resync_detects_deletions_the_vendor_never_reported(services: Services) -> None:
    d = seed_vendor()
    account = await link(services)
    await worker(services).run_until_idle()
    d.tickets.pop("t6")  # gone without a tombstone
    async with services.engine.begin() as conn:
        await syncstate.request_resync(conn, account)
    await worker(services).run_until_idle()
    assert (await stored(services, tickets, account, deleted=True))["t6"]["remote_was_deleted"] is True
    assert len(await stored(services, tickets, account)) == 7


async def test_interrupted_run_resumes_from_its_checkpoint(services: Services) -> None:
    d = seed_vendor(n=9)
    account = await link(services)
    # Fail the third page once: the first two pages are stored with their checkpoint.
    calls = {"n": 0}
    original = fakes.vendor_api

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tickets"):
            calls["n"] += 1
            if calls["n"] == 3:
                return httpx.Response(400, json={"error": "boom"})
        return original(request)

    services.http._transport = httpx.MockTransport(flaky)
    w = worker(services)
    assert await w.run_one(models=("Ticket",)) == "FAILED"
    st = (await status(services, account))["Ticket"]
    assert st.run_records == 6 and st.last_error
    assert len(await stored(services, tickets, account)) == 6
    await make_due(services)
    d.requests.clear()
    services.http._transport = httpx.MockTransport(original)
    assert await w.run_one(models=("Ticket",)) == "DONE"
    assert len(await stored(services, tickets, account)) == 9


async def test_crash_mid_run_resumes_from_the_checkpoint_not_the_start(services: Services) -> None:
    d = seed_vendor(n=9, comments_per=0)
    account = await link(services)
    w = worker(services)
    job = await jobs.lease_next(services.engine, "dead-worker", lease_seconds=0.01, models=("Ticket",))
    assert job is not None
    # Simulate a worker that stored two pages and died: checkpoint saved, lease expired. Interrupted
    # once the first page is stored, it still stores the second, handed to the database with it
    # (``WRITES_AHEAD``), and not the third.
    assert runner_module.WRITES_AHEAD == 2
    runner = w.runner

    def stop_after_one(model: str, count: int) -> None:
        raise KeyboardInterrupt

    runner.progress = stop_after_one
    with pytest.raises(KeyboardInterrupt):
        await runner.run(job)
    runner.progress = None
    async with services.engine.begin() as conn:  # the dead worker's lease runs out
        await conn.execute(update(sync_state).values(lease_expires_at=0))
    st = (await status(services, account))["Ticket"]
    assert st.checkpoint is not None and st.run_records == 6
    d.requests.clear()
    assert await w.run_one(models=("Ticket",)) == "DONE"
    first = d.requests[0]
    assert first.url.params.get("cursor") == "6"  # continued after the stored pages
    assert len(await stored(services, tickets, account)) == 9


async def test_comments_do_not_wait_forever_for_a_failed_ticket_sync(services: Services) -> None:
    seed_vendor(n=2)
    account = await link(services, key="revoked")
    assert await worker(services).run_until_idle() == 2
    st = await status(services, account)
    assert st["Ticket"].status == "FAILED"
    assert st["Comment"].status == "FAILED" and "credentials" in st["Comment"].last_error


async def test_refused_credentials_fail_the_job_and_ask_for_relink(services: Services) -> None:
    seed_vendor(n=2)
    account = await link(services, key="revoked")
    assert await worker(services).run_one(models=("Ticket",)) == "FAILED"
    st = (await status(services, account))["Ticket"]
    assert st.status == "FAILED" and st.next_sync_start is None and "credentials" in st.last_error
    async with services.engine.connect() as conn:
        assert (await account_store.account_by_id(conn, account)).status == "RELINK_NEEDED"
    assert await worker(services).run_one() is None  # nothing is retried until the account is relinked


async def test_a_worker_never_runs_a_job_leased_by_another(services: Services) -> None:
    seed_vendor(n=2)
    await link(services)
    first = await jobs.lease_next(services.engine, "a", lease_seconds=60)
    second = await jobs.lease_next(services.engine, "a", lease_seconds=60)
    assert first is not None and second is not None and (first.model != second.model)
    assert await jobs.lease_next(services.engine, "a", lease_seconds=60) is None  # none left
    assert await jobs.lease_next(services.engine, "c", lease_seconds=60) is None  # "a" holds them


async def test_an_accounts_jobs_run_in_one_worker_at_a_time(services: Services) -> None:
    # The account's rate limiter lives in the worker's process: two workers would each spend its quota.
    seed_vendor(n=2)
    engine = services.engine
    shared = await link(services)
    other = await link(services, origin="p")
    first = await jobs.lease_next(engine, "a", lease_seconds=60, account_id=shared)
    assert first is not None
    assert await jobs.lease_next(engine, "b", lease_seconds=60, account_id=shared) is None
    assert await jobs.lease_next(engine, "ab", lease_seconds=60, account_id=shared) is None  # not "a"
    # Another account's jobs are free for the other worker; the holder runs the account's other job.
    elsewhere = await jobs.lease_next(engine, "b", lease_seconds=60)
    assert elsewhere is not None and elsewhere.linked_account_id == other
    beside = await jobs.lease_next(engine, "a", lease_seconds=60, account_id=shared)
    assert beside is not None and beside.model != first.model
    # Given back, the account's jobs are anyone's again.
    await jobs.release(engine, first)
    assert await jobs.lease_next(engine, "b", lease_seconds=60, account_id=shared) is None  # one left
    await jobs.release(engine, beside)
    taken = await jobs.lease_next(engine, "b", lease_seconds=60, account_id=shared)
    assert taken is not None and taken.linked_account_id == shared


async def test_a_dead_workers_expired_leases_do_not_hold_its_accounts_other_jobs(services: Services) -> None:
    seed_vendor(n=2)
    account = await link(services)
    dead = await jobs.lease_next(services.engine, "dead", lease_seconds=0.000001, models=("Ticket",))
    assert dead is not None
    taken = await jobs.lease_next(services.engine, "alive", lease_seconds=60, models=("Comment",))
    assert taken is not None and (taken.linked_account_id, taken.owner) == (account, "alive")


async def test_expired_lease_is_taken_over(services: Services) -> None:
    seed_vendor(n=2)
    await link(services)
    stale = await jobs.lease_next(services.engine, "dead", lease_seconds=0.000001, models=("Ticket",))
    assert stale is not None
    taken = await jobs.lease_next(services.engine, "alive", lease_seconds=60, models=("Ticket",))
    assert taken is not None and taken.owner == "alive"
    async with services.engine.begin() as conn:
        with pytest.raises(jobs.LeaseLostError):
            await jobs.renew(conn, stale, lease_seconds=60)


async def test_deskbridge_sync_leaves_an_account_another_worker_is_syncing(
    services: Services, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import _sync

    seed_vendor(n=2)
    account = await link(services)
    assert await jobs.lease_next(services.engine, "elsewhere", lease_seconds=60, models=("Ticket",))
    assert await _sync(services.settings, account, None, False) == 1
    err = capsys.readouterr().err
    assert "another worker is syncing this account (Ticket by elsewhere): left to it" in err
    # The comment job, made due by the command, was not run beside the other worker's ticket job.
    st = await status(services, account)
    assert st["Comment"].lease_owner is None and st["Comment"].last_sync_start is None
    assert st["Ticket"].lease_owner.startswith("elsewhere#")


async def test_a_lease_committed_while_another_worker_picked_is_seen_before_it_leases(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under READ COMMITTED a pick sees the leases as of its start: one committed meanwhile (by the
    # worker whose lock on the account it then gets) is invisible to it. Played here by a pick that
    # sees no leases at all; the check made after the lock must still refuse the account.
    seed_vendor(n=2)
    account = await link(services)
    assert await jobs.lease_next(services.engine, "a", lease_seconds=60, models=("Ticket",))
    real = jobs._leases_elsewhere
    calls: list[object] = []

    def blind_pick(account_id: Any, owner: str, now: int) -> Any:
        calls.append(account_id)
        leases = real(account_id, owner, now)
        return leases.where(false()) if len(calls) == 1 else leases

    monkeypatch.setattr(jobs, "_leases_elsewhere", blind_pick)
    assert await jobs.lease_next(services.engine, "b", lease_seconds=60, account_id=account) is None
    assert len(calls) == 2
    async with services.engine.connect() as conn:
        assert (await jobs.state_of(conn, account, "Comment")).lease_owner is None
