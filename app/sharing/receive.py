"""The receiving side of the protocol: what a partner's request does, and the status it is answered.

Statuses are ones the reference client (the gem) returns rather than raises on: 401 no token, 403 bad
token / token of another agreement / agreement not accepted / not yours to do, 404 unknown shared
ticket, 410 an unshared (orphan) ticket, 422 any invalid body (including too large: the gem raises on
413), 503 the linked desk cannot take the write now. Checks come before any write: a bad token or an
invalid body writes nothing.
"""

from __future__ import annotations

import hmac

import msgspec

from app.api.state import Services
from app.db import accounts as account_store
from app.sharing import desk, store
from app.sharing.store import IN, OUT, Agreement
from connectors.ticket_sharing import wire

#: A key no stored agreement has: unknown agreements cost a comparison too (no timing oracle).
_DUMMY_KEY = "0" * 40


class ProtocolError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def _invalid(detail: str) -> ProtocolError:
    return ProtocolError(422, detail)


async def authenticate(services: Services, account_id: str, token: str | None, url_uuid: str) -> Agreement:
    """The agreement named by ``X-Ticket-Sharing-Token: <uuid>:<access key>``, which must be the one
    the URL names (agreement requests) or any of this endpoint's (ticket requests, url_uuid "")."""
    if not token:
        raise ProtocolError(
            401, "X-Ticket-Sharing-Token is required", {"WWW-Authenticate": "X-Ticket-Sharing"}
        )
    agreement_uuid, _, key = token.strip().partition(":")
    async with services.engine.connect() as conn:
        agreement = await store.agreement_by_uuid(conn, account_id, agreement_uuid)
    expected = services.box.decrypt(agreement.access_key).decode() if agreement else _DUMMY_KEY
    if not hmac.compare_digest(key.encode(), expected.encode()) or agreement is None:
        raise ProtocolError(403, "invalid X-Ticket-Sharing-Token")
    if url_uuid and agreement.uuid != url_uuid:
        raise ProtocolError(403, "the token is for another agreement")
    return agreement


def _decode_agreement(body: bytes, url_uuid: str) -> wire.Agreement:
    try:
        resource = wire.decode_agreement(body)
    except wire.WireError as exc:
        raise _invalid(f"invalid agreement: {exc}") from None
    if resource.uuid is not None and resource.uuid != url_uuid:
        raise _invalid("uuid in the body differs from the URL")
    if resource.status is not None and resource.status not in wire.AGREEMENT_STATUSES:
        raise _invalid(f"unknown agreement status {resource.status!r}")
    return resource


def _decode_ticket(body: bytes, url_uuid: str) -> wire.Ticket:
    try:
        resource = wire.decode_ticket(body)
    except wire.WireError as exc:
        raise _invalid(f"invalid ticket: {exc}") from None
    if resource.uuid is not None and resource.uuid != url_uuid:
        raise _invalid("uuid in the body differs from the URL")
    return resource


# --- agreements -----------------------------------------------------------------------------------


async def invite(
    services: Services, account_id: str, our_url: str, url_uuid: str, token: str | None, body: bytes
) -> int:
    """``POST /agreements/<uuid>``: a partner invites this desk; stored as a pending ``in`` agreement."""
    resource = _decode_agreement(body, url_uuid)
    if resource.uuid is None:
        raise _invalid("uuid is required")
    if not resource.access_key or not resource.sender_url:
        raise _invalid("access_key and sender_url are required to create an agreement")
    if resource.status not in (None, "pending"):
        raise _invalid("a new agreement must be pending")
    # The gem sends no token here; RFC peers (RT) send one, which must then match the body.
    if token is not None and not hmac.compare_digest(
        token.strip().encode(), f"{resource.uuid}:{resource.access_key}".encode()
    ):
        raise ProtocolError(403, "X-Ticket-Sharing-Token does not match the agreement")
    async with services.engine.begin() as conn:
        if await store.agreement_by_uuid(conn, account_id, url_uuid) is not None:
            raise _invalid("an agreement with this uuid exists")
        await store.insert_agreement(
            conn,
            linked_account_id=account_id,
            uuid=url_uuid,
            direction=IN,
            status="pending",
            partner_url=resource.sender_url,
            our_url=resource.receiver_url or our_url,
            access_key=services.box.encrypt(resource.access_key.encode()),
            name=resource.name,
            partner_name=resource.name,
            sync_tags=bool(resource.sync_tags),
            sync_custom_fields=bool(resource.sync_custom_fields),
            allows_public_comments=bool(resource.allows_public_comments),
            deactivated_by=None,
        )
    return 201


#: What the partner may set, by our direction: ``out`` = the partner received our invite.
_PARTNER_MOVES = {
    OUT: {
        ("pending", "accepted"),
        ("pending", "declined"),
        ("pending", "inactive"),
        ("accepted", "inactive"),
    },
    IN: {("pending", "inactive"), ("accepted", "inactive"), ("declined", "inactive")},
}


