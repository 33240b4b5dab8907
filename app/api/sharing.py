"""Ticket sharing for integrators: agreements with partner desks, and sharing tickets on them.

The protocol itself is served outside this API (``app/sharing/routes.py``); these endpoints manage
it for one linked account (``X-Account-Token``). Another account's agreement is simply not found.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from app.api.deps import Account, Conn, ServicesDep
from app.sharing import service, store
from app.timeutil import from_micros


class AgreementOut(msgspec.Struct, kw_only=True):
    id: str
    uuid: str
    direction: str  # "out": this account invited the partner; "in": the partner invited it
    status: str
    partner_url: str
    partner_name: str | None
    sync_tags: bool
    sync_custom_fields: bool
    allows_public_comments: bool
    deactivated_by: str | None
    created_at: datetime | None
    modified_at: datetime | None


class SharedTicketOut(msgspec.Struct, kw_only=True):
    id: str
    uuid: str
    agreement: str
    ticket: str | None
    role: str
    state: str


class SharingURL(msgspec.Struct, kw_only=True):
    url: str


class InviteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    partner_url: str
    sync_tags: bool = False
    sync_custom_fields: bool = False
    allows_public_comments: bool = False


class ShareRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    agreement: str


def _agreement(a: store.Agreement) -> AgreementOut:
    return AgreementOut(
        id=a.id,
        uuid=a.uuid,
        direction=a.direction,
        status=a.status,
        partner_url=a.partner_url,
        partner_name=a.partner_name,
        sync_tags=a.sync_tags,
        sync_custom_fields=a.sync_custom_fields,
        allows_public_comments=a.allows_public_comments,
        deactivated_by=a.deactivated_by,
        created_at=from_micros(a.created_at),
        modified_at=from_micros(a.updated_at),
    )


def _shared(s: store.SharedTicket) -> SharedTicketOut:
    return SharedTicketOut(
        id=s.id, uuid=s.uuid, agreement=s.agreement_id, ticket=s.ticket_id, role=s.role, state=s.state
    )


_TAGS = ["ticket-sharing"]


@get(
    "/sharing/url", operation_id="sharing_url_retrieve", tags=_TAGS, summary="This account's sharing base URL"
)
async def sharing_url(services: ServicesDep, conn: Conn, account: Account) -> SharingURL:
    url = await service.endpoint_url(services, conn, account)
    await conn.commit()
    return SharingURL(url=url)


@post(
    "/sharing/agreements",
    status_code=201,
    operation_id="sharing_agreements_create",
    tags=_TAGS,
    summary="Invite a partner desk (a Zendesk or another deskbridge account) to an agreement",
)
async def invite(
    data: JSONBody[InviteRequest], services: ServicesDep, conn: Conn, account: Account
) -> AgreementOut:
    agreement = await service.invite(
        services,
        conn,
        account,
        partner_url=data.partner_url,
        sync_tags=data.sync_tags,
        sync_custom_fields=data.sync_custom_fields,
        allows_public_comments=data.allows_public_comments,
    )
    return _agreement(agreement)


@get("/sharing/agreements", operation_id="sharing_agreements_list", tags=_TAGS)
async def list_agreements(conn: Conn, account: Account) -> list[AgreementOut]:
    return [_agreement(a) for a in await store.list_agreements(conn, account.id)]


@get("/sharing/agreements/{agreement_id:str}", operation_id="sharing_agreements_retrieve", tags=_TAGS)
async def get_agreement(agreement_id: FromPath[str], conn: Conn, account: Account) -> AgreementOut:
    return _agreement(await service.get(conn, account, agreement_id))


def _action(action: str, summary: str) -> HTTPRouteHandler:
    @post(
        f"/sharing/agreements/{{agreement_id:str}}/{action}",
        status_code=200,
        operation_id=f"sharing_agreements_{action}",
        tags=_TAGS,
        summary=summary,
        name=f"sharing_{action}",
    )
    async def handler(
        agreement_id: FromPath[str], services: ServicesDep, conn: Conn, account: Account
    ) -> AgreementOut:
        return _agreement(await service.decide(services, conn, account, agreement_id, action))

    return handler


accept = _action("accept", "Accept an agreement this account was invited to")
decline = _action("decline", "Decline an agreement this account was invited to")
deactivate = _action("deactivate", "Deactivate an agreement (final: sharing on it stops)")


@post(
    "/tickets/{ticket_id:str}/share",
    status_code=201,
    operation_id="tickets_share",
    tags=_TAGS,
    summary="Share a ticket with the partner of an accepted agreement",
)
async def share_ticket(
    ticket_id: FromPath[str],
    data: JSONBody[ShareRequest],
    services: ServicesDep,
    conn: Conn,
    account: Account,
) -> SharedTicketOut:
    return _shared(await service.share(services, conn, account, ticket_id, data.agreement))


@post(
    "/tickets/{ticket_id:str}/unshare",
    status_code=200,
    operation_id="tickets_unshare",
    tags=_TAGS,
    summary="Stop sharing a ticket this account shared (the partner keeps an orphan copy)",
)
async def unshare_ticket(ticket_id: FromPath[str], conn: Conn, account: Account) -> list[SharedTicketOut]:
    return [_shared(s) for s in await service.unshare(conn, account, ticket_id)]


HANDLERS = [
    sharing_url,
    invite,
    list_agreements,
    get_agreement,
    accept,
    decline,
    deactivate,
    share_ticket,
    unshare_ticket,
]
