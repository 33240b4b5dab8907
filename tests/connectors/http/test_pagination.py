import asyncio
import contextlib

import httpx
import msgspec
import pytest

from connectors.base import as_object
from connectors.http import (
    Cursor,
    LinkHeader,
    NextUrl,
    Offset,
    PageNumber,
    PageRequest,
    PaginationLoopError,
    PermanentError,
    Strategy,
    UpstreamError,
    get_path,
    next_request,
    paginate,
)

NO_HEADERS: dict[str, str] = {}


def decoded(records: list) -> list:
    """A page's records as JSON values (``paginate`` leaves each undecoded, a ``msgspec.Raw``)."""
    return [as_object(r) for r in records]


ZENDESK_CBP = Cursor(cursor_path="meta.after_cursor", param="page[after]", has_more_path="meta.has_more")
ZENDESK_INCREMENTAL = Cursor(cursor_path="after_cursor", param="cursor", end_path="end_of_stream")


# --- next_request, one strategy at a time ------------------------------------------------------


def test_cursor_sets_the_param_and_keeps_the_others():
    first = PageRequest(url="/api/v2/tickets.json", params={"page[size]": "100"})
    body = {"tickets": [{}], "meta": {"has_more": True, "after_cursor": "xyz"}}
    nxt = next_request(ZENDESK_CBP, first, body, NO_HEADERS)
    assert nxt == PageRequest(url="/api/v2/tickets.json", params={"page[size]": "100", "page[after]": "xyz"})
    assert first.params == {"page[size]": "100"}  # pure: the input is untouched


def test_cursor_stops_when_has_more_is_false_even_with_a_cursor():
    body = {"meta": {"has_more": False, "after_cursor": "xyz"}}
    assert next_request(ZENDESK_CBP, PageRequest(url="/t"), body, NO_HEADERS) is None


@pytest.mark.parametrize("cursor", [None, "", []])
def test_cursor_stops_on_a_blank_cursor(cursor):
    strategy = Cursor(cursor_path="paging.next.after", param="after")
    assert next_request(strategy, PageRequest(url="/t"), {"paging": {"next": {"after": cursor}}}, {}) is None


def test_cursor_end_of_stream_flag():
    body = {"tickets": [], "after_cursor": "abc", "end_of_stream": True}
    assert next_request(ZENDESK_INCREMENTAL, PageRequest(url="/i"), body, NO_HEADERS) is None
    body["end_of_stream"] = False
    assert next_request(ZENDESK_INCREMENTAL, PageRequest(url="/i"), body, NO_HEADERS).params == {
        "cursor": "abc"
    }


def test_cursor_in_a_json_body():
    intercom = Cursor(
        cursor_path="pages.next.starting_after", param="pagination.starting_after", in_body=True
    )
    first = PageRequest(
        url="/conversations/search",
        method="POST",
        body={"query": {"field": "updated_at"}, "pagination": {"per_page": 150}},
    )
    nxt = next_request(intercom, first, {"pages": {"next": {"starting_after": "WzE2"}}}, NO_HEADERS)
    assert nxt.body == {
        "query": {"field": "updated_at"},
        "pagination": {"per_page": 150, "starting_after": "WzE2"},
    }
    assert nxt.method == "POST"
    assert first.body["pagination"] == {"per_page": 150}


def test_next_url_absolute():
    strategy = NextUrl(next_path="next_page")
    first = PageRequest(url="https://acme.zendesk.com/api/v2/groups.json", params={"per_page": "2"})
    target = "https://acme.zendesk.com/api/v2/groups.json?page=2&per_page=2"
    nxt = next_request(strategy, first, {"next_page": target}, NO_HEADERS)
    assert nxt == PageRequest(url=target)
    assert next_request(strategy, first, {"next_page": None}, NO_HEADERS) is None


