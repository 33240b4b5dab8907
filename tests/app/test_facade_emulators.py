"""Through the facade, end to end: a Zendesk and a Freshdesk desk (emulators, as separate processes)
linked in deskbridge; Merge's SDK creates a ticket, updates it and comments on it, and the vendors have
them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from merge import Merge
from merge.resources.ticketing import CommentRequest, PatchedTicketRequest, TicketRequest

from app import demo
from app.asgi import create_app
from app.db import accounts as account_store
from app.db.engine import create_engine, migrate
from app.services import build_services
from app.settings import Settings
from app.sync.worker import Worker
from connectors.http import Quota, RateLimiter
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig


def vendor_ticket(desk: demo.LinkedDesk, remote_id: str) -> Any:
    r = httpx.get(f"{desk.emulator_url}/_emulator/tables/tickets/{remote_id}")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    "vendor",
    [
        "zendesk",
        "freshdesk",
    ],
)
def test_sdk_writes_reach_the_vendor(tmp_path: Path, vendor: str) -> None:
    settings = demo.sandbox_settings(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'facade.db'}", data_dir=tmp_path)
    )
    info = demo.prepare(settings, tickets=10, quiet=True)
    try:
        with ServerThread(create_app(settings)) as server:
            for desk in [d for d in info.desks if d.integration == vendor]:
                client = Merge(
                    base_url=f"{server.url}/api", api_key=info.api_key, account_token=desk.account_token
                )
                listed = client.ticketing.tickets.list(page_size=100).results or []
                assert len(listed) == 10  # the initial sync stored the vendor's tickets
                created = client.ticketing.tickets.create(
                    model=TicketRequest(
                        name=f"Printer on fire ({desk.integration})", description="Smoke", priority="URGENT"
                    )
                ).model
                patched = client.ticketing.tickets.partial_update(
                    created.id, model=PatchedTicketRequest(status="ON_HOLD")
                ).model
                assert patched.status == "ON_HOLD" and patched.priority == "URGENT"
                client.ticketing.comments.create(model=CommentRequest(ticket=created.id, body="On it"))
                client.ticketing.comments.create(
                    model=CommentRequest(ticket=created.id, body="internal note", is_private=True)
                )
                stored = vendor_ticket(desk, created.remote_id)
                if vendor == "freshdesk":  # no contact given: the API key's own agent asked
                    me = httpx.get(f"{desk.emulator_url}/api/v2/agents/me", auth=("fd-api-key", "X"))
                    assert stored["requester_id"] == me.json()["id"]
                text = str(stored)
                assert f"Printer on fire ({desk.integration})" in text
                assert "On it" in text and "internal note" in text
                assert client.ticketing.tickets.retrieve(created.id).status == "ON_HOLD"
                comments = client.ticketing.comments.list(ticket_id=created.id).results or []
                assert {c.body for c in comments} >= {"On it", "internal note"}
    finally:
        info.stop()


# --- linked through the public API, emulators in this process on loopback, on every backend ----------

ZD_CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
FD_CREDENTIALS = {"domain": "acme", "api_key": "fd-api-key"}
#: Vendor values a created-then-patched ticket must show: (priority URGENT, status ON_HOLD).
VENDOR_VALUES = {"zendesk": ("urgent", "pending"), "freshdesk": (4, 3)}


def _emulator(vendor: str, port: int) -> Any:
    url = f"http://127.0.0.1:{port}"
    limits = RateLimit(enabled=False)
    if vendor == "zendesk":
        return create_zendesk(ZendeskConfig(tickets=23, seed=5, base_url=url, rate_limit=limits))
    return create_freshdesk(FreshdeskConfig(tickets=23, seed=5, base_url=url, rate_limit=limits))


async def _api_key(url: str) -> str:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await account_store.create_api_key(conn, "facade")
    finally:
        await engine.dispose()


async def _sync(settings: Settings, account_id: str) -> int:
    """One sync of the account, as the worker runs it (a sandbox quota: the emulators do not throttle)."""
    services = build_services(settings)
    services.limiters[account_id] = RateLimiter([Quota(requests=100_000, per=60)])
    try:
        return await Worker(services).run_until_idle(account_id=account_id)
    finally:
        await services.http.aclose()
        await services.engine.dispose()


def _all_tickets(client: Merge) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = client.ticketing.tickets.list(page_size=7, cursor=cursor)
        ids += [t.id for t in page.results or [] if t.id]
        cursor = page.next
        if not cursor:
            return ids


def _admin(base: str, path: str) -> Any:
    r = httpx.get(f"{base}/_emulator{path}")
    assert r.status_code == 200, r.text
    return r.json()


def test_linked_desks_sync_page_and_take_sdk_writes(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="facade-secret",
        outbound_allow=("127.0.0.0/8",),
    )
    api_key = asyncio.run(_api_key(database_url))
    ports = {v: free_port() for v in VENDOR_VALUES}
    with contextlib.ExitStack() as stack:
        vendors = {v: stack.enter_context(ServerThread(_emulator(v, p), port=p)) for v, p in ports.items()}
        server = stack.enter_context(ServerThread(create_app(settings)))
        for vendor, emulator in vendors.items():
            linked = httpx.post(
                f"{server.url}/api/ticketing/v1/linked-accounts",
                headers={"Authorization": f"Bearer {api_key}"},
                json={
                    "integration": vendor,
                    "credentials": ZD_CREDENTIALS if vendor == "zendesk" else FD_CREDENTIALS,
                    "base_url": emulator.url,
                    "end_user_origin_id": f"facade-{vendor}",
                    "end_user_organization_name": "Acme",
                    "end_user_email_address": "admin@acme.test",
                },
            )
            assert linked.status_code in (200, 201), linked.text
            account = linked.json()
            assert uuid.UUID(account["id"]).version == 8  # its records get ids ordered by vendor id
            assert asyncio.run(_sync(settings, account["id"])) > 0
            client = Merge(
                base_url=f"{server.url}/api", api_key=api_key, account_token=account["account_token"]
            )
            _check_desk(client, vendor, emulator.url)


def _check_desk(client: Merge, vendor: str, emulator: str) -> None:
    vendor_ids = _admin(emulator, "/tables/tickets")["ids"]
    listed = _all_tickets(client)
    assert len(listed) == len(set(listed)) == len(vendor_ids)  # paged through, each ticket once
    contact = (client.ticketing.contacts.list(page_size=1).results or [])[0]
    created = client.ticketing.tickets.create(
        model=TicketRequest(
            name=f"Printer on fire ({vendor})", description="Smoke", priority="URGENT", contact=contact.id
        )
    ).model
    # New accounts' ids hold the vendor's integer id (app/db/ids.py), on the write path as on sync.
    assert uuid.UUID(created.id).int & (2**62 - 1) == int(created.remote_id)
    patched = client.ticketing.tickets.partial_update(
        created.id, model=PatchedTicketRequest(status="ON_HOLD")
    )
    assert patched.model.status == "ON_HOLD" and patched.model.priority == "URGENT"
    client.ticketing.comments.create(model=CommentRequest(ticket=created.id, body="On it", is_private=False))
    client.ticketing.comments.create(
        model=CommentRequest(ticket=created.id, body="internal note", is_private=True)
    )

    stored = _admin(emulator, f"/tables/tickets/{created.remote_id}")
    priority, status = VENDOR_VALUES[vendor]
    assert stored["subject"] == f"Printer on fire ({vendor})"
    assert (stored["priority"], stored["status"]) == (priority, status)
    assert str(stored["requester_id"]) == contact.remote_id
    if vendor == "zendesk":
        comments = {c["body"]: c["public"] for c in stored["comments"]}
        assert comments == {"Smoke": True, "On it": True, "internal note": False}
    else:
        notes = {c["body_text"]: c["private"] for c in stored["conversations"]}
        assert notes == {"On it": False, "internal note": True}
    # The write went through to the store too: the facade lists what the vendor has.
    assert len(_all_tickets(client)) == len(_admin(emulator, "/tables/tickets")["ids"]) == len(vendor_ids) + 1
    comments = client.ticketing.comments.list(ticket_id=created.id).results or []
    assert {c.body for c in comments} >= {"On it", "internal note"}


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        ({"subdomain": "acme", "access_token": "zd-oauth-token"}, 201),
        ({"subdomain": "acme", "access_token": "zd-oauth-token", "on_behalf_of": "admin@acme.test"}, 201),
        ({"subdomain": "acme", "access_token": "revoked"}, 400),
        ({"subdomain": "acme", "email": "admin@acme.test"}, 400),  # half of the API-token method
    ],
    ids=["oauth", "oauth-on-behalf-of", "oauth-revoked", "incomplete"],
)
def test_zendesk_links_with_an_oauth_token_or_an_api_token(
    database_url: str, tmp_path: Path, credentials: dict[str, str], status: int
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="facade-secret",
        outbound_allow=("127.0.0.0/8",),
    )
    port = free_port()
    with (
        ServerThread(_emulator("zendesk", port), port=port) as emulator,
        ServerThread(create_app(settings)) as server,
    ):
        api_key = asyncio.run(_api_key(database_url))
        r = httpx.post(
            f"{server.url}/api/ticketing/v1/linked-accounts",
            headers={"Authorization": f"Bearer {api_key}"},
            json={
                "integration": "zendesk",
                "credentials": credentials,
                "base_url": emulator.url,
                "end_user_origin_id": "oauth-desk",
                "end_user_organization_name": "Acme",
                "end_user_email_address": "admin@acme.test",
            },
        )
        assert r.status_code == status, r.text
        if status == 201:
            assert asyncio.run(_sync(settings, r.json()["id"])) > 0  # the bearer token reads the desk
        else:
            error = r.json()["errors"][0]
            assert error["source"] == {"pointer": "/credentials"}, error
            if "access_token" not in credentials:
                assert "email + api_token | access_token" in error["detail"], error


def test_a_served_app_closes_what_it_owns_when_the_server_stops(tmp_path: Path) -> None:
    """``ServerThread`` runs the app's shutdown: the engine's connections are closed in the server's
    own loop (left to the collector, they closed after that loop was gone: "Event loop is closed")."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="served-secret")
    api_key = asyncio.run(_migrated_key(database_url))
    app = create_app(settings)
    services = app.state["services"]
    with ServerThread(app) as server:
        r = httpx.get(
            f"{server.url}/api/ticketing/v1/linked-accounts", headers={"Authorization": f"Bearer {api_key}"}
        )
        assert r.status_code == 200, r.text
        assert services.engine.sync_engine.pool.checkedin() >= 1  # the request's connection, pooled
        assert not services.http.is_closed
    assert services.http.is_closed
    assert services.engine.sync_engine.pool.checkedin() == 0  # disposed: a fresh, empty pool


async def _migrated_key(url: str) -> str:
    engine = create_engine(url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            return await account_store.create_api_key(conn, "served")
    finally:
        await engine.dispose()
