"""The service under test: app + store + a fake vendor, driven through the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from app.asgi import create_app
from app.db import accounts as account_store
from app.db import records
from app.db.engine import create_engine
from app.settings import Settings
from connectors.base import RemoteRecord
from tests import fakes

API = "/api/ticketing/v1"
LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass
class Service:
    client: AsyncTestClient[Any]
    engine: AsyncEngine
    api_key: str
    settings: Settings

    def headers(self, account_token: str | None = None, api_key: str | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {api_key or self.api_key}"}
        if account_token:
            h["X-Account-Token"] = account_token
        return h

    async def new_api_key(self, organization: str) -> str:
        async with self.engine.begin() as conn:
            return await account_store.create_api_key(conn, "test", organization=organization)

    async def link(
        self,
        origin: str = "customer-1",
        desk: str = "desk-a",
        api_key: str | None = None,
        key: str = fakes.GOOD_KEY,
    ) -> dict[str, Any]:
        """Link a fake desk through the API; returns the response body (with ``account_token``)."""
        response = await self.client.post(
            f"{API}/linked-accounts",
            headers=self.headers(api_key=api_key),
            json={
                "integration": "fakedesk",
                "credentials": {"api_key": key},
                "base_url": desk_url(desk),
                "end_user_origin_id": origin,
                "end_user_organization_name": f"{origin} Inc",
                "end_user_email_address": f"admin@{origin}.example",
            },
        )
        assert response.status_code in (200, 201), response.text
        body: dict[str, Any] = response.json()
        return body

    async def seed(self, account_id: str, model: str, items: Sequence[RemoteRecord[Any]]) -> None:
        """Put records in the store as a sync would."""
        async with self.engine.begin() as conn:
            await records.upsert_records(conn, account_id, model, items)

    async def get(self, path: str, token: str | None, **params: Any) -> Any:
        return await self.client.get(f"{API}{path}", headers=self.headers(token), params=params)


def desk_url(name: str) -> str:
    return f"http://127.0.0.1:9/{name}"


@pytest.fixture
async def service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    fakes.DESKS.clear()
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="test-secret", outbound_allow=LOOPBACK
    )
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        api_key = await account_store.create_api_key(conn, "tests")
    # The app builds its own engine: the test client runs it on another event loop, and asyncpg
    # connections belong to the loop that opened them. ``engine`` is for the test's own queries.
    app = create_app(settings)
    try:
        async with AsyncTestClient(app=app) as client:
            yield Service(client=client, engine=engine, api_key=api_key, settings=settings)
    finally:
        await engine.dispose()
