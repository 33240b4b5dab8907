"""Golden mapping tests: every recorded Zendesk object in the fixtures maps into valid common models."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from connectors.base import RemoteRecord
from connectors.streams import Tombstone
from connectors.zendesk import mapping
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate
from tests.emulators import shapes
from tests.support.shared import FIXTURES

ZENDESK = FIXTURES / "vendors" / "zendesk"
KINDS = {
    "tickets": "ticket",
    "users": "user",
    "organizations": "organization",
    "groups": "group",
    "comments": None,
}


def _walk(value: Any, found: dict[str, list[dict[str, Any]]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            plural = key if key in KINDS else next((p for p, s in KINDS.items() if s == key), None)
            if plural and isinstance(inner, list):
                found[plural] += [x for x in inner if isinstance(x, dict) and "id" in x]
            elif plural and isinstance(inner, dict) and "id" in inner:
                found[plural].append(inner)
            _walk(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, found)


def recorded() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for path in sorted(ZENDESK.glob("*.json")):
        data = json.loads(path.read_text())
        if "http_interactions" in data:
            for _request, _meta, body in shapes.cassette(path.name):
                _walk(body, found)
        else:
            _walk(data.get("api"), found)
    return found


RECORDED = recorded()


def test_the_fixtures_hold_every_kind() -> None:
    assert {k: len(v) > 0 for k, v in RECORDED.items()} == dict.fromkeys(KINDS, True)


@pytest.mark.parametrize("raw", RECORDED["tickets"], ids=lambda r: f"ticket-{r['id']}")
def test_every_recorded_ticket_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_ticket(raw)
    if raw.get("status") == "deleted":
        assert record == Tombstone(remote_id=str(raw["id"]))
        return
    assert isinstance(record, RemoteRecord)
    t = record.model
    assert t.remote_id == str(raw["id"]) and t.name == raw.get("subject")
    assert t.status == mapping.STATUS_FROM_VENDOR[raw["status"]]
    assert record.enum_origins["status"] == raw["status"]
    assert t.contact == (str(raw["requester_id"]) if raw.get("requester_id") else None)
    assert t.tags == raw.get("tags", [])
    msgspec.json.encode(t)


@pytest.mark.parametrize("raw", RECORDED["users"], ids=lambda r: f"user-{r['id']}")
def test_every_recorded_user_is_a_contact_or_a_user(raw: dict[str, Any]) -> None:
    contact, user = mapping.to_contact(raw), mapping.to_user(raw)
    assert (contact is None) != (user is None)
    record = contact or user
    assert record is not None and record.model.email_address == raw.get("email")


@pytest.mark.parametrize("raw", RECORDED["organizations"], ids=lambda r: f"org-{r['id']}")
def test_every_recorded_organization_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_account(raw)
    assert isinstance(record, RemoteRecord) and record.model.name == raw["name"]
    assert record.model.domains == raw.get("domain_names", [])


@pytest.mark.parametrize("raw", RECORDED["groups"], ids=lambda r: f"group-{r['id']}")
def test_every_recorded_group_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_team(raw)
    assert record is not None and record.model.name == raw["name"]


@pytest.mark.parametrize("raw", RECORDED["comments"], ids=lambda r: f"comment-{r['id']}")
def test_every_recorded_comment_maps(raw: dict[str, Any]) -> None:
    records = mapping.comment_and_attachments({**raw, "ticket_id": raw.get("ticket_id", "1")})
    comment = records[0].model
    assert comment.remote_id == str(raw["id"]) and comment.is_private is (not raw["public"])
    assert len(records) == 1 + len(raw.get("attachments") or [])


def test_known_values() -> None:
    nango = next(t for t in RECORDED["tickets"] if t["id"] == 2 and t.get("subject") == "TestTicket")
    record = mapping.to_ticket(nango)
    assert isinstance(record, RemoteRecord)
    assert (record.model.status, record.model.priority, record.model.ticket_type) == (
        "OPEN",
        "LOW",
        "question",
    )
    assert record.model.ticket_url == "https://nango-1049.zendesk.com/agent/tickets/2"


def test_write_bodies() -> None:
    body = mapping.ticket_create_body(
        TicketCreate(
            name="Printer",
            description="Smoke",
            status="ON_HOLD",
            priority="HIGH",
            assignees=["7"],
            contact="9",
            tags=["a"],
        )
    )
    assert body == {
        "ticket": {
            "subject": "Printer",
            "tags": ["a"],
            "status": "pending",
            "priority": "high",
            "requester_id": 9,
            "assignee_id": 7,
            "comment": {"body": "Smoke"},
        }
    }
    assert mapping.ticket_update_body(TicketUpdate(ticket_type=None)) == {"ticket": {"type": None}}
    assert mapping.comment_body(CommentCreate(ticket="5", body="hi", is_private=True, user="3")) == {
        "ticket": {"comment": {"public": False, "body": "hi", "author_id": 3}}
    }
