"""List filters declared as data: query parameter -> type -> SQL clause.

Each common model's list endpoint is generated from its ``Filter`` tuple (see ``records.py``), so the
OpenAPI document, validation and the query all come from one declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, select

from app.db.tables import record_links
from app.timeutil import to_micros

Clause = Callable[[Table, Any, str], ColumnElement[bool]]

StatusFilter = Literal["OPEN", "CLOSED", "IN_PROGRESS", "ON_HOLD", ""]
PriorityFilter = Literal["URGENT", "HIGH", "NORMAL", "LOW"]


@dataclass(frozen=True)
class Filter:
    param: str
    type: Any
    description: str
    clause: Clause


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def after(column: str) -> Clause:
    return lambda t, v, _a: t.c[column] > to_micros(v)


def before(column: str) -> Clause:
    return lambda t, v, _a: t.c[column] < to_micros(v)


def equals(column: str) -> Clause:
    return lambda t, v, _a: t.c[column] == v


def equals_or_null(column: str) -> Clause:
    """``""`` selects records without a value (Merge lets ``status=""`` through)."""
    return lambda t, v, _a: t.c[column].is_(None) if v == "" else t.c[column] == v


def lower_equals(column: str) -> Clause:
    return lambda t, v, _a: t.c[column] == v.lower()


def any_of(column: str) -> Clause:
    return lambda t, v, _a: t.c[column].in_(csv(v))


def contains(column: str) -> Clause:
    return lambda t, v, _a: t.c[column].contains(v, autoescape=True)


def linked(model: str, field: str, *, many: bool = True) -> Clause:
    """Records with at least one ``field`` link to the given target(s)."""

    def clause(t: Table, v: str, account_id: str) -> ColumnElement[bool]:
        targets = csv(v) if many else [v]
        return t.c.id.in_(
            select(record_links.c.record_id).where(
                record_links.c.linked_account_id == account_id,
                record_links.c.model == model,
                record_links.c.field == field,
                record_links.c.target.in_(targets),
            )
        )

    return clause


def time_range(prefix: str, column: str, what: str) -> tuple[Filter, Filter]:
    return (
        Filter(f"{prefix}_after", datetime, f"Only {what} after this datetime.", after(column)),
        Filter(f"{prefix}_before", datetime, f"Only {what} before this datetime.", before(column)),
    )


COMMON: tuple[Filter, ...] = (
    *time_range("created", "created_at", "objects created (in deskbridge)"),
    *time_range("modified", "modified_at", "objects modified (in deskbridge)"),
    Filter("remote_id", str, "The vendor's id of the object.", equals("remote_id")),
)
