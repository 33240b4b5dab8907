"""Rate limits, fault injection, the v1 throttle, writes persisting, incremental exports, determinism."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import requests

from emulators.common.clock import Clock
from emulators.common.serve import ServerThread
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.classic import create_classic_app
from emulators.zendesk.config import ZendeskConfig
from tests.emulators.conftest import FD_AUTH, ZD_AUTH


def _client(app: Any, base_url: str, auth: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, auth=auth)


# -- rate limits ---------------------------------------------------------------------------------
async def test_zendesk_quota_then_429_with_retry_after() -> None:
    clock = Clock(frozen=1_700_000_010.0)
    config = ZendeskConfig(tickets=20)
    config.rate_limit.per_minute = 3
    async with _client(create_zendesk(config, clock), "https://acme.zendesk.com", ZD_AUTH) as zd:
        remaining = [
            (await zd.get("/api/v2/groups.json")).headers["x-rate-limit-remaining"] for _ in range(3)
        ]
        assert remaining == ["2", "1", "0"]
        throttled = await zd.get("/api/v2/groups.json")
        assert throttled.status_code == 429
        left = str(60 - int(clock.now()) % 60)  # seconds to the end of the current minute window
        assert throttled.headers["retry-after"] == left
        assert throttled.headers["ratelimit-reset"] == left
        clock.advance(int(left))
        assert (await zd.get("/api/v2/groups.json")).status_code == 200


async def test_zendesk_incremental_endpoint_bucket() -> None:
    async with _client(
        create_zendesk(ZendeskConfig(tickets=20), Clock(frozen=1_700_000_000.0)),
        "https://acme.zendesk.com",
        ZD_AUTH,
    ) as zd:
        statuses = [
            (await zd.get("/api/v2/incremental/tickets.json?start_time=0")).status_code for _ in range(11)
        ]
        assert statuses == [200] * 10 + [429]
        last = await zd.get("/api/v2/incremental/tickets.json?start_time=0")
        assert last.headers["zendesk-ratelimit-incremental-exports"].startswith("total=10; remaining=0")


async def test_time_scale_shortens_the_minute() -> None:
    clock = Clock(frozen=1_700_000_000.0)
    config = FreshdeskConfig(tickets=10)
    config.rate_limit.per_minute, config.rate_limit.time_scale = 2, 60.0
    async with _client(create_freshdesk(config, clock), "https://acme.freshdesk.com", FD_AUTH) as fd:
        assert [(await fd.get("/api/v2/groups")).status_code for _ in range(3)] == [200, 200, 429]
        clock.advance(1.0)  # one scaled "minute"
        assert (await fd.get("/api/v2/groups")).status_code == 200


async def test_freshdesk_rate_headers_and_credits(fd: httpx.AsyncClient) -> None:
    plain = await fd.get("/api/v2/tickets/1")
    embedded = await fd.get("/api/v2/tickets/1?include=conversations,requester")
    assert plain.headers["X-RateLimit-Total"] == "700"
    assert plain.headers["X-RateLimit-Used-CurrentRequest"] == "1"
    assert embedded.headers["X-RateLimit-Used-CurrentRequest"] == "3"
    assert int(plain.headers["X-RateLimit-Remaining"]) - int(embedded.headers["X-RateLimit-Remaining"]) == 3


@pytest.mark.parametrize(("plan", "cap"), [(200, 20), (400, 100), (700, 200)])
async def test_freshdesk_caps_the_ticket_list_by_plan_in_credits(plan: int, cap: int) -> None:
    config = FreshdeskConfig(tickets=5)
    config.rate_limit.per_minute = plan  # Growth, Pro, Enterprise
    app = create_freshdesk(config, Clock(frozen=1_700_000_000.0))
    async with _client(app, "https://acme.freshdesk.com", FD_AUTH) as fd:
        statuses = [
            (await fd.get("/api/v2/tickets?include=description")).status_code for _ in range(cap // 2)
        ]
        assert set(statuses) == {200}  # two credits each: the cap's worth
        refused = await fd.get("/api/v2/tickets")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert int(refused.headers["X-RateLimit-Remaining"]) == plan - cap  # the account had room
        assert (await fd.get("/api/v2/groups")).status_code == 200  # other endpoints go on


async def test_classic_throttle_is_503_text() -> None:
    config = ZendeskConfig(tickets=10)
    config.rate_limit.per_minute = 1
    auth = httpx.BasicAuth("admin@acme.test", "zd-password")
    async with _client(
        create_classic_app(config, Clock(frozen=1_700_000_000.0)), "https://acme.zendesk.com", auth
    ) as v1:
        assert (await v1.get("/tickets.json")).status_code == 200
        throttled = await v1.get("/tickets.json")
        assert throttled.status_code == 503
        assert throttled.headers["content-type"].startswith("text/plain")
        assert throttled.text == "Number of allowed API requests per minute exceeded"


async def test_classic_creates_with_location_and_acts_on_behalf() -> None:
    app = create_classic_app(ZendeskConfig(tickets=10))
    auth = httpx.BasicAuth("admin@acme.test", "zd-password")
    async with _client(app, "https://acme.zendesk.com", auth) as v1:
        page2 = await v1.get("/tickets.json?page=1")
        assert [t["nice_id"] for t in page2.json()] == list(range(1, 11))
        end_user = (await v1.get("/users.json?page=1")).json()[-1]
        created = await v1.post(
            "/tickets.json",
            json={"ticket": {"subject": "Hi", "description": "Help"}},
            headers={"X-On-Behalf-Of": end_user["email"]},
        )
        assert created.status_code == 201 and created.content == b""
        ticket_id = int(created.headers["location"].rsplit("/", 1)[1].removesuffix(".json"))
        commented = await v1.put(
            f"/tickets/{ticket_id}.json", json={"comment": {"value": "More", "is_public": True}}
        )
        assert commented.status_code == 200
        ticket = (await v1.get(f"/tickets/{ticket_id}.json")).json()
        assert ticket["requester_id"] == end_user["id"]
        assert [c["value"] for c in ticket["comments"]] == ["Help", "More"]


# -- auth ---------------------------------------------------------------------------------------
async def test_on_behalf_of_needs_an_impersonating_oauth_token(zd: httpx.AsyncClient) -> None:
    end_user = (await zd.get("/api/v2/users.json?role=end-user&per_page=1")).json()["users"][0]
    header = {"X-On-Behalf-Of": end_user["email"]}
    basic = await zd.get("/api/v2/users/me.json", headers=header)
    assert basic.json()["user"]["role"] == "admin"
    bearer = {**header, "Authorization": "Bearer zd-oauth-token"}
    oauth = await zd.get("/api/v2/users/me.json", headers=bearer, auth=None)
    assert oauth.json()["user"]["id"] == end_user["id"]
    readonly = {**header, "Authorization": "Bearer zd-oauth-readonly"}
    assert (await zd.get("/api/v2/users/me.json", headers=readonly, auth=None)).json()["user"][
        "role"
    ] == "admin"
    refused = await zd.get("/api/v2/users/me.json", headers={"Authorization": "Bearer nope"}, auth=None)
    assert refused.status_code == 401


# -- faults -------------------------------------------------------------------------------------
async def test_scripted_faults_in_process(zendesk_app: Any, zd: httpx.AsyncClient) -> None:
    zendesk_app.emulator_config.faults.inject("500", "429", "drop", "truncate")
    assert (await zd.get("/api/v2/groups.json")).status_code == 500
    throttled = await zd.get("/api/v2/groups.json")
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "1")
    with pytest.raises(httpx.RemoteProtocolError):
        await zd.get("/api/v2/groups.json")
    cut = await zd.get("/api/v2/groups.json")
    assert int(cut.headers["content-length"]) > len(cut.content)
    with pytest.raises(ValueError):
        cut.json()
    assert (await zd.get("/api/v2/groups.json")).status_code == 200


async def test_fault_rates_are_seeded_and_togglable_over_admin() -> None:
    async def run() -> list[int]:
        config = FreshdeskConfig(tickets=5, seed=11)
        config.faults.rate_500 = 0.3
        async with _client(create_freshdesk(config), "https://acme.freshdesk.com", FD_AUTH) as fd:
            return [(await fd.get("/api/v2/groups")).status_code for _ in range(30)]

    first, second = await run(), await run()
    assert first == second and 500 in first and 200 in first
    app = create_freshdesk(FreshdeskConfig(tickets=5))
    async with _client(app, "https://acme.freshdesk.com", FD_AUTH) as fd:
        assert (await fd.put("/_emulator/faults", json={"rate_500": 1.0})).status_code == 200
        assert (await fd.get("/api/v2/groups")).status_code == 500
        await fd.put("/_emulator/faults", json={"rate_500": 0})
        assert (await fd.get("/api/v2/groups")).status_code == 200


def test_dropped_and_truncated_over_a_real_socket() -> None:
    config = ZendeskConfig(tickets=5)
    app = create_zendesk(config)
    with ServerThread(app) as server:
        config.faults.inject("drop", "truncate", "slow")
        config.faults.slow_seconds = 0.3
        url = f"{server.url}/api/v2/groups.json"
        with pytest.raises(requests.ConnectionError):
            requests.get(url, auth=("admin@acme.test/token", "zd-api-token"), timeout=5)
        with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
            requests.get(url, auth=("admin@acme.test/token", "zd-api-token"), timeout=5)
        started = time.monotonic()
        assert requests.get(url, auth=("admin@acme.test/token", "zd-api-token"), timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.3


# -- writes and incremental exports ---------------------------------------------------------------
async def _export(zd: httpx.AsyncClient, start: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = (await zd.get(f"/api/v2/incremental/tickets/cursor.json?start_time={start}&per_page=100")).json()
    out += page["tickets"]
    while not page["end_of_stream"]:
        page = (await zd.get(page["after_url"])).json()
        out += page["tickets"]
    return out


async def test_incremental_export_sees_updates_and_deletions(zendesk_app: Any, zd: httpx.AsyncClient) -> None:
    zendesk_app.emulator_config.rate_limit.enabled = False
    everything = await _export(zd, 0)
    assert sorted(t["id"] for t in everything) == list(range(1, 301))
    cutoff = max(t["generated_timestamp"] for t in everything) + 1
    assert await _export(zd, cutoff) == []
    open_id = min(t["id"] for t in everything if t["status"] != "closed")
    bump = {"ticket": {"comment": {"body": "bump", "public": False}}}
    assert (await zd.put(f"/api/v2/tickets/{open_id}.json", json=bump)).status_code == 200
    await zd.delete("/api/v2/tickets/298.json")
    assert (await zd.delete("/_emulator/tables/tickets/299")).status_code == 204
    zendesk_app.clock.advance(60)  # exports leave out the last minute's changes, as Zendesk's do
    changed = {t["id"]: t["status"] for t in await _export(zd, cutoff)}
    assert set(changed) == {open_id, 298, 299}
    assert changed[298] == changed[299] == "deleted"
    assert (await zd.get("/api/v2/tickets/298.json")).status_code == 404
    deleted = (await zd.get("/api/v2/deleted_tickets.json")).json()["deleted_tickets"]
    assert [d["id"] for d in deleted] == [298, 299]
    comments = (await zd.get(f"/api/v2/tickets/{open_id}/comments.json")).json()["comments"]
    assert (comments[-1]["body"], comments[-1]["public"]) == ("bump", False)
    time_based = (await zd.get(f"/api/v2/incremental/tickets.json?start_time={cutoff}")).json()
    assert {t["id"] for t in time_based["tickets"]} == {open_id, 298, 299} and time_based["end_of_stream"]


async def test_a_deleted_user_stays_in_the_users_export_inactive(
    zendesk_app: Any, zd: httpx.AsyncClient
) -> None:
    """As the recorded users export shows: Zendesk deletes users softly, ``active: false``, email gone."""
    zendesk_app.emulator_config.rate_limit.enabled = False
    first = (await zd.get("/api/v2/incremental/users/cursor.json?start_time=0")).json()
    victim = next(u for u in first["users"] if u["role"] == "end-user" and u["email"])
    assert (await zd.delete(f"/_emulator/tables/users/{victim['id']}")).status_code == 204
    zendesk_app.clock.advance(60)  # exports leave out the last minute's changes
    later = (await zd.get(first["after_url"])).json()["users"]
    assert [(u["id"], u["active"], u["email"]) for u in later] == [(victim["id"], False, None)]


async def test_delete_user_is_soft_like_zendesk(zendesk_app: Any, zd: httpx.AsyncClient) -> None:
    """Delete User answers the user, inactive; Show User still shows it; its address is free again."""
    zendesk_app.emulator_config.rate_limit.enabled = False
    users = (await zd.get("/api/v2/users.json")).json()["users"]
    victim = next(u for u in users if u["role"] == "end-user" and u["email"])
    deleted = await zd.delete(f"/api/v2/users/{victim['id']}.json")
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()["user"]
    assert (body["id"], body["active"], body["email"], body["name"]) == (
        victim["id"],
        False,
        None,
        victim["name"],
    )
    shown = (await zd.get(f"/api/v2/users/{victim['id']}.json")).json()["user"]
    assert shown == body
    assert (await zd.delete(f"/api/v2/users/{victim['id']}.json")).status_code == 404
    assert (await zd.delete("/api/v2/users/999999999.json")).status_code == 404
    again = await zd.post("/api/v2/users.json", json={"user": {"name": "New", "email": victim["email"]}})
    assert again.status_code == 201, again.text
    assert again.json()["user"]["id"] != victim["id"]


async def test_time_export_never_stalls_on_a_crowded_second(zendesk_app: Any, zd: httpx.AsyncClient) -> None:
    zendesk_app.emulator_config.rate_limit.enabled = False
    clock: Clock = zendesk_app.clock
    clock.frozen = 1_800_000_000.0
    for i in range(1, 6):
        await zd.put(f"/api/v2/tickets/{i}.json", json={"ticket": {"tags": ["same-second"]}})
    # Closed tickets refuse updates; count the ones that did change.
    updated = [
        i
        for i in range(1, 6)
        if (await zd.get(f"/api/v2/tickets/{i}.json")).json()["ticket"]["tags"] == ["same-second"]
    ]
    clock.advance(60)  # exports leave out the last minute's changes
    page = (await zd.get("/api/v2/incremental/tickets.json?start_time=1800000000&per_page=2")).json()
    assert len(updated) >= 2
    assert (page["count"], page["end_time"]) == (len(updated), 1_800_000_001)


async def test_upload_token_attaches_to_comment(zd: httpx.AsyncClient) -> None:
    token = (await zd.post("/api/v2/uploads.json?filename=log.txt", content=b"stack trace")).json()["upload"][
        "token"
    ]
    body = {"ticket": {"subject": "With file", "comment": {"body": "see file", "uploads": [token]}}}
    ticket = (await zd.post("/api/v2/tickets.json", json=body)).json()["ticket"]
    comment = (await zd.get(f"/api/v2/tickets/{ticket['id']}/comments.json")).json()["comments"][0]
    attachment = comment["attachments"][0]
    assert (await zd.get(f"/api/v2/attachments/{attachment['id']}.json")).json()["attachment"] == attachment
    download = await zd.get(attachment["content_url"], auth=None)
    assert download.content == b"stack trace"


async def test_freshdesk_30_day_window_and_updated_since() -> None:
    now = time.time()
    config = FreshdeskConfig(tickets=400, anchor_time=int(now), history_days=120)
    async with _client(create_freshdesk(config), "https://acme.freshdesk.com", FD_AUTH) as fd:

        async def walk(query: str) -> list[dict[str, Any]]:
            out, url = [], f"/api/v2/tickets?per_page=100&{query}"
            while url:
                response = await fd.get(url)
                out += response.json()
                url = response.links.get("next", {}).get("url")
            return out

        default = await walk("")
        everything = await walk("updated_since=2000-01-01T00:00:00Z&order_by=updated_at&order_type=asc")
        assert len(everything) == 400
        assert 0 < len(default) < 200
        assert all(
            time.mktime(time.strptime(t["created_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
            >= now - 31 * 86400
            for t in default
        )
        stamps = [t["updated_at"] for t in everything]
        assert stamps == sorted(stamps)
        await fd.post("/api/v2/tickets/5/notes", json={"body": "touch"})
        recent = await walk(f"updated_since={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - 1))}")
        assert [t["id"] for t in recent] == [5]
        await fd.delete("/api/v2/tickets/6")
        assert [t["id"] for t in await walk("filter=deleted")] == [6]
        assert (await fd.get("/api/v2/tickets/6")).status_code == 404


# -- determinism and scale ------------------------------------------------------------------------
async def test_same_seed_same_data_and_different_seed_differs() -> None:
    async def sample(seed: int) -> bytes:
        async with _client(
            create_zendesk(ZendeskConfig(tickets=50, seed=seed)), "https://acme.zendesk.com", ZD_AUTH
        ) as zd:
            tickets = (await zd.get("/api/v2/tickets.json?page[size]=100")).content
            comments = (await zd.get("/api/v2/tickets/17/comments.json")).content
            users = (await zd.get("/api/v2/users.json?page[size]=100")).content
            return tickets + comments + users

    assert await sample(5) == await sample(5)
    assert await sample(5) != await sample(6)


async def test_hundred_thousand_tickets_start_fast_and_page_cheaply() -> None:
    started = time.perf_counter()
    app = create_zendesk(ZendeskConfig(tickets=100_000))
    assert time.perf_counter() - started < 3
    app.emulator_config.rate_limit.enabled = False
    async with _client(app, "https://acme.zendesk.com", ZD_AUTH) as zd:
        started = time.perf_counter()
        deep = await zd.get("/api/v2/incremental/tickets/cursor.json?start_time=1733000000&per_page=1000")
        assert deep.status_code == 200 and len(deep.json()["tickets"]) == 1000
        last = (
            await zd.get("/api/v2/tickets.json?page[size]=100&page[before]=" + _cursor_after(100_001))
        ).json()
        assert last["tickets"][-1]["id"] == 100_000
        assert time.perf_counter() - started < 3


def _cursor_after(ticket_id: int) -> str:
    from emulators.zendesk.paging import encode_cursor

    return encode_cursor("nice_id", ticket_id)


async def test_a_role_change_shows_in_the_users_export(zendesk_app: Any, zd: httpx.AsyncClient) -> None:
    zendesk_app.emulator_config.rate_limit.enabled = False
    first = (await zd.get("/api/v2/incremental/users/cursor.json?start_time=0")).json()
    customer = next(u for u in first["users"] if u["role"] == "end-user" and u["active"])
    put = await zd.put(f"/api/v2/users/{customer['id']}.json", json={"user": {"role": "admin"}})
    assert put.status_code == 200
    admin = put.json()["user"]
    assert (admin["role"], admin["role_type"], admin["ticket_restriction"]) == ("admin", 4, None)
    assert (admin["name"], admin["email"], admin["created_at"]) == (
        customer["name"],
        customer["email"],
        customer["created_at"],
    )
    # Zendesk leaves the last minute's changes out of exports: not yet, then after the minute.
    assert (await zd.get(first["after_url"])).json()["users"] == []
    zendesk_app.clock.advance(59)
    assert (await zd.get(first["after_url"])).json()["users"] == []
    zendesk_app.clock.advance(1)
    later = (await zd.get(first["after_url"])).json()["users"]
    assert [(u["id"], u["role"]) for u in later] == [(customer["id"], "admin")]


async def test_updating_a_user_validates_like_zendesk(zd: httpx.AsyncClient) -> None:
    missing = await zd.put("/api/v2/users/999999999.json", json={"user": {"name": "x"}})
    assert missing.status_code == 404
    some = (await zd.get("/api/v2/users.json")).json()["users"][0]
    bad_role = await zd.put(f"/api/v2/users/{some['id']}.json", json={"user": {"role": "owner"}})
    assert bad_role.status_code == 422 and bad_role.json()["error"] == "RecordInvalid"
    assert "role" in bad_role.json()["details"]
    no_name = await zd.put(f"/api/v2/users/{some['id']}.json", json={"user": {"name": " "}})
    assert no_name.status_code == 422 and "name" in no_name.json()["details"]
    assert (await zd.get(f"/api/v2/users/{some['id']}.json")).json()["user"] == some  # unchanged
