"""Golden mapping tests: every recorded Zendesk object in the fixtures maps into valid common models.

The recordings (zenpy betamax cassettes, Nango ``*.test.json``) are walked for every ticket, comment,
audit, user, organization, group and attachment they hold; each is mapped and checked field by field
against its raw payload, then a few are pinned to concrete recorded values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from connectors.base import RemoteRecord
from connectors.http import RejectedError, UpstreamError
from connectors.streams import Tombstone
from connectors.zendesk import mapping
from schemas.base import Priority, TicketAccessLevel, TicketStatus
from schemas.models import Comment
from schemas.writes import CommentCreate, RemoteFieldRequest, TicketCreate, TicketUpdate
from tests.emulators import shapes
from tests.support.shared import FIXTURES

ZENDESK = FIXTURES / "vendors" / "zendesk"
#: Key in a payload (plural or singular) -> the kind of object under it.
KEYS = {
    "tickets": "tickets",
    "ticket": "tickets",
    "users": "users",
    "user": "users",
    "organizations": "organizations",
    "organization": "organizations",
    "groups": "groups",
    "group": "groups",
    "comments": "comments",
    "attachments": "attachments",
    "attachment": "attachments",
    "audits": "audits",
    "audit": "audits",
}
KINDS = sorted(set(KEYS.values()))


def _walk(value: Any, found: dict[str, list[dict[str, Any]]]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            kind = KEYS.get(key)
            items = inner if isinstance(inner, list) else [inner]
            if kind:
                found[kind] += [x for x in items if isinstance(x, dict) and x.get("id") is not None]
            _walk(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, found)


def recorded() -> dict[str, list[dict[str, Any]]]:
    """Every recorded object by kind, deduplicated (the same object recurs across recordings)."""
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for path in sorted(ZENDESK.glob("*.json")):
        data = json.loads(path.read_text())
        if "http_interactions" in data:
            for _request, _meta, body in shapes.cassette(path.name):
                _walk(body, found)
        else:
            _walk(data.get("api"), found)
    unique = {k: {json.dumps(x, sort_keys=True): x for x in v} for k, v in found.items()}
    return {k: list(v.values()) for k, v in unique.items()}


RECORDED = recorded()


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _id(value: Any) -> str | None:
    return None if value is None else str(value)


def find(kind: str, remote_id: int) -> dict[str, Any]:
    return next(x for x in RECORDED[kind] if x["id"] == remote_id)


def test_the_fixtures_hold_every_kind() -> None:
    assert {k: len(v) > 0 for k, v in RECORDED.items()} == dict.fromkeys(KINDS, True)
    # Every status, priority and type the recordings use is one the mapping knows.
    assert {t["status"] for t in RECORDED["tickets"]} <= {*mapping.STATUS_FROM_VENDOR, "deleted"}


@pytest.mark.parametrize("raw", RECORDED["tickets"], ids=lambda r: f"ticket-{r['id']}")
def test_every_recorded_ticket_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_ticket(raw)
    if raw.get("status") == "deleted":
        assert record == Tombstone(remote_id=str(raw["id"]))
        return
    assert isinstance(record, RemoteRecord) and record.raw is raw
    t = record.model
    assert (t.remote_id, t.name, t.description) == (str(raw["id"]), raw["subject"], raw.get("description"))
    assert t.status == mapping.STATUS_FROM_VENDOR[raw["status"]]
    assert t.priority == (raw["priority"].upper() if raw.get("priority") else None)
    assert record.enum_origins == {
        "status": raw["status"],
        "priority": raw.get("priority"),
        "ticket_type": raw.get("type"),
    }
    assert t.ticket_type == raw.get("type") and t.tags == raw.get("tags", [])
    assert t.contact == _id(raw.get("requester_id")) and t.creator == _id(raw.get("submitter_id"))
    assert t.assignees == [a for a in [_id(raw.get("assignee_id"))] if a]
    assert t.assigned_teams == [g for g in [_id(raw.get("group_id"))] if g]
    assert t.account == _id(raw.get("organization_id"))
    assert t.remote_created_at == _when(raw["created_at"]) and t.remote_updated_at == _when(raw["updated_at"])
    assert t.remote_created_at is not None and t.remote_created_at.tzinfo is not None
    host = raw["url"].split("/api/v2/")[0]
    assert t.ticket_url == f"{host}/agent/tickets/{raw['id']}"
    assert record.path == f"/api/v2/tickets/{raw['id']}.json"
    msgspec.json.encode(record)


@pytest.mark.parametrize("raw", RECORDED["users"], ids=lambda r: f"user-{r['id']}")
def test_every_recorded_user_is_a_contact_or_a_user(raw: dict[str, Any]) -> None:
    contact, user = mapping.to_contact(raw), mapping.to_user(raw)
    # The users export's one pass: the user as what its role makes it, and gone from the other model
    # (what a role change leaves behind there).
    model, other = ("Contact", "User") if raw["role"] == "end-user" else ("User", "Contact")
    assert mapping.to_contact_or_user(raw) == [
        contact if model == "Contact" else user,
        Tombstone(remote_id=str(raw["id"]), model=other),
    ]
    if raw["active"] is False:  # deleted: Zendesk keeps soft-deleted users in lists, email removed
        assert (contact or user) == Tombstone(remote_id=str(raw["id"]), model=model)
        assert raw.get("email") is None
        return
    if raw["role"] == "end-user":
        assert user is None and contact is not None
        assert contact.model.account == _id(raw.get("organization_id"))
        assert contact.model.phone_number == raw.get("phone")
    else:
        assert contact is None and user is not None
        assert user.model.is_active is (raw["active"] and not raw.get("suspended"))
        assert user.model.teams == [g for g in [_id(raw.get("default_group_id"))] if g]
    record = contact or user
    assert record is not None and record.path == f"/api/v2/users/{raw['id']}.json"
    assert (record.model.remote_id, record.model.name) == (str(raw["id"]), raw["name"])
    assert record.model.email_address == raw.get("email")
    msgspec.json.encode(record)


@pytest.mark.parametrize("raw", RECORDED["organizations"], ids=lambda r: f"org-{r['id']}")
def test_every_recorded_organization_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_account(raw)
    assert isinstance(record, RemoteRecord)
    assert (record.model.remote_id, record.model.name) == (str(raw["id"]), raw["name"])
    assert record.model.domains == raw.get("domain_names", [])
    msgspec.json.encode(record)


@pytest.mark.parametrize("raw", RECORDED["groups"], ids=lambda r: f"group-{r['id']}")
def test_every_recorded_group_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_team(raw)
    assert record is not None
    assert (record.model.remote_id, record.model.name) == (str(raw["id"]), raw["name"])
    assert record.model.description == (raw.get("description") or None)
    msgspec.json.encode(record)


@pytest.mark.parametrize("raw", RECORDED["comments"], ids=lambda r: f"comment-{r['id']}")
def test_every_recorded_comment_maps(raw: dict[str, Any]) -> None:
    records = mapping.comment_and_attachments({**raw, "ticket_id": 7})
    comment = records[0].model
    assert isinstance(comment, Comment)
    assert (comment.remote_id, comment.ticket, comment.user) == (str(raw["id"]), "7", str(raw["author_id"]))
    assert comment.body == raw["plain_body"] and comment.html_body == raw["html_body"]
    assert comment.is_private is (not raw["public"])
    assert comment.remote_created_at == _when(raw["created_at"])
    assert len(records) == 1 + len(raw["attachments"])
    msgspec.json.encode(records)


@pytest.mark.parametrize("raw", RECORDED["audits"], ids=lambda r: f"audit-{r['id']}")
def test_every_recorded_audit_with_a_comment_maps(raw: dict[str, Any]) -> None:
    events = [e for e in raw.get("events") or [] if e.get("type") == "Comment"]
    if not events:
        with pytest.raises(UpstreamError, match="names no Comment"):
            mapping.comment_from_audit(raw, "1")
        return
    record = mapping.comment_from_audit(raw, str(raw["ticket_id"]))
    assert record.model.remote_id == str(events[0]["id"])
    assert record.model.ticket == str(raw["ticket_id"])
    assert record.model.remote_created_at == _when(raw["created_at"])
    assert record.model.is_private is (not events[0]["public"])
    msgspec.json.encode(record)


@pytest.mark.parametrize("raw", RECORDED["attachments"], ids=lambda r: f"attachment-{r['id']}")
def test_every_recorded_attachment_maps(raw: dict[str, Any]) -> None:
    record = mapping.to_attachment(raw, "9", "3")
    a = record.model
    assert (a.remote_id, a.file_name, a.file_url) == (str(raw["id"]), raw["file_name"], raw["content_url"])
    assert (a.content_type, a.ticket, a.uploaded_by) == (raw["content_type"], "9", "3")
    msgspec.json.encode(record)


# --- concrete recorded values ---------------------------------------------------------------------


def test_a_nango_ticket() -> None:
    record = mapping.to_ticket(find("tickets", 4))
    assert isinstance(record, RemoteRecord)
    t = record.model
    assert (t.name, t.status, t.priority, t.ticket_type) == ("Test ticket from Nango", "OPEN", "NORMAL", None)
    assert (t.contact, t.creator, t.assignees) == ("46406145565073", "46406145565073", ["46406145565073"])
    assert (t.assigned_teams, t.account) == (["46406158244625"], "46406146527249")
    assert t.remote_created_at == datetime(2026, 5, 6, 8, 46, 13, tzinfo=UTC)
    assert t.ticket_url == "https://nango-1049.zendesk.com/agent/tickets/4"


@pytest.mark.parametrize(
    ("vendor", "common"),
    [
        ("new", TicketStatus.OPEN),
        ("open", TicketStatus.OPEN),
        ("pending", TicketStatus.ON_HOLD),
        ("hold", TicketStatus.ON_HOLD),
        ("solved", TicketStatus.CLOSED),
        ("closed", TicketStatus.CLOSED),
    ],
)
def test_status_mapping(vendor: str, common: TicketStatus) -> None:
    seen = [t for t in RECORDED["tickets"] if t["status"] == vendor]
    raw = seen[0] if seen else {**find("tickets", 4), "status": vendor}  # hold, closed: unrecorded
    record = mapping.to_ticket(raw)
    assert isinstance(record, RemoteRecord) and record.model.status == common
    assert record.enum_origins["status"] == vendor
    assert (record.model.completed_at is not None) == (common == "CLOSED")


def test_a_deleted_ticket_in_the_export_is_a_tombstone() -> None:
    assert mapping.to_ticket(find("tickets", 465)) == Tombstone(remote_id="465")


def test_users_split_by_role() -> None:
    customer = mapping.to_contact(find("users", 46406156914577))
    assert customer is not None and (customer.model.name, customer.model.email_address) == (
        "Customer",
        "example@zendesk.com",
    )
    admin = mapping.to_user(find("users", 6130907993114))  # zenpy's /users/me: the admin
    assert admin is not None and admin.model.name == "09cace" and admin.model.is_active is True
    agent = mapping.to_user(find("users", 6130871992602))
    assert agent is not None and agent.model.teams == ["6130852536346"]


def test_an_organization_a_group_and_an_upload() -> None:
    org = mapping.to_account(find("organizations", 46409100347537))
    assert isinstance(org, RemoteRecord) and org.model.name == "Test Organization 2026"
    assert mapping.to_account({"id": 1, "name": "gone", "deleted_at": "2026-01-01T00:00:00Z"}) == Tombstone(
        "1"
    )
    team = mapping.to_team(find("groups", 46406158244625))
    assert team is not None and (team.model.name, team.model.description) == ("Support", None)
    upload = mapping.to_attachment(find("attachments", 6164064675226), None, None)
    assert (upload.model.file_name, upload.model.content_type) == ("README.md", "application/x-genesis-rom")


def test_an_internal_note() -> None:
    records = mapping.comment_and_attachments({**find("comments", 46409876672657), "ticket_id": 5})
    note = records[0].model
    assert isinstance(note, Comment) and note.is_private is True and note.ticket == "5"
    assert note.body == "this is an internal note on a ticket\nThe ticket is not closed"


# --- write bodies -----------------------------------------------------------------------------------


def test_create_body() -> None:
    body = mapping.ticket_create_body(
        TicketCreate(
            name="Printer",
            description="Smoke",
            status=TicketStatus.ON_HOLD,
            priority=Priority.HIGH,
            assignees=["7"],
            assigned_teams=["8"],
            contact="9",
            account="10",
            tags=["a"],
            ticket_type="incident",
            due_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            access_level=TicketAccessLevel.PRIVATE,
            attachments=["upload-token"],
            remote_fields=[RemoteFieldRequest(remote_field_class="360001", value="x")],
            integration_params={"brand_id": 3, "subject": "never wins"},
        )
    )
    assert body == {
        "ticket": {
            "brand_id": 3,
            "subject": "Printer",
            "type": "incident",
            "tags": ["a"],
            "requester_id": 9,
            "organization_id": 10,
            "assignee_id": 7,
            "group_id": 8,
            "status": "pending",
            "priority": "high",
            "due_at": "2026-01-02T03:04:05+00:00",
            "custom_fields": [{"id": "360001", "value": "x"}],
            "comment": {"body": "Smoke", "public": False, "uploads": ["upload-token"]},
        }
    }
    # Without a description the subject is the first comment (Zendesk requires one).
    assert mapping.ticket_create_body(TicketCreate(name="Only a title")) == {
        "ticket": {"subject": "Only a title", "comment": {"body": "Only a title"}}
    }


def test_update_body_sends_only_what_was_set() -> None:
    assert mapping.ticket_update_body(TicketUpdate()) == {"ticket": {}}
    assert mapping.ticket_update_body(
        TicketUpdate(ticket_type=None, assignees=[], status=TicketStatus.CLOSED)
    ) == {"ticket": {"type": None, "assignee_id": None, "status": "solved"}}
    assert mapping.ticket_update_body(TicketUpdate(status=TicketStatus.IN_PROGRESS, priority=None)) == {
        "ticket": {"status": "open", "priority": None}
    }
    with pytest.raises(RejectedError, match="one assignee"):
        mapping.ticket_update_body(TicketUpdate(assignees=["1", "2"]))


def test_comment_bodies() -> None:
    private = CommentCreate(ticket="5", body="hi", is_private=True, user="3")
    assert mapping.comment_body(private) == {
        "ticket": {"comment": {"public": False, "body": "hi", "author_id": 3}}
    }
    public = CommentCreate(ticket="5", html_body="<p>hi</p>", contact="4")
    assert mapping.comment_body(public) == {
        "ticket": {"comment": {"public": True, "html_body": "<p>hi</p>", "author_id": 4}}
    }


RAW_MAPPERS = {
    "tickets": [mapping.to_ticket],
    "users": [mapping.to_contact, mapping.to_user],
    "organizations": [mapping.to_account],
    "groups": [mapping.to_team],
    "comments": [mapping.comment_and_attachments],
}


@pytest.mark.parametrize("kind", sorted(RAW_MAPPERS))
def test_undecoded_records_map_as_their_dicts_do(kind: str) -> None:
    """Pages hand mappers each record's bytes (``msgspec.Raw``): every recorded object maps to the
    same models, and its bytes become the same remote data, as from its decoded dict."""
    for raw in RECORDED[kind]:
        data = msgspec.json.encode(raw)
        for mapper in RAW_MAPPERS[kind]:
            from_dict, from_bytes = mapper(raw), mapper(msgspec.Raw(data))
            as_list = [from_dict] if not isinstance(from_dict, list) else from_dict
            raw_list = [from_bytes] if not isinstance(from_bytes, list) else from_bytes
            assert len(as_list) == len(raw_list)
            for a, b in zip(as_list, raw_list, strict=True):
                if isinstance(a, RemoteRecord):
                    assert isinstance(b, RemoteRecord)
                    assert (b.model, b.path, b.enum_origins) == (a.model, a.path, a.enum_origins)
                    assert msgspec.json.encode(b.raw) == msgspec.json.encode(a.raw)
                else:
                    assert a == b  # a Tombstone or None
