"""The Zendesk connectors against the Zendesk emulators, mounted in process (``httpx.ASGITransport``).

Every stream is read to completion and compared with the emulator's own state; incremental exports
are read since a moment and resumed from serialized checkpoints; writes are looked up in the
emulator; throttles and refused credentials are provoked with the emulator's knobs. Nothing sleeps:
the limiter runs on a ``FakeClock`` and retries report their waits to an injected ``sleep``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from connectors import registry
from connectors.base import ConnectorContext, RemoteRecord
from connectors.http import AuthError, FakeClock, PageRequest, RateLimitError, RetryPolicy, read_buckets
from connectors.streams import Stream, read
from connectors.zendesk.classic import ZendeskClassicConnector
from connectors.zendesk.connector import ZendeskConnector
from emulators.common.clock import Clock
from emulators.common.config import RateLimit
from emulators.zendesk.app import create_app
from emulators.zendesk.classic import create_classic_app
from emulators.zendesk.config import ZendeskConfig
from schemas.base import Priority, TicketAccessLevel, TicketStatus
from schemas.models import Attachment, Comment, Contact, Ticket, User
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate
from tests.connectors.emulator_time import EmulatorTime
from tests.support.shared import FIXTURES

BASE = "https://acme.zendesk.com"
CREDS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
AGENT_ROLES = {"agent", "admin"}


def connector(cls: Any, app: Any, creds: dict[str, str] | None = None, **retry: Any) -> Any:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    policy = RetryPolicy(**retry) if retry else RetryPolicy.for_tests()
    limiter = cls.new_limiter()
    limiter.clock = FakeClock()  # the limiter's pauses are recorded, never slept
    context = ConnectorContext(credentials=creds or CREDS, http=http, limiter=limiter, retry=policy)
    return cls(context)


def emulator(tickets: int = 40, **kw: Any) -> Any:
    return create_app(ZendeskConfig(tickets=tickets, seed=3, rate_limit=RateLimit(enabled=False), **kw))


def desk(app: Any) -> Any:
    return app.state.desk


async def read_all(conn: Any, model: str, stream: Stream | None = None, **kw: Any) -> list[Any]:
    pages = [p async for p in read(conn.client, stream or conn.streams[model], **kw)]
    return [r for page in pages for r in page.records]


def ids(records: list[RemoteRecord[Any]], kind: type[Any] | None = None) -> set[str]:
    return {r.model.remote_id for r in records if kind is None or isinstance(r.model, kind)}


def small_pages(conn: Any, model: str, size: str) -> Stream:
    """The declared stream with tiny pages, so paging runs many times over a small desk."""
    stream: Stream = conn.streams[model]
    key = "page[size]" if "page[size]" in stream.params else "per_page"
    return dataclasses.replace(stream, params={**stream.params, key: size})


def test_importing_the_package_registers_both() -> None:
    # ``get`` imports BUILTIN_MODULES (``connectors.zendesk``) on first use.
    assert registry.get("zendesk") is ZendeskConnector
    assert registry.get("zendesk_classic") is ZendeskClassicConnector


async def test_every_stream_pages_to_completion_and_matches_the_emulator() -> None:
    app = emulator()
    zd, state = connector(ZendeskConnector, app), desk(app)
    roles = {u: state.users.get(u)["role"] for u in state.users.ids}
    tickets = await read_all(zd, "Ticket", small_pages(zd, "Ticket", "7"))
    assert ids(tickets) == {str(i) for i in state.tickets.ids}
    # One pass over the users export yields both models: end users as Contacts, agents as Users.
    people = await read_all(zd, "Contact", small_pages(zd, "Contact", "9"))
    assert ids(people, Contact) == {str(u) for u, role in roles.items() if role not in AGENT_ROLES}
    assert ids(people, User) == {str(u) for u, role in roles.items() if role in AGENT_ROLES}
    assert len(ids(people)) == len(people)  # each user once, as one model or the other
    assert "User" not in zd.streams and zd.streams["Contact"].carries == ("User",)
    assert ids(await read_all(zd, "Account")) == {str(i) for i in state.organizations.ids}
    assert ids(await read_all(zd, "Team", small_pages(zd, "Team", "2"))) == {str(i) for i in state.groups.ids}
    for ticket in tickets[:5]:
        tid = ticket.model.remote_id
        children = await read_all(zd, "Comment", small_pages(zd, "Comment", "2"), parent=tid)
        raw = state.comments(int(tid))
        assert ids(children, Comment) == {str(c["id"]) for c in raw}
        assert ids(children, Attachment) == {str(a["id"]) for c in raw for a in c["attachments"]}
        assert all(r.model.ticket == tid for r in children)
    assert tickets[0].model.ticket_url == f"{BASE}/agent/tickets/{tickets[0].model.remote_id}"


async def test_incremental_export_since_and_resumed_from_serialized_checkpoints() -> None:
    app = emulator()
    zd = connector(ZendeskConnector, app)
    stream = small_pages(zd, "Ticket", "5")
    pages = [p async for p in read(zd.client, stream)]
    everything = {r.model.remote_id: r.model.remote_updated_at for p in pages for r in p.records}
    # An interrupted run resumes from the checkpoint stored after its second page.
    assert pages[1].next is not None
    saved = PageRequest.from_json(pages[1].next.to_json())
    rest = [p async for p in read(zd.client, stream, checkpoint=saved)]
    assert ids([r for p in pages[:2] + rest for r in p.records]) == set(everything)
    # Changed since a moment: exactly the tickets changed at or after it (epoch seconds).
    since = sorted(everything.values())[len(everything) // 2].replace(microsecond=0)
    later = await read_all(zd, "Ticket", since=since)
    assert ids(later) == {i for i, when in everything.items() if when >= since}
    # The next run continues from the end-of-stream cursor: only what changed since.
    resume = PageRequest.from_json(pages[-1].resume.to_json()) if pages[-1].resume else None
    assert resume is not None
    victim = next(iter(everything))
    await zd.update_ticket(victim, TicketUpdate(priority=Priority.URGENT))
    app.clock.advance(60)  # Zendesk's exports leave out the last minute's changes
    assert ids(await read_all(zd, "Ticket", checkpoint=resume)) == {victim}


async def test_deleted_tickets_come_back_as_tombstones() -> None:
    app = emulator()
    zd = connector(ZendeskConnector, app)
    pages = [p async for p in read(zd.client, zd.streams["Ticket"])]
    victim = pages[0].records[0].model.remote_id
    assert desk(app).delete_ticket(int(victim), desk(app).admin_id)
    app.clock.advance(60)  # Zendesk's exports leave out the last minute's changes
    later = [p async for p in read(zd.client, zd.streams["Ticket"], checkpoint=pages[-1].resume)]
    assert [d for p in later for d in p.deleted] == [victim]
    assert not [r for p in later for r in p.records]


async def test_writes_reach_the_emulator() -> None:
    app = emulator()
    zd, state = connector(ZendeskConnector, app), desk(app)
    token = await zd.upload_attachment("log.txt", b"smoke\n", "text/plain")
    created = await zd.create_ticket(
        TicketCreate(
            name="Printer on fire",
            description="Smoke",
            priority=Priority.URGENT,
            tags=["hw"],
            attachments=[token],
            access_level=TicketAccessLevel.PUBLIC,
        )
    )
    tid = created.model.remote_id
    row = state.tickets.get(int(tid))
    assert (row["subject"], row["priority"], row["tags"]) == ("Printer on fire", "urgent", ["hw"])
    first = state.comments(int(tid))[0]
    assert first["body"] == "Smoke" and [a["file_name"] for a in first["attachments"]] == ["log.txt"]
    updated = await zd.update_ticket(tid, TicketUpdate(status=TicketStatus.ON_HOLD, assignees=[]))
    assert updated.model.status == "ON_HOLD" and state.tickets.get(int(tid))["status"] == "pending"
    public = await zd.create_comment(CommentCreate(ticket=tid, body="On it"))
    private = await zd.create_comment(CommentCreate(ticket=tid, body="internal", is_private=True))
    assert (public.model.is_private, private.model.is_private) == (False, True)
    stored = {str(c["id"]): c for c in state.comments(int(tid))}
    assert (stored[public.model.remote_id]["body"], stored[public.model.remote_id]["public"]) == (
        "On it",
        True,
    )
    assert (stored[private.model.remote_id]["body"], stored[private.model.remote_id]["public"]) == (
        "internal",
        False,
    )


async def test_oauth_and_acting_on_behalf_of_an_end_user() -> None:
    app = emulator()
    state = desk(app)
    customer = next(u for u in state.users.ids if state.users.get(u)["role"] == "end-user")
    oauth = {"subdomain": "acme", "access_token": "zd-oauth-token", "on_behalf_of": str(customer)}
    zd = connector(ZendeskConnector, app, oauth)
    await zd.check_credentials()
    tid = next(iter(state.tickets.ids))
    comment = await zd.create_comment(CommentCreate(ticket=str(tid), body="from the customer"))
    assert comment.model.user == str(customer)


@pytest.mark.parametrize(
    "creds",
    [
        {**CREDS, "api_token": "wrong"},
        {"subdomain": "acme", "access_token": "revoked"},
        {"subdomain": "acme", "access_token": "zd-oauth-token", "on_behalf_of": "nobody@acme.test"},
    ],
)
async def test_bad_credentials_are_an_auth_error(creds: dict[str, str]) -> None:
    zd = connector(ZendeskConnector, emulator(), creds)
    with pytest.raises(AuthError):
        await zd.check_credentials()


async def test_a_429_waits_retry_after_and_pauses_the_account() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    app = emulator()
    zd = connector(ZendeskConnector, app, attempts=3, sleep=sleep, jitter=0)
    faults = app.emulator_config.faults
    faults.retry_after = 7
    faults.inject("429", "429")
    records = await read_all(zd, "Team")
    assert records and waits == [7, 7]
    assert zd.client.limiter.clock.sleeps[:2] == [7, 7]  # every request of the account held back


async def test_the_emulators_own_quota_is_respected() -> None:
    app = create_app(ZendeskConfig(tickets=40, seed=3, rate_limit=RateLimit(per_minute=5)))
    zd = connector(ZendeskConnector, app, attempts=2)
    for _ in range(3):
        await read_all(zd, "Team")
    # The limiter read ratelimit-remaining and spread the rest of the window: no 429 was needed.
    assert sum(zd.client.limiter.clock.sleeps) > 0


def recorded_bucket_headers() -> Iterator[tuple[str, str, str, str]]:
    """(method, path, header, value) of every per-endpoint quota header in the recorded Zendesk
    responses: Nango's tests (``api -> method -> path -> response``) and zenpy's betamax cassettes."""
    for path in sorted((FIXTURES / "vendors" / "zendesk").glob("*.json")):
        recording = json.loads(path.read_text())
        exchanges: list[tuple[str, str, dict[str, Any]]] = []
        for method, by_path in recording.get("api", {}).items():
            for url, responses in by_path.items():
                for response in responses if isinstance(responses, list) else [responses]:
                    exchanges.append((method, url, response.get("headers") or {}))
        for interaction in recording.get("http_interactions", []):
            request = interaction["request"]
            headers = {
                k: v[0] if isinstance(v, list) else v for k, v in interaction["response"]["headers"].items()
            }
            exchanges.append((request["method"], urlsplit(request["uri"]).path, headers))
        for method, url, headers in exchanges:
            for name, value in headers.items():
                if name.lower().startswith(("zendesk-ratelimit-", "zendesk-rate-limit-")):
                    yield method.upper(), url, name, value


def test_recorded_endpoint_quotas_are_read_and_matched_to_their_requests() -> None:
    limiter = ZendeskConnector.new_limiter()
    declared = set()
    recorded = list(recorded_bucket_headers())
    assert len(recorded) > 10
    for method, path, header, value in recorded:
        ((name, state),) = read_buckets(limiter.headers, {header: value}).items()
        assert None not in (state.limit, state.remaining, state.reset_after), (header, value)
        if name == "per-ticket-updates":  # one quota per ticket: deliberately not declared
            continue
        assert limiter.bucket_for(method, path) == name, (method, path)
        declared.add(name)
    assert {
        "incremental-exports",
        "incremental-exports-cursor",
        "tickets-index",
        "tickets-update",
    } <= declared


async def test_a_long_export_waits_for_its_endpoint_quota_instead_of_a_429() -> None:
    # The account allows thousands a minute; the cursor export 20 (Zendesk's own, per endpoint).
    emulator_clock = Clock(frozen=1_735_700_410.0)  # after the seeded history; 50 s left in its minute
    app = create_app(
        ZendeskConfig(tickets=60, seed=3, rate_limit=RateLimit(per_minute=10_000)), emulator_clock
    )
    statuses: list[int] = []

    async def count(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, event_hooks={"response": [count]}
    )
    limiter = ZendeskConnector.new_limiter()
    limiter.clock = EmulatorTime(emulator_clock)
    zd = ZendeskConnector(
        ConnectorContext(credentials=CREDS, http=http, limiter=limiter, retry=RetryPolicy.for_tests())
    )
    tickets = await read_all(zd, "Ticket", small_pages(zd, "Ticket", "2"))  # 30 pages and more
    assert ids(tickets) == {str(i) for i in desk(app).tickets.ids}
    assert len(statuses) > 20 and set(statuses) == {200}  # no request ran into the endpoint's quota
    # It waited once, for the rest of the emulator's minute (the account's pacing aside: milliseconds).
    assert [round(s) for s in limiter.clock.sleeps if s > 1] == [50]


async def test_classic_v1_reads_and_writes() -> None:
    app = create_classic_app(ZendeskConfig(tickets=35, seed=3, rate_limit=RateLimit(enabled=False)))
    v1, state = connector(ZendeskClassicConnector, app), desk(app)
    records = await read_all(v1, "Ticket")
    assert ids(records, Ticket) == {str(i) for i in state.tickets.ids}  # 35: two pages of 30
    assert ids(records, Comment) and all(r.path.startswith("/tickets/") for r in records)
    roles = {u: state.users.get(u)["role"] for u in state.users.ids}
    assert ids(await read_all(v1, "User")) == {str(u) for u, r in roles.items() if r in AGENT_ROLES}
    assert ids(await read_all(v1, "Contact")) == {str(u) for u, r in roles.items() if r not in AGENT_ROLES}
    assert ids(await read_all(v1, "Account")) == {str(i) for i in state.organizations.ids}
    assert ids(await read_all(v1, "Team")) == {str(i) for i in state.groups.ids}
    created = await v1.create_ticket(TicketCreate(name="From v1", description="hello"))
    assert state.tickets.get(int(created.model.remote_id))["subject"] == "From v1"
    updated = await v1.update_ticket(created.model.remote_id, TicketUpdate(status=TicketStatus.CLOSED))
    assert updated.model.status == "CLOSED"
    comment = await v1.create_comment(
        CommentCreate(ticket=created.model.remote_id, body="reply", is_private=True)
    )
    assert (comment.model.body, comment.model.is_private) == ("reply", True)
    assert state.comments(int(created.model.remote_id))[-1]["public"] is False


async def test_classic_v1_throttle_is_a_rate_limit_and_retried() -> None:
    app = create_classic_app(ZendeskConfig(tickets=5, seed=3, rate_limit=RateLimit(enabled=False)))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    v1 = connector(ZendeskClassicConnector, app, attempts=2, sleep=sleep, jitter=0, initial=0.5)
    app.emulator_config.faults.inject("429")  # the v1 gate answers it as 503 text/plain
    await v1.check_credentials()
    assert waits == [0.5]  # no Retry-After in v1: backoff
    app.emulator_config.faults.inject("429", "429")
    with pytest.raises(RateLimitError) as caught:
        await v1.check_credentials()
    assert caught.value.status_code == 503 and "per minute exceeded" in str(caught.value.body)


def served(*replies: httpx.Response) -> Any:
    """A v2 connector whose transport answers ``replies`` in order (shapes the emulator never sends)."""
    queue = list(replies)
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: queue.pop(0)), base_url=BASE)
    return ZendeskConnector(ConnectorContext(credentials=CREDS, http=http, retry=RetryPolicy.for_tests()))


async def test_the_anonymous_user_is_refused_credentials() -> None:
    # Zendesk answers /users/me without a usable identity with 200 and the anonymous user.
    zd = served(
        httpx.Response(200, json={"user": {"id": None, "name": "Anonymous user", "role": "end-user"}})
    )
    with pytest.raises(AuthError):
        await zd.check_credentials()


async def test_a_merge_conflict_is_retried() -> None:
    conflict = httpx.Response(409, json={"error": "Conflict"})
    ticket = {"id": 5, "status": "pending", "url": f"{BASE}/api/v2/tickets/5.json"}
    zd = served(conflict, httpx.Response(200, json={"ticket": ticket, "audit": {"events": []}}))
    updated = await zd.update_ticket("5", TicketUpdate(status=TicketStatus.ON_HOLD))
    assert updated.model.status == "ON_HOLD"
