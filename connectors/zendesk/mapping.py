"""Pure mappings between Zendesk payloads and the common models, both directions.

Status: new/open -> OPEN (waiting on the agents), pending/hold -> ON_HOLD (waiting on the requester
or a third party), solved/closed -> CLOSED; an incremental export's ``deleted`` is a tombstone. Users
split by role: end users are Contacts, agents and admins are Users. The raw status, priority and type
stay in ``enum_origins``; the raw payload is the record's ``remote_data``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from connectors.base import RemoteRecord, as_object, decode_record
from connectors.http.errors import RejectedError, UpstreamError
from connectors.streams import Tombstone
from connectors.zendesk import wire
from schemas.models import Account, Attachment, Comment, CommonModel, Contact, Team, Ticket, User
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate, set_fields

W = TypeVar("W", bound=msgspec.Struct)
M = TypeVar("M", bound=CommonModel)

STATUS_FROM_VENDOR = {
    "new": "OPEN",
    "open": "OPEN",
    "pending": "ON_HOLD",
    "hold": "ON_HOLD",
    "solved": "CLOSED",
    "closed": "CLOSED",
}
# IN_PROGRESS has no Zendesk word of its own: "open" is what an agent works a ticket in.
STATUS_TO_VENDOR = {"OPEN": "open", "IN_PROGRESS": "open", "ON_HOLD": "pending", "CLOSED": "solved"}
AGENT_ROLES = frozenset({"agent", "admin"})


def _id(value: int | None) -> str | None:
    return None if value is None else str(value)


def _ids(*values: int | None) -> list[Any]:
    return [str(v) for v in values if v is not None]


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _decode(raw: Any, wire_type: type[W]) -> W:
    return decode_record(raw, wire_type, strict=False)


def _record(model: M, path: str, raw: Any, origins: dict[str, str | None] | None = None) -> RemoteRecord[M]:
    return RemoteRecord(model=model, path=path, raw=raw, enum_origins=origins or {})


def agent_url(api_url: str | None, ticket_id: int) -> str | None:
    """``https://acme.zendesk.com/api/v2/tickets/7.json`` -> the agent UI's ``.../agent/tickets/7``."""
    if not api_url or "/api/v2/" not in api_url:
        return None
    return f"{api_url.split('/api/v2/')[0]}/agent/tickets/{ticket_id}"


def to_ticket(raw: Any) -> RemoteRecord[Ticket] | Tombstone:
    t = _decode(raw, wire.Ticket)
    if t.status == "deleted":
        return Tombstone(remote_id=str(t.id))
    model = Ticket(
        remote_id=str(t.id),
        name=t.subject or t.raw_subject,
        description=t.description,
        status=STATUS_FROM_VENDOR.get(t.status or ""),
        priority=t.priority.upper() if t.priority else None,
        ticket_type=t.type,
        assignees=_ids(t.assignee_id),
        assigned_teams=_ids(t.group_id),
        creator=_id(t.submitter_id),
        contact=_id(t.requester_id),
        account=_id(t.organization_id),
        parent_ticket=_id(t.problem_id),
        due_date=_utc(t.due_at),
        tags=list(t.tags or []),
        ticket_url=agent_url(t.url, t.id),
        access_level="PUBLIC" if t.is_public else ("PRIVATE" if t.is_public is False else None),
        remote_created_at=_utc(t.created_at),
        remote_updated_at=_utc(t.updated_at),
        completed_at=_utc(t.updated_at) if t.status in ("solved", "closed") else None,
    )
    origins = {"status": t.status, "priority": t.priority, "ticket_type": t.type}
    return _record(model, f"/api/v2/tickets/{t.id}.json", raw, origins)


def to_attachment(raw: Any, ticket_id: str | None, author: str | None) -> RemoteRecord[Attachment]:
    a = _decode(raw, wire.Attachment)
    model = Attachment(
        remote_id=str(a.id),
        file_name=a.file_name,
        file_url=a.content_url,
        content_type=a.content_type,
        ticket=ticket_id,
        uploaded_by=author,
    )
    return _record(model, f"/api/v2/attachments/{a.id}.json", raw)


