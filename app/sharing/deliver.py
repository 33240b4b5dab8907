"""Sending the outbox: each leased row becomes one protocol request to the partner.

Agreement rows carry their body (each status change must reach the partner as it was). Ticket rows are
built when sent, from our store at that moment: a share sends the whole ticket, an update what the
partner has not acknowledged yet (comments not in the map, a status or tags different from the last
agreed). Only a 2xx marks comments as sent, so delivery is at least once; the partner dedupes by uuid.

Outcomes: 2xx delivered; 408/429/5xx, network errors and a URL the outbound policy refuses are retried
with backoff; any other answer (401/403/404/410/422, a cross-origin redirect) is final: the row is dead
and its status and error stay in ``sharing_outbox`` (``last_status``, ``last_error``, ``dead_at``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.state import Services
from app.db import accounts as account_store
from app.outbox import DeliveryLoop
from app.sharing import outbox, payload, store
from app.sharing.outbox import Lease, OutboxConfig
from app.sharing.store import Agreement
from app.timeutil import now_micros
from connectors.ticket_sharing import client, wire
from connectors.ticket_sharing.client import Outcome

log = logging.getLogger("deskbridge.sharing")

#: How long a partner comment may stay "being written" before we stop waiting for it.
IN_FLIGHT_SECONDS = 120


def _final(error: str) -> Outcome:
    return Outcome(delivered=False, retry=False, error=error)


def token(services: Services, agreement: Agreement) -> str:
    return f"{agreement.uuid}:{services.box.decrypt(agreement.access_key).decode()}"


async def _send(
    services: Services,
    config: OutboxConfig,
    agreement: Agreement,
    method: str,
    path: tuple[str, str],
    body: bytes | None,
    *,
    with_token: bool = True,
) -> Outcome:
    async def check(url: str) -> str:
        return await asyncio.to_thread(services.url_policy.check_url, url)

    return await client.send(
        services.http,
        method,
        client.resource_url(agreement.partner_url, *path),
        body=body,
        token=token(services, agreement) if with_token else None,
        check_url=check,
        timeout=config.timeout_seconds,
    )


@dataclass(frozen=True)
class _Request:
    """A protocol request worked out from the store; sent once the reads are over."""

    agreement: Agreement
    method: str
    path: tuple[str, str]
    body: bytes | None = None
    with_token: bool = True
    #: A ticket share or update: what the partner acknowledges when it answers 2xx.
    shared: store.SharedTicket | None = None
    pending: payload.Pending | None = None


async def _request_for(conn: AsyncConnection, lease: Lease) -> _Request | Outcome | None:
    """What to send for ``lease``, an outcome decided without sending, or None ("not now")."""
    agreement = await store.agreement_any(conn, lease.agreement_id)
    if agreement is None:
        return _final("the agreement is gone")
    resource = ("agreements", agreement.uuid)
    if lease.kind == "invite":
        return _Request(agreement, "POST", resource, lease.body, with_token=False)
    if lease.kind == "agreement":
        return _Request(agreement, "PUT", resource, lease.body)
    shared = await store.shared_by_id(conn, lease.shared_ticket_id or "")
    if shared is None:
        return _final("the shared ticket is gone")
    if agreement.status != "accepted":
        return _final(f"the agreement is {agreement.status}; nothing is sent on it")
    if lease.kind == "unshare":
        return _Request(agreement, "DELETE", ("tickets", shared.uuid))
    if shared.state != store.ACTIVE:
        return _final(f"the shared ticket is {shared.state}")
    known = await store.comment_map(conn, shared.id)
    if payload.in_flight(known, now_micros(), IN_FLIGHT_SECONDS * 1_000_000):
        return None
    account = await account_store.account_by_id(conn, agreement.linked_account_id)
    if account is None:
        return _final("the linked account is gone")
    full = lease.kind == "share"
    pending = await payload.build(conn, account, agreement, shared, full=full)
    if pending is None:
        return _final("the ticket is gone from the store")
    if not full and pending.empty:
        return Outcome(delivered=True, retry=False, error=None)  # nothing the partner lacks
    body = wire.encode(pending.ticket)
    return _Request(
        agreement, "POST" if full else "PUT", ("tickets", shared.uuid), body, shared=shared, pending=pending
    )


async def attempt(services: Services, lease: Lease, config: OutboxConfig) -> Outcome | None:
    """One try at ``lease``; None means "not now" (postponed without counting an attempt)."""
    async with services.engine.connect() as conn:
        request = await _request_for(conn, lease)
    # Sent with the connection back in the pool: no transaction waits on the partner.
    if not isinstance(request, _Request):
        return request
    send = functools.partial(_send, services, config, request.agreement)
    outcome = await send(request.method, request.path, request.body, with_token=request.with_token)
    if request.shared is None or request.pending is None:
        return outcome
    if not outcome.delivered and request.method == "POST" and outcome.status == 422 and lease.attempts > 0:
        # An earlier attempt may have reached the partner without our seeing the answer: the share
        # exists there now, so finish with an update (uuids make the resend harmless).
        outcome = await send("PUT", request.path, request.body)
    if outcome.delivered:
        async with services.engine.begin() as conn:
            await _acknowledge(conn, request.shared, request.pending)
    return outcome


async def _acknowledge(conn: AsyncConnection, shared: store.SharedTicket, pending: payload.Pending) -> None:
    now = now_micros()
    known = await store.comment_map(conn, shared.id)
    for uuid, comment_id, remote_id in pending.comment_rows:
        if uuid not in known:
            await store.map_comment(
                conn,
                shared.id,
                uuid,
                store.LOCAL,
                comment_id=comment_id,
                comment_remote_id=remote_id,
                sent_ok_at=now,
            )
    await store.update_shared(conn, shared, sent_status=pending.status, sent_tags=pending.tags)


async def deliver(services: Services, lease: Lease, config: OutboxConfig) -> Outcome | None:
    try:
        outcome = await attempt(services, lease, config)
    except Exception as exc:  # a bug or the store hiccuped: count it as a failed attempt, keep going
        log.exception("sharing delivery %s failed", lease.seq)
        outcome = Outcome(delivered=False, retry=True, error=f"internal error: {type(exc).__name__}")
    async with services.engine.begin() as conn:
        if outcome is None:
            await outbox.postpone(conn, lease, 2.0)
        else:
            await outbox.record(conn, lease, outcome, config)
    if outcome is not None and not outcome.delivered:
        log.info("sharing %s #%d not delivered: %s", lease.kind, lease.seq, outcome.error)
    return outcome


class SharingDelivery(DeliveryLoop[Lease]):
    """Delivers due outbox rows until stopped; the sync worker (``serve``, ``deskbridge worker``) runs one."""

    name = "ticket-sharing"
    config: OutboxConfig

    def __init__(self, services: Services, config: OutboxConfig | None = None) -> None:
        super().__init__(config or OutboxConfig())
        self.services = services

    async def lease_due(self) -> list[Lease]:
        # Rows of one order key are never leased together, so concurrency keeps per-ticket order.
        return await outbox.lease_due(self.services.engine, self.owner, self.config)

    async def deliver(self, lease: Lease) -> Outcome | None:
        return await deliver(self.services, lease, self.config)
