"""Pagination as data: frozen strategies, one pure ``next_request`` and one ``paginate`` loop.

A strategy says *how* a vendor links its pages; ``next_request`` turns (strategy, the request just
made, its response) into the next request, or ``None`` at the end. Nothing is mutated between pages,
so the ``PageRequest`` a page points to is a complete, JSON-serializable description of where to go
on: the sync runner checkpoints it after every page and an interrupted sync resumes from it.

Examples (vendor modules declare these next to their streams)::

    Cursor(cursor_path="meta.after_cursor", param="page[after]", has_more_path="meta.has_more")  # Zendesk CBP
    Cursor(cursor_path="after_cursor", param="cursor", end_path="end_of_stream")  # Zendesk incremental
    Cursor(cursor_path="paging.next.after", param="after")                        # HubSpot lists
    NextUrl(next_path="links.next")                                              # Zendesk CBP, by URL
    NextUrl(next_path="nextRecordsUrl", end_path="done")                         # Salesforce SOQL
    LinkHeader()                                                                 # Freshdesk, ServiceNow
    PageNumber(page_param="page", size_param="per_page", size=100)                # Zendesk OBP
    Offset(offset_param="from", limit_param="limit", limit=100, records_path="data")  # Zoho Desk
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import msgspec

from connectors.http.errors import PaginationLoopError, PermanentError, UpstreamError
from connectors.http.tasks import settle_unwanted

ParamValue = str | list[str]


class PageRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One page's request; also the resumable checkpoint of a sync.

    Attributes:
        url: Path relative to the client's base URL, or an absolute URL on the same origin.
        method: HTTP method (``POST`` for search endpoints that page through a JSON body).
        params: Query parameters (values as the vendor expects them on the wire).
        body: JSON body, for endpoints that take their cursor in the body.
    """

    url: str
    method: str = "GET"
    params: dict[str, ParamValue] = msgspec.field(default_factory=dict)
    body: Any = None

    def to_json(self) -> bytes:
        """The checkpoint form, with keys sorted so equal requests encode equally."""
        return msgspec.json.encode(self, order="sorted")

    @classmethod
    def from_json(cls, data: bytes | str) -> PageRequest:
        return msgspec.json.decode(data, type=cls)


