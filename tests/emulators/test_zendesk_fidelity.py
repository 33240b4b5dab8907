"""Every Zendesk v2 endpoint answers with the keys and JSON types of the recorded payload of that endpoint.

Recordings from 2023 (zenpy) predate a few keys the 2026 recordings (Nango) show on the same objects;
those keys are named per comparison (``NEWER_*``) instead of being ignored wholesale.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulators.shapes import cassette, cassette_body, differences, learn, nango

#: Present on tickets in the 2026 recordings (nango_get-ticket, nango_tickets), absent in 2023's.
NEWER_TICKET = frozenset({"encoded_id", "support_type", "generated_timestamp", "fields"})
#: Present on users in the 2026 recordings (nango_get-user), absent in 2023's.
NEWER_USER = frozenset({"is_billing_admin", "suspension_details"})
#: Account-specific maps and free-form channel details.
OPAQUE = frozenset({"user_fields", "organization_fields", "from", "to", "photo"})


def assert_shape(actual: Any, *recorded: Any, **kwargs: Any) -> None:
    kwargs.setdefault("opaque", OPAQUE)
    problems = differences(actual, learn(*recorded), **kwargs)
    assert not problems, "\n".join(problems)


def _nango_body(name: str, method: str, path: str) -> Any:
    return nango(name, method, path)[0]["response"]


CASES = [
    ("/api/v2/tickets.json?page[size]=100", "nango_list-tickets.test.json", "/api/v2/tickets.json", {}),
    ("/api/v2/tickets/1.json", "nango_get-ticket.test.json", "/api/v2/tickets/1.json", {}),
    (
        "/api/v2/tickets/1/comments.json",
        "nango_get-ticket-comments.test.json",
        "/api/v2/tickets/1/comments.json",
        {},
    ),
    (
        "/api/v2/tickets/1/comments?page=1",
        "nango_ticket-comments.test.json",
        "/api/v2/tickets/1/comments",
        {},
    ),
    ("/api/v2/users.json?page[size]=100", "nango_list-users.test.json", "/api/v2/users.json", {}),
    ("/api/v2/users/{user}.json", "nango_get-user.test.json", "/api/v2/users/46406145565073.json", {}),
    ("/api/v2/organizations.json", "nango_list-organizations.test.json", "/api/v2/organizations.json", {}),
    (
        "/api/v2/organizations/{org}.json",
        "nango_get-organization.test.json",
        "/api/v2/organizations/46409100347537.json",
        {},
    ),
    ("/api/v2/groups.json?page[size]=100", "nango_list-groups.test.json", "/api/v2/groups.json", {}),
    ("/api/v2/groups?page=1&per_page=100", "nango_groups.test.json", "/api/v2/groups", {}),
    ("/api/v2/groups/{group}.json", "nango_get-group.test.json", "/api/v2/groups/46406158244625.json", {}),
    (
        "/api/v2/incremental/tickets?start_time=0",
        "nango_tickets.test.json",
        "/api/v2/incremental/tickets",
        {},
    ),
    (
        "/api/v2/incremental/users/cursor?start_time=0&per_page=100",
        "nango_users.test.json",
        "/api/v2/incremental/users/cursor",
        {},
    ),
    (
        "/api/v2/incremental/organizations?start_time=0&per_page=1000",
        "nango_organizations.test.json",
        "/api/v2/incremental/organizations",
        {},
    ),
]


async def _ids(zd: httpx.AsyncClient) -> dict[str, int]:
    me = (await zd.get("/api/v2/users/me.json")).json()["user"]
    return {"user": me["id"], "org": me["organization_id"], "group": me["default_group_id"]}


@pytest.mark.parametrize(("path", "recording", "recorded_path", "kwargs"), CASES, ids=[c[0] for c in CASES])
async def test_nango_recorded_endpoints(
    zd: httpx.AsyncClient, path: str, recording: str, recorded_path: str, kwargs: Any
) -> None:
    response = await zd.get(path.format(**await _ids(zd)))
    assert response.status_code == 200
    assert_shape(
        response.json(), *[call["response"] for call in nango(recording, "get", recorded_path)], **kwargs
    )


@pytest.mark.parametrize(
    ("path", "recording", "uri", "extra_ok"),
    [
        (
            "/api/v2/tickets.json",
            "zenpy_tickets_cursor_pagination.betamax.json",
            "/tickets.json",
            NEWER_TICKET,
        ),
        (
            "/api/v2/tickets.json?page[size]=1",
            "zenpy_tickets_cursor_pagination.betamax.json",
            "page%5Bsize%5D=1",
            NEWER_TICKET,
        ),
        ("/api/v2/users/me.json", "zenpy_users_me.betamax.json", "/users/me.json", NEWER_USER),
        ("/api/v2/users.json", "zenpy_users_pagination.betamax.json", "/users.json", NEWER_USER),
        (
            "/api/v2/organizations.json?page[size]=1",
            "zenpy_organizations_pagination.betamax.json",
            "page%5Bsize%5D=1",
            frozenset(),
        ),
        (
            "/api/v2/incremental/tickets/cursor.json?start_time=0",
            "zenpy_incremental_tickets_time_and_cursor.betamax.json",
            "cursor.json?start_time=0",
            NEWER_TICKET,
        ),
        (
            "/api/v2/incremental/tickets.json?start_time=0&per_page=1",
            "zenpy_incremental_tickets_time_and_cursor.betamax.json",
            "tickets.json?per_page=1&start_time=0",
            NEWER_TICKET,
        ),
        (
            "/api/v2/incremental/users.json?start_time=0",
            "zenpy_incremental_users_time_and_cursor.betamax.json",
            "users.json?start_time=0",
            NEWER_USER,
        ),
        (
            "/api/v2/incremental/users/cursor.json?start_time=0",
            "zenpy_incremental_users_time_and_cursor.betamax.json",
            "users/cursor.json?start_time=0",
            NEWER_USER,
        ),
    ],
)
async def test_zenpy_recorded_endpoints(
    zd: httpx.AsyncClient, path: str, recording: str, uri: str, extra_ok: frozenset[str]
) -> None:
    response = await zd.get(path)
    assert response.status_code == 200
    recorded = [
        body
        for request, _, body in cassette(recording)
        if uri in request["uri"] and request["method"] == "GET"
    ]
    # The OBP list recording is the one without page[size] in the query.
    if path == "/api/v2/tickets.json":
        recorded = [b for b in recorded if "next_page" in b]
    assert recorded
    assert_shape(response.json(), *recorded, extra_ok=extra_ok)


async def test_create_ticket_matches_recording(zd: httpx.AsyncClient) -> None:
    response = await zd.post(
        "/api/v2/tickets.json", json={"ticket": {"subject": "Test", "comment": {"body": "Hi"}}}
    )
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"/api/v2/tickets/{response.json()['ticket']['id']}.json")
    recorded = _nango_body("nango_create-ticket.test.json", "post", "/api/v2/tickets.json")
    assert_shape(response.json(), recorded, opaque=OPAQUE | {"via"})
    zenpy = cassette_body("zenpy_ticket_create_single.betamax.json", "/tickets.json", "POST")
    assert_shape(response.json(), zenpy, extra_ok=NEWER_TICKET, opaque=OPAQUE | {"via"})


async def test_update_ticket_matches_recording(zd: httpx.AsyncClient) -> None:
    # The recorded ticket was already open, so its audit holds only the Comment event; do the same.
    await zd.put("/api/v2/tickets/2.json", json={"ticket": {"status": "open"}})
    body = {"ticket": {"status": "open", "comment": {"body": "Update", "public": True}}}
    response = await zd.put("/api/v2/tickets/2.json", json=body)
    assert [e["type"] for e in response.json()["audit"]["events"]] == ["Comment"]
    assert response.status_code == 200
    assert_shape(
        response.json(),
        _nango_body("nango_update-ticket.test.json", "put", "/api/v2/tickets/1.json"),
        opaque=OPAQUE | {"via"},
    )


async def test_upload_matches_recording(zd: httpx.AsyncClient) -> None:
    response = await zd.post("/api/v2/uploads.json?filename=README.md", content=b"# hello\n")
    assert response.status_code == 201
    assert response.headers["location"].endswith(".json")
    assert_shape(response.json(), cassette_body("zenpy_upload_attachment.betamax.json", "uploads", "POST"))


async def test_error_bodies_match_recordings(zd: httpx.AsyncClient) -> None:
    missing = await zd.put("/api/v2/tickets/9223372036854775807.json", json={"ticket": {"status": "open"}})
    recorded_404 = cassette_body("zenpy_ticket_update_404.betamax.json", "tickets", "PUT")
    assert (missing.status_code, missing.json()) == (404, recorded_404)
    users = [{"name": f"u{i}", "email": f"u{i}@example.com"} for i in range(101)]
    too_many = await zd.post("/api/v2/users/create_many.json", json={"users": users})
    recorded_400 = cassette_body("zenpy_users_create_many_400.betamax.json", "create_many", "POST")
    assert (too_many.status_code, too_many.json()) == (400, recorded_400)


async def test_rate_limit_headers_are_the_recorded_names(zd: httpx.AsyncClient) -> None:
    response = await zd.get("/api/v2/tickets.json?page[size]=100")
    recorded = nango("nango_list-tickets.test.json", "get", "/api/v2/tickets.json")[0]["headers"]
    vendor_names = {
        "x-rate-limit",
        "x-rate-limit-remaining",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "zendesk-ratelimit-tickets-index",
    }
    assert vendor_names <= set(recorded)
    assert vendor_names <= set(response.headers)
    zenpy_headers = cassette("zenpy_tickets_cursor_pagination.betamax.json")[2][1]["headers"]
    assert {"rate-limit", "rate-limit-remaining", "rate-limit-reset"} <= {k.lower() for k in zenpy_headers}
    assert {"rate-limit", "rate-limit-remaining", "rate-limit-reset"} <= set(response.headers)
    total, remaining, resets = (
        part.split("=")[1] for part in response.headers["zendesk-ratelimit-tickets-index"].split("; ")
    )
    assert total == "100" and int(remaining) == 99 and int(resets) > 0
