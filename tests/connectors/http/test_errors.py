import pytest

from connectors.http import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PaginationLoopError,
    PermanentError,
    RateLimitError,
    RejectedError,
    TransientError,
    UpstreamError,
    redact_url,
)


@pytest.mark.parametrize(
    ("cls", "base"),
    [
        (RateLimitError, TransientError),
        (UpstreamError, TransientError),
        (AuthError, PermanentError),
        (NotFoundError, PermanentError),
        (RejectedError, PermanentError),
        (PaginationLoopError, PermanentError),
        (TransientError, ConnectorError),
        (PermanentError, ConnectorError),
    ],
)
def test_tree(cls, base):
    assert issubclass(cls, base)


def test_transient_and_permanent_are_disjoint():
    assert not issubclass(RateLimitError, PermanentError)
    assert not issubclass(AuthError, TransientError)


def test_rate_limit_error_carries_retry_after():
    err = RateLimitError("slow down", retry_after=12.5, status_code=429)
    assert err.retry_after == 12.5
    assert "retry_after=12.5s" in str(err)


def test_rejected_error_keeps_the_whole_body_but_shows_a_snippet():
    body = {"error": "TooManyValues", "description": "x" * 1000}
    err = RejectedError("rejected", body=body, status_code=400)
    assert err.body == body
    assert "TooManyValues" in str(err)
    assert len(str(err)) < 500


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://me%40x.com:hunter2@acme.zendesk.com/api/v2/tickets", "hunter2"),
        ("https://api.hubapi.com/crm/v3/objects/tickets?hapikey=abc123&limit=10", "abc123"),
        ("/api/v2/tickets?api_key=abc123", "abc123"),
        ("https://x.io/cb?code=abc123&state=s", "abc123"),
        ("https://x.io/t?access_token=abc123", "abc123"),
        ("https://x.io/t?client_secret=abc123", "abc123"),
    ],
)
def test_errors_never_show_credentials_from_urls(url, secret):
    err = UpstreamError("boom", method="GET", url=url)
    assert secret not in str(err)
    assert secret not in (err.url or "")
    assert "[redacted]" in str(err)


def test_redaction_keeps_harmless_params_readable():
    shown = redact_url("https://x.io/tickets?page[size]=100&author_id=7&page_token=abc&token=s3cret")
    assert "page[size]=100" in shown
    assert "author_id=7" in shown
    assert "page_token=abc" in shown
    assert "s3cret" not in shown
