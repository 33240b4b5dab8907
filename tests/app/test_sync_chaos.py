"""Chaos: syncs through a vendor that throttles, fails, hangs up and truncates bodies, and still ends
with a store equal to the vendor's data.

Each emulator runs on loopback (real sockets: a dropped connection is a closed socket) and injects
faults at the rates below on every API request. The worker retries within a request (tenacity) and,
when a request still fails, the job ends ``PARTIALLY_SYNCED``/``FAILED`` and resumes from its checkpoint
at its next run — which this test makes due at once. Page sizes are forced small (``PAGE_SIZES``) so
the tickets and people span several pages each and many tickets' comments span pages: a fault lands
mid-stream, after checkpoints. After an initial full sync, the vendor changes (new tickets with
comments — on Freshdesk with new requesters, i.e. new contacts —, edited subjects and statuses, new
comments, deleted tickets) and an incremental sync runs under the same faults, then (a Freshdesk contact
deleted too: its list omits deleted rows, only a full pass tells) a full resync. Each time the store
must hold exactly the vendor's live tickets (no duplicates, the vendor's subjects and statuses), exactly
its comments per ticket (by id), exactly its contacts and users, and the deleted tickets flagged
``remote_was_deleted``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.api.state import Services
from app.db import syncstate
from app.db.tables import comments, contacts, sync_state, tickets, users
from app.services import build_services
from app.settings import Settings
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from connectors.freshdesk import connector as freshdesk_connector
from connectors.freshdesk import mapping as freshdesk_mapping
from connectors.http import IN_FLIGHT, Quota, RateLimiter, RetryPolicy
from connectors.http.clock import ScaledClock
from connectors.streams import Stream
from connectors.zendesk import mapping as zendesk_mapping
from connectors.zendesk.connector import ZendeskConnector
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests.support.linking import link_desk

#: Per request: 8% throttled (Retry-After 2 s, waited out on the limiter's clock running ``SCALE``
#: times faster), 6% 500, 4% hung up, 4% truncated body, 3% slow.
FAULTS = {
    "rate_429": 0.08,
    "rate_500": 0.06,
    "rate_drop": 0.04,
    "rate_truncate": 0.04,
    "rate_slow": 0.03,
    "slow_seconds": 0.05,
    "retry_after": 2,
}
SCALE = 100.0
KINDS = ("drop", "truncate", "500", "429", "slow")
NO_FAULTS = {k: 0.0 for k in FAULTS if k.startswith("rate_")}
TICKETS = 200
#: Page sizes forced on the connectors' streams (the emulators honour ``per_page``/``page[size]``):
#: 8 pages of tickets, 3 of people, and the comments of most tickets over 2+ pages.
PAGE_SIZES = {"Ticket": "25", "Contact": "25", "User": "25", "Comment": "2"}
SIZE_PARAMS = ("per_page", "page[size]")
#: Every model ends DONE, those read with another's stream too (Zendesk's Users with Contacts, both
#: vendors' Attachments with comments).
SETTLED = ("DONE",)
ROUNDS = 40  # worker rounds allowed to settle one sync; each round resumes what failed


@dataclass
class Vendor:
    """One emulated desk and how to talk to it."""

    name: str
    url: str
    auth: httpx.Auth
    credentials: dict[str, str]
    #: The vendor's raw ticket status -> the common status the store must hold.
    status_of: Callable[[Any], str | None]
    #: A status to set at the vendor, as its API takes it (solved / closed).
    closed: Any
    #: One keep-alive connection for the test's own calls (the emulator's admin view is its truth).
    http: httpx.Client = dataclasses.field(default_factory=lambda: httpx.Client(timeout=30))

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, f"{self.url}{path}", json=body, auth=self.auth)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def faults(self, values: dict[str, Any]) -> None:
        r = self.http.put(f"{self.url}/_emulator/faults", json=values)
        assert r.status_code == 200, r.text

    def injected(self) -> dict[str, int]:
        return dict(self.http.get(f"{self.url}/_emulator/health").json()["injected"])

    def ids(self, *, deleted: bool = False) -> set[str]:
        r = self.http.get(f"{self.url}/_emulator/tables/tickets", params={"deleted": 1} if deleted else {})
        assert r.status_code == 200, r.text
        return {str(i) for i in r.json()["ids"]}

    def ticket(self, remote_id: str) -> dict[str, Any]:
        """The ticket as the emulator holds it, with its comments (Freshdesk: conversations)."""
        return self.row("tickets", remote_id)

    def people(self) -> tuple[set[str], set[str]]:
        """(Contact remote ids, User remote ids): Zendesk splits one users table by role, Freshdesk
        keeps contacts and agents apart."""
        if self.name == "freshdesk":
            return self.table_ids("contacts"), self.table_ids("agents")
        roles = {i: self.row("users", i)["role"] for i in self.table_ids("users")}
        return {i for i, r in roles.items() if r == "end-user"}, {
            i for i, r in roles.items() if r != "end-user"
        }

    def table_ids(self, table: str) -> set[str]:
        r = self.http.get(f"{self.url}/_emulator/tables/{table}")
        assert r.status_code == 200, r.text
        return {str(i) for i in r.json()["ids"]}

    def row(self, table: str, remote_id: str) -> dict[str, Any]:
        r = self.http.get(f"{self.url}/_emulator/tables/{table}/{remote_id}")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def comment_ids(self, ticket: dict[str, Any]) -> set[str]:
        return {str(c["id"]) for c in ticket["comments" if self.name == "zendesk" else "conversations"]}

    # --- changes, as an agent would make them ---------------------------------------------------

    def create_ticket(self, n: int) -> str:
        if self.name == "zendesk":
            body = {"ticket": {"subject": f"Chaos {n}", "comment": {"body": f"first {n}"}}}
            return str(self.api("POST", "/api/v2/tickets.json", body)["ticket"]["id"])
        body = {"subject": f"Chaos {n}", "description": f"first {n}", "email": f"c{n}@example.com"}
        body |= {"status": 2, "priority": 1}
        return str(self.api("POST", "/api/v2/tickets", body)["id"])

    def edit(self, remote_id: str, **fields: Any) -> None:
        if self.name == "zendesk":
            self.api("PUT", f"/api/v2/tickets/{remote_id}.json", {"ticket": fields})
        else:
            self.api("PUT", f"/api/v2/tickets/{remote_id}", fields)

    def comment(self, remote_id: str, text: str) -> None:
        if self.name == "zendesk":
            body = {"ticket": {"comment": {"body": text, "public": True}}}
            self.api("PUT", f"/api/v2/tickets/{remote_id}.json", body)
        else:
            self.api("POST", f"/api/v2/tickets/{remote_id}/reply", {"body": text})

    def delete(self, remote_id: str, table: str = "tickets") -> None:
        r = self.http.delete(f"{self.url}/_emulator/tables/{table}/{remote_id}")
        assert r.status_code in (200, 204), r.text


def _small_pages(stream: Stream) -> Stream:
    size = PAGE_SIZES.get(stream.model)
    if size is None:
        return stream
    return dataclasses.replace(
        stream, params={k: size if k in SIZE_PARAMS else v for k, v in stream.params.items()}
    )


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pages for every connector instance made during the test."""
    zendesk = {model: _small_pages(s) for model, s in ZendeskConnector.streams.items()}
    monkeypatch.setattr(ZendeskConnector, "streams", zendesk)
    fd = freshdesk_connector.FreshdeskConnector
    monkeypatch.setattr(fd, "streams", {model: _small_pages(s) for model, s in fd.streams.items()})
    # A Freshdesk instance builds its tickets stream afresh (bound to its desk URL) from ``PER_PAGE``.
    monkeypatch.setitem(freshdesk_connector.PER_PAGE, "per_page", PAGE_SIZES["Ticket"])


