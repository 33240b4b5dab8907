"""Ticket sharing between real emulators linked in one deskbridge, checked in the emulators' own state.

Zendesk (the emulator's own sharing side) and a Freshdesk emulator linked in deskbridge share tickets
both ways; two Freshdesk emulators share through the bridge. Everything an agent does happens in the
emulators through their vendor APIs; deskbridge sees it by syncing (``bridge.sync``) and tells the
partner through the protocol (``bridge.deliver``). Complements ``test_sharing_freshdesk.py``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from connectors.http.ratelimit import Quota, RateLimiter
from tests.app import sharing_support
from tests.app import test_sharing_freshdesk as fd
from tests.app.test_sharing_e2e import Deskbridge, agreements
from tests.emulators import test_zendesk_sharing as zendesk_sharing

bridge, server, settings, port = fd.bridge, fd.server, fd.settings, fd.port
desks, zendesk = fd.desks, fd.zendesk


async def _link(bridge: Deskbridge, name: str, desk: fd.Freshdesk) -> dict[str, Any]:
    """Link an emulated Freshdesk with a sandbox quota: the emulators do not throttle, and Freshdesk's
    default client-side quota (50 requests a minute) would pause a sync for most of a minute."""
    account = await fd._link(bridge, name, desk)
    bridge.services.limiters[account["id"]] = RateLimiter([Quota(requests=100_000, per=60)])
    return account


async def zd_comments(zd: httpx.AsyncClient, tid: int) -> list[tuple[str, bool]]:
    r = await zd.get(f"/api/v2/tickets/{tid}/comments.json")
    assert r.status_code == 200, r.text
    return [(c["body"], c["public"]) for c in r.json()["comments"]]


def fd_messages(desk: fd.Freshdesk, tid: int) -> list[tuple[str, bool]]:
    return [(str(c["body_text"]), bool(c["private"])) for c in desk.conversations(tid)]


async def zd_authors(zd: httpx.AsyncClient, tid: int) -> list[str]:
    r = await zd.get(f"/api/v2/tickets/{tid}/comments.json")
    ids = [c["author_id"] for c in r.json()["comments"]]
    return [(await zd.get(f"/api/v2/users/{i}.json")).json()["user"]["name"] for i in ids]


async def _token(bridge: Deskbridge, account: dict[str, Any], uuid: str) -> str:
    """``<uuid>:<access key>`` of ``account``'s agreement ``uuid``: what its partner presents."""
    found = await sharing_support.agreement(bridge.services.engine, account["id"], uuid)
    return f"{uuid}:{bridge.services.box.decrypt(found.access_key).decode()}"


async def _sharing_url(bridge: Deskbridge, account: dict[str, Any]) -> str:
    url: str = (await bridge.api("GET", "/sharing/url", account["account_token"])).json()["url"]
    return url


async def _late_update(
    bridge: Deskbridge, base: str, ticket_uuid: str, token: str, status: str
) -> httpx.Response:
    """A partner's update of shared ticket ``ticket_uuid`` (a new comment "Late." and ``status``), sent
    to the sharing endpoint ``base`` with ``token``, as the gem sends it."""
    comment = {"uuid": "e" * 40, "author": None, "body": "Late.", "public": True, "authored_at": None}
    body = {"uuid": ticket_uuid, "status": status, "comments": [comment]}
    return await bridge.http.put(
        f"{base}/tickets/{ticket_uuid}", content=json.dumps(body), headers={"X-Ticket-Sharing-Token": token}
    )


async def _linked(bridge: Deskbridge, desk: fd.Freshdesk) -> tuple[dict[str, Any], str, set[int]]:
    """Freshdesk ``desk`` linked and synced as desk-b: its account, sharing URL and ticket ids so far."""
    b = await _link(bridge, "desk-b", desk)
    await bridge.sync(b["id"])
    return b, await _sharing_url(bridge, b), set(desk.ticket_ids())


