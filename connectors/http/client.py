"""``VendorClient``: the one path every vendor request takes.

Per attempt: rate-limit slot → send (the auth flow signs, and refreshes OAuth tokens on 401) →
``observe`` the rate-limit headers → classify → raise or return. Around the attempts: the retry
policy. Vendor connectors call ``request`` for writes and ``paginate`` for reads and never touch
``httpx`` errors, status codes or sleeps themselves.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx
import msgspec

from connectors.http import pagination
from connectors.http.classify import Classifier
from connectors.http.errors import PermanentError, RateLimitError, UpstreamError
from connectors.http.pagination import Page, PageRequest, Strategy
from connectors.http.ratelimit import RateLimiter
from connectors.http.redact import redact_url
from connectors.http.retry import IDEMPOTENT_METHODS, RetryPolicy

logger = logging.getLogger(__name__)

#: Failures that happen before the request leaves: the vendor cannot have acted on it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class VendorClient:
    """Requests to one vendor on behalf of one linked account.

    Args:
        http: The shared ``httpx.AsyncClient`` (injected: tests pass a ``MockTransport``).
        base_url: Vendor API root (``https://acme.zendesk.com/api/v2``); defaults to ``http.base_url``.
            Absolute URLs (next-page links) must stay on this origin, so credentials never leave it.
        auth: Credentials for every request (``Basic``, ``BearerToken``, ``OAuth2Refresh``, ...).
        timeout: Per-request timeout; defaults to the ``http`` client's.
        limiter: The linked account's limiter (share one per account); defaults to one request at a
            time without a quota.
        classifier: The vendor's classification table.
        retry: The retry policy.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str | None = None,
        auth: httpx.Auth | None = None,
        timeout: httpx.Timeout | float | None = None,
        limiter: RateLimiter | None = None,
        classifier: Classifier | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.http = http
        self.base_url = httpx.URL(base_url) if base_url is not None else http.base_url
        self.auth = auth
        self.timeout = timeout
        self.limiter = limiter or RateLimiter()
        self.classifier = classifier or Classifier()
        self.retry = retry or RetryPolicy()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request, retried per policy; return the successful (read) response.

        Args:
            method: HTTP method.
            url: Path under ``base_url`` or an absolute URL on the same origin.
            params, json, headers, content, data, files: As for ``httpx``. File bodies must be
                bytes (not open files) so that a retry can send them again.
            idempotent: Whether retrying after an ambiguous failure is safe; by default true for
                GET/HEAD/OPTIONS/PUT/DELETE. Pass ``True`` for POST searches.

        Raises:
            ConnectorError: The classified failure of the last attempt.
        """
        method = method.upper()
        target = self._resolve(url)
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent

        async def attempt() -> httpx.Response:
            request = self.http.build_request(
                method,
                target,
                params=params,
                json=json,
                headers=headers,
                content=content,
                data=data,
                files=files,
                timeout=self._timeout(),
            )
            return await self._attempt(request)

        return await self.retry.call(attempt, idempotent=safe)

    async def paginate(
        self,
        strategy: Strategy,
        first: PageRequest,
        records_path: str | None = None,
        *,
        read_ahead: bool = False,
    ) -> AsyncGenerator[Page, None]:
        """Pages from ``first`` (or a saved ``Page.next``) onward; see ``pagination.paginate``.

        ``first.url`` is made absolute before the first page, so the vendor's relative next links
        (Salesforce's ``nextRecordsUrl``) resolve per RFC 3986 and every checkpoint is self-contained.
        """
        first = msgspec.structs.replace(first, url=str(self._resolve(first.url)))
        pages = pagination.paginate(self._fetch_page, strategy, first, records_path, read_ahead=read_ahead)
        async with contextlib.aclosing(pages):  # stops a page read ahead when we stop
            async for page in pages:
                yield page

    async def _fetch_page(self, page: PageRequest) -> httpx.Response:
        # Page fetches are reads even when a search endpoint wants POST, so always safe to retry.
        return await self.request(
            page.method, page.url, params=page.params or None, json=page.body, idempotent=True
        )

    async def _attempt(self, request: httpx.Request) -> httpx.Response:
        shown = redact_url(request.url)
        bucket = self.limiter.bucket_for(request.method, request.url.path)
        await self.limiter.acquire(bucket, self.limiter.cost_of(request))
        started = time.perf_counter()
        try:
            try:
                response = await self.http.send(request, auth=self.auth or httpx.USE_CLIENT_DEFAULT)
                # httpx links a response and its stream both ways: a cycle that holds the body (a
                # page: megabytes) until the garbage collector next runs, so a long sync's memory
                # grew with the pages read. send() has read and closed the body; drop the stream.
                response.stream = httpx.ByteStream(b"")
            except httpx.RequestError as exc:
                logger.debug("%s %s failed: %s", request.method, shown, type(exc).__name__)
                raise UpstreamError(
                    f"network error: {type(exc).__name__}",
                    method=request.method,
                    url=request.url,
                    maybe_processed=not isinstance(exc, _NOT_SENT),
                ) from exc
            self.limiter.observe(response, bucket)
        finally:
            self.limiter.release()
        logger.debug(
            "%s %s -> %d in %.0f ms",
            request.method,
            shown,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        error = self.classifier.classify(response, self.limiter.clock.time())
        if error is not None:
            if isinstance(error, RateLimitError):
                # Hold back every request of this account (of this endpoint, when only its own quota
                # ran out), not just the one being retried.
                self.limiter.throttled(error.retry_after, bucket)
            raise error
        return response

    def _resolve(self, url: str) -> httpx.URL:
        """``url`` under ``base_url``; absolute URLs only on the same origin (they get our credentials)."""
        parsed = httpx.URL(url)
        if not parsed.is_absolute_url:
            if not self.base_url.is_absolute_url:
                return parsed
            base = str(self.base_url).rstrip("/")
            return httpx.URL(f"{base}/{url.lstrip('/')}")
        if self.base_url.is_absolute_url and _origin(parsed) != _origin(self.base_url):
            raise PermanentError(
                "refusing to send credentials to another origin than the vendor's", url=parsed
            )
        return parsed

    def _timeout(self) -> httpx.Timeout:
        if self.timeout is None:
            return self.http.timeout
        return self.timeout if isinstance(self.timeout, httpx.Timeout) else httpx.Timeout(self.timeout)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)