def test_next_url_relative_resolves_against_current_url():
    salesforce = NextUrl(next_path="nextRecordsUrl", end_path="done")
    first = PageRequest(
        url="https://x.my.salesforce.com/services/data/v59.0/query", params={"q": "SELECT Id"}
    )
    nxt = next_request(
        salesforce, first, {"done": False, "nextRecordsUrl": "/services/data/v59.0/query/01g-2000"}, {}
    )
    assert nxt.url == "https://x.my.salesforce.com/services/data/v59.0/query/01g-2000"
    assert nxt.params == {}
    done = {"done": True, "nextRecordsUrl": "/services/data/v59.0/query/01g-4000"}
    assert next_request(salesforce, first, done, {}) is None


def test_next_url_keep_params_fills_in_what_the_link_lacks():
    strategy = NextUrl(next_path="links.next", keep_params=True)
    first = PageRequest(url="https://x.io/items", params={"limit": "50", "cursor": "a"})
    nxt = next_request(strategy, first, {"links": {"next": "https://x.io/items?cursor=b"}}, {})
    assert nxt == PageRequest(url="https://x.io/items?cursor=b", params={"limit": "50"})


FRESHDESK_LINK = '<https://acme.freshdesk.com/api/v2/tickets?page=2&per_page=100>; rel="next"'
SERVICENOW_LINK = (
    '<https://i.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=0>;rel="first",'
    '<https://i.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=1>;rel="next",'
    '<https://i.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=72>;rel="last"'
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (FRESHDESK_LINK, "https://acme.freshdesk.com/api/v2/tickets?page=2&per_page=100"),
        (
            SERVICENOW_LINK,
            "https://i.service-now.com/api/now/table/incident?sysparm_limit=1&sysparm_offset=1",
        ),
        ('<https://x.io/p?a=1,2>; title="a, b"; rel="prev next"', "https://x.io/p?a=1,2"),
        ("<https://x.io/p2>; rel=next", "https://x.io/p2"),
        ('<https://x.io/p1>; rel="prev"', None),
        (None, None),
    ],
)
def test_link_header(header, expected):
    first = PageRequest(url="https://acme.freshdesk.com/api/v2/tickets", params={"per_page": "100"})
    headers = httpx.Headers({"Link": header} if header else {})
    nxt = next_request(LinkHeader(), first, [{"id": 1}], headers)
    assert (nxt.url if nxt else None) == expected
    if nxt:
        assert nxt.params == {}


def test_link_header_with_a_plain_dict_of_headers():
    nxt = next_request(LinkHeader(), PageRequest(url="/t"), [], {"Link": FRESHDESK_LINK})
    assert nxt is not None


def test_page_number_full_short_and_empty_pages():
    strategy = PageNumber(size=2, records_path="groups")
    first = PageRequest(url="/groups.json")
    nxt = next_request(strategy, first, {"groups": [1, 2]}, NO_HEADERS)
    assert nxt.params == {"page": "2", "per_page": "2"}
    assert next_request(strategy, nxt, {"groups": [3, 4]}, NO_HEADERS).params["page"] == "3"
    assert next_request(strategy, nxt, {"groups": [3]}, NO_HEADERS) is None
    assert next_request(strategy, nxt, {"groups": []}, NO_HEADERS) is None


def test_page_number_without_size_stops_only_when_empty():
    strategy = PageNumber(size=None, size_param=None)
    nxt = next_request(strategy, PageRequest(url="/t", params={"page": "4"}), [1], NO_HEADERS)
    assert nxt.params == {"page": "5"}
    assert next_request(strategy, nxt, [], NO_HEADERS) is None


def test_offset_advances_by_records_received():
    zoho = Offset(offset_param="from", limit_param="limit", limit=2, start=1, records_path="data")
    nxt = next_request(zoho, PageRequest(url="/tickets"), {"data": [1, 2]}, NO_HEADERS)
    assert nxt.params == {"from": "3", "limit": "2"}
    assert next_request(zoho, nxt, {"data": [3]}, NO_HEADERS) is None


