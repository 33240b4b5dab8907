"""Reading and writing normalized records of the common models.

``upsert_records`` is the one way records enter the store (sync pages and write-through alike): vendor ids
become our ids, unchanged records are left alone (so ``modified_at`` means "our copy changed"), and each
record's API JSON is stored ready to serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, get_args, get_type_hints

import msgspec
from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import bulk
from app.db.ids import record_id
from app.db.reader import Reader
from app.db.tables import RECORD_TABLES, link_targets, record_links
from app.timeutil import from_micros, now_micros, to_micros
from connectors.base import RemoteRecord
from schemas.models import MODELS, RELATIONS, CommonModel, RemoteData

#: Filter columns filled from model fields: (column, field).
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "Ticket": (
        ("name", "name"),
        ("status", "status"),
        ("priority", "priority"),
        ("ticket_type", "ticket_type"),
        ("ticket_url", "ticket_url"),
        ("account_id", "account"),
        ("contact_id", "contact"),
        ("creator_id", "creator"),
        ("parent_ticket_id", "parent_ticket"),
        ("due_date", "due_date"),
        ("completed_at", "completed_at"),
        ("remote_created_at", "remote_created_at"),
        ("remote_updated_at", "remote_updated_at"),
    ),
    "Comment": (
        ("ticket_id", "ticket"),
        ("user_id", "user"),
        ("contact_id", "contact"),
        ("remote_created_at", "remote_created_at"),
    ),
    "Contact": (("email_address", "email_address"), ("account_id", "account")),
    "User": (("email_address", "email_address"),),
    "Attachment": (("ticket_id", "ticket"), ("remote_created_at", "remote_created_at")),
    "Collection": (
        ("name", "name"),
        ("collection_type", "collection_type"),
        ("parent_collection_id", "parent_collection"),
    ),
}

#: Many-valued fields kept in ``record_links`` (by ``link_targets``): exactly those a list filter reads
#: (``app/api/records.py``; a test holds the two together). Each link is written with its record on
#: every sync page; ``Ticket.assigned_teams`` and ``attachments`` were linked too and never read: a
#: third of a Zendesk sync's links (the write side, replayed alone: 3.5 -> 3.2 s; migration 0008 drops
#: them).
LINK_FIELDS: dict[str, tuple[str, ...]] = {
    "Ticket": ("assignees", "collections", "tags"),
    "User": ("teams", "roles"),
}

_encoder = msgspec.json.Encoder()


class Upserted(NamedTuple):
    """What an upsert did: every record as stored, and which of them are new or changed."""

    models: list[CommonModel]
    added: list[CommonModel]
    changed: list[CommonModel]


#: A stored record as the API reads it, a tuple: ``seq``, ``id``, ``data`` (+ ``remote_data``,
#: ``enum_origins`` when asked for), indexed with the constants below.
StoredRow = Sequence[Any]
SEQ_COLUMN, ID, DATA, REMOTE_DATA, ENUM_ORIGINS = range(5)


def _column_plan(model_name: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, Any], ...]]:
    """The model's filter columns as (column, field) taken as they are, and (column, field, convert)
    for those stored converted: times as microseconds, e-mail addresses lower-cased (the filter is
    case-insensitive). Worked out once per model, not per record."""
    hints = get_type_hints(MODELS[model_name])
    plain: list[tuple[str, str]] = []
    converted: list[tuple[str, str, Any]] = []
    for column, field in COLUMNS.get(model_name, ()):
        if hints[field] is datetime or datetime in get_args(hints[field]):
            converted.append((column, field, to_micros))
        elif column == "email_address":
            converted.append((column, field, str.lower))
        else:
            plain.append((column, field))
    return tuple(plain), tuple(converted)


_COLUMN_PLANS = {name: _column_plan(name) for name in MODELS}


def localize(
    account_id: str,
    model_name: str,
    record: RemoteRecord[Any],
    *,
    now: int | None = None,
    stamp: datetime | None = None,
) -> CommonModel:
    """The record as we serve it: our ids everywhere, no ``remote_data`` (stored apart).

    ``stamp`` (``now`` as a datetime) saves the conversion when a page of records shares it.
    """
    source = record.model
    if stamp is None:
        stamp = from_micros(now_micros() if now is None else now)
    # ``translate``, inlined: this runs for every relation of every record a sync stores.
    changes: dict[str, Any] = {}
    for field, target, many in _RELATED[model_name]:
        value = getattr(source, field)
        if not value:  # None, [], or "": an empty vendor id is no relation either
            if value == "":
                changes[field] = None
            continue
        if many:
            changes[field] = [record_id(account_id, target, str(v)) for v in value if v is not None]
        else:
            changes[field] = record_id(account_id, target, str(value))
    model: CommonModel = msgspec.structs.replace(
        source,
        id=record_id(account_id, model_name, str(source.remote_id)),
        remote_data=None,
        remote_was_deleted=bool(getattr(source, "remote_was_deleted", False)),
        created_at=stamp,
        modified_at=stamp,
        **changes,
    )
    return model


#: Per model: (relation field, target model, many), looked up once instead of per record.
_RELATED: dict[str, tuple[tuple[str, str, bool], ...]] = {
    name: tuple((field, relation.target, relation.many) for field, relation in relations.items())
    for name, relations in RELATIONS.items()
}


class Prepared(NamedTuple):
    """Records of one model localized and encoded as if they were all new (``prepare_records``);
    ``write_prepared`` finds which exist and settles them. Split so a sync can prepare the next page
    while the store writes this one."""

    account_id: str
    model_name: str
    now: int
    items: list[_Item]


class _Item(NamedTuple):
    remote_id: str
    record: RemoteRecord[Any]
    model: CommonModel  # as new: created_at = modified_at = now
    row: dict[str, Any]  # its row as new, without ``sync_run``


def prepare_records(
    account_id: str, model_name: str, records: Sequence[RemoteRecord[Any]], *, now: int | None = None
) -> Prepared:
    """Pure: our ids, the API JSON, filter columns. No database access."""
    now = now_micros() if now is None else now
    stamp = from_micros(now)
    plain, converted = _COLUMN_PLANS[model_name]
    items: list[_Item] = []
    for record in records:
        model = localize(account_id, model_name, record, stamp=stamp)
        remote_id = str(record.model.remote_id)
        row = {
            "id": str(model.id),
            "linked_account_id": account_id,
            "remote_id": remote_id,
            "created_at": now,
            "modified_at": now,
            "remote_was_deleted": bool(getattr(model, "remote_was_deleted", False)),
            "data": _encoder.encode(model),
            "remote_data": _encoder.encode([RemoteData(path=record.path, data=record.raw)]),
            "enum_origins": _encoder.encode(record.enum_origins) if record.enum_origins else None,
        }
        for column, field in plain:
            row[column] = getattr(model, field)
        for column, field, convert in converted:
            value = getattr(model, field)
            row[column] = None if value is None else convert(value)
        items.append(_Item(remote_id, record, model, row))
    return Prepared(account_id, model_name, now, items)


async def upsert_records(
    conn: AsyncConnection,
    account_id: str,
    model_name: str,
    records: Sequence[RemoteRecord[Any]],
    *,
    now: int | None = None,
    sync_run: int | None = None,
) -> Upserted:
    """Insert new records, update changed ones, leave unchanged ones (``sync_run`` still marks them
    seen, for deletion detection by diff)."""
    prepared = prepare_records(account_id, model_name, records, now=now)
    return await write_prepared(conn, prepared, sync_run=sync_run)


async def write_prepared(
    conn: AsyncConnection, prepared: Prepared, *, sync_run: int | None = None
) -> Upserted:
    """Store what ``prepare_records`` made: new records inserted, changed ones updated (keeping their
    ``created_at``), unchanged ones left alone."""
    account_id, model_name = prepared.account_id, prepared.model_name
    table = RECORD_TABLES[model_name]
    by_remote = {item.remote_id: item for item in prepared.items}  # a repeated record: the last wins
    existing = {
        row.remote_id: row
        for row in await conn.execute(
            select(
                table.c.seq,
                table.c.remote_id,
                table.c.created_at,
                table.c.modified_at,
                table.c.data,
                table.c.remote_data,
                table.c.enum_origins,
            ).where(table.c.linked_account_id == account_id, table.c.remote_id.in_(list(by_remote)))
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged: list[str] = []
    replaced: dict[str, int] = {}  # updated records' id -> seq: their links are rewritten
    stored: list[CommonModel] = []
    added: list[CommonModel] = []
    changed: list[CommonModel] = []
    for remote_id, item in by_remote.items():
        model, row = item.model, item.row
        old = existing.get(remote_id)
        if old is None:
            inserts.append(row if sync_run is None else {**row, "sync_run": sync_run})
            added.append(model)
            stored.append(model)
            continue
        same = msgspec.structs.replace(
            model, created_at=from_micros(old.created_at), modified_at=from_micros(old.modified_at)
        )
        if (
            _encoder.encode(same) == old.data
            and _same_json(row["remote_data"], old.remote_data)
            and row["enum_origins"] == old.enum_origins
        ):
            stored.append(same)
            unchanged.append(str(same.id))
            continue
        model = msgspec.structs.replace(model, created_at=from_micros(old.created_at))
        row = {**row, "created_at": old.created_at, "data": _encoder.encode(model)}
        if sync_run is not None:  # a write-through must not erase what the running sync has seen
            row["sync_run"] = sync_run
        updates.append(row)
        replaced[row["id"]] = old.seq
        changed.append(model)
        stored.append(model)
    # Links name records by ``seq``: the new rows' come back from the INSERT, the others' were read.
    returning = ("id", "seq") if model_name in LINK_FIELDS else ()
    inserted = await bulk.insert_rows(conn, table, inserts, returning=returning)
    await bulk.update_rows(conn, table, updates)
    if unchanged and sync_run is not None:
        await conn.execute(update(table).where(table.c.id.in_(unchanged)).values(sync_run=sync_run))
    if returning:
        seqs = {**dict(inserted), **replaced}
        await _write_links(conn, account_id, model_name, [*added, *changed], seqs, list(replaced.values()))
    return Upserted(stored, added, changed)


def _same_json(new: bytes | None, old: bytes | None) -> bool:
    """Byte-equal, or equal once decoded. Records read from pages keep the vendor's own bytes as their
    remote data, which before were re-encoded from dicts: the vendor's escapes and spacing are not a
    change, or the first sync after the upgrade would report every record changed."""
    if new == old:
        return True
    if new is None or old is None:
        return False
    return bool(msgspec.json.decode(new) == msgspec.json.decode(old))


async def _write_links(
    conn: AsyncConnection,
    account_id: str,
    model_name: str,
    models: list[CommonModel],
    seqs: dict[str, int],
    replaced: Sequence[int],
) -> None:
    """The links of ``models`` (new and changed records; ``seqs`` maps their ids to their ``seq``).
    Those of ``replaced`` (the changed ones' seqs) are dropped first; new records have none yet, so an
    initial sync deletes nothing."""
    if replaced:
        await conn.execute(
            delete(record_links).where(
                record_links.c.record_seq.in_(list(replaced)),
                record_links.c.target_key.in_(_keys_of(account_id, model_name)),
            )
        )
    fields = LINK_FIELDS[model_name]
    wanted = [(f, t, seqs[str(m.id)]) for m in models for f in fields for t in _distinct(getattr(m, f))]
    if not wanted:
        return
    keys = await _target_keys(conn, account_id, model_name, {(f, t) for f, t, _ in wanted})
    # In key order: a page's links go to every target it names, and the index is walked once rather
    # than sought from its root for each row.
    links = sorted((keys[f, t], seq) for f, t, seq in wanted)
    await bulk.insert_rows(conn, record_links, [{"target_key": k, "record_seq": seq} for k, seq in links])


def _keys_of(account_id: str, model_name: str) -> Select[tuple[int]]:
    return select(link_targets.c.key).where(
        link_targets.c.linked_account_id == account_id, link_targets.c.model == model_name
    )


#: Targets looked up per statement (below both backends' limits on bound parameters).
_TARGETS_PER_QUERY = 5000


async def _target_keys(
    conn: AsyncConnection, account_id: str, model_name: str, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The ``link_targets`` key of each (field, target), numbering those seen for the first time."""
    keys = await _read_target_keys(conn, account_id, model_name, wanted)
    missing = wanted - keys.keys()
    if missing:
        rows = [
            {"linked_account_id": account_id, "model": model_name, "field": f, "target": t}
            for f, t in sorted(missing)
        ]
        # Another transaction may number the same target meanwhile (a write-through during a sync):
        # its row wins, and is read back below like ours.
        await conn.execute(bulk.insert_ignoring_duplicates(conn.dialect, link_targets), rows)
        keys |= await _read_target_keys(conn, account_id, model_name, missing)
    return keys


async def _read_target_keys(
    conn: AsyncConnection, account_id: str, model_name: str, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    targets = sorted({t for _, t in wanted})
    keys: dict[tuple[str, str], int] = {}
    for start in range(0, len(targets), _TARGETS_PER_QUERY):
        rows = await conn.execute(
            select(link_targets.c.key, link_targets.c.field, link_targets.c.target).where(
                link_targets.c.linked_account_id == account_id,
                link_targets.c.model == model_name,
                link_targets.c.target.in_(targets[start : start + _TARGETS_PER_QUERY]),
            )
        )
        keys.update({(f, t): k for k, f, t in rows if (f, t) in wanted})
    return keys


def _distinct(values: list[str] | None) -> Sequence[str]:
    """``values`` without repeats, in order (most have one value or none: skip the dict then)."""
    if not values:
        return ()
    return values if len(values) == 1 else list(dict.fromkeys(values))


async def mark_deleted(
    conn: AsyncConnection,
    account_id: str,
    model_name: str,
    remote_ids: Sequence[str],
    *,
    now: int | None = None,
) -> list[CommonModel]:
    """Flag records the vendor deleted; returns them as last seen (flag set)."""
    table = RECORD_TABLES[model_name]
    where = [
        table.c.linked_account_id == account_id,
        table.c.remote_id.in_(list(remote_ids)),
        table.c.remote_was_deleted.is_(False),
    ]
    return await _flag_deleted(conn, table, model_name, where, now)


async def mark_children_deleted(
    conn: AsyncConnection, account_id: str, model_name: str, parent_model: str, parent_remote_id: str
) -> list[CommonModel]:
    """Flag the ``model_name`` records of a parent the vendor deleted (a deleted ticket's comments)."""
    table = RECORD_TABLES[model_name]
    column = next(
        column
        for column, field in COLUMNS[model_name]
        if field in RELATIONS[model_name] and RELATIONS[model_name][field].target == parent_model
    )
    where = [
        table.c.linked_account_id == account_id,
        table.c[column] == record_id(account_id, parent_model, parent_remote_id),
        table.c.remote_was_deleted.is_(False),
    ]
    return await _flag_deleted(conn, table, model_name, where, None)


async def mark_unseen_deleted(
    conn: AsyncConnection, account_id: str, model_name: str, *, sync_run: int, run_started_at: int
) -> list[CommonModel]:
    """After a *complete* full enumeration: whatever the run did not see is gone at the vendor.

    Records created after the run started (written through the API meanwhile) are spared.
    """
    table = RECORD_TABLES[model_name]
    where = [
        table.c.linked_account_id == account_id,
        table.c.remote_was_deleted.is_(False),
        table.c.created_at < run_started_at,
        table.c.sync_run.is_(None) | (table.c.sync_run != sync_run),
    ]
    # No index holds ``sync_run``: this reads every row of the account. In ``seq`` order SQLite walks
    # the (account, seq) index, which is the table's own order, so each page is read once; left to
    # itself it took the (account, status) index and read the table's pages ~3 times over (100,000
    # tickets: 12,500 page reads of a 4,500-page table, 0.33 s against 0.17 s).
    return await _flag_deleted(conn, table, model_name, where, None, order_by=table.c.seq)


async def _flag_deleted(
    conn: AsyncConnection,
    table: Table,
    model_name: str,
    where: list[ColumnElement[bool]],
    now: int | None,
    *,
    order_by: ColumnElement[Any] | None = None,
) -> list[CommonModel]:
    # The JSON is rewritten too, so the bytes we serve agree with the flag.
    now = now_micros() if now is None else now
    query = select(table.c.id, table.c.data).where(and_(*where))
    rows = (await conn.execute(query if order_by is None else query.order_by(order_by))).all()
    model_type, stamp = MODELS[model_name], from_micros(now)
    flagged = [
        msgspec.structs.replace(
            msgspec.json.decode(row.data, type=model_type), remote_was_deleted=True, modified_at=stamp
        )
        for row in rows
    ]
    # One execution for them all: a full pass may find thousands gone.
    await bulk.update_rows(
        conn,
        table,
        [
            {"id": row.id, "remote_was_deleted": True, "modified_at": now, "data": _encoder.encode(model)}
            for row, model in zip(rows, flagged, strict=True)
        ],
    )
    return flagged


#: Bound parameters of ``page_statement``.
SEQ, LIMIT = "seq_", "limit_"


def page_statement(
    table: Table,
    where: Sequence[ColumnElement[bool]],
    *,
    after: bool = False,
    before: bool = False,
    with_extras: bool = False,
) -> Select[Any]:
    """Rows in ``seq`` order (descending when paging ``before`` a cursor), at most ``limit_``.

    Values come as bound parameters (``seq_``, ``limit_`` and the filters'), so one statement serves
    every page of the same shape and SQLAlchemy compiles it once.
    """
    extras = (table.c.remote_data, table.c.enum_origins) if with_extras else ()
    conditions = list(where)
    if after:
        conditions.append(table.c.seq > bindparam(SEQ))
    if before:
        conditions.append(table.c.seq < bindparam(SEQ))
    order = table.c.seq.desc() if before else table.c.seq.asc()
    return (
        select(table.c.seq, table.c.id, table.c.data, *extras)
        .where(and_(*conditions))
        .order_by(order)
        .limit(bindparam(LIMIT))
    )


async def select_rows(reader: Reader, statement: Select[Any], params: dict[str, Any]) -> list[StoredRow]:
    return list(await reader.rows(statement, params))


async def remote_ids(
    conn: AsyncConnection, account_id: str, model_name: str, ids: Sequence[str]
) -> dict[str, str]:
    """Our id -> vendor id, for the ids of this linked account that exist (write-path translation)."""
    if not ids:
        return {}
    table = RECORD_TABLES[model_name]
    rows = await conn.execute(
        select(table.c.id, table.c.remote_id).where(
            table.c.linked_account_id == account_id, table.c.id.in_(list(ids))
        )
    )
    return {row.id: row.remote_id for row in rows}


async def delete_account_records(conn: AsyncConnection, account_id: str) -> None:
    """Drop every record of a linked account (``delete-account``); cascades would do it on PostgreSQL,
    but SQLite only cascades with foreign keys on, so do it explicitly everywhere."""
    for table in RECORD_TABLES.values():
        await conn.execute(delete(table).where(table.c.linked_account_id == account_id))
    keys = select(link_targets.c.key).where(link_targets.c.linked_account_id == account_id)
    await conn.execute(delete(record_links).where(record_links.c.target_key.in_(keys)))
    await conn.execute(delete(link_targets).where(link_targets.c.linked_account_id == account_id))
