"""The protocol's resources exactly as the reference client (the ``ticket_sharing`` gem) serializes them.

Field order is the gem's declaration order, every field is always emitted (``null`` when unset), the JSON
is compact raw UTF-8 without escaping ``/``: that is what msgspec emits for these Structs. Parsing is
lenient like the gem's: unknown keys are dropped, ``original_id`` and custom fields take any JSON, times
are strings read by ``parse_time``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

#: The gem's ``strftime`` format: ``2011-01-17 01:01:01 -0800`` (no sub-seconds, offset kept).
TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"


class Actor(msgspec.Struct, kw_only=True):
    uuid: str | None = None
    name: str | None = None
    role: str | None = None  # "agent"; anything else is a non-agent (the gem's ``agent?``)

    @property
    def is_agent(self) -> bool:
        return self.role == "agent"


class Attachment(msgspec.Struct, kw_only=True):
    url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    display_filename: str | None = None


class Comment(msgspec.Struct, kw_only=True):
    uuid: str | None = None
    author: Actor | None = None
    body: str | None = None
    html_body: str | None = None
    authored_at: str | None = None
    # The gem sets ``public = true`` before applying the sender's attributes: omitted means public.
    public: bool | None = True
    attachments: list[Attachment] | None = None
    custom_fields: Any = None


class Ticket(msgspec.Struct, kw_only=True):
    uuid: str | None = None
    subject: str | None = None
    requested_at: str | None = None
    status: str | None = None
    requester: Actor | None = None
    # ``[]`` by default, as the gem's ``Ticket#comments``; a ``null`` on parse is read as "none new".
    comments: list[Comment] | None = msgspec.field(default_factory=list)
    current_actor: Actor | None = None
    tags: list[str] | None = None
    original_id: Any = None
    custom_fields: Any = None
    custom_status: str | None = None


class Agreement(msgspec.Struct, kw_only=True):
    receiver_url: str | None = None
    sender_url: str | None = None
    status: str | None = None
    uuid: str | None = None
    access_key: str | None = None
    name: str | None = None
    current_actor: Actor | None = None
    sync_tags: bool | None = None
    sync_custom_fields: bool | None = None
    allows_public_comments: bool | None = None


AGREEMENT_STATUSES = ("pending", "accepted", "declined", "inactive")

_encoder = msgspec.json.Encoder()
T = TypeVar("T")


class WireError(ValueError):
    """A body that is not a resource of the expected shape (the receiver answers 422)."""


def encode(resource: Ticket | Agreement) -> bytes:
    return _encoder.encode(resource)


def decode_ticket(body: bytes) -> Ticket:
    return _decode(body, Ticket)


def decode_agreement(body: bytes) -> Agreement:
    return _decode(body, Agreement)


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireError(str(exc)) from None


def format_time(moment: datetime) -> str:
    """The gem's time format; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=0).strftime(TIME_FORMAT)


def parse_time(value: str | None) -> datetime | None:
    """Lenient, like Ruby's ``Time.parse``: the gem format, ISO 8601 (``Z`` too); no offset means UTC
    (the gem would use its process's zone, which we cannot know). Unreadable: None, never an error."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    for fmt in (TIME_FORMAT, "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
