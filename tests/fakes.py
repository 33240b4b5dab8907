"""A test double vendor: an in-memory desk and its connector, registered as ``fakedesk``.

It stands in for real vendors in the service's own tests (facade, linking, writes); real vendors are
tested against their emulators. Each desk is keyed by its base URL, so two linked accounts can point at
the same desk or at different ones.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
from msgspec import UNSET

from connectors import registry
from connectors.base import (
    CREATE,
    FETCH,
    UPDATE,
    ConnectorContext,
    CredentialField,
    Download,
    ModelSupport,
    RemoteRecord,
    as_object,
)
from connectors.http import BearerToken, Cursor, VendorClient
from connectors.http.errors import AuthError, ConnectorError, NotFoundError, RejectedError
from connectors.http.ratelimit import RateLimiter
from connectors.streams import Stream, Tombstone
from schemas.models import Comment, Ticket
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate, set_fields

GOOD_KEY = "good-key"

_STATUS_TO_VENDOR = {"OPEN": "open", "CLOSED": "done", "IN_PROGRESS": "working", "ON_HOLD": "waiting"}
_STATUS_FROM_VENDOR = {v: k for k, v in _STATUS_TO_VENDOR.items()}


@dataclass
class FakeDesk:
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Raised by the next write, to test error mapping.
    fail_next: ConnectorError | Exception | None = None
    calls: list[str] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    #: Ids deleted at the vendor: the incremental listing reports them, the full listing omits them.
    deleted: dict[str, float] = field(default_factory=dict)
    #: Page size of the ticket listing (small, so tests see several pages).
    page_size: int = 3
    #: Requests answered, for assertions on what a sync asked.
    requests: list[httpx.Request] = field(default_factory=list)
    #: Attachment bytes by vendor id (served by ``download_attachment``).
    files: dict[str, bytes] = field(default_factory=dict)
    #: Tickets whose comments the read API answers with a 500, every time.
    failing_comments: set[str] = field(default_factory=set)

    def put_ticket(self, raw: dict[str, Any]) -> dict[str, Any]:
        raw = {"state": "open", **raw, "updated": time.time()}
        self.tickets[str(raw["id"])] = raw
        return raw

    def put_comment(self, raw: dict[str, Any]) -> dict[str, Any]:
        self.comments[str(raw["id"])] = raw
        if str(raw["ticket_id"]) in self.tickets:  # like real desks: a comment touches its ticket
            self.tickets[str(raw["ticket_id"])]["updated"] = time.time()
        return raw

    def delete_ticket(self, ticket_id: str) -> None:
        self.tickets.pop(ticket_id)
        self.deleted[ticket_id] = time.time()


DESKS: dict[str, FakeDesk] = {}


def desk(base_url: str) -> FakeDesk:
    return DESKS.setdefault(base_url.rstrip("/"), FakeDesk())


def vendor_api(request: httpx.Request) -> httpx.Response:
    """The fake desk's read API over HTTP (use with ``httpx.MockTransport``): a cursor-paged ticket
    listing with an ``updated_since`` filter, and the comments of one ticket."""
    base, _, rest = str(request.url.copy_with(query=None)).partition("/api/")
    the_desk = desk(base)
    the_desk.requests.append(request)
    if request.headers.get("authorization") != f"Bearer {GOOD_KEY}":
        return httpx.Response(401, json={"error": "unauthorized"})
    parts = rest.strip("/").split("/")
    if parts == ["tickets"]:
        since = float(request.url.params.get("updated_since", "-1"))
        rows = [t for t in the_desk.tickets.values() if t["updated"] > since]
        if since >= 0:
            rows += [
                {"id": i, "state": "deleted", "updated": at}
                for i, at in the_desk.deleted.items()
                if at > since
            ]
        rows.sort(key=lambda t: (t["updated"], str(t["id"])))
        start = int(request.url.params.get("cursor", "0"))
        page = rows[start : start + the_desk.page_size]
        more = start + the_desk.page_size < len(rows)
        return httpx.Response(
            200, json={"tickets": page, "next": str(start + the_desk.page_size) if more else None}
        )
    if len(parts) == 3 and parts[0] == "tickets" and parts[2] == "comments":
        if parts[1] in the_desk.failing_comments:
            return httpx.Response(500, json={"error": "internal"})
        found = [c for c in the_desk.comments.values() if str(c["ticket_id"]) == parts[1]]
        return httpx.Response(200, json={"comments": found, "next": None})
    return httpx.Response(404, json={"error": "not found"})


def _ticket_or_tombstone(raw: Any) -> RemoteRecord[Ticket] | Tombstone:
    raw = as_object(raw)  # pages hand mappers each record's bytes
    if raw.get("state") == "deleted":
        return Tombstone(remote_id=str(raw["id"]))
    return ticket_record(raw)


def comment_record(raw: Any) -> RemoteRecord[Comment]:
    raw = as_object(raw)
    return RemoteRecord(
        model=Comment(
            remote_id=str(raw["id"]),
            ticket=str(raw["ticket_id"]),
            body=raw["text"],
            is_private=raw["internal"],
            user=raw.get("author_id"),
        ),
        path=f"/tickets/{raw['ticket_id']}/comments",
        raw=raw,
    )


STREAMS: dict[str, Stream] = {
    "Ticket": Stream(
        model="Ticket",
        path="tickets",
        records_path="tickets",
        pagination=Cursor(cursor_path="next", param="cursor"),
        to_record=_ticket_or_tombstone,
        since_param="updated_since",
        since_format=lambda moment: str(moment.timestamp()),
    ),
    "Comment": Stream(
        model="Comment",
        path="tickets/{parent}/comments",
        records_path="comments",
        pagination=Cursor(cursor_path="next", param="cursor"),
        to_record=comment_record,
        parent="Ticket",
    ),
}


def ticket_record(raw: dict[str, Any]) -> RemoteRecord[Ticket]:
    """The fake's mapping: vendor dict -> common Ticket (vendor ids in relations)."""
    return RemoteRecord(
        model=Ticket(
            remote_id=raw["id"],
            name=raw.get("title"),
            description=raw.get("body"),
            status=_STATUS_FROM_VENDOR.get(raw.get("state") or ""),
            priority=raw.get("priority"),
            assignees=raw.get("assignee_ids") or [],
            account=raw.get("org_id"),
            contact=raw.get("requester_id"),
            tags=raw.get("labels") or [],
            ticket_type=raw.get("kind"),
        ),
        path=f"/tickets/{raw['id']}",
        raw=dict(raw),
        enum_origins={
            "status": raw.get("state"),
            "priority": raw.get("priority"),
            "ticket_type": raw.get("kind"),
        },
    )


