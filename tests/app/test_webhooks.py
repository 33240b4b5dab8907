"""Outgoing webhooks: signatures, the transactional outbox, at-least-once delivery across receiver
outages and restarts, sync-driven events, and the webhook-target API (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from app.api.state import Services
from app.asgi import create_app
from app.db import accounts as account_store
from app.db import issues as issue_store
from app.db import records, syncstate
from app.db.accounts import LinkedAccountRecord, NewLinkedAccount
from app.db.tables import sync_state, tickets, webhook_outbox
from app.outbox import backoff
from app.services import build_services
from app.settings import Settings
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from app.timeutil import now_micros
from app.webhooks import delivery, hooks, signing
from app.webhooks import targets as target_store
from app.webhooks.delivery import DeliveryConfig, WebhookDelivery
from connectors.http import RetryPolicy
from tests import fakes
from tests.app.conftest import API, LOOPBACK, Service, desk_url
from tests.app.test_sync_engine import make_due, seed_vendor

RECEIVER_PORT = 8765
HOOK_URL = f"http://127.0.0.1:{RECEIVER_PORT}/hooks/merge"
SECRET = "whsec_test-secret-0123456789"
DESK = desk_url("sync")
#: Retries at once, so tests need no clock: a receiver outage is a number of refused attempts.
NOW = DeliveryConfig(backoff_base_seconds=0.0, backoff_cap_seconds=0.0, poll_seconds=0.01)


@dataclass
class Receiver:
    """The integrator's endpoint: fails the first ``failures`` requests (503 or refused), then 200."""

    failures: int = 0
    refuse: bool = False
    delay: float = 0.0
    requests: list[httpx.Request] = field(default_factory=list)
    #: Event ids answered 2xx, in order (what a deduping receiver processed).
    accepted: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.arrived.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures > 0:
            self.failures -= 1
            if self.refuse:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(503)
        self.accepted.append(request.headers[delivery.EVENT_ID_HEADER])
        return httpx.Response(200, json={"ok": True})

    def events(self) -> list[str]:
        return [msgspec.json.decode(r.content)["hook"]["event"] for r in self.requests]


def transport(receiver: Receiver) -> httpx.AsyncBaseTransport:
    """One client for everything: the receiver on its port, the fake vendor elsewhere."""

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.port == RECEIVER_PORT:
            return await receiver(request)
        return fakes.vendor_api(request)

    return httpx.MockTransport(route)


def make_services(database_url: str, tmp_path: Path, receiver: Receiver, allow: tuple[str, ...]) -> Services:
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="k", outbound_allow=allow)
    http = httpx.AsyncClient(transport=transport(receiver))
    return build_services(settings, http_client=http, retry=RetryPolicy.for_tests())


async def close(services: Services) -> None:
    await services.http.aclose()
    await services.engine.dispose()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
async def services(database_url: str, tmp_path: Path, receiver: Receiver) -> AsyncIterator[Services]:
    fakes.DESKS.clear()
    services = make_services(database_url, tmp_path, receiver, LOOPBACK)
    yield services
    await close(services)


async def link(services: Services, key: str = fakes.GOOD_KEY) -> LinkedAccountRecord:
    async with services.engine.begin() as conn:
        org = await account_store.ensure_organization(conn)
        account, _token, _ = await account_store.link_account(
            conn,
            services.box,
            NewLinkedAccount(
                organization_id=org,
                integration="fakedesk",
                end_user_origin_id="o",
                end_user_organization_name="O",
                end_user_email_address="o@example.com",
                base_url=DESK,
                credentials={"api_key": key},
            ),
        )
        await syncstate.ensure_models(conn, account.id, ["Ticket", "Comment"])
    return account


async def add_target(services: Services, account: LinkedAccountRecord, events: tuple[str, ...] = ()) -> str:
    async with services.engine.begin() as conn:
        target = await target_store.create(
            conn,
            services.box,
            organization_id=account.organization_id,
            url=HOOK_URL,
            events=events,
            secret=SECRET,
        )
    return target.id


