"""Every route under ``/api/ticketing/v1``."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from app.api import accounts, attachments, records, sync, writes

ROUTES: list[HTTPRouteHandler] = [
    *records.HANDLERS,
    *attachments.HANDLERS,
    *writes.HANDLERS,
    *accounts.HANDLERS,
    *sync.HANDLERS,
]
