"""The Zendesk Support API v2 emulator (``create_app``).

Routes (``.json`` optional everywhere, as on Zendesk):

* tickets: ``GET/POST /api/v2/tickets``, ``GET /api/v2/tickets/show_many?ids=``,
  ``GET/PUT/DELETE /api/v2/tickets/{id}``, ``GET /api/v2/tickets/{id}/comments``,
  ``GET /api/v2/deleted_tickets``
* users: ``GET/POST /api/v2/users``, ``POST /api/v2/users/create_many``, ``GET /api/v2/users/me``,
  ``GET/PUT/DELETE /api/v2/users/{id}`` (deleting is soft: the user is still shown, ``active: false``);
  organizations and groups: list and show
* attachments: ``GET /api/v2/attachments/{id}``, ``POST /api/v2/uploads?filename=[&token=]``, and the
  file itself at ``content_url`` (``/attachments/token/{token}/?name=``, no auth, like a signed URL)
* incremental exports: ``/api/v2/incremental/tickets`` (time), ``/api/v2/incremental/tickets/cursor``,
  ``/api/v2/incremental/users`` (time), ``/api/v2/incremental/users/cursor``,
  ``/api/v2/incremental/organizations`` (time)
* ticket sharing: ``/api/v2/sharing_agreements`` and the protocol under ``/sharing`` (see ``sharing.py``)

Lists use offset pagination unless a ``page[...]`` parameter asks for cursor pagination, as Zendesk does.
Payload shapes follow the 2026 Nango recordings (the newest); per-endpoint differences the recordings
show are kept: cursor-paged ticket lists omit ``fields``; ``/users/me`` adds ``authenticity_token``;
exports add ``permanently_deleted`` (users) and ``deleted_at`` (organizations).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from emulators.common.admin import admin_router
from emulators.common.clock import Clock
from emulators.common.gate import EmulatorApp, principal_of
from emulators.common.http import JSON, encode, json_body, json_response
from emulators.zendesk import incremental, paging
from emulators.zendesk.config import ZendeskConfig
from emulators.zendesk.desk import ApiError, ZendeskDesk, not_found
from emulators.zendesk.profile import ZendeskProfile
from emulators.zendesk.sharing import Sharing
from emulators.zendesk.sharing import routes as sharing_routes

Req = Request[Any, Any, Any]


def _without_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "fields"}


def _with(**extra: Any) -> Any:
    return lambda row: {**row, **extra}


def _same(row: dict[str, Any]) -> dict[str, Any]:
    return row


def _body_of(payload: Any, key: str) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get(key), dict):
        raise ApiError(400, "InvalidParameter", f"Parameter {key} is required")
    return payload[key]  # type: ignore[no-any-return]


def _routes(desk: ZendeskDesk, config: ZendeskConfig) -> list[Any]:
    base = config.base_url
    tickets, users, orgs, groups = desk.tickets, desk.users, desk.organizations, desk.groups

    def ticket_list(i: int) -> bytes:
        return tickets.encoded(i, "list", _without_fields)

    def ticket_full(i: int) -> bytes:
        return tickets.encoded(i, "full", _same)

    def listing(request: Req, ids: list[int], key: str, order: str, path: str, enc: Any) -> Response[bytes]:
        url = f"{base}{path}.json"
        if paging.uses_cursor(request):
            return json_response(paging.cursor_page(request, ids, key, order, url, enc))
        return json_response(paging.offset_page(request, ids, key, url, enc))

    def actor(request: Req) -> int:
        return principal_of(request).user_id or desk.admin_id

    @get("/api/v2/tickets", sync_to_thread=False)
    def list_tickets(request: Req) -> Response[bytes]:
        # Recorded: cursor pages omit ``fields``, offset pages carry it (zenpy_tickets_cursor_pagination).
        encode_ticket = ticket_list if paging.uses_cursor(request) else ticket_full
        return listing(request, tickets.ids, "tickets", "nice_id", "/api/v2/tickets", encode_ticket)

    @get("/api/v2/tickets/show_many", sync_to_thread=False)
    def show_many(request: Req) -> Response[bytes]:
        wanted = [int(x) for x in (request.query_params.get("ids") or "").split(",") if x.strip().isdigit()]
        found = [i for i in wanted[:100] if i in tickets]
        return json_response(
            paging.offset_page(
                request, found, "tickets", f"{base}/api/v2/tickets/show_many.json", ticket_full
            )
        )

    @post("/api/v2/tickets")
    async def create_ticket(request: Req) -> Response[bytes]:
        row, audit = desk.create_ticket(_body_of(await _json(request), "ticket"), actor(request))
        headers = {"Location": f"{base}/api/v2/tickets/{row['id']}.json"}
        return json_response({"ticket": row, "audit": audit}, 201, headers)

    @get("/api/v2/tickets/{ticket_id:int}", sync_to_thread=False)
    def show_ticket(ticket_id: FromPath[int]) -> Response[bytes]:
        if ticket_id not in tickets:
            raise not_found()
        return json_response(b'{"ticket":' + ticket_full(ticket_id) + b"}")

    @put("/api/v2/tickets/{ticket_id:int}")
    async def update_ticket(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        body = _body_of(await _json(request), "ticket")
        row, audit = desk.update_ticket(ticket_id, body, actor(request))
        if desk.sharing is not None:  # shares (``sharing_agreement_ids``) or pushes to the partner
            desk.sharing.after_ticket_update(ticket_id, body, row, actor(request))
        return json_response({"ticket": row, "audit": audit})

    @delete("/api/v2/tickets/{ticket_id:int}", status_code=204, sync_to_thread=False)
    def delete_ticket(request: Req, ticket_id: FromPath[int]) -> None:
        if not desk.delete_ticket(ticket_id, actor(request)):
            raise not_found()

    @get("/api/v2/tickets/{ticket_id:int}/comments", sync_to_thread=False)
    def list_comments(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        comments = desk.comments(ticket_id)
        if comments is None:
            raise not_found()
        by_id = {c["id"]: c for c in comments}
        path = f"/api/v2/tickets/{ticket_id}/comments"
        return listing(request, sorted(by_id), "comments", "created_at,id", path, lambda i: encode(by_id[i]))

    @get("/api/v2/deleted_tickets", sync_to_thread=False)
    def deleted_tickets(request: Req) -> Response[bytes]:
        ids = sorted(desk.deletions)
        return listing(
            request,
            ids,
            "deleted_tickets",
            "id",
            "/api/v2/deleted_tickets",
            lambda i: encode(desk.deletions[i]),
        )

    @get("/api/v2/users", sync_to_thread=False)
    def list_users(request: Req) -> Response[bytes]:
        roles = set(request.query_params.getall("role", []) + request.query_params.getall("role[]", []))
        ids = users.ids if not roles else [i for i in users.ids if (users.get(i) or {}).get("role") in roles]
        return listing(request, ids, "users", "id", "/api/v2/users", lambda i: users.encoded(i, "api", _same))

    @post("/api/v2/users")
    async def create_user(request: Req) -> Response[bytes]:
        row = desk.create_user(_body_of(await _json(request), "user"))
        return json_response({"user": row}, 201, {"Location": f"{base}/api/v2/users/{row['id']}.json"})

    @post("/api/v2/users/create_many")
    async def create_many_users(request: Req) -> Response[bytes]:
        payload = await _json(request)
        batch = payload.get("users") if isinstance(payload, dict) else None
        if not isinstance(batch, list):
            raise ApiError(400, "InvalidParameter", "Parameter users is required")
        if len(batch) > 100:
            raise ApiError(400, "TooManyValues", "Maximum 100 users may be created per call")
        results = [
            {"id": desk.create_user(u)["id"], "status": "Created", "email": u.get("email")} for u in batch
        ]
        job = f"V3-{secrets.token_hex(16)}"
        status = {
            "id": job,
            "url": f"{base}/api/v2/job_statuses/{job}.json",
            "total": len(batch),
            "progress": len(batch),
            "status": "completed",
            "message": "Completed",
            "results": results,
        }
        return json_response({"job_status": status})

    @get("/api/v2/users/me", sync_to_thread=False)
    def me(request: Req) -> Response[bytes]:
        row = users.get(actor(request))
        assert row is not None
        return json_response({"user": {**row, "authenticity_token": secrets.token_urlsafe(64)}})

    @get("/api/v2/users/{user_id:int}", sync_to_thread=False)
    def show_user(user_id: FromPath[int]) -> Response[bytes]:
        if user_id in users:
            return json_response(b'{"user":' + users.encoded(user_id, "api", _same) + b"}")
        deleted = desk.user_shown(user_id)  # soft-deleted users are still shown, inactive
        if deleted is None:
            raise not_found()
        return json_response({"user": deleted})

    @delete("/api/v2/users/{user_id:int}", status_code=200, sync_to_thread=False)
    def delete_user(user_id: FromPath[int]) -> Response[bytes]:
        row = desk.delete_user(user_id)
        if row is None:
            raise not_found()
        return json_response({"user": row})

    @put("/api/v2/users/{user_id:int}")
    async def update_user(request: Req, user_id: FromPath[int]) -> Response[bytes]:
        row = desk.update_user(user_id, _body_of(await _json(request), "user"))
        if row is None:
            raise not_found()
        return json_response({"user": row})

    @get("/api/v2/organizations", sync_to_thread=False)
    def list_orgs(request: Req) -> Response[bytes]:
        return listing(
            request,
            orgs.ids,
            "organizations",
            "id",
            "/api/v2/organizations",
            lambda i: orgs.encoded(i, "api", _same),
        )

    @get("/api/v2/organizations/{org_id:int}", sync_to_thread=False)
    def show_org(org_id: FromPath[int]) -> Response[bytes]:
        if org_id not in orgs:
            raise not_found()
        return json_response(b'{"organization":' + orgs.encoded(org_id, "api", _same) + b"}")

    @get("/api/v2/groups", sync_to_thread=False)
    def list_groups(request: Req) -> Response[bytes]:
        return listing(
            request,
            groups.ids,
            "groups",
            "name,id",
            "/api/v2/groups",
            lambda i: groups.encoded(i, "api", _same),
        )

    @get("/api/v2/groups/{group_id:int}", sync_to_thread=False)
    def show_group(group_id: FromPath[int]) -> Response[bytes]:
        if group_id not in groups:
            raise not_found()
        return json_response(b'{"group":' + groups.encoded(group_id, "api", _same) + b"}")

    @get("/api/v2/attachments/{att_id:int}", sync_to_thread=False)
    def show_attachment(att_id: FromPath[int]) -> Response[bytes]:
        meta = desk.attachment(att_id)
        if meta is None:
            raise not_found()
        return json_response({"attachment": meta})

    @post("/api/v2/uploads")
    async def upload(request: Req) -> Response[bytes]:
        name = request.query_params.get("filename")
        if not name:
            raise ApiError(400, "InvalidParameter", "Parameter filename is required")
        kind = request.headers.get("content-type")
        result = desk.upload(name, await request.body(), kind, request.query_params.get("token"))
        location = result["attachment"]["url"]
        # The recorded upload answer is JSON served as text/plain (zenpy_upload_attachment).
        return Response(
            encode({"upload": result}),
            status_code=201,
            media_type="text/plain; charset=utf-8",
            headers={"Location": location},
        )

    @get("/attachments/token/{token:str}", sync_to_thread=False)
    def download(token: FromPath[str]) -> Response[bytes]:
        found = desk.file_content(token)
        if found is None:
            raise not_found()
        meta, content = found
        disposition = f'attachment; filename="{meta["file_name"]}"'
        return Response(
            content, media_type=meta["content_type"], headers={"Content-Disposition": disposition}
        )

    def export(kind: str, table: Any, key: str, view: str, render: Any) -> Any:
        path = f"/api/v2/incremental/{key}"
        cursor = kind == "cursor"
        url = f"{base}{path}/cursor.json" if cursor else f"{base}{path}.json"
        run = incremental.cursor_export if cursor else incremental.time_export

        @get(path + ("/cursor" if cursor else ""), sync_to_thread=False, name=f"export-{key}-{kind}")
        def handler(request: Req) -> Response[bytes]:
            until = int(desk.clock.now()) - config.export_lag_seconds
            encoded = run(request, table, key, url, lambda i: table.encoded(i, view, render), until)
            return json_response(encoded)

        return handler

    return [
        list_tickets,
        show_many,
        create_ticket,
        show_ticket,
        update_ticket,
        delete_ticket,
        list_comments,
        deleted_tickets,
        list_users,
        create_user,
        create_many_users,
        me,
        show_user,
        update_user,
        delete_user,
        list_orgs,
        show_org,
        list_groups,
        show_group,
        show_attachment,
        upload,
        download,
        export("time", tickets, "tickets", "full", _same),
        export("cursor", tickets, "tickets", "full", _same),
        export("time", users, "users", "export", _with(permanently_deleted=False)),
        export("cursor", users, "users", "export", _with(permanently_deleted=False)),
        export("time", orgs, "organizations", "export", _with(deleted_at=None)),
    ]


async def _json(request: Req) -> Any:
    try:
        return await json_body(request)
    except ValueError as exc:
        raise ApiError(400, "InvalidJSON", "The request body is not valid JSON") from exc


def _api_error(_: Req, exc: ApiError) -> Response[bytes]:
    return Response(encode(exc.body), status_code=exc.status, media_type=JSON)


def _http_error(_: Req, exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 404:
        return Response(encode(not_found().body), status_code=404, media_type=JSON)
    return Response(
        encode({"error": "InvalidEndpoint", "description": exc.detail}),
        status_code=exc.status_code,
        media_type=JSON,
    )


def create_app(
    config: ZendeskConfig | None = None,
    clock: Clock | None = None,
    sharing_client: httpx.Client | None = None,
) -> EmulatorApp:
    """``sharing_client`` sends the Ticket Sharing requests to partners (inject one for in-process tests)."""
    config = config or ZendeskConfig()
    clock = clock or Clock()
    desk = ZendeskDesk(config, clock)
    desk.sharing = Sharing(desk, config.base_url, sharing_client)
    app = EmulatorApp(
        route_handlers=[
            *_routes(desk, config),
            *sharing_routes(desk.sharing, lambda r: principal_of(r).user_id or desk.admin_id),
            admin_router(),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
        state=State({"desk": desk}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    return app.attach(config, ZendeskProfile(config, desk), clock)