async def test_zendesk_shares_with_freshdesk(
    bridge: Deskbridge, zendesk: zendesk_sharing.Emulator, desks: tuple[fd.Freshdesk, fd.Freshdesk]
) -> None:
    desk_b = desks[1]
    b, b_url, b_before = await _linked(bridge, desk_b)
    b_agent = desk_b.api("GET", "/agents/me")["contact"]["name"]
    async with httpx.AsyncClient(base_url=zendesk.base, auth=zendesk_sharing.ZD_AUTH, timeout=30) as zd:
        zd_agent = (await zd.get("/api/v2/users/me.json")).json()["user"]["name"]
        said = f"{zd_agent} (Acme Zendesk) wrote:"
        # Zendesk (A) invites B's sharing URL; B accepts through deskbridge; Zendesk hears it.
        r = await zd.post(
            "/api/v2/sharing_agreements.json",
            json={"sharing_agreement": {"remote_url": b_url, "name": "Acme Zendesk", "sync_tags": True}},
        )
        assert r.status_code == 201, r.text
        agreement_id = r.json()["sharing_agreement"]["id"]
        (b_agreement,) = await agreements(bridge, b["account_token"])
        assert (b_agreement["direction"], b_agreement["status"]) == ("in", "pending")
        r = await bridge.api("POST", f"/sharing/agreements/{b_agreement['id']}/accept", b["account_token"])
        assert r.status_code == 200, r.text
        assert await bridge.deliver() == 1
        view = (await zd.get(f"/api/v2/sharing_agreements/{agreement_id}.json")).json()["sharing_agreement"]
        assert view["status"] == "accepted"

        # A shares a ticket (customer's message, then a private agent comment): it appears in B, the
        # opening message as the description, the private comment as a private note, authors named.
        tid = await zendesk_sharing.share_printer_ticket(zd, agreement_id)
        assert await bridge.deliver() == 0  # the share went straight from Zendesk to deskbridge
        (b_tid,) = set(desk_b.ticket_ids()) - b_before
        b_raw = desk_b.ticket(b_tid)
        assert (b_raw["subject"], b_raw["status"], b_raw["tags"]) == ("Printer on fire", fd.OPEN, ["hw"])
        assert b_raw["description_text"] == f"{said}\n\nIt smokes."
        assert fd_messages(desk_b, b_tid) == [(f"{said}\nDid you unplug it?", True)]
        await bridge.sync(b["id"])

        # B's agents answer in their Freshdesk: a public reply and a private note reach Zendesk with
        # their visibility, written as B's agent.
        desk_b.api("POST", f"/tickets/{b_tid}/reply", {"body": "A technician is on the way."})
        desk_b.api("POST", f"/tickets/{b_tid}/notes", {"body": "Partner here: on it.", "private": True})
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 1
        assert await zd_comments(zd, tid) == [
            ("It smokes.", True),
            ("Did you unplug it?", False),
            ("A technician is on the way.", True),
            ("Partner here: on it.", False),
        ]
        assert await zd_authors(zd, tid) == [zd_agent, zd_agent, b_agent, b_agent]

        # A comments and puts the ticket on hold (pending) in Zendesk: both reach B.
        r = await zd.put(
            f"/api/v2/tickets/{tid}.json",
            json={"ticket": {"comment": {"body": "Replacement shipped."}, "status": "pending"}},
        )
        assert r.status_code == 200, r.text
        assert desk_b.ticket(b_tid)["status"] == fd.PENDING
        assert fd_messages(desk_b, b_tid) == [
            (f"{said}\nDid you unplug it?", True),
            ("A technician is on the way.", False),
            ("Partner here: on it.", True),
            (f"{said}\nReplacement shipped.", False),
        ]

        # B resolves it in Freshdesk: Zendesk's ticket is solved.
        desk_b.api("PUT", f"/tickets/{b_tid}", {"status": fd.RESOLVED})
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 1
        assert (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]["status"] == "solved"

        # Nothing is echoed: more sync and delivery rounds change no count, status or message.
        for _ in range(2):
            await bridge.sync(b["id"])
            assert await bridge.deliver() == 0
        assert desk_b.ticket(b_tid)["status"] == fd.RESOLVED
        assert len(desk_b.conversations(b_tid)) == 4
        assert len(await zd_comments(zd, tid)) == 5

        # B received the ticket, so B cannot unshare it (only the sharing side can).
        b_ticket = await fd.common_id(bridge, b, b_tid)
        r = await bridge.api("POST", f"/tickets/{b_ticket}/unshare", b["account_token"])
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == (
            "only the side that shared a ticket can unshare it; this account received it"
        )

        # Zendesk deactivates: B hears it.
        r = await zd.put(
            f"/api/v2/sharing_agreements/{agreement_id}.json",
            json={"sharing_agreement": {"status": "inactive"}},
        )
        assert r.status_code == 200, r.text
        (b_agreement,) = await agreements(bridge, b["account_token"])
        assert (b_agreement["status"], b_agreement["deactivated_by"]) == ("inactive", "sender")

        # Further updates go nowhere, and the partner's are refused (403), writing nothing.
        sent = len(zendesk.sharing.sent)
        r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"comment": {"body": "Anyone?"}}})
        assert r.status_code == 200 and len(zendesk.sharing.sent) == sent
        desk_b.api("POST", f"/tickets/{b_tid}/notes", {"body": "Still there?", "private": False})
        desk_b.api("PUT", f"/tickets/{b_tid}", {"status": fd.OPEN})
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 0
        assert len(await zd_comments(zd, tid)) == 6
        assert (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]["status"] == "solved"
        (ticket_uuid,) = zendesk.sharing.tickets
        outbound = next(a for a in zendesk.sharing.agreements.values() if a["id"] == agreement_id)
        token = f"{outbound['uuid']}:{outbound['access_key']}"
        r = await _late_update(bridge, b_url, ticket_uuid, token, "solved")
        assert r.status_code == 403 and r.json() == {"error": "the agreement is inactive"}, r.text
        assert len(desk_b.conversations(b_tid)) == 5
        assert desk_b.ticket(b_tid)["status"] == fd.OPEN


