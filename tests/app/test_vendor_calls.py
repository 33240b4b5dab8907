"""No database transaction is open while an API request waits for a vendor (see
``tests/support/transactions.py`` for why)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests import fakes
from tests.app.conftest import API, Service
from tests.app.test_link_flow import complete, new_link_token
from tests.support.transactions import OpenTransactions, watching


@pytest.fixture
def transactions() -> Iterator[OpenTransactions]:
    with watching() as seen:
        yield seen


def during_vendor_call(monkeypatch: pytest.MonkeyPatch, method: str, check: Callable[[], None]) -> list[str]:
    """Run ``check`` inside every call to the fake connector's ``method``; returns the calls seen."""
    original: Callable[..., Awaitable[Any]] = getattr(fakes.FakeDeskConnector, method)
    calls: list[str] = []

    async def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(method)
        check()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(fakes.FakeDeskConnector, method, wrapped)
    return calls


async def ticket_id(service: Service, token: str) -> str:
    r = await service.client.post(
        f"{API}/tickets", headers=service.headers(token), json={"model": {"name": "Printer on fire"}}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["model"]["id"])


async def _create_ticket(service: Service, token: str) -> None:
    await ticket_id(service, token)


async def _update_ticket(service: Service, token: str) -> None:
    ticket = await ticket_id(service, token)
    r = await service.client.patch(
        f"{API}/tickets/{ticket}", headers=service.headers(token), json={"model": {"status": "CLOSED"}}
    )
    assert r.status_code == 200, r.text


async def _create_comment(service: Service, token: str) -> None:
    ticket = await ticket_id(service, token)
    r = await service.client.post(
        f"{API}/comments", headers=service.headers(token), json={"model": {"ticket": ticket, "body": "hi"}}
    )
    assert r.status_code == 201, r.text


async def _relink(service: Service, token: str) -> None:
    await service.link()  # the desk linked before: a relink, checked with the vendor again


async def _complete_link(service: Service, token: str) -> None:
    link = await new_link_token(service, integration="fakedesk")
    r = await complete(service, link)
    assert r.status_code == 201, r.text


#: (connector method, a request that calls it) for every API path that reaches a vendor.
CASES = {
    "create_ticket": ("create_ticket", _create_ticket),
    "update_ticket": ("update_ticket", _update_ticket),
    "create_comment": ("create_comment", _create_comment),
    "linked-accounts": ("check_credentials", _relink),
    "link/complete": ("check_credentials", _complete_link),
}


@pytest.mark.parametrize(("method", "request_"), CASES.values(), ids=CASES.keys())
async def test_no_transaction_is_open_during_the_vendor_call(
    service: Service,
    transactions: OpenTransactions,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    request_: Callable[[Service, str], Awaitable[None]],
) -> None:
    token = (await service.link())["account_token"]
    open_during: list[int] = []
    calls = during_vendor_call(monkeypatch, method, lambda: open_during.append(transactions.count()))
    await request_(service, token)
    assert calls, f"{method} was not called: the case does not test anything"
    assert open_during[-1] == 0
