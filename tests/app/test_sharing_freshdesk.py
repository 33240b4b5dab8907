"""Two Freshdesk desks (emulators, real vendor APIs on loopback) linked in one deskbridge share a
ticket through the Ticket Sharing protocol, end to end.

Agents act in their own desk through the Freshdesk API; deskbridge finds their changes by syncing and
sends them to the partner through the protocol (``bridge.deliver``), where they are written into the
other Freshdesk through its API. Everything is checked in the emulators' own state.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db.tables import shared_tickets
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from tests.app import test_sharing_e2e as e2e
from tests.app.test_sharing_e2e import Deskbridge, agreements, deactivate
from tests.emulators import test_zendesk_sharing as zendesk_sharing

# The deskbridge server and its store, as in the fake-desk end-to-end test.
bridge, server, settings, port = e2e.bridge, e2e.server, e2e.settings, e2e.port

API_KEY = "fd-api-key"
#: Freshdesk statuses.
OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5


class Freshdesk:
    """One emulated Freshdesk, driven as its agents would."""

    def __init__(self, url: str) -> None:
        self.url = url

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(method, f"{self.url}/api/v2{path}", json=body, auth=(API_KEY, "X"), timeout=30)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        return self.api("GET", f"/tickets/{ticket_id}")  # type: ignore[no-any-return]

    def ticket_ids(self) -> list[int]:
        return [t["id"] for t in self.api("GET", "/tickets?updated_since=2000-01-01T00:00:00Z&per_page=100")]

    def conversations(self, ticket_id: int) -> list[dict[str, Any]]:
        return self.api("GET", f"/tickets/{ticket_id}/conversations?per_page=100")  # type: ignore[no-any-return]

    def texts(self, ticket_id: int) -> list[str]:
        return [str(c["body_text"]) for c in self.conversations(ticket_id)]


@pytest.fixture
def desks() -> Iterator[tuple[Freshdesk, Freshdesk]]:
    started = []
    for seed in (21, 22):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # A quota the desks advertise (as every real Freshdesk does), which the connector adopts: with
        # none, it keeps to the lowest plan's 50 requests a minute, and this test's syncs of one desk
        # took more than that in some runs, waiting out the rest of the minute.
        limit = RateLimit(per_minute=100_000, endpoint_limits=False)
        config = FreshdeskConfig(tickets=3, seed=seed, base_url=url, rate_limit=limit)
        server = ServerThread(create_freshdesk(config), port=port)
        server.__enter__()
        started.append((server, Freshdesk(url)))
    try:
        yield started[0][1], started[1][1]
    finally:
        for server, _ in started:
            server.__exit__(None, None, None)


async def common_id(bridge: Deskbridge, account: dict[str, Any], remote_id: int) -> str:
    """Our id of the ticket ``remote_id`` of ``account``'s desk."""
    r = await bridge.api("GET", "/tickets?page_size=100", account["account_token"])
    return next(str(t["id"]) for t in r.json()["results"] if t["remote_id"] == str(remote_id))


async def _link(bridge: Deskbridge, name: str, desk: Freshdesk) -> dict[str, Any]:
    credentials = {"domain": name, "api_key": API_KEY}
    return await bridge.link(name, "freshdesk", credentials, desk.url)