async def outbox(services: Services) -> list[Any]:
    async with services.engine.connect() as conn:
        return list(await conn.execute(select(webhook_outbox).order_by(webhook_outbox.c.seq)))


def decoded(rows: list[Any]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(r.body) for r in rows]


def sync_worker(services: Services) -> Worker:
    return Worker(
        services,
        WorkerConfig(runner=RunnerConfig(interval_seconds=3600, waiting_seconds=0, since_overlap_seconds=0)),
    )


async def emit_tickets(services: Services, account: LinkedAccountRecord, n: int, start: int = 0) -> None:
    """``n`` write-through style changes, each committed with its ``Ticket.added``."""
    async with services.engine.begin() as conn:
        for i in range(start, start + n):
            upserted = await records.upsert_records(
                conn, account.id, "Ticket", [fakes.ticket_record({"id": f"w{i}", "title": f"W {i}"})]
            )
            await hooks.record_changes(conn, account, "Ticket", upserted)


# --- signatures ---------------------------------------------------------------------------------------


def test_merge_signature_is_merges_algorithm() -> None:
    body = b'{"hook":{"event":"Ticket.changed"},"data":{"id":"x"}}'
    header = signing.merge_signature(SECRET, body)
    # merge-api.md §7, recomputed here independently of our module:
    expected = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert header == expected and header.endswith("=")  # we send the padded form
    assert hmac.compare_digest(expected.rstrip("="), header.rstrip("="))
    assert "+" not in header and "/" not in header
    assert signing.verify_merge(SECRET, body, header) and signing.verify_merge(
        SECRET, body, header.rstrip("=")
    )
    assert not signing.verify_merge(SECRET, body + b" ", header)
    assert not signing.verify_merge("other-secret-value", body, header)


def test_timestamped_signature_rejects_replays_and_tampering() -> None:
    body = b'{"data":1}'
    now = int(time.time())
    header = signing.timestamped_signature(SECRET, body, now)
    mac = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={now},v1={mac}"
    assert signing.verify(SECRET, body, header)
    # A captured request replayed after the tolerance is refused, though its MAC is right.
    assert not signing.verify(SECRET, body, header, now=now + signing.DEFAULT_TOLERANCE + 1)
    assert signing.verify(SECRET, body, header, now=now + signing.DEFAULT_TOLERANCE - 1)
    # Moving the timestamp forward breaks the MAC; so does changing the body or the secret.
    assert not signing.verify(SECRET, body, header.replace(f"t={now}", f"t={now + 600}"), now=now + 600)
    assert not signing.verify(SECRET, body + b"x", header)
    assert not signing.verify("another-secret-value", body, header)
    assert not signing.verify(SECRET, body, f"v1={mac}")
    assert not signing.verify(SECRET, body, "garbage")


def test_retry_policy() -> None:
    config = DeliveryConfig(backoff_base_seconds=10, backoff_cap_seconds=3600)
    assert backoff(1, config, rng=lambda: 0.0) == 5.0
    assert backoff(1, config, rng=lambda: 1.0) == 10.0
    assert backoff(4, config, rng=lambda: 1.0) == 80.0
    assert backoff(30, config, rng=lambda: 1.0) == 3600.0  # capped
    assert backoff(30, config, retry_after=120.0) == 120.0  # Retry-After wins
    assert delivery.classify(204, None).delivered
    gone = delivery.classify(410, None)
    assert not gone.delivered and not gone.retry  # the only status that is not retried
    for status in (400, 401, 404, 500, 502):
        assert delivery.classify(status, None).retry, status
    assert delivery.classify(429, "30").retry_after == 30.0
    assert delivery.classify(503, "Wed, 21 Oct 2015 07:28:00 GMT").retry_after == 0.0
    assert delivery.classify(500, "30").retry_after is None


