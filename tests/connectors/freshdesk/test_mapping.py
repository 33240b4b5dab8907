"""Golden tests: every recorded Freshdesk payload maps into valid common models with the recorded values.

The fixtures are real recorded bodies (``fixtures/vendors/freshdesk``, see SOURCES.md); they are read,
never edited.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from connectors.base import RemoteRecord
from connectors.freshdesk import mapping, wire
from schemas.models import Account, Attachment, Comment, Contact, Team, Ticket, User
from tests.support.shared import FIXTURES as SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "vendors" / "freshdesk"
BASE = "https://acme.freshdesk.com"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def records_of(body: Any) -> list[Any]:
    """A list body, a single object, or a search envelope ``{results, total}``."""
    if isinstance(body, dict) and "results" in body:
        return list(body["results"])
    return body if isinstance(body, list) else [body]


def valid(record: RemoteRecord[Any]) -> RemoteRecord[Any]:
    """Encodes, and decodes back into its own model type (what the store and the facade do)."""
    data = msgspec.json.encode(record.model)
    assert msgspec.json.decode(data, type=type(record.model)) == record.model
    msgspec.json.encode(record)
    return record


def ticket(raw: Any) -> RemoteRecord[Ticket]:
    return valid(mapping.ticket_record(raw, BASE))


# Which fixture files carry which model (time entries and roles are not mapped: no common model read).
TICKETS = [
    "nango_GET_api_v2_tickets.json",
    "pyfreshdesk_all_tickets.json",
    "pyfreshdesk_search_tickets.json",
    "pyfreshdesk_ticket_1.json",
    "pyfreshdesk_ticket_1_updated.json",
    "pyfreshdesk_outbound_email_1.json",
]
CONVERSATIONS = ["pyfreshdesk_conversations.json", "pyfreshdesk_note_1.json", "pyfreshdesk_reply_1.json"]
CONTACTS = [
    "nango_GET_api_v2_contacts.json",
    "nango_POST_api_v2_contacts.json",
    "pyfreshdesk_contact.json",
    "pyfreshdesk_contact_1_agent.json",
    "pyfreshdesk_contacts.json",
    "pyfreshdesk_search_contacts.json",
]
AGENTS = [
    "nango_GET_api_v2_agents.json",
    "nango_POST_api_v2_agents.json",
    "pyfreshdesk_agent_1.json",
    "pyfreshdesk_agents.json",
]
COMPANIES = ["pyfreshdesk_companies.json", "pyfreshdesk_company.json"]
GROUPS = ["pyfreshdesk_groups.json", "pyfreshdesk_group_1.json"]


def test_every_fixture_is_covered() -> None:
    covered = {*TICKETS, *CONVERSATIONS, *CONTACTS, *AGENTS, *COMPANIES, *GROUPS}
    unmapped = {"pyfreshdesk_roles.json", "pyfreshdesk_time_entries.json"}
    assert {p.name for p in FIXTURES.glob("*.json")} == covered | unmapped


MAPPERS = [
    *((name, lambda raw: mapping.ticket_record(raw, BASE)) for name in TICKETS),
    *((name, mapping.comment_and_attachments) for name in CONVERSATIONS),
    *((name, mapping.contact_record) for name in CONTACTS),
    *((name, mapping.user_record) for name in AGENTS),
    *((name, mapping.account_record) for name in COMPANIES),
    *((name, mapping.team_record) for name in GROUPS),
]


@pytest.mark.parametrize(("name", "mapper"), MAPPERS, ids=[m[0] for m in MAPPERS])
def test_every_record_maps_and_encodes(name: str, mapper: Any) -> None:
    for raw in records_of(load(name)):
        mapped = mapper(raw)
        for record in mapped if isinstance(mapped, list) else [mapped]:
            valid(record)
            assert record.raw is not None and record.path.startswith("/api/v2/")
            assert record.model.remote_id == str(record.raw["id"])


def test_nango_ticket_list() -> None:
    second, first = (ticket(raw) for raw in load("nango_GET_api_v2_tickets.json"))
    t = second.model
    assert t.remote_id == "2" and t.name == "Second urgent ticket"
    assert (t.status, t.priority) == ("OPEN", "LOW")
    assert second.enum_origins == {"status": "2", "priority": "1", "ticket_type": None}
    assert t.contact == "501001204168" and t.assignees == ["501001202520"]
    assert t.assigned_teams == [] and t.account is None and t.tags == []
    assert t.due_date == datetime(2024, 10, 23, 21, 0, tzinfo=UTC)
    assert t.remote_created_at == datetime(2024, 10, 21, 11, 19, 18, tzinfo=UTC)
    assert t.remote_updated_at == datetime(2024, 10, 21, 11, 19, 18, tzinfo=UTC)
    assert t.ticket_url == "https://acme.freshdesk.com/a/tickets/2"
    assert t.description is None  # the list omits it unless include=description
    assert second.path == "/api/v2/tickets" and second.raw["email_config_id"] == 501000020526
    assert first.model.contact == "501001204047" and first.model.name == "Urgent"


def test_ticket_view_with_attachments_and_embedded_requester() -> None:
    record = ticket(load("pyfreshdesk_ticket_1.json"))
    t = record.model
    assert t.name == "This is a sample ticket" and t.ticket_type == "Question"
    assert t.description == "This is a sample ticket, feel free to delete it."
    assert t.tags == ["foo", "bar"] and t.attachments == ["1"]
    assert t.contact == "6012691534" and t.assignees == ["6010396333"]
    assert record.enum_origins["ticket_type"] == "Question"
    raw = load("pyfreshdesk_ticket_1.json")["attachments"][0]
    attachment = mapping.to_attachment(msgspec.convert(raw, wire.Attachment), 1, 6012691534)
    assert isinstance(attachment, Attachment)
    assert attachment.file_name == "attachment.txt" and attachment.content_type == "text/plain"
    assert attachment.ticket == "1" and attachment.uploaded_by == "6012691534"
    assert attachment.file_url.endswith("/original/attachment.txt")  # type: ignore[union-attr]
    # +05:30 in the payload, UTC in the model.
    assert attachment.remote_created_at == datetime(2014, 7, 28, 10, 50, 3, tzinfo=UTC)


def test_updated_ticket_resolved_high() -> None:
    record = ticket(load("pyfreshdesk_ticket_1_updated.json"))
    assert (record.model.status, record.model.priority) == ("CLOSED", "HIGH")
    assert record.enum_origins["status"] == "4" and record.enum_origins["priority"] == "3"
    assert record.model.name == "Test subject update" and record.model.tags == ["hello", "world"]


def test_v1_era_ticket_fields_and_offsets() -> None:
    (record,) = (ticket(raw) for raw in load("pyfreshdesk_all_tickets.json"))
    t = record.model
    assert t.ticket_type == "Question"  # v1-era ``ticket_type`` key
    assert t.description == "This is a sample ticket, feel free to delete it."
    assert t.remote_created_at == datetime(2014, 12, 31, 2, 27, 9, tzinfo=UTC)  # +10:00 -> UTC
    assert t.tags == ["mytag"] and t.remote_was_deleted is False
    search = [ticket(raw).model for raw in load("pyfreshdesk_search_tickets.json")["results"]]
    assert [s.name for s in search] == ["This is a sample ticket", "This is another ticket"]
    assert search[1].tags == ["mytag", "myothertag"]
    outbound = ticket(load("pyfreshdesk_outbound_email_1.json")).model
    assert outbound.name == "This is a sample outbound email" and outbound.tags == ["foo", "bar"]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (2, "OPEN"),
        (3, "ON_HOLD"),
        (4, "CLOSED"),
        (5, "CLOSED"),
        (6, "ON_HOLD"),
        (7, "ON_HOLD"),
        (12, "IN_PROGRESS"),
    ],
)
def test_status_codes(code: int, status: str) -> None:
    record = ticket({**load("pyfreshdesk_ticket_1.json"), "status": code})
    assert record.model.status == status and record.enum_origins["status"] == str(code)


def test_priorities() -> None:
    got = [ticket({"id": 1, "priority": p}).model.priority for p in (1, 2, 3, 4)]
    assert got == ["LOW", "NORMAL", "HIGH", "URGENT"]


def test_conversations_note_and_reply() -> None:
    note, reply = (mapping.comment_and_attachments(raw)[0] for raw in load("pyfreshdesk_conversations.json"))
    n, r = note.model, reply.model
    assert isinstance(n, Comment) and isinstance(r, Comment)
    assert (n.remote_id, n.is_private, n.body, n.html_body) == (
        "1",
        True,
        "This is a private note",
        "<div>This is a private note</div>",
    )
    assert n.user == "1" and n.contact is None and n.ticket == "1"  # not incoming: an agent wrote it
    assert (r.remote_id, r.is_private, r.body) == ("2", False, "This is a reply")
    assert r.remote_created_at == datetime(2016, 5, 19, 5, 36, 14, tzinfo=UTC)
    assert note.path == "/api/v2/tickets/1/conversations"
    assert mapping.comment_and_attachments(load("pyfreshdesk_note_1.json"))[0].model == n
    assert mapping.comment_and_attachments(load("pyfreshdesk_reply_1.json"))[0].model == r


def test_incoming_conversation_is_the_contacts_and_attachments_ride_along() -> None:
    raw = {
        **load("pyfreshdesk_reply_1.json"),
        "incoming": True,
        "user_id": 77,
        "attachments": load("pyfreshdesk_ticket_1.json")["attachments"],
    }
    comment, attachment = (valid(r) for r in mapping.comment_and_attachments(raw))
    assert comment.model.contact == "77" and comment.model.user is None
    assert isinstance(attachment.model, Attachment)
    assert (attachment.model.remote_id, attachment.model.ticket, attachment.model.uploaded_by) == (
        "1",
        "1",
        "77",
    )
    assert attachment.raw["file_size"] == 44115


def test_contacts() -> None:
    (nango,) = load("nango_GET_api_v2_contacts.json")
    c = valid(mapping.contact_record(nango)).model
    assert isinstance(c, Contact)
    assert (c.remote_id, c.name, c.email_address) == ("501001204038", "John Doe", "john1@doe.com")
    assert c.phone_number is None and c.account is None and c.details is None
    rachel = mapping.contact_record(load("pyfreshdesk_contact.json")).model
    assert (rachel.name, rachel.email_address, rachel.remote_was_deleted) == (
        "Rachel",
        "rachel@freshdesk.com",
        False,
    )
    created = mapping.contact_record(load("nango_POST_api_v2_contacts.json")).model
    assert created.remote_id == "157000790462" and created.email_address == "john@doe.com"


def test_agents_wrap_a_contact() -> None:
    first, second = (valid(mapping.user_record(raw)).model for raw in load("nango_GET_api_v2_agents.json"))
    assert isinstance(first, User)
    assert (first.remote_id, first.name, first.email_address) == ("501001204047", "John Doe", "john@doe.com")
    # Unverified contact (active: false) but not deactivated: an active agent.
    assert first.is_active is True and first.teams is None
    assert (second.name, second.email_address) == ("Johnny Great", "johnny@some-company.com")
    created = mapping.user_record(load("nango_POST_api_v2_agents.json")).model
    assert created.teams == []
    rachel = mapping.user_record(load("pyfreshdesk_agent_1.json")).model
    assert (rachel.remote_id, rachel.name, rachel.is_active) == ("1", "Rachel", True)
    clark = [mapping.user_record(raw).model for raw in load("pyfreshdesk_agents.json")][1]
    assert (clark.remote_id, clark.name, clark.is_active) == (
        "432",
        "Clark Kent",
        False,
    )  # no flag: contact's


def test_companies_and_groups() -> None:
    nova, poseidon = (valid(mapping.account_record(raw)).model for raw in load("pyfreshdesk_companies.json"))
    assert isinstance(nova, Account)
    assert (nova.remote_id, nova.name, nova.domains) == ("1", "Super Nova", ["supernova", "nova", "super"])
    assert (poseidon.name, poseidon.domains) == ("Poseidon", ["poseidon"])
    assert mapping.account_record(load("pyfreshdesk_company.json")).model == nova
    entertainers, helpdesk = (
        valid(mapping.team_record(raw)).model for raw in load("pyfreshdesk_groups.json")
    )
    assert isinstance(entertainers, Team)
    assert (entertainers.remote_id, entertainers.name) == ("1", "Entertainers")
    assert entertainers.description == "Singers dancers and stand up comedians"
    assert (helpdesk.name, helpdesk.description) == ("Helpdesk", "Helpdesk staff")
    assert mapping.team_record(load("pyfreshdesk_group_1.json")).model == entertainers


@pytest.mark.parametrize(("name", "mapper"), MAPPERS, ids=[m[0] for m in MAPPERS])
def test_undecoded_records_map_as_their_dicts_do(name: str, mapper: Any) -> None:
    """Pages hand mappers each record's bytes (``msgspec.Raw``): the same models and remote data."""
    for raw in records_of(load(name)):
        from_dict, from_bytes = mapper(raw), mapper(msgspec.Raw(msgspec.json.encode(raw)))
        as_list = from_dict if isinstance(from_dict, list) else [from_dict]
        raw_list = from_bytes if isinstance(from_bytes, list) else [from_bytes]
        assert [(r.model, r.path, r.enum_origins) for r in raw_list] == [
            (r.model, r.path, r.enum_origins) for r in as_list
        ]
        assert [msgspec.json.encode(r.raw) for r in raw_list] == [msgspec.json.encode(r.raw) for r in as_list]
