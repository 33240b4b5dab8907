"""Models carried by another model's stream (``Stream.carries``): Zendesk's users export holds both
Contacts (end users) and Users (agents, admins), and a comment's Attachments come with it. The export is
read once for both; the carried models' records are stored and enumerated with the carrier's pages, and
their sync status follows the carrier's runs (the outcome, the counts, deletions found by a full pass).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app import cli
from app.api.state import Services
from app.db import syncstate
from app.db.tables import attachments, contacts, sync_state, users
from app.services import build_services
from app.settings import Settings
from app.sync import jobs
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from connectors.http import RetryPolicy
from emulators.common.clock import Clock
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.zendesk.app import create_app
from emulators.zendesk.config import ZendeskConfig
from tests.support.linking import link_desk

CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
USERS_EXPORT = "/api/v2/incremental/users/cursor.json"


@pytest.fixture
def emulator() -> Iterator[tuple[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"  # the links it writes (next pages, export cursors) point here
    # The desk changes and syncs again at once: no export lag (``test_a_change_inside_the_export_lag_...``
    # keeps Zendesk's minute).
    config = ZendeskConfig(
        tickets=12, seed=5, base_url=url, rate_limit=RateLimit(enabled=False), export_lag_seconds=0
    )
    app = create_app(config)
    with ServerThread(app, port=port):
        yield url, app


@pytest.fixture
def desk(emulator: tuple[str, Any]) -> str:
    return emulator[0]


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Services, Counter[str]]]:
    paths: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        paths[request.url.path] += 1

    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="k", outbound_allow=("127.0.0.0/8",)
    )
    http = httpx.AsyncClient(timeout=30, event_hooks={"request": [count]})
    services = build_services(settings, http_client=http, retry=RetryPolicy.for_tests(attempts=2))
    yield services, paths
    await http.aclose()
    await services.engine.dispose()


def worker(services: Services) -> Worker:
    return Worker(services, WorkerConfig(runner=RunnerConfig(interval_seconds=3600, waiting_seconds=0)))


def people(url: str) -> tuple[set[str], set[str]]:
    """The emulator's (end users, agents and admins) by id: its own truth."""
    with httpx.Client(base_url=url) as http:
        ids = http.get("/_emulator/tables/users").json()["ids"]
        roles = {str(i): http.get(f"/_emulator/tables/users/{i}").json()["role"] for i in ids}
    return {i for i, r in roles.items() if r == "end-user"}, {i for i, r in roles.items() if r != "end-user"}


async def stored(services: Services, table: Any, account: str) -> dict[str, bool]:
    """remote id -> flagged deleted, of what the store holds for ``account``."""
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            select(table.c.remote_id, table.c.remote_was_deleted).where(table.c.linked_account_id == account)
        )
        return {r.remote_id: bool(r.remote_was_deleted) for r in rows}


async def synced_with_two_people(services: Services, desk: str) -> tuple[str, str, str]:
    """A linked desk after its initial sync: (account id, an end user's id, an agent's id)."""
    account = await link_desk(services, "zendesk", desk, CREDENTIALS, "carried")
    await worker(services).run_until_idle()
    end_users, agents = people(desk)
    return account, sorted(end_users)[0], sorted(agents - {"5100000000000"})[0]  # not the admin


async def next_run_due(services: Services) -> None:
    """Time passes: the Contact job (the users export) is due for its next run."""
    async with services.engine.begin() as conn:
        await conn.execute(
            update(sync_state).where(sync_state.c.model == "Contact").values(next_sync_start=0)
        )


async def state(services: Services, account: str) -> dict[str, Any]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(select(sync_state).where(sync_state.c.linked_account_id == account))
        return {r.model: r for r in rows}