async def _freshdesk_shares_with_zendesk(
    bridge: Deskbridge, zendesk: zendesk_sharing.Emulator, zd: httpx.AsyncClient, desk: fd.Freshdesk
) -> tuple[dict[str, Any], int, str]:
    """B (a linked Freshdesk) invites Zendesk, whose admin accepts; B's agents open a ticket (a reply,
    a private note) and B shares it. Returns B's account, the Freshdesk ticket id and its common id."""
    b, _, _ = await _linked(bridge, desk)
    r = await bridge.api(
        "POST",
        "/sharing/agreements",
        b["account_token"],
        json={"partner_url": f"{zendesk.base}/sharing", "sync_tags": True, "allows_public_comments": True},
    )
    assert r.status_code == 201, r.text
    assert await bridge.deliver() == 1
    (view,) = (await zd.get("/api/v2/sharing_agreements.json")).json()["sharing_agreements"]
    assert (view["type"], view["status"], view["name"]) == ("inbound", "pending", "desk-b Inc")
    r = await zd.put(
        f"/api/v2/sharing_agreements/{view['id']}.json", json={"sharing_agreement": {"status": "accepted"}}
    )
    assert r.status_code == 200, r.text
    (b_agreement,) = await agreements(bridge, b["account_token"])
    assert (b_agreement["direction"], b_agreement["status"]) == ("out", "accepted")
    created = desk.api(
        "POST",
        "/tickets",
        {
            "subject": "Printer on fire",
            "description": "It smokes.",
            "email": "customer@example.com",
            "status": fd.OPEN,
            "priority": 2,
            "tags": ["hw"],
        },
    )
    b_tid = created["id"]
    desk.api("POST", f"/tickets/{b_tid}/reply", {"body": "Did you unplug it?"})
    desk.api("POST", f"/tickets/{b_tid}/notes", {"body": "Customer sounds upset.", "private": True})
    await bridge.sync(b["id"])
    b_ticket = await fd.common_id(bridge, b, b_tid)
    r = await bridge.api(
        "POST", f"/tickets/{b_ticket}/share", b["account_token"], json={"agreement": b_agreement["id"]}
    )
    assert r.status_code == 201, r.text
    assert await bridge.deliver() == 1
    return b, b_tid, b_ticket


