import httpx
import pytest

from connectors.http import (
    AuthError,
    Classifier,
    NotFoundError,
    RateLimitError,
    RejectedError,
    Rule,
    UpstreamError,
)
from connectors.http.headers import IETF_DRAFT, X_RATELIMIT_EPOCH

NOW = 1_700_000_000.0

ZENDESK_V1 = Classifier(
    overrides=(
        Rule(
            status=503,
            content_type="text/plain",
            body_contains="Number of allowed API requests per minute exceeded",
            error=RateLimitError,
        ),
    )
)


def response(status, *, json=None, text=None, content=None, headers=None):
    request = httpx.Request("GET", "https://acme.zendesk.com/api/v2/tickets.json")
    return httpx.Response(status, json=json, text=text, content=content, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, None),
        (201, None),
        (204, None),
        (400, RejectedError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (410, NotFoundError),
        (418, RejectedError),  # unlisted 4xx falls back to rejected
        (422, RejectedError),
        (429, RateLimitError),
        (500, UpstreamError),
        (502, UpstreamError),
        (503, UpstreamError),
        (504, UpstreamError),
        (599, UpstreamError),  # unlisted 5xx falls back to upstream
    ],
)
def test_default_table(status, expected):
    error = Classifier().classify(response(status), NOW)
    if expected is None:
        assert error is None
    else:
        assert type(error) is expected
        assert error.status_code == status


def test_zendesk_v1_plain_text_503_is_a_throttle():
    throttle = response(
        503, text="Number of allowed API requests per minute exceeded", headers={"content-type": "text/plain"}
    )
    error = ZENDESK_V1.classify(throttle, NOW)
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None  # v1 never said how long


def test_override_does_not_catch_an_ordinary_503():
    outage = response(503, json={"error": "maintenance"})
    assert type(ZENDESK_V1.classify(outage, NOW)) is UpstreamError


def test_403_rate_limit_override_by_body():
    salesforce = Classifier().with_overrides(
        Rule(status=403, body_contains="REQUEST_LIMIT_EXCEEDED", error=RateLimitError)
    )
    limited = response(403, json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit"}])
    forbidden = response(403, json=[{"errorCode": "INSUFFICIENT_ACCESS"}])
    assert isinstance(salesforce.classify(limited, NOW), RateLimitError)
    assert isinstance(salesforce.classify(forbidden, NOW), AuthError)


def test_429_retry_after_seconds():
    error = Classifier().classify(response(429, headers={"Retry-After": "17"}), NOW)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 17


def test_429_retry_after_http_date():
    date = "Tue, 14 Nov 2023 22:14:20 GMT"
    error = Classifier().classify(response(429, headers={"Retry-After": date}), NOW)
    # 1_700_000_000 is 2023-11-14T22:13:20Z, one minute earlier.
    assert error.retry_after == pytest.approx(60)


def test_429_without_retry_after_falls_back_to_reset_headers():
    intercom = Classifier(headers=X_RATELIMIT_EPOCH)
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 8)}
    error = intercom.classify(response(429, headers=headers), NOW)
    assert error.retry_after == pytest.approx(8)


def test_429_with_nothing_to_go_on():
    error = Classifier(headers=IETF_DRAFT).classify(response(429), NOW)
    assert error.retry_after is None


def test_rejected_error_carries_vendor_body():
    body = {"error": "TooManyValues", "description": "Maximum 100 users may be created per call"}
    error = Classifier().classify(response(400, json=body), NOW)
    assert isinstance(error, RejectedError)
    assert error.body == body


def test_truncated_json_on_2xx_is_transient():
    truncated = response(200, content=b'{"tickets": [{"id": 1', headers={"content-type": "application/json"})
    error = Classifier().classify(truncated, NOW)
    assert isinstance(error, UpstreamError)
    assert "truncated" in str(error)


def test_non_json_2xx_body_is_not_parsed():
    ok = response(200, text="<html>fine</html>", headers={"content-type": "text/html"})
    assert Classifier().classify(ok, NOW) is None


def test_503_promises_nothing_was_processed_but_502_does_not():
    assert Classifier().classify(response(503), NOW).maybe_processed is False
    assert Classifier().classify(response(502), NOW).maybe_processed is True
