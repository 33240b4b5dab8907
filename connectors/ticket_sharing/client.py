"""Sending protocol requests to a partner's sharing base URL.

Headers as the gem sends them plus ``X-Ticket-Sharing-Version: 1`` (RFC peers such as RT require it;
the gem's servers ignore it). Redirects: the gem follows any 3xx twice, re-sending the token; we follow
only absolute, same-origin ones (a redirect elsewhere would hand the token to another host), at most two.
The caller supplies ``check_url`` (the SSRF policy): it runs before every request, redirects included.

``send`` never raises for what the network or the partner does: it returns an ``Outcome`` saying whether
the request was accepted, and if not whether retrying can help.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx
import msgspec

MAX_REDIRECTS = 2
TOKEN_HEADER = "X-Ticket-Sharing-Token"  # noqa: S105 - a header name
VERSION_HEADER = "X-Ticket-Sharing-Version"
#: Partner answers that a later attempt may turn into a success.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})

URLCheck = Callable[[str], Awaitable[str]]


class Outcome(msgspec.Struct, kw_only=True, frozen=True):
    delivered: bool
    retry: bool
    status: int | None = None
    error: str | None = None


def resource_url(base_url: str, kind: str, uuid: str) -> str:
    return f"{base_url.rstrip('/')}/{kind}/{uuid}"


def headers(token: str | None, has_body: bool) -> dict[str, str]:
    out = {"Accept": "application/json", VERSION_HEADER: "1", "User-Agent": "deskbridge-ticket-sharing"}
    if has_body:
        out["Content-Type"] = "application/json"
    if token:
        out[TOKEN_HEADER] = token
    return out


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome(delivered=True, retry=False, status=status)
    return Outcome(
        delivered=False, retry=status in RETRYABLE, status=status, error=f"partner answered HTTP {status}"
    )


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    body: bytes | None,
    token: str | None,
    check_url: URLCheck,
    timeout: float = 30.0,  # noqa: ASYNC109 - passed to httpx per request
) -> Outcome:
    origin = urlsplit(url)[:2]
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            url = await check_url(url)
            response = await http.request(
                method,
                url,
                content=body or b"",
                headers=headers(token, body is not None),
                timeout=timeout,
                follow_redirects=False,
            )
        except ValueError as exc:  # the URL policy refused the partner: retry (it may be fixed)
            return Outcome(delivered=False, retry=True, error=f"partner URL refused: {exc}")
        except httpx.TimeoutException:
            return Outcome(delivered=False, retry=True, error=f"timed out after {timeout:g}s")
        except httpx.HTTPError as exc:
            return Outcome(delivered=False, retry=True, error=f"{type(exc).__name__}: {exc}"[:500])
        if not response.is_redirect:
            return classify(response.status_code)
        location = response.headers.get("location", "")
        if urlsplit(location)[:2] != origin:
            return Outcome(
                delivered=False,
                retry=False,
                status=response.status_code,
                error=f"partner redirected to another origin or a relative URL ({location!r}); not followed",
            )
        url = location
    return Outcome(delivered=False, retry=True, error="too many redirects")