# --- the outbox ---------------------------------------------------------------------------------------


async def test_events_are_written_in_the_transaction_of_the_change(services: Services) -> None:
    account = await link(services)
    await add_target(services, account)
    with pytest.raises(RuntimeError):
        async with services.engine.begin() as conn:
            upserted = await records.upsert_records(
                conn, account.id, "Ticket", [fakes.ticket_record({"id": "t1", "title": "T"})]
            )
            assert await hooks.record_changes(conn, account, "Ticket", upserted) == 1
            raise RuntimeError("the change fails after the event was queued")
    assert await outbox(services) == []  # rolled back together
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(tickets))).all() == []
    await emit_tickets(services, account, 1)
    (row,) = await outbox(services)
    body = msgspec.json.decode(row.body)
    assert body["hook"]["event"] == "Ticket.added" == row.event
    assert body["hook"]["target"] == HOOK_URL
    assert body["data"]["name"] == "W 0" and body["data"]["remote_id"] == "w0"


async def test_subscriptions_and_other_organizations(services: Services) -> None:
    account = await link(services)
    only_comments = await add_target(services, account, events=("Comment.added",))
    everything = await add_target(services, account)
    async with services.engine.begin() as conn:
        other_org = await account_store.ensure_organization(conn, "other")
        await target_store.create(
            conn, services.box, organization_id=other_org, url=HOOK_URL, events=(), secret=SECRET
        )
    await emit_tickets(services, account, 2)
    rows = await outbox(services)
    assert {r.target_id for r in rows} == {everything} and only_comments != everything
    assert len(rows) == 2


# --- delivery -----------------------------------------------------------------------------------------


async def test_delivery_sends_each_event_once_signed(services: Services, receiver: Receiver) -> None:
    account = await link(services)
    target_id = await add_target(services, account)
    await emit_tickets(services, account, 3)
    loop = WebhookDelivery(services, NOW)
    assert await loop.run_until_idle() == 3
    assert await loop.run_until_idle() == 0  # delivered rows are never sent again
    assert len(receiver.requests) == 3
    stored = {r.id: r for r in await outbox(services)}
    for request in receiver.requests:
        event_id = request.headers[delivery.EVENT_ID_HEADER]
        assert request.method == "POST" and str(request.url) == HOOK_URL
        assert request.headers["content-type"] == "application/json"
        assert request.content == stored[event_id].body  # the exact bytes queued
        expected = base64.urlsafe_b64encode(
            hmac.new(SECRET.encode(), request.content, hashlib.sha256).digest()
        ).decode()
        assert request.headers[signing.MERGE_HEADER] == expected
        assert signing.verify(SECRET, request.content, request.headers[signing.TIMESTAMPED_HEADER])
        assert request.headers[delivery.EVENT_HEADER] == "Ticket.added"
        body = msgspec.json.decode(request.content)
        assert list(body) == ["hook", "linked_account", "data"]
        assert body["hook"] == {"id": target_id, "event": "Ticket.added", "target": HOOK_URL}
        assert body["linked_account"] == {
            "id": account.id,
            "integration": "Fake Desk",
            "integration_slug": "fakedesk",
            "category": "ticketing",
            "end_user_origin_id": "o",
            "end_user_organization_name": "O",
            "end_user_email_address": "o@example.com",
            "status": "COMPLETE",
            "webhook_listener_url": "",
            "is_duplicate": None,
            "account_type": "PRODUCTION",
            "completed_at": body["linked_account"]["completed_at"],
        }
        assert body["linked_account"]["completed_at"].endswith("Z")
    assert all(r.delivered_at and r.attempts == 1 and r.last_status == 200 for r in stored.values())


