"""The connector contract, generated for every registered connector and run against its emulator.

Every connector in ``connectors.registry`` (the ``fakedesk`` test double aside) is paired below with the
emulator of its vendor. A connector registered without an entry in ``EMULATORS`` fails
``test_every_registered_connector_has_an_emulator`` and every contract case generated for it, so a new
connector cannot skip the suite. Per connector, in process (``httpx.ASGITransport``):

* every declared stream pages to the end and yields exactly the emulator's rows, each once;
* a vendor that repeats its next link / cursor makes the read raise ``PaginationLoopError``;
* a read interrupted after a page resumes from the serialized checkpoint, nothing lost or doubled;
* a throttle waits exactly the advised ``Retry-After`` (or the documented window when none is given);
* wrong credentials are an ``AuthError``, sent once; 404 / 422 are permanent, sent once;
* 500s, dropped connections and truncated bodies are retried and the read still completes.

Modelled on meltano/sdk ``singer_sdk/testing/factory.py``: the cases are data, the connectors are rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from connectors import registry
from connectors.base import ConnectorContext
from connectors.http import (
    AuthError,
    Cursor,
    FakeClock,
    LinkHeader,
    NextUrl,
    NotFoundError,
    PageRequest,
    PaginationLoopError,
    Quota,
    RejectedError,
    RetryPolicy,
    Strategy,
    get_path,
)
from connectors.streams import Stream, StreamPage, carrier_of, read
from emulators.common.config import RateLimit
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.classic import create_classic_app
from emulators.zendesk.config import ZendeskConfig
from schemas.writes import TicketUpdate

#: Enough tickets for several pages of every list, including the classic API's fixed pages of 30.
TICKETS = 65
#: Page size forced on streams that take one: many pages from a small desk.
PAGE_SIZE = "2"
SIZE_PARAMS = ("per_page", "page[size]")
#: Test doubles registered by other tests; they have no vendor and no emulator.
TEST_DOUBLES = frozenset({"fakedesk"})

Desk = Any
Expected = Callable[[Desk], set[str]]


def _ids(table: str) -> Expected:
    return lambda desk: {str(i) for i in desk.tables[table].ids}


def _users(staff: bool) -> Expected:
    def expected(desk: Desk) -> set[str]:
        users = desk.tables["users"]
        return {str(i) for i in users.ids if (users.get(i)["role"] != "end-user") == staff}

    return expected


@dataclass(frozen=True)
class Emulated:
    """How to meet one connector's vendor: its emulator, credentials and where its rows are.

    Attributes:
        make_app: A fresh, seeded emulator app (rate limits off: the contract steers throttles itself).
        credentials: Credentials the emulator accepts.
        wrong_credentials: Credentials it refuses (401).
        base_url: The vendor host the connector is pointed at (any host: the transport is in process).
        expected: Common model -> the vendor ids its stream must yield, read from the emulator's state.
        children: Common model of a dependent stream -> (desk, parent id) -> the ids it must yield.
        throttle_wait: Seconds a throttle must hold requests back given the emulator's ``Retry-After``
            (``None``: the vendor sends none and the connector waits its documented quota window).
    """

    make_app: Callable[[], Any]
    credentials: dict[str, str]
    wrong_credentials: dict[str, str]
    base_url: str
    expected: dict[str, Expected]
    children: dict[str, Callable[[Desk, str], set[str]]]
    throttle_wait: Callable[[int], float]


def _zendesk_config() -> ZendeskConfig:
    return ZendeskConfig(tickets=TICKETS, seed=11, rate_limit=RateLimit(enabled=False))


ZD_CREDS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
ZD_EXPECTED = {
    "Ticket": _ids("tickets"),
    "Contact": _users(staff=False),
    "User": _users(staff=True),
    "Account": _ids("organizations"),
    "Team": _ids("groups"),
}

EMULATORS: dict[str, Emulated] = {
    "zendesk": Emulated(
        make_app=lambda: create_zendesk(_zendesk_config()),
        credentials=ZD_CREDS,
        wrong_credentials={**ZD_CREDS, "api_token": "not-the-token"},
        base_url="https://acme.zendesk.com",
        expected=ZD_EXPECTED,
        children={"Comment": lambda desk, parent: {str(c["id"]) for c in desk.comments(int(parent))}},
        throttle_wait=float,
    ),
    "zendesk_classic": Emulated(
        make_app=lambda: create_classic_app(_zendesk_config()),
        credentials=ZD_CREDS,
        wrong_credentials={**ZD_CREDS, "api_token": "not-the-token"},
        base_url="https://acme.zendesk.com",
        expected=ZD_EXPECTED,
        children={},
        # v1 throttles with a bare 503 and no Retry-After: the connector waits its quota window (60 s).
        throttle_wait=lambda _advised: 60.0,
    ),
    "freshdesk": Emulated(
        make_app=lambda: create_freshdesk(
            FreshdeskConfig(tickets=TICKETS, seed=11, rate_limit=RateLimit(enabled=False))
        ),
        credentials={"domain": "acme", "api_key": "fd-api-key"},
        wrong_credentials={"domain": "acme", "api_key": "not-the-key"},
        base_url="https://acme.freshdesk.com",
        expected={
            "Ticket": _ids("tickets"),
            "Contact": _ids("contacts"),
            "User": _ids("agents"),
            "Account": _ids("companies"),
            "Team": _ids("groups"),
        },
        children={"Comment": lambda desk, parent: {str(c["id"]) for c in desk.conversations(int(parent))}},
        throttle_wait=float,
    ),
}


def contract_slugs() -> list[str]:
    return [s for s in registry.slugs() if s not in TEST_DOUBLES and not _is_test_double(s)]


def _is_test_double(slug: str) -> bool:
    return registry.get(slug).__module__.startswith("tests.")


def _streams(slug: str) -> list[str]:
    """Every model a connector reads: its streams' and those a top-level stream carries (Zendesk's
    Users come with Contacts), checked through their carrier."""
    streams = registry.get(slug).streams
    return sorted({*streams, *(m for s in streams.values() if s.parent is None for m in s.carries)})


SLUGS = contract_slugs()
STREAMS = [pytest.param(slug, model, id=f"{slug}-{model}") for slug in SLUGS for model in _streams(slug)]


def test_every_registered_connector_has_an_emulator() -> None:
    assert {"zendesk", "zendesk_classic", "freshdesk"} <= set(SLUGS)
    missing = sorted(set(SLUGS) - set(EMULATORS))
    assert not missing, f"registered connectors without an emulator entry in EMULATORS: {missing}"
    for slug in SLUGS:
        entry = EMULATORS[slug]
        declared = {m for m, s in registry.get(slug).streams.items() if s.parent is None}
        assert declared <= set(entry.expected), (
            f"{slug}: no expected rows for {declared - set(entry.expected)}"
        )


# --- the harness -------------------------------------------------------------------------------------


Override = Callable[[httpx.Request, int], httpx.Response | None]
Rewrite = Callable[[httpx.Request, httpx.Response], httpx.Response]


class Wire(httpx.AsyncBaseTransport):
    """The emulator in process, with every request recorded (and its fake-clock time), and hooks to
    answer instead of the emulator (``override``) or to doctor its answer (``rewrite``)."""

    def __init__(self, app: Any, clock: FakeClock) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.clock = clock
        self.sent: list[tuple[float, httpx.Request]] = []
        self.override: Override | None = None
        self.rewrite: Rewrite | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((self.clock.monotonic(), request))
        if self.override is not None:
            answer = self.override(request, len(self.sent))
            if answer is not None:
                return answer
        response = await self.inner.handle_async_request(request)
        if self.rewrite is None:
            return response
        await response.aread()
        return self.rewrite(request, response)


class Harness:
    """One emulator and connectors of ``slug`` talking to it."""

    def __init__(self, slug: str) -> None:
        if slug not in EMULATORS:
            pytest.fail(f"connector {slug!r} is registered but has no emulator entry in EMULATORS")
        self.slug = slug
        self.entry = EMULATORS[slug]
        self.cls: Any = registry.get(slug)
        self.app = self.entry.make_app()
        self.desk = self.app.state.desk
        self.clock = FakeClock()
        self.wire = Wire(self.app, self.clock)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        """The retry policy's sleep: recorded, and moving the limiter's fake clock as time would."""
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def connector(self, credentials: dict[str, str] | None = None, retry: RetryPolicy | None = None) -> Any:
        limiter = self.cls.new_limiter()
        limiter.clock = self.clock  # quotas and pauses pass on the fake clock: nothing really sleeps
        http = httpx.AsyncClient(transport=self.wire, base_url=self.entry.base_url)
        return self.cls(
            ConnectorContext(
                credentials=credentials or self.entry.credentials,
                http=http,
                base_url=self.entry.base_url,
                limiter=limiter,
                retry=retry or RetryPolicy.for_tests(attempts=4, sleep=self.sleep),
            )
        )

    def stream(self, conn: Any, model: str) -> Stream:
        """The declared stream with a small page size where the vendor takes one (many pages)."""
        stream = conn.streams.get(model) or carrier_of(conn.streams, model)
        assert stream is not None, f"{self.slug} reads no {model}"
        params = {k: PAGE_SIZE if k in SIZE_PARAMS else v for k, v in stream.params.items()}
        return dataclasses.replace(stream, params=params)

    async def parent_of(self, conn: Any, stream: Stream) -> str | None:
        """A vendor id from the parent stream with more children than a page holds (several pages)."""
        if stream.parent is None:
            return None
        children = self.entry.children[stream.model]
        async for page in read(conn.client, conn.streams[stream.parent]):
            for record in page.records:
                if len(children(self.desk, record.model.remote_id)) > int(PAGE_SIZE):
                    return str(record.model.remote_id)
        pytest.fail(f"{self.slug}: no {stream.parent} with several pages of {stream.model}s")

    def expected(self, stream: Stream, parent: str | None, model: str | None = None) -> set[str]:
        if parent is not None:
            return self.entry.children[stream.model](self.desk, parent)
        return self.entry.expected[model or stream.model](self.desk)


def ids_of(pages: list[StreamPage], model: str) -> list[str]:
    """Vendor ids of the ``model`` records in ``pages`` (a Comment stream also yields Attachments;
    the classic Ticket stream also yields the comments inside each ticket)."""
    return [str(r.model.remote_id) for p in pages for r in p.records if type(r.model).__name__ == model]


async def read_all(conn: Any, stream: Stream, **kw: Any) -> list[StreamPage]:
    return [page async for page in read(conn.client, stream, **kw)]


# --- pagination --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("slug", "model"), STREAMS)
async def test_stream_pages_to_the_end_with_every_row_once(slug: str, model: str) -> None:
    h = Harness(slug)
    conn = h.connector()
    stream = h.stream(conn, model)
    parent = await h.parent_of(conn, stream)
    before = len(h.wire.sent)
    pages = await read_all(conn, stream, parent=parent)
    ids = ids_of(pages, model)
    expected = h.expected(stream, parent, model)
    assert expected, f"{slug}: the emulator holds no {model} rows; the case would prove nothing"
    assert sorted(ids) == sorted(expected)  # all of them, each once
    assert pages[-1].next is None
    assert len(h.wire.sent) - before == len(pages)  # one request per page: no retries, no strays
    if len(expected) > int(PAGE_SIZE) * 2 and any(k in stream.params for k in SIZE_PARAMS):
        assert len(pages) > 2, "a small page size should have produced several pages"


def _freezer(strategy: Strategy) -> Rewrite:
    """Make every page of a list point to the same next page, as a buggy vendor would."""
    frozen: dict[str, Any] = {}

    def rewrite(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if response.status_code != 200:
            return response
        body = msgspec.json.decode(response.content) if response.content else None
        headers = dict(response.headers)
        headers.pop("content-length", None)
        here = str(request.url)
        match strategy:
            case NextUrl():
                first = frozen.setdefault("next", get_path(body, strategy.next_path) or here)
                body = _set(body, strategy.next_path, first)
            case LinkHeader():
                link = headers.get("link")
                if link is None:
                    link = f'<{here}>; rel="{strategy.rel}"'
                headers["link"] = frozen.setdefault("link", link)
            case Cursor():
                cursor = frozen.setdefault("cursor", get_path(body, strategy.cursor_path))
                assert cursor, "the first page carried no cursor to freeze"
                body = _set(body, strategy.cursor_path, cursor)
                if strategy.has_more_path:
                    body = _set(body, strategy.has_more_path, True)
            case _:  # page numbers / offsets: the vendor ignores the page and repeats the first one
                first_body = frozen.setdefault("body", body)
                body = first_body
        if getattr(strategy, "end_path", None):
            body = _set(body, strategy.end_path, False)
        return httpx.Response(200, headers=headers, content=msgspec.json.encode(body), request=request)

    return rewrite


def _set(body: Any, path: str | None, value: Any) -> Any:
    if not path or not isinstance(body, dict):
        return body
    head, _, rest = path.partition(".")
    return {**body, head: _set(body.get(head), rest, value) if rest else value}


def _loop_cases() -> Iterator[Any]:
    for slug in SLUGS:
        for model, stream in sorted(registry.get(slug).streams.items()):  # carried models: their carrier's
            strategy = stream.pagination
            if not isinstance(strategy, Cursor | NextUrl | LinkHeader) and model != "Ticket":
                continue  # without a next link, only a list of several pages can repeat one
            yield pytest.param(slug, model, id=f"{slug}-{model}")


@pytest.mark.parametrize(("slug", "model"), list(_loop_cases()))
async def test_repeating_next_link_or_cursor_is_a_pagination_loop(slug: str, model: str) -> None:
    h = Harness(slug)
    conn = h.connector()
    stream = h.stream(conn, model)
    parent = await h.parent_of(conn, stream)
    h.wire.rewrite = _freezer(stream.pagination)
    pages = 0
    with pytest.raises(PaginationLoopError):
        async for _page in read(conn.client, stream, parent=parent):
            pages += 1
            if pages > 25:
                pytest.fail(f"{slug} {model}: still reading after {pages} pages of a frozen vendor")
    assert pages <= 3  # detected at the first repeat, not after a long walk


# --- resuming ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("slug", "model"), STREAMS)
async def test_interrupted_read_resumes_from_its_checkpoint(slug: str, model: str) -> None:
    h = Harness(slug)
    conn = h.connector()
    stream = h.stream(conn, model)
    parent = await h.parent_of(conn, stream)
    done: list[StreamPage] = []
    saved: bytes | None = None
    reader = read(conn.client, stream, parent=parent)
    async for page in reader:
        done.append(page)
        if page.next is not None and len(done) == 2:
            saved = page.next.to_json()  # the checkpoint a sync stores after each page
            break
    await reader.aclose()  # the interrupted run is gone
    expected = h.expected(stream, parent, model)
    if saved is None:  # fewer than three pages: nothing left to resume
        assert sorted(ids_of(done, model)) == sorted(expected) and done[-1].next is None
        return
    fresh = h.connector()  # a new process: a new client and limiter, only the checkpoint survives
    rest = await read_all(fresh, h.stream(fresh, model), checkpoint=PageRequest.from_json(saved))
    assert rest, "the checkpoint led nowhere"
    first, later = ids_of(done, model), ids_of(rest, model)
    assert not set(first) & set(later), "records read before the interruption were read again"
    assert sorted(first + later) == sorted(expected)


# --- throttles, failures, retries --------------------------------------------------------------------


def _ticket_stream(h: Harness, conn: Any) -> Stream:
    return h.stream(conn, "Ticket")


@pytest.mark.parametrize("slug", SLUGS)
async def test_throttle_waits_exactly_the_advised_time(slug: str) -> None:
    h = Harness(slug)
    h.app.emulator_config.faults.retry_after = 7
    conn = h.connector(retry=RetryPolicy(attempts=3, sleep=h.sleep))
    stream = _ticket_stream(h, conn)
    h.app.emulator_config.faults.inject("429")  # the first request is throttled
    pages = await read_all(conn, stream)
    assert sorted(ids_of(pages, "Ticket")) == sorted(h.expected(stream, None))
    (throttled_at, _), (retried_at, _) = h.wire.sent[:2]
    assert retried_at - throttled_at == pytest.approx(h.entry.throttle_wait(7))
    assert len(h.sleeps) == 1  # one retry, no second throttle
    assert h.app.injector.injected == {"429": 1}


@pytest.mark.parametrize("slug", SLUGS)
async def test_wrong_credentials_are_an_auth_error_and_not_retried(slug: str) -> None:
    h = Harness(slug)
    conn = h.connector(credentials=h.entry.wrong_credentials)
    with pytest.raises(AuthError):
        await conn.check_credentials()
    assert len(h.wire.sent) == 1
    with pytest.raises(AuthError):
        await read_all(conn, _ticket_stream(h, conn))
    assert len(h.wire.sent) == 2 and not h.sleeps


#: Connectors whose vendor states the account's own quota in a header, which their limiter adopts
#: (Zendesk's ``x-rate-limit``, Freshdesk's ``X-RateLimit-Total``). Classic v1 sends no rate headers; a
#: new connector is held to this unless its vendor sends none either.
ADVERTISED = [slug for slug in SLUGS if slug != "zendesk_classic"]


@pytest.mark.parametrize("slug", ADVERTISED)
async def test_an_account_on_a_larger_plan_gets_its_own_quota(slug: str) -> None:
    h = Harness(slug)
    conn = h.connector()
    (lowest,) = (q.requests for q in conn.client.limiter.quotas if q.per == 60)  # the connector's default
    h.app.emulator_config.rate_limit = RateLimit(per_minute=3 * lowest)  # this account's plan
    statuses: list[int] = []
    h.wire.rewrite = lambda _request, response: statuses.append(response.status_code) or response
    stream = conn.streams["Team"]  # one request a read
    for _ in range(2 * lowest):  # twice what the lowest plan allows a minute
        assert ids_of(await read_all(conn, stream), "Team")
    started = [at for at, _ in h.wire.sent]
    assert set(statuses) == {200} and not h.sleeps  # nothing throttled, nothing retried
    # All inside the first minute: held to the lowest plan, the second half waited a minute for it.
    assert started[-1] - started[0] < 60
    assert (q := conn.client.limiter.quotas) == (Quota(requests=3 * lowest, per=60),), q


@pytest.mark.parametrize("fault", ["500", "drop", "truncate"])
@pytest.mark.parametrize("slug", SLUGS)
async def test_transient_faults_are_retried_and_the_read_completes(slug: str, fault: str) -> None:
    h = Harness(slug)
    conn = h.connector()
    stream = _ticket_stream(h, conn)
    pages: list[StreamPage] = []
    async for page in read(conn.client, stream):
        pages.append(page)
        if len(pages) == 1:
            h.app.emulator_config.faults.inject(fault)  # the second page fails once
    assert sorted(ids_of(pages, "Ticket")) == sorted(h.expected(stream, None))
    assert h.app.injector.injected == {fault: 1}
    assert len(h.sleeps) == 1 and len(h.wire.sent) == len(pages) + 1


def _answer(status: int) -> Override:
    body = {"error": "RecordNotFound"} if status == 404 else {"error": "RecordInvalid", "details": {}}

    def override(request: httpx.Request, _n: int) -> httpx.Response:
        return httpx.Response(status, json=body, request=request)

    return override


@pytest.mark.parametrize(("status", "error"), [(404, NotFoundError), (422, RejectedError)])
@pytest.mark.parametrize("slug", SLUGS)
async def test_permanent_failures_are_not_retried(slug: str, status: int, error: type[Exception]) -> None:
    h = Harness(slug)
    conn = h.connector()
    h.wire.override = _answer(status)
    with pytest.raises(error):
        await read_all(conn, _ticket_stream(h, conn))
    assert len(h.wire.sent) == 1 and not h.sleeps


@pytest.mark.parametrize("slug", SLUGS)
async def test_the_vendors_own_404_is_not_retried(slug: str) -> None:
    h = Harness(slug)
    conn = h.connector()
    missing = str(max(h.desk.tables["tickets"].ids) + 1000)
    with pytest.raises(NotFoundError):
        await conn.update_ticket(missing, TicketUpdate(status="CLOSED"))
    assert len(h.wire.sent) == 1 and not h.sleeps
    for model, stream in sorted(conn.streams.items()):
        if stream.parent == "Ticket":
            before = len(h.wire.sent)
            with pytest.raises(NotFoundError):
                await read_all(conn, stream, parent=missing)
            assert len(h.wire.sent) == before + 1, f"{model} of a missing ticket was retried"
