"""Credentials as ``httpx.Auth`` flows, so every request, retry and page carries them the same way.

None of these objects shows a secret in its ``repr``: auth objects end up in debug output and
tracebacks more easily than one would think.

``OAuth2Refresh`` is the interesting one. Access tokens expire (HubSpot after 30 minutes) and are
revoked; when the vendor answers 401 the flow refreshes once, retries the original request once
with the new token and hands the new token set to ``on_refresh`` so the caller can persist it -
vital with rotating refresh tokens (Zendesk, Help Scout, Jira), where the old refresh token stops
working the moment the new one is issued. An ``asyncio.Lock`` makes concurrent requests that all hit
the same 401 share a single refresh.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any, Literal

import httpx
import msgspec

from connectors.http.clock import Clock, SystemClock
from connectors.http.errors import AuthError, UpstreamError

#: Refresh this many seconds before the advertised expiry, so a token does not die in flight.
_EXPIRY_MARGIN = 60.0


class Basic(httpx.Auth):
    """HTTP Basic auth.

    Zendesk API tokens: ``Basic(f"{email}/token", api_token)``; Freshdesk: ``Basic(api_key, "X")``.
    """

    def __init__(self, username: str, password: str) -> None:
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "Basic(***)"


class BearerToken(httpx.Auth):
    """A static token in ``Authorization``.

    Args:
        token: The token.
        scheme: The auth scheme word; ``"Zoho-oauthtoken"`` for Zoho Desk.
    """

    def __init__(self, token: str, scheme: str = "Bearer") -> None:
        self._header = f"{scheme} {token}"
        self._scheme = scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"BearerToken(scheme={self._scheme!r}, token=***)"


class ApiKeyHeader(httpx.Auth):
    """An API key in a header of the vendor's choosing (LiveAgent: ``apikey``)."""

    def __init__(self, key: str, header: str = "X-API-Key") -> None:
        self._key = key
        self.header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = self._key
        yield request

    def __repr__(self) -> str:
        return f"ApiKeyHeader(header={self.header!r}, key=***)"


class TokenSet(msgspec.Struct, frozen=True, kw_only=True):
    """An OAuth token pair as the caller persists it (JSON-serializable).

    Attributes:
        access_token: Sent as the bearer token.
        refresh_token: Exchanged for a new pair; may rotate on every refresh.
        expires_at: Unix time the access token expires, when the vendor said so.
        token_type: Usually ``"bearer"``.
        scope: Granted scopes, as the vendor reported them.
    """

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    token_type: str = "bearer"  # noqa: S105 - a token *type*, not a secret
    scope: str | None = None

    def __repr__(self) -> str:
        return f"TokenSet(access_token=***, refresh_token=***, expires_at={self.expires_at!r})"


OnRefresh = Callable[[TokenSet], Awaitable[None]]


class OAuth2Refresh(httpx.Auth):
    """Bearer auth that refreshes its token on 401 (and shortly before a known expiry).

    Args:
        tokens: The current token set.
        token_url: The vendor's token endpoint (``grant_type=refresh_token``).
        client_id: OAuth client id.
        client_secret: OAuth client secret.
        on_refresh: Awaited with every new token set before the request is retried; persist it here.
        client_auth: Send client credentials in the form body (``"body"``, most vendors) or as HTTP
            Basic (``"basic"``).
        clock: Time source for expiry checks.
        scheme: The ``Authorization`` scheme word.
    """

    # Retrying after a 401 re-sends the request, so its body must be buffered, not streamed.
    requires_request_body = True

    def __init__(
        self,
        tokens: TokenSet,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        on_refresh: OnRefresh | None = None,
        client_auth: Literal["body", "basic"] = "body",
        clock: Clock | None = None,
        scheme: str = "Bearer",
    ) -> None:
        self._tokens = tokens
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._on_refresh = on_refresh
        self._client_auth = client_auth
        self._clock = clock or SystemClock()
        self._scheme = scheme
        self._lock = asyncio.Lock()
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"OAuth2Refresh(token_url={self.token_url!r}, client_id={self._client_id!r}, tokens=***)"

    @property
    def tokens(self) -> TokenSet:
        """The token set currently in use."""
        return self._tokens

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuth2Refresh needs an httpx.AsyncClient (it refreshes under an asyncio lock)")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        used = self._tokens
        if not self._expired(used):
            self._sign(request, used)
            response = yield request
            if response.status_code != 401:
                return
        async with self._lock:
            # Requests that hit the same 401 queue here; only the first finds ``used`` still current
            # and refreshes, the others just pick up its result.
            if self._tokens is used:
                if not used.refresh_token:
                    raise AuthError("access token refused and nothing to refresh it with", url=self.token_url)
                refresh_response = yield self._refresh_request(used.refresh_token)
                await refresh_response.aread()
                new = self._parse(refresh_response, previous=used)
                if self._on_refresh is not None:
                    # Persist before use: with rotation the old refresh token is already dead, so a
                    # failure to save must surface, not be swallowed.
                    await self._on_refresh(new)
                self._tokens = new
                self.refresh_count += 1
        self._sign(request, self._tokens)
        # Once only: a second 401 means the new token is refused too, and classification says so.
        yield request

    def _sign(self, request: httpx.Request, tokens: TokenSet) -> None:
        request.headers["Authorization"] = f"{self._scheme} {tokens.access_token}"

    def _expired(self, tokens: TokenSet) -> bool:
        return tokens.expires_at is not None and self._clock.time() >= tokens.expires_at - _EXPIRY_MARGIN

    def _refresh_request(self, refresh_token: str) -> httpx.Request:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        headers = {"Accept": "application/json"}
        if self._client_auth == "basic":
            raw = f"{self._client_id}:{self._client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        else:
            form |= {"client_id": self._client_id, "client_secret": self._client_secret}
        return httpx.Request("POST", self.token_url, data=form, headers=headers)

    def _parse(self, response: httpx.Response, previous: TokenSet) -> TokenSet:
        # The token endpoint's bodies are never put in messages: a success contains the secrets.
        if response.status_code >= 500:
            raise UpstreamError("token endpoint failed", url=self.token_url, status_code=response.status_code)
        if response.status_code != 200:
            raise AuthError(
                "token refresh refused",
                url=self.token_url,
                status_code=response.status_code,
                body=_oauth_error(response),
            )
        try:
            payload: dict[str, Any] = msgspec.json.decode(response.content, type=dict[str, Any])
            access = payload["access_token"]
        except (msgspec.DecodeError, KeyError):
            raise UpstreamError("token endpoint sent an unusable body", url=self.token_url) from None
        expires_in = payload.get("expires_in")
        return TokenSet(
            access_token=str(access),
            # No new refresh token in the answer means the old one stays valid (no rotation).
            refresh_token=payload.get("refresh_token") or previous.refresh_token,
            expires_at=self._clock.time() + float(expires_in) if expires_in is not None else None,
            token_type=str(payload.get("token_type", previous.token_type)),
            scope=payload.get("scope", previous.scope),
        )


def _oauth_error(response: httpx.Response) -> dict[str, str] | None:
    """Only the RFC 6749 §5.2 error fields, never the rest of a token endpoint body."""
    try:
        payload = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    return {k: str(payload[k]) for k in ("error", "error_description") if k in payload}
