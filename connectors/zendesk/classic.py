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
from datetime import datetime
from typing import Any, ClassVar

import httpx
import msgspec

from connectors import registry
from connectors.base import (
    CREATE,
    FETCH,
    UPDATE,
    ConnectorContext,
    CredentialField,
    ModelSupport,
    RemoteRecord,
    as_object,
)
from connectors.http import (
    Basic,
    Classifier,
    NotFoundError,
    PageNumber,
    Quota,
    RateLimiter,
    RateLimitError,
    RejectedError,
    Rule,
    UpstreamError,
    VendorClient,
)
from connectors.streams import Stream, Tombstone
from connectors.zendesk import mapping
from connectors.zendesk.connector import ZendeskConnector
from schemas.models import Comment, Ticket
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate, set_fields

STATUS_NAMES = {0: "new", 1: "open", 2: "pending", 3: "solved", 4: "closed", 5: "deleted", 6: "hold"}
PRIORITY_NAMES = {1: "low", 2: "normal", 3: "high", 4: "urgent"}
TYPE_NAMES = {1: "question", 2: "incident", 3: "problem", 4: "task"}
ROLE_NAMES = {0: "end-user", 2: "admin", 4: "agent"}
STATUS_TO_VENDOR = {"OPEN": 1, "IN_PROGRESS": 1, "ON_HOLD": 2, "CLOSED": 3}
THROTTLE = Rule(status=503, error=RateLimitError, content_type="text/plain", body_contains="API requests")
PAGES = PageNumber(size_param=None, size=30)  # v1 pages hold 30 and take no size parameter


def _time(value: str | None) -> str | None:
    """v1's ``2012/01/31 09:14:57 +0000`` as the ISO-8601 the v2 wire types read."""
    return datetime.strptime(value, "%Y/%m/%d %H:%M:%S %z").isoformat() if value else None


def _v1(record: Any, raw: dict[str, Any], path: str | None = None) -> Any:
    """A v2 mapping's record as the v1 object it came from (v1 paths have no ``/api/v2``)."""
    if not isinstance(record, RemoteRecord):
        return record
    return msgspec.structs.replace(record, path=path or record.path.removeprefix("/api/v2"), raw=raw)


def _as_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """A v1 user, organization or group in v2's shape: role names, ``active``, ISO timestamps."""
    v2 = {**raw, "active": raw.get("is_active"), "role": ROLE_NAMES.get(raw.get("roles", -1))}
    return v2 | {k: _time(v) for k, v in raw.items() if k.endswith("_at")}


def to_ticket(raw: Any) -> list[RemoteRecord[Any]] | Tombstone:
    """A v1 ticket with its comments and their files (they only exist inside it).

    Comments have no ids of their own in v1: a comment's id is ``<ticket id>-<position>``.
    """
    raw = as_object(raw)
    tid = raw["nice_id"]
    v2 = {
        **_as_v2(raw),
        "id": tid,
        "status": STATUS_NAMES.get(raw.get("status_id", -1)),
        "priority": PRIORITY_NAMES.get(raw.get("priority_id", -1)),
        "type": TYPE_NAMES.get(raw.get("ticket_type_id", -1)),
        "tags": (raw.get("current_tags") or "").split(),
    }
    # v1 sends 0 for "no assignee/group/organization".
    v2 |= {k: v or None for k, v in v2.items() if k.endswith("_id")}
    ticket = mapping.to_ticket(v2)
    if isinstance(ticket, Tombstone):
        return ticket
    path = f"/tickets/{tid}.json"  # comments and files live only inside their ticket
    records: list[RemoteRecord[Any]] = [_v1(ticket, raw, path)]
    for position, c in enumerate(raw.get("comments") or []):
        files = [{**a, "file_name": a.get("filename"), "content_url": a.get("url")} for a in c["attachments"]]
        comment = {**_as_v2(c), "id": f"{tid}-{position}", "ticket_id": tid, "body": c.get("value")}
        comment |= {"public": c.get("is_public", True), "attachments": files}
        records += [_v1(r, c, path) for r in mapping.comment_and_attachments(comment)]
    return records


def _via_v2(to_record: Any) -> Any:
    def mapper(raw: Any) -> Any:
        payload = as_object(raw)
        return _v1(to_record(_as_v2(payload)), payload)

    return mapper


STREAMS: dict[str, Stream] = {
    "Ticket": Stream("Ticket", "/tickets.json", "", PAGES, to_ticket),
    "Contact": Stream("Contact", "/users.json", "", PAGES, _via_v2(mapping.to_contact)),
    "User": Stream("User", "/users.json", "", PAGES, _via_v2(mapping.to_user)),
    "Account": Stream("Account", "/organizations.json", "", PAGES, _via_v2(mapping.to_account)),
    "Team": Stream("Team", "/groups.json", "", PAGES, _via_v2(mapping.to_team)),
}


@registry.register
class ZendeskClassicConnector:
    slug: ClassVar[str] = "zendesk_classic"
    name: ClassVar[str] = "Zendesk (classic v1 API)"
    color: ClassVar[str] = "#03363D"
    # v1 takes API tokens only.
    credential_fields: ClassVar[tuple[CredentialField, ...]] = tuple(
        f for f in ZendeskConnector.credential_fields if f.method != "oauth"
    )
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

    @classmethod
    def default_base_url(cls, credentials: dict[str, str]) -> str | None:
        return ZendeskConnector.default_base_url(credentials)

    @classmethod
    def new_limiter(cls) -> RateLimiter:
        # v1 sends no rate headers; its limit was documented per minute only. Stay well under it.
        return RateLimiter([Quota(requests=100, per=60)])

    async def _request(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.request(method, path, json=body, headers=self.headers or None, **kw)

    async def _ticket(self, tid: str) -> list[RemoteRecord[Any]]:
        response = await self._request("GET", f"/tickets/{tid}.json")
        records = to_ticket(msgspec.json.decode(response.content))
        if isinstance(records, Tombstone):
            raise NotFoundError(f"Zendesk v1 ticket {tid} is deleted")
        return records

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
        # Not idempotent, though a PUT: a retry after a lost answer would post the comment twice.
        await self._request("PUT", f"/tickets/{tid}.json", body, idempotent=False)
        comments = [r for r in await self._ticket(tid) if isinstance(r.model, Comment)]
        if not comments:
            raise UpstreamError("Zendesk v1 accepted the comment but the ticket shows none")
        return comments[-1]
