"""POST/PATCH endpoints and the ``meta`` endpoints describing what a linked account can write."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app import writes
from app.api.deps import Account, Conn, ServicesDep
from app.api.errors import not_found
from app.db import records
from app.vendors import model_support
from schemas.envelopes import MetaResponse, MetaStatus, WriteResponse
from schemas.models import Comment, Ticket
from schemas.writes import (
    AttachmentCreate,
    CommentCreate,
    CommentCreateBody,
    ContactCreate,
    TicketCreate,
    TicketCreateBody,
    TicketUpdate,
    TicketUpdateBody,
)

DebugFlag = Annotated[bool, QueryParameter(description="Accepted; logs are returned empty.", required=False)]
AsyncFlag = Annotated[
    bool, QueryParameter(description="Accepted; writes always complete before answering.", required=False)
]


async def _raw_model(request: Request[Any, Any, Any]) -> Any:
    body = msgspec.json.decode(await request.body())  # already validated by Litestar; cached
    return body.get("model") if isinstance(body, dict) else None


@post(
    "/tickets",
    status_code=201,
    operation_id="tickets_create",
    tags=["tickets"],
    summary="Create a ticket in the linked account's desk",
)
async def create_ticket(
    request: Request[Any, Any, Any],
    data: JSONBody[TicketCreateBody],
    services: ServicesDep,
    conn: Conn,
    account: Account,
    is_debug_mode: DebugFlag = False,
    run_async: AsyncFlag = False,
) -> WriteResponse[Ticket]:
    warnings = writes.unrecognized_fields(await _raw_model(request), TicketCreate)
    return await writes.create_ticket(services, conn, account, data.model, warnings)


@patch(
    "/tickets/{ticket_id:str}",
    operation_id="tickets_partial_update",
    tags=["tickets"],
    summary="Update a ticket: only the fields sent change; null clears",
)
async def update_ticket(
    request: Request[Any, Any, Any],
    ticket_id: FromPath[str],
    data: JSONBody[TicketUpdateBody],
    services: ServicesDep,
    conn: Conn,
    account: Account,
    is_debug_mode: DebugFlag = False,
    run_async: AsyncFlag = False,
) -> WriteResponse[Ticket]:
    warnings = writes.unrecognized_fields(await _raw_model(request), TicketUpdate)
    return await writes.update_ticket(services, conn, account, ticket_id, data.model, warnings)


@post(
    "/comments",
    status_code=201,
    operation_id="comments_create",
    tags=["comments"],
    summary="Add a comment to a ticket",
)
async def create_comment(
    request: Request[Any, Any, Any],
    data: JSONBody[CommentCreateBody],
    services: ServicesDep,
    conn: Conn,
    account: Account,
    is_debug_mode: DebugFlag = False,
    run_async: AsyncFlag = False,
) -> WriteResponse[Comment]:
    warnings = writes.unrecognized_fields(await _raw_model(request), CommentCreate)
    return await writes.create_comment(services, conn, account, data.model, warnings)


def _schema(
    input_type: type[msgspec.Struct], fields: tuple[str, ...], required: tuple[str, ...]
) -> dict[str, Any]:
    """JSON Schema of a write input, narrowed to the fields the integration supports."""
    full = msgspec.json.schema(input_type)
    defs = full.get("$defs", {})
    schema: dict[str, Any] = dict(defs[input_type.__name__])
    if fields:
        schema["properties"] = {
            k: v for k, v in schema["properties"].items() if k in fields or k.endswith("_params")
        }
    schema["required"] = list(required)
    schema.pop("title", None)
    others = {k: v for k, v in defs.items() if k != input_type.__name__}
    if others:
        schema["$defs"] = others
    return schema


def _meta(
    account: Account, model: str, input_type: type[msgspec.Struct], *, partial: bool = False
) -> MetaResponse:
    support = model_support(account.integration, model)
    fields = support.supported_fields if support else ()
    # A PATCH changes only what it sends: nothing is required there.
    required = () if partial or support is None else support.required_post_parameters
    return MetaResponse(
        request_schema=_schema(input_type, fields, required),
        status=MetaStatus(
            linked_account_status=account.status, can_make_request=account.status == "COMPLETE"
        ),
        has_conditional_params=False,
        has_required_linked_account_params=False,
    )


@get("/tickets/meta/post", operation_id="tickets_meta_post_retrieve", tags=["tickets"])
async def ticket_meta_post(
    account: Account,
    collection_id: Annotated[str | None, QueryParameter(required=False)] = None,
    ticket_type: Annotated[str | None, QueryParameter(required=False)] = None,
) -> MetaResponse:
    return _meta(account, "Ticket", TicketCreate)


@get("/tickets/meta/patch/{ticket_id:str}", operation_id="tickets_meta_patch_retrieve", tags=["tickets"])
async def ticket_meta_patch(ticket_id: FromPath[str], account: Account, conn: Conn) -> MetaResponse:
    if not await records.remote_ids(conn, account.id, "Ticket", [ticket_id]):
        raise not_found()
    return _meta(account, "Ticket", TicketUpdate, partial=True)


@get("/comments/meta/post", operation_id="comments_meta_post_retrieve", tags=["comments"])
async def comment_meta_post(account: Account) -> MetaResponse:
    return _meta(account, "Comment", CommentCreate)


@get("/contacts/meta/post", operation_id="contacts_meta_post_retrieve", tags=["contacts"])
async def contact_meta_post(account: Account) -> MetaResponse:
    return _meta(account, "Contact", ContactCreate)


@get("/attachments/meta/post", operation_id="attachments_meta_post_retrieve", tags=["attachments"])
async def attachment_meta_post(account: Account) -> MetaResponse:
    return _meta(account, "Attachment", AttachmentCreate)


HANDLERS = [
    create_ticket,
    update_ticket,
    create_comment,
    ticket_meta_post,
    ticket_meta_patch,
    comment_meta_post,
    contact_meta_post,
    attachment_meta_post,
]
