"""Many rows in one statement execution, without SQLAlchemy's per-row parameter processing.

A sync page writes a thousand rows to each of several tables. ``conn.execute(insert(t), rows)`` builds
and type-processes every row's parameters in Python, which cost as much as SQLite's own work; our values
are already what the drivers take (str, int, bytes, bool, None), so the statement is compiled once per
(dialect, table, columns) and the rows go to the driver as tuples.

On SQLite, INSERTs are multi-row ``VALUES`` lists rather than ``executemany``: the driver steps an
``executemany`` once per row, taking the GIL back after each, so while the event loop's thread is busy
(preparing the next page) each row waits for a GIL switch interval. One statement is bound once and
stepped once, with the GIL released for all its rows. For the same reason the keys SQLite generates are
not read back with ``RETURNING``, which steps (and takes the GIL back) once per returned row: they are
worked out from the last one (see ``insert_rows``).
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
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    count: int,
    returning: tuple[str, ...],
    on_conflict_update: tuple[str, ...],
) -> str:
    quote = dialect.identifier_preparer.quote
    row = "(" + ",".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, columns))})"
    tail = ""
    if on_conflict_update:
        keys = ", ".join(quote(c.name) for c in table.primary_key.columns)
        sets = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in on_conflict_update)
        tail += f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    if returning:
        tail += f" RETURNING {', '.join(map(quote, returning))}"
    return f"{head} VALUES {','.join([row] * count)}{tail}"


@lru_cache(maxsize=256)
def _rowid_column(dialect: Dialect, table: Table) -> str | None:
    """The column that is the table's rowid on SQLite, if any: a lone primary key declared exactly
    ``INTEGER``, in a table with rowids."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or table.dialect_options["sqlite"].get("with_rowid") is False:
        return None
    return keys[0].name if keys[0].type.compile(dialect=dialect) == "INTEGER" else None


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: tuple[str, ...] = (),
    on_conflict_update: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` (dicts with the same keys, values ready for the driver); with ``returning``,
    those columns of the inserted rows (a generated ``seq``), in no particular order. With
    ``on_conflict_update``, a row whose primary key is taken updates those columns of that row instead
    (nothing is returned then)."""
    if not rows:
        return []
    if returning and on_conflict_update:
        raise ValueError("returning is not supported with on_conflict_update")
    if conn.dialect.paramstyle != "qmark":
        if on_conflict_update:
            upsert = postgresql.insert(table)
            upsert = upsert.on_conflict_do_update(
                index_elements=list(table.primary_key.columns),
                set_={c: upsert.excluded[c] for c in on_conflict_update},
            )
            await conn.execute(upsert, rows)
            return []
        if returning:  # SQLAlchemy batches these into multi-row INSERT ... RETURNING itself
            result = await conn.execute(insert(table).returning(*(table.c[c] for c in returning)), rows)
            return [tuple(r) for r in result]
        await _executemany(conn, table, rows, None)  # asyncpg pipelines executemany itself
        return []
    columns = tuple(rows[0])
    # A generated rowid is read off the statement rather than returned: SQLite gives each row inserted
    # without one the table's largest rowid + 1 (https://sqlite.org/autoinc.html), and a VALUES list
    # goes in in order within one statement, which no other writer can interleave with. So a chunk's
    # rows got the consecutive rowids that end at ``lastrowid``.
    rowid = _rowid_column(conn.dialect, table)
    from_rowid = (
        bool(returning)
        and rowid is not None
        and rowid not in columns
        and all(c in columns or c == rowid for c in returning)
    )
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
        sql = _values_sql(
            conn.dialect, table, columns, size, () if from_rowid else returning, on_conflict_update
        )
        result = await conn.exec_driver_sql(sql, params)
        if from_rowid:
            first = result.lastrowid - size + 1
            out.extend(
                tuple(first + i if c == rowid else row[c] for c in returning) for i, row in enumerate(chunk)
            )
        elif returning:
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
