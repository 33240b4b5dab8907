"""Delivering the outbox: lease due rows, POST the signed bytes, record the outcome.

Leasing, retries and settling are ``app/outbox.py``'s, shared with the sharing outbox. Everything is in
``webhook_outbox``, so a restart loses nothing: a row leased by a process that died is taken again when
its lease expires (the receiver may then see it twice; it dedupes on ``X-Deskbridge-Event-Id``). Leasing
picks rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the outbox
without sending a row twice at once.

Retry policy (ours, documented because Merge's is weak: 3 attempts within seconds, 4xx dropped):

* 2xx: delivered. We do not follow redirects (a redirect could point into a private network).
* 410 Gone: dead at once; the receiver says the endpoint is gone for good.
* Anything else, 4xx included, timeouts, refused connections and URLs the outbound policy refuses now:
  retried with exponential backoff and jitter (``backoff_base_seconds`` doubling to
  ``backoff_cap_seconds``), or after ``Retry-After`` when a 429/503 sends one, until the event is
  ``max_age_seconds`` old (3 days by default), then dead. 4xx are retried because in practice they are a
  receiver misconfiguration (route not deployed, secret rotated) that gets fixed; a receiver that wants
  to drop an event answers 2xx.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
from sqlalchemy import Select, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.state import Services
from app.db.tables import webhook_outbox, webhook_targets
from app.outbox import SECOND, Config, DeliveryLoop, claim, due, settle, settled
from app.timeutil import now_micros
from app.urlpolicy import UnsafeURLError
from app.webhooks import signing

log = logging.getLogger("deskbridge.webhooks")

EVENT_ID_HEADER = "X-Deskbridge-Event-Id"
EVENT_HEADER = "X-Deskbridge-Event"
ATTEMPT_HEADER = "X-Deskbridge-Delivery-Attempt"
USER_AGENT = "deskbridge-webhooks"


@dataclass(frozen=True)
class DeliveryConfig(Config):
    max_age_seconds: float | None = 3 * 24 * 3600.0
    #: Delivered and dead events stay listable (``/webhook-targets/{id}/deliveries``) this long, then
    #: are purged, so the outbox does not grow with every event ever sent.
    retention_seconds: float = 7 * 24 * 3600.0
    purge_every_seconds: float = 3600.0


class Lease(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    event: str
    body: bytes
    attempts: int
    created_at: int
    owner: str
    url: str
    secret: bytes  # sealed


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    delivered: bool
    retry: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(float(when.timestamp()) - time.time(), 0.0)


def classify(response_status: int, retry_after: str | None) -> Outcome:
    if 200 <= response_status < 300:
        return Outcome(delivered=True, retry=False, status=response_status)
    error = f"receiver answered HTTP {response_status}"
    if response_status == 410:
        return Outcome(delivered=False, retry=False, status=410, error=f"{error} (Gone): not retried")
    wait = parse_retry_after(retry_after) if response_status in (429, 503) else None
    return Outcome(delivered=False, retry=True, status=response_status, error=error, retry_after=wait)


def signed_headers(secret: str, body: bytes, *, event_id: str, event: str, attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.MERGE_HEADER: signing.merge_signature(secret, body),
        signing.TIMESTAMPED_HEADER: signing.timestamped_signature(secret, body, int(time.time())),
        EVENT_ID_HEADER: event_id,
        EVENT_HEADER: event,
        ATTEMPT_HEADER: str(attempt),
    }


def _leasable() -> Select[Any]:
    return select(
        webhook_outbox.c.id,
        webhook_outbox.c.event,
        webhook_outbox.c.body,
        webhook_outbox.c.attempts,
        webhook_outbox.c.created_at,
        webhook_targets.c.url,
        webhook_targets.c.secret,
    ).join(webhook_targets, webhook_targets.c.id == webhook_outbox.c.target_id)


def _lease(row: Any, owner: str) -> Lease:
    return Lease(**row._asdict(), owner=owner)  # the columns of ``_leasable``, by name


async def lease_due(engine: AsyncEngine, owner: str, config: DeliveryConfig) -> list[Lease]:
    """Take up to ``batch_size`` due rows of active targets, oldest due first."""
    now = now_micros()
    pick = (
        _leasable()
        .where(*due(webhook_outbox, now), webhook_targets.c.is_active.is_(True))
        .order_by(webhook_outbox.c.next_attempt_at, webhook_outbox.c.seq)
        .limit(config.batch_size)
        .with_for_update(skip_locked=True, of=webhook_outbox)
    )
    async with engine.begin() as conn:
        rows = (await conn.execute(pick)).all()
        ours = await claim(conn, webhook_outbox.c.id, [r.id for r in rows], owner, config.lease_seconds, now)
    return [_lease(r, owner) for r in rows if r.id in ours]


async def held(engine: AsyncEngine, event_id: str, owner: str) -> Lease | None:
    """The row ``event_id`` if ``owner`` holds its lease (a row inserted already leased: send test)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                _leasable().where(webhook_outbox.c.id == event_id, webhook_outbox.c.lease_owner == owner)
            )
        ).first()
    return _lease(row, owner) if row else None


