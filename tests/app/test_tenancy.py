"""Tenant boundaries on every endpoint: API key -> organization, X-Account-Token -> linked account.

The table ``ROUTES`` names every route the app serves under /api/ticketing/v1 with its access level;
``test_every_route_is_in_the_table`` fails when a route is added without being listed here, so a new
endpoint cannot escape these checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.api.records import SPECS
from app.asgi import API_PREFIX, create_app
from app.db import records
from app.db.tables import RECORD_TABLES, link_tokens, linked_accounts, sync_state
from app.settings import Settings
from connectors.base import RemoteRecord
from schemas import models as m
from tests import fakes
from tests.app.conftest import API, Service, desk_url

ACCOUNT = "account"  # API key + X-Account-Token
ORG = "org"  # API key only (X-Account-Token tolerated)
PUBLIC = "public"  # no credentials (the Link page)

PATH_TO_MODEL = {spec.path: spec.model for spec in SPECS}

#: (method, route path as Litestar spells it) -> access level.
ROUTES: dict[tuple[str, str], str] = {
    **{("GET", f"/{spec.path}"): ACCOUNT for spec in SPECS},
    **{("GET", f"/{spec.path}/{{id:str}}"): ACCOUNT for spec in SPECS},
    ("POST", "/tickets"): ACCOUNT,
    ("PATCH", "/tickets/{ticket_id:str}"): ACCOUNT,
    ("POST", "/comments"): ACCOUNT,
    ("GET", "/tickets/meta/post"): ACCOUNT,
    ("GET", "/tickets/meta/patch/{ticket_id:str}"): ACCOUNT,
    ("GET", "/comments/meta/post"): ACCOUNT,
    ("GET", "/contacts/meta/post"): ACCOUNT,
    ("GET", "/attachments/meta/post"): ACCOUNT,
    ("GET", "/attachments/{attachment_id:str}/download"): ACCOUNT,
    ("GET", "/account-details"): ACCOUNT,
    ("GET", "/available-actions"): ACCOUNT,
    ("GET", "/sync-status"): ACCOUNT,
    ("POST", "/sync-status/resync"): ACCOUNT,
    ("POST", "/delete-account"): ACCOUNT,
    ("GET", "/linked-accounts"): ORG,
    ("POST", "/linked-accounts"): ORG,
    ("POST", "/link-token"): ORG,
    ("GET", "/account-token/{public_token:str}"): ORG,
    ("POST", "/link/complete"): PUBLIC,
    # Ticket sharing (app/api/sharing.py); another account's agreement is a 404 (test_sharing_e2e.py).
    ("GET", "/sharing/url"): ACCOUNT,
    ("POST", "/sharing/agreements"): ACCOUNT,
    ("GET", "/sharing/agreements"): ACCOUNT,
    ("GET", "/sharing/agreements/{agreement_id:str}"): ACCOUNT,
    ("POST", "/sharing/agreements/{agreement_id:str}/accept"): ACCOUNT,
    ("POST", "/sharing/agreements/{agreement_id:str}/decline"): ACCOUNT,
    ("POST", "/sharing/agreements/{agreement_id:str}/deactivate"): ACCOUNT,
    ("POST", "/tickets/{ticket_id:str}/share"): ACCOUNT,
    ("POST", "/tickets/{ticket_id:str}/unshare"): ACCOUNT,
    # Webhook targets (app/api/webhooks.py); their own isolation tests are in test_webhooks.py.
    ("GET", "/issues"): ORG,
    ("GET", "/issues/{issue_id:str}"): ORG,
    ("POST", "/webhook-targets"): ORG,
    ("GET", "/webhook-targets"): ORG,
    ("DELETE", "/webhook-targets/{target_id:str}"): ORG,
    ("GET", "/webhook-targets/{target_id:str}/deliveries"): ORG,
    ("POST", "/webhook-targets/{target_id:str}/test"): ORG,
}

# Every common model must have its list and retrieve in the table (SPECS generates them).
assert set(PATH_TO_MODEL.values()) == set(m.MODELS)


def served_routes() -> set[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", secret_key="x"))
    found = set()
    for route in app.routes:
        if not route.path.startswith(API_PREFIX):
            continue
        for method in getattr(route, "methods", ()):
            if method not in ("OPTIONS", "HEAD"):
                found.add((method, route.path.removeprefix(API_PREFIX)))
    return found


def test_every_route_is_in_the_table() -> None:
    served = served_routes()
    assert served - set(ROUTES) == set(), "new routes: add them to ROUTES (and to the checks below)"
    assert set(ROUTES) - served == set(), "ROUTES lists routes the app does not serve"


def ids_of(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


ACCOUNT_ROUTES = [r for r, level in ROUTES.items() if level == ACCOUNT]
KEYED_ROUTES = [r for r, level in ROUTES.items() if level in (ACCOUNT, ORG)]


# --- the world: two accounts in one organization, one in another ---------------------------------------


@dataclass
class World:
    service: Service
    a: dict[str, Any]
    b: dict[str, Any]
    other_key: str
    other: dict[str, Any]
    #: model -> our id of its record, per account.
    a_ids: dict[str, str]
    b_ids: dict[str, str]


def _record(model: str) -> RemoteRecord[Any]:
    cls = m.MODELS[model]
    extra: dict[str, Any] = {"name": f"{model} r1"} if "name" in cls.__struct_fields__ else {}
    return RemoteRecord(model=cls(remote_id="r1", **extra), path=f"/{model.lower()}s/r1", raw={"id": "r1"})


async def _seed_all(service: Service, account: dict[str, Any]) -> dict[str, str]:
    """One record of every model, in one transaction (as a sync would store them)."""
    ids = {}
    async with service.engine.begin() as conn:
        for spec in SPECS:
            await records.upsert_records(conn, account["id"], spec.model, [_record(spec.model)])
            table = RECORD_TABLES[spec.model]
            ids[spec.model] = str(
                await conn.scalar(select(table.c.id).where(table.c.linked_account_id == account["id"]))
            )
    return ids


@pytest.fixture
async def world(service: Service) -> World:
    a = await service.link(origin="customer-a", desk="desk-a")
    b = await service.link(origin="customer-b", desk="desk-b")
    other_key = await service.new_api_key("other-org")
    other = await service.link(origin="customer-a", desk="desk-c", api_key=other_key)
    # Same remote ids in both accounts: the store must keep them apart by account, not by vendor id.
    a_ids = await _seed_all(service, a)
    b_ids = await _seed_all(service, b)
    # Tell B's sync rows apart from A's.
    async with service.engine.begin() as conn:
        await conn.execute(
            update(sync_state)
            .where(sync_state.c.linked_account_id == b["id"])
            .values(status="FAILED", is_initial_sync=False)
        )
    return World(service, a, b, other_key, other, a_ids, b_ids)


def concrete(route: tuple[str, str], ids: dict[str, str]) -> str:
    """The route's path with its parameters filled from ``ids`` (one account's records)."""
    _, template = route
    first = template.strip("/").split("/")[0]
    if "{id:str}" in template:
        return template.replace("{id:str}", ids[PATH_TO_MODEL[first]])
    if "{ticket_id:str}" in template:
        return template.replace("{ticket_id:str}", ids["Ticket"])
    if "{attachment_id:str}" in template:
        return template.replace("{attachment_id:str}", ids["Attachment"])
    if "{public_token:str}" in template:
        return template.replace("{public_token:str}", "pub_unknown")
    if "{agreement_id:str}" in template:  # ticket sharing: an agreement id, A's unless ids say B's
        return template.replace(
            "{agreement_id:str}", ids.get("Agreement", "00000000-0000-4000-8000-000000000000")
        )
    if "{target_id:str}" in template:
        return template.replace("{target_id:str}", "00000000-0000-4000-8000-000000000000")
    if "{issue_id:str}" in template:
        return template.replace("{issue_id:str}", "00000000-0000-4000-8000-000000000000")
    assert "{" not in template, template
    return template


def valid_body(route: tuple[str, str], ids: dict[str, str]) -> Any:
    method, template = route
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/tickets"): {"model": {"name": "from the test"}},
        ("PATCH", "/tickets/{ticket_id:str}"): {"model": {"name": "renamed"}},
        ("POST", "/comments"): {"model": {"ticket": ids["Ticket"], "body": "hello"}},
        ("POST", "/linked-accounts"): {
            "integration": "fakedesk",
            "credentials": {"api_key": fakes.GOOD_KEY},
            "base_url": desk_url("desk-z"),
            "end_user_origin_id": "customer-z",
            "end_user_organization_name": "Z Inc",
            "end_user_email_address": "z@z.example",
        },
        ("POST", "/link-token"): {
            "end_user_email_address": "z@z.example",
            "end_user_organization_name": "Z Inc",
            "end_user_origin_id": "customer-z",
            "categories": ["ticketing"],
        },
        ("POST", "/link/complete"): {"link_token": "link_unknown", "credentials": {"api_key": "x"}},
        ("POST", "/webhook-targets"): {"url": "http://127.0.0.1:9/hook"},
    }
    return bodies.get((method, template))


async def call(
    world: World,
    route: tuple[str, str],
    *,
    headers: dict[str, str],
    ids: dict[str, str] | None = None,
    body: Any = None,
) -> httpx.Response:
    ids = ids if ids is not None else world.a_ids
    method, _ = route
    payload = body if body is not None else valid_body(route, ids)
    kwargs: dict[str, Any] = {"json": payload} if payload is not None else {}
    return await world.service.client.request(
        method, f"{API}{concrete(route, ids)}", headers=headers, **kwargs
    )


def vendor_writes() -> list[str]:
    return [c for d in fakes.DESKS.values() for c in d.calls if c != "check"]


async def snapshot(world: World) -> Any:
    """Everything a rejected request must leave alone: every stored row and the vendors' calls."""
    state = []
    async with world.service.engine.connect() as conn:
        for table in [*RECORD_TABLES.values(), sync_state, linked_accounts, link_tokens]:
            rows = await conn.execute(select(table))
            state.append(sorted(map(repr, rows)))
    return state, vendor_writes()


