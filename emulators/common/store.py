"""In-memory tables: seeded rows built lazily, writes layered on top, indexes for paging.

A ``Table`` holds one resource type. Seeded rows are produced by a generator function on first read
and then kept; writes replace them. Two sorted indexes keep every list endpoint O(log n + page):

* ``ids`` — live ids in id order (offset and id-cursor pagination);
* ``order`` — ``(stamp, id)`` of live *and deleted* rows, ``stamp`` being the vendor's change time
  (Zendesk ``generated_timestamp``, Freshdesk ``updated_at``), for incremental exports that must also
  report deletions.

Encoded JSON is cached per (id, view) so re-reading an unchanged record costs a dict lookup.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

Row = dict[str, Any]
_encoder = msgspec.json.Encoder()


class Table:
    def __init__(self, name: str, generate: Callable[[int], Row], seeded: Iterable[tuple[int, int]]) -> None:
        """``seeded`` lists ``(id, stamp)`` of the rows ``generate(id)`` can build."""
        self.name = name
        self._generate = generate
        self._stamp: dict[int, int] = dict(seeded)
        self._ids: list[int] = sorted(self._stamp)
        self._order: list[tuple[int, int]] = sorted((s, i) for i, s in self._stamp.items())
        self._rows: dict[int, Row] = {}
        self._deleted: set[int] = set()
        self._cache: dict[tuple[int, str], bytes] = {}
        self._views: set[str] = set()
        self._next_id = (self._ids[-1] + 1) if self._ids else 1
        #: Bumped on every write, so callers can cache derived views (filtered id lists).
        self.version = 0

    # -- reads ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, row_id: object) -> bool:
        return row_id in self._stamp and row_id not in self._deleted

    def get(self, row_id: int) -> Row | None:
        """The live row, or None (unknown or deleted)."""
        if row_id not in self._stamp or row_id in self._deleted:
            return None
        return self._row(row_id)

    def get_deleted(self, row_id: int) -> Row | None:
        return self._row(row_id) if row_id in self._deleted else None

    def is_deleted(self, row_id: int) -> bool:
        return row_id in self._deleted

    def stamp(self, row_id: int) -> int:
        return self._stamp[row_id]

    @property
    def ids(self) -> list[int]:
        """Live ids, ascending. Do not mutate."""
        return self._ids

    def deleted_ids(self) -> list[int]:
        return sorted(self._deleted)

    def ids_after(self, after_id: int | None, limit: int) -> list[int]:
        start = 0 if after_id is None else bisect.bisect_right(self._ids, after_id)
        return self._ids[start : start + limit]

    def ids_before(self, before_id: int, limit: int) -> list[int]:
        end = bisect.bisect_left(self._ids, before_id)
        return self._ids[max(0, end - limit) : end]

    def changed_since(self, stamp: int, after_id: int | None = None) -> Iterator[tuple[int, int]]:
        """``(stamp, id)`` in change order from ``stamp`` (strictly after ``(stamp, after_id)`` if given),
        including deleted rows; check ``is_deleted``. Lazy, so a page stops early."""
        key = (stamp, after_id) if after_id is not None else (stamp, -1)
        start = (
            bisect.bisect_right(self._order, key)
            if after_id is not None
            else bisect.bisect_left(self._order, key)
        )
        for position in range(start, len(self._order)):
            yield self._order[position]

    def changes_desc(self) -> Iterator[tuple[int, int]]:
        """``(stamp, id)`` newest change first, deleted rows included."""
        return reversed(self._order)

    def encoded(self, row_id: int, view: str, render: Callable[[Row], Any]) -> bytes:
        key = (row_id, view)
        cached = self._cache.get(key)
        if cached is None:
            self._views.add(view)
            cached = self._cache[key] = _encoder.encode(render(self._row(row_id)))
        return cached

    # -- writes --------------------------------------------------------------------------------
    def new_id(self) -> int:
        row_id = self._next_id
        self._next_id += 1
        return row_id

    def put(self, row_id: int, row: Row, stamp: int) -> None:
        """Insert or replace a live row changed at ``stamp``."""
        if row_id in self._stamp:
            self._unindex_order(row_id)
            if row_id in self._deleted:
                self._deleted.discard(row_id)
                bisect.insort(self._ids, row_id)
        else:
            bisect.insort(self._ids, row_id)
            self._next_id = max(self._next_id, row_id + 1)
        self._rows[row_id] = row
        self._stamp[row_id] = stamp
        bisect.insort(self._order, (stamp, row_id))
        self._invalidate(row_id)

    def delete(self, row_id: int, stamp: int) -> Row | None:
        """Soft-delete: the row leaves ``ids`` but stays in ``order`` (at ``stamp``) for exports."""
        row = self.get(row_id)
        if row is None:
            return None
        self._unindex_order(row_id)
        self._ids.pop(bisect.bisect_left(self._ids, row_id))
        self._deleted.add(row_id)
        self._stamp[row_id] = stamp
        bisect.insort(self._order, (stamp, row_id))
        self._invalidate(row_id)
        return row

    def purge(self, row_id: int) -> None:
        """Forget a row entirely (hard delete): no tombstone left for exports."""
        if row_id not in self._stamp:
            return
        self._unindex_order(row_id)
        if row_id in self._deleted:
            self._deleted.discard(row_id)
        else:
            self._ids.pop(bisect.bisect_left(self._ids, row_id))
        del self._stamp[row_id]
        self._rows.pop(row_id, None)
        self._invalidate(row_id)

    # -- internals -----------------------------------------------------------------------------
    def _row(self, row_id: int) -> Row:
        row = self._rows.get(row_id)
        if row is None:
            row = self._rows[row_id] = self._generate(row_id)
        return row

    def _unindex_order(self, row_id: int) -> None:
        key = (self._stamp[row_id], row_id)
        position = bisect.bisect_left(self._order, key)
        if position < len(self._order) and self._order[position] == key:
            self._order.pop(position)

    def _invalidate(self, row_id: int) -> None:
        self.version += 1
        for view in self._views:
            self._cache.pop((row_id, view), None)