def _vendor_fields(fields: dict[str, Any]) -> dict[str, Any]:
    mapping = {
        "name": "title",
        "description": "body",
        "priority": "priority",
        "assignees": "assignee_ids",
        "account": "org_id",
        "contact": "requester_id",
        "tags": "labels",
        "ticket_type": "kind",
    }
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "status":
            out["state"] = _STATUS_TO_VENDOR[value] if value else None
        elif key in mapping:
            out[mapping[key]] = value.value if hasattr(value, "value") else value
    return out


@registry.register
class FakeDeskConnector:
    slug: ClassVar[str] = "fakedesk"
    name: ClassVar[str] = "Fake Desk"
    color: ClassVar[str] = "#123456"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(name="api_key", label="API key"),
    )
    models: ClassVar[tuple[ModelSupport, ...]] = (
        ModelSupport(
            model="Ticket",
            operations=(FETCH, CREATE, UPDATE),
            required_post_parameters=("name",),
            supported_fields=(
                "name",
                "description",
                "status",
                "priority",
                "assignees",
                "account",
                "contact",
                "tags",
                "ticket_type",
            ),
        ),
        ModelSupport(
            model="Comment",
            operations=(FETCH, CREATE),
            required_post_parameters=("ticket", "body"),
            supported_fields=("body", "ticket", "is_private", "user", "contact"),
        ),
        ModelSupport(model="User"),
        ModelSupport(model="Contact"),
        ModelSupport(model="Account"),
        ModelSupport(model="Team"),
        ModelSupport(model="Attachment"),
    )

    streams: ClassVar[dict[str, Stream]] = STREAMS

    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        self.desk = desk(context.base_url or "")
        self.client = VendorClient(
            context.http,
            base_url=f"{context.base_url}/api/",
            auth=BearerToken(context.credentials.get("api_key", "")),
            limiter=context.limiter,
            retry=context.retry,
        )

    @classmethod
    def default_base_url(cls, credentials: dict[str, str]) -> str | None:
        return None

    @classmethod
    def new_limiter(cls) -> RateLimiter:
        return RateLimiter()

    def _guard(self, call: str) -> None:
        self.desk.calls.append(call)
        if self.context.credentials.get("api_key") != GOOD_KEY:
            raise AuthError("401 from fakedesk")
        if self.desk.fail_next is not None:
            error, self.desk.fail_next = self.desk.fail_next, None
            raise error

    async def check_credentials(self) -> None:
        self._guard("check")

    async def create_ticket(self, ticket: TicketCreate) -> RemoteRecord[Ticket]:
        self._guard("create_ticket")
        if not ticket.name:
            raise RejectedError("title: can't be blank")
        raw = self.desk.put_ticket({"id": str(next(self.desk.ids)), **_vendor_fields(set_fields(ticket))})
        return ticket_record(raw)

    async def update_ticket(self, remote_id: str, changes: TicketUpdate) -> RemoteRecord[Ticket]:
        self._guard("update_ticket")
        raw = self.desk.put_ticket(
            {**self.desk.tickets.get(remote_id, {"id": remote_id}), **_vendor_fields(set_fields(changes))}
        )
        return ticket_record(raw)

    async def download_attachment(self, remote_id: str, file_url: str | None) -> Download:
        self._guard("download_attachment")
        if remote_id not in self.desk.files:
            raise NotFoundError("no such file")
        content = self.desk.files[remote_id]

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(content), 4):
                yield content[start : start + 4]

        return Download(content_type="text/plain", chunks=chunks())

    async def create_comment(self, comment: CommentCreate) -> RemoteRecord[Comment]:
        self._guard("create_comment")
        raw = {
            "id": str(next(self.desk.ids)),
            "ticket_id": comment.ticket,
            "text": comment.body or comment.html_body,
            "internal": bool(comment.is_private) if comment.is_private is not UNSET else False,
            "author_id": comment.user or None,
        }
        return comment_record(self.desk.put_comment(raw))


def unreachable() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")
