"""``FreshdeskConnector`` end to end over HTTP, against ``FakeFreshdesk`` (recorded fixture bodies on an
``httpx.MockTransport``; the Freshdesk emulator had not landed when these were written), and its limiter
against the emulator, which caps endpoints per plan as Freshdesk does."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from connectors import registry
from connectors.base import Connector, ConnectorContext
from connectors.freshdesk import FreshdeskConnector
from connectors.freshdesk import connector as connector_module
from connectors.http import AuthError, FakeClock, PageRequest, Quota, RateLimiter, RetryPolicy, UpstreamError
from connectors.streams import StreamPage, read
from emulators.common.clock import Clock
from emulators.common.config import RateLimit
from emulators.freshdesk import profile as emulator_profile
from emulators.freshdesk.app import create_app as create_emulator
from emulators.freshdesk.config import FreshdeskConfig
from schemas.base import Priority
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate
from tests.connectors.emulator_time import EmulatorTime

from .fake_freshdesk import KEY, FakeFreshdesk

BASE = "https://acme.freshdesk.com"


def connect(desk: FakeFreshdesk, key: str = KEY, **retry: Any) -> FreshdeskConnector:
    http = httpx.AsyncClient(transport=desk.transport())
    ctx = ConnectorContext(
        credentials={"domain": "acme.freshdesk.com", "api_key": key},
        http=http,
        retry=RetryPolicy.for_tests(**retry),
    )
    return FreshdeskConnector(ctx)


async def read_all(connector: FreshdeskConnector, model: str, **kwargs: Any) -> list[StreamPage]:
    return [p async for p in read(connector.client, connector.streams[model], **kwargs)]


def ids(pages: list[StreamPage], model: str | None = None) -> list[str]:
    return [
        str(r.model.remote_id)
        for p in pages
        for r in p.records
        if model is None or type(r.model).__name__ == model
    ]


def test_registered_and_shaped() -> None:
    cls = registry.get("freshdesk")
    assert cls is FreshdeskConnector
    assert cls.default_base_url({"domain": "acme"}) == BASE
    assert cls.default_base_url({"domain": "https://acme.freshdesk.com/"}) == BASE
    _: Connector = connect(FakeFreshdesk())  # satisfies the protocol (checked by mypy)
    assert {s.model for s in cls.streams.values()} == {
        "Ticket",
        "Comment",
        "Contact",
        "User",
        "Account",
        "Team",
    }
    assert all(s.docs.startswith("https://developers.freshdesk.com/api/#") for s in cls.streams.values())


async def test_first_sync_reaches_tickets_older_than_30_days() -> None:
    desk = FakeFreshdesk.seeded()
    pages = await read_all(connect(desk), "Ticket")
    # Oldest change first; the 2016 ticket is outside the vendor's 30-day default window.
    assert ids(pages) == ["1", "101", "102"]
    first = desk.requests[0].url.params
    assert first["updated_since"] == "1970-01-01T00:00:00Z"
    assert (first["order_by"], first["order_type"], first["per_page"]) == ("updated_at", "asc", "100")
    assert desk.requests[0].headers["authorization"].startswith("Basic ")
    ticket = pages[0].records[0].model
    assert ticket.ticket_url == f"{BASE}/a/tickets/1" and ticket.status == "OPEN"
    assert pages[-1].next is None


async def test_incremental_since_and_resume_from_a_checkpoint() -> None:
    desk = FakeFreshdesk.seeded(page_size=1)
    since = datetime(2024, 10, 21, 11, 19, 1, tzinfo=UTC)
    connector = connect(desk)
    first = await anext(read(connector.client, connector.streams["Ticket"], since=since))
    assert ids([first]) == ["101"] and first.next is not None
    saved = first.next.to_json()
    rest = await read_all(connect(desk), "Ticket", checkpoint=PageRequest.from_json(saved))
    assert ids(rest) == ["102"]
    assert desk.requests[-1].url.params["updated_since"] == "2024-10-21T11:19:01Z"


async def test_page_cap_re_anchors_updated_since() -> None:
    desk = FakeFreshdesk.seeded(page_size=1, max_page=2)
    connector = connect(desk)
    stream = dataclasses.replace(connector.streams["Ticket"], max_page=2)
    pages = [p async for p in read(connector.client, stream)]
    # Page 2 is the deepest served: go on from the last updated_at instead of asking for page 3. A
    # full page 2 re-anchors even without a next link (a capped vendor may end there silently), so the
    # boundary records are read twice.
    assert ids(pages) == ["1", "101", "101", "102", "102"]
    assert [r.url.params.get("page") for r in desk.requests] == [None, "2", None, "2", None]
    assert desk.requests[2].url.params["updated_since"] == "2024-10-21T11:19:01Z"
    assert pages[1].next is not None and pages[1].next.params["updated_since"] == "2024-10-21T11:19:01Z"


async def test_every_other_stream_reads_to_completion() -> None:
    desk = FakeFreshdesk.seeded()
    connector = connect(desk)
    assert ids(await read_all(connector, "Contact")) == ["501001204038"]
    assert ids(await read_all(connector, "User")) == ["1", "432"]
    assert ids(await read_all(connector, "Account")) == ["1", "2"]
    assert ids(await read_all(connector, "Team")) == ["1", "2"]
    conversations = await read_all(connector, "Comment", parent="1")
    assert ids(conversations, "Comment") == ["1", "2"]
    assert ids(conversations, "Attachment") == ["1"]  # side-loaded with its conversation
    assert desk.requests[-1].url.path == "/api/v2/tickets/1/conversations"
    await read_all(connector, "Contact", since=datetime(2024, 1, 1, tzinfo=UTC))
    assert desk.requests[-1].url.params["_updated_since"] == "2024-01-01T00:00:00Z"


async def test_create_update_reply_and_private_note() -> None:
    desk = FakeFreshdesk.seeded()
    connector = connect(desk)
    created = await connector.create_ticket(TicketCreate(name="Printer on fire", priority=Priority.HIGH))
    tid = int(created.model.remote_id or 0)
    stored = desk.tickets[tid]
    # No contact given: the API key's own agent (GET /agents/me) is the requester, by e-mail.
    assert (stored["email"], stored["status"], stored["priority"]) == ("rachel@freshdesk.com", 2, 3)
    assert "requester_id" not in stored
    assert created.model.status == "OPEN" and created.model.ticket_url == f"{BASE}/a/tickets/{tid}"

    updated = await connector.update_ticket(str(tid), msgspec.convert({"status": "CLOSED"}, TicketUpdate))
    assert desk.tickets[tid]["status"] == 5 and updated.model.status == "CLOSED"

    reply = await connector.create_comment(CommentCreate(ticket=str(tid), body="On it"))
    note = await connector.create_comment(CommentCreate(ticket=str(tid), body="psst", is_private=True))
    assert [r.url.path.rsplit("/", 1)[-1] for r in desk.requests[-2:]] == ["reply", "notes"]
    stored_reply, stored_note = desk.conversations[tid]
    assert (stored_reply["private"], stored_note["private"]) == (False, True)
    assert reply.model.is_private is False and note.model.is_private is True
    assert note.model.ticket == str(tid) and note.model.body == "psst"


async def test_bad_credentials_raise_auth_error() -> None:
    connector = connect(FakeFreshdesk.seeded(), key="wrong")
    with pytest.raises(AuthError):
        await connector.check_credentials()
    await connect(FakeFreshdesk.seeded()).check_credentials()


async def test_429_waits_retry_after_then_succeeds() -> None:
    desk = FakeFreshdesk.seeded()
    desk.faults.append(httpx.Response(429, headers={"retry-after": "17"}, json={}))
    clock = FakeClock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    http = httpx.AsyncClient(transport=desk.transport())
    limiter = FreshdeskConnector.new_limiter()
    limiter.clock = clock
    ctx = ConnectorContext(
        credentials={"domain": "acme", "api_key": KEY},
        http=http,
        limiter=limiter,
        retry=RetryPolicy(attempts=3, jitter=0.0, sleep=sleep),
    )
    connector = FreshdeskConnector(ctx)
    assert ids(await read_all(connector, "Team")) == ["1", "2"]
    assert waits == [17.0]  # the retry waited exactly Retry-After
    assert sum(clock.sleeps) == pytest.approx(17.0)  # and the account's limiter held back as long


async def test_5xx_is_retried_and_gives_up_after_the_attempts() -> None:
    desk = FakeFreshdesk.seeded()
    desk.faults.extend([httpx.Response(500), httpx.Response(503)])
    assert ids(await read_all(connect(desk), "Team")) == ["1", "2"]
    desk.faults.extend([httpx.Response(500)] * 3)
    with pytest.raises(UpstreamError):
        await read_all(connect(desk), "Team")


def test_limiter_reads_freshdesk_headers_and_adopts_the_accounts_plan() -> None:
    limiter: RateLimiter = FreshdeskConnector.new_limiter()
    assert limiter.headers.remaining == ("x-ratelimit-remaining",)
    assert limiter.quotas == (Quota(requests=50, per=60),)  # trial accounts', until an answer says more
    assert limiter.endpoint_quotas == {}
    limiter.observe(httpx.Response(200, headers={"X-RateLimit-Total": "400", "X-RateLimit-Remaining": "399"}))
    assert limiter.quotas == (Quota(requests=400, per=60),)  # Pro, and its endpoints' caps
    assert limiter.endpoint_quotas == {
        "tickets-list": Quota(requests=100, per=60),
        "contacts-list": Quota(requests=100, per=60),
        "tickets-create": Quota(requests=160, per=60),
        "tickets-update": Quota(requests=160, per=60),
    }
    assert limiter.bucket_for("GET", "/api/v2/tickets") == "tickets-list"
    assert limiter.bucket_for("PUT", "/api/v2/tickets/7") == "tickets-update"
    assert limiter.bucket_for("GET", "/api/v2/tickets/7/conversations") is None
    limiter.observe(httpx.Response(200, headers={"X-RateLimit-Total": "900", "X-RateLimit-Remaining": "899"}))
    assert limiter.quotas == (Quota(requests=900, per=60),)  # a custom limit: no documented caps
    assert limiter.endpoint_quotas == {}
    # A legacy plan counts by the hour: its 3000 join the minute's 50 instead of becoming 3000 a minute.
    hourly: RateLimiter = FreshdeskConnector.new_limiter()
    hourly.observe(
        httpx.Response(200, headers={"X-RateLimit-Total": "3000", "X-RateLimit-Remaining": "2999"})
    )
    assert hourly.quotas == (Quota(requests=50, per=60), Quota(requests=3000, per=3600))
    assert hourly.endpoint_quotas == {}


def test_the_connector_and_the_emulator_cap_the_same_endpoints_per_plan() -> None:
    # Two copies of one documented table (emulators must not import connectors): held together here.
    assert connector_module.PLAN_ENDPOINT_CAPS == emulator_profile.PLAN_ENDPOINT_CAPS
    assert {b.name for b in connector_module.ENDPOINT_BUCKETS} == set(
        emulator_profile.PLAN_ENDPOINT_CAPS[700]
    )


def test_a_request_costs_a_credit_more_for_each_embedded_resource() -> None:
    limiter = FreshdeskConnector.new_limiter()
    cost = [
        limiter.cost_of(httpx.Request("GET", BASE + path))
        for path in (
            "/api/v2/tickets",
            "/api/v2/tickets?include=description",
            "/api/v2/tickets/1?include=conversations,requester",
        )
    ]
    assert cost == [1, 2, 3]


@pytest.mark.parametrize(("plan", "pages_a_minute"), [(200, 10), (700, 100)])
async def test_the_ticket_list_runs_at_its_plans_cap_without_a_429(plan: int, pages_a_minute: int) -> None:
    # The emulator caps the ticket list per plan (Growth 20 credits a minute, Enterprise 200) and says
    # so in no header; a page with ``include=description`` costs two credits.
    emulator_clock = Clock(frozen=1_735_700_400.0)  # the start of the emulator's minute
    pages = 2 * pages_a_minute + pages_a_minute // 2  # two and a half minutes' worth
    app = create_emulator(
        FreshdeskConfig(tickets=100 * pages, seed=3, rate_limit=RateLimit(per_minute=plan)), emulator_clock
    )
    statuses: list[int] = []

    async def count(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    limiter = FreshdeskConnector.new_limiter()
    limiter.clock = EmulatorTime(emulator_clock)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE, event_hooks={"response": [count]}
    )
    fd = FreshdeskConnector(
        ConnectorContext(
            credentials={"domain": "acme", "api_key": "fd-api-key"},
            http=http,
            base_url=BASE,
            limiter=limiter,
            retry=RetryPolicy.for_tests(),
        )
    )
    started = limiter.clock.monotonic()
    tickets = {r.model.remote_id for page in await read_all_pages(fd) for r in page.records}
    elapsed = limiter.clock.monotonic() - started
    assert len(tickets) == 100 * pages
    assert set(statuses) == {200}  # no page ran into the cap
    # At the cap: the first minute's pages at once, the next minute's a minute later, the last half in
    # the third minute.
    assert len(statuses) == pages and 120 <= elapsed < 180


async def read_all_pages(fd: FreshdeskConnector) -> list[StreamPage]:
    return [page async for page in read(fd.client, fd.streams["Ticket"])]
