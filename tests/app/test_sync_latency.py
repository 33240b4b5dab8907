"""A vendor far away: a sync keeps several of an account's requests in flight (the comments of several
tickets at once), within the limiter's ``IN_FLIGHT``, and stores exactly what the vendor holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.api.state import Services
from app.db.tables import comments
from app.services import build_services
from app.settings import Settings
from app.sync.runner import RunnerConfig
from app.sync.worker import Worker, WorkerConfig
from connectors.http import IN_FLIGHT, RetryPolicy
from emulators.common.config import RateLimit
from emulators.common.serve import ServerThread, free_port
from emulators.zendesk.app import create_app
from emulators.zendesk.config import ZendeskConfig
from tests.support.linking import link_desk

CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
TICKETS = 16


@pytest.fixture
def emulator() -> Iterator[tuple[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = ZendeskConfig(
        tickets=TICKETS, seed=5, base_url=url, rate_limit=RateLimit(per_minute=700), latency_seconds=0.05
    )
    app = create_app(config)
    with ServerThread(app, port=port):
        yield url, app


class InFlight:
    """Comment requests sent and not answered yet, and the most there ever were."""

    def __init__(self) -> None:
        self.now = self.most = 0

    async def sent(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/comments.json"):
            self.now += 1
            self.most = max(self.most, self.now)

    async def answered(self, response: httpx.Response) -> None:
        if response.request.url.path.endswith("/comments.json"):
            self.now -= 1


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Services, InFlight]]:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, secret_key="k", outbound_allow=("127.0.0.0/8",)
    )
    in_flight = InFlight()
    http = httpx.AsyncClient(
        timeout=30, event_hooks={"request": [in_flight.sent], "response": [in_flight.answered]}
    )
    services = build_services(settings, http_client=http, retry=RetryPolicy.for_tests(attempts=2))
    yield services, in_flight
    await http.aclose()
    await services.engine.dispose()


async def test_comments_of_several_tickets_are_read_at_once_from_a_distant_vendor(
    emulator: tuple[str, Any], services: tuple[Services, InFlight]
) -> None:
    url, app = emulator
    svc, in_flight = services
    account = await link_desk(svc, "zendesk", url, CREDENTIALS, "distant")  # the limiter as shipped
    worker = Worker(svc, WorkerConfig(runner=RunnerConfig(interval_seconds=3600, waiting_seconds=0)))
    await worker.run_until_idle(account_id=account)
    assert 2 <= in_flight.most <= IN_FLIGHT  # overlapped, and no more than the limiter allows
    desk = app.state.desk
    expected = {str(c["id"]) for t in desk.tickets.ids for c in desk.comments(t)}
    async with svc.engine.connect() as conn:
        rows = (
            await conn.execute(select(comments.c.remote_id).where(comments.c.linked_account_id == account))
        ).all()
        assert await conn.scalar(select(func.count()).select_from(comments)) == len(expected)
    assert {r.remote_id for r in rows} == expected
