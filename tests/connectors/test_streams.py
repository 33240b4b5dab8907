"""Declared streams: first request, mapping (records, tombstones, skips), resuming from a checkpoint."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors import streams
from connectors.base import RemoteRecord, as_object
from connectors.http import Cursor, PageRequest, RetryPolicy, VendorClient
from connectors.streams import Stream, Tombstone, first_request, iso_seconds, read
from schemas.models import Comment, Ticket


def to_ticket(raw: Any) -> RemoteRecord[Ticket] | Tombstone | None:
    raw = as_object(raw)  # pages hand mappers each record's bytes
    if raw["status"] == "deleted":
        return Tombstone(remote_id=str(raw["id"]))
    if raw["status"] == "spam":
        return None
    return RemoteRecord(model=Ticket(remote_id=str(raw["id"]), name=raw["subject"]), path="/tickets", raw=raw)


TICKETS = Stream(
    model="Ticket",
    path="/tickets",
    records_path="tickets",
    pagination=Cursor(cursor_path="next", param="cursor", has_more_path="more"),
    to_record=to_ticket,
    params={"per_page": "2"},
    since_param="since",
)

PAGES = {
    None: {
        "tickets": [{"id": 1, "status": "open", "subject": "a"}, {"id": 2, "status": "deleted"}],
        "next": "c1",
        "more": True,
    },
    "c1": {
        "tickets": [{"id": 3, "status": "spam", "subject": "s"}, {"id": 4, "status": "open", "subject": "d"}],
        "next": "c2",
        "more": True,
    },
    "c2": {"tickets": [{"id": 5, "status": "open", "subject": "e"}], "next": None, "more": False},
}


def vendor() -> tuple[VendorClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=PAGES[request.url.params.get("cursor")])

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="https://v.example")
    return VendorClient(http, retry=RetryPolicy.for_tests()), seen


async def test_read_maps_records_tombstones_and_skips() -> None:
    client, seen = vendor()
    pages = [p async for p in read(client, TICKETS, since=datetime(2024, 1, 1, tzinfo=UTC))]
    assert [[r.model.remote_id for r in p.records] for p in pages] == [["1"], ["4"], ["5"]]
    assert [p.deleted for p in pages] == [["2"], [], []]
    assert seen[0].url.params["since"] == "1704067200" and seen[0].url.params["per_page"] == "2"
    assert pages[-1].next is None


async def test_a_large_page_maps_in_slices_in_order_letting_other_tasks_run() -> None:
    n = streams.MAP_SLICE * 3 + 7
    statuses = ("open", "deleted", "spam")
    body = {"tickets": [{"id": i, "status": statuses[i % 3], "subject": f"t{i}"} for i in range(n)]}
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _request: httpx.Response(200, json=body)),
        base_url="https://v.example",
    )
    turns = 0  # turns another task got
    seen_at: list[int] = []  # ``turns`` when each record was mapped

    def counting(raw: Any) -> RemoteRecord[Ticket] | Tombstone | None:
        seen_at.append(turns)
        return to_ticket(raw)

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    try:
        stream = dataclasses.replace(TICKETS, to_record=counting)
        (page,) = [p async for p in read(VendorClient(http, retry=RetryPolicy.for_tests()), stream)]
    finally:
        task.cancel()
    assert [r.model.remote_id for r in page.records] == [str(i) for i in range(0, n, 3)]
    assert page.deleted == [str(i) for i in range(1, n, 3)]
    # Within a slice nothing else runs; between slices the other task does.
    slices = [seen_at[i : i + streams.MAP_SLICE] for i in range(0, n, streams.MAP_SLICE)]
    assert all(len(set(part)) == 1 for part in slices)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(slices))


async def test_resume_from_a_checkpoint_reads_the_rest_only() -> None:
    client, _ = vendor()
    (first, *_rest) = [p async for p in read(client, TICKETS)]
    assert first.next is not None
    saved = first.next.to_json()
    client2, seen2 = vendor()
    rest = [p async for p in read(client2, TICKETS, checkpoint=PageRequest.from_json(saved))]
    assert [r.model.remote_id for p in rest for r in p.records] == ["4", "5"]
    assert seen2[0].url.params["cursor"] == "c1"


def test_dependent_stream_needs_its_parent_and_full_since_applies() -> None:
    comments = Stream(
        model="Comment",
        path="/tickets/{parent}/comments",
        records_path="comments",
        pagination=Cursor(cursor_path="next", param="cursor"),
        to_record=lambda raw: RemoteRecord(model=Comment(remote_id=str(raw["id"])), path="", raw=raw),
        parent="Ticket",
        since_param="updated_since",
        since_format=iso_seconds,
        full_since=datetime(1970, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="parent"):
        first_request(comments)
    request = first_request(comments, parent="42")
    assert request.url == "/tickets/42/comments"
    assert request.params["updated_since"] == "1970-01-01T00:00:00Z"
