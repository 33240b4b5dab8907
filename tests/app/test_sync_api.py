"""GET /sync-status and POST /sync-status/resync."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from app.db.tables import sync_state
from app.timeutil import now_micros
from connectors.base import FETCH
from tests import fakes
from tests.app.conftest import API, Service

SYNC_STATUS_FIELDS = {
    "model_name",
    "model_id",
    "last_sync_start",
    "next_sync_start",
    "last_sync_result",
    "last_sync_finished",
    "data_fresh_as_of",
    "historical_data_since",
    "status",
    "sync_status_reason",
    "is_initial_sync",
    "selective_sync_configurations_usage",
}
FETCHED = sorted(m.model for m in fakes.FakeDeskConnector.models if FETCH in m.operations)


@pytest.fixture
async def linked(service: Service) -> dict[str, Any]:
    return await service.link()


async def rows(service: Service, account_id: str) -> list[Any]:
    async with service.engine.connect() as conn:
        result = await conn.execute(
            select(sync_state)
            .where(sync_state.c.linked_account_id == account_id)
            .order_by(sync_state.c.model)
        )
        return list(result)


async def test_linking_queues_an_initial_sync_per_fetched_model(
    service: Service, linked: dict[str, Any]
) -> None:
    before = now_micros()
    r = await service.get("/sync-status", linked["account_token"])
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) == {"next", "previous", "results"} and page["next"] is None and page["previous"] is None
    results = page["results"]
    assert [s["model_name"] for s in results] == FETCHED
    for s in results:
        assert set(s) == SYNC_STATUS_FIELDS
        assert s["model_id"] == f"ticketing.{s['model_name']}"
        assert s["status"] == "SYNCING" and s["is_initial_sync"] is True
        assert s["next_sync_start"] is not None and s["next_sync_start"].endswith("Z")
        assert s["last_sync_start"] is None and s["last_sync_finished"] is None
        assert s["last_sync_result"] is None and s["data_fresh_as_of"] is None
    assert len(await rows(service, linked["id"])) == len(FETCHED)
    assert all(
        row.next_sync_start <= now_micros() and row.next_sync_start >= before - 60_000_000
        for row in await rows(service, linked["id"])
    )


async def test_sync_status_reports_what_the_engine_recorded(service: Service, linked: dict[str, Any]) -> None:
    async with service.engine.begin() as conn:
        await conn.execute(
            update(sync_state)
            .where(sync_state.c.linked_account_id == linked["id"], sync_state.c.model == "Ticket")
            .values(
                status="DONE",
                is_initial_sync=False,
                last_sync_start=1_700_000_000_000_000,
                last_sync_finished=1_700_000_060_000_000,
                last_sync_result="DONE",
                data_fresh_as_of=1_700_000_000_000_000,
                sync_status_reason=None,
            )
        )
        await conn.execute(
            update(sync_state)
            .where(sync_state.c.linked_account_id == linked["id"], sync_state.c.model == "User")
            .values(sync_status_reason="RATE_LIMITED")
        )
    results = {
        s["model_name"]: s
        for s in (await service.get("/sync-status", linked["account_token"])).json()["results"]
    }
    t = results["Ticket"]
    assert t["status"] == "DONE" and t["is_initial_sync"] is False and t["last_sync_result"] == "DONE"
    assert t["last_sync_start"] == "2023-11-14T22:13:20Z"
    assert t["last_sync_finished"] == "2023-11-14T22:14:20Z"
    assert t["data_fresh_as_of"] == "2023-11-14T22:13:20Z"
    assert results["User"]["sync_status_reason"] == "RATE_LIMITED"


async def test_sync_status_pages(service: Service, linked: dict[str, Any]) -> None:
    token = linked["account_token"]
    seen: list[str] = []
    cursor = None
    previous: list[str | None] = []
    while True:
        params: dict[str, Any] = {"page_size": 3, **({"cursor": cursor} if cursor else {})}
        r = await service.get("/sync-status", token, **params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["results"]) <= 3
        seen += [s["model_name"] for s in page["results"]]
        previous.append(page["previous"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == FETCHED
    assert previous[0] is None and all(p is not None for p in previous[1:])
    # ``previous`` of the second page leads back to the first.
    second = (
        await service.get(
            "/sync-status",
            token,
            page_size=3,
            cursor=(await service.get("/sync-status", token, page_size=3)).json()["next"],
        )
    ).json()
    back = (await service.get("/sync-status", token, page_size=3, cursor=second["previous"])).json()
    assert [s["model_name"] for s in back["results"]] == FETCHED[:3]


@pytest.mark.parametrize("params", [{"page_size": 0}, {"page_size": 101}, {"cursor": "%%%"}])
async def test_sync_status_bad_params(
    service: Service, linked: dict[str, Any], params: dict[str, Any]
) -> None:
    r = await service.get("/sync-status", linked["account_token"], **params)
    assert r.status_code == 400 and r.json()["detail"]


async def test_resync_returns_a_bare_array_and_requests_a_full_resync(
    service: Service, linked: dict[str, Any]
) -> None:
    async with service.engine.begin() as conn:
        await conn.execute(
            update(sync_state)
            .where(sync_state.c.linked_account_id == linked["id"])
            .values(status="DONE", is_initial_sync=False, next_sync_start=now_micros() + 3_600_000_000)
        )
    other = await service.link(origin="customer-2", desk="desk-b")
    before = now_micros()
    r = await service.client.post(
        f"{API}/sync-status/resync", headers=service.headers(linked["account_token"])
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list)
    assert [s["model_name"] for s in body] == FETCHED
    for s in body:
        assert set(s) == SYNC_STATUS_FIELDS and s["status"] == "SYNCING"
        assert s["model_id"] == f"ticketing.{s['model_name']}"
    stored = await rows(service, linked["id"])
    assert all(row.full_resync_requested for row in stored)
    assert all(before <= row.next_sync_start <= now_micros() for row in stored)
    # The listing agrees with the answer.
    listed = (await service.get("/sync-status", linked["account_token"])).json()["results"]
    assert listed == body
    # Another account is not touched.
    assert not any(row.full_resync_requested for row in await rows(service, other["id"]))


async def test_resync_ignores_a_body(service: Service, linked: dict[str, Any]) -> None:
    r = await service.client.post(
        f"{API}/sync-status/resync", headers=service.headers(linked["account_token"]), json={"anything": 1}
    )
    assert r.status_code == 200 and isinstance(r.json(), list)
