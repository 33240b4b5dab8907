"""Webhook targets: where an organization's events go (API key only, like ``/linked-accounts``).

Merge configures emitters in its dashboard; we offer an API. The secret is returned once, on creation.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import Row

from app.api.cursor import decode_cursor, encode_cursor
from app.api.deps import Conn, Organization, ServicesDep
from app.api.errors import bad_request, not_found
from app.api.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.db.tables import webhook_outbox
from app.outbox import SECOND
from app.timeutil import from_micros, now_micros
from app.urlpolicy import UnsafeURLError
from app.webhooks import delivery, events
from app.webhooks import targets as target_store
from app.webhooks.outbox import envelope, outbox_row
from app.webhooks.targets import Target
from schemas.envelopes import Page

MIN_SECRET = 16


class WebhookTargetCreate(msgspec.Struct, kw_only=True):
    url: str
    #: Event names to deliver (Merge's spelling); empty or absent: every event.
    events: list[str] = msgspec.field(default_factory=list)
    #: The signing secret (at least 16 characters); generated when absent.
    secret: str | None = None


class WebhookTarget(msgspec.Struct, kw_only=True):
    id: str
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime | None


class WebhookTargetWithSecret(WebhookTarget, kw_only=True):
    #: Shown once: store it now.
    secret: str


class WebhookDelivery(msgspec.Struct, kw_only=True):
    #: The event id (``X-Deskbridge-Event-Id``).
    id: str
    event: str
    #: PENDING (not tried yet), RETRYING, DELIVERED or FAILED (gave up: 410 or too old).
    status: str
    attempts: int
    created_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    last_status_code: int | None
    last_error: str | None


def _out(target: Target) -> dict[str, Any]:
    return {
        "id": target.id,
        "url": target.url,
        "events": list(target.events),
        "is_active": target.is_active,
        "created_at": from_micros(target.created_at),
    }


def _delivery(row: Row[Any]) -> WebhookDelivery:
    if row.delivered_at is not None:
        status = "DELIVERED"
    elif row.dead_at is not None:
        status = "FAILED"
    else:
        status = "RETRYING" if row.attempts else "PENDING"
    return WebhookDelivery(
        id=row.id,
        event=row.event,
        status=status,
        attempts=row.attempts,
        created_at=from_micros(row.created_at),
        next_attempt_at=from_micros(row.next_attempt_at),
        delivered_at=from_micros(row.delivered_at),
        failed_at=from_micros(row.dead_at),
        last_status_code=row.last_status,
        last_error=row.last_error,
    )


async def _checked_url(services: ServicesDep, url: str) -> str:
    try:
        # Resolving the host blocks; keep it off the event loop.
        return await asyncio.to_thread(services.url_policy.check_url, url.strip())
    except UnsafeURLError as exc:
        raise bad_request(f"url refused by the outbound URL policy: {exc}", pointer="/url") from None


def _checked_events(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in events.EMITTED]
    if unknown:
        raise bad_request(
            f"unknown event {unknown[0]!r}; events are: {', '.join(sorted(events.EMITTED))}",
            pointer="/events",
        )
    return names


@post(
    "/webhook-targets",
    status_code=201,
    operation_id="webhook_targets_create",
    tags=["webhooks"],
    summary="Register a URL that receives this organization's events; returns the signing secret once",
)
async def create_target(
    data: JSONBody[WebhookTargetCreate], organization: Organization, services: ServicesDep, conn: Conn
) -> WebhookTargetWithSecret:
    names = _checked_events(data.events)
    if data.secret is not None and len(data.secret) < MIN_SECRET:
        raise bad_request(f"secret must be at least {MIN_SECRET} characters", pointer="/secret")
    url = await _checked_url(services, data.url)
    secret = data.secret or target_store.new_secret()
    target = await target_store.create(
        conn, services.box, organization_id=organization, url=url, events=names, secret=secret
    )
    await conn.commit()
    return WebhookTargetWithSecret(**_out(target), secret=secret)


@get("/webhook-targets", operation_id="webhook_targets_list", tags=["webhooks"])
async def list_targets(
    organization: Organization,
    conn: Conn,
    cursor: Annotated[str | None, QueryParameter(required=False)] = None,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, required=False)] = DEFAULT_PAGE_SIZE,
) -> Page[WebhookTarget]:
    after = decode_cursor(cursor).k if cursor else None
    found = await target_store.list_page(conn, organization, after=after, limit=page_size + 1)
    more = len(found) > page_size
    found = found[:page_size]
    return Page(
        next=encode_cursor(key=found[-1].id) if more else None,
        previous=None,
        results=[WebhookTarget(**_out(t)) for t in found],
    )


@delete(
    "/webhook-targets/{target_id:str}",
    status_code=200,
    operation_id="webhook_targets_destroy",
    tags=["webhooks"],
    summary="Delete a webhook target and its pending deliveries; returns the deleted target",
)
async def delete_target(target_id: FromPath[str], organization: Organization, conn: Conn) -> WebhookTarget:
    target = await target_store.get(conn, organization, target_id)
    if target is None or not await target_store.remove(conn, organization, target_id):
        raise not_found()
    await conn.commit()
    return WebhookTarget(**_out(target))


@get(
    "/webhook-targets/{target_id:str}/deliveries",
    operation_id="webhook_targets_deliveries_list",
    tags=["webhooks"],
    summary="Recent deliveries of a target, newest first: status, attempts, last error",
)
async def list_deliveries(
    target_id: FromPath[str],
    organization: Organization,
    conn: Conn,
    cursor: Annotated[str | None, QueryParameter(required=False)] = None,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, required=False)] = DEFAULT_PAGE_SIZE,
) -> Page[WebhookDelivery]:
    if await target_store.get(conn, organization, target_id) is None:
        raise not_found()
    before = decode_cursor(cursor).p if cursor else None
    rows = await target_store.deliveries(conn, target_id, before=before, limit=page_size + 1)
    more = len(rows) > page_size
    rows = rows[:page_size]
    return Page(
        next=encode_cursor(rows[-1].seq) if more else None,
        previous=None,
        results=[_delivery(r) for r in rows],
    )


@post(
    "/webhook-targets/{target_id:str}/test",
    status_code=200,
    operation_id="webhook_targets_test_create",
    tags=["webhooks"],
    summary="Send a signed test event now (retried like any event if it fails); returns the delivery",
)
async def send_test(
    target_id: FromPath[str], organization: Organization, services: ServicesDep, conn: Conn
) -> WebhookDelivery:
    target = await target_store.get(conn, organization, target_id)
    if target is None:
        raise not_found()
    await _checked_url(services, target.url)
    config = delivery.DeliveryConfig()
    now = now_micros()
    data = {"response": "Success! This URL will be notified."}
    row = outbox_row(target, events.TEST, envelope(target, events.TEST, None, data), now)
    # Leased by this request from the start, so the background loop does not send it concurrently.
    owner = f"api-test:{row['id']}"
    row.update(lease_owner=owner, lease_expires_at=now + int(config.lease_seconds * SECOND))
    await conn.execute(webhook_outbox.insert().values(**row))
    await conn.commit()
    lease = await delivery.held(services.engine, row["id"], owner)
    if lease is not None:
        await delivery.deliver(services, lease, config)
    found = await target_store.delivery(conn, row["id"])
    await conn.commit()
    if found is None:  # the target was deleted meanwhile
        raise not_found()
    return _delivery(found)


HANDLERS = [create_target, list_targets, delete_target, list_deliveries, send_test]
