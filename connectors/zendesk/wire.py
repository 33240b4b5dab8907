"""Zendesk payloads, as lenient Structs: unknown keys ignored, anything may be null.

Shapes follow the recorded responses in the fixtures (zenpy cassettes, Nango recordings) and
https://developer.zendesk.com/api-reference/ticketing/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Wire(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    pass


class Attachment(Wire):
    id: int
    file_name: str | None = None
    content_url: str | None = None
    content_type: str | None = None
    size: int | None = None


class Ticket(Wire):
    id: int
    url: str | None = None
    subject: str | None = None
    raw_subject: str | None = None
    description: str | None = None
    type: str | None = None
    status: str | None = None
    priority: str | None = None
    requester_id: int | None = None
    submitter_id: int | None = None
    assignee_id: int | None = None
    organization_id: int | None = None
    group_id: int | None = None
    problem_id: int | None = None
    due_at: datetime | None = None
    tags: list[str] | None = None
    is_public: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Comment(Wire):
    id: int | str  # str: classic v1 comments have no ids; we name them ``<ticket>-<position>``
    ticket_id: int | str | None = None  # absent from Zendesk's comments: set from the parent we read
    author_id: int | None = None
    body: str | None = None
    html_body: str | None = None
    plain_body: str | None = None
    public: bool | None = None
    created_at: datetime | None = None
    attachments: list[Attachment] | None = None


class User(Wire):
    id: int
    url: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    role: str | None = None
    active: bool | None = None
    suspended: bool | None = None
    organization_id: int | None = None
    details: str | None = None
    notes: str | None = None
    default_group_id: int | None = None
    photo: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Organization(Wire):
    id: int
    name: str | None = None
    domain_names: list[str] | None = None
    deleted_at: datetime | None = None


class Group(Wire):
    id: int
    name: str | None = None
    description: str | None = None
    deleted: bool | None = None