async def test_freshdesk_shares_with_zendesk(
    bridge: Deskbridge, zendesk: zendesk_sharing.Emulator, desks: tuple[fd.Freshdesk, fd.Freshdesk]
) -> None:
    _, desk_b = desks
    b_agent = desk_b.api("GET", "/agents/me")["contact"]["name"]
    async with httpx.AsyncClient(base_url=zendesk.base, auth=zendesk_sharing.ZD_AUTH, timeout=30) as zd:
        zd_agent = (await zd.get("/api/v2/users/me.json")).json()["user"]["name"]
        b, b_tid, b_ticket = await _freshdesk_shares_with_zendesk(bridge, zendesk, zd, desk_b)
        (b_agreement,) = await agreements(bridge, b["account_token"])
        said = f"{zd_agent} ({b_agreement['partner_name']}) wrote:"

        # The ticket appears in Zendesk: the opening message (plain text) by the customer, B's reply
        # public and its note private, by B's agent.
        (shared,) = zendesk.sharing.tickets.values()
        tid = shared["ticket_id"]
        ticket = (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]
        assert (ticket["subject"], ticket["status"]) == ("Printer on fire", "open")
        requester = (await zd.get(f"/api/v2/users/{ticket['requester_id']}.json")).json()["user"]["name"]
        assert requester == "customer"
        assert await zd_comments(zd, tid) == [
            ("It smokes.", True),
            ("Did you unplug it?", True),
            ("Customer sounds upset.", False),
        ]
        assert await zd_authors(zd, tid) == ["customer", b_agent, b_agent]

        # A Zendesk agent's private comment and status change (on-hold) reach B.
        r = await zd.put(
            f"/api/v2/tickets/{tid}.json",
            json={"ticket": {"comment": {"body": "Zendesk here.", "public": False}, "status": "hold"}},
        )
        assert r.status_code == 200 and zendesk.sharing.sent[-1].status_code == 200, r.text
        assert fd_messages(desk_b, b_tid) == [
            ("Did you unplug it?", False),
            ("Customer sounds upset.", True),
            (f"{said}\nZendesk here.", True),
        ]
        assert desk_b.ticket(b_tid)["status"] == fd.PENDING
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 0  # Zendesk's comment and status are not sent back

        # B replies and resolves in Freshdesk: Zendesk gets the public comment, and solves its ticket.
        desk_b.api("POST", f"/tickets/{b_tid}/reply", {"body": "Replacement shipped."})
        desk_b.api("PUT", f"/tickets/{b_tid}", {"status": fd.RESOLVED})
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 1
        assert await zd_comments(zd, tid) == [
            ("It smokes.", True),
            ("Did you unplug it?", True),
            ("Customer sounds upset.", False),
            ("Zendesk here.", False),
            ("Replacement shipped.", True),
        ]
        assert (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]["status"] == "solved"
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 0
        assert len(desk_b.conversations(b_tid)) == 4 and desk_b.ticket(b_tid)["status"] == fd.RESOLVED

        # B (the sharing side) unshares: Zendesk keeps an orphan, and nothing crosses any more.
        r = await bridge.api("POST", f"/tickets/{b_ticket}/unshare", b["account_token"])
        assert r.status_code == 200, r.text
        assert await bridge.deliver() == 1
        assert shared["orphan"] is True
        sent = len(zendesk.sharing.sent)
        r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"comment": {"body": "Hello?"}}})
        assert r.status_code == 200 and len(zendesk.sharing.sent) == sent
        desk_b.api("POST", f"/tickets/{b_tid}/notes", {"body": "Unshared now.", "private": False})
        await bridge.sync(b["id"])
        assert await bridge.deliver() == 0
        assert len(await zd_comments(zd, tid)) == 6 and len(desk_b.conversations(b_tid)) == 5
        token = await _token(bridge, b, b_agreement["uuid"])
        r = await _late_update(bridge, f"{zendesk.base}/sharing", shared["uuid"], token, "open")
        assert r.status_code == 410, r.text

        # B deactivates: Zendesk hears it; then the agreement's token is refused (403) on both sides.
        r = await bridge.api(
            "POST", f"/sharing/agreements/{b_agreement['id']}/deactivate", b["account_token"]
        )
        assert r.status_code == 200 and r.json()["status"] == "inactive", r.text
        assert await bridge.deliver() == 1
        (view,) = (await zd.get("/api/v2/sharing_agreements.json")).json()["sharing_agreements"]
        assert view["status"] == "inactive"
        r = await _late_update(bridge, f"{zendesk.base}/sharing", shared["uuid"], token, "open")
        assert r.status_code == 403, r.text
        r = await _late_update(bridge, await _sharing_url(bridge, b), shared["uuid"], token, "open")
        assert r.status_code == 403 and r.json() == {"error": "the agreement is inactive"}, r.text
        assert len(desk_b.conversations(b_tid)) == 5 and desk_b.ticket(b_tid)["status"] == fd.RESOLVED
        assert len(await zd_comments(zd, tid)) == 6
        assert (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]["status"] == "solved"


