"""Emulator apps served in-process (httpx.ASGITransport) or on a loopback port for sync clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter

from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig

ZD_AUTH = httpx.BasicAuth("admin@acme.test/token", "zd-api-token")
FD_AUTH = httpx.BasicAuth("fd-api-key", "X")


@pytest.fixture
def zendesk_app() -> Any:
    return create_zendesk(ZendeskConfig(tickets=300, seed=7))


@pytest.fixture
async def zd(zendesk_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=zendesk_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://acme.zendesk.com", auth=ZD_AUTH
    ) as client:
        yield client


@pytest.fixture
def freshdesk_app() -> Any:
    return create_freshdesk(FreshdeskConfig(tickets=300, seed=7))


@pytest.fixture
async def fd(freshdesk_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=freshdesk_app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://acme.freshdesk.com", auth=FD_AUTH
    ) as client:
        yield client


class LoopbackAdapter(HTTPAdapter):
    """Sends every request of a ``requests`` session to the emulator on 127.0.0.1, keeping the vendor
    host in ``Host`` — so a vendor's client runs unchanged and nothing leaves the machine."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        original = request.url or ""
        url = httpx.URL(original)
        request.headers["Host"] = url.host
        request.url = str(url.copy_with(scheme="http", host="127.0.0.1", port=self.port))
        response = super().send(request, *args, **kwargs)
        # Clients match responses to endpoints by URL (zenpy does): show them the URL they asked for.
        request.url = response.url = original
        return response


def route_to_loopback(session: requests.Session, port: int) -> None:
    adapter = LoopbackAdapter(port)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False