def test_get_path():
    data = {"a": {"b": [{"c": 1}, {"c": 2}]}}
    assert get_path(data, "a.b.1.c") == 2
    assert get_path(data, "a.b.-1.c") == 2
    assert get_path(data, "a.x.c") is None
    assert get_path(data, "a.b.9") is None
    assert get_path(data, None) is data


# --- the checkpoint ----------------------------------------------------------------------------


def test_page_request_round_trips_through_json():
    request = PageRequest(
        url="/search", method="POST", params={"b": "2", "a": ["x", "y"]}, body={"after": "5"}
    )
    assert PageRequest.from_json(request.to_json()) == request
    # Equal requests encode identically whatever the param order: the loop detector relies on it.
    reordered = PageRequest(
        url="/search", method="POST", params={"a": ["x", "y"], "b": "2"}, body={"after": "5"}
    )
    assert reordered.to_json() == request.to_json()


@pytest.mark.parametrize(
    "strategy",
    [ZENDESK_CBP, NextUrl(next_path="next_page"), LinkHeader(), PageNumber(size=10), Offset(limit=10)],
)
def test_strategies_are_tagged_data(strategy):
    encoded = msgspec.json.encode(strategy)
    assert msgspec.json.decode(encoded, type=Strategy) == strategy
    with pytest.raises(AttributeError):
        strategy.end_path = "x"  # frozen


# --- the loop ----------------------------------------------------------------------------------


class PagedVendor:
    """Serves ``items`` in CBP pages of ``size``; records every request it gets."""

    def __init__(self, items, size=2):
        self.items, self.size, self.requests = items, size, []

    async def fetch(self, page: PageRequest) -> httpx.Response:
        self.requests.append(page)
        start = int(page.params.get("page[after]", "0"))
        chunk = self.items[start : start + self.size]
        end = start + len(chunk)
        body = {"tickets": chunk, "meta": {"has_more": end < len(self.items), "after_cursor": str(end)}}
        return httpx.Response(200, json=body, request=httpx.Request(page.method, "https://x.io" + page.url))


async def collect(pages):
    return [page async for page in pages]


async def test_paginate_yields_every_page_and_the_next_request():
    vendor = PagedVendor(list(range(5)))
    pages = await collect(paginate(vendor.fetch, ZENDESK_CBP, PageRequest(url="/t"), "tickets"))
    assert [decoded(p.records) for p in pages] == [[0, 1], [2, 3], [4]]
    assert [p.next.params["page[after]"] if p.next else None for p in pages] == ["2", "4", None]
    assert pages[1].request == pages[0].next


async def test_resuming_from_a_serialized_checkpoint():
    vendor = PagedVendor(list(range(7)))
    first = PageRequest(url="/t", params={"page[size]": "2"})
    seen, checkpoint = [], None
    async for page in paginate(vendor.fetch, ZENDESK_CBP, first, "tickets"):
        seen += decoded(page.records)
        checkpoint = page.next.to_json()
        if len(seen) >= 4:
            break  # the worker dies here
    resumed = PageRequest.from_json(checkpoint)
    vendor.requests.clear()
    async for page in paginate(vendor.fetch, ZENDESK_CBP, resumed, "tickets"):
        seen += decoded(page.records)
    assert seen == list(range(7))  # nothing lost, nothing twice
    assert vendor.requests[0].params == {"page[size]": "2", "page[after]": "4"}


async def test_loop_detection_on_a_stuck_cursor():
    async def stuck(page):
        body = {"tickets": [1], "meta": {"has_more": True, "after_cursor": "same"}}
        return httpx.Response(200, json=body, request=httpx.Request("GET", "https://x.io/t"))

    pages = []
    with pytest.raises(PaginationLoopError):
        async for page in paginate(stuck, ZENDESK_CBP, PageRequest(url="/t"), "tickets"):
            pages.append(page)
    assert len(pages) == 1  # first page fine, second would ask for the cursor again