@pytest.fixture(params=["zendesk", "freshdesk"])
def vendor(request: pytest.FixtureRequest, small_pages: None) -> Iterator[Vendor]:
    name = str(request.param)
    limits = RateLimit(enabled=False)
    port = free_port()  # known before the app exists: its URLs carry it
    url = f"http://127.0.0.1:{port}"
    if name == "zendesk":
        # The desk changes and syncs again at once: no export lag (tests/app/test_sync_carried.py keeps
        # Zendesk's minute and shows the next run reads what it held back).
        config = ZendeskConfig(
            tickets=TICKETS, seed=11, base_url=url, rate_limit=limits, export_lag_seconds=0
        )
        app = create_zendesk(config)
        auth: httpx.Auth = httpx.BasicAuth("admin@acme.test/token", "zd-api-token")
        creds = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
    else:
        app = create_freshdesk(FreshdeskConfig(tickets=TICKETS, seed=11, base_url=url, rate_limit=limits))
        auth = httpx.BasicAuth("fd-api-key", "X")
        creds = {"domain": "acme", "api_key": "fd-api-key"}
    if name == "zendesk":
        vendor = Vendor(name, url, auth, creds, zendesk_mapping.STATUS_FROM_VENDOR.get, "solved")
    else:
        vendor = Vendor(name, url, auth, creds, freshdesk_mapping.status_of, 5)
    with ServerThread(app, port=port), vendor.http:
        yield vendor


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="chaos", outbound_allow=("127.0.0.0/8",)
    )
    svc = build_services(settings, retry=RetryPolicy.for_tests(attempts=4))
    yield svc
    await svc.http.aclose()
    await svc.engine.dispose()