class Cursor(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """An opaque cursor from the body, sent back as one parameter.

    Attributes:
        cursor_path: Dotted path of the cursor in the response (``meta.after_cursor``).
        param: Query parameter to put it in, or dotted path into the JSON body when ``in_body``.
        has_more_path: Path of a flag that is false on the last page (``meta.has_more``).
        end_path: Path of a flag that is *true* on the last page (``end_of_stream``, ``isLast``).
        in_body: Send the cursor inside the JSON body (HubSpot / Intercom search) instead of the query.
    """

    cursor_path: str
    param: str
    has_more_path: str | None = None
    end_path: str | None = None
    in_body: bool = False


class NextUrl(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A complete next-page URL in the body (``next_page``, ``links.next``, ``after_url``).

    Attributes:
        next_path: Dotted path of the URL; relative URLs are resolved against the current one.
        end_path: Path of a flag that is true on the last page.
        keep_params: Carry the current parameters over when the next URL lacks them.
    """

    next_path: str
    end_path: str | None = None
    keep_params: bool = False


class LinkHeader(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """RFC 8288 ``Link: <url>; rel="next"``; no such link means the last page."""

    rel: str = "next"
    end_path: str | None = None


class PageNumber(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """``page=N`` counting; the last page is the first short or empty one.

    ``size`` must not exceed the vendor's maximum, or its capped pages would look short.

    Attributes:
        records_path: Where the page's records are, to count them (``None``: the body is the list).
        size: Page size sent in ``size_param``; ``None`` sends none and stops on an empty page only.
    """

    page_param: str = "page"
    size_param: str | None = "per_page"
    size: int | None = 100
    start: int = 1
    records_path: str | None = None
    end_path: str | None = None


class Offset(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """``offset``/``limit`` windows; the offset advances by the records received.

    Attributes:
        records_path: Where the page's records are, to count them (``None``: the body is the list).
        limit: Must not exceed the vendor's maximum (a capped page would look like the last one).
    """

    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = 100
    start: int = 0
    records_path: str | None = None
    end_path: str | None = None


Strategy = Cursor | NextUrl | LinkHeader | PageNumber | Offset


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One fetched page.

    Attributes:
        request: The request that produced it.
        records: The records found at ``records_path``.
        next: The next page's request; ``None`` on the last page. Checkpoint this.
        resume: Where a *later* sync run continues: ``next`` while pages remain; at an end-of-stream
            flag, the request that asks for what arrives later (Zendesk incremental ``after_cursor``).
    """

    request: PageRequest
    records: list[Any]
    next: PageRequest | None
    resume: PageRequest | None


def get_path(data: Any, path: str | None) -> Any:
    """The value at a dotted path (``meta.after_cursor``, ``results.0.id``); ``None`` if absent."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.lstrip("-").isdigit() and -len(data) <= int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _set_path(data: Any, path: str, value: Any) -> dict[str, Any]:
    """A copy of the JSON object ``data`` with ``value`` at the dotted ``path``."""
    head, _, rest = path.partition(".")
    out = dict(data) if isinstance(data, Mapping) else {}
    out[head] = _set_path(out.get(head), rest, value) if rest else value
    return out


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def next_request(
    strategy: Strategy,
    request: PageRequest,
    response_json: Any,
    response_headers: Mapping[str, str],
) -> PageRequest | None:
    """The request for the page after ``request``, or ``None`` when it was the last. Pure.

    Args:
        strategy: How this endpoint paginates.
        request: The request that produced the response.
        response_json: The decoded body (``None`` for an empty one).
        response_headers: The response headers (case-insensitive ``httpx.Headers`` or a plain dict).
    """
    if strategy.end_path is not None and get_path(response_json, strategy.end_path):
        return None
    match strategy:
        case Cursor():
            return _next_cursor(strategy, request, response_json)
        case NextUrl():
            target = get_path(response_json, strategy.next_path)
            return None if _blank(target) else _follow(request, str(target), strategy.keep_params)
        case LinkHeader():
            target = find_link(_header(response_headers, "link"), strategy.rel)
            return None if target is None else _follow(request, target, keep_params=False)
        case PageNumber():
            return _next_page_number(strategy, request, response_json)
        case Offset():
            return _next_offset(strategy, request, response_json)


def _next_cursor(strategy: Cursor, request: PageRequest, response_json: Any) -> PageRequest | None:
    if strategy.has_more_path is not None and not get_path(response_json, strategy.has_more_path):
        return None
    cursor = get_path(response_json, strategy.cursor_path)
    if _blank(cursor):
        return None
    if strategy.in_body:
        return msgspec.structs.replace(request, body=_set_path(request.body, strategy.param, cursor))
    return msgspec.structs.replace(request, params={**request.params, strategy.param: str(cursor)})


def _follow(request: PageRequest, target: str, keep_params: bool) -> PageRequest:
    url = urljoin(request.url, target)
    params: dict[str, ParamValue] = {}
    if keep_params:
        present = {k for k, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
        params = {k: v for k, v in request.params.items() if k not in present}
    return msgspec.structs.replace(request, url=url, params=params)


def _count(response_json: Any, records_path: str | None) -> int:
    records = get_path(response_json, records_path)
    return len(records) if isinstance(records, list) else 0


def _int_param(request: PageRequest, name: str, default: int) -> int:
    value = request.params.get(name)
    try:
        return int(value) if isinstance(value, str) else default
    except ValueError:
        return default


def _next_page_number(strategy: PageNumber, request: PageRequest, response_json: Any) -> PageRequest | None:
    count = _count(response_json, strategy.records_path)
    if count == 0 or (strategy.size is not None and count < strategy.size):
        return None
    params: dict[str, ParamValue] = dict(request.params)
    params[strategy.page_param] = str(_int_param(request, strategy.page_param, strategy.start) + 1)
    if strategy.size_param is not None and strategy.size is not None:
        params[strategy.size_param] = str(strategy.size)
    return msgspec.structs.replace(request, params=params)


def _next_offset(strategy: Offset, request: PageRequest, response_json: Any) -> PageRequest | None:
    count = _count(response_json, strategy.records_path)
    if count == 0 or count < strategy.limit:
        return None
    offset = _int_param(request, strategy.offset_param, strategy.start) + count
    params = {**request.params, strategy.offset_param: str(offset), strategy.limit_param: str(strategy.limit)}
    return msgspec.structs.replace(request, params=params)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


# Link-values are comma-separated, but commas may also appear inside a quoted parameter or a target,
# so split only on a comma that starts a new "<target>".
_LINK_VALUES = re.compile(r",\s*(?=<)")
_LINK_VALUE = re.compile(r"\s*<([^>]*)>(.*)", re.DOTALL)
_REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))', re.IGNORECASE)


def find_link(header: str | None, rel: str) -> str | None:
    """The target of the first RFC 8288 link whose ``rel`` (space-separated list) includes ``rel``."""
    for value in _LINK_VALUES.split(header or ""):
        link = _LINK_VALUE.match(value)
        rel_match = _REL.search(link.group(2)) if link else None
        if link and rel_match:
            rels = (rel_match.group(1) or rel_match.group(2) or "").lower().split()
            if rel.lower() in rels:
                return link.group(1).strip()
    return None


def _without_end(strategy: Strategy) -> Strategy:
    if isinstance(strategy, Cursor):
        return msgspec.structs.replace(strategy, end_path=None, has_more_path=None)
    return msgspec.structs.replace(strategy, end_path=None)


Fetch = Callable[[PageRequest], Awaitable[httpx.Response]]

# Strategies whose next request changes whatever the vendor answers, so only the content can show a
# loop. Two pages with identical records are never right: each record is on exactly one page.
_COUNTED = (PageNumber, Offset, LinkHeader)


_RAW_LIST = list[msgspec.Raw]
_RAW_OBJECT = dict[str, msgspec.Raw]


def _decode(response: httpx.Response, records_path: str | None) -> Any:
    """The page body, its records left undecoded: each a ``msgspec.Raw`` of the vendor's bytes.

    Mappers decode a record straight into its wire type (``connectors.base.decode_record``), and its
    bytes are its ``remote_data``; decoding every record into dicts first was the costliest step of a
    sync's reading. Everything beside the records (cursors, links, counts) is decoded as usual.
    """
    if not response.content:
        return None
    try:
        try:
            return _lazily(response.content, records_path.split(".") if records_path else [])
        except msgspec.ValidationError:  # not the expected shape (null records, an index in the path)
            return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        raise UpstreamError(
            "page body is not valid JSON", method=response.request.method, url=response.request.url
        ) from None


def _lazily(data: bytes | msgspec.Raw, keys: list[str]) -> Any:
    if not keys:
        return msgspec.json.decode(data, type=_RAW_LIST)
    head, rest = keys[0], keys[1:]
    fields = msgspec.json.decode(data, type=_RAW_OBJECT)
    return {k: _lazily(v, rest) if k == head else msgspec.json.decode(v) for k, v in fields.items()}


async def paginate(
    fetch: Fetch,
    strategy: Strategy,
    first: PageRequest,
    records_path: str | None = None,
    *,
    read_ahead: bool = False,
) -> AsyncGenerator[Page, None]:
    """Fetch pages from ``first`` (or a resumed checkpoint) until ``next_request`` says stop.

    Args:
        fetch: Sends one ``PageRequest`` (``VendorClient`` passes its retrying, rate-limited sender).
        strategy: How the pages link.
        first: The first request, or a ``Page.next`` saved by an interrupted run.
        records_path: Where each page's records are (``None``: the body is the list).
        read_ahead: Request the next page as soon as this one is decoded, before yielding it: the
            vendor prepares it while the caller maps and stores this one. Still one request at a
            time; a fetch error surfaces where the next page would have. Close the iterator when
            stopping early (``contextlib.aclosing``), or the fetch under way runs on.

    Raises:
        PaginationLoopError: A page pointed to a request already made in this run, which would
            otherwise loop forever (a vendor bug, or a cursor ignored because of a typo in ``param``);
            or, where the next request is computed rather than given by the vendor (page numbers,
            offsets, Link headers), a page repeated the records of an earlier one: a vendor ignoring
            ``?page=`` answers every new page number with the first page, forever.
    """
    seen: set[bytes] = set()
    seen_pages: set[bytes] | None = set() if isinstance(strategy, _COUNTED) else None
    request: PageRequest | None = first
    pending: asyncio.Future[httpx.Response] | None = None
    try:
        while request is not None:
            seen.add(request.to_json())
            response = await (pending if pending is not None else fetch(request))
            pending = None
            body = _decode(response, records_path)
            records = get_path(body, records_path)
            if records is None:
                records = []  # vendors omit empty collections (Help Scout drops ``_embedded``)
            if not isinstance(records, list):
                raise PermanentError(f"records at {records_path!r} are not a list", url=request.url)
            if seen_pages is not None and records:
                digest = hashlib.blake2b(msgspec.json.encode(records), digest_size=16).digest()
                if digest in seen_pages:
                    raise PaginationLoopError("vendor repeated an earlier page's records", url=request.url)
                seen_pages.add(digest)
            nxt = next_request(strategy, request, body, response.headers)
            if nxt is not None and nxt.to_json() in seen:
                raise PaginationLoopError("vendor pagination repeats a request already made", url=nxt.url)
            resume = nxt
            if resume is None and getattr(strategy, "end_path", None) is not None:
                resume = next_request(_without_end(strategy), request, body, response.headers)
            if read_ahead and nxt is not None:
                pending = asyncio.ensure_future(fetch(nxt))
            yield Page(request=request, records=records, next=nxt, resume=resume)
            request = nxt
    finally:
        if pending is not None:  # a page nobody asked for
            await settle_unwanted(pending, cancel=True)
