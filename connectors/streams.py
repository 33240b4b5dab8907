"""Reads declared as data: a ``Stream`` says where a common model lives at a vendor and how to page it.

A vendor module declares one ``Stream`` per common model it reads (path, where the records are in the
body, pagination strategy, the changed-since parameter, the pure mapping function, the vendor doc URL);
``read`` runs any of them through the vendor's ``VendorClient``. Each page comes back with the request
that continues it, which a sync stores as its checkpoint: an interrupted run resumes from exactly there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import httpx
import msgspec

from connectors.base import RemoteRecord, as_object
from connectors.http.client import VendorClient
from connectors.http.errors import PaginationLoopError
from connectors.http.pagination import PageRequest, Strategy


class Tombstone(msgspec.Struct, frozen=True):
    """A vendor record that is gone (a deleted ticket in an incremental export)."""

    remote_id: str
    #: Which model's record it was, when the stream carries several (a deleted agent in Zendesk's users
    #: export is a User); ``None``: the stream's own model.
    model: str | None = None


Mapped = RemoteRecord[Any] | Tombstone | None
#: A list when one vendor object holds several records (Freshdesk conversations carry attachments), or
#: is one record and no longer another (a Zendesk user made agent is a User and not a Contact).
Mapper = Callable[[Any], Mapped | Sequence[RemoteRecord[Any] | Tombstone]]


#: Records mapped between turns of the event loop. A page of a thousand tickets maps in ~10 ms of CPU;
#: meanwhile a sync's database thread, writing the previous page, would wait for the loop to take each
#: statement's result.
MAP_SLICE = 100


def epoch_seconds(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Stream:
    """Where and how to read one common model from one vendor.

    Attributes:
        model: The common model the records map to (``"Ticket"``).
        path: Relative to the vendor API root; ``{parent}`` is replaced by a parent's vendor id for
            dependent streams (comments of one ticket).
        records_path: Dotted path of the record list in the response body.
        pagination: The vendor's pagination strategy (a frozen Struct; see ``connectors.http``).
        to_record: Pure mapping from one raw vendor record to a ``RemoteRecord``, a ``Tombstone``, or
            ``None`` to skip it (e.g. an agent in an end-user list). The record comes undecoded
            (``msgspec.Raw``) from pages, as a dict from writes and fixtures: mappers decode it with
            ``connectors.base.decode_record`` (or ``as_object`` for fields outside the wire type).
        params: Fixed query parameters.
        since_param: The changed-since parameter of incremental reads; ``None`` when the vendor has none
            (then every sync is a full enumeration).
        since_format: How ``since`` is written (epoch seconds, ISO-8601, ...).
        full_since: ``since`` used for a full read when the vendor applies a default window without
            one (Freshdesk lists only 30 days of tickets unless ``updated_since`` is given).
        parent: Model whose vendor ids fill ``{parent}`` in ``path``.
        parent_key: For vendors whose child records do not name their parent (Zendesk comments), the
            raw key set to the parent's vendor id before mapping.
        docs: The vendor documentation of the endpoint.
        carries: Other common models whose records come in this stream's pages and are read nowhere
            else (Zendesk's users export holds Contacts and Users; comments carry their Attachments).
            They have no stream of their own: a sync stores them with the carrier's pages, and their
            sync status follows the carrier's runs. A tombstone of a carried model names it
            (``Tombstone.model``).
    """

    model: str
    path: str
    records_path: str
    pagination: Strategy
    to_record: Mapper
    params: Mapping[str, str] = field(default_factory=dict)
    since_param: str | None = None
    since_format: Callable[[datetime], str] = epoch_seconds
    full_since: datetime | None = None
    parent: str | None = None
    parent_key: str | None = None
    docs: str = ""
    #: Deepest page the vendor serves (Freshdesk's ticket list: 300). At it, ``read`` starts over
    #: changed-since the last record's ``remote_updated_at`` instead of paging deeper, so such a stream
    #: must list oldest changes first. Top-level streams only.
    max_page: int | None = None
    carries: tuple[str, ...] = ()


def carrier_of(streams: Mapping[str, Stream], model: str) -> Stream | None:
    """The stream whose pages carry ``model``'s records, when ``model`` has no stream of its own."""
    return next((s for s in streams.values() if model in s.carries), None)


class StreamPage(msgspec.Struct, frozen=True, kw_only=True):
    """Mapped records of one vendor page, the ids the vendor reported deleted, and where to go on."""

    records: list[RemoteRecord[Any]]
    #: Vendor ids of the stream's own model reported deleted.
    deleted: list[str]
    #: The next request of this run; ``None`` after the last page. Checkpoint it.
    next: PageRequest | None
    #: Where a later incremental run continues (a cursor-export's end-of-stream cursor), if any.
    resume: PageRequest | None
    #: Vendor ids reported deleted of the models the stream carries, per model.
    deleted_carried: dict[str, list[str]] = msgspec.field(default_factory=dict)


def first_request(stream: Stream, *, since: datetime | None = None, parent: str | None = None) -> PageRequest:
    """The request that starts reading ``stream`` (changed after ``since``, or everything)."""
    if stream.parent and parent is None:
        raise ValueError(f"{stream.model} stream needs the vendor id of its parent {stream.parent}")
    params: dict[str, str | list[str]] = dict(stream.params)
    moment = since or stream.full_since
    if stream.since_param and moment is not None:
        params[stream.since_param] = stream.since_format(moment)
    path = stream.path.format(parent=parent) if stream.parent else stream.path
    return PageRequest(url=path, params=params)


class MappedPage(NamedTuple):
    """A page's raw records mapped: the records, and the ids reported deleted (own model, carried)."""

    records: list[RemoteRecord[Any]]
    deleted: list[str]
    deleted_carried: dict[str, list[str]]


def map_records(stream: Stream, raw: list[Any], into: MappedPage | None = None) -> MappedPage:
    """``raw`` mapped, added to ``into`` when given (a page mapped in slices)."""
    out = MappedPage([], [], {}) if into is None else into
    for item in raw:
        mapped = stream.to_record(item)
        for one in (mapped,) if mapped is None or isinstance(mapped, (RemoteRecord, Tombstone)) else mapped:
            if isinstance(one, Tombstone):
                if one.model is None or one.model == stream.model:
                    out.deleted.append(one.remote_id)
                else:
                    out.deleted_carried.setdefault(one.model, []).append(one.remote_id)
            elif one is not None:
                out.records.append(one)
    return out


async def read(
    client: VendorClient,
    stream: Stream,
    *,
    since: datetime | None = None,
    checkpoint: PageRequest | None = None,
    parent: str | None = None,
) -> AsyncGenerator[StreamPage, None]:
    """Read ``stream`` page by page, from ``checkpoint`` when resuming, else from the start."""
    start: PageRequest | None = checkpoint or first_request(stream, since=since, parent=parent)
    while start is not None:
        run, start = start, None
        # A top-level read asks for the next page before mapping this one; a parent's children are
        # read one parent at a time and mostly fit one page, so they do not.
        pages = client.paginate(stream.pagination, run, stream.records_path, read_ahead=stream.parent is None)
        async with contextlib.aclosing(pages):
            async for page in pages:
                raw = page.records
                if parent is not None and stream.parent_key:
                    raw = [{**as_object(item), stream.parent_key: parent} for item in raw]
                records, deleted, deleted_carried = await _map_sliced(stream, raw)
                if (
                    records
                    and stream.max_page is not None
                    and _page_number(stream, page.request) >= stream.max_page
                ):
                    # The re-anchored request is also the checkpoint: a resumed run goes on from it.
                    start = _reanchor(stream, run, records)
                yield StreamPage(
                    records=records,
                    deleted=deleted,
                    deleted_carried=deleted_carried,
                    next=start or page.next,
                    resume=start or page.resume,
                )
                if start is not None:
                    break


async def _map_sliced(stream: Stream, raw: list[Any]) -> MappedPage:
    """``map_records``, giving the event loop a turn every ``MAP_SLICE`` records."""
    out = MappedPage([], [], {})
    for start in range(0, len(raw), MAP_SLICE):
        if start:
            await asyncio.sleep(0)
        map_records(stream, raw[start : start + MAP_SLICE], into=out)
    return out


def _page_number(stream: Stream, request: PageRequest) -> int:
    name = getattr(stream.pagination, "page_param", "page")
    value = request.params.get(name) or httpx.URL(request.url).params.get(name)
    return int(value) if isinstance(value, str) and value.isdigit() else 1


def _reanchor(stream: Stream, run: PageRequest, records: list[RemoteRecord[Any]]) -> PageRequest:
    """The first request of the records changed since the last one read (read again: upserts are
    idempotent), for a vendor that serves only ``max_page`` pages of one listing."""
    anchor = getattr(records[-1].model, "remote_updated_at", None)
    request = first_request(stream, since=anchor) if anchor is not None else None
    if request is None or request.to_json() == run.to_json():
        raise PaginationLoopError(f"{stream.model}: cannot page past {stream.max_page} by re-anchoring since")
    return request
