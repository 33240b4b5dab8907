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
    name: str | None | UnsetType = UNSET
    assignees: list[str] | None | UnsetType = UNSET
    assigned_teams: list[str] | None | UnsetType = UNSET
    creator: str | None | UnsetType = UNSET
    due_date: datetime | None | UnsetType = UNSET
    status: TicketStatus | None | UnsetType = UNSET
    description: str | None | UnsetType = UNSET
    collections: list[str] | None | UnsetType = UNSET
    ticket_type: str | None | UnsetType = UNSET
    account: str | None | UnsetType = UNSET
    contact: str | None | UnsetType = UNSET
    parent_ticket: str | None | UnsetType = UNSET
    access_level: TicketAccessLevel | None | UnsetType = UNSET
    tags: list[str] | None | UnsetType = UNSET
    roles: list[str] | None | UnsetType = UNSET
    completed_at: datetime | None | UnsetType = UNSET
    ticket_url: str | None | UnsetType = UNSET
    priority: Priority | None | UnsetType = UNSET
    integration_params: dict[str, Any] | None | UnsetType = UNSET
    linked_account_params: dict[str, Any] | None | UnsetType = UNSET
    remote_fields: list[RemoteFieldRequest] | None | UnsetType = UNSET


class TicketCreate(_TicketFields):
    """``TicketRequest``."""

    attachments: list[str] | None | UnsetType = UNSET


class TicketUpdate(_TicketFields):
    """``PatchedTicketRequest``: like a create but without ``attachments``."""


class CommentCreate(Input):
    """``CommentRequest``."""

    user: str | None | UnsetType = UNSET
    contact: str | None | UnsetType = UNSET
    body: str | None | UnsetType = UNSET
    html_body: str | None | UnsetType = UNSET
    ticket: str | None | UnsetType = UNSET
    is_private: bool | None | UnsetType = UNSET
    integration_params: dict[str, Any] | None | UnsetType = UNSET
    linked_account_params: dict[str, Any] | None | UnsetType = UNSET


class ContactCreate(Input):
    """``ContactRequest`` (endpoint planned for V1.1)."""

    name: str | None | UnsetType = UNSET
    email_address: str | None | UnsetType = UNSET
    phone_number: str | None | UnsetType = UNSET
    details: str | None | UnsetType = UNSET
    account: str | None | UnsetType = UNSET
    integration_params: dict[str, Any] | None | UnsetType = UNSET
    linked_account_params: dict[str, Any] | None | UnsetType = UNSET


class AttachmentCreate(Input):
    """``AttachmentRequest`` (endpoint planned for V1.1)."""

    file_name: str | None | UnsetType = UNSET
    ticket: str | None | UnsetType = UNSET
    file_url: str | None | UnsetType = UNSET
    content_type: str | None | UnsetType = UNSET
    uploaded_by: str | None | UnsetType = UNSET
    integration_params: dict[str, Any] | None | UnsetType = UNSET
    linked_account_params: dict[str, Any] | None | UnsetType = UNSET


class TicketCreateBody(msgspec.Struct, kw_only=True):
    model: TicketCreate


class TicketUpdateBody(msgspec.Struct, kw_only=True):
    model: TicketUpdate


class CommentCreateBody(msgspec.Struct, kw_only=True):
    model: CommentCreate


def set_fields(value: msgspec.Struct) -> dict[str, Any]:
    """The fields the caller actually sent, ``None`` included (a PATCH ``null`` clears)."""
    return {f: getattr(value, f) for f in value.__struct_fields__ if getattr(value, f) is not UNSET}
