import base64
import gc
import logging
import weakref

import httpx
import pytest

from connectors.base import as_object
from connectors.http import (
    IETF_DRAFT,
    AuthError,
    Basic,
    Classifier,
    FakeClock,
    LinkHeader,
    NotFoundError,
    OAuth2Refresh,
    PageRequest,
    PermanentError,
    RateLimiter,
    RateLimitError,
    RejectedError,
    RetryPolicy,
    Rule,
    TokenSet,
    UpstreamError,
    VendorClient,
)

BASE = "https://acme.zendesk.com/api/v2"


class Script:
    """A MockTransport handler answering from a list (the last answer repeats); records requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request):
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script, *, clock=None, classifier=None, auth=None, attempts=3, limiter=None):
    clock = clock or FakeClock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    return VendorClient(
        http,
        base_url=BASE,
        auth=auth,
        limiter=limiter or RateLimiter(headers=IETF_DRAFT, clock=clock),
        classifier=classifier,
        # Waits go to the same fake clock, so tests read what was asked for in clock.sleeps.
        retry=RetryPolicy(attempts=attempts, sleep=clock.sleep, jitter=0),
    )


async def test_joins_base_url_and_returns_the_response():
    script = Script(httpx.Response(200, json={"tickets": []}))
    response = await make_client(script).request("GET", "/tickets.json", params={"page[size]": "2"})
    assert response.json() == {"tickets": []}
    assert str(script.requests[0].url) == f"{BASE}/tickets.json?page%5Bsize%5D=2"


async def test_a_response_is_freed_when_let_go_not_at_the_next_garbage_collection():
    """httpx links a response and its stream both ways; a sync page's body (megabytes) must not wait
    in that cycle for the collector, or a long sync's memory grows with what it read."""
    client = make_client(lambda request: httpx.Response(200, content=b"x" * 1_000_000))  # a new one each time
    gc.disable()
    try:
        response = await client.request("GET", "/tickets.json")
        assert response.content == b"x" * 1_000_000
        freed = weakref.ref(response)
        del response
        assert freed() is None
    finally:
        gc.enable()


async def test_429_waits_the_advised_retry_after_once():
    clock = FakeClock()
    script = Script(httpx.Response(429, headers={"Retry-After": "42"}), httpx.Response(200, json={}))
    response = await make_client(script, clock=clock).request("GET", "/tickets.json")
    assert response.status_code == 200
    assert len(script.requests) == 2
    # One wait of exactly what the vendor advised; the limiter's own pause is already over by then.
    assert clock.sleeps == [42]


async def test_429_too_long_to_wait_propagates():
    script = Script(httpx.Response(429, headers={"Retry-After": "86400"}))
    with pytest.raises(RateLimitError) as caught:
        await make_client(script).request("GET", "/tickets.json")
    assert caught.value.retry_after == 86400
    assert len(script.requests) == 1


async def test_transient_failures_are_retried_with_backoff():
    clock = FakeClock()
    script = Script(
        httpx.Response(503),
        httpx.ConnectError("refused"),
        httpx.Response(200, json={"ok": 1}),
    )
    response = await make_client(script, clock=clock).request("GET", "/tickets.json")
    assert response.json() == {"ok": 1}
    assert len(script.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


async def test_truncated_json_is_retried():
    script = Script(
        httpx.Response(200, content=b'{"tickets": [', headers={"content-type": "application/json"}),
        httpx.Response(200, json={"tickets": []}),
    )
    response = await make_client(script).request("GET", "/tickets.json")
    assert response.json() == {"tickets": []}
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"error": "TooManyValues"}), RejectedError),
        (httpx.Response(401, json={"error": "Couldn't authenticate you"}), AuthError),
        (httpx.Response(404, json={"error": "RecordNotFound", "description": "Not found"}), NotFoundError),
    ],
)
async def test_permanent_failures_are_not_retried(answer, error):
    script = Script(answer)
    with pytest.raises(error) as caught:
        await make_client(script).request("GET", "/tickets/1.json")
    assert len(script.requests) == 1
    assert caught.value.body == answer.json()


async def test_exhausted_attempts_raise_the_last_transient_error():
    script = Script(httpx.Response(502))
    with pytest.raises(UpstreamError):
        await make_client(script, attempts=4).request("GET", "/tickets.json")
    assert len(script.requests) == 4


async def test_post_is_not_retried_after_a_read_timeout():
    script = Script(httpx.ReadTimeout("slow"), httpx.Response(201, json={"ticket": {"id": 1}}))
    with pytest.raises(UpstreamError) as caught:
        await make_client(script).request("POST", "/tickets.json", json={"ticket": {}})
    assert len(script.requests) == 1  # the ticket may exist already: no duplicate
    assert caught.value.maybe_processed is True


async def test_post_is_retried_when_the_vendor_cannot_have_acted():
    script = Script(httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(201, json={}))
    response = await make_client(script).request("POST", "/tickets.json", json={"ticket": {}})
    assert response.status_code == 201
    assert len(script.requests) == 3


