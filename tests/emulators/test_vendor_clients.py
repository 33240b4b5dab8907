"""The vendors' own Python clients, unchanged, against the emulators on a loopback port.

Their ``requests`` sessions get an adapter that sends every request to 127.0.0.1 with the vendor's host
in ``Host`` (see conftest), so they believe they talk to acme.zendesk.com / acme.freshdesk.com.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from freshdesk.api import API
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket

from emulators.common.serve import ServerThread
from emulators.freshdesk.app import create_app as create_freshdesk
from emulators.freshdesk.config import FreshdeskConfig
from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests.emulators.conftest import route_to_loopback


@pytest.fixture(scope="module")
def zendesk_server() -> Iterator[ServerThread]:
    config = ZendeskConfig(tickets=250, seed=3)
    config.rate_limit.enabled = False
    with ServerThread(create_zendesk(config)) as server:
        yield server


@pytest.fixture(scope="module")
def freshdesk_server() -> Iterator[ServerThread]:
    config = FreshdeskConfig(tickets=150, seed=3, anchor_time=int(time.time()))
    with ServerThread(create_freshdesk(config)) as server:
        yield server


def _zenpy(port: int) -> Zenpy:
    session = requests.Session()
    route_to_loopback(session, port)
    return Zenpy(subdomain="acme", email="admin@acme.test", token="zd-api-token", session=session)


def test_zenpy_lists_every_ticket_through_pagination(zendesk_server: ServerThread) -> None:
    client = _zenpy(zendesk_server.port)
    ids = [t.id for t in client.tickets(cursor_pagination=50)]
    assert ids == list(range(1, 251))
    assert len({t.id for t in client.tickets()}) == 250


def test_zenpy_incremental_export(zendesk_server: ServerThread) -> None:
    client = _zenpy(zendesk_server.port)
    exported = {t.id for t in client.tickets.incremental(start_time=0, paginate_by_time=False)}
    assert {i for i in range(1, 251)} <= exported


def test_zenpy_creates_ticket_and_adds_comment(zendesk_server: ServerThread) -> None:
    client = _zenpy(zendesk_server.port)
    audit = client.tickets.create(
        Ticket(subject="Printer on fire", description="Please help", priority="high")
    )
    ticket = client.tickets(id=audit.ticket.id)
    assert (ticket.subject, ticket.priority) == ("Printer on fire", "high")
    ticket.comment = Comment(body="Extinguisher on its way", public=False)
    client.tickets.update(ticket)
    comments = list(client.tickets.comments(ticket=ticket.id))
    assert [(c.body, c.public) for c in comments] == [
        ("Please help", True),
        ("Extinguisher on its way", False),
    ]
    assert client.users.me().email == "admin@acme.test"


def test_zenpy_changes_a_users_role(zendesk_server: ServerThread) -> None:
    client = _zenpy(zendesk_server.port)
    customer = next(u for u in client.users() if u.role == "end-user")
    customer.role, customer.notes = "agent", "promoted"
    updated = client.users.update(customer)  # zenpy sends only the changed fields
    assert (updated.id, updated.role, updated.notes, updated.name) == (
        customer.id,
        "agent",
        "promoted",
        customer.name,
    )
    again = client.users(id=customer.id)
    assert (again.role, again.verified, again.restricted_agent) == ("agent", True, False)
    assert again.updated_at >= customer.updated_at


def test_zenpy_deletes_a_user(zendesk_server: ServerThread) -> None:
    client = _zenpy(zendesk_server.port)
    customer = next(u for u in client.users() if u.role == "end-user" and u.email)
    gone = client.users.delete(customer)
    assert (gone.id, gone.active) == (customer.id, False)
    assert client.users(id=customer.id).active is False


def _freshdesk(port: int) -> API:
    api = API("acme.freshdesk.com", "fd-api-key")
    route_to_loopback(api._session, port)
    return api


def test_python_freshdesk_lists_creates_and_replies(freshdesk_server: ServerThread) -> None:
    api = _freshdesk(freshdesk_server.port)
    listed = api.tickets.list_tickets(filter_name=None, updated_since="2000-01-01T00:00:00Z")
    assert len(listed) == 150
    ticket = api.tickets.create_ticket(
        "Cannot log in", email="someone@example.com", description="Help", priority=2
    )
    assert ticket.status == "open"  # python-freshdesk names the integer status 2
    reply = api.comments.create_reply(ticket.id, "We are on it")
    note = api.comments.create_note(ticket.id, "internal only")
    assert (reply.source, note.private) == ("reply", True)  # python-freshdesk names source 0 "reply"
    assert [c.body_text for c in api.comments.list_comments(ticket.id)] == ["We are on it", "internal only"]
    assert api.tickets.get_ticket(ticket.id).subject == "Cannot log in"
