"""List filters declared as data: query parameter -> type -> SQL clause.

Each common model's list endpoint is generated from its ``Filter`` tuple (see ``records.py``), so the
OpenAPI document, validation and the query all come from one declaration. Clauses are written with
bound parameters named after the query parameter: a list query's statement depends only on *which*
filters are present, so it is built and compiled once per shape and reused with new values.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import BindParameter, ColumnElement, Table, bindparam, select

from app.db.tables import link_targets, record_links
from app.timeutil import to_micros

#: (table, the bound parameter's name, the value's variant) -> clause.
Build = Callable[[Table, str, Hashable], ColumnElement[bool]]

StatusFilter = Literal["OPEN", "CLOSED", "IN_PROGRESS", "ON_HOLD", ""]
PriorityFilter = Literal["URGENT", "HIGH", "NORMAL", "LOW"]

#: The bound parameter every list query scopes its rows with.
ACCOUNT = "account_id_"


def _same(value: Any) -> Any:
    return value


def _no_variant(_value: Any) -> Hashable:
    return None


@dataclass(frozen=True)
class Filter:
    param: str
    type: Any
    description: str
    build: Build
    #: The query value -> what the bound parameter receives.
    bind: Callable[[Any], Any] = _same
    #: Values that need a different statement (``status=""`` is ``IS NULL``), else None.
    variant: Callable[[Any], Hashable] = _no_variant
    #: The (model, field) whose ``record_links`` it reads, if any.
    link: tuple[str, str] | None = None


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _bind(name: str, *, expanding: bool = False) -> BindParameter[Any]:
    return bindparam(name, expanding=expanding)


def after(param: str, column: str, description: str) -> Filter:
    return Filter(param, datetime, description, lambda t, n, _v: t.c[column] > _bind(n), to_micros)


def before(param: str, column: str, description: str) -> Filter:
    return Filter(param, datetime, description, lambda t, n, _v: t.c[column] < _bind(n), to_micros)


def equals(param: str, column: str, description: str, typ: Any = str) -> Filter:
    return Filter(param, typ, description, lambda t, n, _v: t.c[column] == _bind(n))


def equals_or_null(param: str, column: str, description: str, typ: Any) -> Filter:
    """``""`` selects records without a value (Merge lets ``status=""`` through)."""
    return Filter(
        param,
        typ,
        description,
        lambda t, n, empty: t.c[column].is_(None) if empty else t.c[column] == _bind(n),
        variant=lambda v: v == "",
    )


def lower_equals(param: str, column: str, description: str) -> Filter:
    return Filter(param, str, description, lambda t, n, _v: t.c[column] == _bind(n), lambda v: v.lower())


def any_of(param: str, column: str, description: str) -> Filter:
    return Filter(param, str, description, lambda t, n, _v: t.c[column].in_(_bind(n, expanding=True)), csv)


def contains(param: str, column: str, description: str) -> Filter:
    # The user's % and _ are matched literally: escaped in the value, ESCAPE in the statement.
    return Filter(
        param, str, description, lambda t, n, _v: t.c[column].contains(_bind(n), escape="\\"), _escape_like
    )


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def linked(param: str, model: str, field: str, description: str, *, many: bool = True) -> Filter:
    """Records with at least one ``field`` link to the given target(s)."""

    def build(t: Table, name: str, _v: Hashable) -> ColumnElement[bool]:
        return t.c.seq.in_(
            select(record_links.c.record_seq)
            .join(link_targets, link_targets.c.key == record_links.c.target_key)
            .where(
                link_targets.c.linked_account_id == _bind(ACCOUNT),
                link_targets.c.model == model,
                link_targets.c.field == field,
                link_targets.c.target.in_(_bind(name, expanding=True)),
            )
        )

    return Filter(param, str, description, build, csv if many else lambda v: [v], link=(model, field))


def time_range(prefix: str, column: str, what: str) -> tuple[Filter, Filter]:
    return (
        after(f"{prefix}_after", column, f"Only {what} after this datetime."),
        before(f"{prefix}_before", column, f"Only {what} before this datetime."),
    )


COMMON: tuple[Filter, ...] = (
    *time_range("created", "created_at", "objects created (in deskbridge)"),
    *time_range("modified", "modified_at", "objects modified (in deskbridge)"),
    equals("remote_id", "remote_id", "The vendor's id of the object."),
)
