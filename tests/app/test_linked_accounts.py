"""POST/GET /linked-accounts, /account-details, /available-actions and /delete-account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from app.asgi import create_app
from app.db import accounts as account_store
from app.db.engine import create_engine
from app.db.tables import RECORD_TABLES, linked_accounts, sync_state
from app.secrets import SecretBox
from app.settings import Settings
from connectors.base import RemoteRecord
from schemas.models import Comment, Ticket, User
from tests import fakes
from tests.app.conftest import API, Service, desk_url

ACCOUNT_FIELDS = {
    "id",
    "category",
    "status",
    "status_detail",
    "end_user_origin_id",
    "end_user_organization_name",
    "end_user_email_address",
    "subdomain",
    "webhook_listener_url",
    "is_duplicate",
    "integration",
    "account_type",
    "completed_at",
    "integration_specific_fields",
}


def body(origin: str = "customer-1", **overrides: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "integration": "fakedesk",
        "credentials": {"api_key": fakes.GOOD_KEY},
        "base_url": desk_url("desk-a"),
        "end_user_origin_id": origin,
        "end_user_organization_name": f"{origin} Inc",
        "end_user_email_address": f"admin@{origin}.example",
    }
    b.update(overrides)
    return b


async def register(service: Service, payload: Any, **kw: Any) -> httpx.Response:
    return await service.client.post(f"{API}/linked-accounts", headers=service.headers(), json=payload, **kw)


async def count(service: Service, table: Any) -> int:
    async with service.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def stored_credentials(service: Service, account_id: str) -> dict[str, str]:
    async with service.engine.connect() as conn:
        sealed = await conn.scalar(
            select(linked_accounts.c.credentials).where(linked_accounts.c.id == account_id)
        )
    assert sealed is not None
    box = SecretBox.from_settings(service.settings)
    return msgspec.json.decode(box.decrypt(sealed), type=dict[str, str])


# --- POST /linked-accounts ----------------------------------------------------------------------------


async def test_register_returns_201_with_token_and_account_details(service: Service) -> None:
    r = await register(service, body())
    assert r.status_code == 201, r.text
    b = r.json()
    assert set(b) == ACCOUNT_FIELDS | {"account_token"}
    assert b["account_token"].startswith("acct_") and len(b["account_token"]) > 40
    assert b["status"] == "COMPLETE" and b["category"] == "ticketing"
    assert b["end_user_origin_id"] == "customer-1"
    assert b["end_user_organization_name"] == "customer-1 Inc"
    assert b["end_user_email_address"] == "admin@customer-1.example"
    assert b["account_type"] == "PRODUCTION" and b["completed_at"].endswith("Z")
    assert b["subdomain"] == "127.0.0.1"
    integration = b["integration"]
    assert integration["slug"] == "fakedesk" and integration["name"] == "Fake Desk"
    assert integration["categories"] == ["ticketing"] and integration["passthrough_available"] is False
    assert {op["model_name"] for op in integration["available_model_operations"]} >= {"Ticket", "Comment"}
    # The credentials were checked against the vendor before anything was stored.
    assert fakes.desk(desk_url("desk-a")).calls == ["check"]
    # And the token works.
    details = await service.get("/account-details", b["account_token"])
    assert details.status_code == 200 and details.json()["id"] == b["id"]


async def test_relink_same_origin_keeps_id_and_token_and_uses_new_credentials(service: Service) -> None:
    first = (await register(service, body())).json()
    r = await register(
        service,
        body(
            base_url=desk_url("desk-b"),
            credentials={"api_key": fakes.GOOD_KEY, "extra": "rotated"},
            end_user_email_address="new-admin@customer-1.example",
        ),
    )
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["id"] == first["id"] and second["account_token"] == first["account_token"]
    assert second["end_user_email_address"] == "new-admin@customer-1.example"
    assert await stored_credentials(service, first["id"]) == {"api_key": fakes.GOOD_KEY, "extra": "rotated"}
    assert await count(service, linked_accounts) == 1
    # The relinked account talks to the new desk: a write lands there, not in the old one.
    w = await service.client.post(
        f"{API}/tickets", headers=service.headers(first["account_token"]), json={"model": {"name": "x"}}
    )
    assert w.status_code == 201, w.text
    assert len(fakes.desk(desk_url("desk-b")).tickets) == 1
    assert fakes.desk(desk_url("desk-a")).tickets == {}
    # Relinking neither duplicates nor resets the sync bookkeeping.
    statuses = (await service.get("/sync-status", first["account_token"])).json()["results"]
    assert len(statuses) == len({s["model_name"] for s in statuses})


async def test_other_origin_is_a_new_account(service: Service) -> None:
    a = (await register(service, body("customer-1"))).json()
    r = await register(service, body("customer-2"))
    assert r.status_code == 201
    assert r.json()["id"] != a["id"] and r.json()["account_token"] != a["account_token"]


async def test_bad_credentials_are_a_400_and_nothing_is_stored(service: Service) -> None:
    r = await register(service, body(credentials={"api_key": "wrong-key"}))
    assert r.status_code == 400, r.text
    b = r.json()
    assert "refused" in b["detail"]
    assert [e["problem_type"] for e in b["errors"]] == ["CREDENTIAL_ERROR"]
    assert b["errors"][0]["source"] == {"pointer": "/credentials"}
    assert "wrong-key" not in r.text
    assert await count(service, linked_accounts) == 0
    assert await count(service, sync_state) == 0


async def test_bad_credentials_on_relink_keep_the_old_ones(service: Service) -> None:
    first = (await register(service, body())).json()
    r = await register(service, body(credentials={"api_key": "wrong-key"}))
    assert r.status_code == 400
    assert await stored_credentials(service, first["id"]) == {"api_key": fakes.GOOD_KEY}
    assert (await service.get("/account-details", first["account_token"])).status_code == 200


async def test_unknown_integration_lists_available_ones(service: Service) -> None:
    r = await register(service, body(integration="nodesk"))
    assert r.status_code == 400
    b = r.json()
    assert "nodesk" in b["detail"] and "fakedesk" in b["detail"]
    assert b["errors"][0]["source"] == {"pointer": "/integration"}
    assert await count(service, linked_accounts) == 0


@pytest.mark.parametrize("credentials", [{}, {"api_key": ""}, {"token": fakes.GOOD_KEY}])
async def test_missing_credential_field(service: Service, credentials: dict[str, str]) -> None:
    r = await register(service, body(credentials=credentials))
    assert r.status_code == 400
    b = r.json()
    assert "api_key" in b["detail"]
    assert b["errors"][0]["problem_type"] == "MISSING_REQUIRED_FIELD"
    assert fakes.desk(desk_url("desk-a")).calls == []


async def test_missing_base_url_when_the_integration_has_no_default(service: Service) -> None:
    b = body()
    del b["base_url"]
    r = await register(service, b)
    assert r.status_code == 400 and "base_url" in r.json()["detail"]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: b.pop("end_user_origin_id"), id="missing-origin"),
        pytest.param(lambda b: b.pop("integration"), id="missing-integration"),
        pytest.param(lambda b: b.pop("credentials"), id="missing-credentials"),
        pytest.param(lambda b: b.update(credentials="good-key"), id="credentials-not-object"),
        pytest.param(lambda b: b.update(credentials={"api_key": 5}), id="credential-not-string"),
        pytest.param(lambda b: b.update(end_user_origin_id=42), id="origin-not-string"),
        pytest.param(lambda b: b.update(base_url=["x"]), id="base-url-not-string"),
    ],
)
async def test_invalid_body_is_a_400(service: Service, mutate: Any) -> None:
    b = body()
    mutate(b)
    r = await register(service, b)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]
    assert await count(service, linked_accounts) == 0


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'"x"', b"null"])
async def test_malformed_json_is_a_400(service: Service, raw: bytes) -> None:
    r = await service.client.post(
        f"{API}/linked-accounts",
        headers={**service.headers(), "Content-Type": "application/json"},
        content=raw,
    )
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["detail"], str)


@pytest.fixture
async def strict_service(database_url: str, tmp_path: Path) -> AsyncIterator[Service]:
    """The app with default settings: no ``outbound_allow``, so only public https hosts pass."""
    fakes.DESKS.clear()
    settings = Settings(database_url=database_url, data_dir=tmp_path, secret_key="test-secret")
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        api_key = await account_store.create_api_key(conn, "tests")
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            yield Service(client=client, engine=engine, api_key=api_key, settings=settings)
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1",
        "https://10.0.0.1",
        "http://127.0.0.1:9/desk",
        "https://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "https://169.254.169.254",
        "https://192.168.1.10",
        "https://0.0.0.0",
        "https://224.0.0.1",
        "http://93.184.216.34",  # public but plain http
        "file:///etc/passwd",
        "ftp://93.184.216.34",
        "gopher://93.184.216.34:70/",
        "https://user:pw@93.184.216.34",
        "https://user@93.184.216.34",
        "https://",
    ],
)
async def test_base_url_refused_by_outbound_policy(strict_service: Service, url: str) -> None:
    r = await register(strict_service, body(base_url=url))
    assert r.status_code == 400, r.text
    b = r.json()
    assert b["detail"].startswith("base_url refused")
    assert b["errors"][0]["source"] == {"pointer": "/base_url"}
    assert "pw@" not in r.text
    assert fakes.DESKS == {}  # the vendor was never called
    assert await count(strict_service, linked_accounts) == 0


async def test_public_https_base_url_passes_the_default_policy(strict_service: Service) -> None:
    r = await register(strict_service, body(base_url="https://93.184.216.34/desk/"))
    assert r.status_code == 201, r.text
    assert r.json()["subdomain"] == "93.184.216.34"
    assert fakes.desk("https://93.184.216.34/desk").calls == ["check"]


# --- GET /linked-accounts -------------------------------------------------------------------------------


async def list_accounts(service: Service, token: str | None = None, **params: Any) -> httpx.Response:
    return await service.client.get(f"{API}/linked-accounts", headers=service.headers(token), params=params)


@pytest.fixture
async def five(service: Service) -> list[dict[str, Any]]:
    return [await service.link(origin=f"customer-{i}", desk=f"desk-{i}") for i in range(5)]


async def test_list_pages_with_cursor(service: Service, five: list[dict[str, Any]]) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"page_size": 2, **({"cursor": cursor} if cursor else {})}
        r = await list_accounts(service, **params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"next", "previous", "results"}
        assert len(page["results"]) <= 2
        for item in page["results"]:
            assert set(item) == ACCOUNT_FIELDS  # never the account token
        seen += [a["id"] for a in page["results"]]
        pages += 1
        cursor = page["next"]
        if not cursor:
            break
    assert pages == 3
    assert seen == sorted(seen) and sorted(seen) == sorted(a["id"] for a in five)


async def test_list_default_page_and_bad_params(service: Service, five: list[dict[str, Any]]) -> None:
    r = await list_accounts(service)
    assert r.status_code == 200 and len(r.json()["results"]) == 5 and r.json()["next"] is None
    assert (await list_accounts(service, cursor="not-a-cursor")).status_code == 400
    assert (await list_accounts(service, page_size=0)).status_code == 400
    assert (await list_accounts(service, page_size=101)).status_code == 400


async def test_list_works_with_or_without_account_token(service: Service, five: list[dict[str, Any]]) -> None:
    without = (await list_accounts(service)).json()
    with_token = (await list_accounts(service, five[0]["account_token"])).json()
    assert with_token == without and len(without["results"]) == 5
    # An invalid account token is irrelevant to an organization-level endpoint.
    assert (await list_accounts(service, "acct_bogus")).status_code == 200


async def ids(service: Service, **params: Any) -> set[str]:
    r = await list_accounts(service, **params)
    assert r.status_code == 200, r.text
    return {a["id"] for a in r.json()["results"]}


async def test_list_filters(service: Service, five: list[dict[str, Any]]) -> None:
    every = {a["id"] for a in five}
    a0, a1, a2 = five[0]["id"], five[1]["id"], five[2]["id"]
    async with service.engine.begin() as conn:
        await account_store.set_status(conn, a1, "RELINK_NEEDED", "credentials expired")

    assert await ids(service, end_user_origin_id="customer-0") == {a0}
    assert await ids(service, end_user_origin_id="nobody") == set()
    assert await ids(service, end_user_origin_ids="customer-0,customer-2") == {a0, a2}
    assert await ids(service, end_user_origin_ids="customer-0, customer-2,") == {a0, a2}
    assert await ids(service, id=a1) == {a1}
    assert await ids(service, ids=f"{a0},{a2}") == {a0, a2}
    assert await ids(service, status="RELINK_NEEDED") == {a1}
    assert await ids(service, status="COMPLETE") == every - {a1}
    assert await ids(service, end_user_email_address="admin@customer-2.example") == {a2}
    assert await ids(service, end_user_organization_name="customer-0 Inc") == {a0}
    assert await ids(service, integration_name="fakedesk") == every
    assert await ids(service, integration_name="Fake Desk") == every
    assert await ids(service, integration_name="zendesk") == set()
    assert await ids(service, category="ticketing") == every
    assert await ids(service, category="hris") == set()
    # Filters combine.
    assert await ids(service, ids=f"{a0},{a1}", status="COMPLETE") == {a0}
    assert await ids(service, end_user_origin_id="customer-0", integration_name="zendesk") == set()
    # Accepted and ignored.
    assert await ids(service, include_duplicates="true", is_test_account="false") == every

    relink_needed = next(a for a in (await list_accounts(service, id=a1)).json()["results"] if a["id"] == a1)
    assert relink_needed["status_detail"] == "credentials expired"


async def test_list_is_scoped_to_the_organization(service: Service, five: list[dict[str, Any]]) -> None:
    other_key = await service.new_api_key("other-org")
    theirs = await service.link(origin="customer-0", api_key=other_key)
    assert theirs["id"] not in {a["id"] for a in five}
    assert await ids(service) == {a["id"] for a in five}
    r = await service.client.get(f"{API}/linked-accounts", headers=service.headers(api_key=other_key))
    assert [a["id"] for a in r.json()["results"]] == [theirs["id"]]
    assert await ids(service, id=theirs["id"]) == set()


# --- /account-details, /available-actions ---------------------------------------------------------------


async def test_account_details(service: Service) -> None:
    linked = await service.link(origin="customer-9")
    r = await service.get("/account-details", linked["account_token"])
    assert r.status_code == 200
    d = r.json()
    assert d == {
        "id": linked["id"],
        "integration": "Fake Desk",
        "integration_slug": "fakedesk",
        "category": "ticketing",
        "end_user_origin_id": "customer-9",
        "end_user_organization_name": "customer-9 Inc",
        "end_user_email_address": "admin@customer-9.example",
        "status": "COMPLETE",
        "webhook_listener_url": "",
        "is_duplicate": None,
        "account_type": "PRODUCTION",
        "completed_at": linked["completed_at"],
        "instance_id": None,
        "instance_display_value": None,
    }


async def test_available_actions_follow_the_connector_declaration(service: Service) -> None:
    linked = await service.link()
    r = await service.get("/available-actions", linked["account_token"])
    assert r.status_code == 200
    b = r.json()
    assert set(b) == {"integration", "passthrough_available", "available_model_operations"}
    assert b["passthrough_available"] is False
    assert b["integration"]["name"] == "Fake Desk" and b["integration"]["slug"] == "fakedesk"
    assert b["integration"]["categories"] == ["ticketing"]
    ops = {op["model_name"]: op for op in b["available_model_operations"]}
    declared = {m.model: m for m in fakes.FakeDeskConnector.models}
    assert set(ops) == set(declared)
    for name, support in declared.items():
        op = ops[name]
        assert set(op) == {
            "model_name",
            "available_operations",
            "required_post_parameters",
            "supported_fields",
        }
        assert op["required_post_parameters"] == list(support.required_post_parameters)
        assert op["supported_fields"] == list(support.supported_fields)
    assert ops["Ticket"]["available_operations"] == ["FETCH", "CREATE", "UPDATE"]
    assert ops["Comment"]["available_operations"] == ["FETCH", "CREATE"]
    assert ops["User"]["available_operations"] == ["FETCH"]
    assert ops["Ticket"]["required_post_parameters"] == ["name"]
    # The same operations are in the linked account's listing.
    listed = (await list_accounts(service)).json()["results"][0]["integration"]
    assert listed["available_model_operations"] == b["available_model_operations"]


# --- POST /delete-account -------------------------------------------------------------------------------


def ticket(remote_id: str) -> RemoteRecord[Ticket]:
    return RemoteRecord(model=Ticket(remote_id=remote_id, name=remote_id), path="/t", raw={})


async def test_delete_account_removes_it_and_its_records_only(service: Service) -> None:
    a = await service.link(origin="customer-a", desk="desk-a")
    b = await service.link(origin="customer-b", desk="desk-b")
    for acct in (a, b):
        await service.seed(acct["id"], "Ticket", [ticket("t1"), ticket("t2")])
        await service.seed(acct["id"], "User", [RemoteRecord(model=User(remote_id="u1"), path="/u", raw={})])
        await service.seed(
            acct["id"],
            "Comment",
            [RemoteRecord(model=Comment(remote_id="c1", ticket="t1", body="hi"), path="/c", raw={})],
        )
    a_ticket = (await service.get("/tickets", a["account_token"])).json()["results"][0]["id"]

    r = await service.client.post(f"{API}/delete-account", headers=service.headers(a["account_token"]))
    assert r.status_code == 200, r.text

    for path in ("/account-details", "/tickets", f"/tickets/{a_ticket}", "/sync-status"):
        gone = await service.get(path, a["account_token"])
        assert gone.status_code == 401 and gone.json()["detail"] == "Invalid X-Account-Token."
    again = await service.client.post(f"{API}/delete-account", headers=service.headers(a["account_token"]))
    assert again.status_code == 401

    async with service.engine.connect() as conn:
        assert (
            await conn.scalar(
                select(func.count()).select_from(linked_accounts).where(linked_accounts.c.id == a["id"])
            )
            == 0
        )
        for model, table in RECORD_TABLES.items():
            left = await conn.scalar(
                select(func.count()).select_from(table).where(table.c.linked_account_id == a["id"])
            )
            assert left == 0, model
        assert (
            await conn.scalar(
                select(func.count()).select_from(sync_state).where(sync_state.c.linked_account_id == a["id"])
            )
            == 0
        )

    # B is untouched.
    assert len((await service.get("/tickets", b["account_token"])).json()["results"]) == 2
    assert len((await service.get("/users", b["account_token"])).json()["results"]) == 1
    assert len((await service.get("/comments", b["account_token"])).json()["results"]) == 1
    assert (await service.get("/sync-status", b["account_token"])).json()["results"]
    assert {x["id"] for x in (await list_accounts(service)).json()["results"]} == {b["id"]}


async def test_relink_after_delete_is_a_new_account(service: Service) -> None:
    a = await service.link()
    await service.client.post(f"{API}/delete-account", headers=service.headers(a["account_token"]))
    r = await register(service, body())
    assert r.status_code == 201
    assert r.json()["id"] != a["id"] and r.json()["account_token"] != a["account_token"]
