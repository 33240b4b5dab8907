"""Meta endpoints, the OpenAPI document, and what unserved Merge endpoints answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import API_PREFIX, create_app
from app.db import accounts as account_store
from app.settings import Settings
from connectors.base import RemoteRecord
from schemas.models import Ticket
from schemas.writes import AttachmentCreate, CommentCreate, ContactCreate, TicketCreate, TicketUpdate
from tests import fakes
from tests.app.conftest import API, Service
from tests.support.shared import REFERENCE

MERGE_API = REFERENCE / "merge-api.md"
META_FIELDS = {
    "request_schema",
    "remote_field_classes",
    "status",
    "has_conditional_params",
    "has_required_linked_account_params",
}
SUPPORT = {m.model: m for m in fakes.FakeDeskConnector.models}
PARAMS = {"integration_params", "linked_account_params"}


@pytest.fixture
async def linked(service: Service) -> dict[str, Any]:
    return await service.link()


async def seeded_ticket(service: Service, linked: dict[str, Any]) -> str:
    await service.seed(
        linked["id"], "Ticket", [RemoteRecord(model=Ticket(remote_id="t1"), path="/t", raw={})]
    )
    ticket_id: str = (await service.get("/tickets", linked["account_token"])).json()["results"][0]["id"]
    return ticket_id


def resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of ``prop``, with a ``$ref`` resolved inside the schema itself."""
    alternatives = prop.get("anyOf", [prop])
    (value,) = [a for a in alternatives if a != {"type": "null"}]
    if "$ref" in value:
        name = value["$ref"].removeprefix("#/$defs/")
        resolved: dict[str, Any] = schema["$defs"][name]
        return resolved
    return value


def check_meta(body: dict[str, Any], model: str, input_type: type[Any], *, status: str = "COMPLETE") -> None:
    assert set(body) == META_FIELDS
    assert body["has_conditional_params"] is False and body["has_required_linked_account_params"] is False
    assert body["status"] == {"linked_account_status": status, "can_make_request": status == "COMPLETE"}
    schema = body["request_schema"]
    assert schema["type"] == "object"
    properties = set(schema["properties"])
    assert properties <= set(input_type.__struct_fields__)
    support = SUPPORT[model]
    if support.supported_fields:
        assert properties == set(support.supported_fields) | PARAMS
    assert set(schema["required"]) <= properties
    for prop in schema["properties"].values():  # self-contained: every $ref resolves
        resolve(schema, prop)


# --- meta endpoints -------------------------------------------------------------------------------------


async def test_ticket_meta_post(service: Service, linked: dict[str, Any]) -> None:
    r = await service.get("/tickets/meta/post", linked["account_token"])
    assert r.status_code == 200, r.text
    body = r.json()
    check_meta(body, "Ticket", TicketCreate)
    schema = body["request_schema"]
    assert schema["required"] == ["name"]
    assert "due_date" not in schema["properties"] and "attachments" not in schema["properties"]
    status = resolve(schema, schema["properties"]["status"])
    assert set(status["enum"]) == {"OPEN", "CLOSED", "IN_PROGRESS", "ON_HOLD"}
    # The SDK's query parameters are accepted.
    r2 = await service.get("/tickets/meta/post", linked["account_token"], collection_id="c", ticket_type="t")
    assert r2.status_code == 200 and r2.json() == body


async def test_meta_status_follows_the_linked_account(service: Service, linked: dict[str, Any]) -> None:
    async with service.engine.begin() as conn:
        await account_store.set_status(conn, linked["id"], "RELINK_NEEDED", "expired")
    r = await service.get("/tickets/meta/post", linked["account_token"])
    check_meta(r.json(), "Ticket", TicketCreate, status="RELINK_NEEDED")


async def test_ticket_meta_patch(service: Service, linked: dict[str, Any]) -> None:
    ticket_id = await seeded_ticket(service, linked)
    r = await service.get(f"/tickets/meta/patch/{ticket_id}", linked["account_token"])
    assert r.status_code == 200, r.text
    check_meta(r.json(), "Ticket", TicketUpdate)
    assert "attachments" not in r.json()["request_schema"]["properties"]


async def test_ticket_meta_patch_unknown_ticket(service: Service, linked: dict[str, Any]) -> None:
    for ticket_id in ("3fa85f64-5717-4562-b3fc-2c963f66afa6", "not-an-id"):
        r = await service.get(f"/tickets/meta/patch/{ticket_id}", linked["account_token"])
        assert r.status_code == 404 and r.json() == {"detail": "Not found."}


