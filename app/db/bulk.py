"""Many rows in one statement execution, without SQLAlchemy's per-row parameter processing.

A sync page writes a thousand rows to each of several tables. ``conn.execute(insert(t), rows)`` builds
and type-processes every row's parameters in Python, which cost as much as SQLite's own work; our values
are already what the drivers take (str, int, bytes, bool, None), so the statement is compiled once per
(dialect, table, columns) and the rows go to the driver as tuples.

On SQLite, INSERTs are multi-row ``VALUES`` lists rather than ``executemany``: the driver steps an
``executemany`` once per row, taking the GIL back after each, so while the event loop's thread is busy
(preparing the next page) each row waits for a GIL switch interval. One statement is bound once and
stepped once, with the GIL released for all its rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection


@lru_cache(maxsize=256)
def _compiled(
    dialect: Dialect, table: Table, columns: tuple[str, ...], key: str | None
) -> tuple[str, tuple[str, ...]]:
    """(SQL, parameter order) of an INSERT of ``columns``, or an UPDATE of them by ``key``."""
    if key is None:
        statement: Any = insert(table).values({c: bindparam(c) for c in columns})
    else:
        statement = (
            update(table)
            .where(table.c[key] == bindparam(f"where_{key}"))
            .values({c: bindparam(c) for c in columns if c != key})
        )
    compiled = statement.compile(dialect=dialect)
    order = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.params)
    return str(compiled), order


async def _executemany(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], key: str | None
) -> None:
    if not rows:
        return
    columns = tuple(rows[0])
    sql, order = _compiled(conn.dialect, table, columns, key)
    names = [
        name[len("where_") :] if name.startswith("where_") and key is not None else name for name in order
    ]
    if conn.dialect.positional:
        getter = itemgetter(*names)  # C-speed dict -> tuple (a single name gives a value, not a tuple)
        params = list(map(getter, rows)) if len(names) > 1 else [(row[names[0]],) for row in rows]
        await conn.exec_driver_sql(sql, params)
    else:
        await conn.exec_driver_sql(
            sql, [{o: row[n] for o, n in zip(order, names, strict=True)} for row in rows]
        )


# SQLite's default SQLITE_MAX_VARIABLE_NUMBER: 32766 since 3.32, 999 before.
_SQLITE_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
# Rows per statement: enough that binding and stepping dwarf the round trip, small enough that the
# compiled statements kept in the driver's cache stay small.
_ROWS_PER_STATEMENT = 1024


@lru_cache(maxsize=256)
def _values_sql(
    dialect: Dialect, table: Table, columns: tuple[str, ...], count: int, returning: tuple[str, ...]
) -> str:
    quote = dialect.identifier_preparer.quote
    row = "(" + ",".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, columns))})"
    tail = f" RETURNING {', '.join(map(quote, returning))}" if returning else ""
    return f"{head} VALUES {','.join([row] * count)}{tail}"


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (dicts with the same keys, values ready for the driver); with ``returning``,
    those columns of the inserted rows (a generated ``seq``), in no particular order."""
    if not rows:
        return []
    if conn.dialect.paramstyle != "qmark":
        if returning:  # SQLAlchemy batches these into multi-row INSERT ... RETURNING itself
            result = await conn.execute(insert(table).returning(*(table.c[c] for c in returning)), rows)
            return [tuple(r) for r in result]
        await _executemany(conn, table, rows, None)  # asyncpg pipelines executemany itself
        return []
    columns = tuple(rows[0])
    largest = min(_ROWS_PER_STATEMENT, _SQLITE_MAX_PARAMS // len(columns))
    getter = itemgetter(*columns) if len(columns) > 1 else None  # C-speed dict -> values
    out: list[tuple[Any, ...]] = []
    start = 0
    while start < len(rows):
        # Few distinct row counts (multiples of 64, then powers of two): each distinct statement is
        # compiled once and kept in the driver's statement cache, so the odd sizes of pages must not
        # make (and cache) a new one every time.
        left = min(largest, len(rows) - start)
        size = left // 64 * 64 or 1 << (left.bit_length() - 1)
        chunk = rows[start : start + size]
        params = (
            tuple(chain.from_iterable(map(getter, chunk)))
            if getter
            else tuple(row[columns[0]] for row in chunk)
        )
        sql = _values_sql(conn.dialect, table, columns, size, returning)
        result = await conn.exec_driver_sql(sql, params)
        if returning:
            out.extend(tuple(r) for r in result)
        start += size
    return out


def insert_ignoring_duplicates(dialect: Dialect, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for ``table`` (SQLite and PostgreSQL spell it alike, but
    SQLAlchemy builds it per dialect)."""
    module = postgresql if dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


async def update_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]], key: str = "id"
) -> None:
    """UPDATE each row found by its ``key`` column to the row's other values, in one execution."""
    await _executemany(conn, table, rows, key)