async def test_two_freshdesks_share_a_ticket_end_to_end(
    bridge: Deskbridge, desks: tuple[Freshdesk, Freshdesk]
) -> None:
    desk_a, desk_b = desks
    a, b = await _link(bridge, "desk-a", desk_a), await _link(bridge, "desk-b", desk_b)
    b_url = (await bridge.api("GET", "/sharing/url", b["account_token"])).json()["url"]
    await bridge.sync(a["id"])
    await bridge.sync(b["id"])
    b_before = set(desk_b.ticket_ids())

    # A invites B; B accepts.
    r = await bridge.api(
        "POST", "/sharing/agreements", a["account_token"], json={"partner_url": b_url, "sync_tags": True}
    )
    assert r.status_code == 201, r.text
    a_agreement = r.json()
    assert await bridge.deliver() == 1
    (b_agreement,) = await agreements(bridge, b["account_token"])
    assert (b_agreement["direction"], b_agreement["status"]) == ("in", "pending")
    r = await bridge.api("POST", f"/sharing/agreements/{b_agreement['id']}/accept", b["account_token"])
    assert r.status_code == 200, r.text
    await bridge.deliver()
    (a_agreement,) = await agreements(bridge, a["account_token"])
    assert a_agreement["status"] == "accepted"

    # An agent of A opens a ticket for a customer and replies; A shares it.
    created = desk_a.api(
        "POST",
        "/tickets",
        {
            "subject": "Printer on fire",
            "description": "It smokes.",
            "email": "customer@example.com",
            "status": OPEN,
            "priority": 2,
            "tags": ["hw"],
        },
    )
    a_tid = created["id"]
    desk_a.api("POST", f"/tickets/{a_tid}/reply", {"body": "Did you unplug it?"})
    await bridge.sync(a["id"])
    a_ticket = await common_id(bridge, a, a_tid)
    r = await bridge.api(
        "POST", f"/tickets/{a_ticket}/share", a["account_token"], json={"agreement": a_agreement["id"]}
    )
    assert r.status_code == 201, r.text
    await bridge.deliver()

    # It appears in B, with its first message and the reply.
    (b_tid,) = set(desk_b.ticket_ids()) - b_before
    b_raw = desk_b.ticket(b_tid)
    assert b_raw["subject"] == "Printer on fire" and b_raw["status"] == OPEN and b_raw["tags"] == ["hw"]
    assert "It smokes." in b_raw["description_text"]
    (reply,) = desk_b.texts(b_tid)
    assert re.fullmatch(r"[^\n]+ \(desk-a Inc\) wrote:\nDid you unplug it\?", reply), reply
    await bridge.sync(b["id"])

    # An agent note on B reaches A, privately, and is not echoed back to B.
    desk_b.api("POST", f"/tickets/{b_tid}/notes", {"body": "Partner here: on it.", "private": True})
    await bridge.sync(b["id"])
    await bridge.deliver()
    last_a = desk_a.conversations(a_tid)[-1]
    assert last_a["body_text"].endswith("Partner here: on it.") and last_a["private"] is True
    a_count, b_count = len(desk_a.conversations(a_tid)), len(desk_b.conversations(b_tid))
    assert (a_count, b_count) == (2, 2)
    for account in (a, b, a, b):
        await bridge.sync(account["id"])
        await bridge.deliver()
    assert (len(desk_a.conversations(a_tid)), len(desk_b.conversations(b_tid))) == (2, 2)  # no echo

    # A reply on A reaches B.
    desk_a.api("POST", f"/tickets/{a_tid}/reply", {"body": "Replacement shipped."})
    await bridge.sync(a["id"])
    await bridge.deliver()
    assert desk_b.texts(b_tid)[-1].endswith("Replacement shipped.")
    assert len(desk_b.conversations(b_tid)) == 3

    # Status: A puts it on hold (pending) -> B; B resolves it -> A.
    desk_a.api("PUT", f"/tickets/{a_tid}", {"status": PENDING})
    await bridge.sync(a["id"])
    await bridge.deliver()
    assert desk_b.ticket(b_tid)["status"] == PENDING
    desk_b.api("PUT", f"/tickets/{b_tid}", {"status": RESOLVED})
    await bridge.sync(b["id"])
    await bridge.deliver()
    # Resolved and Closed are both CLOSED in the common model, which writes Closed (the final state).
    assert desk_a.ticket(a_tid)["status"] == CLOSED
    await bridge.sync(a["id"])
    await bridge.deliver()
    assert desk_b.ticket(b_tid)["status"] == RESOLVED, desk_b.ticket(b_tid)["status"]
    assert (len(desk_a.conversations(a_tid)), len(desk_b.conversations(b_tid))) == (3, 3)

    # Only the sharing side unshares: B cannot; A can, and B keeps an orphan.
    b_ticket = await common_id(bridge, b, b_tid)
    r = await bridge.api("POST", f"/tickets/{b_ticket}/unshare", b["account_token"])
    assert r.status_code == 400, r.text
    r = await bridge.api("POST", f"/tickets/{a_ticket}/unshare", a["account_token"])
    assert r.status_code == 200, r.text
    await bridge.deliver()
    async with bridge.services.engine.connect() as conn:
        states = dict((await conn.execute(select(shared_tickets.c.role, shared_tickets.c.state))).all())
    assert states == {"sharer": "unshared", "receiver": "unshared"}
    assert desk_b.ticket(b_tid)["subject"] == "Printer on fire"  # the orphan stays

    # A deactivates: B hears it, and further updates are refused, writing nothing.
    access = await deactivate(bridge, a, b, a_agreement["id"])
    tickets_before = len(desk_b.ticket_ids())
    r = await bridge.http.post(
        f"{b_url}/tickets/{'f' * 40}",
        content=b'{"uuid":"' + b"f" * 40 + b'","subject":"late","requested_at":null,"status":"open"}',
        headers={
            "X-Ticket-Sharing-Token": f"{a_agreement['uuid']}:{access}",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 403, r.text
    assert len(desk_b.ticket_ids()) == tickets_before


# --- Zendesk (its own sharing side, in the emulator) -> a Freshdesk linked in deskbridge -------------

zendesk = zendesk_sharing.zendesk


async def test_zendesk_shares_with_a_linked_freshdesk(
    bridge: Deskbridge, zendesk: zendesk_sharing.Emulator, desks: tuple[Freshdesk, Freshdesk]
) -> None:
    _, desk_b = desks
    b = await _link(bridge, "desk-b", desk_b)
    await bridge.sync(b["id"])
    b_before = set(desk_b.ticket_ids())
    b_url = (await bridge.api("GET", "/sharing/url", b["account_token"])).json()["url"]
    async with httpx.AsyncClient(base_url=zendesk.base, auth=zendesk_sharing.ZD_AUTH, timeout=30) as zd:
        # Zendesk invites B; B accepts through deskbridge; Zendesk hears it.
        r = await zd.post(
            "/api/v2/sharing_agreements.json",
            json={"sharing_agreement": {"remote_url": b_url, "name": "Acme Zendesk"}},
        )
        assert r.status_code == 201, r.text
        agreement_id = r.json()["sharing_agreement"]["id"]
        (b_agreement,) = await agreements(bridge, b["account_token"])
        r = await bridge.api("POST", f"/sharing/agreements/{b_agreement['id']}/accept", b["account_token"])
        assert r.status_code == 200, r.text
        await bridge.deliver()
        view = (await zd.get(f"/api/v2/sharing_agreements/{agreement_id}.json")).json()["sharing_agreement"]
        assert view["status"] == "accepted"

        # Zendesk shares a ticket with a private comment: it appears in the Freshdesk, the comment private.
        tid = await zendesk_sharing.share_printer_ticket(zd, agreement_id)
        await bridge.deliver()
        (b_tid,) = set(desk_b.ticket_ids()) - b_before
        b_raw = desk_b.ticket(b_tid)
        assert b_raw["subject"] == "Printer on fire" and b_raw["status"] == OPEN
        messages = [b_raw["description_text"], *desk_b.texts(b_tid)]
        assert any(m.endswith("It smokes.") for m in messages), messages
        (unplug,) = [c for c in desk_b.conversations(b_tid) if c["body_text"].endswith("Did you unplug it?")]
        assert unplug["private"] is True
        b_count = len(desk_b.conversations(b_tid))
        await bridge.sync(b["id"])

        # A Freshdesk agent's note reaches Zendesk as a private comment, once.
        desk_b.api("POST", f"/tickets/{b_tid}/notes", {"body": "Partner here: on it.", "private": True})
        await bridge.sync(b["id"])
        await bridge.deliver()
        zd_comments = (await zd.get(f"/api/v2/tickets/{tid}/comments.json")).json()["comments"]
        assert zd_comments[-1]["body"].endswith("Partner here: on it.") and zd_comments[-1]["public"] is False
        count = len(zd_comments)

        # Zendesk's status change reaches the Freshdesk; nothing is echoed either way.
        r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"status": "pending"}})
        assert r.status_code == 200, r.text
        await bridge.deliver()
        assert desk_b.ticket(b_tid)["status"] == PENDING
        await bridge.sync(b["id"])
        await bridge.deliver()
        assert len((await zd.get(f"/api/v2/tickets/{tid}/comments.json")).json()["comments"]) == count
        assert len(desk_b.conversations(b_tid)) == b_count + 1

        # B cannot unshare what it received (only the sharing side can, per the protocol).
        b_ticket = await common_id(bridge, b, b_tid)
        r = await bridge.api("POST", f"/tickets/{b_ticket}/unshare", b["account_token"])
        assert r.status_code == 400 and "only the side that shared" in r.json()["detail"], r.text

        # Zendesk deactivates: B hears it, and nothing goes out any more.
        r = await zd.put(
            f"/api/v2/sharing_agreements/{agreement_id}.json",
            json={"sharing_agreement": {"status": "inactive"}},
        )
        assert r.status_code == 200, r.text
        await bridge.deliver()
        (b_agreement,) = await agreements(bridge, b["account_token"])
        assert b_agreement["status"] == "inactive"
        sent = len(zendesk.sharing.sent)
        r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"comment": {"body": "Anyone?"}}})
        assert r.status_code == 200 and len(zendesk.sharing.sent) == sent
        assert len(desk_b.conversations(b_tid)) == b_count + 1
