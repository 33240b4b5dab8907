"""Which connections have a database transaction open, watched through SQLAlchemy's events.

Used to prove that no transaction stays open while we wait for a vendor or a sharing partner: one held
across a call that can take seconds keeps its connection "idle in transaction" on PostgreSQL (with its
snapshot, which holds back vacuum) for as long.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine


class OpenTransactions:
    """Connections (of every engine, or of ``engine`` only) inside a transaction right now."""

    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self._open: set[int] = set()

    def count(self) -> int:
        return len(self._open)

    def _begin(self, conn: Connection) -> None:
        if self.engine is None or conn.engine is self.engine:
            self._open.add(id(conn))

    def _end(self, conn: Connection) -> None:
        self._open.discard(id(conn))


@contextmanager
def watching(engine: Engine | None = None) -> Iterator[OpenTransactions]:
    seen = OpenTransactions(engine)
    hooks = (("begin", seen._begin), ("commit", seen._end), ("rollback", seen._end))
    for name, hook in hooks:
        event.listen(Engine, name, hook)
    try:
        yield seen
    finally:
        for name, hook in hooks:
            event.remove(Engine, name, hook)
