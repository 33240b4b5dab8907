"""The services the API, the sync workers and the CLI run on, built from the settings.

Kept apart from ``app.asgi``: ``deskbridge sync`` and ``deskbridge worker`` need these but not the web
framework, and importing Litestar with every route was a third of their start-up time.
"""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.state import Services
from app.db.engine import create_engine
from app.db.reader import reader_for
from app.secrets import SecretBox
from app.settings import Settings
from app.urlpolicy import URLPolicy, outbound_client
from connectors.http.retry import RetryPolicy


def build_services(
    settings: Settings,
    *,
    http_client: httpx.AsyncClient | None = None,
    engine: AsyncEngine | None = None,
    retry: RetryPolicy | None = None,
) -> Services:
    """What the API and the sync workers run on (the caller closes what it did not inject)."""
    engine = engine or create_engine(settings.database_url)
    policy = URLPolicy(settings.outbound_allow)
    return Services(
        settings=settings,
        engine=engine,
        reader=reader_for(settings.database_url, engine),
        box=SecretBox.from_settings(settings),
        url_policy=policy,
        http=http_client or outbound_client(policy, timeout=httpx.Timeout(30.0, connect=10.0)),
        retry=retry,
    )