async def test_loop_detection_on_a_next_url_cycle():
    links = {"/a": "/b", "/b": "/a"}

    async def cycling(page):
        return httpx.Response(
            200,
            json={"items": [page.url], "next": links[page.url]},
            request=httpx.Request("GET", "https://x.io" + page.url),
        )

    with pytest.raises(PaginationLoopError):
        await collect(paginate(cycling, NextUrl(next_path="next"), PageRequest(url="/a"), "items"))


async def test_end_of_stream_gives_the_resume_point_for_the_next_run():
    bodies = iter(
        [
            {"tickets": [1, 2], "after_cursor": "c1", "end_of_stream": False},
            {"tickets": [3], "after_cursor": "c2", "end_of_stream": True},
        ]
    )

    async def incremental(page):
        return httpx.Response(200, json=next(bodies), request=httpx.Request("GET", "https://x.io/i"))

    first = PageRequest(url="/api/v2/incremental/tickets/cursor.json", params={"start_time": "1700000000"})
    pages = await collect(paginate(incremental, ZENDESK_INCREMENTAL, first, "tickets"))
    assert [decoded(p.records) for p in pages] == [[1, 2], [3]]
    assert pages[0].resume == pages[0].next
    assert pages[1].next is None
    assert pages[1].resume.params == {"start_time": "1700000000", "cursor": "c2"}


async def test_missing_records_are_an_empty_page_but_a_non_list_is_an_error():
    async def halpage(page):
        body = (
            {"page": {"number": 1}} if page.url == "/empty" else {"_embedded": {"conversations": {"id": 1}}}
        )
        return httpx.Response(200, json=body, request=httpx.Request("GET", "https://x.io" + page.url))

    pages = await collect(
        paginate(halpage, LinkHeader(), PageRequest(url="/empty"), "_embedded.conversations")
    )
    assert pages[0].records == []
    with pytest.raises(PermanentError):
        await collect(paginate(halpage, LinkHeader(), PageRequest(url="/odd"), "_embedded.conversations"))


async def test_invalid_json_page_is_transient():
    async def broken(page):
        return httpx.Response(200, content=b'[{"id": 1', request=httpx.Request("GET", "https://x.io/t"))

    with pytest.raises(UpstreamError):
        await collect(paginate(broken, LinkHeader(), PageRequest(url="/t")))


@pytest.mark.parametrize(
    "strategy",
    [PageNumber(size=2, records_path="items"), Offset(limit=2, records_path="items"), LinkHeader()],
    ids=["page-number", "offset", "link-header"],
)
async def test_loop_detection_on_a_vendor_that_ignores_the_page(strategy):
    """Every new page number / offset / Link target is answered with the first page again."""

    async def ignoring(page):
        url = httpx.URL("https://x.io/t", params=page.params)
        nxt = url.copy_set_param("page", str(int(page.params.get("page", "1")) + 1))
        return httpx.Response(
            200,
            json={"items": [{"id": 1}, {"id": 2}]},
            headers={"link": f'<{nxt}>; rel="next"'},
            request=httpx.Request("GET", url),
        )

    pages = []
    with pytest.raises(PaginationLoopError, match="repeated"):
        async for page in paginate(ignoring, strategy, PageRequest(url="/t"), "items"):
            pages.append(page)
    assert len(pages) == 1  # the second page is recognised as the first one


async def test_page_numbers_with_distinct_pages_are_not_a_loop():
    items = [{"id": i} for i in range(5)]

    async def honest(page):
        n = int(page.params.get("page", "1"))
        return httpx.Response(
            200, json={"items": items[(n - 1) * 2 : n * 2]}, request=httpx.Request("GET", "https://x.io/t")
        )

    pages = await collect(
        paginate(honest, PageNumber(size=2, records_path="items"), PageRequest(url="/t"), "items")
    )
    assert [r["id"] for p in pages for r in decoded(p.records)] == [0, 1, 2, 3, 4]


