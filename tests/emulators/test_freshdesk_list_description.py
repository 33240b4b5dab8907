"""``GET /api/v2/tickets?include=description`` embeds the description as Freshdesk does: both
``description`` (HTML) and ``description_text`` (plain). The emulator used to keep only the HTML one, so
the connector fell back to HTML for the common ``description`` and shared tickets carried ``<div>`` tags
into the partner's plain-text comment body."""

from __future__ import annotations

import httpx


async def test_list_include_description_has_both_forms(fd: httpx.AsyncClient) -> None:
    r = await fd.post(
        "/api/v2/tickets",
        json={
            "subject": "S",
            "description": "It smokes.",
            "email": "c@example.com",
            "status": 2,
            "priority": 1,
        },
    )
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    listed = await fd.get("/api/v2/tickets?updated_since=2000-01-01T00:00:00Z&include=description")
    (row,) = [t for t in listed.json() if t["id"] == tid]
    assert (row["description"], row["description_text"]) == ("<div>It smokes.</div>", "It smokes.")
    plain = await fd.get("/api/v2/tickets?updated_since=2000-01-01T00:00:00Z")
    (row,) = [t for t in plain.json() if t["id"] == tid]
    assert "description" not in row and "description_text" not in row
