"""``deskbridge demo``: emulators started, both desks linked through the real path and synced, and the
app serves normalized tickets of both vendors for the demo API key; the key is reused across runs."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient

from app import demo
from app.asgi import API_PREFIX, create_app
from app.settings import Settings


def test_demo_prepares_two_desks_and_serves_their_tickets(tmp_path: Path) -> None:
    settings = demo.sandbox_settings(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", data_dir=tmp_path)
    )
    assert "127.0.0.0/8" in settings.outbound_allow
    info = demo.prepare(settings, tickets=40, quiet=True)
    try:
        assert sorted(d.integration for d in info.desks) == ["freshdesk", "zendesk"]
        assert info.records["zendesk Ticket"] == 40 and info.records["freshdesk Ticket"] == 40
        text = demo.banner(info, "http://127.0.0.1:8000")
        assert info.api_key in text and all(d.account_token in text for d in info.desks)
        assert "curl" in text and "Merge(base_url=" in text
        with TestClient(create_app(settings)) as client:
            for desk in info.desks:
                page = client.get(
                    f"{API_PREFIX}/tickets?page_size=100",
                    headers={
                        "Authorization": f"Bearer {info.api_key}",
                        "X-Account-Token": desk.account_token,
                    },
                )
                assert page.status_code == 200, page.text
                assert len(page.json()["results"]) == 40
    finally:
        info.stop()
    assert all(e.process.poll() is not None for e in info.emulators)

    again = demo.prepare(settings, tickets=5, quiet=True)  # same key, relinked with the same tokens
    try:
        assert again.api_key == info.api_key
        assert {d.account_token for d in again.desks} == {d.account_token for d in info.desks}
    finally:
        again.stop()
