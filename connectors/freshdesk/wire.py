"""Freshdesk API v2 payloads as lenient msgspec Structs (unknown keys ignored, everything optional).

Shapes follow the recorded bodies in ``fixtures/vendors/freshdesk``. Lenient on purpose: Freshdesk
accounts differ by plan and age (``pyfreshdesk_all_tickets`` still carries v1-era ``ticket_type`` and
``custom_field``; agents' phone numbers arrive as integers), and a sync must not die on a new field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class _Wire(msgspec.Struct, kw_only=True):
    """Base: ``forbid_unknown_fields`` stays off, so new vendor keys are ignored."""


class Attachment(_Wire):
    id: int
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    file_size: int | None = None  # older payloads call it file_size
    attachment_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Ticket(_Wire):
    id: int
    subject: str | None = None
    description: str | None = None  # HTML
    description_text: str | None = None
    status: int | None = None
    priority: int | None = None
    source: int | None = None
    type: str | None = None
    ticket_type: str | None = None  # v1-era name of ``type`` (still in some samples)
    requester_id: int | None = None
    responder_id: int | None = None
    group_id: int | None = None
    company_id: int | None = None
    tags: list[str] | None = None
    due_by: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    spam: bool | None = None
    deleted: bool | None = None
    custom_fields: dict[str, Any] | None = None
    attachments: list[Attachment] | None = None


class Conversation(_Wire):
    id: int
    body: str | None = None  # HTML
    body_text: str | None = None
    incoming: bool | None = None  # true: came from outside (the requester), not from an agent
    private: bool | None = None  # true: a private note
    user_id: int | None = None
    source: int | None = None  # 0 reply, 2 note, ...
    ticket_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    attachments: list[Attachment] | None = None


class Contact(_Wire):
    id: int
    name: str | None = None
    email: str | None = None
    phone: str | int | None = None
    mobile: str | int | None = None
    description: str | None = None
    company_id: int | None = None
    active: bool | None = None
    deleted: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AgentContact(_Wire):
    """The ``contact{}`` an agent wraps (it has no id of its own: the agent's id is the user id)."""

    name: str | None = None
    email: str | None = None
    active: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Agent(_Wire):
    id: int
    contact: AgentContact | None = None
    deactivated: bool | None = None
    group_ids: list[int] | None = None
    role_ids: list[int] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Company(_Wire):
    id: int
    name: str | None = None
    description: str | None = None
    domains: list[str] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Group(_Wire):
    id: int
    name: str | None = None
    description: str | None = None
    agent_ids: list[int] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
