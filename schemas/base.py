"""Shared Struct configuration and the enums of the common model.

The wire format is Merge's: every field of a read model is always present (``null`` when unknown), and
datetimes are ISO-8601 UTC with ``Z``. Read models therefore keep ``omit_defaults=False``; write inputs use
``msgspec.UNSET`` so that "not sent" and "sent as null" stay distinguishable (PATCH clears on null).
"""

from __future__ import annotations

import enum

import msgspec


class Base(msgspec.Struct, kw_only=True):
    """Base of every read model: all fields emitted, unknown input keys ignored."""


class Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=False, omit_defaults=True):
    """Base of every write input: unset fields stay ``UNSET`` and are never sent on."""


class TicketStatus(enum.StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"


class Priority(enum.StrEnum):
    URGENT = "URGENT"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"


class TicketAccessLevel(enum.StrEnum):
    COMPANY = "COMPANY"
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"
    COLLECTION = "COLLECTION"


class CollectionAccessLevel(enum.StrEnum):
    PRIVATE = "PRIVATE"
    COMPANY = "COMPANY"
    PUBLIC = "PUBLIC"
    PARENT_COLLECTION = "PARENT_COLLECTION"


class CollectionType(enum.StrEnum):
    LIST = "LIST"
    PROJECT = "PROJECT"


class TicketAction(enum.StrEnum):
    VIEW = "VIEW"
    CREATE = "CREATE"
    EDIT = "EDIT"
    DELETE = "DELETE"
    CLOSE = "CLOSE"
    ASSIGN = "ASSIGN"


class TicketAccess(enum.StrEnum):
    ALL = "ALL"
    ASSIGNED_ONLY = "ASSIGNED_ONLY"
    TEAM_ONLY = "TEAM_ONLY"


class PermissionEffect(enum.StrEnum):
    ALLOWED = "ALLOWED"
    DENIED = "DENIED"
    INHERITED = "INHERITED"


class LinkedAccountStatus(enum.StrEnum):
    COMPLETE = "COMPLETE"
    INCOMPLETE = "INCOMPLETE"
    RELINK_NEEDED = "RELINK_NEEDED"
    IDLE = "IDLE"


class SyncState(enum.StrEnum):
    SYNCING = "SYNCING"
    DONE = "DONE"
    FAILED = "FAILED"
    DISABLED = "DISABLED"
    PAUSED = "PAUSED"
    PARTIALLY_SYNCED = "PARTIALLY_SYNCED"


class Category(enum.StrEnum):
    HRIS = "hris"
    ATS = "ats"
    ACCOUNTING = "accounting"
    TICKETING = "ticketing"
    CRM = "crm"
    MKTG = "mktg"
    FILESTORAGE = "filestorage"