async def test_zendesk_accept_names_zendesk(
    bridge: Deskbridge, zendesk: zendesk_sharing.Emulator, desks: tuple[fd.Freshdesk, fd.Freshdesk]
) -> None:
    async with httpx.AsyncClient(base_url=zendesk.base, auth=zendesk_sharing.ZD_AUTH, timeout=30) as zd:
        b, _, _ = await _freshdesk_shares_with_zendesk(bridge, zendesk, zd, desks[1])
    (b_agreement,) = await agreements(bridge, b["account_token"])
    assert b_agreement["partner_name"] == "acme"


async def test_zendesk_receives_shared_tags(
    bridge: Deskbridge, zendesk: zendesk_sharing.Emulator, desks: tuple[fd.Freshdesk, fd.Freshdesk]
) -> None:
    async with httpx.AsyncClient(base_url=zendesk.base, auth=zendesk_sharing.ZD_AUTH, timeout=30) as zd:
        await _freshdesk_shares_with_zendesk(bridge, zendesk, zd, desks[1])
        (shared,) = zendesk.sharing.tickets.values()
        ticket = (await zd.get(f"/api/v2/tickets/{shared['ticket_id']}.json")).json()["ticket"]
    assert ticket["tags"] == ["hw"]


# --- two Freshdesk emulators, each sharing a ticket with the other, through the bridge --------------


async def _agreement(bridge: Deskbridge, inviter: dict[str, Any], invitee: dict[str, Any]) -> dict[str, Any]:
    """``inviter`` invites ``invitee``'s sharing URL, which accepts; the inviter's (accepted) agreement."""
    url = await _sharing_url(bridge, invitee)
    r = await bridge.api(
        "POST",
        "/sharing/agreements",
        inviter["account_token"],
        json={"partner_url": url, "sync_tags": True, "allows_public_comments": True},
    )
    assert r.status_code == 201, r.text
    assert await bridge.deliver() == 1
    (invited,) = [
        x for x in await agreements(bridge, invitee["account_token"]) if x["uuid"] == r.json()["uuid"]
    ]
    r = await bridge.api("POST", f"/sharing/agreements/{invited['id']}/accept", invitee["account_token"])
    assert r.status_code == 200, r.text
    assert await bridge.deliver() == 1
    (sent,) = [x for x in await agreements(bridge, inviter["account_token"]) if x["uuid"] == invited["uuid"]]
    assert (sent["direction"], sent["status"], sent["partner_name"]) == (
        "out",
        "accepted",
        invitee["end_user_organization_name"],
    )
    return sent