async def test_one_pass_over_the_users_export_stores_contacts_and_users(
    desk: str, services: tuple[Services, Counter[str]]
) -> None:
    svc, paths = services
    account = await link_desk(svc, "zendesk", desk, CREDENTIALS, "carried")
    paths.clear()
    await worker(svc).run_until_idle()

    assert paths[USERS_EXPORT] == 1  # one page holds them all; read for Contacts and Users at once
    end_users, agents = people(desk)
    assert end_users and agents, "the seeded desk should have both kinds; the case would prove nothing"
    assert await stored(svc, contacts, account) == dict.fromkeys(end_users, False)
    assert await stored(svc, users, account) == dict.fromkeys(agents, False)

    st = await state(svc, account)
    contact, user = st["Contact"], st["User"]
    assert (contact.status, user.status) == ("DONE", "DONE")
    assert user.last_sync_result == "DONE" and user.is_initial_sync is False
    # The same run: the same start, freshness and finish.
    assert user.last_sync_start == contact.last_sync_start
    assert user.data_fresh_as_of == contact.data_fresh_as_of is not None
    assert user.last_sync_finished == contact.last_sync_finished
    # Each model counts its own records; a carried model is never scheduled on its own.
    assert (contact.run_records, user.run_records) == (len(end_users), len(agents))
    assert user.next_sync_start is None and contact.next_sync_start is not None
    # Attachments come with comments: DONE with them, counted, not "DISABLED".
    attachment_ids = await stored(svc, attachments, account)
    assert attachment_ids, "the seeded desk should have attachments"
    assert st["Attachment"].status == "DONE"
    assert st["Attachment"].run_records == len(attachment_ids)
    assert st["Attachment"].data_fresh_as_of == st["Comment"].data_fresh_as_of

    # A relink makes every unscheduled row due; the carried ones answer with their carrier's status
    # at once rather than "SYNCING" until its next run.
    async with svc.engine.begin() as conn:
        await syncstate.resume_all(conn, account)
    paths.clear()
    await worker(svc).run_until_idle()
    after = await state(svc, account)
    assert not paths  # nothing was read again
    assert after["User"].status == after["Attachment"].status == "DONE"
    assert after["User"].data_fresh_as_of == contact.data_fresh_as_of


async def test_a_full_resync_finds_agents_gone_from_the_export(
    emulator: tuple[str, Any], services: tuple[Services, Counter[str]]
) -> None:
    desk, app = emulator
    svc, paths = services
    account = await link_desk(svc, "zendesk", desk, CREDENTIALS, "carried")
    await worker(svc).run_until_idle()
    _end_users, agents = people(desk)
    gone = sorted(agents - {"5100000000000"})[0]  # not the admin the connector authenticates as
    # Permanently deleted, without a trace in the export: only a full pass can tell.
    app.state.desk.users.purge(int(gone))
    _, left = people(desk)
    assert gone not in left

    async with svc.engine.begin() as conn:
        await syncstate.request_resync(conn, account)
    paths.clear()
    await worker(svc).run_until_idle()

    assert paths[USERS_EXPORT] == 1
    flagged = await stored(svc, users, account)
    assert flagged[gone] is True
    assert {i for i, deleted in flagged.items() if not deleted} == left
    st = await state(svc, account)
    assert st["User"].status == "DONE" and st["User"].full_resync_requested is False


async def test_a_carrier_that_fails_fails_its_carried_models_too(
    desk: str, services: tuple[Services, Counter[str]]
) -> None:
    svc, _paths = services
    account = await link_desk(svc, "zendesk", desk, CREDENTIALS, "carried")
    async with httpx.AsyncClient(base_url=desk) as http:  # every API request answers 500 from now on
        assert (await http.put("/_emulator/faults", json={"rate_500": 1.0})).status_code == 200
    w = worker(svc)
    for model in ("User", "Contact"):  # the carried job first: it must not report anything itself
        assert await w.run_one(account_id=account, models=(model,)) is not None

    st = await state(svc, account)
    assert st["Contact"].status == "PARTIALLY_SYNCED"
    assert st["User"].status == "PARTIALLY_SYNCED"
    assert st["User"].last_error == st["Contact"].last_error and "500" in st["User"].last_error
    assert st["User"].next_sync_start is None  # the carrier's retry reads it again


