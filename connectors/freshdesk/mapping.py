"""Pure mappings between Freshdesk v2 payloads and the common models, both directions.

Reads: raw JSON dict -> lenient wire Struct -> ``RemoteRecord`` (common model with vendor ids, the raw
payload, the vendor path, and the raw enum values in ``enum_origins``). ``enum_origins`` holds the
integer codes *as strings* (``"2"``, not ``"Open"``): codes are what the wire carries and are stable,
while status names are per-account (custom statuses) and the list endpoint does not send them.

Writes: common write inputs -> Freshdesk JSON bodies. Only fields the caller sent are written
(``set_fields``), except the defaults Freshdesk needs on create (see ``ticket_create_body``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from connectors.base import RemoteRecord, as_object, decode_record
from connectors.freshdesk import wire
from connectors.http.errors import RejectedError
from connectors.streams import iso_seconds
from schemas.models import Account, Attachment, Comment, CommonModel, Contact, Team, Ticket, User
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate, set_fields

W = TypeVar("W", bound=msgspec.Struct)
M = TypeVar("M", bound=CommonModel)

# Freshdesk's built-in statuses, plus the two custom statuses every account starts with (6 "Waiting on
# Customer", 7 "Waiting on Third Party": both wait on someone else, hence ON_HOLD). Other custom
# statuses (>= 8) are account-defined and always unresolved in Freshdesk, so they read as IN_PROGRESS;
# their names would need /api/v2/ticket_fields, which a pure mapping cannot call.
STATUS_FROM_VENDOR = {2: "OPEN", 3: "ON_HOLD", 4: "CLOSED", 5: "CLOSED"} | dict.fromkeys((6, 7), "ON_HOLD")
CUSTOM_STATUS = "IN_PROGRESS"
# Writing: IN_PROGRESS has no built-in counterpart; Open is what an agent works a ticket in.
# CLOSED writes Closed (5), not Resolved (4): the common word names the final state.
STATUS_TO_VENDOR: dict[str, int] = {"OPEN": 2, "IN_PROGRESS": 2, "ON_HOLD": 3, "CLOSED": 5}
PRIORITY_FROM_VENDOR: dict[int, str] = {1: "LOW", 2: "NORMAL", 3: "HIGH", 4: "URGENT"}
PRIORITY_TO_VENDOR: dict[str, int] = {v: k for k, v in PRIORITY_FROM_VENDOR.items()}

#: Create defaults: Freshdesk wants a status and priority on every new ticket; Open / Low are also
#: what its own UI preselects.
DEFAULT_STATUS = 2
DEFAULT_PRIORITY = 1

TICKETS_PATH = "/api/v2/tickets"
CONTACTS_PATH = "/api/v2/contacts"
AGENTS_PATH = "/api/v2/agents"
COMPANIES_PATH = "/api/v2/companies"
GROUPS_PATH = "/api/v2/groups"


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def _id(value: int | None) -> str | None:
    """Vendor ids, and the integer codes kept in ``enum_origins``, as strings."""
    return None if value is None else str(value)


def _ids(*values: int | None) -> list[Any]:
    # ``list[Any]``: relation lists are typed ``list[str | Model]`` and lists are invariant.
    return [str(v) for v in values if v is not None]


def _record(model: M, path: str, raw: Any, origins: dict[str, str | None] | None = None) -> RemoteRecord[M]:
    # ``remote_data`` stays empty on the model: the store builds it from ``path`` and ``raw``.
    return RemoteRecord(model=model, path=path, raw=raw, enum_origins=origins or {})


def status_of(code: int | None) -> str | None:
    if code is None:
        return None
    return STATUS_FROM_VENDOR.get(code, CUSTOM_STATUS if code >= 6 else None)


# --- reads -------------------------------------------------------------------------------------------


def to_ticket(t: wire.Ticket, base_url: str) -> Ticket:
    """``base_url`` is the desk (``https://acme.freshdesk.com``); tickets link to the agent view."""
    status = status_of(t.status)
    return Ticket(
        remote_id=str(t.id),
        name=t.subject,
        description=t.description_text or t.description,
        status=status,
        priority=PRIORITY_FROM_VENDOR.get(t.priority) if t.priority is not None else None,
        ticket_type=t.type or t.ticket_type,
        contact=_id(t.requester_id),
        assignees=_ids(t.responder_id),
        assigned_teams=_ids(t.group_id),
        account=_id(t.company_id),
        tags=list(t.tags or []),
        due_date=_utc(t.due_by),
        attachments=[str(a.id) for a in t.attachments or []],
        ticket_url=f"{base_url.rstrip('/')}/a/tickets/{t.id}",
        remote_created_at=_utc(t.created_at),
        remote_updated_at=_utc(t.updated_at),
        # Freshdesk reports no closing time on the ticket itself (only in ``include=stats``).
        completed_at=None,
        remote_was_deleted=bool(t.deleted),
    )


def to_comment(c: wire.Conversation) -> Comment:
    """``incoming`` tells who wrote it: true means from outside (the requester, a contact); otherwise
    an agent wrote it (replies and notes from the agent UI). ``user_id`` is that person's id."""
    author = _id(c.user_id)
    return Comment(
        remote_id=str(c.id),
        user=None if c.incoming else author,
        contact=author if c.incoming else None,
        body=c.body_text,
        html_body=c.body,
        ticket=_id(c.ticket_id),
        is_private=bool(c.private),
        remote_created_at=_utc(c.created_at),
        remote_was_deleted=False,
    )


def to_attachment(a: wire.Attachment, ticket_id: int | None, uploaded_by: int | None = None) -> Attachment:
    return Attachment(
        remote_id=str(a.id),
        file_name=a.name,
        ticket=_id(ticket_id),
        # A short-lived signed URL: good for an immediate download, not for storing forever.
        file_url=a.attachment_url,
        content_type=a.content_type,
        uploaded_by=_id(uploaded_by),
        remote_created_at=_utc(a.created_at),
        remote_was_deleted=False,
    )


def to_contact(c: wire.Contact) -> Contact:
    phone = c.phone if c.phone is not None else c.mobile
    return Contact(
        remote_id=str(c.id),
        name=c.name,
        email_address=c.email,
        phone_number=None if phone is None else str(phone),
        details=c.description,
        account=_id(c.company_id),
        remote_was_deleted=bool(c.deleted),
    )


def to_user(a: wire.Agent) -> User:
    person = a.contact or wire.AgentContact()
    # ``deactivated`` is the agent's own switch; older payloads lack it, then the contact's flag decides.
    active = (not a.deactivated) if a.deactivated is not None else person.active
    return User(
        remote_id=str(a.id),
        name=person.name,
        email_address=person.email,
        is_active=active,
        teams=None if a.group_ids is None else _ids(*a.group_ids),
        remote_was_deleted=False,
    )


def to_account(c: wire.Company) -> Account:
    return Account(remote_id=str(c.id), name=c.name, domains=list(c.domains or []), remote_was_deleted=False)


def to_team(g: wire.Group) -> Team:
    return Team(remote_id=str(g.id), name=g.name, description=g.description, remote_was_deleted=False)


def decode(raw: Any, kind: type[W]) -> W:
    return decode_record(raw, kind)


def ticket_record(raw: Any, base_url: str) -> RemoteRecord[Ticket]:
    t = decode(raw, wire.Ticket)
    kind = t.type or t.ticket_type
    origins = {"status": _id(t.status), "priority": _id(t.priority), "ticket_type": kind}
    return _record(to_ticket(t, base_url), TICKETS_PATH, raw, origins)


def comment_record(raw: Any) -> RemoteRecord[Comment]:
    c = decode(raw, wire.Conversation)
    return _record(to_comment(c), f"{TICKETS_PATH}/{c.ticket_id}/conversations", raw)


def _simple(kind: type[W], to_model: Callable[[W], M], path: str) -> Callable[[Any], RemoteRecord[M]]:
    """The raw -> record mapper of a model whose mapping needs nothing but the payload."""

    def mapper(raw: Any) -> RemoteRecord[M]:
        return _record(to_model(decode(raw, kind)), path, raw)

    return mapper


contact_record = _simple(wire.Contact, to_contact, CONTACTS_PATH)
user_record = _simple(wire.Agent, to_user, AGENTS_PATH)
account_record = _simple(wire.Company, to_account, COMPANIES_PATH)
team_record = _simple(wire.Group, to_team, GROUPS_PATH)


def comment_and_attachments(raw: Any) -> list[RemoteRecord[Any]]:
    """A conversation and its attachments, uploaded by its author. Freshdesk lists attachments nowhere
    else, so they ride along with the Comment stream (side-loaded records)."""
    c = decode(raw, wire.Conversation)
    path = f"{TICKETS_PATH}/{c.ticket_id}/conversations"
    # The wire list was decoded from the raw list: same length, same order.
    pairs = zip(c.attachments or [], as_object(raw).get("attachments") if c.attachments else [], strict=True)
    attachments = [_record(to_attachment(a, c.ticket_id, c.user_id), path, r) for a, r in pairs]
    return [_record(to_comment(c), path, raw), *attachments]


# --- writes ------------------------------------------------------------------------------------------


def _single(field: str, values: list[str] | None) -> int | None:
    """Freshdesk has one responder and one group per ticket: refuse lists it cannot hold."""
    if not values:
        return None
    if len(values) > 1:
        raise RejectedError(f"{field}: Freshdesk tickets hold one value, got {len(values)}")
    return _int(field, values[0])


def _int(field: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise RejectedError(f"{field}: {value!r} is not a Freshdesk id") from None


def _ticket_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Common ticket fields -> Freshdesk keys, for whatever subset the caller sent."""
    converters: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "name": ("subject", lambda v: v),
        "description": ("description", lambda v: v),
        "status": ("status", lambda v: None if v is None else STATUS_TO_VENDOR[v]),
        "priority": ("priority", lambda v: None if v is None else PRIORITY_TO_VENDOR[v]),
        "ticket_type": ("type", lambda v: v),
        "contact": ("requester_id", lambda v: _int("contact", v)),
        "assignees": ("responder_id", lambda v: _single("assignees", v)),
        "assigned_teams": ("group_id", lambda v: _single("assigned_teams", v)),
        "account": ("company_id", lambda v: _int("account", v)),
        "parent_ticket": ("parent_id", lambda v: _int("parent_ticket", v)),
        "tags": ("tags", lambda v: list(v or [])),
        "due_date": ("due_by", lambda v: None if v is None else iso_seconds(v)),
        "remote_fields": ("custom_fields", lambda v: {f.remote_field_class: f.value for f in v or []}),
    }
    body = {key: convert(fields[name]) for name, (key, convert) in converters.items() if name in fields}
    # ``integration_params`` is the documented escape hatch for vendor-only keys (``email``, ``source``,
    # ``cc_emails``): passed through verbatim, below our mapped keys so it cannot silently override them.
    extra = fields.get("integration_params") or {}
    return {**extra, **body}


#: Keys any one of which names a ticket's requester on create.
REQUESTER_KEYS = frozenset(
    {"requester_id", "email", "phone", "facebook_id", "twitter_id", "unique_external_id"}
)


def has_requester(ticket: TicketCreate) -> bool:
    """Whether ``ticket`` names its requester as a contact or a vendor key (else the connector looks
    up an agent's e-mail: the ticket's ``creator``, or the API key's own agent)."""
    extra = ticket.integration_params or {}
    return bool(ticket.contact or REQUESTER_KEYS & set(extra))


def ticket_create_body(ticket: TicketCreate, requester_email: str | None = None) -> dict[str, Any]:
    """``POST /api/v2/tickets`` body.

    Freshdesk needs a requester, a subject, a description, a status and a priority. The requester is
    the ticket's ``contact`` (``requester_id``), or a key in ``integration_params`` (``email``,
    ``phone``, ...), else ``requester_email``: the connector passes the e-mail of the ``creator`` agent
    or of the API key's own agent. An agent goes by e-mail, not id, because Freshdesk checks
    ``requester_id`` against contacts ("There is no contact matching the given requester_id") while an
    e-mail is matched against every user, agents included. Missing subject: the description's first
    line; missing description: the subject, so the first message is never blank. Status Open, priority
    Low.
    """
    fields = set_fields(ticket)
    body = _ticket_fields(fields)
    if not any(body.get(key) for key in REQUESTER_KEYS):
        if not requester_email:
            raise RejectedError("contact: Freshdesk tickets need a requester (contact or creator)")
        body["email"] = requester_email
    if not body.get("subject") and not body.get("description"):
        raise RejectedError("name: Freshdesk tickets need a subject or a description")
    text = html.unescape(re.sub(r"<[^>]*>", " ", str(body.get("description")))).strip()
    body["subject"] = body.get("subject") or (text.splitlines() or [""])[0].strip()[:255]
    body["description"] = body.get("description") or html.escape(str(body["subject"]))
    body["status"] = body.get("status") or DEFAULT_STATUS
    body["priority"] = body.get("priority") or DEFAULT_PRIORITY
    return body


def ticket_update_body(changes: TicketUpdate) -> dict[str, Any]:
    """``PUT /api/v2/tickets/{id}`` body: only the fields sent; ``null`` clears where Freshdesk allows."""
    return _ticket_fields(set_fields(changes))


def _html(comment: CommentCreate) -> str:
    """Freshdesk bodies are HTML: prefer ``html_body``; plain text is escaped, line breaks kept."""
    if comment.html_body:
        return str(comment.html_body)
    if not comment.body:
        raise RejectedError("body: a comment needs a body or an html_body")
    return html.escape(str(comment.body)).replace("\n", "<br>")


def reply_body(comment: CommentCreate) -> dict[str, Any]:
    """``POST /tickets/{id}/reply``: a public agent reply, e-mailed to the requester."""
    body: dict[str, Any] = {"body": _html(comment)}
    if comment.user:
        body["user_id"] = _int("user", str(comment.user))
    return body


def note_body(comment: CommentCreate) -> dict[str, Any]:
    """``POST /tickets/{id}/notes``: private notes, and public comments written by a contact
    (``incoming: true`` makes Freshdesk show them as from outside, as it does customer replies)."""
    author = comment.user or comment.contact
    body: dict[str, Any] = {"body": _html(comment), "private": bool(comment.is_private)}
    if not comment.is_private and comment.contact and not comment.user:
        body["incoming"] = True
    if author:
        body["user_id"] = _int("user", str(author))
    return body


def is_note(comment: CommentCreate) -> bool:
    """Private comments, and public ones by a contact, are notes; public agent comments are replies."""
    return bool(comment.is_private) or bool(comment.contact and not comment.user)
