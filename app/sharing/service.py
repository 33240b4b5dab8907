"""The integrator's operations on agreements and shared tickets (``app/api/sharing.py`` serves them).

Each one changes our state and queues what the partner must hear in the same transaction, so the two
never disagree; the outbox delivers it (at least once, with retries).
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.errors import ApiError, bad_request, not_found
from app.api.state import Services
from app.db import records
from app.db.accounts import LinkedAccountRecord
from app.sharing import outbox, payload, store
from app.sharing.store import IN, OUT, Agreement, SharedTicket
from app.urlpolicy import UnsafeURLError
from connectors.ticket_sharing import mapping, wire


async def endpoint_url(services: Services, conn: AsyncConnection, account: LinkedAccountRecord) -> str:
    sharing_id = await store.ensure_endpoint(conn, account.id)
    return store.base_url(services.settings.public_url, sharing_id)


def _wire(agreement: Agreement, access_key: str, account: LinkedAccountRecord) -> wire.Agreement:
    """The agreement as we send it: the gem's fields; ``name`` is the name of the side sending it."""
    sender, receiver = (
        (agreement.our_url, agreement.partner_url)
        if agreement.direction == OUT
        else (agreement.partner_url, agreement.our_url)
    )
    return wire.Agreement(
        receiver_url=receiver,
        sender_url=sender,
        status=agreement.status,
        uuid=agreement.uuid,
        access_key=access_key,
        name=account.end_user_organization_name,
        current_actor=payload.current_actor(agreement.our_url, account),
        sync_tags=agreement.sync_tags,
        sync_custom_fields=agreement.sync_custom_fields,
        allows_public_comments=agreement.allows_public_comments,
    )


async def invite(
    services: Services,
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    *,
    partner_url: str,
    sync_tags: bool,
    sync_custom_fields: bool,
    allows_public_comments: bool,
) -> Agreement:
    try:
        checked = await asyncio.to_thread(services.url_policy.check_url, partner_url)
    except UnsafeURLError as exc:
        raise bad_request(f"partner_url refused: {exc}", pointer="/partner_url") from None
    our_url = await endpoint_url(services, conn, account)
    if checked == our_url:
        raise bad_request("partner_url is this account's own sharing URL", pointer="/partner_url")
    access_key = mapping.random_uuid()
    agreement = await store.insert_agreement(
        conn,
        linked_account_id=account.id,
        uuid=mapping.resource_uuid(our_url, "agreements", mapping.random_uuid()),
        direction=OUT,
        status="pending",
        partner_url=checked,
        our_url=our_url,
        access_key=services.box.encrypt(access_key.encode()),
        name=account.end_user_organization_name,
        partner_name=None,
        sync_tags=sync_tags,
        sync_custom_fields=sync_custom_fields,
        allows_public_comments=allows_public_comments,
        deactivated_by=None,
    )
    body = wire.encode(_wire(agreement, access_key, account))
    await outbox.enqueue(conn, agreement.id, "invite", body=body)
    await conn.commit()
    return agreement


async def get(conn: AsyncConnection, account: LinkedAccountRecord, agreement_id: str) -> Agreement:
    agreement = await store.agreement_by_id(conn, account.id, agreement_id)
    if agreement is None:
        raise not_found()
    return agreement


async def decide(
    services: Services, conn: AsyncConnection, account: LinkedAccountRecord, agreement_id: str, action: str
) -> Agreement:
    """accept / decline (the receiver, on a pending invite) or deactivate (either side, final)."""
    agreement = await get(conn, account, agreement_id)
    if action == "deactivate":
        if agreement.status == "inactive":
            return agreement
        if agreement.status == "declined":
            raise bad_request("a declined agreement cannot be deactivated")
        values = {
            "status": "inactive",
            "deactivated_by": "sender" if agreement.direction == OUT else "receiver",
        }
    else:
        if agreement.direction != IN:
            raise bad_request(f"only the invited side can {action} an agreement")
        if agreement.status != "pending":
            raise bad_request(f"the agreement is {agreement.status}, not pending")
        values = {"status": "accepted" if action == "accept" else "declined"}
    agreement = await store.update_agreement(conn, agreement, **values)
    access_key = services.box.decrypt(agreement.access_key).decode()
    await outbox.enqueue(
        conn, agreement.id, "agreement", body=wire.encode(_wire(agreement, access_key, account))
    )
    await conn.commit()
    return agreement


async def share(
    services: Services, conn: AsyncConnection, account: LinkedAccountRecord, ticket_id: str, agreement_id: str
) -> SharedTicket:
    found = await records.remote_ids(conn, account.id, "Ticket", [ticket_id])
    if ticket_id not in found:
        raise not_found()
    agreement = await store.agreement_by_id(conn, account.id, agreement_id)
    if agreement is None:
        raise bad_request(
            f"agreement: no agreement {agreement_id} in this linked account", pointer="/agreement"
        )
    if agreement.direction != OUT or agreement.status != "accepted":
        raise bad_request(
            "agreement: tickets are shared on an accepted agreement this account sent "
            f"(this one is {agreement.direction}, {agreement.status})",
            pointer="/agreement",
        )
    existing = [
        s
        for s in await store.shares_of_tickets(conn, account.id, [ticket_id])
        if s.agreement_id == agreement.id
    ]
    if existing:
        raise ApiError(400, "the ticket is already shared on this agreement")
    shared = await store.insert_shared(
        conn,
        agreement_id=agreement.id,
        linked_account_id=account.id,
        uuid=mapping.resource_uuid(agreement.our_url, "tickets", f"{ticket_id}/{mapping.random_uuid()}"),
        role=store.SHARER,
        state=store.ACTIVE,
        ticket_id=ticket_id,
        ticket_remote_id=found[ticket_id],
    )
    await outbox.enqueue(conn, agreement.id, "share", shared_ticket_id=shared.id)
    await conn.commit()
    return shared


async def unshare(conn: AsyncConnection, account: LinkedAccountRecord, ticket_id: str) -> list[SharedTicket]:
    """Stop sharing a ticket we shared (every agreement); the partner keeps an orphan copy."""
    shares = await store.shares_of_tickets(conn, account.id, [ticket_id], active_only=False)
    mine = [s for s in shares if s.role == store.SHARER and s.state == store.ACTIVE]
    if not mine:
        if any(s.role == store.RECEIVER for s in shares):
            raise bad_request("only the side that shared a ticket can unshare it; this account received it")
        raise not_found()
    done: list[SharedTicket] = []
    for shared in mine:
        done.append(await store.update_shared(conn, shared, state=store.UNSHARED))
        await outbox.enqueue(conn, shared.agreement_id, "unshare", shared_ticket_id=shared.id)
    await conn.commit()
    return done
