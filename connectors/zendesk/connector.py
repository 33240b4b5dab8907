"""The Zendesk Support API v2 connector: reads declared as streams, writes as plain methods.

Docs: https://developer.zendesk.com/api-reference/ticketing/introduction/ . Auth: an API token
(Basic ``{email}/token:{api_token}``) or an OAuth access token (Bearer); with an OAuth token that has
the ``impersonate`` scope, ``on_behalf_of`` (an end user's email or id) is sent as ``X-On-Behalf-Of``.
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
    CredentialField,
    ModelSupport,
    RemoteRecord,
)
from connectors.http import (
    IETF_DRAFT,
    AuthError,
    Basic,
    BearerToken,
    Classifier,
    Cursor,
    EndpointBucket,
    NextUrl,
    Plan,
    RateLimiter,
    Rule,
    UpstreamError,
    VendorClient,
    per_minute,
    plan_limiter,
)
from connectors.streams import Stream
from connectors.zendesk import mapping
from schemas.models import Comment, Ticket
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate

DOCS = "https://developer.zendesk.com/api-reference/ticketing/"
#: Exports require ``start_time``; a full read starts at the beginning of time.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The Team plan's account-wide limit, the lowest documented (Growth/Professional 400, Enterprise 700,
#: Enterprise Plus or the High Volume add-on 2500): safe for every account until its first response,
#: whose ``x-rate-limit`` gives the account's own, which the limiter adopts (recorded: 400).
DEFAULT_PER_MINUTE = 200


def account_plan(limit: int) -> Plan:
    """``x-rate-limit``: the account's requests a minute (its endpoints' quotas come in headers of
    their own, ``zendesk-ratelimit-*``)."""
    return Plan(quota=per_minute(limit))


# Cursor-based incremental exports: ``after_url`` goes on, ``end_of_stream`` marks the last page, and
# the last page's ``after_url`` is where the next incremental run resumes. Following the URL rather than
# ``Cursor(cursor_path="after_cursor", param="cursor")`` because a cursor request carries no
# ``start_time`` and ``Cursor`` keeps the first request's parameters.
EXPORT = NextUrl(next_path="after_url", end_path="end_of_stream")
# Cursor-based pagination of ordinary lists (``page[size]``, ``meta.after_cursor``).
ORG_EXPORT = NextUrl(next_path="next_page", end_path="end_of_stream")
CBP = Cursor(cursor_path="meta.after_cursor", param="page[after]", has_more_path="meta.has_more")
PAGE = {"page[size]": "100"}

# https://developer.zendesk.com/api-reference/introduction/requests/ : 401 bad credentials, 403 not
# allowed, 404 RecordNotFound, 422 RecordInvalid, 429 + Retry-After fit the default table (and a 503's
# Retry-After, sent while an account is locked, already pauses the limiter). One does not: 409 is a
# merge conflict between simultaneous updates of one ticket, which Zendesk says to retry.
CLASSIFIER = Classifier(headers=IETF_DRAFT, overrides=(Rule(status=409, error=UpstreamError),))

# Endpoints Zendesk counts in quotas of their own besides the account's, each reported in a
# ``zendesk-ratelimit-<name>: total=N; remaining=M; resets=S`` header (names and routes as recorded; one
# recording spells the prefix ``zendesk-rate-limit-``). Incremental exports allow 10 requests a minute,
# their cursor variant 20, so a full sync's export pages wait for the bucket's reset instead of running
# into a 429. ``per-ticket-updates`` is not one bucket but one per ticket: declared as one, an update
# of one ticket would hold back updates of all the others.
# https://developer.zendesk.com/api-reference/introduction/rate-limits/
HEADERS = msgspec.structs.replace(IETF_DRAFT, buckets=("zendesk-ratelimit-", "zendesk-rate-limit-"))
ENDPOINT_BUCKETS = (
    EndpointBucket(name="incremental-exports-cursor", method="GET", path="/api/v2/incremental/*/cursor*"),
    EndpointBucket(name="incremental-exports", method="GET", path="/api/v2/incremental/*"),
    EndpointBucket(name="tickets-index", method="GET", path="/api/v2/tickets*"),
    EndpointBucket(name="tickets-update", method="PUT", path="/api/v2/tickets/*"),
    EndpointBucket(name="ticket-request-create-by-user-and-ip", method="POST", path="/api/v2/tickets*"),
    EndpointBucket(name="search-index", method="GET", path="/api/v2/search*"),
)


def _export(
    model: str, kind: str, to_record: Any, pagination: Any = EXPORT, cursor: bool = True, **extra: Any
) -> Stream:
    """An incremental export: ``start_time`` (epoch seconds) is the ``since``; a full read starts at 0.

    https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
    """
    path = f"/api/v2/incremental/{kind}/cursor.json" if cursor else f"/api/v2/incremental/{kind}.json"
    params = {"per_page": "1000"} if cursor else {}  # cursor exports page up to 1000; time-based fixed
    docs = DOCS + "ticket-management/incremental_exports/"
    return Stream(
        model, path, kind, pagination, to_record, params, "start_time", full_since=EPOCH, docs=docs, **extra
    )


STREAMS: dict[str, Stream] = {
    # Deleted tickets come back with status "deleted": tombstones.
    "Ticket": _export("Ticket", "tickets", mapping.to_ticket),
    # One users export serves both models: end users are Contacts, agents and admins Users. Read once
    # for both (the export's rate limit is 10 requests a minute; reading it per model doubled that).
    "Contact": _export("Contact", "users", mapping.to_contact_or_user, carries=("User",)),
    # Organizations have only the time-based export (``next_page``); deleted ones carry ``deleted_at``.
    "Account": _export("Account", "organizations", mapping.to_account, ORG_EXPORT, cursor=False),
    # No export for groups (a short list): cursor pagination, read in full every sync.
    # https://developer.zendesk.com/api-reference/ticketing/groups/groups/
    "Team": Stream(
        "Team", "/api/v2/groups.json", "groups", CBP, mapping.to_team, PAGE, docs=DOCS + "groups/groups/"
    ),
    # Per changed ticket; a comment's attachments come with it (the Attachment records of this stream:
    # Zendesk lists attachments nowhere else). Comments do not name their ticket: ``parent_key``.
    # https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
    "Comment": Stream(
        "Comment",
        "/api/v2/tickets/{parent}/comments.json",
        "comments",
        CBP,
        mapping.comment_and_attachments,
        PAGE,
        parent="Ticket",
        parent_key="ticket_id",
        docs=DOCS + "tickets/ticket_comments/",
        carries=("Attachment",),
    ),
}


@registry.register
class ZendeskConnector:
    """One Zendesk account (``acme.zendesk.com``) for one linked account."""

    slug: ClassVar[str] = "zendesk"
    name: ClassVar[str] = "Zendesk"
    color: ClassVar[str] = "#03363D"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(
            name="subdomain", label="Zendesk subdomain (acme for acme.zendesk.com)", secret=False
        ),
        CredentialField(name="email", label="Agent email", secret=False, method="api_token"),
        CredentialField(name="api_token", label="API token", method="api_token"),
        CredentialField(name="access_token", label="OAuth access token", method="oauth"),
        CredentialField(
            name="on_behalf_of",
            label="Act as this end user (OAuth with the impersonate scope)",
            secret=False,
            method="oauth",
            required=False,
        ),
    )
    models: ClassVar[tuple[ModelSupport, ...]] = (
        ModelSupport(
            model="Ticket",
            operations=(FETCH, CREATE, UPDATE),
            required_post_parameters=("name",),
            supported_fields=(*mapping.TICKET_FIELDS, "access_level", "attachments"),
        ),
        ModelSupport(
            model="Comment",
            operations=(FETCH, CREATE),
            required_post_parameters=("ticket", "body"),
            supported_fields=("ticket", "body", "html_body", "is_private", "user", "contact"),
        ),
        *(ModelSupport(model=m) for m in ("Contact", "User", "Account", "Team", "Attachment")),
    )
    streams: ClassVar[Mapping[str, Stream]] = STREAMS

    def __init__(self, context: ConnectorContext) -> None:
        creds = context.credentials
        self.base_url = (context.base_url or self.default_base_url(creds) or "").rstrip("/")
        headers = {}
        if creds.get("access_token"):
            auth: Any = BearerToken(creds["access_token"])
            if creds.get("on_behalf_of"):
                headers["X-On-Behalf-Of"] = creds["on_behalf_of"]
        else:
            auth = Basic(f"{creds.get('email', '')}/token", creds.get("api_token", ""))
        self.headers = headers
        self.client = VendorClient(
            context.http,
            base_url=self.base_url,
            auth=auth,
            limiter=context.limiter or self.new_limiter(),
            classifier=CLASSIFIER,
            retry=context.retry,
        )

    @classmethod
    def default_base_url(cls, credentials: dict[str, str]) -> str | None:
        sub = credentials.get("subdomain", "").strip()
        return f"https://{sub}.zendesk.com" if sub else None

    @classmethod
    def new_limiter(cls) -> RateLimiter:
        return plan_limiter(
            per_minute(DEFAULT_PER_MINUTE), headers=HEADERS, plan=account_plan, endpoints=ENDPOINT_BUCKETS
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        response = await self.client.request(method, path, json=body, headers=headers or None, **kw)
        # Decoded whatever the content type: uploads answer JSON labelled text/plain (recorded).
        return msgspec.json.decode(response.content) if response.content else {}

    async def check_credentials(self) -> None:
        """``GET /users/me``. A wrong token is a 401 ``Couldn't authenticate you`` (``AuthError``); a
        request that authenticates as nobody gets 200 and the anonymous user (``id: null``)."""
        me = await self._call("GET", "/api/v2/users/me.json")
        if not (me.get("user") or {}).get("id"):
            raise AuthError("Zendesk answered as the anonymous user: the credentials were not accepted")

    async def upload_attachment(self, filename: str, content: bytes, content_type: str) -> str:
        """Upload a file; the returned token goes in a comment's ``uploads`` (valid for 3 days)."""
        raw = await self._call(
            "POST",
            "/api/v2/uploads.json",
            params={"filename": filename},
            content=content,
            headers={"Content-Type": content_type},
        )
        return str(raw["upload"]["token"])

    async def create_ticket(self, ticket: TicketCreate) -> RemoteRecord[Ticket]:
        raw = await self._call("POST", "/api/v2/tickets.json", mapping.ticket_create_body(ticket))
        return _ticket(raw["ticket"])

    async def update_ticket(self, remote_id: str, changes: TicketUpdate) -> RemoteRecord[Ticket]:
        raw = await self._call(
            "PUT", f"/api/v2/tickets/{remote_id}.json", mapping.ticket_update_body(changes)
        )
        return _ticket(raw["ticket"])

    async def create_comment(self, comment: CommentCreate) -> RemoteRecord[Comment]:
        # A comment is a ticket update carrying ``comment``; its id comes back in the update's audit.
        ticket = str(comment.ticket)
        body = mapping.comment_body(comment)
        # Not idempotent, though a PUT: a retry after a lost answer would post the comment twice.
        raw = await self._call("PUT", f"/api/v2/tickets/{ticket}.json", body, idempotent=False)
        return mapping.comment_from_audit(raw.get("audit") or {}, ticket)


def _ticket(raw: dict[str, Any]) -> RemoteRecord[Ticket]:
    record = mapping.to_ticket(raw)
    if not isinstance(record, RemoteRecord):  # a live ticket is never a tombstone
        raise ValueError("Zendesk returned a deleted ticket for a write")
    return record