class WaitingClock(ScaledClock):
    """Scaled time that adds up how long (in the vendor's seconds) the limiter waited."""

    def __init__(self, scale: float) -> None:
        super().__init__(scale)
        self.waited = 0.0

    async def sleep(self, seconds: float) -> None:
        self.waited += max(0.0, seconds)
        await super().sleep(seconds)


async def _link(services: Services, vendor: Vendor) -> tuple[str, WaitingClock]:
    account_id = await link_desk(
        services, vendor.name, vendor.url, vendor.credentials, f"chaos-{vendor.name}"
    )
    # The emulators do not throttle here: a sandbox quota, so only the injected 429s slow us; several
    # requests in flight, as the connectors' own limiters allow (comments of several tickets at once).
    clock = WaitingClock(SCALE)
    services.limiters[account_id] = RateLimiter(
        [Quota(requests=100_000, per=60)], clock=clock, concurrency=IN_FLIGHT
    )
    return account_id, clock


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


@dataclass
class StoreView:
    live: Counter[str]  # live ticket remote ids, with multiplicity
    deleted: set[str]  # ticket remote ids flagged remote_was_deleted
    subject: dict[str, str | None]
    status: dict[str, str | None]
    comments: dict[str, set[str]]  # ticket remote id -> live comment remote ids
    comment_rows: Counter[str]  # live comment remote ids, with multiplicity
    contacts: Counter[str]  # live contact remote ids, with multiplicity
    users: Counter[str]


async def _store(services: Services, account_id: str) -> StoreView:
    async with services.engine.connect() as conn:

        async def rows(*columns: Any) -> list[Any]:
            table = columns[0].table
            query = select(*columns).where(table.c.linked_account_id == account_id)
            return list((await conn.execute(query)).all())

        ticket_rows = await rows(
            tickets.c.id, tickets.c.remote_id, tickets.c.name, tickets.c.status, tickets.c.remote_was_deleted
        )
        comment_rows = await rows(comments.c.remote_id, comments.c.ticket_id, comments.c.remote_was_deleted)
        contact_rows = await rows(contacts.c.remote_id, contacts.c.remote_was_deleted)
        user_rows = await rows(users.c.remote_id, users.c.remote_was_deleted)
    remote_of = {r.id: r.remote_id for r in ticket_rows}
    per_ticket: dict[str, set[str]] = defaultdict(set)
    for c in comment_rows:
        if not c.remote_was_deleted:
            per_ticket[remote_of[c.ticket_id]].add(c.remote_id)
    return StoreView(
        live=Counter(r.remote_id for r in ticket_rows if not r.remote_was_deleted),
        deleted={r.remote_id for r in ticket_rows if r.remote_was_deleted},
        subject={r.remote_id: r.name for r in ticket_rows},
        status={r.remote_id: r.status for r in ticket_rows},
        comments=per_ticket,
        comment_rows=Counter(c.remote_id for c in comment_rows if not c.remote_was_deleted),
        contacts=Counter(r.remote_id for r in contact_rows if not r.remote_was_deleted),
        users=Counter(r.remote_id for r in user_rows if not r.remote_was_deleted),
    )


def _same(stored: Counter[str], expected: set[str]) -> None:
    assert set(stored) == expected, (sorted(set(stored) - expected), sorted(expected - set(stored)))
    assert not stored or max(stored.values()) == 1  # no duplicates


