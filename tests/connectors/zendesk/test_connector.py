"""The Zendesk connectors against the Zendesk emulators (in process): every stream, writes, errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.base import ConnectorContext
from connectors.http import AuthError, RateLimitError, RetryPolicy
from connectors.streams import read
from connectors.zendesk.classic import ZendeskClassicConnector
from connectors.zendesk.connector import ZendeskConnector
from emulators.common.config import RateLimit
from emulators.zendesk.app import create_app
from emulators.zendesk.classic import create_classic_app
from emulators.zendesk.config import ZendeskConfig
from schemas.models import Comment, Ticket
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate

BASE = "https://acme.zendesk.com"
CREDS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}


def connector(cls: Any, app: Any, creds: dict[str, str] | None = None, **retry: Any) -> Any:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    policy = RetryPolicy.for_tests() if not retry else RetryPolicy(**retry)
    return cls(ConnectorContext(credentials=creds or CREDS, http=http, base_url=BASE, retry=policy))


def emulator(tickets: int = 40, **kw: Any) -> Any:
    return create_app(ZendeskConfig(tickets=tickets, seed=3, rate_limit=RateLimit(enabled=False), **kw))


async def read_all(conn: Any, model: str, **kw: Any) -> list[Any]:
    return [
        r for page in [p async for p in read(conn.client, conn.streams[model], **kw)] for r in page.records
    ]


async def admin(app: Any, path: str) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        return (await c.get(f"/_emulator{path}")).json()


async def test_every_stream_reads_what_the_emulator_holds() -> None:
    app = emulator()
    zd = connector(ZendeskConnector, app)
    tickets = await read_all(zd, "Ticket")
    assert len({r.model.remote_id for r in tickets}) == 40
    assert all(isinstance(r.model, Ticket) and r.model.status for r in tickets)
    contacts = await read_all(zd, "Contact")
    users = await read_all(zd, "User")
    assert (
        contacts and users and not {c.model.remote_id for c in contacts} & {u.model.remote_id for u in users}
    )
    assert await read_all(zd, "Account") and await read_all(zd, "Team")
    one = tickets[0].model.remote_id
    children = await read_all(zd, "Comment", parent=one)
    comments = [r for r in children if isinstance(r.model, Comment)]
    assert comments and all(c.model.ticket == one for c in comments)
    assert tickets[0].model.ticket_url == f"{BASE}/agent/tickets/{one}"


async def test_incremental_export_resumes_and_reports_deletions() -> None:
    app = emulator()
    zd = connector(ZendeskConnector, app)
    pages = [p async for p in read(zd.client, zd.streams["Ticket"])]
    resume = pages[-1].resume
    assert resume is not None  # the end-of-stream cursor: where the next run continues
    victim = pages[0].records[0].model.remote_id
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.delete(f"/_emulator/tables/tickets/{victim}")).status_code in (200, 204)
    later = [p async for p in read(zd.client, zd.streams["Ticket"], checkpoint=resume)]
    assert victim in [d for p in later for d in p.deleted]


async def test_writes_reach_the_emulator() -> None:
    app = emulator()
    zd = connector(ZendeskConnector, app)
    created = await zd.create_ticket(
        TicketCreate(name="Printer on fire", description="Smoke", priority="URGENT", tags=["hw"])
    )
    tid = created.model.remote_id
    assert created.model.name == "Printer on fire" and created.model.priority == "URGENT"
    updated = await zd.update_ticket(tid, TicketUpdate(status="ON_HOLD"))
    assert updated.model.status == "ON_HOLD"
    public = await zd.create_comment(CommentCreate(ticket=tid, body="On it"))
    private = await zd.create_comment(CommentCreate(ticket=tid, body="internal", is_private=True))
    assert public.model.is_private is False and private.model.is_private is True
    stored = await admin(app, f"/tables/tickets/{tid}")
    text = str(stored)
    assert "Printer on fire" in text and "On it" in text and "internal" in text and "pending" in text


async def test_bad_credentials_are_an_auth_error() -> None:
    zd = connector(ZendeskConnector, emulator(), {**CREDS, "api_token": "wrong"})
    with pytest.raises(AuthError):
        await zd.check_credentials()


async def test_rate_limit_waits_the_advised_time() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    app = emulator()
    zd = connector(ZendeskConnector, app, attempts=3, sleep=sleep)
    faults = app.emulator_config.faults
    faults.inject("429")
    await zd.check_credentials()
    assert waits and waits[0] == pytest.approx(faults.retry_after, abs=1)


async def test_classic_v1_reads_writes_and_throttle() -> None:
    app = create_classic_app(ZendeskConfig(tickets=35, seed=3, rate_limit=RateLimit(enabled=False)))
    v1 = connector(ZendeskClassicConnector, app)
    records = await read_all(v1, "Ticket")
    tickets = [r for r in records if isinstance(r.model, Ticket)]
    assert len(tickets) == 35 and any(isinstance(r.model, Comment) for r in records)
    created = await v1.create_ticket(TicketCreate(name="From v1", description="hello"))
    comment = await v1.create_comment(CommentCreate(ticket=created.model.remote_id, body="reply"))
    assert comment.model.body == "reply" and comment.model.ticket == created.model.remote_id
    throttled = create_classic_app(ZendeskConfig(tickets=5, rate_limit=RateLimit(per_minute=1)))
    limited = connector(ZendeskClassicConnector, throttled, attempts=1)
    await limited.check_credentials()
    with pytest.raises(RateLimitError):
        await limited.check_credentials()