async def update_agreement(
    services: Services, account_id: str, url_uuid: str, token: str | None, body: bytes
) -> int:
    """``PUT /agreements/<uuid>``: the receiver accepts or declines, either side deactivates, the sender
    changes the name or terms. ``uuid`` and ``access_key`` are immutable; null means unchanged."""
    agreement = await authenticate(services, account_id, token, url_uuid)
    resource = _decode_agreement(body, url_uuid)
    if resource.access_key is not None and not hmac.compare_digest(
        resource.access_key.encode(), services.box.decrypt(agreement.access_key)
    ):
        raise _invalid("access_key cannot change")
    new = resource.status
    values: dict[str, object] = {}
    if new is not None and new != agreement.status:
        if agreement.status == "inactive":
            raise ProtocolError(403, "the agreement is inactive; a new invite is needed")
        if (agreement.status, new) not in _PARTNER_MOVES[agreement.direction]:
            raise _invalid(f"the partner cannot move this agreement from {agreement.status} to {new}")
        values["status"] = new
        if new == "inactive":
            values["deactivated_by"] = "sender" if agreement.direction == IN else "receiver"
    elif agreement.status == "inactive" and new is None:
        raise ProtocolError(403, "the agreement is inactive")
    if resource.name is not None:
        values["partner_name"] = resource.name
    if agreement.direction == IN:  # only the sender sets the terms
        for term in ("sync_tags", "sync_custom_fields", "allows_public_comments"):
            if getattr(resource, term) is not None:
                values[term] = bool(getattr(resource, term))
    if values:
        async with services.engine.begin() as conn:
            await store.update_agreement(conn, agreement, **values)
    return 200


# --- tickets --------------------------------------------------------------------------------------


async def _accepted(services: Services, account_id: str, token: str | None) -> Agreement:
    agreement = await authenticate(services, account_id, token, "")
    if agreement.status != "accepted":
        raise ProtocolError(403, f"the agreement is {agreement.status}")
    return agreement


async def _account(services: Services, account_id: str) -> account_store.LinkedAccountRecord:
    async with services.engine.connect() as conn:
        account = await account_store.account_by_id(conn, account_id)
    if account is None:  # deleted meanwhile
        raise ProtocolError(404, "no such sharing endpoint")
    return account


async def share(services: Services, account_id: str, url_uuid: str, token: str | None, body: bytes) -> int:
    """``POST /tickets/<uuid>``: the sender shares a ticket; it is created in the linked desk."""
    agreement = await _accepted(services, account_id, token)
    if agreement.direction != IN:
        raise ProtocolError(403, "on this agreement tickets are shared by us, not with us")
    resource = _decode_ticket(body, url_uuid)
    account = await _account(services, account_id)
    async with services.engine.begin() as conn:
        shared = await store.shared_by_uuid(conn, agreement.id, url_uuid)
        if shared is not None and shared.state != store.CREATING:
            raise _invalid("this ticket is already shared")
        if shared is None:
            shared = await store.insert_shared(
                conn,
                agreement_id=agreement.id,
                linked_account_id=account_id,
                uuid=url_uuid,
                role=store.RECEIVER,
                state=store.CREATING,
            )
    try:
        await desk.create_ticket(services, account, agreement, shared, resource)
    except desk.DeskError as exc:
        raise ProtocolError(
            exc.status, exc.detail, {"Retry-After": "30"} if exc.status == 503 else None
        ) from None
    return 201


async def _shared(services: Services, agreement: Agreement, url_uuid: str) -> store.SharedTicket:
    async with services.engine.connect() as conn:
        shared = await store.shared_by_uuid(conn, agreement.id, url_uuid)
    if shared is None:
        raise ProtocolError(404, "no such shared ticket")
    return shared


async def update_ticket(
    services: Services, account_id: str, url_uuid: str, token: str | None, body: bytes
) -> int:
    """``PUT /tickets/<uuid>`` (either direction): new comments by uuid, status and tags."""
    agreement = await _accepted(services, account_id, token)
    resource = _decode_ticket(body, url_uuid)
    shared = await _shared(services, agreement, url_uuid)
    if shared.state == store.UNSHARED:
        raise ProtocolError(410, "this ticket is no longer shared")
    if shared.state == store.CREATING:
        raise ProtocolError(503, "the share of this ticket is still being written", {"Retry-After": "30"})
    account = await _account(services, account_id)
    try:
        await desk.apply_changes(services, account, agreement, shared, resource)
    except desk.DeskError as exc:
        raise ProtocolError(
            exc.status, exc.detail, {"Retry-After": "30"} if exc.status == 503 else None
        ) from None
    return 200


async def unshare(services: Services, account_id: str, url_uuid: str, token: str | None) -> int:
    """``DELETE /tickets/<uuid>``: only the sharing side unshares; our copy stays, as an orphan."""
    agreement = await _accepted(services, account_id, token)
    shared = await _shared(services, agreement, url_uuid)
    if shared.role != store.RECEIVER:
        raise ProtocolError(403, "only the side that shared a ticket can unshare it")
    if shared.state != store.UNSHARED:
        async with services.engine.begin() as conn:
            await store.update_shared(conn, shared, state=store.UNSHARED)
    return 200


def error_body(detail: str) -> bytes:
    return msgspec.json.encode({"error": detail})
