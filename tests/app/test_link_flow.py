"""Merge's Link flow end to end: link token -> link completion -> one-time public token exchange."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.db.tables import link_tokens, linked_accounts
from app.timeutil import now_micros
from tests import fakes
from tests.app.conftest import API, Service, desk_url

END_USER = {
    "end_user_email_address": "admin@acme.example",
    "end_user_organization_name": "Acme Inc",
    "end_user_origin_id": "acme",
}


async def link_token(service: Service, api_key: str | None = None, **overrides: Any) -> httpx.Response:
    payload = {**END_USER, "categories": ["ticketing"], **overrides}
    return await service.client.post(
        f"{API}/link-token", headers=service.headers(api_key=api_key), json=payload
    )


async def complete(service: Service, token: str, **overrides: Any) -> httpx.Response:
    payload = {
        "link_token": token,
        "credentials": {"api_key": fakes.GOOD_KEY},
        "base_url": desk_url("desk-a"),
        **overrides,
    }
    # The Link page calls this: no API key.
    return await service.client.post(f"{API}/link/complete", json=payload)


async def exchange(service: Service, public: str, api_key: str | None = None) -> httpx.Response:
    return await service.client.get(f"{API}/account-token/{public}", headers=service.headers(api_key=api_key))


async def new_link_token(service: Service, **overrides: Any) -> str:
    r = await link_token(service, **overrides)
    assert r.status_code == 200, r.text
    token: str = r.json()["link_token"]
    return token


async def accounts_count(service: Service) -> int:
    async with service.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(linked_accounts)) or 0)


# --- POST /link-token -----------------------------------------------------------------------------------


async def test_link_token_shape(service: Service) -> None:
    r = await link_token(service, integration="fakedesk")
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"link_token", "integration_name", "magic_link_url"}
    assert b["link_token"].startswith("link_") and b["integration_name"] == "Fake Desk"
    assert b["magic_link_url"] is None
    plain = (await link_token(service)).json()
    assert plain["integration_name"] is None and plain["link_token"] != b["link_token"]


async def test_link_token_accepts_every_sdk_key(service: Service) -> None:
    r = await link_token(
        service,
        integration="fakedesk",
        link_expiry_mins=720,
        should_create_magic_link_url=False,
        hide_admin_magic_link=True,
        common_models=[{"model_id": "ticketing.Ticket", "enabled_actions": ["READ"], "disabled_fields": []}],
        category_common_model_scopes={"ticketing": []},
        language="de",
        are_syncs_disabled=False,
        integration_specific_config={"x": 1},
    )
    assert r.status_code == 200, r.text


async def test_link_token_needs_an_api_key(service: Service) -> None:
    r = await service.client.post(f"{API}/link-token", json={**END_USER, "categories": ["ticketing"]})
    assert r.status_code == 401 and r.json()["detail"]
    bad = await link_token(service, api_key="dbk_bogus")
    assert bad.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"categories": ["hris"]}, "/categories"),
        ({"categories": []}, "/categories"),
        ({"link_expiry_mins": 29}, "/link_expiry_mins"),
        ({"link_expiry_mins": 10081}, "/link_expiry_mins"),
        ({"link_expiry_mins": -1}, "/link_expiry_mins"),
        ({"integration": "nodesk"}, "/integration"),
    ],
)
async def test_link_token_validation(service: Service, overrides: dict[str, Any], pointer: str) -> None:
    r = await link_token(service, **overrides)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["source"] == {"pointer": pointer}


@pytest.mark.parametrize("mins", [30, 10080])
async def test_link_expiry_bounds_are_inclusive(service: Service, mins: int) -> None:
    assert (await link_token(service, link_expiry_mins=mins)).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {
            "end_user_organization_name": "Acme",
            "end_user_email_address": "a@b.c",
            "categories": ["ticketing"],
        },
        {**END_USER, "categories": "ticketing"},
        {**END_USER, "link_expiry_mins": "soon"},
    ],
)
async def test_link_token_invalid_body(service: Service, payload: dict[str, Any]) -> None:
    r = await service.client.post(f"{API}/link-token", headers=service.headers(), json=payload)
    assert r.status_code == 400, r.text


# --- the whole flow -------------------------------------------------------------------------------------


async def test_flow_end_to_end(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    done = await complete(service, token)
    assert done.status_code == 201, done.text
    public = done.json()["public_token"]
    assert set(done.json()) == {"public_token"} and public.startswith("pub_")
    assert fakes.desk(desk_url("desk-a")).calls == ["check"]

    r = await exchange(service, public)
    assert r.status_code == 200, r.text
    b = r.json()
    assert set(b) == {"account_token", "integration", "id"}
    assert b["integration"]["slug"] == "fakedesk" and b["integration"]["name"] == "Fake Desk"
    assert b["integration"]["categories"] == ["ticketing"]

    details = await service.get("/account-details", b["account_token"])
    assert details.status_code == 200
    d = details.json()
    assert d["id"] == b["id"] and d["end_user_origin_id"] == "acme"
    assert (
        d["end_user_organization_name"] == "Acme Inc" and d["end_user_email_address"] == "admin@acme.example"
    )
    assert d["integration_slug"] == "fakedesk" and d["status"] == "COMPLETE"

    # One-time: a second exchange is a 404.
    again = await exchange(service, public)
    assert again.status_code == 404 and again.json()["detail"]
    # Sync rows were created as for a direct registration.
    assert (await service.get("/sync-status", b["account_token"])).json()["results"]


async def test_integration_chosen_at_completion(service: Service) -> None:
    token = await new_link_token(service)
    missing = await complete(service, token)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["problem_type"] == "MISSING_REQUIRED_FIELD"
    done = await complete(service, token, integration="fakedesk")
    assert done.status_code == 201, done.text


async def test_integration_mismatch(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    r = await complete(service, token, integration="otherdesk")
    assert r.status_code == 400 and "fakedesk" in r.json()["detail"]
    assert await accounts_count(service) == 0
    # Naming the same integration is fine.
    assert (await complete(service, token, integration="fakedesk")).status_code == 201


async def test_unknown_link_token(service: Service) -> None:
    r = await complete(service, "link_does-not-exist", integration="fakedesk")
    assert r.status_code == 404 and r.json()["detail"]
    assert fakes.DESKS == {} and await accounts_count(service) == 0


async def test_used_link_token(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    assert (await complete(service, token)).status_code == 201
    r = await complete(service, token, base_url=desk_url("desk-b"))
    assert r.status_code == 400 and "already used" in r.json()["detail"]
    assert desk_url("desk-b") not in fakes.DESKS  # the vendor was not even called


async def test_expired_link_token(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    async with service.engine.begin() as conn:
        await conn.execute(update(link_tokens).values(expires_at=now_micros() - 1_000_000))
    r = await complete(service, token)
    assert r.status_code == 400 and "expired" in r.json()["detail"]
    assert fakes.DESKS == {} and await accounts_count(service) == 0


async def test_link_expiry_is_stored(service: Service) -> None:
    before = now_micros()
    await new_link_token(service, link_expiry_mins=45)
    async with service.engine.connect() as conn:
        expires = await conn.scalar(select(link_tokens.c.expires_at))
    assert before + 45 * 60_000_000 <= expires <= now_micros() + 45 * 60_000_000


async def test_bad_credentials_leave_the_link_token_usable(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    bad = await complete(service, token, credentials={"api_key": "wrong-key"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["problem_type"] == "CREDENTIAL_ERROR"
    assert await accounts_count(service) == 0
    missing = await complete(service, token, credentials={})
    assert missing.status_code == 400
    refused = await complete(service, token, base_url="file:///etc/passwd")
    assert refused.status_code == 400
    # The end user retries with the right key: the same link token still works.
    good = await complete(service, token)
    assert good.status_code == 201, good.text
    assert (await exchange(service, good.json()["public_token"])).status_code == 200


async def test_link_complete_invalid_body(service: Service) -> None:
    r = await service.client.post(f"{API}/link/complete", json={"credentials": {}})
    assert r.status_code == 400
    r = await service.client.post(
        f"{API}/link/complete", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400


async def test_public_token_belongs_to_its_organization(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    public = (await complete(service, token)).json()["public_token"]
    other_key = await service.new_api_key("other-org")
    stolen = await exchange(service, public, api_key=other_key)
    assert stolen.status_code == 404
    assert "acct_" not in stolen.text
    # The failed attempt did not burn it for its owner.
    assert (await exchange(service, public)).status_code == 200


async def test_exchange_needs_an_api_key(service: Service) -> None:
    token = await new_link_token(service, integration="fakedesk")
    public = (await complete(service, token)).json()["public_token"]
    r = await service.client.get(f"{API}/account-token/{public}")
    assert r.status_code == 401
    assert (await exchange(service, public, api_key="dbk_bogus")).status_code == 401
    assert (await exchange(service, public)).status_code == 200


async def test_unknown_public_token(service: Service) -> None:
    assert (await exchange(service, "pub_nope")).status_code == 404


async def test_link_token_of_another_organization_links_there(service: Service) -> None:
    other_key = await service.new_api_key("other-org")
    r = await link_token(service, api_key=other_key, integration="fakedesk")
    token = r.json()["link_token"]
    public = (await complete(service, token)).json()["public_token"]
    account_token = (await exchange(service, public, api_key=other_key)).json()["account_token"]
    # Their account is theirs: our API key cannot use it and our listing does not show it.
    assert (
        await service.client.get(f"{API}/account-details", headers=service.headers(account_token))
    ).status_code == 401
    mine = await service.client.get(f"{API}/linked-accounts", headers=service.headers())
    assert mine.json()["results"] == []
    theirs = await service.client.get(
        f"{API}/account-details", headers=service.headers(account_token, api_key=other_key)
    )
    assert theirs.status_code == 200


async def test_relink_through_a_new_link_token_keeps_the_account_token(service: Service) -> None:
    first = await new_link_token(service, integration="fakedesk")
    public = (await complete(service, first)).json()["public_token"]
    original = (await exchange(service, public)).json()

    second = await new_link_token(service, integration="fakedesk")
    relinked = await complete(
        service, second, base_url=desk_url("desk-b"), credentials={"api_key": fakes.GOOD_KEY}
    )
    assert relinked.status_code == 201, relinked.text
    again = (await exchange(service, relinked.json()["public_token"])).json()
    assert again["id"] == original["id"] and again["account_token"] == original["account_token"]
    assert await accounts_count(service) == 1
    # The relinked account uses the new desk.
    w = await service.client.post(
        f"{API}/tickets", headers=service.headers(original["account_token"]), json={"model": {"name": "x"}}
    )
    assert w.status_code == 201, w.text
    assert len(fakes.desk(desk_url("desk-b")).tickets) == 1


async def test_link_flow_and_direct_registration_share_the_account(service: Service) -> None:
    direct = await service.link(origin="acme")
    token = await new_link_token(service, integration="fakedesk")
    public = (await complete(service, token)).json()["public_token"]
    exchanged = (await exchange(service, public)).json()
    assert exchanged["id"] == direct["id"] and exchanged["account_token"] == direct["account_token"]