async def _assert_store_equals_vendor(
    services: Services, account_id: str, vendor: Vendor, *, not_yet_deleted: AbstractSet[str] = frozenset()
) -> StoreView:
    """``not_yet_deleted``: tickets deleted at a vendor that does not report deletions, still live in
    the store until a full enumeration."""
    vendor.faults(NO_FAULTS)  # reading the vendor's truth must not be disturbed
    try:
        store = await _store(services, account_id)
        expected = vendor.ids()
        _same(store.live, expected | not_yet_deleted)
        for remote_id in expected:
            ticket = vendor.ticket(remote_id)
            assert store.subject[remote_id] == ticket.get("subject"), (remote_id, store.subject[remote_id])
            assert store.status[remote_id] == vendor.status_of(ticket["status"]), (
                remote_id,
                ticket["status"],
            )
            assert store.comments.get(remote_id, set()) == vendor.comment_ids(ticket), remote_id
        assert max(store.comment_rows.values()) == 1
        gone = vendor.ids(deleted=True)
        assert gone & set(store.subject) - not_yet_deleted <= store.deleted  # deleted tickets: flagged
        assert not store.deleted - gone  # and nothing else is
        assert not store.deleted & not_yet_deleted
        contact_ids, user_ids = vendor.people()
        _same(store.contacts, contact_ids)
        _same(store.users, user_ids)
    finally:
        vendor.faults(FAULTS)
    return store


async def test_chaos_full_then_incremental_sync_ends_equal_to_the_vendor(
    services: Services, vendor: Vendor
) -> None:
    account_id, clock = await _link(services, vendor)
    vendor.faults(FAULTS | {"script": list(KINDS)})  # every kind at least once, then at random

    rounds = await _settle(services, account_id)
    await _assert_store_equals_vendor(services, account_id, vendor)
    first_faults = vendor.injected()

    # Changes spread over every page of the export, as agents would make them.
    vendor.faults(NO_FAULTS)
    # Zendesk refuses to change a closed ticket (422 ClosedTicket), as agents would find.
    existing = [i for i in sorted(vendor.ids(), key=int) if vendor.ticket(i)["status"] != "closed"]
    created = [vendor.create_ticket(n) for n in range(5)]
    for remote_id in existing[::37]:
        vendor.edit(remote_id, subject=f"Renamed {remote_id}")
    for remote_id in existing[5::41]:
        vendor.edit(remote_id, status=vendor.closed)
    for remote_id in existing[9::43] + created[:2]:
        vendor.comment(remote_id, f"later reply on {remote_id}")
    deleted = existing[13::61]
    for remote_id in deleted:
        vendor.delete(remote_id)
    vendor.faults(FAULTS | {"script": list(KINDS)})

    await _due_now(services, account_id)
    rounds += await _settle(services, account_id)
    # An incremental run sees everything but Freshdesk's deletions (its list omits deleted tickets; only
    # a full enumeration finds them gone) — Zendesk's export reports them.
    missed = set(deleted) if vendor.name == "freshdesk" else set()
    await _assert_store_equals_vendor(services, account_id, vendor, not_yet_deleted=missed)
    if vendor.name == "freshdesk":  # a deleted contact leaves the list: only a full enumeration tells
        vendor.faults(NO_FAULTS)
        vendor.delete(sorted(vendor.table_ids("contacts"), key=int)[3], table="contacts")
        vendor.faults(FAULTS)
    await _due_now(services, account_id, full=True)
    rounds += await _settle(services, account_id)
    store = await _assert_store_equals_vendor(services, account_id, vendor)

    faults = vendor.injected()
    # The faults really happened, of every kind, in both phases (the test cannot pass vacuously).
    assert all(first_faults.get(kind, 0) >= 1 for kind in KINDS), first_faults
    assert all(faults.get(kind, 0) > first_faults[kind] for kind in KINDS), (first_faults, faults)
    assert sum(faults.values()) >= 50, faults
    # Every 429 said Retry-After: 2; the limiter held requests back for it (on its scaled clock).
    assert clock.waited >= faults["429"], (clock.waited, faults["429"])  # 2 s each; pauses may overlap
    assert len(store.live) == TICKETS + len(created) - len(deleted)
    assert set(deleted) <= store.deleted
    print(f"{vendor.name}: settled in {rounds} worker rounds; waited {clock.waited:.0f} s; faults: {faults}")
