"""Pure mappings between the protocol and the common model: statuses, ids, author lines.

Statuses: the protocol's are free-form; Zendesk's own are new/open/pending/hold/solved/closed.
In: new/open -> OPEN, pending/hold -> ON_HOLD, solved/closed -> CLOSED (anything else: no change).
Out: OPEN/IN_PROGRESS -> open, ON_HOLD -> pending, CLOSED -> solved.
"""

from __future__ import annotations

import hashlib
import secrets

STATUS_IN = {
    "new": "OPEN",
    "open": "OPEN",
    "pending": "ON_HOLD",
    "hold": "ON_HOLD",
    "on-hold": "ON_HOLD",
    "solved": "CLOSED",
    "closed": "CLOSED",
}
STATUS_OUT = {"OPEN": "open", "IN_PROGRESS": "open", "ON_HOLD": "pending", "CLOSED": "solved"}


def status_in(value: str | None) -> str | None:
    """The common status for a protocol status; None when absent or not one we know (left unchanged)."""
    return STATUS_IN.get(value.strip().lower()) if isinstance(value, str) else None


def status_out(value: str | None) -> str | None:
    return STATUS_OUT.get(value) if value else None


def normalized(value: str | None) -> str | None:
    """A protocol status as we would send it back (``hold`` -> ``pending``): what "in step" means."""
    return status_out(status_in(value))


def resource_uuid(base_url: str, kind: str, local_id: str) -> str:
    """README-2011's scheme: 40-hex SHA-1 of ``<sharing url>/<type>/<local id>`` (deterministic, so a
    retried send carries the same uuid and the partner dedupes it)."""
    return hashlib.sha1(f"{base_url}/{kind}/{local_id}".encode(), usedforsecurity=False).hexdigest()


def random_uuid() -> str:
    """40 hex chars from 160 random bits: new agreements, shared tickets, access keys."""
    return hashlib.sha1(secrets.token_bytes(32), usedforsecurity=False).hexdigest()


def author_line(name: str | None, partner: str | None) -> str:
    """Actors carry no e-mail, so a partner's comment is written by the linked account's API user; this
    first line keeps who wrote it."""
    who = name or "Someone"
    return f"{who} ({partner}) wrote:" if partner else f"{who} wrote:"