# --- authentication -------------------------------------------------------------------------------------


async def _check_api_key(world: World, route: tuple[str, str]) -> None:
    token = world.a["account_token"]
    variants = {
        "no header": {"X-Account-Token": token},
        "unknown key": {"Authorization": "Bearer dbk_unknown", "X-Account-Token": token},
        "empty bearer": {"Authorization": "Bearer ", "X-Account-Token": token},
        "basic scheme": {"Authorization": f"Basic {world.service.api_key}", "X-Account-Token": token},
        "bare key": {"Authorization": world.service.api_key, "X-Account-Token": token},
        "account token as key": {"Authorization": f"Bearer {token}", "X-Account-Token": token},
    }
    for name, headers in variants.items():
        r = await call(world, route, headers=headers)
        assert r.status_code == 401, (name, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json"), name
        detail = r.json()["detail"]
        assert isinstance(detail, str) and detail, name
        assert world.service.api_key not in r.text and token not in r.text


async def _check_account_token(world: World, route: tuple[str, str]) -> None:
    s = world.service
    for headers in (s.headers(), {**s.headers(), "X-Account-Token": ""}):
        r = await call(world, route, headers=headers)
        assert r.status_code == 401, r.text
        assert "X-Account-Token" in r.json()["detail"]
    bogus = await call(world, route, headers=s.headers("acct_bogus"))
    assert bogus.status_code == 401 and bogus.json()["detail"] == "Invalid X-Account-Token."
    # Another organization's API key with our account token, and our key with theirs.
    for headers in (
        s.headers(world.a["account_token"], world.other_key),
        s.headers(world.other["account_token"]),
    ):
        r = await call(world, route, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json()["detail"] == "Invalid X-Account-Token."


async def _check_org_route_tolerates_account_token(world: World, route: tuple[str, str]) -> None:
    """One SDK client sends X-Account-Token on every call, organization-level ones included."""
    plain = await call(world, route, headers=world.service.headers())
    with_token = await call(world, route, headers=world.service.headers("acct_whatever"))
    # Same outcome (a second registration is a relink: 200 instead of 201).
    assert plain.status_code // 100 == with_token.status_code // 100, with_token.text
    assert with_token.status_code in (200, 201) or with_token.status_code == 404 == plain.status_code


def test_public_routes_are_only_the_link_page() -> None:
    assert [r for r, level in ROUTES.items() if level == PUBLIC] == [("POST", "/link/complete")]


async def test_link_complete_needs_no_key_and_reveals_nothing(world: World) -> None:
    r = await call(world, ("POST", "/link/complete"), headers={})
    assert r.status_code == 404 and r.json()["detail"] == "Unknown link token."


# --- isolation between accounts ------------------------------------------------------------------------


async def _check_isolation(world: World, route: tuple[str, str]) -> None:
    s = world.service
    a_headers = s.headers(world.a["account_token"])
    method, template = route
    first = template.strip("/").split("/")[0]

    if method == "GET" and template == f"/{first}" and first in PATH_TO_MODEL:
        # A list: exactly A's record.
        r = await call(world, route, headers=a_headers)
        assert r.status_code == 200
        assert [x["id"] for x in r.json()["results"]] == [world.a_ids[PATH_TO_MODEL[first]]]
        return
    if method == "GET" and template.endswith("{id:str}"):
        model = PATH_TO_MODEL[first]
        own = await call(world, route, headers=a_headers)
        assert own.status_code == 200 and own.json()["id"] == world.a_ids[model]
        theirs = await call(world, route, headers=a_headers, ids=world.b_ids)
        assert theirs.status_code == 404 and theirs.json() == {"detail": "Not found."}
        return
    if template == "/attachments/{attachment_id:str}/download":
        theirs = await call(world, route, headers=a_headers, ids=world.b_ids)
        assert theirs.status_code == 404 and theirs.json() == {"detail": "Not found."}
        own = await call(world, route, headers=a_headers)
        assert own.status_code != 401 and own.status_code != 500, own.text  # reaches A's vendor
        return
    if template in ("/tickets/{ticket_id:str}", "/tickets/meta/patch/{ticket_id:str}"):
        theirs = await call(world, route, headers=a_headers, ids=world.b_ids)
        assert theirs.status_code == 404 and theirs.json()["detail"] == "Not found."
        own = await call(world, route, headers=a_headers)
        assert own.status_code == 200, own.text
        return
    if route == ("POST", "/tickets"):
        body = {
            "model": {
                "name": "x",
                "assignees": [world.b_ids["User"]],
                "account": world.b_ids["Account"],
            }
        }
        r = await call(world, route, headers=a_headers, body=body)
        assert r.status_code == 400, r.text
        own = {"model": {"name": "x", "assignees": [world.a_ids["User"]]}}
        assert (await call(world, route, headers=a_headers, body=own)).status_code == 201
        return
    if route == ("POST", "/comments"):
        r = await call(world, route, headers=a_headers, ids=world.b_ids)  # ticket = B's ticket
        assert r.status_code == 400, r.text
        assert (await call(world, route, headers=a_headers)).status_code == 201
        return
    if template in ("/account-details",):
        r = await call(world, route, headers=a_headers)
        assert r.json()["id"] == world.a["id"]
        return
    if template == "/sync-status":
        r = await call(world, route, headers=a_headers)
        statuses = r.json()["results"]
        assert statuses and all(x["status"] == "SYNCING" for x in statuses)
        return
    if template == "/sync-status/resync":
        r = await call(world, route, headers=a_headers)
        assert r.status_code == 200
        async with s.engine.connect() as conn:
            rows = (
                await conn.execute(select(sync_state).where(sync_state.c.linked_account_id == world.b["id"]))
            ).all()
        assert rows and all(row.status == "FAILED" and not row.full_resync_requested for row in rows)
        return
    if template == "/delete-account":
        r = await call(world, route, headers=a_headers)
        assert r.status_code == 200
        b_token = world.b["account_token"]
        for spec in SPECS:
            page = (await s.get(f"/{spec.path}", b_token)).json()
            assert [x["id"] for x in page["results"]] == [world.b_ids[spec.model]]
        return
    if template.endswith("/meta/post") or template == "/available-actions":
        r = await call(world, route, headers=a_headers)
        assert r.status_code == 200  # describes the integration; holds no records
        return
    if template.startswith("/sharing/") or template.endswith(("/share", "/unshare")):
        await _check_sharing_isolation(world, route)
        return
    raise AssertionError(f"no isolation check for {route}")


async def _check_sharing_isolation(world: World, route: tuple[str, str]) -> None:
    """Ticket sharing: B's agreements and tickets are not found with A's token."""
    s = world.service
    a_headers, b_headers = s.headers(world.a["account_token"]), s.headers(world.b["account_token"])
    _, template = route
    invite = {"partner_url": "http://127.0.0.1:9/partner/sharing"}
    r = await s.client.post(f"{API}/sharing/agreements", headers=b_headers, json=invite)
    assert r.status_code == 201, r.text
    b_ids = {**world.b_ids, "Agreement": r.json()["id"]}
    if template == "/sharing/url":
        a_url = (await call(world, route, headers=a_headers)).json()["url"]
        b_url = (await call(world, route, headers=b_headers)).json()["url"]
        assert a_url != b_url and world.a["id"] not in a_url  # unguessable, not the account id
    elif route == ("GET", "/sharing/agreements"):
        assert (await call(world, route, headers=a_headers)).json() == []
    elif route == ("POST", "/sharing/agreements"):
        r = await call(world, route, headers=a_headers, body=invite)
        assert r.status_code == 201 and r.json()["direction"] == "out"
    elif "{agreement_id:str}" in template:
        theirs = await call(world, route, headers=a_headers, ids=b_ids)
        assert theirs.status_code == 404 and theirs.json() == {"detail": "Not found."}
    else:  # share / unshare B's ticket
        theirs = await call(
            world, route, headers=a_headers, ids=b_ids, body={"agreement": b_ids["Agreement"]}
        )
        assert theirs.status_code == 404 and theirs.json() == {"detail": "Not found."}
        if template.endswith("/share"):  # A's own ticket, B's agreement: refused as unknown
            own = await call(world, route, headers=a_headers, body={"agreement": b_ids["Agreement"]})
            assert own.status_code == 400 and "no agreement" in own.json()["detail"]


@pytest.mark.parametrize("route", KEYED_ROUTES, ids=ids_of)
async def test_tenant_boundaries(world: World, route: tuple[str, str]) -> None:
    """Missing/invalid API key -> 401 with nothing done; on data endpoints also a missing, unknown or
    foreign account token; and account A's token never reaches account B's records."""
    before = await snapshot(world)
    await _check_api_key(world, route)
    if ROUTES[route] == ACCOUNT:
        await _check_account_token(world, route)
    assert await snapshot(world) == before

    if ROUTES[route] == ORG:
        await _check_org_route_tolerates_account_token(world, route)
        return
    b_before = await b_state(world)
    b_desk = dict(fakes.desk(desk_url("desk-b")).tickets)
    await _check_isolation(world, route)
    assert await b_state(world) == b_before
    assert fakes.desk(desk_url("desk-b")).tickets == b_desk
    assert [c for c in fakes.desk(desk_url("desk-b")).calls if c != "check"] == []


async def b_state(world: World) -> list[Any]:
    state = []
    async with world.service.engine.connect() as conn:
        for table in [*RECORD_TABLES.values(), sync_state]:
            rows = await conn.execute(select(table).where(table.c.linked_account_id == world.b["id"]))
            state.append(sorted(map(repr, rows)))
        state.append(
            repr(
                (
                    await conn.execute(select(linked_accounts).where(linked_accounts.c.id == world.b["id"]))
                ).all()
            )
        )
    assert all(state)
    return state


async def test_same_origin_in_another_organization_is_another_account(world: World) -> None:
    # ``world.other`` was linked with customer-a's origin id under the other key: it did not relink A.
    assert world.other["id"] != world.a["id"]
    assert world.other["account_token"] != world.a["account_token"]
    r = await world.service.get("/account-details", world.a["account_token"])
    assert r.json()["end_user_origin_id"] == "customer-a"
    ours = await world.service.client.get(f"{API}/linked-accounts", headers=world.service.headers())
    assert {x["id"] for x in ours.json()["results"]} == {world.a["id"], world.b["id"]}
    theirs = await world.service.client.get(
        f"{API}/linked-accounts", headers=world.service.headers(api_key=world.other_key)
    )
    assert [x["id"] for x in theirs.json()["results"]] == [world.other["id"]]
    by_id = await world.service.client.get(
        f"{API}/linked-accounts",
        headers=world.service.headers(api_key=world.other_key),
        params={"id": world.a["id"]},
    )
    assert by_id.json()["results"] == []


def test_route_templates_cover_every_parameter() -> None:
    for _, template in ROUTES:
        for name in re.findall(r"{(\w+):", template):
            assert name in (
                "id",
                "ticket_id",
                "attachment_id",
                "public_token",
                "target_id",
                "issue_id",
                "agreement_id",
            ), template
