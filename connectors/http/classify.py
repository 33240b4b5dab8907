"""Turning a vendor response into "fine" or the exception that describes it, as data.

The default is a status → error-class table. Vendors that deviate add ``Rule`` overrides matched on
status plus, optionally, content type and a body substring; a vendor module declares them next to
its other facts, for example::

    ZENDESK_V1 = Classifier(overrides=(
        # Classic v1 throttles with a plain-text 503 instead of a 429.
        Rule(status=503, content_type="text/plain",
             body_contains="Number of allowed API requests per minute exceeded", error=RateLimitError),
    ))
    SALESFORCE = Classifier(overrides=(
        Rule(status=403, body_contains="REQUEST_LIMIT_EXCEEDED", error=RateLimitError),
    ))

Classification happens before anything else looks at the body, so a 2xx whose JSON is truncated or
invalid is caught here (as a transient ``UpstreamError``) and retried instead of crashing a mapper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import httpx
import msgspec

from connectors.http.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitError,
    RejectedError,
    UpstreamError,
)
from connectors.http.headers import RETRY_AFTER_ONLY, HeaderSpec, read_headers

#: Status → error class. Statuses not listed fall back by class: other 4xx → ``RejectedError``,
#: 5xx (and anything stranger) → ``UpstreamError``; 1xx-3xx are successes.
DEFAULT_TABLE: Mapping[int, type[ConnectorError]] = MappingProxyType(
    {
        400: RejectedError,
        401: AuthError,
        403: AuthError,
        404: NotFoundError,
        408: UpstreamError,
        409: RejectedError,
        410: NotFoundError,
        422: RejectedError,
        423: UpstreamError,  # locked: another write on the same object is in flight
        425: UpstreamError,
        429: RateLimitError,
        500: UpstreamError,
        502: UpstreamError,
        503: UpstreamError,
        504: UpstreamError,
    }
)

#: Statuses that promise the vendor did not act on the request, so even a POST may be retried.
_NOT_PROCESSED = frozenset({408, 423, 425, 429, 503})

_MESSAGES: Mapping[type[ConnectorError], str] = MappingProxyType(
    {
        RateLimitError: "vendor rate limit hit",
        UpstreamError: "vendor failed",
        AuthError: "vendor refused the credentials",
        NotFoundError: "vendor object not found",
        RejectedError: "vendor rejected the request",
    }
)


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """A vendor-specific override: responses matching all given conditions raise ``error``.

    Attributes:
        status: HTTP status to match.
        error: Exception class to raise.
        content_type: Prefix of the ``Content-Type`` (``"text/plain"``), or ``None`` for any.
        body_contains: Substring the body must contain, or ``None`` for any.
    """

    status: int
    error: type[ConnectorError]
    content_type: str | None = None
    body_contains: str | None = None

    def matches(self, response: httpx.Response) -> bool:
        if response.status_code != self.status:
            return False
        ctype = str(response.headers.get("content-type", ""))
        if self.content_type is not None and not ctype.lower().startswith(self.content_type.lower()):
            return False
        return self.body_contains is None or self.body_contains in response.text


@dataclass(frozen=True)
class Classifier:
    """The classification table for one vendor.

    Attributes:
        table: Status → error class (``DEFAULT_TABLE`` unless a vendor is unusual throughout).
        overrides: Rules checked, in order, before the table.
        headers: Where this vendor says how long to back off, for ``RateLimitError.retry_after``.
    """

    table: Mapping[int, type[ConnectorError]] = field(default_factory=lambda: DEFAULT_TABLE)
    overrides: tuple[Rule, ...] = ()
    headers: HeaderSpec = field(default=RETRY_AFTER_ONLY)

    def with_overrides(self, *rules: Rule) -> Classifier:
        """A copy whose ``rules`` take precedence over the existing overrides."""
        return replace(self, overrides=(*rules, *self.overrides))

    def error_class(self, response: httpx.Response) -> type[ConnectorError] | None:
        """The exception class ``response`` maps to, or ``None`` for a success (body not checked)."""
        for rule in self.overrides:
            if rule.matches(response):
                return rule.error
        status = response.status_code
        if status in self.table:
            return self.table[status]
        if status < 400:
            return None
        return RejectedError if status < 500 else UpstreamError

    def classify(self, response: httpx.Response, now_epoch: float) -> ConnectorError | None:
        """The error ``response`` represents, or ``None`` when it is usable.

        Args:
            response: A response whose body has been read.
            now_epoch: Current Unix time, to turn HTTP-date / timestamp back-off hints into delays.
        """
        error_cls = self.error_class(response)
        if error_cls is None:
            return _check_body(response)
        kwargs: dict[str, Any] = {
            "method": response.request.method,
            "url": response.request.url,
            "status_code": response.status_code,
            "body": _decoded_body(response),
        }
        if issubclass(error_cls, RateLimitError):
            kwargs["retry_after"] = _retry_after(self.headers, response, now_epoch)
        elif issubclass(error_cls, UpstreamError):
            kwargs["maybe_processed"] = response.status_code not in _NOT_PROCESSED
        message = next((m for cls, m in _MESSAGES.items() if issubclass(error_cls, cls)), "vendor error")
        return error_cls(message, **kwargs)


def _retry_after(spec: HeaderSpec, response: httpx.Response, now_epoch: float) -> float | None:
    state = read_headers(spec, response.headers, now_epoch)
    if state.retry_after is not None:
        return state.retry_after
    # No explicit back-off, but an exhausted window with a known reset says the same thing.
    if state.remaining == 0 and state.reset_after is not None:
        return state.reset_after
    return None


def _is_json(response: httpx.Response) -> bool:
    ctype = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


def _decoded_body(response: httpx.Response) -> Any:
    """The body as JSON when it is JSON, else as text; ``None`` when empty."""
    if not response.content:
        return None
    if _is_json(response):
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            pass
    return response.text


def _check_body(response: httpx.Response) -> ConnectorError | None:
    """A success whose JSON body does not parse was cut short or garbled on the way: transient."""
    if not (200 <= response.status_code < 300) or not response.content or not _is_json(response):
        return None
    try:
        # Decoding to ``Raw`` validates the whole document without building it: a tenth of the cost,
        # and every page of every sync passes here before it is decoded for real.
        msgspec.json.decode(response.content, type=msgspec.Raw)
    except msgspec.DecodeError:
        return UpstreamError(
            f"vendor sent an invalid or truncated JSON body ({len(response.content)} bytes)",
            method=response.request.method,
            url=response.request.url,
            status_code=response.status_code,
        )
    return None