async def _open_and_share(
    bridge: Deskbridge, desk: fd.Freshdesk, account: dict[str, Any], agreement: dict[str, Any], subject: str
) -> tuple[int, str, str]:
    """An agent opens a ticket for a customer, replies and adds a private note, and shares it; returns the
    Freshdesk id, the common id and the shared ticket's uuid."""
    created = desk.api(
        "POST",
        "/tickets",
        {"subject": subject, "description": f"{subject}!", "email": "customer@example.com", "priority": 2},
    )
    desk.api("POST", f"/tickets/{created['id']}/reply", {"body": f"Reply on {subject}."})
    desk.api("POST", f"/tickets/{created['id']}/notes", {"body": f"Note on {subject}.", "private": True})
    await bridge.sync(account["id"])
    common = await fd.common_id(bridge, account, created["id"])
    r = await bridge.api(
        "POST", f"/tickets/{common}/share", account["account_token"], json={"agreement": agreement["id"]}
    )
    assert r.status_code == 201, r.text
    return created["id"], common, r.json()["uuid"]


async def test_two_freshdesks_share_with_each_other(
    bridge: Deskbridge, desks: tuple[fd.Freshdesk, fd.Freshdesk]
) -> None:
    """A shares "Printer" with B on one agreement while B shares "Screen" with A on another: each copy
    has the conversation with exact authors and visibility, comments and status cross both ways exactly
    once, B unshares its ticket, A deactivates its agreement, and what follows writes nothing."""
    desk_a, desk_b = desks
    a, b = await _link(bridge, "desk-a", desk_a), await _link(bridge, "desk-b", desk_b)
    await bridge.sync(a["id"])
    await bridge.sync(b["id"])
    before = set(desk_a.ticket_ids()), set(desk_b.ticket_ids())
    a_agent = desk_a.api("GET", "/agents/me")["contact"]["name"]
    b_agent = desk_b.api("GET", "/agents/me")["contact"]["name"]
    a_to_b, b_to_a = await _agreement(bridge, a, b), await _agreement(bridge, b, a)

    printer, _, printer_uuid = await _open_and_share(bridge, desk_a, a, a_to_b, "Printer")
    screen, screen_id, screen_uuid = await _open_and_share(bridge, desk_b, b, b_to_a, "Screen")
    assert await bridge.deliver() == 2
    (screen_copy,) = set(desk_a.ticket_ids()) - before[0] - {printer}
    (printer_copy,) = set(desk_b.ticket_ids()) - before[1] - {screen}
    by_a, by_b = f"{a_agent} (desk-a Inc) wrote:", f"{b_agent} (desk-b Inc) wrote:"
    for desk, copy, subject, by, partner in (
        (desk_b, printer_copy, "Printer", by_a, "desk-a Inc"),
        (desk_a, screen_copy, "Screen", by_b, "desk-b Inc"),
    ):
        raw = desk.ticket(copy)
        assert (raw["subject"], raw["status"]) == (subject, fd.OPEN)
        assert raw["description_text"] == f"customer ({partner}) wrote:\n\n{subject}!"
        assert fd_messages(desk, copy) == [
            (f"{by}\nReply on {subject}.", False),
            (f"{by}\nNote on {subject}.", True),
        ]
    await bridge.sync(a["id"])
    await bridge.sync(b["id"])

    # Agents answer on the copies: B replies on "Printer", A adds a note on "Screen".
    desk_b.api("POST", f"/tickets/{printer_copy}/reply", {"body": "B on Printer."})
    desk_a.api("POST", f"/tickets/{screen_copy}/notes", {"body": "A on Screen.", "private": True})
    for account in (a, b, a, b):  # rounds with nothing new: no echo
        await bridge.sync(account["id"])
        await bridge.deliver()
    assert fd_messages(desk_a, printer) == [
        ("Reply on Printer.", False),
        ("Note on Printer.", True),
        (f"{by_b}\nB on Printer.", False),
    ]
    assert fd_messages(desk_b, screen) == [
        ("Reply on Screen.", False),
        ("Note on Screen.", True),
        (f"{by_a}\nA on Screen.", True),
    ]
    assert (len(desk_b.conversations(printer_copy)), len(desk_a.conversations(screen_copy))) == (3, 3)

    # Status both ways: A puts "Printer" on hold (B's copy follows); A resolves its copy of "Screen"
    # (B's ticket is closed: Resolved and Closed are both CLOSED, written as Closed).
    desk_a.api("PUT", f"/tickets/{printer}", {"status": fd.PENDING})
    desk_a.api("PUT", f"/tickets/{screen_copy}", {"status": fd.RESOLVED})
    await bridge.sync(a["id"])
    assert await bridge.deliver() == 2
    assert (desk_b.ticket(printer_copy)["status"], desk_b.ticket(screen)["status"]) == (fd.PENDING, fd.CLOSED)
    await bridge.sync(b["id"])
    assert await bridge.deliver() == 0
    assert (desk_a.ticket(printer)["status"], desk_a.ticket(screen_copy)["status"]) == (
        fd.PENDING,
        fd.RESOLVED,
    )

    # B unshares "Screen" (B shared it): A's copy stays, an orphan; A's comment on it goes nowhere, and
    # an update from B on that ticket is answered 410.
    r = await bridge.api("POST", f"/tickets/{screen_id}/unshare", b["account_token"])
    assert r.status_code == 200, r.text
    assert await bridge.deliver() == 1
    desk_a.api("POST", f"/tickets/{screen_copy}/reply", {"body": "Still broken?"})
    await bridge.sync(a["id"])
    assert await bridge.deliver() == 0
    assert len(desk_b.conversations(screen)) == 3
    token = await _token(bridge, b, b_to_a["uuid"])
    r = await _late_update(bridge, await _sharing_url(bridge, a), screen_uuid, token, "open")
    assert r.status_code == 410 and r.json() == {"error": "this ticket is no longer shared"}, r.text
    assert len(desk_a.conversations(screen_copy)) == 4 and desk_a.ticket(screen_copy)["status"] == fd.RESOLVED

    # A deactivates its agreement (B's stays accepted): nothing crosses on "Printer" any more, and A's
    # token is refused (403), writing nothing.
    r = await bridge.api("POST", f"/sharing/agreements/{a_to_b['id']}/deactivate", a["account_token"])
    assert r.status_code == 200 and r.json()["status"] == "inactive", r.text
    assert await bridge.deliver() == 1
    statuses = {x["uuid"]: x["status"] for x in await agreements(bridge, b["account_token"])}
    assert statuses == {a_to_b["uuid"]: "inactive", b_to_a["uuid"]: "accepted"}
    desk_a.api("POST", f"/tickets/{printer}/reply", {"body": "Anyone?"})
    desk_b.api("POST", f"/tickets/{printer_copy}/notes", {"body": "Hello?", "private": True})
    desk_b.api("PUT", f"/tickets/{printer_copy}", {"status": fd.OPEN})
    await bridge.sync(a["id"])
    await bridge.sync(b["id"])
    assert await bridge.deliver() == 0
    token = await _token(bridge, a, a_to_b["uuid"])
    r = await _late_update(bridge, await _sharing_url(bridge, b), printer_uuid, token, "solved")
    assert r.status_code == 403 and r.json() == {"error": "the agreement is inactive"}, r.text
    assert (len(desk_a.conversations(printer)), len(desk_b.conversations(printer_copy))) == (4, 4)
    assert (desk_a.ticket(printer)["status"], desk_b.ticket(printer_copy)["status"]) == (fd.PENDING, fd.OPEN)
