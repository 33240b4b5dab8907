"""The vendor-agnostic HTTP toolkit every connector is built on (knows nothing of tickets).

Auth flows, classification of responses into a small exception tree, retries of transient failures,
per-account rate limiting and data-driven pagination, wired together by ``VendorClient``.
"""

from connectors.http.auth import ApiKeyHeader, Basic, BearerToken, OAuth2Refresh, OnRefresh, TokenSet
from connectors.http.classify import DEFAULT_TABLE, Classifier, Rule
from connectors.http.client import VendorClient
from connectors.http.clock import Clock, FakeClock, ScaledClock, SystemClock
from connectors.http.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PaginationLoopError,
    PermanentError,
    RateLimitError,
    RejectedError,
    TransientError,
    UpstreamError,
)
from connectors.http.headers import (
    IETF_DRAFT,
    RETRY_AFTER_ONLY,
    X_RATELIMIT_EPOCH,
    HeaderSpec,
    RateLimitState,
    parse_retry_after,
    read_buckets,
    read_headers,
)
from connectors.http.pagination import (
    Cursor,
    LinkHeader,
    NextUrl,
    Offset,
    Page,
    PageNumber,
    PageRequest,
    Strategy,
    get_path,
    next_request,
    paginate,
)
from connectors.http.ratelimit import (
    IN_FLIGHT,
    EndpointBucket,
    LimiterRegistry,
    Plan,
    Quota,
    RateLimiter,
    per_minute,
    plan_limiter,
)
from connectors.http.redact import redact_url
from connectors.http.retry import RetryPolicy

__all__ = [
    "DEFAULT_TABLE",
    "IETF_DRAFT",
    "IN_FLIGHT",
    "RETRY_AFTER_ONLY",
    "X_RATELIMIT_EPOCH",
    "ApiKeyHeader",
    "AuthError",
    "Basic",
    "BearerToken",
    "Classifier",
    "Clock",
    "ConnectorError",
    "Cursor",
    "EndpointBucket",
    "FakeClock",
    "HeaderSpec",
    "LimiterRegistry",
    "LinkHeader",
    "NextUrl",
    "NotFoundError",
    "OAuth2Refresh",
    "Offset",
    "OnRefresh",
    "Page",
    "PageNumber",
    "PageRequest",
    "PaginationLoopError",
    "PermanentError",
    "Plan",
    "Quota",
    "RateLimitError",
    "RateLimitState",
    "RateLimiter",
    "RejectedError",
    "RetryPolicy",
    "Rule",
    "ScaledClock",
    "Strategy",
    "SystemClock",
    "TokenSet",
    "TransientError",
    "UpstreamError",
    "VendorClient",
    "get_path",
    "next_request",
    "paginate",
    "parse_retry_after",
    "per_minute",
    "plan_limiter",
    "read_buckets",
    "read_headers",
    "redact_url",
]
