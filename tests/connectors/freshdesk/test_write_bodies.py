"""Request bodies of Freshdesk writes: only what was sent, defaults where Freshdesk requires a value."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from connectors.freshdesk import mapping
from connectors.http import RejectedError
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate


def create(**fields: object) -> TicketCreate:
    return msgspec.convert(fields, TicketCreate)


def test_create_maps_every_supported_field() -> None:
    ticket = create(
        name="Printer on fire",
        description="<p>Smoke</p>",
        status="ON_HOLD",
        priority="URGENT",
        ticket_type="Incident",
        contact="101",
        assignees=["7"],
        assigned_teams=["3"],
        account="55",
        parent_ticket="9",
        tags=["hw"],
        due_date=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        remote_fields=[{"remote_field_class": "cf_reference_number", "value": "R-1"}],
    )
    assert mapping.ticket_create_body(ticket) == {
        "subject": "Printer on fire",
        "description": "<p>Smoke</p>",
        "status": 3,
        "priority": 4,
        "type": "Incident",
        "requester_id": 101,
        "responder_id": 7,
        "group_id": 3,
        "company_id": 55,
        "parent_id": 9,
        "tags": ["hw"],
        "due_by": "2025-01-02T03:04:05Z",
        "custom_fields": {"cf_reference_number": "R-1"},
    }


def test_create_defaults_open_low_and_description_from_subject() -> None:
    body = mapping.ticket_create_body(create(name="Hi <you>", contact="5"))
    assert body == {
        "subject": "Hi <you>",
        "description": "Hi &lt;you&gt;",
        "requester_id": 5,
        "status": 2,
        "priority": 1,
    }


def test_create_subject_from_description_first_line() -> None:
    body = mapping.ticket_create_body(create(description="<div>First line</div>\nmore", contact="5"))
    assert body["subject"] == "First line" and body["description"] == "<div>First line</div>\nmore"


def test_create_requester_is_the_contact_else_an_agent_by_email() -> None:
    assert mapping.ticket_create_body(create(name="x", contact="8"))["requester_id"] == 8
    # An agent (creator or the API key's own) goes by e-mail: Freshdesk checks requester_id
    # against contacts only.
    body = mapping.ticket_create_body(create(name="x", creator="8"), "agent@desk.test")
    assert body["email"] == "agent@desk.test" and "requester_id" not in body
    assert not mapping.has_requester(create(name="x"))
    assert not mapping.has_requester(create(name="x", creator="8"))
    with_email = create(name="x", integration_params={"email": "a@b.c", "source": 3})
    assert mapping.has_requester(with_email)
    body = mapping.ticket_create_body(with_email)
    assert body["email"] == "a@b.c" and body["source"] == 3 and "requester_id" not in body


def test_create_rejections() -> None:
    with pytest.raises(RejectedError, match="requester"):
        mapping.ticket_create_body(create(name="x"))
    with pytest.raises(RejectedError, match="subject"):
        mapping.ticket_create_body(create(contact="1"))
    with pytest.raises(RejectedError, match="one value"):
        mapping.ticket_create_body(create(name="x", contact="1", assignees=["1", "2"]))
    with pytest.raises(RejectedError, match="not a Freshdesk id"):
        mapping.ticket_create_body(create(name="x", contact="abc"))


def test_update_sends_only_what_was_sent_and_null_clears() -> None:
    changes = msgspec.convert({"status": "CLOSED", "assignees": None, "tags": []}, TicketUpdate)
    assert mapping.ticket_update_body(changes) == {"status": 5, "responder_id": None, "tags": []}
    assert mapping.ticket_update_body(TicketUpdate()) == {}
    assert mapping.ticket_update_body(msgspec.convert({"status": "IN_PROGRESS"}, TicketUpdate)) == {
        "status": 2
    }


def test_reply_and_note_bodies() -> None:
    public = CommentCreate(ticket="1", body="Hello\n<world>", user="7")
    assert not mapping.is_note(public)
    assert mapping.reply_body(public) == {"body": "Hello<br>&lt;world&gt;", "user_id": 7}
    private = CommentCreate(ticket="1", html_body="<b>internal</b>", is_private=True)
    assert mapping.is_note(private)
    assert mapping.note_body(private) == {"body": "<b>internal</b>", "private": True}
    by_contact = CommentCreate(ticket="1", body="thanks", contact="33", is_private=False)
    assert mapping.is_note(by_contact)
    assert mapping.note_body(by_contact) == {
        "body": "thanks",
        "private": False,
        "incoming": True,
        "user_id": 33,
    }
    with pytest.raises(RejectedError, match="body"):
        mapping.reply_body(CommentCreate(ticket="1"))
