"""POST/PATCH through the connector: bodies, status codes, warnings, errors, and never a 5xx after effect."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.http.errors import NotFoundError, RateLimitError, RejectedError, UpstreamError
from tests import fakes
from tests.app.conftest import API, Service, desk_url


@pytest.fixture
async def linked(service: Service) -> dict[str, Any]:
    return await service.link()


async def post(service: Service, token: str, path: str, model: Any, **kw: Any) -> httpx.Response:
    return await service.client.post(
        f"{API}{path}", headers=service.headers(token), json={"model": model}, **kw
    )


async def test_create_ticket_reaches_vendor_and_store(service: Service, linked: dict[str, Any]) -> None:
    token = linked["account_token"]
    r = await post(
        service,
        token,
        "/tickets",
        {
            "name": "Printer on fire",
            "status": "OPEN",
            "priority": "URGENT",
            "description": "Smoke",
            "tags": ["hw"],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (
        set(body) == {"model", "warnings", "errors", "logs"}
        and body["errors"] == []
        and body["warnings"] == []
    )
    model = body["model"]
    vendor = fakes.desk(desk_url("desk-a")).tickets[model["remote_id"]]
    assert (
        vendor["title"] == "Printer on fire" and vendor["state"] == "open" and vendor["priority"] == "URGENT"
    )
    stored = (await service.get(f"/tickets/{model['id']}", token)).json()
    assert stored == model and stored["tags"] == ["hw"]


async def test_create_with_relations_translates_ids_both_ways(
    service: Service, linked: dict[str, Any]
) -> None:
    from connectors.base import RemoteRecord
    from schemas.models import Account, User

    token, aid = linked["account_token"], linked["id"]
    await service.seed(aid, "User", [RemoteRecord(model=User(remote_id="u9", name="Ann"), path="/u", raw={})])
    await service.seed(
        aid, "Account", [RemoteRecord(model=Account(remote_id="o7", name="Acme"), path="/o", raw={})]
    )
    user = (await service.get("/users", token)).json()["results"][0]["id"]
    account = (await service.get("/accounts", token)).json()["results"][0]["id"]
    r = await post(service, token, "/tickets", {"name": "x", "assignees": [user], "account": account})
    assert r.status_code == 201, r.text
    vendor = fakes.desk(desk_url("desk-a")).tickets[r.json()["model"]["remote_id"]]
    assert vendor["assignee_ids"] == ["u9"] and vendor["org_id"] == "o7"
    assert r.json()["model"]["assignees"] == [user] and r.json()["model"]["account"] == account


async def test_unknown_relation_id_is_a_400_and_nothing_is_written(
    service: Service, linked: dict[str, Any]
) -> None:
    r = await post(
        service,
        linked["account_token"],
        "/tickets",
        {"name": "x", "assignees": ["3fa85f64-5717-4562-b3fc-2c963f66afa6"]},
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"] == {"pointer": "/model/assignees"}
    assert fakes.desk(desk_url("desk-a")).tickets == {}


async def test_unrecognized_fields_are_warnings(service: Service, linked: dict[str, Any]) -> None:
    r = await post(service, linked["account_token"], "/tickets", {"name": "x", "colour": "red"})
    assert r.status_code == 201
    (warning,) = r.json()["warnings"]
    assert warning["problem_type"] == "UNRECOGNIZED_FIELD" and warning["source"] == {
        "pointer": "/model/colour"
    }


async def test_patch_changes_only_what_was_sent_and_null_clears(
    service: Service, linked: dict[str, Any]
) -> None:
    token = linked["account_token"]
    created = (
        await post(service, token, "/tickets", {"name": "x", "priority": "LOW", "ticket_type": "task"})
    ).json()
    tid = created["model"]["id"]
    r = await service.client.patch(
        f"{API}/tickets/{tid}",
        headers=service.headers(token),
        json={"model": {"status": "IN_PROGRESS", "ticket_type": None}},
    )
    assert r.status_code == 200, r.text
    model = r.json()["model"]
    assert model["status"] == "IN_PROGRESS" and model["priority"] == "LOW" and model["ticket_type"] is None
    assert model["id"] == tid and model["created_at"] == created["model"]["created_at"]
    vendor = fakes.desk(desk_url("desk-a")).tickets[model["remote_id"]]
    assert vendor["state"] == "working" and vendor["kind"] is None and vendor["title"] == "x"


async def test_patch_unknown_ticket_is_404(service: Service, linked: dict[str, Any]) -> None:
    r = await service.client.patch(
        f"{API}/tickets/3fa85f64-5717-4562-b3fc-2c963f66afa6",
        headers=service.headers(linked["account_token"]),
        json={"model": {"name": "y"}},
    )
    assert r.status_code == 404 and fakes.desk(desk_url("desk-a")).calls == ["check"]


async def test_empty_patch_is_a_400(service: Service, linked: dict[str, Any]) -> None:
    token = linked["account_token"]
    tid = (await post(service, token, "/tickets", {"name": "x"})).json()["model"]["id"]
    r = await service.client.patch(f"{API}/tickets/{tid}", headers=service.headers(token), json={"model": {}})
    assert r.status_code == 400


async def test_create_comment(service: Service, linked: dict[str, Any]) -> None:
    token = linked["account_token"]
    ticket = (await post(service, token, "/tickets", {"name": "x"})).json()["model"]
    r = await post(service, token, "/comments", {"ticket": ticket["id"], "body": "On it", "is_private": True})
    assert r.status_code == 201, r.text
    comment = r.json()["model"]
    assert comment["ticket"] == ticket["id"] and comment["is_private"] is True and comment["body"] == "On it"
    vendor = fakes.desk(desk_url("desk-a")).comments[comment["remote_id"]]
    assert vendor["ticket_id"] == ticket["remote_id"] and vendor["internal"] is True
    listed = (await service.get("/comments", token, ticket_id=ticket["id"])).json()["results"]
    assert [c["id"] for c in listed] == [comment["id"]]


@pytest.mark.parametrize(
    ("model", "pointer"),
    [
        ({"body": "no ticket"}, "/model/ticket"),
        ({"ticket": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "body": "x"}, "/model/ticket"),
    ],
)
async def test_comment_needs_an_existing_ticket(
    service: Service, linked: dict[str, Any], model: dict[str, Any], pointer: str
) -> None:
    r = await post(service, linked["account_token"], "/comments", model)
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == pointer


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "JSON"),
        (b"[]", ""),
        (b'{"model": []}', "model"),
        (b'{"nomodel": {}}', "model"),
        (b'{"model": {"status": "WEIRD"}}', "status"),
        (b'{"model": {"priority": 3}}', "priority"),
        (b'{"model": {"due_date": "tomorrow"}}', "due_date"),
        (b'{"model": {"assignees": "one"}}', "assignees"),
    ],
)
async def test_malformed_bodies_are_400_and_write_nothing(
    service: Service, linked: dict[str, Any], body: bytes, fragment: str
) -> None:
    r = await service.client.post(
        f"{API}/tickets",
        content=body,
        headers={**service.headers(linked["account_token"]), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert fragment.lower() in r.json()["detail"].lower()
    assert fakes.desk(desk_url("desk-a")).tickets == {}


@pytest.mark.parametrize(
    ("error", "status", "problem"),
    [
        (RejectedError("subject: can't be blank"), 400, "VENDOR_REJECTED"),
        (NotFoundError("gone"), 404, None),
        (RateLimitError("slow down", retry_after=7), 429, None),
        (UpstreamError("read timeout"), 400, "VENDOR_OUTCOME_UNKNOWN"),
    ],
)
async def test_vendor_errors_map_to_non_retryable_answers(
    service: Service, linked: dict[str, Any], error: Exception, status: int, problem: str | None
) -> None:
    fakes.desk(desk_url("desk-a")).fail_next = error
    r = await post(service, linked["account_token"], "/tickets", {"name": "x"})
    assert r.status_code == status, r.text
    if problem:
        assert r.json()["errors"][0]["problem_type"] == problem
    if status == 429:
        assert r.headers["retry-after"] == "7"


async def test_unreachable_vendor_is_503_because_nothing_was_sent(
    service: Service, linked: dict[str, Any]
) -> None:
    fakes.desk(desk_url("desk-a")).fail_next = UpstreamError("connect failed", maybe_processed=False)
    r = await post(service, linked["account_token"], "/tickets", {"name": "x"})
    assert r.status_code == 503 and "retry-after" in r.headers


async def test_refused_credentials_mark_the_account_relink_needed(
    service: Service, linked: dict[str, Any]
) -> None:
    from connectors.http.errors import AuthError

    token = linked["account_token"]
    fakes.desk(desk_url("desk-a")).fail_next = AuthError("401")
    r = await post(service, token, "/tickets", {"name": "x"})
    assert r.status_code == 400 and r.json()["errors"][0]["problem_type"] == "CREDENTIAL_ERROR"
    details = (await service.get("/account-details", token)).json()
    assert details["status"] == "RELINK_NEEDED"


async def test_store_failure_after_vendor_write_still_answers_201(
    service: Service, linked: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from app.db import records

    async def broken(*_a: Any, **_k: Any) -> Any:
        raise OperationalError("insert", {}, Exception("disk full"))

    monkeypatch.setattr(records, "upsert_records", broken)
    r = await post(service, linked["account_token"], "/tickets", {"name": "x"})
    assert r.status_code == 201, r.text
    assert r.json()["warnings"][0]["problem_type"] == "STORE_DEFERRED"
    assert len(fakes.desk(desk_url("desk-a")).tickets) == 1
    monkeypatch.undo()
    # the id we answered is the id the record gets when it is stored later
    from connectors.base import RemoteRecord

    raw = next(iter(fakes.desk(desk_url("desk-a")).tickets.values()))
    await service.seed(linked["id"], "Ticket", [fakes.ticket_record(raw)])
    assert (
        await service.get(f"/tickets/{r.json()['model']['id']}", linked["account_token"])
    ).status_code == 200
    assert RemoteRecord  # imported for the type of ticket_record


async def test_unsupported_operation_is_a_400(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    from connectors.base import FETCH, ModelSupport

    linked = await service.link()
    monkeypatch.setattr(
        fakes.FakeDeskConnector, "models", (ModelSupport(model="Ticket", operations=(FETCH,)),)
    )
    r = await post(service, linked["account_token"], "/tickets", {"name": "x"})
    assert r.status_code == 400 and r.json()["errors"][0]["problem_type"] == "UNSUPPORTED_OPERATION"


async def test_debug_and_async_flags_are_accepted(service: Service, linked: dict[str, Any]) -> None:
    r = await post(
        service,
        linked["account_token"],
        "/tickets",
        {"name": "x"},
        params={"is_debug_mode": "true", "run_async": "false"},
    )
    assert r.status_code == 201 and r.json()["logs"] == []