async def test_ticket_meta_patch_requires_nothing(service: Service, linked: dict[str, Any]) -> None:
    ticket_id = await seeded_ticket(service, linked)
    # The API itself accepts a PATCH without ``name``...
    patched = await service.client.patch(
        f"{API}/tickets/{ticket_id}",
        headers=service.headers(linked["account_token"]),
        json={"model": {"status": "CLOSED"}},
    )
    assert patched.status_code == 200, patched.text
    # ...so its meta must not claim ``name`` is required.
    r = await service.get(f"/tickets/meta/patch/{ticket_id}", linked["account_token"])
    assert r.json()["request_schema"]["required"] == []


async def test_comment_meta_post(service: Service, linked: dict[str, Any]) -> None:
    r = await service.get("/comments/meta/post", linked["account_token"])
    assert r.status_code == 200
    check_meta(r.json(), "Comment", CommentCreate)
    assert r.json()["request_schema"]["required"] == ["ticket", "body"]
    assert "html_body" not in r.json()["request_schema"]["properties"]


@pytest.mark.parametrize(
    ("path", "model", "input_type"),
    [
        ("/contacts/meta/post", "Contact", ContactCreate),
        ("/attachments/meta/post", "Attachment", AttachmentCreate),
    ],
)
async def test_contact_and_attachment_meta_post(
    service: Service, linked: dict[str, Any], path: str, model: str, input_type: type[Any]
) -> None:
    r = await service.get(path, linked["account_token"])
    assert r.status_code == 200
    check_meta(r.json(), model, input_type)
    assert r.json()["request_schema"]["required"] == []


# --- OpenAPI --------------------------------------------------------------------------------------------


def sdk_endpoints() -> list[dict[str, Any]]:
    """Rows of merge-api.md §3: SDK call, method, path, query params, v1 status."""
    text = MERGE_API.read_text()
    section = text[text.index("## 3. Every ticketing endpoint") : text.index("### Notes per endpoint group")]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 7 or not cells[0].startswith("`"):
            continue
        call, method, path, query, _body, _resp, v1 = cells
        rows.append(
            {
                "call": call.strip("`"),
                "method": method,
                "path": path.strip("`").removeprefix("/ticketing/v1"),
                "query": set() if query == "—" else {q.strip() for q in query.split(",")},
                "v1": v1,
            }
        )
    assert len(rows) == 67, len(rows)
    return rows


SDK = sdk_endpoints()

#: SDK query parameters we deliberately do not document (and ignore). Every other SDK parameter of a
#: served endpoint must be in its OpenAPI operation.
NOT_SUPPORTED: dict[str, set[str]] = {
    # Debug logs and async writes are accepted on writes; see writes.py. None left out today.
}


def norm(path: str) -> str:
    return re.sub(r"{[^}]+}", "{}", path)


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from litestar.testing import TestClient

    db = tmp_path_factory.mktemp("openapi") / "x.db"
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{db}", secret_key="x"))
    with TestClient(app) as client:
        r = client.get("/schema/openapi.json")
        assert r.status_code == 200
        doc: dict[str, Any] = r.json()
    return doc


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    ops = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ops[(method.upper(), norm(path.removeprefix(API_PREFIX)))] = op
    return ops


def served_routes() -> set[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key="x"))
    found = set()
    for route in app.routes:
        if route.path.startswith(API_PREFIX):
            for method in route.methods:
                if method not in ("OPTIONS", "HEAD"):
                    found.add((method, norm(re.sub(r":\w+}", "}", route.path.removeprefix(API_PREFIX)))))
    return found


def test_every_route_is_documented(openapi: dict[str, Any]) -> None:
    ops = operations(openapi)
    assert served_routes() <= set(ops)
    for key, op in ops.items():
        assert op.get("operationId"), key
        ok = [code for code in op["responses"] if code.startswith("2")]
        assert len(ok) == 1, key
        response = op["responses"][ok[0]]
        if key == ("GET", "/attachments/{}/download"):  # raw bytes, as Merge
            assert "application/octet-stream" in response["content"], key
        elif key not in {("POST", "/delete-account")}:  # no body, as Merge
            assert (
                "$ref" in str(response["content"]["application/json"]["schema"])
                or response["content"]["application/json"]["schema"].get("type") == "array"
            ), key