async def test_zendesk_v1_throttle_is_retried_and_pauses_the_account():
    clock = FakeClock()
    v1 = Classifier(
        overrides=(
            Rule(
                status=503,
                content_type="text/plain",
                body_contains="Number of allowed API requests per minute exceeded",
                error=RateLimitError,
            ),
        )
    )
    throttle = httpx.Response(
        503,
        text="Number of allowed API requests per minute exceeded",
        headers={"content-type": "text/plain"},
    )
    limiter = RateLimiter(clock=clock, default_pause=60)
    script = Script(throttle, httpx.Response(200, json={}))
    client = make_client(script, clock=clock, classifier=v1, limiter=limiter)
    await client.request("GET", "/rules/1.json")
    assert len(script.requests) == 2
    # Backoff first (no Retry-After), then the limiter holds the rest of the vendor's minute.
    assert clock.sleeps[0] == 0.5
    assert sum(clock.sleeps) == pytest.approx(60)


async def test_rate_limit_headers_feed_the_limiter():
    clock = FakeClock()
    script = Script(
        httpx.Response(200, json={}, headers={"ratelimit-remaining": "0", "ratelimit-reset": "25"}),
        httpx.Response(200, json={}),
    )
    client = make_client(script, clock=clock)
    await client.request("GET", "/tickets.json")
    await client.request("GET", "/tickets.json")
    assert clock.sleeps == [25]


async def test_absolute_urls_to_another_origin_are_refused():
    script = Script(httpx.Response(200, json={}))
    client = make_client(script, auth=Basic("agent@acme.com/token", "tok"))
    with pytest.raises(PermanentError):
        await client.request("GET", "https://evil.example.com/api/v2/tickets.json")
    assert script.requests == []
    same_origin = await client.request("GET", "https://acme.zendesk.com/api/v2/tickets.json?page=2")
    assert same_origin.status_code == 200


async def test_paginate_follows_freshdesk_link_headers_with_auth_on_every_page():
    page1 = httpx.Response(
        200,
        json=[{"id": 1}, {"id": 2}],
        headers={"Link": '<https://acme.freshdesk.com/api/v2/tickets?page=2&per_page=2>; rel="next"'},
    )
    page2 = httpx.Response(200, json=[{"id": 3}])
    script = Script(page1, page2)
    http = httpx.AsyncClient(transport=httpx.MockTransport(script))
    client = VendorClient(
        http,
        base_url="https://acme.freshdesk.com/api/v2",
        auth=Basic("fdkey", "X"),
        retry=RetryPolicy.for_tests(),
    )
    first = PageRequest(url="/tickets", params={"per_page": "2", "updated_since": "2024-01-01T00:00:00Z"})
    pages = [page async for page in client.paginate(LinkHeader(), first)]
    assert [as_object(r)["id"] for p in pages for r in p.records] == [1, 2, 3]
    assert [str(r.url) for r in script.requests] == [
        "https://acme.freshdesk.com/api/v2/tickets?per_page=2&updated_since=2024-01-01T00%3A00%3A00Z",
        "https://acme.freshdesk.com/api/v2/tickets?page=2&per_page=2",
    ]
    expected = "Basic " + base64.b64encode(b"fdkey:X").decode()
    assert all(r.headers["authorization"] == expected for r in script.requests)
    # The checkpoint is absolute, so it resumes without knowing the base URL it came from.
    assert pages[0].next.url.startswith("https://acme.freshdesk.com/")


async def test_paginate_retries_a_failed_page():
    script = Script(httpx.Response(500), httpx.Response(200, json=[{"id": 1}]))
    pages = [page async for page in make_client(script).paginate(LinkHeader(), PageRequest(url="/t"))]
    assert [as_object(r) for r in pages[0].records] == [{"id": 1}]
    assert len(script.requests) == 2


async def test_oauth_refresh_through_the_client():
    saved = []

    async def on_refresh(tokens):
        saved.append(tokens)

    def handler(request):
        if request.url.path == "/oauth/tokens":
            return httpx.Response(200, json={"access_token": "fresh", "refresh_token": "r2"})
        if request.headers["authorization"] == "Bearer fresh":
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401)

    auth = OAuth2Refresh(
        TokenSet(access_token="stale", refresh_token="r1"),
        token_url="https://acme.zendesk.com/oauth/tokens",
        client_id="cid",
        client_secret="csecret",
        on_refresh=on_refresh,
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = VendorClient(http, base_url=BASE, auth=auth, retry=RetryPolicy.for_tests())
    response = await client.request("GET", "/users/me.json")
    assert response.json() == {"ok": True}
    assert [t.refresh_token for t in saved] == ["r2"]


async def test_no_credentials_in_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="connectors.http")
    secrets = ["tok-SECRET-1", "hapi-SECRET-2", "pw-SECRET-3"]
    script = Script(httpx.Response(401, json={"error": "Couldn't authenticate you"}))
    client = make_client(script, auth=Basic("agent@acme.com/token", "tok-SECRET-1"))
    with pytest.raises(AuthError) as caught:
        await client.request("GET", "/tickets.json", params={"hapikey": "hapi-SECRET-2"})
    network = make_client(Script(httpx.ConnectError("refused")), attempts=2)
    with pytest.raises(UpstreamError) as dropped:
        await network.request("GET", "https://user:pw-SECRET-3@acme.zendesk.com/api/v2/t.json")
    encoded = base64.b64encode(b"agent@acme.com/token:tok-SECRET-1").decode()
    shown = caplog.text + str(caught.value) + str(dropped.value) + repr(client.auth)
    for secret in [*secrets, encoded]:
        assert secret not in shown
    # The requests were logged (so the absence above means something).
    assert "GET https://acme.zendesk.com/api/v2/tickets.json?hapikey=[redacted] -> 401" in caplog.text
    assert "ConnectError" in caplog.text
