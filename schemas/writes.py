"""Write inputs: the ``model`` payloads of POST and PATCH (merge-api.md §4, write models).

Every field defaults to ``UNSET`` so that a partial update carries only what the caller sent; an explicit
``null`` is kept as ``None`` and clears the field. Relations are written as our id strings. Enums are
strict here (an unknown value is a 400), unlike read models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from schemas.base import Input, Priority, TicketAccessLevel, TicketStatus


class RemoteFieldRequest(msgspec.Struct, kw_only=True):
    remote_field_class: str
    value: Any = None


class _TicketFields(Input):
    name: str | UnsetType | None = UNSET
    assignees: list[str] | UnsetType | None = UNSET
    assigned_teams: list[str] | UnsetType | None = UNSET
    creator: str | UnsetType | None = UNSET
    due_date: datetime | UnsetType | None = UNSET
    status: TicketStatus | UnsetType | None = UNSET
    description: str | UnsetType | None = UNSET
    collections: list[str] | UnsetType | None = UNSET
    ticket_type: str | UnsetType | None = UNSET
    account: str | UnsetType | None = UNSET
    contact: str | UnsetType | None = UNSET
    parent_ticket: str | UnsetType | None = UNSET
    access_level: TicketAccessLevel | UnsetType | None = UNSET
    tags: list[str] | UnsetType | None = UNSET
    roles: list[str] | UnsetType | None = UNSET
    completed_at: datetime | UnsetType | None = UNSET
    ticket_url: str | UnsetType | None = UNSET
    priority: Priority | UnsetType | None = UNSET
    integration_params: dict[str, Any] | UnsetType | None = UNSET
    linked_account_params: dict[str, Any] | UnsetType | None = UNSET
    remote_fields: list[RemoteFieldRequest] | UnsetType | None = UNSET


class TicketCreate(_TicketFields):
    """``TicketRequest``."""

    attachments: list[str] | UnsetType | None = UNSET


class TicketUpdate(_TicketFields):
    """``PatchedTicketRequest``: like a create but without ``attachments``."""


class CommentCreate(Input):
    """``CommentRequest``."""

    user: str | UnsetType | None = UNSET
    contact: str | UnsetType | None = UNSET
    body: str | UnsetType | None = UNSET
    html_body: str | UnsetType | None = UNSET
    ticket: str | UnsetType | None = UNSET
    is_private: bool | UnsetType | None = UNSET
    integration_params: dict[str, Any] | UnsetType | None = UNSET
    linked_account_params: dict[str, Any] | UnsetType | None = UNSET


class ContactCreate(Input):
    """``ContactRequest`` (endpoint planned for V1.1)."""

    name: str | UnsetType | None = UNSET
    email_address: str | UnsetType | None = UNSET
    phone_number: str | UnsetType | None = UNSET
    details: str | UnsetType | None = UNSET
    account: str | UnsetType | None = UNSET
    integration_params: dict[str, Any] | UnsetType | None = UNSET
    linked_account_params: dict[str, Any] | UnsetType | None = UNSET


class AttachmentCreate(Input):
    """``AttachmentRequest`` (endpoint planned for V1.1)."""

    file_name: str | UnsetType | None = UNSET
    ticket: str | UnsetType | None = UNSET
    file_url: str | UnsetType | None = UNSET
    content_type: str | UnsetType | None = UNSET
    uploaded_by: str | UnsetType | None = UNSET
    integration_params: dict[str, Any] | UnsetType | None = UNSET
    linked_account_params: dict[str, Any] | UnsetType | None = UNSET


class TicketCreateBody(msgspec.Struct, kw_only=True):
    model: TicketCreate


class TicketUpdateBody(msgspec.Struct, kw_only=True):
    model: TicketUpdate


class CommentCreateBody(msgspec.Struct, kw_only=True):
    model: CommentCreate


def set_fields(value: msgspec.Struct) -> dict[str, Any]:
    """The fields the caller actually sent, ``None`` included (a PATCH ``null`` clears)."""
    return {f: getattr(value, f) for f in value.__struct_fields__ if getattr(value, f) is not UNSET}