def to_comment(raw: Any, ticket_id: str | None = None) -> RemoteRecord[Comment]:
    c = _decode(raw, wire.Comment)
    ticket = ticket_id or (None if c.ticket_id is None else str(c.ticket_id))
    model = Comment(
        remote_id=str(c.id),
        ticket=ticket,
        # Zendesk names the author by user id only; agents and end users share the id space. We point
        # at the User (agents): an end user's comment then expands to nothing rather than to a wrong
        # record.
        user=_id(c.author_id),
        body=c.plain_body or c.body,
        html_body=c.html_body,
        is_private=None if c.public is None else not c.public,
        remote_created_at=_utc(c.created_at),
    )
    return _record(model, f"/api/v2/tickets/{ticket}/comments.json", raw)


def comment_and_attachments(raw: Any) -> list[RemoteRecord[Any]]:
    """A comment and the files attached to it (Zendesk has no attachment list of its own)."""
    comment = to_comment(raw)
    ticket, author = comment.model.ticket, comment.model.user
    files = [
        to_attachment(a, str(ticket) if ticket else None, str(author) if author else None)
        for a in as_object(raw).get("attachments") or []
    ]
    return [comment, *files]


def to_contact(raw: Any) -> RemoteRecord[Contact] | Tombstone | None:
    u = _decode(raw, wire.User)
    return None if u.role in AGENT_ROLES else _contact(u, raw)


def to_user(raw: Any) -> RemoteRecord[User] | Tombstone | None:
    u = _decode(raw, wire.User)
    return _user(u, raw) if u.role in AGENT_ROLES else None


def to_contact_or_user(raw: Any) -> list[RemoteRecord[Any] | Tombstone]:
    """One users-export record: agents and admins are Users, everyone else (end users) a Contact. It
    is also a tombstone in the other model: a user whose role changed (an end user made agent) is no
    longer what it was stored as, and the export says so only by the new role."""
    u = _decode(raw, wire.User)
    if u.role in AGENT_ROLES:
        return [_user(u, raw), Tombstone(remote_id=str(u.id), model="Contact")]
    return [_contact(u, raw), Tombstone(remote_id=str(u.id), model="User")]


def _deleted(u: wire.User) -> bool:
    # Zendesk deletes users softly: exports and lists keep them with ``active: false`` (and their
    # email removed; the recorded users export has two). Suspension is ``suspended``, not this.
    return u.active is False


def _contact(u: wire.User, raw: Any) -> RemoteRecord[Contact] | Tombstone:
    if _deleted(u):
        return Tombstone(remote_id=str(u.id), model="Contact")
    model = Contact(
        remote_id=str(u.id),
        name=u.name,
        email_address=u.email,
        phone_number=u.phone,
        details=u.details or u.notes,
        account=_id(u.organization_id),
    )
    return _record(model, f"/api/v2/users/{u.id}.json", raw)


def _user(u: wire.User, raw: Any) -> RemoteRecord[User] | Tombstone:
    if _deleted(u):
        return Tombstone(remote_id=str(u.id), model="User")
    photo = u.photo or {}
    model = User(
        remote_id=str(u.id),
        name=u.name,
        email_address=u.email,
        is_active=bool(u.active) and not u.suspended,
        teams=_ids(u.default_group_id),
        avatar=photo.get("content_url"),
    )
    return _record(model, f"/api/v2/users/{u.id}.json", raw)


def to_account(raw: Any) -> RemoteRecord[Account] | Tombstone:
    o = _decode(raw, wire.Organization)
    if o.deleted_at is not None:
        return Tombstone(remote_id=str(o.id))
    model = Account(remote_id=str(o.id), name=o.name, domains=list(o.domain_names or []))
    return _record(model, f"/api/v2/organizations/{o.id}.json", raw)


def to_team(raw: Any) -> RemoteRecord[Team] | None:
    g = _decode(raw, wire.Group)
    if g.deleted:
        return None
    model = Team(remote_id=str(g.id), name=g.name, description=g.description or None)
    return _record(model, f"/api/v2/groups/{g.id}.json", raw)


