"""The core both outboxes share (``app/outbox.py``): leases, retries, settling, the delivery loop.

Exercised on a table of its own (just the delivery columns), on both backends: what the webhook and
sharing outboxes do with it is tested in ``test_webhooks.py`` and the sharing tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import create_engine
from app.db.tables import delivery_columns
from app.outbox import SECOND, Config, DeliveryLoop, backoff, claim, settle, settled

NOW = 1_700_000_000 * SECOND
rows = Table("outbox_core_test", MetaData(), Column("seq", Integer, primary_key=True), *delivery_columns())


class Outcome(msgspec.Struct, frozen=True):
    delivered: bool
    retry: bool
    status: int | None = None
    error: str | None = None


DELIVERED = Outcome(delivered=True, retry=False, status=204)
FAILED = Outcome(delivered=False, retry=True, status=503, error="receiver answered HTTP 503")
REFUSED = Outcome(delivered=False, retry=False, status=410, error="gone")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(rows.metadata.create_all)
        await conn.execute(
            insert(rows),
            [
                # (Every row names every column: an executemany takes its columns from the first.)
                {
                    "seq": 1,
                    "created_at": NOW,
                    "next_attempt_at": NOW,
                    "lease_owner": None,
                    "lease_expires_at": None,
                },
                {
                    "seq": 2,
                    "created_at": NOW,
                    "next_attempt_at": NOW,
                    "lease_owner": "b",
                    "lease_expires_at": NOW + 1,
                },
                {
                    "seq": 3,
                    "created_at": NOW,
                    "next_attempt_at": NOW,
                    "lease_owner": "c",
                    "lease_expires_at": NOW - 1,
                },
            ],
        )
    yield engine
    await engine.dispose()


async def state(engine: AsyncEngine, seq: int) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(rows).where(rows.c.seq == seq))).one()


async def test_claim_takes_free_and_expired_leases_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await claim(conn, rows.c.seq, [1, 2, 3], "a", 60, NOW) == {1, 3}
    for seq in (1, 3):
        row = await state(engine, seq)
        assert (row.lease_owner, row.lease_expires_at) == ("a", NOW + 60 * SECOND)
    assert (await state(engine, 2)).lease_owner == "b"
    # A second worker that picked the same rows gets none of them.
    async with engine.begin() as conn:
        assert await claim(conn, rows.c.seq, [1, 2, 3], "d", 60, NOW) == set()
        assert await claim(conn, rows.c.seq, [], "d", 60, NOW) == set()


async def test_settle_only_while_the_lease_is_held(engine: AsyncEngine) -> None:
    config = Config(backoff_base_seconds=10, backoff_cap_seconds=60)
    async with engine.begin() as conn:
        await claim(conn, rows.c.seq, [1], "a", 60, NOW)
        # "a" stalled past its lease; "b" took the row over and delivered it.
        later = NOW + 61 * SECOND
        assert await claim(conn, rows.c.seq, [1], "b", 60, later) == {1}
        await settle(conn, rows.c.seq, 1, "b", settled(DELIVERED, attempts=1, config=config, now=later))
        await settle(conn, rows.c.seq, 1, "a", settled(FAILED, attempts=1, config=config, now=later))
    row = await state(engine, 1)
    assert (row.delivered_at, row.next_attempt_at, row.last_status, row.lease_owner) == (
        later,
        None,
        204,
        None,
    )


def test_settled_states() -> None:
    config = Config(backoff_base_seconds=10, backoff_cap_seconds=3600, max_attempts=5)
    delivered = settled(DELIVERED, attempts=1, config=config, now=NOW)
    assert delivered == {
        "attempts": 1,
        "last_status": 204,
        "last_error": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "delivered_at": NOW,
        "next_attempt_at": None,
    }
    again = settled(FAILED, attempts=2, config=config, now=NOW)
    assert NOW + 10 * SECOND <= again["next_attempt_at"] <= NOW + 20 * SECOND
    assert "dead_at" not in again and again["last_error"] == FAILED.error
    assert (
        settled(FAILED, attempts=2, config=config, now=NOW, retry_after=7)["next_attempt_at"]
        == NOW + 7 * SECOND
    )
    for dead in (
        settled(REFUSED, attempts=1, config=config, now=NOW),
        settled(FAILED, attempts=5, config=config, now=NOW),
    ):
        assert (dead["dead_at"], dead["next_attempt_at"]) == (NOW, None)


def test_settled_by_age() -> None:
    config = Config(backoff_base_seconds=3600, backoff_cap_seconds=3600, max_age_seconds=600)
    # The next try would fall after the deadline: it is made at the deadline instead.
    young = settled(FAILED, attempts=1, config=config, now=NOW, created_at=NOW - 300 * SECOND)
    assert young["next_attempt_at"] == NOW + 300 * SECOND
    old = settled(FAILED, attempts=9, config=config, now=NOW, created_at=NOW - 600 * SECOND)
    assert old["dead_at"] == NOW


def test_backoff() -> None:
    config = Config(backoff_base_seconds=10, backoff_cap_seconds=3600)
    assert [backoff(n, config, rng=lambda: 1.0) for n in (1, 2, 4, 30)] == [10.0, 20.0, 80.0, 3600.0]
    assert backoff(1, config, rng=lambda: 0.0) == 5.0  # half fixed: never zero
    assert backoff(3, config, retry_after=-5) == 0.0


class ListLoop(DeliveryLoop[int]):
    """Delivers batches from a list; the first round fails, as a database hiccup would."""

    def __init__(self, batches: list[Sequence[int]]) -> None:
        super().__init__(Config(poll_seconds=0.01))
        self.batches = batches
        self.delivered: list[int] = []
        self.chores_run = 0
        self.failed_once = False

    async def lease_due(self) -> Sequence[int]:
        if not self.failed_once:
            self.failed_once = True
            raise ConnectionError("database went away")
        return self.batches.pop(0) if self.batches else []

    async def deliver(self, lease: int) -> None:
        self.delivered.append(lease)
        if not self.batches:
            self.stop()

    async def chores(self) -> None:
        self.chores_run += 1


async def test_delivery_loop_survives_a_failed_round_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    loop = ListLoop([[1, 2], [3]])
    await asyncio.wait_for(loop.run_forever(), timeout=10)
    assert loop.delivered == [1, 2, 3] and loop.chores_run == 1
    assert "outbox delivery round failed" in caplog.text
    idle = ListLoop([[4], [5, 6]])
    idle.failed_once = True
    assert await idle.run_until_idle() == 3 and idle.delivered == [4, 5, 6]
