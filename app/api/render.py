"""Turning stored rows into response bytes.

The fast path concatenates the stored JSON of each row into the page envelope without decoding anything.
Only when the caller asks for more (``expand``, ``include_remote_data``, ``show_enum_origins``) are rows
decoded, enriched and encoded again; expansion loads each related model with one query per field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import select

from app.db.reader import Reader
from app.db.records import DATA, ENUM_ORIGINS, REMOTE_DATA, StoredRow
from app.db.tables import RECORD_TABLES
from schemas.models import RELATIONS

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class RenderOptions:
    expand: tuple[str, ...] = ()
    include_remote_data: bool = False
    enum_origins: tuple[str, ...] = ()
    extras: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", bool(self.include_remote_data or self.enum_origins))

    @property
    def plain(self) -> bool:
        return not (self.expand or self.extras)


def page_bytes(next_cursor: str | None, previous_cursor: str | None, items: Sequence[bytes]) -> bytes:
    return b"".join(
        (
            b'{"next":',
            _encoder.encode(next_cursor),
            b',"previous":',
            _encoder.encode(previous_cursor),
            b',"results":[',
            b",".join(items),
            b"]}",
        )
    )


async def render(
    reader: Reader, account_id: str, model: str, rows: Sequence[StoredRow], options: RenderOptions
) -> list[bytes]:
    if options.plain:
        return [row[DATA] for row in rows]
    docs: list[dict[str, Any]] = [_decoder.decode(row[DATA]) for row in rows]
    for doc, row in zip(docs, rows, strict=True):
        if options.include_remote_data:
            doc["remote_data"] = _decoder.decode(row[REMOTE_DATA]) if row[REMOTE_DATA] else None
        if options.enum_origins and row[ENUM_ORIGINS]:
            origins = _decoder.decode(row[ENUM_ORIGINS])
            for name in options.enum_origins:
                if name in origins:
                    doc[name] = origins[name]
    for name in options.expand:
        await _expand(reader, account_id, model, docs, name)
    return [_encoder.encode(doc) for doc in docs]


async def _expand(reader: Reader, account_id: str, model: str, docs: list[dict[str, Any]], name: str) -> None:
    relation = RELATIONS[model].get(name)
    if relation is None:  # e.g. Ticket.permissions: already embedded objects
        return
    wanted: set[str] = set()
    for doc in docs:
        value = doc.get(name)
        if isinstance(value, list):
            wanted.update(v for v in value if isinstance(v, str))
        elif isinstance(value, str):
            wanted.add(value)
    if not wanted:
        return
    table = RECORD_TABLES[relation.target]
    rows = await reader.rows(
        select(table.c.id, table.c.data).where(
            table.c.linked_account_id == account_id, table.c.id.in_(wanted)
        )
    )
    found = {row[0]: _decoder.decode(row[1]) for row in rows}
    for doc in docs:
        value = doc.get(name)
        # An id whose record is not in the store stays an id: the SDK accepts mixed lists.
        if isinstance(value, list):
            doc[name] = [found.get(v, v) if isinstance(v, str) else v for v in value]
        elif isinstance(value, str):
            doc[name] = found.get(value, value)
