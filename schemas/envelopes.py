"""API envelopes: the list page, the write response, problems and error bodies (merge-api.md §5, §6)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from schemas.base import Base

T = TypeVar("T")


class Page(Base, Generic[T]):
    """``Paginated*List``: ``next``/``previous`` are opaque cursors the client sends back as ``cursor``."""

    next: str | None = None
    previous: str | None = None
    results: list[T] = msgspec.field(default_factory=list)


class ProblemSource(Base):
    pointer: str


class ValidationProblem(Base):
    """``WarningValidationProblem`` / ``ErrorValidationProblem``."""

    title: str
    detail: str
    problem_type: str
    source: ProblemSource | None = None


class DebugModeLogSummary(Base):
    url: str
    method: str
    status_code: int


class DebugModeLog(Base):
    log_id: str
    dashboard_view: str
    log_summary: DebugModeLogSummary


class WriteResponse(Base, Generic[T]):
    """``TicketResponse`` / ``CommentResponse``: the model plus what was noticed on the way."""

    model: T
    warnings: list[ValidationProblem] = msgspec.field(default_factory=list)
    errors: list[ValidationProblem] = msgspec.field(default_factory=list)
    logs: list[DebugModeLog] = msgspec.field(default_factory=list)


class ErrorBody(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Every non-2xx body: DRF's ``{"detail": ...}``, plus Merge's problem lists on a rejected write."""

    detail: str
    errors: list[ValidationProblem] = msgspec.field(default_factory=list)
    warnings: list[ValidationProblem] = msgspec.field(default_factory=list)


class MetaStatus(Base):
    linked_account_status: str
    can_make_request: bool


class MetaResponse(Base):
    request_schema: dict[str, Any]
    remote_field_classes: dict[str, Any] | None = None
    status: MetaStatus | None = None
    has_conditional_params: bool = False
    has_required_linked_account_params: bool = False
