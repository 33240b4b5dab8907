"""The common models, field for field as Merge's Unified Ticketing API (merge-api.md §4).

Relations are an id string by default and the nested object when named in ``expand``. Connectors fill
relation fields with *vendor* ids; the store swaps them for our ids (see ``app.db.ids``). Enum-valued
fields are typed ``str`` on read models because ``show_enum_origins`` replaces them with the vendor's raw
value, exactly as Merge does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import msgspec

from schemas.base import Base


class RemoteData(Base):
    path: str
    data: Any = None


class RemoteField(Base):
    remote_field_class: Any
    value: Any = None


class Permission(Base):
    id: str | None = None
    remote_id: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    effect: str | None = None
    actions: list[str] | None = None
    applied_to_users: list[str] | None = None
    applied_to_roles: list[str] | None = None
    applied_to_teams: list[str] | None = None
    applied_to_collections: list[str] | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None


class CommonModel(Base):
    """Fields every common model carries; ``id``/timestamps are ours, ``remote_*`` the vendor's."""

    id: str | None = None
    remote_id: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


class Account(CommonModel):
    name: str | None = None
    domains: list[str] | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Team(CommonModel):
    name: str | None = None
    description: str | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Role(CommonModel):
    name: str | None = None
    ticket_actions: list[str] | None = None
    ticket_access: str | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Tag(CommonModel):
    name: str | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class User(CommonModel):
    name: str | None = None
    email_address: str | None = None
    is_active: bool | None = None
    teams: list[str | Team] | None = None
    roles: list[str | Role] | None = None
    avatar: str | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Contact(CommonModel):
    name: str | None = None
    email_address: str | None = None
    phone_number: str | None = None
    details: str | None = None
    account: str | Account | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Collection(CommonModel):
    name: str | None = None
    description: str | None = None
    access_level: str | None = None
    collection_type: str | None = None
    parent_collection: str | Collection | None = None
    permissions: list[str | Permission] | None = None
    collection_url: str | None = None
    remote_created_at: datetime | None = None
    remote_updated_at: datetime | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Ticket(CommonModel):
    name: str | None = None
    assignees: list[str | User] | None = None
    assigned_teams: list[str | Team] | None = None
    creator: str | User | None = None
    due_date: datetime | None = None
    status: str | None = None
    description: str | None = None
    collections: list[str | Collection] | None = None
    ticket_type: str | None = None
    account: str | Account | None = None
    contact: str | Contact | None = None
    parent_ticket: str | Ticket | None = None
    attachments: list[str | Attachment] | None = None
    access_level: str | None = None
    permissions: list[Permission] | None = None
    tags: list[str] | None = None
    roles: list[str] | None = None
    ticket_url: str | None = None
    priority: str | None = None
    remote_created_at: datetime | None = None
    remote_updated_at: datetime | None = None
    completed_at: datetime | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None
    remote_fields: list[RemoteField] | None = None


class Comment(CommonModel):
    user: str | User | None = None
    contact: str | Contact | None = None
    body: str | None = None
    html_body: str | None = None
    ticket: str | Ticket | None = None
    is_private: bool | None = None
    remote_created_at: datetime | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


class Attachment(CommonModel):
    file_name: str | None = None
    ticket: str | Ticket | None = None
    file_url: str | None = None
    content_type: str | None = None
    uploaded_by: str | None = None
    remote_created_at: datetime | None = None
    remote_was_deleted: bool | None = None
    field_mappings: dict[str, Any] | None = None
    remote_data: list[RemoteData] | None = None


AnyModel = Ticket | Comment | Contact | Account | User | Team | Attachment | Collection | Tag | Role

#: Model name (as in Merge's ``model_id`` "ticketing.<Name>") -> Struct.
MODELS: Final[dict[str, type[CommonModel]]] = {
    "Ticket": Ticket,
    "Comment": Comment,
    "Contact": Contact,
    "Account": Account,
    "User": User,
    "Team": Team,
    "Attachment": Attachment,
    "Collection": Collection,
    "Tag": Tag,
    "Role": Role,
}


class Relation(msgspec.Struct, frozen=True, kw_only=True):
    """A field of a model that points at another common model."""

    target: str
    many: bool = False


#: Which fields are relations, declared once and used by expand, id translation and filters.
RELATIONS: Final[dict[str, dict[str, Relation]]] = {
    "Ticket": {
        "assignees": Relation(target="User", many=True),
        "assigned_teams": Relation(target="Team", many=True),
        "creator": Relation(target="User"),
        "collections": Relation(target="Collection", many=True),
        "account": Relation(target="Account"),
        "contact": Relation(target="Contact"),
        "parent_ticket": Relation(target="Ticket"),
        "attachments": Relation(target="Attachment", many=True),
    },
    "Comment": {
        "user": Relation(target="User"),
        "contact": Relation(target="Contact"),
        "ticket": Relation(target="Ticket"),
    },
    "Contact": {"account": Relation(target="Account")},
    "User": {"teams": Relation(target="Team", many=True), "roles": Relation(target="Role", many=True)},
    "Attachment": {"ticket": Relation(target="Ticket")},
    "Collection": {"parent_collection": Relation(target="Collection")},
    "Account": {},
    "Team": {},
    "Tag": {},
    "Role": {},
}

#: Fields whose normalized enum value can be swapped for the vendor's raw value (``show_enum_origins``).
ENUM_ORIGIN_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "Ticket": ("priority", "status", "ticket_type"),
    "Collection": ("collection_type",),
}
