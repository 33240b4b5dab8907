"""List and retrieve endpoints of the common models, generated from declarations.

Each ``ModelSpec`` names a model, its URL, its filters and its expandable relations; ``list_handler`` and
``retrieve_handler`` turn it into Litestar handlers whose signature (and so validation and OpenAPI) is
built from the declaration.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import PathParameter, QueryParameter
from sqlalchemy import ColumnElement, Select, Table, bindparam

from app.api import filters as f
from app.api.cursor import Cursor, decode_cursor, encode_cursor
from app.api.deps import Account, ServicesDep
from app.api.errors import bad_request, not_found
from app.api.filters import COMMON, Filter
from app.api.render import RenderOptions, page_bytes, render
from app.api.state import Services
from app.db.reader import AsyncReader, Reader
from app.db.records import LIMIT, SEQ, SEQ_COLUMN, StoredRow, page_statement, select_rows
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


def _unsupported(param: str, description: str) -> Filter:
    def build(_t: Table, _n: str, _v: Hashable) -> ColumnElement[bool]:
        raise bad_request(f"the {param} filter is not supported yet", problem_type="UNSUPPORTED_FILTER")

    return Filter(param, str, description, build)


SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        model="Ticket",
        path="tickets",
        filters=(
            *COMMON,
            f.equals("account_id", "account_id", "Tickets of this account."),
            f.equals("contact_id", "contact_id", "Tickets of this contact."),
            f.equals("creator_id", "creator_id", "Tickets created by this user."),
            f.any_of("creator_ids", "creator_id", "Comma-separated user ids; any of them created it."),
            f.equals("parent_ticket_id", "parent_ticket_id", "Sub-tickets of this ticket."),
            f.linked("assignee_ids", "Ticket", "assignees", "Comma-separated user ids; any is assigned."),
            f.linked("collection_ids", "Ticket", "collections", "Comma-separated collection ids."),
            f.any_of("remote_ids", "remote_id", "Comma-separated vendor ids."),
            f.linked("tags", "Ticket", "tags", "Comma-separated tags; any of them is set."),
            f.equals_or_null(
                "status", "status", "Status; an empty value selects tickets without one.", f.StatusFilter
            ),
            f.equals("priority", "priority", "Priority.", f.PriorityFilter),
            f.equals("ticket_type", "ticket_type", "Ticket type (exact)."),
            f.equals("name", "name", "Ticket name (exact)."),
            f.contains("ticket_url", "ticket_url", "Substring of the vendor URL of the ticket."),
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
            f.equals("ticket_id", "ticket_id", "Comments of this ticket."),
            f.after(
                "remote_created_after", "remote_created_at", "Created in the vendor after this datetime."
            ),
        ),
        expand=("contact", "ticket", "user"),
    ),
    ModelSpec(
        model="Contact",
        path="contacts",
        filters=(*COMMON, f.equals("email_address", "email_address", "Email address (exact).")),
        expand=("account",),
    ),
    ModelSpec(model="Account", path="accounts"),
    ModelSpec(
        model="User",
        path="users",
        filters=(
            *COMMON,
            f.lower_equals("email_address", "email_address", "Email address (case-insensitive)."),
            f.linked("team", "User", "teams", "Users of this team.", many=False),
            f.linked("teams", "User", "teams", "Comma-separated team ids; member of any."),
            f.linked("roles", "User", "roles", "Comma-separated role ids; has any."),
            _unsupported("collections", "Not supported yet (400)."),
        ),
        expand=("roles", "teams"),
    ),
    ModelSpec(model="Team", path="teams"),
    ModelSpec(
        model="Attachment",
        path="attachments",
        filters=(
            *COMMON,
            f.equals("ticket_id", "ticket_id", "Attachments of this ticket."),
            f.after(
                "remote_created_after", "remote_created_at", "Created in the vendor after this datetime."
            ),
        ),
        expand=("ticket",),
    ),
    ModelSpec(
        model="Collection",
        path="collections",
        filters=(
            *COMMON,
            f.equals_or_null(
                "collection_type", "collection_type", "Collection type.", Literal["LIST", "PROJECT", ""]
            ),
            f.equals("name", "name", "Collection name (exact)."),
            f.equals("parent_collection_id", "parent_collection_id", "Children of this collection."),
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


def _reader(services: Services) -> Reader:
    return services.reader or AsyncReader(services.engine)


Handler = Callable[..., Coroutine[Any, Any, Response[bytes]]]


def _with_signature(fn: Handler, name: str, params: list[inspect.Parameter]) -> Handler:
    """Give ``fn(**kwargs)`` an explicit signature so Litestar validates and documents each parameter."""
    fixed = [
        _param("account", Account, inspect.Parameter.empty),
        _param("services", ServicesDep, inspect.Parameter.empty),
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

    # One compiled statement per shape: which filters are present (and their variants), deleted rows
    # or not, the cursor's direction, extra columns. Values are bound per request.
    statements: dict[Hashable, Select[Any]] = {}

    def statement(shape: tuple[Any, ...], present: list[tuple[Filter, Hashable]]) -> Select[Any]:
        found = statements.get(shape)
        if found is None:
            include_deleted, direction, extras = shape[:3]
            where: list[ColumnElement[bool]] = [table.c.linked_account_id == bindparam(f.ACCOUNT)]
            if not include_deleted:
                where.append(table.c.remote_was_deleted.is_(False))
            where += [flt.build(table, flt.param, variant) for flt, variant in present]
            found = page_statement(
                table, where, after=direction == "after", before=direction == "before", with_extras=extras
            )
            statements[shape] = found
        return found

    async def list_records(account: Account, services: ServicesDep, **q: Any) -> Response[bytes]:
        options = _render_options(spec, q)
        cursor = decode_cursor(q["cursor"]) if q.get("cursor") else None
        size: int = q["page_size"]
        present = [(flt, flt.variant(q[flt.param])) for flt in spec.filters if q.get(flt.param) is not None]
        values: dict[str, Any] = {f.ACCOUNT: account.id, LIMIT: size + 1}
        values.update((flt.param, flt.bind(q[flt.param])) for flt, _variant in present)
        direction = None if cursor is None else ("before" if cursor.reverse else "after")
        if cursor is not None:
            values[SEQ] = cursor.p
        shape = (
            bool(q["include_deleted_data"]),
            direction,
            options.extras,
            *((flt.param, variant) for flt, variant in present),
        )
        reader = _reader(services)
        rows = await select_rows(reader, statement(shape, present), values)
        rows, next_cursor, previous_cursor = _cursors(rows, cursor, size)
        items = await render(reader, account.id, spec.model, rows, options)
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


def _cursors(
    rows: list[StoredRow], cursor: Cursor | None, size: int
) -> tuple[list[StoredRow], str | None, str | None]:
    """Trim the look-ahead row and derive the page's next/previous cursors."""
    if cursor is not None and cursor.reverse:
        more_before = len(rows) > size
        rows = rows[:size][::-1]
        previous_cursor = encode_cursor(rows[0][SEQ_COLUMN], reverse=True) if more_before else None
        next_cursor = encode_cursor(rows[-1][SEQ_COLUMN] if rows else max(cursor.p - 1, 0))
        return rows, next_cursor, previous_cursor
    more_after = len(rows) > size
    rows = rows[:size]
    after = encode_cursor(rows[-1][SEQ_COLUMN]) if more_after else None
    before = encode_cursor(rows[0][SEQ_COLUMN], reverse=True) if cursor is not None and rows else None
    return rows, after, before


def retrieve_handler(spec: ModelSpec) -> HTTPRouteHandler:
    table = RECORD_TABLES[spec.model]

    by_id = [table.c.linked_account_id == bindparam(f.ACCOUNT), table.c.id == bindparam("id_")]
    statements = {extras: page_statement(table, by_id, with_extras=extras) for extras in (False, True)}

    async def retrieve_record(account: Account, services: ServicesDep, **q: Any) -> Response[bytes]:
        options = _render_options(spec, q)
        values = {f.ACCOUNT: account.id, "id_": q["id"], LIMIT: 1}
        rows = await select_rows(_reader(services), statements[options.extras], values)
        if not rows:
            raise not_found()
        (item,) = await render(_reader(services), account.id, spec.model, rows, options)
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
