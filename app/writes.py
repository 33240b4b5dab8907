"""Write-through: a POST or PATCH reaches the vendor through the connector, then the store.

The order matters for Merge's SDK, which retries 408/409/429/5xx automatically, POSTs included: once the
vendor has accepted a write we never answer with one of those. If storing the result fails afterwards,
the client still gets 201/200 with the model (our ids are derived, so it is exact) and a warning; the next
sync stores it. Vendor failures that leave the outcome unknown are answered 400 so they are not retried
blindly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from app import relink
from app.api.errors import ApiError, bad_request, problem
from app.api.state import Services
from app.db import records
from app.db.accounts import LinkedAccountRecord
from app.sharing import outbound as sharing_outbound
from app.vendors import VendorURLError, connector_for
from app.webhooks import hooks as webhooks
from connectors.base import CREATE, UPDATE, Connector, RemoteRecord, supports
from connectors.http.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitError,
    RejectedError,
    UpstreamError,
)
from schemas.envelopes import ValidationProblem, WriteResponse
from schemas.models import RELATIONS, CommonModel
from schemas.writes import CommentCreate, TicketCreate, TicketUpdate, set_fields

log = logging.getLogger("deskbridge.writes")

W = TypeVar("W", bound=msgspec.Struct)


def unrecognized_fields(raw_model: Any, input_type: type[msgspec.Struct]) -> list[ValidationProblem]:
    """Merge ignores unknown fields of a write and says so as warnings; so do we."""
    if not isinstance(raw_model, dict):
        return []
    return [
        problem(
            "UNRECOGNIZED_FIELD",
            "Unrecognized Field",
            f"Field {key!r} is not part of this model; ignored.",
            f"/model/{key}",
        )
        for key in raw_model
        if key not in input_type.__struct_fields__
    ]


async def _to_remote_ids(conn: AsyncConnection, account_id: str, model_name: str, value: W) -> W:
    """Swap our ids in relation fields for the vendor's; an unknown id is the caller's mistake (400)."""
    changes: dict[str, Any] = {}
    for field, relation in RELATIONS[model_name].items():
        current = getattr(value, field, msgspec.UNSET)
        if current is msgspec.UNSET or current is None:
            continue
        ids = current if isinstance(current, list) else [current]
        found = await records.remote_ids(conn, account_id, relation.target, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise bad_request(
                f"{field}: no {relation.target} with id {missing[0]} in this linked account",
                problem_type="INVALID_RELATION",
                pointer=f"/model/{field}",
            )
        changes[field] = [found[i] for i in ids] if isinstance(current, list) else found[current]
    return msgspec.structs.replace(value, **changes) if changes else value


async def _call_vendor(
    services: Services,
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    call: Awaitable[RemoteRecord[Any]],
) -> RemoteRecord[Any]:
    try:
        return await call
    except AuthError:
        await relink.credentials_refused(conn, account, "write-through: the vendor refused the credentials")
        await conn.commit()
        services.auth_cache.clear()
        raise ApiError(
            400,
            "The vendor refused the linked account's credentials; relink the account.",
            errors=[problem("CREDENTIAL_ERROR", "Credentials refused", "Relink the account.")],
        ) from None
    except RejectedError as exc:
        raise ApiError(
            400,
            f"The vendor rejected the write: {exc}",
            errors=[problem("VENDOR_REJECTED", "Rejected by the vendor", str(exc))],
        ) from None
    except NotFoundError as exc:
        raise ApiError(404, f"The vendor does not have this object (any more): {exc}") from None
    except RateLimitError as exc:
        retry = max(1, round(exc.retry_after or 1))
        raise ApiError(
            429, "The vendor's rate limit is exhausted; retry later.", headers={"Retry-After": str(retry)}
        ) from None
    except UpstreamError as exc:
        if not exc.maybe_processed:
            raise ApiError(
                503, "The vendor could not be reached; nothing was written.", headers={"Retry-After": "5"}
            ) from None
        raise ApiError(
            400,
            f"The vendor failed and the outcome of the write is unknown: {exc}. Check the "
            "vendor before retrying.",
            errors=[problem("VENDOR_OUTCOME_UNKNOWN", "Outcome unknown", str(exc))],
        ) from None
    except ConnectorError as exc:
        raise ApiError(400, f"The vendor call failed: {exc}") from None


async def _store(
    conn: AsyncConnection, account: LinkedAccountRecord, model_name: str, record: RemoteRecord[Any]
) -> tuple[CommonModel, list[ValidationProblem]]:
    for attempt in (1, 2):  # a sync page may insert the same record concurrently: retry once as update
        try:
            async with conn.begin():
                upserted = await records.upsert_records(conn, account.id, model_name, [record])
                # webhooks: {Model}.added / .changed, committed with the stored record
                await webhooks.record_changes(conn, account, model_name, upserted)
                await sharing_outbound.on_records_stored(conn, account.id, model_name, upserted)
            (stored,) = upserted.models
            return stored, []
        except SQLAlchemyError:
            if attempt == 2:
                log.exception("storing a %s written to the vendor failed", model_name)
    model = records.localize(account.id, model_name, record)
    return model, [
        problem(
            "STORE_DEFERRED",
            "Stored later",
            "The vendor accepted the write; the local copy will be stored by the next sync.",
        )
    ]


def _connector(services: Services, account: LinkedAccountRecord, model: str, operation: str) -> Connector:
    try:
        connector = connector_for(services, account)
    except VendorURLError as exc:
        raise ApiError(400, str(exc)) from None
    if not supports(connector, model, operation):
        raise ApiError(
            400,
            f"{account.integration} does not support {operation} on {model}.",
            errors=[problem("UNSUPPORTED_OPERATION", "Unsupported", f"{operation} {model}")],
        )
    return connector


async def _write(
    services: Services,
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    model_name: str,
    call: Callable[[Connector], Awaitable[RemoteRecord[Any]]],
    operation: str,
    warnings: list[ValidationProblem],
) -> WriteResponse[Any]:
    connector = _connector(services, account, model_name, operation)
    # The reads before (ids translated) are done: no transaction may wait on the vendor, which can
    # take seconds; on PostgreSQL it would hold its connection idle in transaction all that time.
    await conn.rollback()
    record = await _call_vendor(services, conn, account, call(connector))
    stored, more = await _store(conn, account, model_name, record)
    return WriteResponse(model=stored, warnings=[*warnings, *more])


async def create_ticket(
    services: Services,
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    ticket: TicketCreate,
    warnings: list[ValidationProblem],
) -> WriteResponse[Any]:
    remote = await _to_remote_ids(conn, account.id, "Ticket", ticket)
    return await _write(
        services, conn, account, "Ticket", lambda c: c.create_ticket(remote), CREATE, warnings
    )


async def update_ticket(
    services: Services,
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    ticket_id: str,
    changes: TicketUpdate,
    warnings: list[ValidationProblem],
) -> WriteResponse[Any]:
    found = await records.remote_ids(conn, account.id, "Ticket", [ticket_id])
    if ticket_id not in found:
        raise ApiError(404, "Not found.")
    if not set_fields(changes):
        raise bad_request(
            "model has no fields to change", problem_type="MISSING_REQUIRED_FIELD", pointer="/model"
        )
    remote = await _to_remote_ids(conn, account.id, "Ticket", changes)
    remote_id = found[ticket_id]
    return await _write(
        services, conn, account, "Ticket", lambda c: c.update_ticket(remote_id, remote), UPDATE, warnings
    )


async def create_comment(
    services: Services,
    conn: AsyncConnection,
    account: LinkedAccountRecord,
    comment: CommentCreate,
    warnings: list[ValidationProblem],
) -> WriteResponse[Any]:
    if not comment.ticket:
        raise bad_request(
            "ticket is required: the id of the ticket to comment on",
            problem_type="MISSING_REQUIRED_FIELD",
            pointer="/model/ticket",
        )
    if not comment.body and not comment.html_body:
        raise bad_request(
            "body or html_body is required", problem_type="MISSING_REQUIRED_FIELD", pointer="/model/body"
        )
    remote = await _to_remote_ids(conn, account.id, "Comment", comment)
    return await _write(
        services, conn, account, "Comment", lambda c: c.create_comment(remote), CREATE, warnings
    )
