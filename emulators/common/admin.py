"""``/_emulator/...``: endpoints for tests and chaos runs to inspect and steer an emulator.

Not part of any vendor's API; they skip auth, rate limits and faults.

* ``GET  /_emulator/health``
* ``GET  /_emulator/faults`` / ``PUT /_emulator/faults`` — rates, ``slow_seconds``, ``retry_after``,
  ``script`` (faults forced on the next requests); the body is merged into the live config
* ``GET  /_emulator/ratelimit`` / ``PUT /_emulator/ratelimit`` (``per_minute``, ``time_scale``,
  ``enabled``, ``endpoint_limits``); ``POST /_emulator/ratelimit/reset`` empties the current windows
* ``GET  /_emulator/tables`` — row counts (live, deleted) per table
* ``GET  /_emulator/tables/{table}?deleted=1`` — ids, ascending
* ``GET  /_emulator/tables/{table}/{id}`` — the record as the vendor API would show it
* ``DELETE /_emulator/tables/{table}/{id}`` — delete as the vendor would (tombstones included)
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Request, Router, delete, get, post, put
from litestar.exceptions import NotFoundException, ValidationException

from emulators.common.config import FAULT_KINDS
from emulators.common.gate import EmulatorApp
from emulators.common.http import json_body
from emulators.common.store import Table


class Desk(Protocol):
    """What a vendor's state exposes to the admin endpoints."""

    tables: dict[str, Table]

    def admin_view(self, table: str, row_id: int) -> Any: ...

    def admin_delete(self, table: str, row_id: int) -> bool: ...


def _app(request: Request[Any, Any, Any]) -> EmulatorApp:
    app = request.app
    assert isinstance(app, EmulatorApp)
    return app


def _desk(request: Request[Any, Any, Any]) -> Desk:
    return request.app.state.desk  # type: ignore[no-any-return]


def _table(request: Request[Any, Any, Any], name: str) -> Table:
    table = _desk(request).tables.get(name)
    if table is None:
        raise NotFoundException(f"no table {name!r}")
    return table


@get("/health", sync_to_thread=False)
def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
    app = _app(request)
    return {"ok": True, "seed": app.emulator_config.seed, "injected": app.injector.injected}


@get("/faults", sync_to_thread=False)
def read_faults(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return _app(request).emulator_config.faults.as_dict()


@put("/faults")
async def write_faults(request: Request[Any, Any, Any]) -> dict[str, Any]:
    faults = _app(request).emulator_config.faults
    body = await json_body(request)
    for key, value in body.items():
        if key == "script":
            faults.script.clear()
            faults.inject(*value)
        elif key in faults.as_dict():
            setattr(faults, key, type(getattr(faults, key))(value))
        else:
            raise ValidationException(f"unknown fault setting {key!r} (kinds: {FAULT_KINDS})")
    return faults.as_dict()


@get("/ratelimit", sync_to_thread=False)
def read_ratelimit(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return dict(vars(_app(request).emulator_config.rate_limit))


@put("/ratelimit")
async def write_ratelimit(request: Request[Any, Any, Any]) -> dict[str, Any]:
    settings = _app(request).emulator_config.rate_limit
    for key, value in (await json_body(request)).items():
        if not hasattr(settings, key):
            raise ValidationException(f"unknown rate-limit setting {key!r}")
        setattr(settings, key, type(getattr(settings, key))(value))
    return dict(vars(settings))


@post("/ratelimit/reset", status_code=204, sync_to_thread=False)
def reset_ratelimit(request: Request[Any, Any, Any]) -> None:
    _app(request).limiter.reset()


@get("/tables", sync_to_thread=False)
def list_tables(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {
        name: {"live": len(table), "deleted": len(table.deleted_ids())}
        for name, table in _desk(request).tables.items()
    }


@get("/tables/{name:str}", sync_to_thread=False)
def list_rows(request: Request[Any, Any, Any]) -> dict[str, Any]:
    table = _table(request, request.path_params["name"])
    deleted = request.query_params.get("deleted", "") in ("1", "true")
    return {"ids": table.deleted_ids() if deleted else list(table.ids)}


@get("/tables/{name:str}/{row_id:int}", sync_to_thread=False)
def show_row(request: Request[Any, Any, Any]) -> Any:
    name, row_id = request.path_params["name"], request.path_params["row_id"]
    _table(request, name)
    view = _desk(request).admin_view(name, row_id)
    if view is None:
        raise NotFoundException(f"{name} {row_id} not found")
    return view


@delete("/tables/{name:str}/{row_id:int}", sync_to_thread=False)
def delete_row(request: Request[Any, Any, Any]) -> None:
    name, row_id = request.path_params["name"], request.path_params["row_id"]
    _table(request, name)
    if not _desk(request).admin_delete(name, row_id):
        raise NotFoundException(f"{name} {row_id} not found")


def admin_router() -> Router:
    return Router(
        path="/_emulator",
        route_handlers=[
            health,
            read_faults,
            write_faults,
            read_ratelimit,
            write_ratelimit,
            reset_ratelimit,
            list_tables,
            list_rows,
            show_row,
            delete_row,
        ],
    )
