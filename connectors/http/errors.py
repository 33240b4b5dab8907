"""The exceptions every vendor request can end in.

Callers decide what to do from the class alone: the retry layer retries ``TransientError`` and
nothing else, the sync runner marks a linked account as needing re-authentication on ``AuthError``,
and the API facade turns ``RejectedError`` into a 400 carrying the vendor's explanation.

Exception hierarchy::

    ConnectorError
    ├── TransientError            -- worth retrying later; nothing is wrong with the request itself
    │   ├── RateLimitError        -- 429 (or a vendor's own throttle shape); ``retry_after`` seconds
    │   └── UpstreamError         -- 5xx, timeouts, dropped connections, truncated or invalid bodies
    └── PermanentError            -- retrying the same request cannot succeed
        ├── AuthError             -- 401/403: the credentials are wrong, expired or lack a scope
        ├── NotFoundError         -- 404/410
        ├── RejectedError         -- other 4xx: the vendor refused the payload; ``body`` says why
        └── PaginationLoopError   -- the vendor handed back a page request we already made

Messages never contain credentials: URLs are passed through ``redact_url`` on construction, and no
request header is ever copied into an error.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.http.redact import redact_url

#: How much of a vendor's error body goes into ``str(error)``; the whole body stays on ``.body``.
_BODY_SNIPPET = 300


class ConnectorError(Exception):
    """Base class: a vendor request did not produce a usable response.

    Args:
        message: What went wrong, in words.
        method: The HTTP method of the failed request, if any.
        url: The request URL; stored and shown redacted.
        status_code: The vendor's HTTP status, when a response arrived.
        body: The decoded vendor error body (JSON value or text), when one arrived.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: httpx.URL | str | None = None,
        status_code: int | None = None,
        body: Any = None,
    ) -> None:
        self.method = method
        self.url = redact_url(url) if url is not None else None
        self.status_code = status_code
        self.body = body
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.reason]
        if self.method and self.url:
            parts.append(f"({self.method} {self.url})")
        if self.status_code is not None:
            parts.append(f"status={self.status_code}")
        if self.body not in (None, "", b""):
            snippet = str(self.body)
            if len(snippet) > _BODY_SNIPPET:
                snippet = snippet[:_BODY_SNIPPET] + "..."
            parts.append(f"body={snippet}")
        return " ".join(parts)


class TransientError(ConnectorError):
    """The same request may succeed later."""


class RateLimitError(TransientError):
    """The vendor throttled us.

    Args:
        retry_after: Seconds the vendor asked us to wait (``Retry-After`` or its own header), or
            ``None`` when it did not say; the retry layer then falls back to backoff.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def _render(self) -> str:
        text = super()._render()
        return text if self.retry_after is None else f"{text} retry_after={self.retry_after:g}s"


class UpstreamError(TransientError):
    """The vendor (or the network to it) failed: 5xx, timeout, reset connection, broken body.

    Args:
        maybe_processed: ``False`` when the vendor certainly did not act on the request (the
            connection was never established, or a 503 said so). Non-idempotent requests (POST
            create) are only retried when this is ``False``, so a timeout never duplicates a ticket.
    """

    def __init__(self, message: str, *, maybe_processed: bool = True, **kwargs: Any) -> None:
        self.maybe_processed = maybe_processed
        super().__init__(message, **kwargs)


class PermanentError(ConnectorError):
    """Retrying the same request cannot help."""


class AuthError(PermanentError):
    """The vendor refused the credentials (401, a credential 403, or a failed token refresh)."""


class NotFoundError(PermanentError):
    """The addressed object does not exist (any more)."""


class RejectedError(PermanentError):
    """The vendor refused the request as invalid; ``body`` holds its explanation."""


class PaginationLoopError(PermanentError):
    """The vendor answered a page with a "next" request that was already made."""
