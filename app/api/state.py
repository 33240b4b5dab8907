"""What every request handler can reach: settings, engine, secrets, outbound policy, vendor HTTP client."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.authcache import AuthCache
from app.db.reader import Reader
from app.secrets import SecretBox
from app.settings import Settings
from app.urlpolicy import URLPolicy
from connectors.http.ratelimit import RateLimiter
from connectors.http.retry import RetryPolicy


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    box: SecretBox
    url_policy: URLPolicy
    #: Shared client for vendor calls; tests inject one whose transport is an emulator or a double.
    http: httpx.AsyncClient
    #: Retry policy for vendor calls (None: the toolkit's default; tests pass one that never sleeps).
    retry: RetryPolicy | None = None
    #: One rate limiter per linked account, shared by every request made for it in this process.
    limiters: dict[str, RateLimiter] = field(default_factory=dict)
    #: The API's reads (list/retrieve pages): synchronous on embedded SQLite, async on PostgreSQL.
    reader: Reader | None = None
    #: Recently resolved API keys and account tokens (see ``app.api.authcache``).
    auth_cache: AuthCache = field(default_factory=lambda: AuthCache())