async def attempt(services: Services, lease: Lease, config: DeliveryConfig) -> Outcome:
    """One POST of a leased row; never raises for anything the receiver or the network does."""
    secret = services.box.decrypt(lease.secret).decode()
    headers = signed_headers(
        secret, lease.body, event_id=lease.id, event=lease.event, attempt=lease.attempts + 1
    )
    try:
        # Checked before every delivery, not only at registration: DNS and the policy can change.
        url = await asyncio.to_thread(services.url_policy.check_url, lease.url)
        async with services.http.stream(
            "POST",
            url,
            content=lease.body,
            headers=headers,
            timeout=config.timeout_seconds,
            follow_redirects=False,
        ) as response:
            # The response body is never read: a receiver cannot make us buffer anything.
            return classify(response.status_code, response.headers.get("retry-after"))
    except UnsafeURLError as exc:
        return Outcome(delivered=False, retry=True, error=f"refused by the outbound URL policy: {exc}")
    except httpx.TimeoutException:
        return Outcome(delivered=False, retry=True, error=f"timed out after {config.timeout_seconds:g}s")
    except httpx.HTTPError as exc:
        return Outcome(delivered=False, retry=True, error=f"{type(exc).__name__}: {exc}"[:500])


async def record(engine: AsyncEngine, lease: Lease, outcome: Outcome, config: DeliveryConfig) -> None:
    """Save the outcome of an attempt (only while we still hold the lease)."""
    values = settled(
        outcome,
        attempts=lease.attempts + 1,
        created_at=lease.created_at,
        config=config,
        now=now_micros(),
        retry_after=outcome.retry_after,
    )
    async with engine.begin() as conn:
        await settle(conn, webhook_outbox.c.id, lease.id, lease.owner, values)


async def deliver(services: Services, lease: Lease, config: DeliveryConfig) -> Outcome:
    outcome = await attempt(services, lease, config)
    await record(services.engine, lease, outcome, config)
    if not outcome.delivered:
        log.info("webhook %s (%s) not delivered: %s", lease.id, lease.event, outcome.error)
    return outcome


async def purge_finished(engine: AsyncEngine, *, older_than: int) -> int:
    """Delete delivered or dead events finished before ``older_than`` (µs); pending ones are kept."""
    finished = or_(
        and_(webhook_outbox.c.delivered_at.is_not(None), webhook_outbox.c.delivered_at < older_than),
        and_(webhook_outbox.c.dead_at.is_not(None), webhook_outbox.c.dead_at < older_than),
    )
    async with engine.begin() as conn:
        result = await conn.execute(delete(webhook_outbox).where(finished))
    return int(result.rowcount or 0)


class WebhookDelivery(DeliveryLoop[Lease]):
    """Delivers due webhook events until stopped (``serve`` and ``deskbridge worker`` run one), and
    purges the finished ones every ``purge_every_seconds``."""

    name = "webhook"
    config: DeliveryConfig

    def __init__(self, services: Services, config: DeliveryConfig | None = None) -> None:
        super().__init__(config or DeliveryConfig())
        self.services = services
        self.chores_seconds = self.config.purge_every_seconds

    async def lease_due(self) -> list[Lease]:
        return await lease_due(self.services.engine, self.owner, self.config)

    async def deliver(self, lease: Lease) -> Outcome:
        return await deliver(self.services, lease, self.config)

    async def purge(self) -> int:
        """Purge events finished longer than ``retention_seconds`` ago; returns how many."""
        cutoff = now_micros() - int(self.config.retention_seconds * SECOND)
        return await purge_finished(self.services.engine, older_than=cutoff)

    async def chores(self) -> None:
        if purged := await self.purge():
            log.info("purged %d finished webhook events", purged)
