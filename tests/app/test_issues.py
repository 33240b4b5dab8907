"""Issues (``GET /issues``): a vendor refusing a linked account's credentials opens one, repeats update
it, a relink resolves it; organizations see only their own."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from app.db import accounts as account_store
from app.db import issues as issue_store
from app.db.tables import issues, sync_state, webhook_outbox
from app.timeutil import now_micros
from connectors.http.errors import AuthError
from tests import fakes
from tests.app.conftest import API, Service, desk_url


async def refuse_a_write(service: Service, linked: dict[str, Any], desk: str = "desk-a") -> None:
    fakes.desk(desk_url(desk)).fail_next = AuthError("401 Couldn't authenticate you")
    r = await service.client.post(
        f"{API}/tickets", headers=service.headers(linked["account_token"]), json={"model": {"name": "x"}}
    )
    assert r.status_code == 400 and r.json()["errors"][0]["problem_type"] == "CREDENTIAL_ERROR"


async def list_issues(service: Service, api_key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    r = await service.client.get(f"{API}/issues", headers=service.headers(api_key=api_key), params=params)
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


async def test_a_refused_credential_opens_one_issue_until_the_relink(service: Service) -> None:
    linked = await service.link()
    r = await service.client.post(
        f"{API}/webhook-targets",
        headers=service.headers(),
        json={"url": "http://127.0.0.1:9/hook", "events": ["Issue.new", "Issue.reopened", "Issue.resolved"]},
    )
    assert r.status_code == 201, r.text
    await refuse_a_write(service, linked)
    (issue,) = await list_issues(service)
    assert issue["status"] == "ONGOING" and issue["error_description"] == "Invalid credentials"
    assert issue["end_user"] == {
        "end_user_origin_id": "customer-1",
        "organization_name": "customer-1 Inc",
        "email_address": "admin@customer-1.example",
        "linked_account_id": linked["id"],
    }
    assert issue["is_muted"] is False and issue["first_incident_time"] == issue["last_incident_time"]
    assert issue["error_details"] == ["write-through: the vendor refused the credentials"]
    # The account's syncs stop until the relink, as when a sync finds out.
    async with service.engine.connect() as conn:
        states = set((await conn.execute(select(sync_state.c.status))).scalars())
        assert (await account_store.account_by_id(conn, linked["id"])).status == "RELINK_NEEDED"
    assert states == {"FAILED"}

    await refuse_a_write(service, linked)  # a repeat updates the open issue
    (again,) = await list_issues(service)
    assert again["id"] == issue["id"] and len(again["error_details"]) == 2
    assert again["last_incident_time"] > issue["last_incident_time"]
    assert again["first_incident_time"] == issue["first_incident_time"]
    r = await service.client.get(f"{API}/issues/{issue['id']}", headers=service.headers())
    assert r.status_code == 200 and r.json() == again

    await service.link()  # the relink: same end user, working credentials
    (resolved,) = await list_issues(service)
    assert resolved["id"] == issue["id"] and resolved["status"] == "RESOLVED"
    assert await list_issues(service, status="ONGOING") == []
    await refuse_a_write(service, linked)  # refused again later: the issue is reopened
    (reopened,) = await list_issues(service)
    assert reopened["id"] == issue["id"] and reopened["status"] == "ONGOING"
    assert (
        len(reopened["error_details"]) == 3 and reopened["last_incident_time"] > again["last_incident_time"]
    )

    # Receivers heard each change once, with the issue as GET /issues showed it then.
    async with service.engine.connect() as conn:
        sent = (await conn.execute(select(webhook_outbox.c.body).order_by(webhook_outbox.c.seq))).scalars()
        bodies = [msgspec.json.decode(body) for body in sent]
    assert [b["hook"]["event"] for b in bodies] == ["Issue.new", "Issue.resolved", "Issue.reopened"]
    assert [b["data"]["status"] for b in bodies] == ["ONGOING", "RESOLVED", "ONGOING"]
    assert {b["data"]["id"] for b in bodies} == {issue["id"]}


async def test_issues_are_filtered(service: Service) -> None:
    first = await service.link("customer-1", "desk-a")
    second = await service.link("customer-2", "desk-b")
    await refuse_a_write(service, first, "desk-a")
    await refuse_a_write(service, second, "desk-b")
    assert len(await list_issues(service)) == 2

    async def origins(**params: Any) -> list[str]:
        return [i["end_user"]["end_user_origin_id"] for i in await list_issues(service, **params)]

    assert await origins(linked_account_id=second["id"]) == ["customer-2"]
    assert await origins(account_token=first["account_token"]) == ["customer-1"]
    assert await origins(account_token="not-a-token") == []
    assert await origins(end_user_organization_name="customer-2 Inc") == ["customer-2"]
    assert await origins(integration_name="fakedesk") == ["customer-1", "customer-2"]
    assert await origins(integration_name="zendesk") == []
    assert await origins(status="RESOLVED") == []
    assert await origins(start_date="2000-01-01T00:00:00Z") == ["customer-1", "customer-2"]
    assert await origins(end_date="2000-01-01T00:00:00Z") == []
    assert await origins(first_incident_time_after="2999-01-01T00:00:00Z") == []
    assert await origins(last_incident_time_before="2999-01-01T00:00:00Z") == ["customer-1", "customer-2"]
    page = (await service.client.get(f"{API}/issues?page_size=1", headers=service.headers())).json()
    assert len(page["results"]) == 1 and page["next"]
    rest = await list_issues(service, cursor=page["next"])
    assert [i["id"] for i in rest] != [page["results"][0]["id"]] and len(rest) == 1


@pytest.mark.parametrize(
    "query",
    ["status=OPEN", "start_date=yesterday", "first_incident_time_after=soon", "page_size=0", "cursor=x"],
)
async def test_bad_filters_are_400(service: Service, query: str) -> None:
    r = await service.client.get(f"{API}/issues?{query}", headers=service.headers())
    assert r.status_code == 400 and r.json()["detail"], r.text


async def test_an_organization_sees_only_its_own_issues(service: Service) -> None:
    linked = await service.link()
    await refuse_a_write(service, linked)
    (issue,) = await list_issues(service)
    other_key = await service.new_api_key("other-org")
    assert await list_issues(service, api_key=other_key) == []
    assert await list_issues(service, api_key=other_key, account_token=linked["account_token"]) == []
    assert await list_issues(service, api_key=other_key, linked_account_id=linked["id"]) == []
    r = await service.client.get(f"{API}/issues/{issue['id']}", headers=service.headers(api_key=other_key))
    assert r.status_code == 404
    r = await service.client.get(f"{API}/issues")
    assert r.status_code == 401


async def test_deleting_the_account_deletes_its_issues(service: Service) -> None:
    linked = await service.link()
    await refuse_a_write(service, linked)
    r = await service.client.post(f"{API}/delete-account", headers=service.headers(linked["account_token"]))
    assert r.status_code in (200, 204), r.text
    assert await list_issues(service) == []
    async with service.engine.connect() as conn:
        assert (await conn.execute(select(issues.c.id))).all() == []


async def test_details_are_capped(service: Service) -> None:
    linked = await service.link()
    async with service.engine.begin() as conn:
        account = await account_store.account_by_id(conn, linked["id"])
        assert account is not None
        for n in range(issue_store.MAX_DETAILS + 5):
            issue, change = await issue_store.record(
                conn,
                organization_id=account.organization_id,
                linked_account_id=account.id,
                description=issue_store.INVALID_CREDENTIALS,
                detail=f"incident {n}",
                now=1_000 + n,
            )
            assert change == (issue_store.OPENED if n == 0 else None)
    assert issue.error_details[0] == "incident 5" and issue.error_details[-1] == "incident 24"
    assert (issue.first_incident_time, issue.last_incident_time) == (1_000, 1_024)


@pytest.mark.parametrize("resolved_before", [False, True])
async def test_two_reporters_at_once_open_one_issue(service: Service, resolved_before: bool) -> None:
    """Two workers meeting the same refusal in overlapping transactions: one opens (or reopens) the
    issue, the other (blocked on the first's row or index entry until it commits) updates it."""
    linked = await service.link()
    async with service.engine.begin() as conn:
        account = await account_store.account_by_id(conn, linked["id"])
        assert account is not None
        earlier: list[str] = []
        if resolved_before:  # refused once, then relinked
            await issue_store.record(
                conn,
                organization_id=account.organization_id,
                linked_account_id=account.id,
                description=issue_store.INVALID_CREDENTIALS,
                detail="worker 0",
                now=now_micros(),
            )
            await issue_store.resolve(conn, account.organization_id, account.id)
            earlier.append("worker 0")
    first_wrote = asyncio.Event()

    async def report(detail: str, *, first: bool) -> str | None:
        if not first:
            await first_wrote.wait()
        async with service.engine.begin() as conn:
            _, change = await issue_store.record(
                conn,
                organization_id=account.organization_id,
                linked_account_id=account.id,
                description=issue_store.INVALID_CREDENTIALS,
                detail=detail,
                now=now_micros(),
            )
            if first:
                first_wrote.set()
                await asyncio.sleep(0.3)  # the other reporter starts while this one is uncommitted
        return change

    changes = await asyncio.gather(report("worker 1", first=True), report("worker 2", first=False))
    assert changes == [issue_store.REOPENED if resolved_before else issue_store.OPENED, None]
    (issue,) = await list_issues(service)
    assert issue["status"] == "ONGOING" and issue["error_details"] == [*earlier, "worker 1", "worker 2"]