@pytest.mark.parametrize("refuse", [False, True], ids=["503", "refused"])
async def test_receiver_down_for_a_while_gets_every_event_once_back(
    services: Services, receiver: Receiver, refuse: bool
) -> None:
    account = await link(services)
    await add_target(services, account)
    await emit_tickets(services, account, 5)
    receiver.failures, receiver.refuse = 12, refuse
    await WebhookDelivery(services, NOW).run_until_idle()
    rows = await outbox(services)
    assert sorted(receiver.accepted) == sorted(r.id for r in rows)  # no loss, each processed once
    assert len(receiver.requests) == 17
    assert all(r.delivered_at is not None and r.dead_at is None for r in rows)
    assert sum(r.attempts for r in rows) == 17
    # Retries carry the same event id and body (receivers dedupe on it).
    by_id: dict[str, set[bytes]] = {}
    for request in receiver.requests:
        by_id.setdefault(request.headers[delivery.EVENT_ID_HEADER], set()).add(request.content)
    assert all(len(bodies) == 1 for bodies in by_id.values())


async def test_deliveries_survive_a_restart(
    services: Services, receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    account = await link(services)
    await add_target(services, account)
    await emit_tickets(services, account, 6)
    receiver.delay = 0.3
    config = DeliveryConfig(batch_size=2, lease_seconds=0.5, poll_seconds=0.01)
    first = asyncio.create_task(WebhookDelivery(services, config).run_forever())
    await asyncio.wait_for(receiver.arrived.wait(), timeout=10)
    first.cancel()  # the process dies mid-delivery: leases held, outcomes never recorded
    await asyncio.gather(first, return_exceptions=True)
    await close(services)
    restarted = make_services(database_url, tmp_path, receiver, LOOPBACK)
    assert all(r.delivered_at is None for r in await outbox(restarted))
    try:
        receiver.delay = 0.0
        await asyncio.sleep(0.6)  # the dead process's leases expire
        await WebhookDelivery(restarted, config).run_until_idle()
        rows = await outbox(restarted)
        assert all(r.delivered_at is not None for r in rows)
        assert set(receiver.accepted) == {r.id for r in rows}  # at least once: every event arrived
    finally:
        await close(restarted)


async def test_gone_too_old_and_refused_urls(
    services: Services, receiver: Receiver, database_url: str, tmp_path: Path
) -> None:
    account = await link(services)
    await add_target(services, account)
    await emit_tickets(services, account, 2)
    first, second = await outbox(services)
    async with services.engine.begin() as conn:  # the second event is older than the max age
        await conn.execute(
            update(webhook_outbox)
            .where(webhook_outbox.c.id == second.id)
            .values(created_at=second.created_at - int(NOW.max_age_seconds * delivery.SECOND) - 1)
        )
    receiver.failures = 2
    await WebhookDelivery(services, DeliveryConfig(backoff_base_seconds=3600)).run_until_idle()
    rows = {r.id: r for r in await outbox(services)}
    assert rows[second.id].dead_at is not None and rows[second.id].attempts == 1
    assert rows[first.id].dead_at is None and rows[first.id].next_attempt_at > time.time() * 1e6 + 1e9
    assert rows[first.id].last_status == 503 and "503" in rows[first.id].last_error

    # A policy that no longer allows loopback: nothing is sent, the event waits and says why.
    strict = make_services(database_url, tmp_path, receiver, ())
    try:
        await emit_tickets(strict, account, 1, start=10)
        sent = len(receiver.requests)
        await WebhookDelivery(strict, NOW).deliver_due()
        assert len(receiver.requests) == sent
        refused = [r for r in await outbox(strict) if r.last_error and "policy" in r.last_error]
        assert len(refused) == 1 and refused[0].dead_at is None
    finally:
        await close(strict)


async def test_410_gone_is_not_retried(services: Services) -> None:
    account = await link(services)
    await add_target(services, account)
    await emit_tickets(services, account, 1)
    services.http._transport = httpx.MockTransport(lambda r: httpx.Response(410))
    await WebhookDelivery(services, NOW).run_until_idle()
    (row,) = await outbox(services)
    assert row.dead_at is not None and row.attempts == 1 and row.last_status == 410


async def test_finished_events_are_purged_after_the_retention_pending_ones_kept(
    services: Services, receiver: Receiver
) -> None:
    account = await link(services)
    await add_target(services, account)
    await emit_tickets(services, account, 3)
    loop = WebhookDelivery(services, NOW)
    assert await loop.run_until_idle() == 3
    await emit_tickets(services, account, 2, start=3)  # not delivered yet
    assert await loop.purge() == 0  # delivered just now: within the retention
    cutoff = now_micros() + 1
    assert await delivery.purge_finished(services.engine, older_than=cutoff) == 3
    left = await outbox(services)
    assert len(left) == 2 and all(r.delivered_at is None for r in left)
    assert await loop.run_until_idle() == 2  # the pending ones are still delivered


# --- sync -> events -----------------------------------------------------------------------------------


async def test_sync_emits_changes_but_not_a_flood_on_the_initial_sync(services: Services) -> None:
    d = seed_vendor(n=5, comments_per=1)
    account = await link(services)
    await add_target(services, account)
    await sync_worker(services).run_until_idle()
    initial = decoded(await outbox(services))
    assert [e["hook"]["event"] for e in initial] == ["LinkedAccount.sync_completed"]
    data = initial[0]["data"]
    assert data["is_initial_sync"] is True
    assert data["integration_name"] == "Fake Desk" and data["integration_id"] == "fakedesk"
    assert set(data["sync_status"]) == {"ticketing.Ticket", "ticketing.Comment"}
    ticket_status = data["sync_status"]["ticketing.Ticket"]
    assert ticket_status["last_sync_result"] == "DONE" and ticket_status["sync_status_reason"] is None
    assert ticket_status["last_sync_finished"].endswith("Z") and ticket_status["data_fresh_as_of"]

    d.put_ticket({**d.tickets["t3"], "title": "Renamed"})
    d.delete_ticket("t1")
    d.put_comment({"id": "late", "ticket_id": "t4", "text": "late", "internal": False})
    await make_due(services)
    await sync_worker(services).run_until_idle()
    later = decoded((await outbox(services))[1:])
    by_event: dict[str, list[dict[str, Any]]] = {}
    for body in later:
        by_event.setdefault(body["hook"]["event"], []).append(body["data"])
    assert [t["name"] for t in by_event["Ticket.changed"] if t["remote_id"] == "t3"] == ["Renamed"]
    (removed,) = by_event["Ticket.removed"]
    assert removed["remote_id"] == "t1" and removed["remote_was_deleted"] is True and removed["id"]
    assert [c["remote_id"] for c in by_event["Comment.added"]] == ["late"]
    (completed,) = by_event["LinkedAccount.sync_completed"]
    assert completed["is_initial_sync"] is False
    # The data is the record exactly as GET serves it (the stored JSON).
    async with services.engine.connect() as conn:
        stored = await conn.scalar(select(tickets.c.data).where(tickets.c.remote_id == "t3"))
    t3 = next(t for t in by_event["Ticket.changed"] if t["remote_id"] == "t3")
    assert stored is not None and t3 == msgspec.json.decode(stored)


async def test_refused_credentials_raise_an_issue(services: Services) -> None:
    seed_vendor(n=2, comments_per=0)
    account = await link(services, key="revoked")
    await add_target(services, account, events=("Issue.new",))
    await sync_worker(services).run_until_idle()
    (body,) = decoded(await outbox(services))
    assert body["hook"]["event"] == "Issue.new"
    assert body["data"]["status"] == "ONGOING" and "credentials refused" in body["data"]["error_details"][0]
    assert body["linked_account"]["id"] == account.id
    async with services.engine.connect() as conn:
        states = (await conn.execute(select(sync_state.c.status))).scalars().all()
        # The issue the webhook announced is the one GET /issues lists.
        ((_, issue),) = await issue_store.list_issues(
            conn, account.organization_id, issue_store.IssueFilter(), after=0, limit=10
        )
    assert set(states) == {"FAILED"}
    assert issue.id == body["data"]["id"] and issue.status == "ONGOING"
    assert body["data"]["end_user"]["linked_account_id"] == account.id


# --- the API ------------------------------------------------------------------------------------------


@pytest.fixture
async def api(database_url: str, tmp_path: Path, receiver: Receiver) -> AsyncIterator[Service]:
    fakes.DESKS.clear()
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="test-secret", outbound_allow=LOOPBACK
    )
    engine_services = make_services(database_url, tmp_path, receiver, LOOPBACK)
    async with engine_services.engine.begin() as conn:
        api_key = await account_store.create_api_key(conn, "tests")
    http = httpx.AsyncClient(transport=transport(receiver))
    app = create_app(settings, http_client=http)
    try:
        async with AsyncTestClient(app=app) as client:
            yield Service(client=client, engine=engine_services.engine, api_key=api_key, settings=settings)
    finally:
        await http.aclose()
        await close(engine_services)


