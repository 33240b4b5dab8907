"""List and retrieve endpoints of the common models, generated from declarations.

Each ``ModelSpec`` names a model, its URL, its filters and its expandable relations; ``list_handler`` and
``retrieve_handler`` turn it into Litestar handlers whose signature (and so validation and OpenAPI) is
built from the declaration.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import ColumnElement, Table

from app.api import filters as f
from app.api.cursor import decode_cursor, encode_cursor
from app.api.deps import Account, Conn
from app.api.errors import bad_request, not_found
from app.api.filters import COMMON, Filter
from app.api.render import RenderOptions, page_bytes, render
from app.db.records import StoredRow, select_rows
from app.db.tables import RECORD_TABLES
from schemas import models as m
from schemas.envelopes import ErrorBody, Page

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class ModelSpec:
    model: str
    path: str
    filters: tuple[Filter, ...] = COMMON
    expand: tuple[str, ...] = ()
    #: Fields ``show_enum_origins`` may name (tickets: priority, status, ticket_type).
    enum_fields: tuple[str, ...] = ()

    @property
    def struct(self) -> type[m.CommonModel]:
        return m.MODELS[self.model]


def _unsupported(param: str) -> f.Clause:
    def clause(_t: Table, _v: Any, _a: str) -> ColumnElement[bool]:
        raise bad_request(f"the {param} filter is not supported yet", problem_type="UNSUPPORTED_FILTER")

    return clause


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        model="Ticket",
        path="tickets",
        filters=(
            *COMMON,
            Filter("account_id", str, "Tickets of this account.", f.equals("account_id")),
            Filter("contact_id", str, "Tickets of this contact.", f.equals("contact_id")),
            Filter("creator_id", str, "Tickets created by this user.", f.equals("creator_id")),
            Filter(
                "creator_ids",
                str,
                "Comma-separated user ids; any of them created it.",
                f.any_of("creator_id"),
            ),
            Filter("parent_ticket_id", str, "Sub-tickets of this ticket.", f.equals("parent_ticket_id")),
            Filter(
                "assignee_ids",
                str,
                "Comma-separated user ids; any is assigned.",
                f.linked("Ticket", "assignees"),
            ),
            Filter(
                "collection_ids", str, "Comma-separated collection ids.", f.linked("Ticket", "collections")
            ),
            Filter("remote_ids", str, "Comma-separated vendor ids.", f.any_of("remote_id")),
            Filter("tags", str, "Comma-separated tags; any of them is set.", f.linked("Ticket", "tags")),
            Filter(
                "status",
                f.StatusFilter,
                "Status; an empty value selects tickets without one.",
                f.equals_or_null("status"),
            ),
            Filter("priority", f.PriorityFilter, "Priority.", f.equals("priority")),
            Filter("ticket_type", str, "Ticket type (exact).", f.equals("ticket_type")),
            Filter("name", str, "Ticket name (exact).", f.equals("name")),
            Filter("ticket_url", str, "Substring of the vendor URL of the ticket.", f.contains("ticket_url")),
            *f.time_range("completed", "completed_at", "tickets completed"),
            *f.time_range("due", "due_date", "tickets due"),
            *f.time_range("remote_created", "remote_created_at", "tickets created in the vendor"),
            *f.time_range("remote_updated", "remote_updated_at", "tickets updated in the vendor"),
        ),
        expand=(
            "account",
            "assigned_teams",
            "assignees",
            "attachments",
            "collections",
            "contact",
            "creator",
            "parent_ticket",
            "permissions",
        ),
        enum_fields=("priority", "status", "ticket_type"),
    ),
    ModelSpec(
        model="Comment",
        path="comments",
        filters=(
            *COMMON,
            Filter("ticket_id", str, "Comments of this ticket.", f.equals("ticket_id")),
            Filter(
                "remote_created_after",
                datetime,
                "Created in the vendor after this datetime.",
                f.after("remote_created_at"),
            ),
        ),
        expand=("contact", "ticket", "user"),
    ),
    ModelSpec(
        model="Contact",
        path="contacts",
        filters=(*COMMON, Filter("email_address", str, "Email address (exact).", f.equals("email_address"))),
        expand=("account",),
    ),
    ModelSpec(model="Account", path="accounts"),
    ModelSpec(
        model="User",
        path="users",
        filters=(
            *COMMON,
            Filter(
                "email_address", str, "Email address (case-insensitive).", f.lower_equals("email_address")
            ),
            Filter("team", str, "Users of this team.", f.linked("User", "teams", many=False)),
            Filter("teams", str, "Comma-separated team ids; member of any.", f.linked("User", "teams")),
            Filter("roles", str, "Comma-separated role ids; has any.", f.linked("User", "roles")),
            Filter("collections", str, "Not supported yet (400).", _unsupported("collections")),
        ),
        expand=("roles", "teams"),
    ),
    ModelSpec(model="Team", path="teams"),
    ModelSpec(
        model="Attachment",
        path="attachments",
        filters=(
            *COMMON,
            Filter("ticket_id", str, "Attachments of this ticket.", f.equals("ticket_id")),
            Filter(
                "remote_created_after",
                datetime,
                "Created in the vendor after this datetime.",
                f.after("remote_created_at"),
            ),
        ),
        expand=("ticket",),
    ),
    ModelSpec(
        model="Collection",
        path="collections",
        filters=(
            *COMMON,
            Filter(
                "collection_type",
                Literal["LIST", "PROJECT", ""],
                "Collection type.",
                f.equals_or_null("collection_type"),
            ),
            Filter("name", str, "Collection name (exact).", f.equals("name")),
            Filter(
                "parent_collection_id", str, "Children of this collection.", f.equals("parent_collection_id")
            ),
        ),
        expand=("parent_collection", "permissions"),
        enum_fields=("collection_type",),
    ),
    ModelSpec(model="Tag", path="tags"),
    ModelSpec(model="Role", path="roles"),
)


def _param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _optional(typ: Any, description: str) -> Any:
    return Annotated[typ | None, QueryParameter(description=description, required=False)]


def _flag(description: str) -> Any:
    return Annotated[bool, QueryParameter(description=description, required=False)]


def _view_params(spec: ModelSpec) -> list[inspect.Parameter]:
    """Parameters shared by list and retrieve: what to include in each object."""
    params = [
        _param("include_remote_data", _flag("Include the vendor's original payload as remote_data."), False),
        _param(
            "include_shell_data",
            _flag("Accepted for compatibility; deskbridge keeps no shell records."),
            False,
        ),
    ]
    if spec.expand:
        params.append(
            _param(
                "expand",
                _optional(
                    list[str], "Relations to return as objects, comma-separated: " + ", ".join(spec.expand)
                ),
            )
        )
    if spec.enum_fields:
        described = "Comma-separated fields to return as the vendor's raw value: " + ", ".join(
            spec.enum_fields
        )
        params.append(_param("show_enum_origins", _optional(str, described)))
        params.append(_param("remote_fields", _optional(str, "Deprecated alias of show_enum_origins.")))
    if spec.model == "Ticket":
        params.append(
            _param(
                "include_remote_fields", _flag("Accepted; vendor custom fields are not mapped yet."), False
            )
        )
    return params


def _render_options(spec: ModelSpec, params: dict[str, Any]) -> RenderOptions:
    expand: list[str] = []
    for value in params.get("expand") or ():
        expand.extend(f.csv(value))
    unknown = sorted(set(expand) - set(spec.expand))
    if unknown:
        raise bad_request(
            f"expand: unknown relation(s) {', '.join(unknown)}; allowed: {', '.join(spec.expand)}"
        )
    origins = f.csv(params.get("show_enum_origins") or params.get("remote_fields") or "")
    bad = sorted(set(origins) - set(spec.enum_fields))
    if bad:
        raise bad_request(
            f"show_enum_origins: unknown field(s) {', '.join(bad)}; allowed: " + ", ".join(spec.enum_fields)
        )
    return RenderOptions(
        expand=tuple(dict.fromkeys(expand)),
        include_remote_data=bool(params.get("include_remote_data")),
        enum_origins=tuple(origins),
    )


Handler = Callable[..., Coroutine[Any, Any, Response[bytes]]]


def _with_signature(fn: Handler, name: str, params: list[inspect.Parameter]) -> Handler:
    """Give ``fn(**kwargs)`` an explicit signature so Litestar validates and documents each parameter."""
    fixed = [
        _param("account", Account, inspect.Parameter.empty),
        _param("conn", Conn, inspect.Parameter.empty),
    ]
    fn.__signature__ = inspect.Signature([*fixed, *params], return_annotation=Response[bytes])  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in [*fixed, *params]} | {"return": Response[bytes]}
    fn.__name__ = fn.__qualname__ = name
    return fn


def _json(content: bytes) -> Response[bytes]:
    return Response(content=content, media_type="application/json")


_ERRORS = {
    400: ResponseSpec(data_container=ErrorBody, description="Invalid parameter"),
    401: ResponseSpec(data_container=ErrorBody, description="Missing or invalid API key or account token"),
}


def list_handler(spec: ModelSpec) -> HTTPRouteHandler:
    table = RECORD_TABLES[spec.model]
    params = [
        *(_param(flt.param, _optional(flt.type, flt.description)) for flt in spec.filters),
        _param("cursor", _optional(str, "The next or previous cursor of an earlier page.")),
        _param(
            "page_size",
            Annotated[
                int,
                QueryParameter(
                    ge=1, le=MAX_PAGE_SIZE, required=False, description="Results per page (1-100)."
                ),
            ],
            DEFAULT_PAGE_SIZE,
        ),
        _param("include_deleted_data", _flag("Include records deleted in the vendor."), False),
        *_view_params(spec),
    ]

    async def list_records(account: Account, conn: Conn, **q: Any) -> Response[bytes]:
        where: list[ColumnElement[bool]] = [table.c.linked_account_id == account.id]
        if not q["include_deleted_data"]:
            where.append(table.c.remote_was_deleted.is_(False))
        for flt in spec.filters:
            if q.get(flt.param) is not None:
                where.append(flt.clause(table, q[flt.param], account.id))
        options = _render_options(spec, q)
        cursor = decode_cursor(q["cursor"]) if q.get("cursor") else None
        size: int = q["page_size"]
        rows, next_cursor, previous_cursor = await _page(conn, table, where, cursor, size, options.extras)
        items = await render(conn, account.id, spec.model, rows, options)
        return _json(page_bytes(next_cursor, previous_cursor, items))

    handler = _with_signature(list_records, f"list_{spec.path}", params)
    return get(
        f"/{spec.path}",
        summary=f"List {spec.model} objects",
        description=f"Returns a page of {spec.model} objects of the linked account, oldest first.",
        operation_id=f"{spec.path}_list",
        tags=[spec.path],
        responses={
            200: ResponseSpec(data_container=Page[spec.struct], description="A page"),  # type: ignore[name-defined]
            **_ERRORS,
        },
    )(handler)


async def _page(
    conn: Conn,
    table: Table,
    where: list[ColumnElement[bool]],
    cursor: Any,
    size: int,
    extras: bool,
) -> tuple[list[StoredRow], str | None, str | None]:
    if cursor is not None and cursor.reverse:
        rows = await select_rows(
            conn, table, [*where, table.c.seq < cursor.p], limit=size + 1, descending=True, with_extras=extras
        )
        more_before = len(rows) > size
        rows = rows[:size][::-1]
        previous_cursor = encode_cursor(rows[0].seq, reverse=True) if more_before else None
        next_cursor = encode_cursor(rows[-1].seq if rows else max(cursor.p - 1, 0))
        return rows, next_cursor, previous_cursor
    bound = [table.c.seq > cursor.p] if cursor is not None else []
    rows = await select_rows(conn, table, [*where, *bound], limit=size + 1, with_extras=extras)
    more_after = len(rows) > size
    rows = rows[:size]
    after = encode_cursor(rows[-1].seq) if more_after else None
    before = encode_cursor(rows[0].seq, reverse=True) if cursor is not None and rows else None
    return rows, after, before


def retrieve_handler(spec: ModelSpec) -> HTTPRouteHandler:
    table = RECORD_TABLES[spec.model]

    async def retrieve_record(account: Account, conn: Conn, **q: Any) -> Response[bytes]:
        options = _render_options(spec, q)
        rows = await select_rows(
            conn,
            table,
            [table.c.linked_account_id == account.id, table.c.id == q["id"]],
            limit=1,
            with_extras=options.extras,
        )
        if not rows:
            raise not_found()
        (item,) = await render(conn, account.id, spec.model, rows, options)
        return _json(item)

    params = [
        _param(
            "id",
            Annotated[str, PathParameter(description=f"The {spec.model}'s id.")],
            inspect.Parameter.empty,
        ),
        *_view_params(spec),
    ]
    handler = _with_signature(retrieve_record, f"retrieve_{spec.path}", params)
    return get(
        f"/{spec.path}/{{id:str}}",
        summary=f"Retrieve a {spec.model}",
        operation_id=f"{spec.path}_retrieve",
        tags=[spec.path],
        responses={
            200: ResponseSpec(data_container=spec.struct, description=f"The {spec.model}"),
            404: ResponseSpec(data_container=ErrorBody, description="No such object"),
            **_ERRORS,
        },
    )(handler)


HANDLERS: list[HTTPRouteHandler] = [h for spec in SPECS for h in (list_handler(spec), retrieve_handler(spec))]
