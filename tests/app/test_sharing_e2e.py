"""Two fake desks linked in one deskbridge share a ticket through the protocol, over real HTTP.

The server runs in uvicorn on loopback; the test drives sync (``Worker``) and the outbox
(``SharingDelivery``) itself, on the same store, so every step is deterministic. Desk reads go to the
fake desks through a MockTransport; everything else (the protocol) goes over the network.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update

from app.api.state import Services
from app.asgi import create_app
from app.db import accounts as account_store
from app.db.engine import create_engine
from app.db.tables import shared_tickets, sharing_outbox, sync_state
from app.services import build_services
from app.settings import Settings
from app.sharing.deliver import SharingDelivery
from app.sharing.outbox import OutboxConfig
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from connectors.http import RetryPolicy
from connectors.ticket_sharing import client
from connectors.ticket_sharing.client import Outcome
from tests import fakes
from tests.app.conftest import API, LOOPBACK, desk_url
from tests.support.transactions import watching


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Routing(httpx.AsyncBaseTransport):
    """Fake-desk reads (port 9) to the in-memory desks, the rest over the network."""

    def __init__(self) -> None:
        self.mock = httpx.MockTransport(fakes.vendor_api)
        self.net = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.port == 9:
            return await self.mock.handle_async_request(request)
        return await self.net.handle_async_request(request)


class Server:
    def __init__(self, settings: Settings, port: int) -> None:
        self.settings, self.port = settings, port
        self.thread: threading.Thread | None = None
        self.srv: uvicorn.Server | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.srv = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.srv.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.srv.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.srv is not None and self.thread is not None:
            self.srv.should_exit = True
            self.thread.join(timeout=10)


@dataclass
class Deskbridge:
    base: str
    key: str
    services: Services
    server: Server
    http: httpx.AsyncClient

    async def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        if token:
            headers["X-Account-Token"] = token
        return await self.http.request(method, f"{self.base}{API}{path}", headers=headers, **kw)

    async def link(
        self,
        name: str,
        integration: str = "fakedesk",
        credentials: dict[str, str] | None = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """Link desk ``name``: a fake desk by default, or any vendor (an emulator) at ``base_url``."""
        r = await self.api(
            "POST",
            "/linked-accounts",
            json={
                "integration": integration,
                "credentials": credentials or {"api_key": fakes.GOOD_KEY},
                "base_url": base_url or desk_url(name),
                "end_user_origin_id": name,
                "end_user_organization_name": f"{name} Inc",
                "end_user_email_address": f"admin@{name}.example",
            },
        )
        assert r.status_code in (200, 201), r.text
        body: dict[str, Any] = r.json()
        return body

    async def deliver(self, backoff: float = 0.0) -> int:
        config = OutboxConfig(backoff_base_seconds=backoff)
        return await SharingDelivery(self.services, config).run_until_idle()

    async def sync(self, account: str) -> None:
        async with self.services.engine.begin() as conn:
            await conn.execute(
                update(sync_state).where(sync_state.c.linked_account_id == account).values(next_sync_start=0)
            )
        config = RunnerConfig(interval_seconds=3600, waiting_seconds=0, since_overlap_seconds=0)
        await Worker(self.services, WorkerConfig(runner=config)).run_until_idle(account_id=account)


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, port: int) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="sharing-secret",
        outbound_allow=LOOPBACK,
        public_url=f"http://127.0.0.1:{port}",
    )


@pytest.fixture
def server(settings: Settings, port: int) -> Iterator[Server]:
    fakes.DESKS.clear()
    srv = Server(settings, port)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
async def bridge(settings: Settings, server: Server) -> AsyncIterator[Deskbridge]:
    engine = create_engine(settings.database_url)
    async with engine.begin() as conn:
        key = await account_store.create_api_key(conn, "sharing")
    await engine.dispose()
    vendor_http = httpx.AsyncClient(transport=Routing())
    services = build_services(settings, http_client=vendor_http, retry=RetryPolicy.for_tests())
    async with httpx.AsyncClient(timeout=30) as http:
        yield Deskbridge(f"http://127.0.0.1:{server.port}", key, services, server, http)
    await vendor_http.aclose()
    await services.engine.dispose()


def texts(name: str) -> list[str]:
    return [c["text"] for c in fakes.desk(desk_url(name)).comments.values()]


async def agreements(db: Deskbridge, token: str) -> list[dict[str, Any]]:
    r = await db.api("GET", "/sharing/agreements", token)
    assert r.status_code == 200, r.text
    result: list[dict[str, Any]] = r.json()
    return result


async def ticket_ids(db: Deskbridge, token: str) -> list[str]:
    r = await db.api("GET", "/tickets", token)
    return [t["id"] for t in r.json()["results"]]


@pytest.fixture
def sends(bridge: Deskbridge, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int]]]:
    """Every protocol request the delivery sends: (method, transactions of its store open meanwhile)."""
    seen: list[tuple[str, int]] = []
    original = client.send
    with watching(bridge.services.engine.sync_engine) as transactions:

        async def watched(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> Outcome:
            seen.append((method, transactions.count()))
            return await original(http, method, url, **kwargs)

        monkeypatch.setattr(client, "send", watched)
        yield seen


async def test_two_desks_share_a_ticket_end_to_end(bridge: Deskbridge, sends: list[tuple[str, int]]) -> None:
    a, b = await bridge.link("desk-a"), await bridge.link("desk-b")
    b_url = (await bridge.api("GET", "/sharing/url", b["account_token"])).json()["url"]

    # A invites B; B accepts.
    r = await bridge.api(
        "POST", "/sharing/agreements", a["account_token"], json={"partner_url": b_url, "sync_tags": True}
    )
    assert r.status_code == 201, r.text
    a_agreement = r.json()
    assert (a_agreement["direction"], a_agreement["status"]) == ("out", "pending")
    assert await bridge.deliver() == 1
    (b_agreement,) = await agreements(bridge, b["account_token"])
    assert (b_agreement["direction"], b_agreement["status"], b_agreement["partner_name"]) == (
        "in",
        "pending",
        "desk-a Inc",
    )
    assert b_agreement["uuid"] == a_agreement["uuid"] and len(a_agreement["uuid"]) == 40
    r = await bridge.api("POST", f"/sharing/agreements/{b_agreement['id']}/accept", b["account_token"])
    assert r.status_code == 200, r.text
    await bridge.deliver()
    (a_agreement,) = await agreements(bridge, a["account_token"])
    assert (a_agreement["status"], a_agreement["partner_name"]) == ("accepted", "desk-b Inc")

    # A ticket with a customer's message and a comment in desk A; A shares it.
    desk_a, desk_b = fakes.desk(desk_url("desk-a")), fakes.desk(desk_url("desk-b"))
    desk_a.put_ticket({"id": "T1", "title": "Printer on fire", "body": "It smokes.", "labels": ["hw"]})
    desk_a.put_comment({"id": "A1", "ticket_id": "T1", "text": "Did you unplug it?", "internal": False})
    await bridge.sync(a["id"])
    (a_ticket,) = await ticket_ids(bridge, a["account_token"])
    r = await bridge.api(
        "POST", f"/tickets/{a_ticket}/share", a["account_token"], json={"agreement": a_agreement["id"]}
    )
    assert r.status_code == 201, r.text
    await bridge.deliver()
    (b_raw,) = desk_b.tickets.values()
    assert b_raw["title"] == "Printer on fire" and b_raw["state"] == "open" and b_raw["labels"] == ["hw"]
    assert b_raw["body"].endswith("It smokes.")
    assert [t.split("\n\n")[-1] for t in texts("desk-b")] == ["Did you unplug it?"]

    # An agent comment on B reaches A, and is not echoed back to B.
    desk_b.put_comment(
        {"id": "B1", "ticket_id": b_raw["id"], "text": "Partner here: on it.", "internal": True}
    )
    await bridge.sync(b["id"])
    await bridge.deliver()
    assert texts("desk-a")[-1] == "desk-b Inc (desk-b Inc) wrote:\n\nPartner here: on it." or texts("desk-a")[
        -1
    ].endswith("Partner here: on it.")
    assert list(desk_a.comments.values())[-1]["internal"] is True
    b_count, a_count = len(desk_b.comments), len(desk_a.comments)
    await bridge.sync(a["id"])
    await bridge.deliver()
    await bridge.sync(b["id"])
    await bridge.deliver()
    assert (len(desk_a.comments), len(desk_b.comments)) == (a_count, b_count)  # no echo either way

    # An agent comment on A reaches B.
    desk_a.put_comment({"id": "A2", "ticket_id": "T1", "text": "Replacement shipped.", "internal": False})
    await bridge.sync(a["id"])
    await bridge.deliver()
    assert texts("desk-b")[-1].endswith("Replacement shipped.")
    assert len(desk_b.comments) == b_count + 1

    # Status: A puts it on hold -> B; B solves it -> A.
    desk_a.put_ticket({**desk_a.tickets["T1"], "state": "waiting"})
    await bridge.sync(a["id"])
    await bridge.deliver()
    assert desk_b.tickets[b_raw["id"]]["state"] == "waiting"
    desk_b.put_ticket({**desk_b.tickets[b_raw["id"]], "state": "done"})
    await bridge.sync(b["id"])
    await bridge.deliver()
    assert desk_a.tickets["T1"]["state"] == "done"
    await bridge.sync(a["id"])
    assert await bridge.deliver() in (0, 1)
    assert desk_b.tickets[b_raw["id"]]["state"] == "done"

    # Only the sharing side unshares: B cannot; A can, and B keeps an orphan.
    (b_ticket,) = await ticket_ids(bridge, b["account_token"])
    r = await bridge.api("POST", f"/tickets/{b_ticket}/unshare", b["account_token"])
    assert r.status_code == 400 and "only the side that shared" in r.json()["detail"]
    r = await bridge.api("POST", f"/tickets/{a_ticket}/unshare", a["account_token"])
    assert r.status_code == 200
    await bridge.deliver()
    async with bridge.services.engine.connect() as conn:
        states = dict((await conn.execute(select(shared_tickets.c.role, shared_tickets.c.state))).all())
    assert states == {"sharer": "unshared", "receiver": "unshared"}
    assert b_raw["id"] in desk_b.tickets

    # A deactivates: B hears it, and further updates are refused.
    access = await deactivate(bridge, a, b, a_agreement["id"])
    r = await bridge.http.put(
        f"{b_url}/tickets/anything",
        content=b'{"uuid":"anything","status":"open"}',
        headers={
            "X-Ticket-Sharing-Token": f"{a_agreement['uuid']}:{access}",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 403

    # Every kind of request went out (invite, agreement changes, share, updates, unshare), and none
    # while a transaction of the delivering store was open (it would wait on the partner).
    assert {method for method, _ in sends} == {"POST", "PUT", "DELETE"}
    assert [open_ for _, open_ in sends] == [0] * len(sends)


async def deactivate(db: Deskbridge, a: dict[str, Any], b: dict[str, Any], agreement_id: str) -> str:
    """A deactivates its agreement and B hears it; returns A's access key (still presented by A)."""
    r = await db.api("POST", f"/sharing/agreements/{agreement_id}/deactivate", a["account_token"])
    assert r.status_code == 200 and r.json()["status"] == "inactive"
    await db.deliver()
    (b_agreement,) = await agreements(db, b["account_token"])
    assert (b_agreement["status"], b_agreement["deactivated_by"]) == ("inactive", "sender")
    return await _access_key(db, a["id"])