async def create_target(api: Service, **body: Any) -> httpx.Response:
    return await api.client.post(f"{API}/webhook-targets", headers=api.headers(), json=body)


async def test_api_create_list_delete(api: Service) -> None:
    made = await create_target(api, url=HOOK_URL, events=["Ticket.added", "LinkedAccount.linked"])
    assert made.status_code == 201, made.text
    target = made.json()
    assert target["secret"].startswith("whsec_") and len(target["secret"]) > 30
    assert target["events"] == ["Ticket.added", "LinkedAccount.linked"] and target["is_active"] is True
    chosen = await create_target(api, url=HOOK_URL + "/", secret="my-own-secret-of-some-length")
    assert chosen.status_code == 201 and chosen.json()["secret"] == "my-own-secret-of-some-length"
    assert chosen.json()["url"] == HOOK_URL and chosen.json()["events"] == []

    listed = await api.client.get(f"{API}/webhook-targets", headers=api.headers(), params={"page_size": 1})
    page = listed.json()
    assert listed.status_code == 200 and len(page["results"]) == 1 and page["next"]
    rest = await api.client.get(
        f"{API}/webhook-targets", headers=api.headers(), params={"cursor": page["next"]}
    )
    everything = page["results"] + rest.json()["results"]
    assert {t["id"] for t in everything} == {target["id"], chosen.json()["id"]}
    assert "secret" not in listed.text and target["secret"] not in listed.text + rest.text  # shown once

    gone = await api.client.delete(f"{API}/webhook-targets/{target['id']}", headers=api.headers())
    assert gone.status_code == 200 and gone.json()["id"] == target["id"] and "secret" not in gone.json()
    again = await api.client.delete(f"{API}/webhook-targets/{target['id']}", headers=api.headers())
    assert again.status_code == 404 and again.json()["detail"] == "Not found."


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"url": "http://10.1.2.3/hook"}, "/url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "/url"),
        ({"url": "ftp://127.0.0.1/hook"}, "/url"),
        ({"url": "https://user:pw@127.0.0.1/hook"}, "/url"),
        ({"url": HOOK_URL, "events": ["Ticket.added", "Ticket.exploded"]}, "/events"),
        ({"url": HOOK_URL, "events": ["LinkedAccount.synced"]}, "/events"),  # Merge's, never emitted
        ({"url": HOOK_URL, "secret": "short"}, "/secret"),
    ],
)
async def test_api_refuses_bad_targets(api: Service, body: dict[str, Any], pointer: str) -> None:
    r = await create_target(api, **body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"]["pointer"] == pointer
    listed = await api.client.get(f"{API}/webhook-targets", headers=api.headers())
    assert listed.json()["results"] == []


async def test_api_other_organization_cannot_see_or_touch_a_target(api: Service) -> None:
    target = (await create_target(api, url=HOOK_URL)).json()
    other = await api.new_api_key("other-org")
    h = api.headers(api_key=other)
    listed = await api.client.get(f"{API}/webhook-targets", headers=h)
    assert listed.status_code == 200 and listed.json()["results"] == []
    for method, path in (
        ("DELETE", f"/webhook-targets/{target['id']}"),
        ("GET", f"/webhook-targets/{target['id']}/deliveries"),
        ("POST", f"/webhook-targets/{target['id']}/test"),
    ):
        r = await api.client.request(method, f"{API}{path}", headers=h)
        assert r.status_code == 404, (method, path, r.text)
    mine = await api.client.get(f"{API}/webhook-targets", headers=api.headers())
    assert [t["id"] for t in mine.json()["results"]] == [target["id"]]
    no_key = await api.client.get(f"{API}/webhook-targets")
    assert no_key.status_code == 401


async def test_api_send_test_and_deliveries(api: Service, receiver: Receiver) -> None:
    target = (await create_target(api, url=HOOK_URL)).json()
    receiver.failures = 1
    failed = await api.client.post(f"{API}/webhook-targets/{target['id']}/test", headers=api.headers())
    assert failed.status_code == 200, failed.text
    assert failed.json()["status"] == "RETRYING" and failed.json()["last_status_code"] == 503
    assert "503" in failed.json()["last_error"] and failed.json()["next_attempt_at"]
    ok = await api.client.post(f"{API}/webhook-targets/{target['id']}/test", headers=api.headers())
    assert ok.json()["status"] == "DELIVERED" and ok.json()["attempts"] == 1
    request = receiver.requests[-1]
    assert signing.verify(target["secret"], request.content, request.headers[signing.TIMESTAMPED_HEADER])
    assert signing.verify_merge(target["secret"], request.content, request.headers[signing.MERGE_HEADER])
    body = msgspec.json.decode(request.content)
    assert body["hook"] == {"id": target["id"], "event": "WebhookTarget.test", "target": HOOK_URL}
    assert body["linked_account"] is None and body["data"]["response"].startswith("Success!")

    deliveries = await api.client.get(
        f"{API}/webhook-targets/{target['id']}/deliveries", headers=api.headers(), params={"page_size": 1}
    )
    page = deliveries.json()
    assert [d["id"] for d in page["results"]] == [ok.json()["id"]] and page["next"]
    older = await api.client.get(
        f"{API}/webhook-targets/{target['id']}/deliveries",
        headers=api.headers(),
        params={"cursor": page["next"]},
    )
    assert [d["status"] for d in older.json()["results"]] == ["RETRYING"]


async def test_api_account_lifecycle_and_writes_emit_events(api: Service) -> None:
    await create_target(api, url=HOOK_URL)
    linked = await api.link(origin="customer-1", desk="desk-a")
    token = linked["account_token"]
    relinked = await api.link(origin="customer-1", desk="desk-a")  # a relink is not a new link
    assert relinked["id"] == linked["id"]
    created = await api.client.post(
        f"{API}/tickets", headers=api.headers(token), json={"model": {"name": "From the API"}}
    )
    assert created.status_code == 201, created.text
    deleted = await api.client.post(f"{API}/delete-account", headers=api.headers(token))
    assert deleted.status_code == 200
    async with api.engine.connect() as conn:
        rows = list(await conn.execute(select(webhook_outbox).order_by(webhook_outbox.c.seq)))
    bodies = decoded(rows)
    assert [b["hook"]["event"] for b in bodies] == [
        "LinkedAccount.linked",
        "Ticket.added",
        "LinkedAccount.deleted",
    ]
    assert bodies[0]["data"]["id"] == linked["id"] == bodies[2]["linked_account"]["id"]
    assert bodies[1]["data"] == created.json()["model"]
