"""Zendesk's classic v1 JSON API (``zendesk_classic``), for accounts still on it.

Paths without ``/api/v2`` and with ``.json``; ``?page=N`` page numbers of 30 (a short page is the last);
creates answer 201 with the new record's URL in ``Location`` and no body; comments are added with
``PUT /tickets/{id}.json``; Basic auth (``email/token:api_token``) and ``X-On-Behalf-Of``. Its throttle
is an HTTP 503 with a plain-text body, classified here as a rate limit. v1 has no incremental export,
so every sync is a full enumeration (deletions found by diff); comments come inside their ticket and
have no ids of their own, so a comment's id is ``<ticket id>-<position>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec

from connectors import registry
from connectors.base import (
    CREATE,
    FETCH,
    UPDATE,
    ConnectorContext,
    ModelSupport,
    RemoteRecord,
)
from connectors.http import (
    Basic,
    Classifier,
    PageNumber,
    Quota,
    RateLimiter,
    RateLimitError,
    RejectedError,
    Rule,
    UpstreamError,
    VendorClient,
)
from connectors.streams import Stream
from connectors.zendesk.connector import ZendeskConnector
from schemas.models import Account, Comment, Contact, Team, Ticket, User
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate, set_fields

STATUS = {0: "OPEN", 1: "OPEN", 2: "ON_HOLD", 6: "ON_HOLD", 3: "CLOSED", 4: "CLOSED"}
STATUS_NAMES = {0: "new", 1: "open", 2: "pending", 3: "solved", 4: "closed", 5: "deleted", 6: "hold"}
STATUS_TO_VENDOR = {"OPEN": 1, "IN_PROGRESS": 1, "ON_HOLD": 2, "CLOSED": 3}
PRIORITY = {1: "LOW", 2: "NORMAL", 3: "HIGH", 4: "URGENT"}
TYPES = {1: "question", 2: "incident", 3: "problem", 4: "task"}
AGENT_ROLES = {2, 4}  # admin, agent; 0 is an end user
THROTTLE = Rule(status=503, error=RateLimitError, content_type="text/plain", body_contains="API requests")
PAGES = PageNumber(size_param=None, size=30)  # v1 pages hold 30 and take no size parameter


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y/%m/%d %H:%M:%S %z").astimezone(UTC)


def _id(value: Any) -> str | None:
    return None if value in (None, 0) else str(value)


def to_ticket(raw: dict[str, Any]) -> list[RemoteRecord[Any]]:
    """A v1 ticket with its comments (they only exist inside it)."""
    tid = str(raw["nice_id"])
    status, priority, kind = raw.get("status_id"), raw.get("priority_id"), raw.get("ticket_type_id")
    ticket = Ticket(
        remote_id=tid,
        name=raw.get("subject"),
        description=raw.get("description"),
        status=STATUS.get(status),  # type: ignore[arg-type]
        priority=PRIORITY.get(priority),  # type: ignore[arg-type]
        ticket_type=TYPES.get(kind),  # type: ignore[arg-type]
        assignees=[a for a in [_id(raw.get("assignee_id"))] if a],
        assigned_teams=[g for g in [_id(raw.get("group_id"))] if g],
        creator=_id(raw.get("submitter_id")),
        contact=_id(raw.get("requester_id")),
        account=_id(raw.get("organization_id")),
        tags=(raw.get("current_tags") or "").split(),
        remote_created_at=_time(raw.get("created_at")),
        remote_updated_at=_time(raw.get("updated_at")),
    )
    origins = {
        "status": STATUS_NAMES.get(status),  # type: ignore[arg-type]
        "priority": None if priority is None else str(priority),
        "ticket_type": TYPES.get(kind),  # type: ignore[arg-type]
    }
    records: list[RemoteRecord[Any]] = [
        RemoteRecord(model=ticket, path=f"/tickets/{tid}.json", raw=raw, enum_origins=origins)
    ]
    for position, comment in enumerate(raw.get("comments") or []):
        model = Comment(
            remote_id=f"{tid}-{position}",
            ticket=tid,
            user=_id(comment.get("author_id")),
            body=comment.get("value"),
            is_private=not comment.get("is_public", True),
            remote_created_at=_time(comment.get("created_at")),
        )
        records.append(RemoteRecord(model=model, path=f"/tickets/{tid}.json", raw=comment))
    return records


def to_contact(raw: dict[str, Any]) -> RemoteRecord[Contact] | None:
    if raw.get("roles") in AGENT_ROLES:
        return None
    model = Contact(
        remote_id=str(raw["id"]),
        name=raw.get("name"),
        email_address=raw.get("email"),
        account=_id(raw.get("organization_id")),
    )
    return RemoteRecord(model=model, path=f"/users/{raw['id']}.json", raw=raw)


def to_user(raw: dict[str, Any]) -> RemoteRecord[User] | None:
    if raw.get("roles") not in AGENT_ROLES:
        return None
    model = User(
        remote_id=str(raw["id"]),
        name=raw.get("name"),
        email_address=raw.get("email"),
        is_active=raw.get("is_active"),
    )
    return RemoteRecord(model=model, path=f"/users/{raw['id']}.json", raw=raw)


def to_account(raw: dict[str, Any]) -> RemoteRecord[Account]:
    return RemoteRecord(
        model=Account(remote_id=str(raw["id"]), name=raw.get("name")),
        path=f"/organizations/{raw['id']}.json",
        raw=raw,
    )


def to_team(raw: dict[str, Any]) -> RemoteRecord[Team]:
    return RemoteRecord(
        model=Team(remote_id=str(raw["id"]), name=raw.get("name")), path=f"/groups/{raw['id']}.json", raw=raw
    )


STREAMS: dict[str, Stream] = {
    "Ticket": Stream("Ticket", "/tickets.json", "", PAGES, to_ticket),
    "Contact": Stream("Contact", "/users.json", "", PAGES, to_contact),
    "User": Stream("User", "/users.json", "", PAGES, to_user),
    "Account": Stream("Account", "/organizations.json", "", PAGES, to_account),
    "Team": Stream("Team", "/groups.json", "", PAGES, to_team),
}


@registry.register
class ZendeskClassicConnector:
    slug: ClassVar[str] = "zendesk_classic"
    name: ClassVar[str] = "Zendesk (classic v1 API)"
    color: ClassVar[str] = "#03363D"
    credential_fields = ZendeskConnector.credential_fields
    models: ClassVar[tuple[ModelSupport, ...]] = (
        ModelSupport(
            model="Ticket",
            operations=(FETCH, CREATE, UPDATE),
            required_post_parameters=("name",),
            supported_fields=("name", "description", "status"),
        ),
        ModelSupport(
            model="Comment",
            operations=(FETCH, CREATE),
            required_post_parameters=("ticket", "body"),
            supported_fields=("ticket", "body", "is_private"),
        ),
        *(ModelSupport(model=m) for m in ("Contact", "User", "Account", "Team")),
    )
    streams: ClassVar[Mapping[str, Stream]] = STREAMS

    def __init__(self, context: ConnectorContext) -> None:
        creds = context.credentials
        self.base_url = (context.base_url or self.default_base_url(creds) or "").rstrip("/")
        self.headers = {"X-On-Behalf-Of": creds["on_behalf_of"]} if creds.get("on_behalf_of") else {}
        self.client = VendorClient(
            context.http,
            base_url=self.base_url,
            auth=Basic(f"{creds.get('email', '')}/token", creds.get("api_token", "")),
            limiter=context.limiter or self.new_limiter(),
            classifier=Classifier(overrides=(THROTTLE,)),
            retry=context.retry,
        )

    default_base_url = ZendeskConnector.default_base_url

    @classmethod
    def new_limiter(cls) -> RateLimiter:
        # v1 sends no rate headers; its limit was documented per minute only. Stay well under it.
        return RateLimiter([Quota(requests=100, per=60)])

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.client.request(method, path, json=body, headers=self.headers or None)
        return response

    async def _ticket(self, tid: str) -> list[RemoteRecord[Any]]:
        response = await self._request("GET", f"/tickets/{tid}.json")
        return to_ticket(msgspec.json.decode(response.content))

    async def check_credentials(self) -> None:
        await self._request("GET", "/users.json")

    async def create_ticket(self, ticket: TicketCreate) -> RemoteRecord[Ticket]:
        fields = set_fields(ticket)
        body = {
            "ticket": {
                "subject": fields.get("name"),
                "description": fields.get("description") or fields.get("name"),
            }
        }
        response = await self._request("POST", "/tickets.json", body)
        location = response.headers.get("location", "")
        tid = location.rstrip("/").rsplit("/", 1)[-1].removesuffix(".json")
        if not tid.isdigit():
            raise UpstreamError("Zendesk v1 created a ticket without a Location header")
        return (await self._ticket(tid))[0]

    async def update_ticket(self, remote_id: str, changes: TicketUpdate) -> RemoteRecord[Ticket]:
        fields = set_fields(changes)
        unsupported = set(fields) - {"status", "integration_params", "linked_account_params"}
        if unsupported:
            raise RejectedError(f"the v1 API cannot change {', '.join(sorted(unsupported))}")
        if fields.get("status"):
            await self._request(
                "PUT",
                f"/tickets/{remote_id}.json",
                {"ticket": {"status_id": STATUS_TO_VENDOR[fields["status"]]}},
            )
        return (await self._ticket(remote_id))[0]

    async def create_comment(self, comment: CommentCreate) -> RemoteRecord[Comment]:
        tid = str(comment.ticket)
        body = {"comment": {"value": comment.body or comment.html_body, "is_public": not comment.is_private}}
        await self._request("PUT", f"/tickets/{tid}.json", body)
        comments = [r for r in await self._ticket(tid) if isinstance(r.model, Comment)]
        if not comments:
            raise UpstreamError("Zendesk v1 accepted the comment but the ticket shows none")
        return comments[-1]
