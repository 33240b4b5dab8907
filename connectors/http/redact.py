"""Scrub credentials from anything that may end up in an exception message or a log line.

Vendors put secrets in places a generic logger happily prints: URL userinfo
(``https://user:pass@host``) and query strings (HubSpot's legacy ``hapikey``, OAuth ``code`` or
``access_token`` parameters). Every URL this package shows to a human goes through ``redact_url``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

REDACTED = "[redacted]"

#: Query parameter names (lower-cased) whose values are credentials. A name is also treated as
#: sensitive when it merely *contains* one of ``_SENSITIVE_PARTS`` (``x_api_key``, ``client_secret``).
SENSITIVE_PARAMS = frozenset(
    {
        "hapikey",
        "apikey",
        "api_key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "code",
        "password",
        "secret",
        "client_secret",
        "signature",
        "sig",
        "auth",
        "authorization",
        "session",
        "sessionid",
    }
)
# ("auth" is deliberately not a part: it would hide ``author_id``.)
_SENSITIVE_PARTS = ("key", "token", "secret", "password", "signature")


def is_sensitive_param(name: str) -> bool:
    """Whether a query parameter called ``name`` probably carries a credential."""
    lowered = name.lower()
    # Pagination tokens look like credentials by name but are not secret and are needed to debug a
    # sync; keep them readable.
    if lowered in {"page_token", "nextpagetoken", "next_page_token", "pagetoken"}:
        return False
    return lowered in SENSITIVE_PARAMS or any(part in lowered for part in _SENSITIVE_PARTS)


def redact_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo and with credential-looking query values replaced.

    Works on relative URLs too (``/api/v2/tickets?api_key=...``), since errors may be raised before
    the base URL is joined.
    """
    parts = urlsplit(str(url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if is_sensitive_param(k) else v) for k, v in pairs], safe="[]/:,")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
