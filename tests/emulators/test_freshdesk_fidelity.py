"""Every Freshdesk endpoint answers with the keys and JSON types of its recorded payload."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulators.shapes import differences, freshdesk, learn

#: Keys the 2024 Nango ticket list shows that the older python-freshdesk samples lack.
NEWER_TICKET = frozenset(
    {
        "ticket_cc_emails",
        "association_type",
        "support_email",
        "associated_tickets_count",
        "sentiment_score",
        "initial_sentiment_score",
        "nr_due_by",
        "nr_escalated",
    }
)
#: ``priority_name`` is a v1-era field left in the hand-trimmed python-freshdesk sample (see SOURCES.md).
V1_LEFTOVERS = frozenset({"priority_name"})
OPAQUE = frozenset({"custom_fields"})


def assert_shape(actual: Any, recorded: Any, **kwargs: Any) -> None:
    problems = differences(actual, learn(recorded), opaque=OPAQUE, **kwargs)
    assert not problems, "\n".join(problems)


LISTS = [
    ("/api/v2/tickets?updated_since=2000-01-01T00:00:00Z", "nango_GET_api_v2_tickets.json"),
    ("/api/v2/contacts", "nango_GET_api_v2_contacts.json"),
    ("/api/v2/agents", "nango_GET_api_v2_agents.json"),
    ("/api/v2/companies", "pyfreshdesk_companies.json"),
    ("/api/v2/groups", "pyfreshdesk_groups.json"),
]


@pytest.mark.parametrize(("path", "recording"), LISTS)
async def test_lists(fd: httpx.AsyncClient, path: str, recording: str) -> None:
    response = await fd.get(path)
    assert response.status_code == 200
    assert_shape(response.json(), freshdesk(recording))


async def test_shows(fd: httpx.AsyncClient) -> None:
    contact_id = (await fd.get("/api/v2/contacts")).json()[0]["id"]
    shows = [
        (f"/api/v2/contacts/{contact_id}", "nango_POST_api_v2_contacts.json"),
        ("/api/v2/agents/me", "nango_POST_api_v2_agents.json"),
        (
            f"/api/v2/companies/{(await fd.get('/api/v2/companies')).json()[0]['id']}",
            "pyfreshdesk_company.json",
        ),
        (f"/api/v2/groups/{(await fd.get('/api/v2/groups')).json()[0]['id']}", "pyfreshdesk_group_1.json"),
    ]
    for path, recording in shows:
        response = await fd.get(path)
        assert response.status_code == 200, path
        assert_shape(response.json(), freshdesk(recording))


async def test_ticket_show_with_embeds(fd: httpx.AsyncClient) -> None:
    response = await fd.get("/api/v2/tickets/1?include=stats,requester")
    assert response.headers["X-RateLimit-Used-CurrentRequest"] == "3"
    assert_shape(
        response.json(),
        freshdesk("pyfreshdesk_ticket_1.json"),
        extra_ok=NEWER_TICKET,
        missing_ok=V1_LEFTOVERS,
    )


async def test_update_reply_note_conversations(fd: httpx.AsyncClient) -> None:
    updated = await fd.put(
        "/api/v2/tickets/1", json={"subject": "Test subject update", "priority": 3, "status": 4}
    )
    assert updated.status_code == 200
    assert_shape(
        updated.json(),
        freshdesk("pyfreshdesk_ticket_1_updated.json"),
        extra_ok=NEWER_TICKET,
        missing_ok=V1_LEFTOVERS,
    )
    reply = await fd.post("/api/v2/tickets/1/reply", json={"body": "This is a reply"})
    note = await fd.post("/api/v2/tickets/1/notes", json={"body": "This is a private note", "private": True})
    assert (reply.status_code, note.status_code) == (201, 201)
    assert_shape(reply.json(), freshdesk("pyfreshdesk_reply_1.json"))
    assert_shape(note.json(), freshdesk("pyfreshdesk_note_1.json"))
    assert (reply.json()["source"], note.json()["source"], note.json()["private"]) == (0, 2, True)
    listed = await fd.get("/api/v2/tickets/1/conversations")
    assert_shape(listed.json(), freshdesk("pyfreshdesk_conversations.json"))
    assert [c["id"] for c in listed.json()[-2:]] == [reply.json()["id"], note.json()["id"]]


async def test_create_contact_matches_recording(fd: httpx.AsyncClient) -> None:
    created = await fd.post("/api/v2/contacts", json={"name": "John Doe", "email": "john@doe.com"})
    assert created.status_code == 201
    assert_shape(created.json(), freshdesk("nango_POST_api_v2_contacts.json"))


async def test_validation_error_shape(fd: httpx.AsyncClient) -> None:
    response = await fd.post("/api/v2/tickets", json={"subject": "x", "status": 9, "nonsense": True})
    assert response.status_code == 400
    body = response.json()
    assert body["description"] == "Validation failed"
    assert {e["field"]: e["code"] for e in body["errors"]} == {
        "nonsense": "invalid_field",
        "requester_id": "missing_field",
        "status": "invalid_value",
    }
    assert all(set(e) == {"field", "message", "code"} for e in body["errors"])
