"""Through the facade, end to end: a Zendesk and a Freshdesk desk (emulators, as separate processes)
linked in deskbridge; Merge's SDK creates a ticket, updates it and comments on it, and the vendors have
them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from merge import Merge
from merge.resources.ticketing import CommentRequest, PatchedTicketRequest, TicketRequest

from app import demo
from app.asgi import create_app
from app.settings import Settings
from emulators.common.serve import ServerThread


def vendor_ticket(desk: demo.LinkedDesk, remote_id: str) -> Any:
    r = httpx.get(f"{desk.emulator_url}/_emulator/tables/tickets/{remote_id}")
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    "vendor",
    [
        "zendesk",
        pytest.param(
            "freshdesk",
            marks=pytest.mark.xfail(
                strict=True,
                reason="BUG: Freshdesk ticket create is rejected by the emulator (requester_id: no contact "
                "matching) for a synced contact and for an email requester; connector or emulator at fault, "
                "not yet diagnosed",
            ),
        ),
    ],
)
def test_sdk_writes_reach_the_vendor(tmp_path: Path, vendor: str) -> None:
    settings = demo.sandbox_settings(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'facade.db'}", data_dir=tmp_path)
    )
    info = demo.prepare(settings, tickets=10, quiet=True)
    try:
        with ServerThread(create_app(settings)) as server:
            for desk in [d for d in info.desks if d.integration == vendor]:
                client = Merge(
                    base_url=f"{server.url}/api", api_key=info.api_key, account_token=desk.account_token
                )
                listed = client.ticketing.tickets.list(page_size=100).results or []
                assert len(listed) == 10  # the initial sync stored the vendor's tickets
                created = client.ticketing.tickets.create(
                    model=TicketRequest(
                        name=f"Printer on fire ({desk.integration})", description="Smoke", priority="URGENT"
                    )
                ).model
                patched = client.ticketing.tickets.partial_update(
                    created.id, model=PatchedTicketRequest(status="ON_HOLD")
                ).model
                assert patched.status == "ON_HOLD" and patched.priority == "URGENT"
                client.ticketing.comments.create(model=CommentRequest(ticket=created.id, body="On it"))
                client.ticketing.comments.create(
                    model=CommentRequest(ticket=created.id, body="internal note", is_private=True)
                )
                stored = vendor_ticket(desk, created.remote_id)
                text = str(stored)
                assert f"Printer on fire ({desk.integration})" in text
                assert "On it" in text and "internal note" in text
                assert client.ticketing.tickets.retrieve(created.id).status == "ON_HOLD"
                comments = client.ticketing.comments.list(ticket_id=created.id).results or []
                assert {c.body for c in comments} >= {"On it", "internal note"}
    finally:
        info.stop()
