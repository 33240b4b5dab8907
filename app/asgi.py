"""The application factory: ``create_app(settings, http_client, engine)``.

Everything the app talks to is passed in (or built from settings), so tests run it against a throwaway
database and vendor emulators, and benchmarks against a real server, without patching.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.auth import DEPENDENCIES, close_leftover_connections
from app.api.errors import EXCEPTION_HANDLERS
from app.api.routes import ROUTES
from app.api.state import Services
from app.db.reader import SQLiteReader
from app.services import build_services
from app.settings import Settings
from app.sharing.routes import SHARING_ROUTER
from app.sync.worker import Worker, worker_config
from app.webhooks.delivery import WebhookDelivery
from connectors.http.retry import RetryPolicy

API_PREFIX = "/api/ticketing/v1"
VERSION = "0.1.0"


def create_app(
    settings: Settings,
    http_client: httpx.AsyncClient | None = None,
    engine: AsyncEngine | None = None,
    retry: RetryPolicy | None = None,
    run_worker: bool = False,
) -> Litestar:
    """Build the ASGI app; resources it creates itself are closed on shutdown, injected ones are not."""
    owned_engine = engine is None
    owned_http = http_client is None
    services = build_services(settings, http_client=http_client, engine=engine, retry=retry)

    # ``serve`` asks for the in-process worker (embedded SQLite); tests and replicas do not.
    worker = Worker(services, worker_config(settings)) if run_worker else None
    # Webhook deliveries run wherever the sync worker runs (the outbox is shared through the store).
    webhooks = WebhookDelivery(services) if run_worker else None
    worker_task: list[asyncio.Task[None]] = []

    async def start() -> None:
        if worker is not None:
            worker_task.append(asyncio.create_task(worker.run_forever()))
        if webhooks is not None:
            worker_task.append(asyncio.create_task(webhooks.run_forever()))

    async def close() -> None:
        if worker is not None:
            worker.stop()
        if webhooks is not None:
            webhooks.stop()
        await asyncio.gather(*worker_task, return_exceptions=True)
        if owned_http:
            await services.http.aclose()
        if owned_engine:
            await services.engine.dispose()
        if isinstance(services.reader, SQLiteReader):
            services.reader.dispose()

    api = Router(
        path=API_PREFIX,
        route_handlers=ROUTES,
        dependencies=DEPENDENCIES,
        security=[{"bearerAuth": []}],
        middleware=[close_leftover_connections],
    )
    return Litestar(
        route_handlers=[api, SHARING_ROUTER],  # the protocol server has no API key
        exception_handlers=EXCEPTION_HANDLERS,
        state=_state(services),
        on_startup=[start],
        on_shutdown=[close],
        openapi_config=OpenAPIConfig(
            title="deskbridge",
            version=VERSION,
            description="Self-hosted unified ticketing API, wire-compatible with Merge's Unified Ticketing API.",  # noqa: E501
            path="/schema",
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={
                    "bearerAuth": SecurityScheme(type="http", scheme="bearer", description="Your API key."),
                }
            ),
        ),
        logging_config=None,
        debug=False,
    )


def _state(services: Services) -> State:
    logging.getLogger("deskbridge").setLevel(services.settings.log_level)
    # httpx logs every request URL at INFO; vendor URLs can carry ids and tokens in query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return State({"services": services})