async def test_syncing_only_users_from_the_cli_runs_their_carrier(
    desk: str, services: tuple[Services, Counter[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    svc, _paths = services
    account = await link_desk(svc, "zendesk", desk, CREDENTIALS, "carried")
    assert await cli._sync(svc.settings, account, ("User",), False) == 0

    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    _end_users, agents = people(desk)
    assert set(lines) == {"Contact", "User"}  # the carrier ran too, and says so
    assert lines["User"][1] == "DONE" and lines["User"][2] == str(len(agents))
    assert await stored(svc, users, account) == dict.fromkeys(agents, False)
    assert (await state(svc, account))["Ticket"].last_sync_start is None  # nothing else was read


async def test_the_cli_shows_its_progress_line_not_a_line_per_run(
    desk: str,
    services: tuple[Services, Counter[str]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc, _paths = services
    caplog.set_level(logging.INFO)
    account = await link_desk(svc, "zendesk", desk, CREDENTIALS, "quiet")
    assert await cli._sync(svc.settings, account, ("Ticket",), False) == 0
    assert "synced" in capsys.readouterr().err
    runs = [r for r in caplog.records if r.name == jobs.runs_log.name]
    assert runs == []
    # Outside the command (a worker, the server), each run is logged again.
    w = worker(svc)
    assert await w.run_one(account_id=account, models=("Ticket",), ignore_schedule=True) == "DONE"
    runs = [r for r in caplog.records if r.name == jobs.runs_log.name]
    assert len(runs) == 1 and "/Ticket run " in runs[0].getMessage()
    assert f" released by {w.name}#" in runs[0].getMessage()


async def test_deleted_users_in_an_incremental_export_are_flagged_in_their_own_model(
    desk: str, services: tuple[Services, Counter[str]]
) -> None:
    svc, paths = services
    account, customer, agent = await synced_with_two_people(svc, desk)
    async with httpx.AsyncClient(base_url=desk) as http:  # Zendesk keeps them, inactive, in the export
        for remote_id in (customer, agent):
            assert (await http.delete(f"/_emulator/tables/users/{remote_id}")).status_code == 204
    await next_run_due(svc)
    paths.clear()
    await worker(svc).run_until_idle()

    assert paths[USERS_EXPORT] == 1
    assert (await stored(svc, contacts, account))[customer] is True
    assert (await stored(svc, users, account))[agent] is True
    # Nothing else changed: only the two are flagged, and each in its own model.
    assert sum((await stored(svc, contacts, account)).values()) == 1
    assert sum((await stored(svc, users, account)).values()) == 1
    st = await state(svc, account)
    assert (st["Contact"].status, st["User"].status) == ("DONE", "DONE")
    assert (st["Contact"].run_records, st["User"].run_records) == (1, 1)  # the tombstones, nothing more


async def test_a_role_change_moves_the_person_between_contacts_and_users(
    desk: str, services: tuple[Services, Counter[str]]
) -> None:
    svc, paths = services
    account, customer, agent = await synced_with_two_people(svc, desk)

    async def change_roles(roles: dict[str, str]) -> None:
        auth = (f"{CREDENTIALS['email']}/token", CREDENTIALS["api_token"])
        async with httpx.AsyncClient(base_url=desk, auth=auth) as http:
            for remote_id, role in roles.items():
                put = await http.put(f"/api/v2/users/{remote_id}.json", json={"user": {"role": role}})
                assert put.status_code == 200
        await next_run_due(svc)
        paths.clear()
        await worker(svc).run_until_idle()
        assert paths[USERS_EXPORT] == 1  # incremental: the export, not a full pass's diff

    await change_roles({customer: "agent", agent: "end-user"})  # promoted, and demoted
    contact_rows, user_rows = await stored(svc, contacts, account), await stored(svc, users, account)
    assert (contact_rows[customer], user_rows[customer]) == (True, False)
    assert (contact_rows[agent], user_rows[agent]) == (False, True)
    assert sum(contact_rows.values()) == sum(user_rows.values()) == 1  # nobody else moved
    st = await state(svc, account)
    assert (st["Contact"].run_records, st["User"].run_records) == (2, 2)  # one stored, one flagged each

    # Exports order changes by the second, as Zendesk's cursors do ("{timestamp}.0||{id}|"): a change
    # in the same second as the cursor's own position of the same user would sort before the cursor.
    await asyncio.sleep(1.01 - time.time() % 1)
    await change_roles({customer: "end-user"})  # and back: the contact is live again, the user gone
    contact_rows, user_rows = await stored(svc, contacts, account), await stored(svc, users, account)
    assert (contact_rows[customer], user_rows[customer]) == (False, True)


async def test_a_change_inside_the_export_lag_is_read_by_the_first_run_after_it(
    services: tuple[Services, Counter[str]],
) -> None:
    """Zendesk's exports leave out the last minute's changes: a run made meanwhile must not step over
    them (its cursor stops before them), and the first run after the minute reads them."""
    svc, _ = services
    # The desk's clock stands still, a few seconds behind ours (vendor clocks differ a little).
    clock = Clock(frozen=time.time() - 5)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = ZendeskConfig(tickets=12, seed=5, base_url=url, rate_limit=RateLimit(enabled=False))
    assert config.export_lag_seconds == 60  # Zendesk's minute
    with ServerThread(create_app(config, clock), port=port):
        account = await link_desk(svc, "zendesk", url, CREDENTIALS, "lagged")
        await worker(svc).run_until_idle()
        customer = sorted(people(url)[0])[0]
        auth = (f"{CREDENTIALS['email']}/token", CREDENTIALS["api_token"])
        async with httpx.AsyncClient(base_url=url, auth=auth) as http:
            put = await http.put(f"/api/v2/users/{customer}.json", json={"user": {"role": "agent"}})
            assert put.status_code == 200

        async def next_run() -> None:
            await next_run_due(svc)
            await worker(svc).run_until_idle()

        clock.advance(30)
        await next_run()  # inside the minute: the export does not show the change yet
        assert customer not in await stored(svc, users, account)
        assert (await stored(svc, contacts, account))[customer] is False
        clock.advance(31)
        await next_run()  # the minute has passed
        assert (await stored(svc, users, account))[customer] is False
        assert (await stored(svc, contacts, account))[customer] is True
