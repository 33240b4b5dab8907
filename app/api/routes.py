"""Every route under ``/api/ticketing/v1``, with the error bodies they share documented once."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from app.api import accounts, attachments, issues, records, sync, webhooks, writes
from app.api import sharing as ticket_sharing
from schemas.envelopes import ErrorBody

_HANDLERS: list[HTTPRouteHandler] = [
    *records.HANDLERS,
    *attachments.HANDLERS,
    *writes.HANDLERS,
    *accounts.HANDLERS,
    *issues.HANDLERS,
    *sync.HANDLERS,
    *ticket_sharing.HANDLERS,
    *webhooks.HANDLERS,
]

_ERRORS = {
    400: ResponseSpec(data_container=ErrorBody, description="Invalid input; the detail says what was wrong"),
    401: ResponseSpec(data_container=ErrorBody, description="Missing or invalid API key or account token"),
}


def _with_error_docs(handler: HTTPRouteHandler) -> HTTPRouteHandler:
    # Litestar documents its own error shape unless told otherwise; ours is {"detail", "errors"}.
    documented = dict(handler.responses or {})
    for status, spec in _ERRORS.items():
        if status == 401 and handler.security == [{}]:  # public (the Link page's completion)
            continue
        documented.setdefault(status, spec)
    handler.responses = documented
    return handler


ROUTES: list[HTTPRouteHandler] = [_with_error_docs(h) for h in _HANDLERS]
