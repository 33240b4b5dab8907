"""The floor of the read-path benchmark: the same Litestar + msgspec stack, no database, no auth.

``GET /api/ticketing/v1/tickets`` answers with one page of tickets held in memory as
``schemas.models.Ticket`` structs, encoded by Litestar on every request. The page is the real server's
page 1 (``read_path.py`` fetches it and points ``DESKBRIDGE_BENCH_FLOOR_PAGE`` at the JSON file), so both
sides send the same bytes. Run it with ``uvicorn --factory benchmarks.floor_app:create``.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
from litestar import Litestar, get

from schemas.envelopes import Page
from schemas.models import Ticket

PAGE_ENV = "DESKBRIDGE_BENCH_FLOOR_PAGE"


def load_page(path: Path) -> Page[Ticket]:
    return msgspec.json.decode(path.read_bytes(), type=Page[Ticket])


def create(page: Page[Ticket] | None = None) -> Litestar:
    """The floor app; ``page`` defaults to the JSON file named by ``DESKBRIDGE_BENCH_FLOOR_PAGE``."""
    held = page if page is not None else load_page(Path(os.environ[PAGE_ENV]))

    @get("/api/ticketing/v1/tickets", sync_to_thread=False)
    def list_tickets() -> Page[Ticket]:
        return held

    return Litestar(route_handlers=[list_tickets], openapi_config=None, logging_config=None, debug=False)
