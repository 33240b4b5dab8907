"""Error bodies: DRF-style ``{"detail": ...}`` everywhere, Merge's problem lists on rejected writes.

Every failure a client can cause is a 4xx with a body saying what was wrong; a 500 means a bug and never
echoes internals.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from schemas.envelopes import ErrorBody, ProblemSource, ValidationProblem

log = logging.getLogger("deskbridge.api")
_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """Raise from handlers to answer ``status`` with ``detail`` (and problems for writes)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[ValidationProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def problem(problem_type: str, title: str, detail: str, pointer: str | None = None) -> ValidationProblem:
    return ValidationProblem(
        title=title,
        detail=detail,
        problem_type=problem_type,
        source=ProblemSource(pointer=pointer) if pointer else None,
    )


def bad_request(
    detail: str, *, problem_type: str = "INVALID_REQUEST", pointer: str | None = None
) -> ApiError:
    return ApiError(400, detail, errors=[problem(problem_type, "Invalid request", detail, pointer)])


def not_found() -> ApiError:
    return ApiError(404, "Not found.")


def error_response(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=_encoder.encode(body), status_code=status, media_type="application/json", headers=headers
    )


def _api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return error_response(exc.status, ErrorBody(detail=exc.detail, errors=exc.errors), exc.headers)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    problems: list[ValidationProblem] = []
    parts: list[str] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key, message = str(item.get("key") or ""), str(item.get("message") or "invalid value")
        source = item.get("source")
        source = getattr(source, "value", source)  # Litestar passes a ParamType enum
        where = f"{source} parameter {key!r}" if source and source != "body" else (key or "body")
        parts.append(f"{where}: {message}")
        pointer = f"/{key}" if source == "body" else None
        problems.append(problem("INVALID_FIELD", "Invalid value", f"{where}: {message}", pointer))
    detail = "; ".join(parts) if parts else str(exc.detail)
    return error_response(400, ErrorBody(detail=detail, errors=problems))


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    detail = "Not found." if isinstance(exc, NotFoundException) else str(exc.detail)
    return error_response(exc.status_code, ErrorBody(detail=detail), exc.headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, ErrorBody(detail="Internal server error."))


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    ApiError: _api_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
