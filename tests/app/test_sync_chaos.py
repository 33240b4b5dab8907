"""Chaos: syncs through a vendor that throttles, fails, hangs up and truncates bodies, and still ends
with a store equal to the vendor's data.

Each emulator runs on loopback (real sockets: a dropped connection is a closed socket) and injects
faults at the rates below on every API request. The worker retries within a request (tenacity) and,
when a request still fails, the job ends ``PARTIALLY_SYNCED``/``FAILED`` and resumes from its checkpoint
at its next run — which this test makes due at once. After an initial full sync, the vendor changes
(new tickets with comments, edited subjects, new comments, deleted tickets) and an incremental sync
plus a full resync run under the same faults. Each time the store must hold exactly the vendor's live
tickets (no duplicates, the vendor's subjects), exactly its comments per ticket, and the deleted
tickets flagged ``remote_was_deleted``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.api.state import Services
from app.asgi import build_services
from app.db import syncstate
from app.db.tables import comments, sync_state, tickets
from app.settings import Settings
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from connectors.http import Quota, RateLimiter, RetryPolicy
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests.support.linking import link_desk

#: Per request: 8% throttled (Retry-After 0), 6% 500, 4% hung up, 4% truncated body, 3% slow.
FAULTS = {
    "rate_429": 0.08,
    "rate_500": 0.06,
    "rate_drop": 0.04,
    "rate_truncate": 0.04,
    "rate_slow": 0.03,
    "slow_seconds": 0.05,
    "retry_after": 0,
}
KINDS = ("drop", "truncate", "500", "429", "slow")
NO_FAULTS = {k: 0.0 for k in FAULTS if k.startswith("rate_")}
TICKETS = 60
#: A model the connector does not read on its own (Zendesk attachments come with comments) is DISABLED.
SETTLED = ("DONE", "DISABLED")
ROUNDS = 40  # worker rounds allowed to settle one sync; each round resumes what failed


@dataclass
class Vendor:
    """One emulated desk and how to talk to it."""

    name: str
    url: str
    auth: httpx.Auth
    credentials: dict[str, str]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.url}{path}", json=body, auth=self.auth, timeout=30)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def faults(self, values: dict[str, Any]) -> None:
        r = httpx.put(f"{self.url}/_emulator/faults", json=values, timeout=30)
        assert r.status_code == 200, r.text

    def injected(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/_emulator/health", timeout=30).json()["injected"])

    def ids(self, *, deleted: bool = False) -> set[str]:
        r = httpx.get(
            f"{self.url}/_emulator/tables/tickets", params={"deleted": 1} if deleted else {}, timeout=30
        )
        assert r.status_code == 200, r.text
        return {str(i) for i in r.json()["ids"]}

    def ticket(self, remote_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/_emulator/tables/tickets/{remote_id}", timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        return body.get("ticket", body)  # type: ignore[no-any-return]

    def comment_ids(self, remote_id: str) -> list[str]:
        if self.name == "zendesk":
            body = self.api("GET", f"/api/v2/tickets/{remote_id}/comments.json?per_page=100")
            return [str(c["id"]) for c in body["comments"]]
        return [
            str(c["id"]) for c in self.api("GET", f"/api/v2/tickets/{remote_id}/conversations?per_page=100")
        ]

    # --- changes, as an agent would make them ---------------------------------------------------

    def create_ticket(self, n: int) -> str:
        if self.name == "zendesk":
            body = {"ticket": {"subject": f"Chaos {n}", "comment": {"body": f"first {n}"}}}
            return str(self.api("POST", "/api/v2/tickets.json", body)["ticket"]["id"])
        body = {"subject": f"Chaos {n}", "description": f"first {n}", "email": f"c{n}@example.com"}
        body |= {"status": 2, "priority": 1}
        return str(self.api("POST", "/api/v2/tickets", body)["id"])

    def rename(self, remote_id: str, subject: str) -> None:
        if self.name == "zendesk":
            self.api("PUT", f"/api/v2/tickets/{remote_id}.json", {"ticket": {"subject": subject}})
        else:
            self.api("PUT", f"/api/v2/tickets/{remote_id}", {"subject": subject})

    def comment(self, remote_id: str, text: str) -> None:
        if self.name == "zendesk":
            body = {"ticket": {"comment": {"body": text, "public": True}}}
            self.api("PUT", f"/api/v2/tickets/{remote_id}.json", body)
        else:
            self.api("POST", f"/api/v2/tickets/{remote_id}/reply", {"body": text})

    def delete(self, remote_id: str) -> None:
        r = httpx.delete(f"{self.url}/_emulator/tables/tickets/{remote_id}", timeout=30)
        assert r.status_code in (200, 204), r.text


@pytest.fixture(params=["zendesk", "freshdesk"])
def vendor(request: pytest.FixtureRequest) -> Iterator[Vendor]:
    name = str(request.param)
    limits = RateLimit(enabled=False)
    port = free_port()  # known before the app exists: its URLs carry it
    url = f"http://127.0.0.1:{port}"
    if name == "zendesk":
        app = create_zendesk(ZendeskConfig(tickets=TICKETS, seed=11, base_url=url, rate_limit=limits))
        auth: httpx.Auth = httpx.BasicAuth("admin@acme.test/token", "zd-api-token")
        creds = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
    else:
        app = create_freshdesk(FreshdeskConfig(tickets=TICKETS, seed=11, base_url=url, rate_limit=limits))
        auth = httpx.BasicAuth("fd-api-key", "X")
        creds = {"domain": "acme", "api_key": "fd-api-key"}
    with ServerThread(app, port=port):
        yield Vendor(name, url, auth, creds)


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="chaos", outbound_allow=("127.0.0.0/8",)
    )
    svc = build_services(settings, retry=RetryPolicy.for_tests(attempts=4))
    yield svc
    await svc.http.aclose()
    await svc.engine.dispose()


async def _link(services: Services, vendor: Vendor) -> str:
    account_id = await link_desk(
        services, vendor.name, vendor.url, vendor.credentials, f"chaos-{vendor.name}"
    )
    # The emulators do not throttle here: a sandbox quota, so only the injected 429s slow us.
    services.limiters[account_id] = RateLimiter([Quota(requests=100_000, per=60)])
    return account_id


async def _settle(services: Services, account_id: str) -> int:
    """Run the worker until every model is DONE, making unfinished jobs due again between rounds."""
    worker = Worker(services, WorkerConfig(runner=RunnerConfig(interval_seconds=3600, waiting_seconds=0)))
    for round_ in range(1, ROUNDS + 1):
        await worker.run_until_idle(account_id=account_id)
        async with services.engine.begin() as conn:
            rows = await syncstate.list_status(conn, account_id)
            if all(r.status in SETTLED for r in rows):
                return round_
            await conn.execute(
                update(sync_state)
                .where(sync_state.c.linked_account_id == account_id, sync_state.c.status.not_in(SETTLED))
                .values(next_sync_start=0, lease_expires_at=None)
            )
    pytest.fail(
        f"sync did not settle in {ROUNDS} rounds: {[(r.model, r.status, r.last_error) for r in rows]}"
    )


async def _due_now(services: Services, account_id: str, *, full: bool = False) -> None:
    async with services.engine.begin() as conn:
        if full:
            await syncstate.request_resync(conn, account_id)
        await conn.execute(
            update(sync_state).where(sync_state.c.linked_account_id == account_id).values(next_sync_start=0)
        )


StoreView = tuple[Counter[str], set[str], dict[str, str], Counter[str]]


async def _store(services: Services, account_id: str) -> StoreView:
    """(live ticket remote ids with multiplicity, deleted ticket remote ids, subject by id, comments per
    ticket remote id)."""
    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(tickets.c.id, tickets.c.remote_id, tickets.c.name, tickets.c.remote_was_deleted).where(
                    tickets.c.linked_account_id == account_id
                )
            )
        ).all()
        comment_rows = (
            await conn.execute(
                select(comments.c.ticket_id, comments.c.remote_was_deleted).where(
                    comments.c.linked_account_id == account_id
                )
            )
        ).all()
    live = Counter(r.remote_id for r in rows if not r.remote_was_deleted)
    deleted = {r.remote_id for r in rows if r.remote_was_deleted}
    remote_of = {r.id: r.remote_id for r in rows}
    per_ticket = Counter(remote_of[c.ticket_id] for c in comment_rows if not c.remote_was_deleted)
    return live, deleted, {r.remote_id: r.name for r in rows}, per_ticket


async def _assert_store_equals_vendor(services: Services, account_id: str, vendor: Vendor) -> None:
    vendor.faults(NO_FAULTS)  # reading the vendor's truth must not be disturbed
    try:
        live, deleted, names, per_ticket = await _store(services, account_id)
        expected = vendor.ids()
        assert set(live) == expected, (sorted(set(live) - expected), sorted(expected - set(live)))
        assert max(live.values()) == 1  # no duplicates
        for remote_id in expected:
            subject = vendor.ticket(remote_id).get("subject")
            assert names[remote_id] == subject, (remote_id, names[remote_id], subject)
            assert per_ticket[remote_id] == len(vendor.comment_ids(remote_id)), remote_id
        gone = vendor.ids(deleted=True)
        assert gone & set(names) <= deleted  # every deleted ticket we had is flagged
        assert not deleted - gone  # and nothing else is
    finally:
        vendor.faults(FAULTS)


async def test_chaos_full_then_incremental_sync_ends_equal_to_the_vendor(
    services: Services, vendor: Vendor
) -> None:
    account_id = await _link(services, vendor)
    vendor.faults(FAULTS | {"script": list(KINDS)})  # every kind at least once, then at random

    rounds = await _settle(services, account_id)
    await _assert_store_equals_vendor(services, account_id, vendor)
    first_faults = vendor.injected()

    vendor.faults(NO_FAULTS)
    existing = sorted(vendor.ids(), key=int)
    created = [vendor.create_ticket(n) for n in range(5)]
    for remote_id in existing[:6]:
        vendor.rename(remote_id, f"Renamed {remote_id}")
    for remote_id in existing[6:10] + created[:2]:
        vendor.comment(remote_id, f"later reply on {remote_id}")
    for remote_id in existing[10:13]:
        vendor.delete(remote_id)
    vendor.faults(FAULTS | {"script": list(KINDS)})

    await _due_now(services, account_id)
    rounds += await _settle(services, account_id)
    await _due_now(services, account_id, full=True)  # deletions a vendor never reports: by full diff
    rounds += await _settle(services, account_id)
    await _assert_store_equals_vendor(services, account_id, vendor)

    faults = vendor.injected()
    # The faults really happened, of every kind, in both phases (the test cannot pass vacuously).
    assert all(first_faults.get(kind, 0) >= 1 for kind in KINDS), first_faults
    assert all(faults.get(kind, 0) > first_faults[kind] for kind in KINDS), (first_faults, faults)
    assert sum(faults.values()) >= 20, faults
    live, _deleted, _names, _comments = await _store(services, account_id)
    assert len(live) == TICKETS + len(created) - 3
    print(f"{vendor.name}: settled in {rounds} worker rounds; faults injected: {faults}")
