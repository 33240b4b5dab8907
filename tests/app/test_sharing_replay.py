"""Every request the gem was recorded sending, replayed byte for byte against our receiving side."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.db.tables import shared_comments, shared_tickets
from app.secrets import SecretBox
from tests import fakes
from tests.app.conftest import API, Service, desk_url
from tests.app.sharing_support import agreement, counts, path_of, replay_args, seed_agreement, sharing_url
from tests.connectors.ticket_sharing.captures import FOLDERS, by_label

UUID = "5850d43df9c60e53dbd796539462d151c86faef0"
KEY = "3cd64b3ae2282993bd61a17df7740a8d7d5344a8"
TICKET = "51ea8f4d25669fa6f90d1ee04a6e8fba9d29dc72"
FOLDER_NAMES = [f.name for f in FOLDERS]


def one(label: str, folder: str) -> Any:
    (capture,) = by_label(label, folder)
    return capture


def box(service: Service) -> SecretBox:
    return SecretBox.from_settings(service.settings)


@pytest.mark.parametrize("folder", FOLDER_NAMES)
async def test_receiver_side_replay(service: Service, folder: str) -> None:
    """Invite, share, update, unshare as the gem sends them, to a fake desk linked as the receiver."""
    linked = await service.link(origin="receiver", desk="desk-b")
    account, token = linked["id"], linked["account_token"]
    base = path_of(await sharing_url(service, token))

    r = await service.client.request(**replay_args(one("01-invite", folder), base))
    assert r.status_code == 201, r.text
    got = await agreement(service.engine, account, UUID)
    assert (got.direction, got.status, got.partner_url) == (
        "in",
        "pending",
        "http://sender.example.com/sharing",
    )
    assert (got.partner_name, got.sync_tags, got.sync_custom_fields, got.allows_public_comments) == (
        "Sender Company",
        True,
        False,
        True,
    )
    assert box(service).decrypt(got.access_key).decode() == KEY

    # Sharing before the agreement is accepted is refused, and writes nothing.
    before = await counts(service.engine)
    r = await service.client.request(**replay_args(one("06-share", folder), base))
    assert r.status_code == 403
    assert await counts(service.engine) == before

    r = await service.client.post(f"{API}/sharing/agreements/{got.id}/accept", headers=service.headers(token))
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text

    r = await service.client.request(**replay_args(one("06-share", folder), base))
    assert r.status_code == 201, r.text
    desk = fakes.desk(desk_url("desk-b"))
    (ticket,) = desk.tickets.values()
    assert ticket["title"] == "Trial expiry time mismatch"
    assert ticket["state"] == "open"
    assert ticket["labels"] == ["billing", "vip"]  # sync_tags is on in this agreement
    assert ticket["body"].startswith("Joe User (Sender Company) wrote:\n\nHello, I need help.")
    assert "café — 日本 </script>" in ticket["body"]
    (note,) = desk.comments.values()  # the first comment became the description
    assert note["internal"] is True and note["text"].endswith("Internal note for the partner")
    assert note["text"].startswith("Agent Smith (Sender Company) wrote:")

    update = replay_args(one("07-update", folder), base)
    for _ in range(2):  # a resend is deduplicated by comment uuid
        r = await service.client.request(**update)
        assert r.status_code == 200, r.text
    assert len(desk.comments) == 2
    latest = desk.comments[max(desk.comments, key=int)]
    assert latest["internal"] is False and latest["text"].endswith("Any news?")
    assert desk.tickets[ticket["id"]]["state"] == "waiting"  # pending -> ON_HOLD

    async with service.engine.connect() as conn:
        shared = (await conn.execute(select(shared_tickets))).one()
        mapped = (await conn.execute(select(shared_comments))).all()
    assert (shared.uuid, shared.role, shared.state, shared.ticket_remote_id) == (
        TICKET,
        "receiver",
        "active",
        ticket["id"],
    )
    assert shared.sent_status == "pending"
    assert {m.origin for m in mapped} == {"partner"} and len(mapped) == 3
    assert {m.comment_remote_id for m in mapped} == {"description", *desk.comments}

    r = await service.client.request(**replay_args(one("08-unshare", folder), base))
    assert r.status_code == 200, r.text
    async with service.engine.connect() as conn:
        assert (await conn.execute(select(shared_tickets.c.state))).scalar_one() == "unshared"
    assert ticket["id"] in desk.tickets  # an orphan, not deleted
    r = await service.client.request(**update)
    assert r.status_code == 410  # no longer shared

    # The redirect probes update a ticket this endpoint never received.
    for capture in by_label("redir", folder) + by_label("seeother", folder):
        r = await service.client.request(**replay_args(capture, base))
        assert r.status_code == 404, capture.id


@pytest.mark.parametrize("folder", FOLDER_NAMES)
async def test_sender_side_replay(service: Service, folder: str) -> None:
    """Accept, decline and deactivate arrive from the receiver of an invite we sent."""
    linked = await service.link(origin="sender", desk="desk-a")
    account, token = linked["id"], linked["account_token"]
    base = path_of(await sharing_url(service, token))
    await seed_agreement(service.engine, box(service), account, UUID, KEY)

    r = await service.client.request(**replay_args(one("03-accept", folder), base))
    assert r.status_code == 200, r.text
    got = await agreement(service.engine, account, UUID)
    assert (got.status, got.partner_name) == ("accepted", "Receiver Company")

    decline = one("04-decline", folder) if by_label("04-decline", folder) else None
    if decline is not None:
        before = await counts(service.engine)
        r = await service.client.request(**replay_args(decline, base))
        assert r.status_code == 422  # accepted agreements cannot be declined afterwards
        assert await counts(service.engine) == before

    deactivate = by_label("05-deactivate", folder)
    if deactivate:
        r = await service.client.request(**replay_args(deactivate[0], base))
        assert r.status_code == 200
        got = await agreement(service.engine, account, UUID)
        assert (got.status, got.deactivated_by) == ("inactive", "receiver")


async def test_decline_of_a_pending_invite(service: Service) -> None:
    linked = await service.link(origin="sender", desk="desk-a")
    base = path_of(await sharing_url(service, linked["account_token"]))
    await seed_agreement(service.engine, box(service), linked["id"], UUID, KEY)
    r = await service.client.request(**replay_args(one("04-decline", FOLDER_NAMES[0]), base))
    assert r.status_code == 200
    assert (await agreement(service.engine, linked["id"], UUID)).status == "declined"


async def test_minimal_invite_is_refused_and_writes_nothing(service: Service) -> None:
    linked = await service.link(origin="receiver", desk="desk-b")
    base = path_of(await sharing_url(service, linked["account_token"]))
    before = await counts(service.engine)
    r = await service.client.request(**replay_args(one("02-invite-minimal", FOLDER_NAMES[0]), base))
    assert r.status_code == 422  # no access key, no sender URL: nothing to authenticate or answer
    assert await counts(service.engine) == before


async def test_sender_deactivation_stops_tickets(service: Service) -> None:
    linked = await service.link(origin="receiver", desk="desk-b")
    base = path_of(await sharing_url(service, linked["account_token"]))
    folder = FOLDER_NAMES[0]
    assert (await service.client.request(**replay_args(one("01-invite", folder), base))).status_code == 201
    got = await agreement(service.engine, linked["id"], UUID)
    await service.client.post(
        f"{API}/sharing/agreements/{got.id}/accept", headers=service.headers(linked["account_token"])
    )
    r = await service.client.request(**replay_args(one("05-deactivate", folder), base))
    assert r.status_code == 200
    got = await agreement(service.engine, linked["id"], UUID)
    assert (got.status, got.deactivated_by) == ("inactive", "sender")
    before = await counts(service.engine)
    r = await service.client.request(**replay_args(one("06-share", folder), base))
    assert r.status_code == 403
    assert await counts(service.engine) == before
    assert not fakes.desk(desk_url("desk-b")).tickets
