"""Merge's official Python SDK (MergePythonClient 4.2.1), pointed at a real deskbridge server.

Only ``base_url`` changes: the SDK builds URLs, headers, query strings and bodies exactly as against
Merge, so this is the wire-compatibility test that matters to integrators.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from merge import Merge
from merge.core.api_error import ApiError
from merge.resources.ticketing import CommentRequest, PatchedTicketRequest, TicketRequest

from app.asgi import create_app
from app.db import accounts as account_store
from app.db import records
from app.db.engine import create_engine
from app.settings import Settings
from connectors.base import RemoteRecord
from schemas.models import Account, User
from tests import fakes
from tests.app.conftest import LOOPBACK, desk_url


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(url: str) -> str:
    engine = create_engine(url)
    async with engine.begin() as conn:
        key = await account_store.create_api_key(conn, "sdk")
    await engine.dispose()
    return key


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    fakes.DESKS.clear()
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="sdk-secret", outbound_allow=LOOPBACK
    )
    key = asyncio.run(_prepare(database_url))
    port = _free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield {"base": f"http://127.0.0.1:{port}", "key": key, "url": database_url}
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def _link(server: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{server['base']}/api/ticketing/v1/linked-accounts",
        headers={"Authorization": f"Bearer {server['key']}"},
        json={
            "integration": "fakedesk",
            "credentials": {"api_key": fakes.GOOD_KEY},
            "base_url": desk_url("sdk"),
            "end_user_origin_id": "sdk-1",
            "end_user_organization_name": "SDK Inc",
            "end_user_email_address": "sdk@example.com",
        },
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _seed(url: str, account_id: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await records.upsert_records(
            conn,
            account_id,
            "User",
            [
                RemoteRecord(
                    model=User(remote_id="u1", name="Ann Agent", email_address="ann@example.com"),
                    path="/users/u1",
                    raw={"id": "u1"},
                )
            ],
        )
        await records.upsert_records(
            conn,
            account_id,
            "Account",
            [RemoteRecord(model=Account(remote_id="o1", name="Acme"), path="/orgs/o1", raw={"id": "o1"})],
        )
    await engine.dispose()


def test_sdk_round_trip(server: dict[str, Any]) -> None:
    linked = _link(server)
    asyncio.run(_seed(server["url"], linked["id"]))
    client = Merge(
        base_url=f"{server['base']}/api", api_key=server["key"], account_token=linked["account_token"]
    )

    user = client.ticketing.users.list().results[0]
    account = client.ticketing.accounts.list().results[0]
    created_ids = []
    for i in range(5):
        response = client.ticketing.tickets.create(
            model=TicketRequest(
                name=f"Printer on fire {i}",
                status="OPEN",
                priority="URGENT",
                description="Smoke everywhere",
                assignees=[user.id],
                account=account.id,
                tags=["hardware"],
            )
        )
        assert response.errors == [] and response.model.name == f"Printer on fire {i}"
        created_ids.append(response.model.id)

    # list with paging: every ticket exactly once, through opaque cursors
    seen: list[str] = []
    cursor = None
    while True:
        page = client.ticketing.tickets.list(page_size=2, cursor=cursor, expand=["assignees", "account"])
        for ticket in page.results or []:
            seen.append(ticket.id)
            assert ticket.assignees[0].name == "Ann Agent"  # expanded to objects by the SDK's request
            assert ticket.account.name == "Acme"
        if not page.next:
            break
        cursor = page.next
    assert seen == created_ids

    # retrieve with expand
    one = client.ticketing.tickets.retrieve(
        created_ids[0], expand=["account", "assignees"], include_remote_data=True
    )
    assert one.account.name == "Acme" and one.assignees[0].email_address == "ann@example.com"
    assert one.remote_data[0].path.startswith("/tickets/")

    # patch: only the fields sent change
    patched = client.ticketing.tickets.partial_update(
        created_ids[0], model=PatchedTicketRequest(status="IN_PROGRESS")
    )
    assert patched.model.status == "IN_PROGRESS" and patched.model.priority == "URGENT"
    assert client.ticketing.tickets.retrieve(created_ids[0]).status == "IN_PROGRESS"

    # add a comment, then find it by ticket
    comment = client.ticketing.comments.create(
        model=CommentRequest(ticket=created_ids[0], body="On it", is_private=False)
    )
    assert comment.model.body == "On it"
    listed = client.ticketing.comments.list(ticket_id=created_ids[0])
    assert [c.id for c in listed.results] == [comment.model.id]

    # the vendor has what the SDK wrote
    desk = fakes.desk(desk_url("sdk"))
    assert sorted(t["title"] for t in desk.tickets.values()) == [f"Printer on fire {i}" for i in range(5)]
    assert [c["text"] for c in desk.comments.values()] == ["On it"]

    # filters the SDK encodes itself
    assert len(client.ticketing.tickets.list(status="IN_PROGRESS").results) == 1
    assert len(client.ticketing.tickets.list(tags="hardware", page_size=100).results) == 5

    # account-level endpoints the SDK offers
    assert client.ticketing.account_details.retrieve().integration_slug == "fakedesk"
    actions = client.ticketing.available_actions.retrieve()
    assert {m.model_name for m in actions.available_model_operations} >= {"Ticket", "Comment"}
    statuses = client.ticketing.sync_status.list().results
    assert {s.model_id for s in statuses} >= {"ticketing.Ticket", "ticketing.Comment"}


def test_sdk_sees_errors_as_api_errors_without_retrying_writes(server: dict[str, Any]) -> None:
    linked = _link(server)
    client = Merge(
        base_url=f"{server['base']}/api", api_key=server["key"], account_token=linked["account_token"]
    )
    with pytest.raises(ApiError) as missing:
        client.ticketing.tickets.retrieve("3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert missing.value.status_code == 404 and missing.value.body == {"detail": "Not found."}
    fakes.desk(desk_url("sdk")).fail_next = __import__("connectors.http.errors").http.errors.RejectedError(
        "no"
    )
    with pytest.raises(ApiError) as rejected:
        client.ticketing.tickets.create(model=TicketRequest(name="x"))
    assert (
        rejected.value.status_code == 400
        and rejected.value.body["errors"][0]["problem_type"] == "VENDOR_REJECTED"
    )
    assert fakes.desk(desk_url("sdk")).calls.count("create_ticket") == 1  # a 400 is not retried
    bad = Merge(base_url=f"{server['base']}/api", api_key="wrong", account_token=linked["account_token"])
    with pytest.raises(ApiError) as unauthorized:
        bad.ticketing.tickets.list()
    assert unauthorized.value.status_code == 401


def test_sdk_lists_and_retrieves_issues(server: dict[str, Any]) -> None:
    from connectors.http.errors import AuthError

    linked = _link(server)
    client = Merge(
        base_url=f"{server['base']}/api", api_key=server["key"], account_token=linked["account_token"]
    )
    fakes.desk(desk_url("sdk")).fail_next = AuthError("401")
    with pytest.raises(ApiError):
        client.ticketing.tickets.create(model=TicketRequest(name="x"))
    page = client.ticketing.issues.list(status="ONGOING", account_token=linked["account_token"])
    (issue,) = page.results
    assert issue.status == "ONGOING" and issue.error_description == "Invalid credentials"
    assert issue.end_user is not None and issue.end_user["end_user_origin_id"] == "sdk-1"
    assert issue.first_incident_time is not None and issue.error_details
    again = client.ticketing.issues.retrieve(issue.id or "")
    assert again.id == issue.id and again.last_incident_time == issue.last_incident_time
    assert client.ticketing.issues.list(status="RESOLVED").results == []
