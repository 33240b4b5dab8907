"""Every route under ``/api/ticketing/v1``."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from app.api import records

ROUTES: list[HTTPRouteHandler] = [*records.HANDLERS]