def test_sdk_query_parameters_are_documented(openapi: dict[str, Any]) -> None:
    ops = operations(openapi)
    served = served_routes()
    checked = 0
    for row in SDK:
        key = (row["method"], norm(row["path"]))
        if key not in served:
            continue
        documented = {p["name"] for p in ops[key].get("parameters", []) if p["in"] == "query"}
        missing = row["query"] - documented - NOT_SUPPORTED.get(row["call"], set())
        assert not missing, f"{row['call']}: SDK parameters not documented: {sorted(missing)}"
        checked += 1
    assert checked >= 30


def test_tickets_list_documents_every_filter_the_sdk_sends(openapi: dict[str, Any]) -> None:
    (row,) = [r for r in SDK if r["call"] == "tickets.list"]
    assert len(row["query"]) == 36
    params = {
        p["name"]: p
        for p in openapi["paths"][f"{API_PREFIX}/tickets"]["get"]["parameters"]
        if p["in"] == "query"
    }
    assert row["query"] - NOT_SUPPORTED.get("tickets.list", set()) <= set(params)
    for name in row["query"]:
        assert params[name].get("required") is not True, name


def _unserved_v1() -> list[str]:
    served = served_routes()
    return [
        r["call"]
        for r in SDK
        if r["v1"].startswith("V1")
        and not r["v1"].startswith("V1.1")
        and (r["method"], norm(r["path"])) not in served
    ]


def test_v1_endpoints_are_served() -> None:
    assert set(_unserved_v1()) <= set()


def test_attachment_download_is_served() -> None:
    assert _unserved_v1() == []


def test_security_scheme(openapi: dict[str, Any]) -> None:
    assert openapi["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Your API key.",
    }
    for key, op in operations(openapi).items():
        if key == ("POST", "/link/complete"):
            continue
        assert {"bearerAuth": []} in op["security"], key


def test_link_complete_is_documented_as_open(openapi: dict[str, Any]) -> None:
    op = operations(openapi)[("POST", "/link/complete")]
    # An empty requirement object: callable without credentials.
    assert {} in op.get("security", [{}])


def test_account_token_header_is_documented_on_data_endpoints(openapi: dict[str, Any]) -> None:
    for (method, path), op in operations(openapi).items():
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        org_level = path in ("/linked-accounts", "/link-token", "/link/complete", "/account-token/{}")
        # organization-level, API key only
        org_level = org_level or path.startswith(("/webhook-targets", "/issues"))
        assert ("X-Account-Token" in headers) != org_level, (method, path)


# --- what we do not serve -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/projects", "/projects/x", "/audit-trail", "/webhook-receivers", "/field-mappings", "/nope"],
)
async def test_unknown_routes_are_drf_404(service: Service, linked: dict[str, Any], path: str) -> None:
    r = await service.get(path, linked["account_token"])
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found."}


async def test_every_unserved_sdk_endpoint_fails_without_retry(
    service: Service, linked: dict[str, Any]
) -> None:
    """The SDK retries 408/409/429/5xx: an endpoint we lack must answer a plain 4xx with a JSON detail."""
    served = served_routes()
    headers = service.headers(linked["account_token"])
    outcomes = {}
    for row in SDK:
        if (row["method"], norm(row["path"])) in served:
            continue
        path = re.sub(r"{[^}]+}", "3fa85f64-5717-4562-b3fc-2c963f66afa6", row["path"])
        kwargs: dict[str, Any] = {"json": {}} if row["method"] in ("POST", "PATCH") else {}
        r = await service.client.request(row["method"], f"{API}{path}", headers=headers, **kwargs)
        outcomes[row["call"]] = r.status_code
        assert r.status_code in (404, 405), (row["call"], r.status_code, r.text)
        assert isinstance(r.json()["detail"], str)
        if r.status_code == 404:
            assert r.json() == {"detail": "Not found."}, row["call"]
        else:  # 405 only where we serve the path with another method (e.g. GET /contacts, not POST)
            assert any(re.fullmatch(p.replace("{}", "[^/]+"), row["path"]) for _, p in served), row["call"]
    assert len(outcomes) >= 20
    assert outcomes["projects.list"] == 404


async def test_schema_is_served_without_credentials(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", secret_key="x"))
    async with AsyncTestClient(app=app) as client:
        r = await client.get("/schema/openapi.json")
        assert r.status_code == 200 and r.json()["info"]["title"] == "deskbridge"