def _serving(*bodies: bytes):  # type: ignore[no-untyped-def]
    pending = list(bodies)

    async def fetch(request: PageRequest) -> httpx.Response:
        return httpx.Response(200, content=pending.pop(0), request=httpx.Request("GET", request.url))

    return fetch


async def test_records_come_undecoded_as_the_vendors_bytes():
    body = b'{"data": {"items": [{"id": 1,  "x": "\\u00e9"}, {"id": 2}], "n": 2}, "next": null}'
    pages = [
        p
        async for p in paginate(
            _serving(body), NextUrl(next_path="next"), PageRequest(url="https://v.test/t"), "data.items"
        )
    ]
    assert [type(r) for r in pages[0].records] == [msgspec.Raw, msgspec.Raw]
    assert [bytes(r) for r in pages[0].records] == [b'{"id": 1,  "x": "\\u00e9"}', b'{"id": 2}']
    assert pages[0].next is None


async def test_records_of_an_unexpected_shape_are_decoded_as_before():
    fetch = _serving(b'{"items": null, "next": "/p2"}', b'{"items": [{"id": 3}], "next": null}')
    pages = [
        p
        async for p in paginate(
            fetch, NextUrl(next_path="next"), PageRequest(url="https://v.test/t"), "items"
        )
    ]
    assert [decoded(p.records) for p in pages] == [[], [{"id": 3}]]
    with pytest.raises(PermanentError, match="not a list"):
        await anext(
            paginate(
                _serving(b'{"items": {"id": 1}}'), NextUrl(next_path="n"), PageRequest(url="/t"), "items"
            )
        )


class SlowVendor:
    """Pages 0..n-1 by page number, each answered after a short wait; logs requests and answers."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.log: list[str] = []
        self.in_flight = self.max_in_flight = 0

    async def fetch(self, request: PageRequest) -> httpx.Response:
        page = int(httpx.URL(request.url).params.get("page", "0"))
        self.log.append(f"ask {page}")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.in_flight -= 1
        if page == self.fail_at:
            raise UpstreamError(f"page {page} failed")
        self.log.append(f"got {page}")
        body = {"items": [page], "next": f"/t?page={page + 1}" if page + 1 < self.n else None}
        return httpx.Response(200, json=body, request=httpx.Request("GET", request.url))


async def test_read_ahead_asks_for_the_next_page_while_the_caller_works_on_this_one():
    vendor = SlowVendor(3)
    seen = []
    strategy = NextUrl(next_path="next", keep_params=False)
    async for page in paginate(
        vendor.fetch, strategy, PageRequest(url="/t?page=0"), "items", read_ahead=True
    ):
        await asyncio.sleep(0.03)  # the caller maps and stores the page
        vendor.log.append(f"stored {decoded(page.records)[0]}")
        seen += decoded(page.records)
    assert seen == [0, 1, 2]
    assert vendor.log[:5] == ["ask 0", "got 0", "ask 1", "got 1", "stored 0"]
    assert vendor.max_in_flight == 1


async def test_read_ahead_stops_when_the_caller_stops_and_errors_come_in_order():
    vendor = SlowVendor(10)
    strategy = NextUrl(next_path="next", keep_params=False)
    pages = paginate(vendor.fetch, strategy, PageRequest(url="/t?page=0"), "items", read_ahead=True)
    async with contextlib.aclosing(pages):
        async for page in pages:
            if decoded(page.records) == [1]:
                break
    await asyncio.sleep(0.05)
    assert "got 2" not in vendor.log and "ask 3" not in vendor.log  # the fetch of page 2 was cancelled

    failing = SlowVendor(5, fail_at=2)
    seen = []
    with pytest.raises(UpstreamError, match="page 2 failed"):
        async for page in paginate(
            failing.fetch, strategy, PageRequest(url="/t?page=0"), "items", read_ahead=True
        ):
            seen += decoded(page.records)
    assert seen == [0, 1]