async def _access_key(db: Deskbridge, account_id: str) -> str:
    from app.sharing import store

    async with db.services.engine.connect() as conn:
        (agreement,) = await store.list_agreements(conn, account_id)
    return db.services.box.decrypt(agreement.access_key).decode()


async def test_delivery_survives_a_partner_that_is_down(bridge: Deskbridge, settings: Settings) -> None:
    """The invite is sent to a deskbridge that is not listening yet; it arrives once it is up."""
    a = await bridge.link("desk-a")
    port = _free_port()
    partner_settings = Settings(
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        secret_key=settings.secret_key,
        outbound_allow=LOOPBACK,
        public_url=f"http://127.0.0.1:{port}",
    )
    b = await bridge.link("desk-b")
    b_path = (
        (await bridge.api("GET", "/sharing/url", b["account_token"])).json()["url"].split("/sharing/", 1)[1]
    )
    partner_url = f"http://127.0.0.1:{port}/sharing/{b_path}"
    r = await bridge.api("POST", "/sharing/agreements", a["account_token"], json={"partner_url": partner_url})
    assert r.status_code == 201, r.text

    for _ in range(3):  # down: each attempt fails and is retried later
        assert await bridge.deliver(backoff=60) == 1
        async with bridge.services.engine.begin() as conn:
            row = (await conn.execute(select(sharing_outbox))).one()
            assert row.delivered_at is None and row.dead_at is None and "ConnectError" in row.last_error
            await conn.execute(update(sharing_outbox).values(next_attempt_at=0))
    assert not await agreements(bridge, b["account_token"])

    partner = Server(partner_settings, port)
    partner.start()
    try:
        # A new delivery process (as after a restart) picks the row up from the store.
        assert await bridge.deliver() == 1
    finally:
        partner.stop()
    async with bridge.services.engine.connect() as conn:
        row = (await conn.execute(select(sharing_outbox))).one()
    assert row.delivered_at is not None and row.attempts == 4 and row.last_status == 201
    (b_agreement,) = await agreements(bridge, b["account_token"])
    assert b_agreement["status"] == "pending"


async def test_tenancy_of_agreements(bridge: Deskbridge) -> None:
    a, b = await bridge.link("desk-a"), await bridge.link("desk-b")
    b_url = (await bridge.api("GET", "/sharing/url", b["account_token"])).json()["url"]
    r = await bridge.api("POST", "/sharing/agreements", a["account_token"], json={"partner_url": b_url})
    agreement_id = r.json()["id"]
    for action in ("accept", "decline", "deactivate"):
        r = await bridge.api("POST", f"/sharing/agreements/{agreement_id}/{action}", b["account_token"])
        assert r.status_code == 404
    r = await bridge.api("GET", f"/sharing/agreements/{agreement_id}", b["account_token"])
    assert r.status_code == 404
    r = await bridge.api("POST", f"/sharing/agreements/{agreement_id}/accept", a["account_token"])
    assert r.status_code == 400  # the inviting side cannot accept its own invite
    r = await bridge.api(
        "POST", "/sharing/agreements", a["account_token"], json={"partner_url": "http://169.254.169.254/x"}
    )
    assert r.status_code == 400 and "refused" in r.json()["detail"]
    await asyncio.sleep(0)
