"""The classic Zendesk v1 JSON API (``zendesk_classic``), over the same kind of seeded account.

Only the facts in vendors.md "Legacy v1 API" are sourced: paths without ``/api/v2`` and with an explicit
``.json``; ``?page=N`` page numbers; creates answer **201 with the new resource URL in ``Location``** and
an empty body; comments are added with ``PUT /tickets/{id}.json``; HTTP Basic (``email:password`` or
``email/token:api_token``); ``X-On-Behalf-Of: <end-user email>`` lets an admin act as that end user;
and the throttle is **HTTP 503, text/plain, ``Number of allowed API requests per minute exceeded``**
(no ``Retry-After``, no rate-limit headers).

The v1 record fields (``nice_id``, ``status_id``, ``priority_id``, ``via_id``, ``current_tags``,
``comments[].value``/``is_public``, ``roles``) and the ``YYYY/MM/DD HH:MM:SS +0000`` timestamps are from
memory of the 2012 documentation — no recording exists — so treat them as approximate.

Routes: ``GET/POST /tickets.json``, ``GET/PUT /tickets/{id}.json``, ``GET /rules/{view}.json`` (the v1
way to list tickets; every view lists all tickets here), ``GET/POST /users.json``,
``GET /users/{id}.json``, ``GET /organizations.json``, ``GET /groups.json``.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post, put
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from emulators.common.admin import admin_router
from emulators.common.clock import Clock, parse_iso
from emulators.common.config import RateLimit
from emulators.common.gate import EmulatorApp, Principal, principal_of
from emulators.common.http import JSON, Reply, encode, json_body, json_response
from emulators.common.ratelimit import Bucket, Usage
from emulators.zendesk.config import ZendeskConfig
from emulators.zendesk.desk import ApiError, ZendeskDesk
from emulators.zendesk.profile import ZendeskProfile

Req = Request[Any, Any, Any]
PER_PAGE = 30
STATUS_IDS = {"new": 0, "open": 1, "pending": 2, "solved": 3, "closed": 4, "hold": 6, "deleted": 5}
PRIORITY_IDS = {None: 0, "low": 1, "normal": 2, "high": 3, "urgent": 4}
TYPE_IDS = {None: 0, "question": 1, "incident": 2, "problem": 3, "task": 4}
ROLE_IDS = {"end-user": 0, "admin": 2, "agent": 4}
VIA_IDS = {"web": 0, "email": 4, "api": 5}


def _v1_time(value: str) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S +0000", time.gmtime(parse_iso(value)))


class ClassicProfile(ZendeskProfile):
    def authenticate(self, headers: dict[str, str]) -> Principal | None:
        # v1 honours X-On-Behalf-Of with plain Basic credentials (an admin acting as an end user).
        # Only Basic existed in v1; drop the header before the v2 logic so it is not applied twice.
        authorization = headers.get("authorization", "")
        if not authorization.lower().startswith("basic "):
            return None
        principal = super().authenticate({"authorization": authorization})
        target = headers.get("x-on-behalf-of")
        if principal is None or not target:
            return principal
        user_id = self.desk.user_by_email(target)
        if user_id is None:
            return None
        return Principal(user_id, target, principal.method, impersonated_by=principal.user_id)

    def buckets(self, method: str, path: str, query: str) -> list[Bucket]:
        return [Bucket("account", self.config.rate_limit.per_minute)]

    def rate_headers(self, usages: list[Usage]) -> list[tuple[str, str]]:
        return []

    def unauthorized(self) -> Reply:
        return Reply(401, b"Couldn't authenticate you", "text/plain; charset=utf-8")

    def throttled(self, retry_after: int) -> Reply:
        return Reply(503, b"Number of allowed API requests per minute exceeded", "text/plain; charset=utf-8")

    def server_error(self) -> Reply:
        return Reply(500, b"Internal Server Error", "text/plain; charset=utf-8")


def _ticket(desk: ZendeskDesk, row: dict[str, Any]) -> dict[str, Any]:
    comments = desk.comments(row["id"]) or []
    return {
        "nice_id": row["id"],
        "subject": row["subject"],
        "description": row["description"],
        "status_id": STATUS_IDS[row["status"]],
        "priority_id": PRIORITY_IDS[row["priority"]],
        "ticket_type_id": TYPE_IDS[row["type"]],
        "requester_id": row["requester_id"],
        "submitter_id": row["submitter_id"],
        "assignee_id": row["assignee_id"],
        "group_id": row["group_id"],
        "organization_id": row["organization_id"],
        "via_id": VIA_IDS.get(row["via"]["channel"], 0),
        "current_tags": " ".join(row["tags"]),
        "created_at": _v1_time(row["created_at"]),
        "updated_at": _v1_time(row["updated_at"]),
        "comments": [
            {
                "author_id": c["author_id"],
                "value": c["body"],
                "is_public": c["public"],
                "created_at": _v1_time(c["created_at"]),
                "attachments": [
                    {"id": a["id"], "filename": a["file_name"], "url": a["content_url"], "size": a["size"]}
                    for a in c["attachments"]
                ],
            }
            for c in comments
        ],
    }


def _user(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "roles": ROLE_IDS.get(row["role"], 0),
        "organization_id": row["organization_id"],
        "is_active": row["active"],
        "created_at": _v1_time(row["created_at"]),
        "updated_at": _v1_time(row["updated_at"]),
    }


def _page(request: Req, ids: list[int], render: Any) -> Response[bytes]:
    raw = request.query_params.get("page", "1")
    page = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    chunk = ids[(page - 1) * PER_PAGE : page * PER_PAGE]
    return json_response([render(i) for i in chunk])


def _routes(desk: ZendeskDesk, config: ZendeskConfig) -> list[Any]:
    base = config.base_url

    def ticket(i: int) -> dict[str, Any]:
        row = desk.tickets.get(i)
        assert row is not None
        return _ticket(desk, row)

    def user(i: int) -> dict[str, Any]:
        row = desk.users.get(i)
        assert row is not None
        return _user(row)

    def actor(request: Req) -> int:
        return principal_of(request).user_id or desk.admin_id

    @get(["/tickets", "/rules/{view_id:str}"], sync_to_thread=False)
    def list_tickets(request: Req) -> Response[bytes]:
        return _page(request, desk.tickets.ids, ticket)

    @get("/tickets/{ticket_id:int}", sync_to_thread=False)
    def show_ticket(ticket_id: FromPath[int]) -> Response[bytes]:
        if ticket_id not in desk.tickets:
            raise ApiError(404, "RecordNotFound", "Not found")
        return json_response(ticket(ticket_id))

    @post("/tickets")
    async def create_ticket(request: Req) -> Response[bytes]:
        spec = (await _json(request)).get("ticket") or {}
        body = {"subject": spec.get("subject"), "comment": {"body": spec.get("description")}}
        if spec.get("requester_email"):
            body["requester"] = {"email": spec["requester_email"], "name": spec.get("requester_name")}
        row, _ = desk.create_ticket(body, actor(request))
        return Response(
            b"", status_code=201, media_type=JSON, headers={"Location": f"{base}/tickets/{row['id']}.json"}
        )

    @put("/tickets/{ticket_id:int}")
    async def update_ticket(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        payload = await _json(request)
        spec = dict(payload.get("ticket") or {})
        comment = payload.get("comment") or spec.pop("comment", None)
        body: dict[str, Any] = {}
        if isinstance(comment, dict):
            body["comment"] = {"body": comment.get("value"), "public": comment.get("is_public", True)}
        statuses = {v: k for k, v in STATUS_IDS.items()}
        if "status_id" in spec:
            body["status"] = statuses.get(int(spec["status_id"]))
        desk.update_ticket(ticket_id, body, actor(request))
        return Response(b"", status_code=200, media_type=JSON)

    @get("/users", sync_to_thread=False)
    def list_users(request: Req) -> Response[bytes]:
        return _page(request, desk.users.ids, user)

    @get("/users/{user_id:int}", sync_to_thread=False)
    def show_user(user_id: FromPath[int]) -> Response[bytes]:
        if user_id not in desk.users:
            raise ApiError(404, "RecordNotFound", "Not found")
        return json_response(user(user_id))

    @post("/users")
    async def create_user(request: Req) -> Response[bytes]:
        spec = (await _json(request)).get("user") or {}
        roles = {v: k for k, v in ROLE_IDS.items()}
        row = desk.create_user({**spec, "role": roles.get(int(spec.get("roles", 0)), "end-user")})
        return Response(
            b"", status_code=201, media_type=JSON, headers={"Location": f"{base}/users/{row['id']}.json"}
        )

    @get("/organizations", sync_to_thread=False)
    def list_orgs(request: Req) -> Response[bytes]:
        def org(i: int) -> dict[str, Any]:
            row = desk.organizations.get(i) or {}
            return {
                "id": i,
                "name": row.get("name"),
                "is_shared": False,
                "created_at": _v1_time(row["created_at"]),
                "updated_at": _v1_time(row["updated_at"]),
            }

        return _page(request, desk.organizations.ids, org)

    @get("/groups", sync_to_thread=False)
    def list_groups(request: Req) -> Response[bytes]:
        def group(i: int) -> dict[str, Any]:
            row = desk.groups.get(i) or {}
            return {
                "id": i,
                "name": row.get("name"),
                "is_active": True,
                "created_at": _v1_time(row["created_at"]),
                "updated_at": _v1_time(row["updated_at"]),
            }

        return _page(request, desk.groups.ids, group)

    return [
        list_tickets,
        show_ticket,
        create_ticket,
        update_ticket,
        list_users,
        show_user,
        create_user,
        list_orgs,
        list_groups,
    ]


async def _json(request: Req) -> dict[str, Any]:
    try:
        body = await json_body(request)
    except ValueError as exc:
        raise ApiError(400, "InvalidJSON", "The request body is not valid JSON") from exc
    return body if isinstance(body, dict) else {}


def _error(_: Req, exc: ApiError) -> Response[bytes]:
    return Response(encode(exc.body), status_code=exc.status, media_type=JSON)


def _http_error(_: Req, exc: HTTPException) -> Response[bytes]:
    return Response(exc.detail.encode(), status_code=exc.status_code, media_type="text/plain; charset=utf-8")


def create_classic_app(config: ZendeskConfig | None = None, clock: Clock | None = None) -> EmulatorApp:
    config = config or ZendeskConfig(rate_limit=_classic_limit())
    clock = clock or Clock()
    desk = ZendeskDesk(config, clock)
    app = EmulatorApp(
        route_handlers=[*_routes(desk, config), admin_router()],
        exception_handlers={ApiError: _error, HTTPException: _http_error},
        state=State({"desk": desk}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    return app.attach(config, ClassicProfile(config, desk), clock)


def _classic_limit() -> RateLimit:
    return RateLimit(per_minute=700, endpoint_limits=False)
