"""The Freshdesk API v2 connector: streams declared as data, writes as plain methods.

Docs: https://developers.freshdesk.com/api/ . Auth is HTTP Basic with the API key as user name and
any password (``X`` by convention). Every request goes through one ``VendorClient``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
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
)
from connectors.freshdesk import mapping
from connectors.http import (
    Basic,
    Classifier,
    EndpointBucket,
    HeaderSpec,
    LinkHeader,
    NotFoundError,
    Plan,
    Quota,
    RateLimiter,
    RejectedError,
    VendorClient,
    per_minute,
    plan_limiter,
)
from connectors.streams import Stream, iso_seconds
from schemas.models import Comment, Ticket
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate

#: Freshdesk reports the account's per-minute budget; it sends no reset time (the window rolls), so an
#: exhausted budget pauses for the quota window, and a 429 says ``Retry-After`` seconds.
HEADERS = HeaderSpec(
    remaining=("x-ratelimit-remaining",),
    limit=("x-ratelimit-total",),
    retry_after=("retry-after",),
)
#: The lowest documented per-minute plan (trial accounts: 50/min; Growth 200, Pro 400, Enterprise 700),
#: safe for every account until its first response: ``X-RateLimit-Total`` gives the account's own
#: (``account_plan``), which the limiter adopts.
DEFAULT_PER_MINUTE = 50
#: Legacy plans counted by the hour report that budget in the same header (Blossom/Garden 3000, Estate/
#: Forest 5000 an hour; support.freshdesk.com article 225439). Taken for a minute's, it would spend the
#: hour's budget in minutes, and leave none for the account's other clients.
LEGACY_HOURLY = frozenset({3000, 5000})
#: Endpoints a plan caps below the account's quota, a minute, by the plan's account-wide limit
#: (Growth, Pro, Enterprise; support.freshdesk.com article 225439). Freshdesk reports none of these in
#: headers, so without them a sync ran into a 429 each time one filled (on Growth, every 11th ticket
#: page: a page with ``include=description`` costs two of its 20).
PLAN_ENDPOINT_CAPS: dict[int, dict[str, int]] = {
    200: {"tickets-list": 20, "contacts-list": 20, "tickets-create": 80, "tickets-update": 80},
    400: {"tickets-list": 100, "contacts-list": 100, "tickets-create": 160, "tickets-update": 160},
    700: {"tickets-list": 200, "contacts-list": 200, "tickets-create": 280, "tickets-update": 280},
}
ENDPOINT_BUCKETS = (
    EndpointBucket(name="tickets-list", method="GET", path=mapping.TICKETS_PATH),
    EndpointBucket(name="tickets-create", method="POST", path=mapping.TICKETS_PATH),
    EndpointBucket(name="tickets-update", method="PUT", path=mapping.TICKETS_PATH + "/*"),
    EndpointBucket(name="contacts-list", method="GET", path=mapping.CONTACTS_PATH),
)


def account_plan(total: int) -> Plan:
    """The plan ``X-RateLimit-Total`` tells: its requests a minute and its endpoints' caps, or an
    hour's budget on a legacy plan (which joins the minute's quota we start from, so those accounts
    keep that pace). A total no documented plan has (a custom limit) brings no endpoint caps: those
    are met when their 429s come."""
    if total in LEGACY_HOURLY:
        return Plan(quota=Quota(requests=total, per=3600))
    caps = PLAN_ENDPOINT_CAPS.get(total, {})
    return Plan(quota=per_minute(total), endpoints={name: per_minute(n) for name, n in caps.items()})


def request_cost(request: httpx.Request) -> int:
    """Credits a request costs: one, and one more for each resource embedded with ``include=``."""
    included = request.url.params.get_list("include")
    return 1 + sum(len([x for x in value.split(",") if x]) for value in included)


#: The ticket list serves no deeper page; ``read`` re-anchors ``updated_since`` there (``Stream.max_page``).
MAX_PAGE = 300
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DOCS = "https://developers.freshdesk.com/api/"

LINKS = LinkHeader()  # next page in ``Link: <...>; rel="next"``; none on the last page
PER_PAGE = {"per_page": "100"}  # the documented maximum (default 30)


def _list(model: str, path: str, to_record: Any, docs: str, **extra: Any) -> Stream:
    """A Link-paged list whose body is a bare JSON array (every Freshdesk list endpoint)."""
    params = {**PER_PAGE, **extra.pop("params", {})}
    return Stream(model, path, "", LINKS, to_record, params=params, docs=DOCS + docs, **extra)


# https://developers.freshdesk.com/api/#list_all_contacts (``_updated_since``, ISO-8601)
CONTACTS = _list(
    "Contact",
    mapping.CONTACTS_PATH,
    mapping.contact_record,
    "#list_all_contacts",
    since_param="_updated_since",
    since_format=iso_seconds,
)
# https://developers.freshdesk.com/api/#list_all_agents (no changed-since filter: full list)
USERS = _list("User", mapping.AGENTS_PATH, mapping.user_record, "#list_all_agents")
# https://developers.freshdesk.com/api/#list_all_companies (full list)
ACCOUNTS = _list("Account", mapping.COMPANIES_PATH, mapping.account_record, "#list_all_companies")
# https://developers.freshdesk.com/api/#list_all_groups (full list)
TEAMS = _list("Team", mapping.GROUPS_PATH, mapping.team_record, "#list_all_groups")
# https://developers.freshdesk.com/api/#list_all_ticket_notes (per ticket; no changed-since filter,
# so a sync reads the conversations of each ticket the Ticket stream reported changed). Attachments
# have no list endpoint: each conversation's come along with it (``comment_and_attachments``).
COMMENTS = _list(
    "Comment",
    mapping.TICKETS_PATH + "/{parent}/conversations",
    mapping.comment_and_attachments,
    "#list_all_ticket_notes",
    parent="Ticket",
    carries=("Attachment",),
)


def tickets_stream(base_url: str) -> Stream:
    """https://developers.freshdesk.com/api/#list_all_tickets

    Without ``updated_since`` the list holds only tickets created in the last 30 days, so a full read
    starts at the epoch (``full_since``). Oldest change first, so a re-anchor never skips a ticket.
    ``include=description`` costs one more credit per page of 100, not per ticket.
    """
    return _list(
        "Ticket",
        mapping.TICKETS_PATH,
        partial(mapping.ticket_record, base_url=base_url),
        "#list_all_tickets",
        params={"order_by": "updated_at", "order_type": "asc", "include": "description"},
        since_param="updated_since",
        since_format=iso_seconds,
        full_since=EPOCH,
        max_page=MAX_PAGE,
    )


@registry.register
class FreshdeskConnector:
    """One Freshdesk desk (``acme.freshdesk.com``) for one linked account."""

    slug: ClassVar[str] = "freshdesk"
    name: ClassVar[str] = "Freshdesk"
    color: ClassVar[str] = "#25C16F"
    credential_fields: ClassVar[tuple[CredentialField, ...]] = (
        CredentialField(name="domain", label="Freshdesk domain (acme.freshdesk.com)", secret=False),
        CredentialField(name="api_key", label="API key"),
    )
    models: ClassVar[tuple[ModelSupport, ...]] = (
        ModelSupport(
            model="Ticket",
            operations=(FETCH, CREATE, UPDATE),
            # A requester is also needed, but falls back to the API key's own agent (see mapping).
            required_post_parameters=("name",),
            supported_fields=tuple(
                [
                    "name",
                    "description",
                    "status",
                    "priority",
                    "ticket_type",
                    "contact",
                    "creator",
                    "assignees",
                    "assigned_teams",
                    "account",
                    "parent_ticket",
                    "tags",
                    "due_date",
                    "remote_fields",
                ]
            ),
        ),
        ModelSupport(
            model="Comment",
            operations=(FETCH, CREATE),
            required_post_parameters=("ticket", "body"),
            supported_fields=("ticket", "body", "html_body", "is_private", "user", "contact"),
        ),
        # Attachments are read along with their conversation (the Comment stream); see COMMENTS.
        *(ModelSupport(model=m) for m in ("Contact", "User", "Account", "Team", "Attachment")),
    )

    streams: ClassVar[Mapping[str, Stream]] = {
        s.model: s for s in (tickets_stream("https://{domain}"), COMMENTS, CONTACTS, USERS, ACCOUNTS, TEAMS)
    }

    def __init__(self, context: ConnectorContext) -> None:
        creds = context.credentials
        self.base_url = (context.base_url or self.default_base_url(creds) or "").rstrip("/")
        self.client = VendorClient(
            context.http,
            base_url=self.base_url,
            auth=Basic(creds.get("api_key", ""), "X"),
            limiter=context.limiter or self.new_limiter(),
            classifier=Classifier(headers=HEADERS),
            retry=context.retry,
        )
        # ``ticket_url`` needs this desk's URL but a stream's mapper sees only the raw record, so each
        # instance shadows the class-level declaration with a tickets stream bound to its desk.
        vars(self)["streams"] = {**self.streams, "Ticket": tickets_stream(self.base_url)}
        self._me: dict[str, Any] | None = None

    @classmethod
    def default_base_url(cls, credentials: dict[str, str]) -> str | None:
        """``https://{domain}``; a bare ``acme`` means ``acme.freshdesk.com``."""
        domain = credentials.get("domain", "").strip().removeprefix("https://").strip("/")
        if not domain:
            return None
        return f"https://{domain if '.' in domain else domain + '.freshdesk.com'}"

    @classmethod
    def new_limiter(cls) -> RateLimiter:
        return plan_limiter(
            per_minute(DEFAULT_PER_MINUTE),
            headers=HEADERS,
            plan=account_plan,
            endpoints=ENDPOINT_BUCKETS,
            cost=request_cost,
        )

    # --- writes --------------------------------------------------------------------------------------

    async def check_credentials(self) -> None:
        """``GET /agents/me``: one cheap authenticated call (401 -> ``AuthError``)."""
        await self._agent_me()

    async def create_ticket(self, ticket: TicketCreate) -> RemoteRecord[Ticket]:
        email = None
        if not mapping.has_requester(ticket):
            email = await self._agent_email(ticket.creator if isinstance(ticket.creator, str) else None)
        raw = await self._send("POST", mapping.TICKETS_PATH, mapping.ticket_create_body(ticket, email))
        return mapping.ticket_record(raw, self.base_url)

    async def update_ticket(self, remote_id: str, changes: TicketUpdate) -> RemoteRecord[Ticket]:
        path = f"{mapping.TICKETS_PATH}/{remote_id}"
        body = mapping.ticket_update_body(changes)
        # Nothing Freshdesk stores was sent: answer with the ticket as it is instead of an empty PUT.
        raw = await self._send("PUT", path, body) if body else await self._get(path)
        return mapping.ticket_record(raw, self.base_url)

    async def create_comment(self, comment: CommentCreate) -> RemoteRecord[Comment]:
        if not comment.ticket:
            raise RejectedError("ticket: a comment needs its ticket")
        if mapping.is_note(comment):
            path, body = "notes", mapping.note_body(comment)
        else:
            path, body = "reply", mapping.reply_body(comment)
        raw = await self._send("POST", f"{mapping.TICKETS_PATH}/{comment.ticket}/{path}", body)
        return mapping.comment_record(raw)

    async def _agent_me(self) -> dict[str, Any]:
        """The API key's own agent (the requester of new tickets that name none)."""
        if self._me is None:
            self._me = await self._get(mapping.AGENTS_PATH + "/me")
        return self._me

    async def _agent_email(self, agent_id: str | None) -> str | None:
        """The e-mail of agent ``agent_id`` (``None``: the API key's own agent); a 404 is a bad id."""
        if agent_id is None:
            agent = await self._agent_me()
        else:
            try:
                agent = await self._get(f"{mapping.AGENTS_PATH}/{int(agent_id)}")
            except (ValueError, NotFoundError):
                raise RejectedError(f"creator: {agent_id!r} is not a Freshdesk agent") from None
        return (agent.get("contact") or {}).get("email") or agent.get("email")

    async def _get(self, path: str) -> Any:
        return msgspec.json.decode((await self.client.request("GET", path)).content)

    async def _send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        return msgspec.json.decode((await self.client.request(method, path, json=body)).content)
