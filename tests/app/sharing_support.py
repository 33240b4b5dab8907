"""Helpers shared by the ticket-sharing service tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.tables import shared_comments, shared_tickets, sharing_agreements, sharing_outbox
from app.secrets import SecretBox
from app.sharing import store
from tests.app.conftest import API, Service
from tests.connectors.ticket_sharing.captures import Capture

SHARING_TABLES = (sharing_agreements, shared_tickets, shared_comments, sharing_outbox)


async def sharing_url(service: Service, token: str) -> str:
    r = await service.client.get(f"{API}/sharing/url", headers=service.headers(token))
    assert r.status_code == 200, r.text
    url: str = r.json()["url"]
    return url


def replay_args(capture: Capture, base_path: str) -> dict[str, Any]:
    """The capture's exact headers (but Host/Content-Length, which the client sets) and bytes."""
    headers = [(k, v) for k, v in capture.headers if k.lower() not in ("host", "content-length")]
    return {
        "method": capture.method,
        "url": base_path + capture.protocol_path,
        "headers": headers,
        "content": capture.raw,
    }


def path_of(url: str) -> str:
    return urlsplit(url).path


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0) for t in SHARING_TABLES
        }


async def seed_agreement(
    engine: AsyncEngine, box: SecretBox, account_id: str, uuid: str, key: str, **values: Any
) -> store.Agreement:
    async with engine.begin() as conn:
        return await store.insert_agreement(
            conn,
            linked_account_id=account_id,
            uuid=uuid,
            direction=values.pop("direction", store.OUT),
            status=values.pop("status", "pending"),
            partner_url=values.pop("partner_url", "http://receiver.example.org/sharing"),
            our_url=values.pop("our_url", "http://sender.example.com/sharing"),
            access_key=box.encrypt(key.encode()),
            name="Sender Company",
            partner_name=None,
            sync_tags=values.pop("sync_tags", True),
            sync_custom_fields=False,
            allows_public_comments=True,
            deactivated_by=None,
            **values,
        )


async def agreement(engine: AsyncEngine, account_id: str, uuid: str) -> store.Agreement:
    async with engine.connect() as conn:
        found = await store.agreement_by_uuid(conn, account_id, uuid)
    assert found is not None
    return found
