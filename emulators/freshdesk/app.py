"""The Freshdesk API v2 emulator (``create_app``).

Routes: ``GET/POST /api/v2/tickets`` (filters, ``updated_since``, ``order_by``/``order_type``, the 30-day
default window, ``include=``), ``GET/PUT/DELETE /api/v2/tickets/{id}`` (``?include=conversations,
requester,stats,company``), ``GET /api/v2/tickets/{id}/conversations``, ``POST .../reply``,
``POST .../notes``; ``GET/POST /api/v2/contacts``, ``GET/PUT /api/v2/contacts/{id}``; ``GET /api/v2/agents``,
``/agents/me``, ``/agents/{id}``; companies and groups (list, show); attachment files at their
``attachment_url`` (no auth, like Freshdesk's signed S3 links).

Lists are bare JSON arrays paged by ``page``/``per_page`` (default 30, max 100) with a
``Link: <...>; rel="next"`` header while more pages exist.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from emulators.common.admin import admin_router
from emulators.common.clock import Clock, parse_iso
from emulators.common.gate import EmulatorApp
from emulators.common.http import JSON, encode, json_body, json_response
from emulators.freshdesk.config import FreshdeskConfig
from emulators.freshdesk.desk import FreshdeskDesk, FreshdeskError, not_found, validation_failed
from emulators.freshdesk.listing import TicketQueries
from emulators.freshdesk.profile import FreshdeskProfile

Req = Request[Any, Any, Any]
LIST_ONLY_TICKET = ("description", "description_text", "attachments")
SHOW_ONLY_CONTACT = ("deleted", "tags", "other_emails", "view_all_tickets", "other_companies", "avatar")
SHOW_ONLY_AGENT = ("group_ids", "role_ids", "skill_ids", "contribution_group_ids")
INCLUDES = ("conversations", "requester", "company", "stats", "description")


def _drop(*keys: str) -> Any:
    return lambda row: {k: v for k, v in row.items() if k not in keys}


def _paging(request: Req, max_page: int | None = None) -> tuple[int, int]:
    errors = []
    values = {}
    for name, default in (("page", 1), ("per_page", 30)):
        raw = request.query_params.get(name)
        value = int(raw) if raw is not None and raw.isdigit() else (default if raw is None else -1)
        if value < 1 or (name == "per_page" and value > 100):
            message = (
                "It should be a Positive Integer"
                if name == "page"
                else "It should be a Positive Integer less than or equal to 100"
            )
            errors.append((name, message, "invalid_value"))
        values[name] = value
    if max_page is not None and values["page"] > max_page:
        errors.append(
            ("page", f"It should be a Positive Integer less than or equal to {max_page}", "invalid_value")
        )
    if errors:
        raise validation_failed(*errors)
    return values["page"], values["per_page"]


def _page_response(request: Req, items: list[bytes], has_next: bool, base: str, page: int) -> Response[bytes]:
    headers = {}
    if has_next:
        params = [(k, v) for k, v in request.query_params.items() if k != "page"] + [("page", str(page + 1))]
        headers["Link"] = f'<{base}{request.url.path}?{urlencode(params)}>; rel="next"'
    return json_response(b"[" + b",".join(items) + b"]", headers=headers)


def _routes(desk: FreshdeskDesk, config: FreshdeskConfig) -> list[Any]:
    base = config.base_url
    queries = TicketQueries(desk)

    def simple_list(request: Req, ids: list[int], enc: Any) -> Response[bytes]:
        page, per_page = _paging(request)
        chunk = ids[(page - 1) * per_page : page * per_page]
        return _page_response(request, [enc(i) for i in chunk], len(ids) > page * per_page, base, page)

    def embed(ticket_id: FromPath[int], row: dict[str, Any], includes: list[str]) -> dict[str, Any]:
        out = dict(row)
        if "conversations" in includes:
            out["conversations"] = (desk.conversations(ticket_id) or [])[:10]
        if "requester" in includes:
            agent = desk.agents.get(row["requester_id"]) or {}
            contact = desk.contacts.get(row["requester_id"]) or {
                "id": agent.get("id"),
                **agent.get("contact", {}),
            }
            out["requester"] = {k: contact.get(k) for k in ("id", "name", "email", "mobile", "phone")}
        if "company" in includes and row["company_id"]:
            company = desk.companies.get(row["company_id"]) or {}
            out["company"] = {"id": company.get("id"), "name": company.get("name")}
        if "stats" in includes:
            out["stats"] = _stats(row)
        return out

    def includes_of(request: Req) -> list[str]:
        wanted = [x for x in (request.query_params.get("include") or "").split(",") if x]
        bad = [x for x in wanted if x not in INCLUDES]
        if bad:
            raise validation_failed(
                ("include", f"It should be one of these values: '{','.join(INCLUDES)}'", "invalid_value")
            )
        return wanted

    @get("/api/v2/tickets", sync_to_thread=False)
    def list_tickets(request: Req) -> Response[bytes]:
        page, per_page = _paging(request, config.max_page)
        includes = includes_of(request)
        ids, has_next = queries.page(dict(request.query_params.items()), page, per_page)
        # ``include=description`` embeds the description in both forms (HTML and plain text).
        drop = [
            k for k in LIST_ONLY_TICKET if not (k.startswith("description") and "description" in includes)
        ]
        view = "list+" + ",".join(sorted(includes))
        tickets = desk.tickets

        def enc(i: int) -> bytes:
            if includes:
                row = tickets.get(i) or tickets.get_deleted(i) or {}
                return encode(embed(i, {k: v for k, v in row.items() if k not in drop}, includes))
            return tickets.encoded(i, view, _drop(*drop))

        return _page_response(request, [enc(i) for i in ids], has_next, base, page)

    @post("/api/v2/tickets")
    async def create_ticket(request: Req) -> Response[bytes]:
        return json_response(desk.create_ticket(await _object(request)), 201)

    @get("/api/v2/tickets/{ticket_id:int}", sync_to_thread=False)
    def show_ticket(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        row = desk.tickets.get(ticket_id)
        if row is None:
            raise not_found()
        includes = includes_of(request)
        return json_response(
            embed(ticket_id, row, includes) if includes else desk.tickets.encoded(ticket_id, "show", dict)
        )

    @put("/api/v2/tickets/{ticket_id:int}")
    async def update_ticket(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        return json_response(desk.update_ticket(ticket_id, await _object(request)))

    @delete("/api/v2/tickets/{ticket_id:int}", status_code=204, sync_to_thread=False)
    def delete_ticket(ticket_id: FromPath[int]) -> None:
        if not desk.delete_ticket(ticket_id):
            raise not_found()

    @get("/api/v2/tickets/{ticket_id:int}/conversations", sync_to_thread=False)
    def conversations(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        rows = desk.conversations(ticket_id)
        if rows is None:
            raise not_found()
        return simple_list(request, list(range(len(rows))), lambda i: encode(rows[i]))

    @post("/api/v2/tickets/{ticket_id:int}/reply")
    async def reply(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        return json_response(desk.add_conversation(ticket_id, await _object(request), note=False), 201)

    @post("/api/v2/tickets/{ticket_id:int}/notes")
    async def note(request: Req, ticket_id: FromPath[int]) -> Response[bytes]:
        return json_response(desk.add_conversation(ticket_id, await _object(request), note=True), 201)

    @get("/api/v2/contacts", sync_to_thread=False)
    def list_contacts(request: Req) -> Response[bytes]:
        contacts = desk.contacts
        ids = contacts.ids
        since = request.query_params.get("_updated_since")
        if since:
            try:
                threshold = parse_iso(since)
            except ValueError as exc:
                raise validation_failed(
                    ("_updated_since", "It should be in the 'valid date time' format", "invalid_date")
                ) from exc
            ids = sorted(
                i for stamp, i in contacts.changed_since(int(threshold)) if not contacts.is_deleted(i)
            )
        if request.query_params.get("email"):
            found = desk.contact_by_email(request.query_params["email"])
            ids = [found] if found is not None else []
        return simple_list(request, ids, lambda i: contacts.encoded(i, "list", _drop(*SHOW_ONLY_CONTACT)))

    @post("/api/v2/contacts")
    async def create_contact(request: Req) -> Response[bytes]:
        return json_response(desk.create_contact(await _object(request)), 201)

    @get("/api/v2/contacts/{contact_id:int}", sync_to_thread=False)
    def show_contact(contact_id: FromPath[int]) -> Response[bytes]:
        if contact_id not in desk.contacts:
            raise not_found()
        return json_response(desk.contacts.encoded(contact_id, "show", dict))

    @get("/api/v2/agents", sync_to_thread=False)
    def list_agents(request: Req) -> Response[bytes]:
        return simple_list(
            request, desk.agents.ids, lambda i: desk.agents.encoded(i, "list", _drop(*SHOW_ONLY_AGENT))
        )

    @get("/api/v2/agents/me", sync_to_thread=False)
    def me() -> Response[bytes]:
        return json_response(desk.agents.encoded(desk.me, "show", _drop("deactivated")))

    @get("/api/v2/agents/{agent_id:int}", sync_to_thread=False)
    def show_agent(agent_id: FromPath[int]) -> Response[bytes]:
        if agent_id not in desk.agents:
            raise not_found()
        return json_response(desk.agents.encoded(agent_id, "show", _drop("deactivated")))

    @get("/api/v2/companies", sync_to_thread=False)
    def list_companies(request: Req) -> Response[bytes]:
        return simple_list(request, desk.companies.ids, lambda i: desk.companies.encoded(i, "show", dict))

    @get("/api/v2/companies/{company_id:int}", sync_to_thread=False)
    def show_company(company_id: FromPath[int]) -> Response[bytes]:
        if company_id not in desk.companies:
            raise not_found()
        return json_response(desk.companies.encoded(company_id, "show", dict))

    @get("/api/v2/groups", sync_to_thread=False)
    def list_groups(request: Req) -> Response[bytes]:
        return simple_list(
            request, desk.groups.ids, lambda i: desk.groups.encoded(i, "list", _drop("agent_ids"))
        )

    @get("/api/v2/groups/{group_id:int}", sync_to_thread=False)
    def show_group(group_id: FromPath[int]) -> Response[bytes]:
        if group_id not in desk.groups:
            raise not_found()
        return json_response(desk.groups.encoded(group_id, "show", dict))

    @get("/data/helpdesk/attachments/production/{att_id:int}/original/{name:str}", sync_to_thread=False)
    def download(att_id: FromPath[int], name: FromPath[str]) -> Response[bytes]:
        meta = desk.file(att_id)
        if meta is None or meta["name"] != name:
            raise not_found()
        pattern = f"{name} #{att_id}\n".encode()
        content = (pattern * (meta["file_size"] // len(pattern) + 1))[: meta["file_size"]]
        return Response(content, media_type=meta["content_type"])

    return [
        list_tickets,
        create_ticket,
        show_ticket,
        update_ticket,
        delete_ticket,
        conversations,
        reply,
        note,
        list_contacts,
        create_contact,
        show_contact,
        list_agents,
        me,
        show_agent,
        list_companies,
        show_company,
        list_groups,
        show_group,
        download,
    ]


def _stats(row: dict[str, Any]) -> dict[str, Any]:
    resolved = row["updated_at"] if row["status"] in (4, 5) else None
    return {
        "agent_responded_at": row["updated_at"] if row["responder_id"] else None,
        "requester_responded_at": row["created_at"],
        "first_responded_at": row["updated_at"] if row["responder_id"] else None,
        "status_updated_at": row["updated_at"],
        "reopened_at": None,
        "resolved_at": resolved,
        "closed_at": row["updated_at"] if row["status"] == 5 else None,
        "pending_since": row["updated_at"] if row["status"] == 3 else None,
    }


async def _object(request: Req) -> dict[str, Any]:
    try:
        body = await json_body(request)
    except ValueError as exc:
        raise FreshdeskError(
            400, {"code": "invalid_json", "message": "Request body has invalid json format"}
        ) from exc
    if not isinstance(body, dict):
        raise FreshdeskError(400, {"code": "invalid_json", "message": "Request body has invalid json format"})
    return body


def _error(_: Req, exc: FreshdeskError) -> Response[bytes]:
    return Response(
        encode(exc.body) if exc.body is not None else b"", status_code=exc.status, media_type=JSON
    )


def _http_error(_: Req, exc: HTTPException) -> Response[bytes]:
    return Response(b"", status_code=exc.status_code, media_type=JSON)


def create_app(config: FreshdeskConfig | None = None, clock: Clock | None = None) -> EmulatorApp:
    config = config or FreshdeskConfig()
    clock = clock or Clock()
    desk = FreshdeskDesk(config, clock)
    app = EmulatorApp(
        route_handlers=[*_routes(desk, config), admin_router()],
        exception_handlers={FreshdeskError: _error, HTTPException: _http_error},
        state=State({"desk": desk}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    return app.attach(config, FreshdeskProfile(config, desk.me), clock)