# --- writes --------------------------------------------------------------------------------------


#: Common ticket fields Zendesk takes as they are, and the relations that hold one Zendesk id.
PLAIN = {"name": "subject", "ticket_type": "type", "tags": "tags"}
RELATIONS = {
    "contact": "requester_id",
    "creator": "submitter_id",
    "account": "organization_id",
    "parent_ticket": "problem_id",
}
#: Lists in the common model, one id on a Zendesk ticket.
SINGLE = {"assignees": "assignee_id", "assigned_teams": "group_id"}
#: Every ticket field the write bodies understand (the connector's ``supported_fields``).
TICKET_FIELDS = (
    *PLAIN,
    *RELATIONS,
    *SINGLE,
    "description",
    "status",
    "priority",
    "due_date",
    "remote_fields",
)


def _single(values: list[str] | None, what: str) -> int | None:
    if not values:
        return None
    if len(values) > 1:
        raise RejectedError(f"Zendesk tickets have one {what}; got {len(values)}")
    return int(values[0])


def _ticket_fields(fields: dict[str, Any]) -> dict[str, Any]:
    body = {target: fields[key] for key, target in PLAIN.items() if key in fields}
    body |= {t: int(fields[k]) if fields[k] else None for k, t in RELATIONS.items() if k in fields}
    body |= {t: _single(fields[k], k.rstrip("s")) for k, t in SINGLE.items() if k in fields}
    if "status" in fields:
        body["status"] = STATUS_TO_VENDOR[fields["status"]] if fields["status"] else None
    if "priority" in fields:
        body["priority"] = fields["priority"].lower() if fields["priority"] else None
    if "due_date" in fields:
        body["due_at"] = fields["due_date"].isoformat() if fields["due_date"] else None
    if fields.get("remote_fields"):
        body["custom_fields"] = [
            {"id": f.remote_field_class, "value": f.value} for f in fields["remote_fields"]
        ]
    return body


def _vendor_params(fields: dict[str, Any]) -> dict[str, Any]:
    # integration_params pass straight through to Zendesk, but never override what we mapped.
    return dict(fields.get("integration_params") or {})


def ticket_create_body(ticket: TicketCreate) -> dict[str, Any]:
    fields = set_fields(ticket)
    body = {**_vendor_params(fields), **_ticket_fields(fields)}
    # Zendesk has no writable description: the first comment is the description.
    # A private first comment is what makes a Zendesk ticket private (``is_public`` is read-only), and
    # files ride on it as upload tokens (``upload_attachment``).
    comment: dict[str, Any] = {"body": fields.get("description") or fields.get("name") or ""}
    if fields.get("access_level") == "PRIVATE":
        comment["public"] = False
    if fields.get("attachments"):
        comment["uploads"] = list(fields["attachments"])
    return {"ticket": {**body, "comment": comment}}


def ticket_update_body(changes: TicketUpdate) -> dict[str, Any]:
    fields = set_fields(changes)
    return {"ticket": {**_vendor_params(fields), **_ticket_fields(fields)}}


def comment_body(comment: CommentCreate) -> dict[str, Any]:
    fields = set_fields(comment)
    body: dict[str, Any] = {"public": not bool(fields.get("is_private"))}
    if fields.get("html_body"):
        body["html_body"] = fields["html_body"]
    if fields.get("body"):
        body["body"] = fields["body"]
    author = fields.get("user") or fields.get("contact")
    if author:
        body["author_id"] = int(author)
    return {"ticket": {"comment": {**_vendor_params(fields), **body}}}


def comment_from_audit(audit: dict[str, Any], ticket_id: str) -> RemoteRecord[Comment]:
    """The comment a ticket update created, from the update's audit events."""
    for event in audit.get("events") or []:
        if event.get("type") == "Comment":
            return to_comment({**event, "created_at": audit.get("created_at")}, ticket_id)
    raise UpstreamError("Zendesk accepted the comment but its audit names no Comment event")
