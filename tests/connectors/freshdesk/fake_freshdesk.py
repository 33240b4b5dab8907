"""A small Freshdesk stand-in on ``httpx.MockTransport``, serving the recorded fixture bodies.

Used because the Freshdesk emulator (``emulators/freshdesk``) had not landed when these tests were
written. It reproduces the documented behaviour the connector depends on: Basic auth with the API key,
bare-array lists paged by ``Link: <...>; rel="next"``, the 30-day default window of the ticket list,
``updated_since``/``order_by``/``order_type``, a page-depth cap (400 past it), and injected faults.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.shared import FIXTURES as SHARED_FIXTURES

FIXTURES = SHARED_FIXTURES / "vendors" / "freshdesk"
KEY = "good-key"
NOW = datetime(2024, 10, 25, tzinfo=UTC)


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class FakeFreshdesk:
    page_size: int = 2
    max_page: int = 300
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    faults: list[httpx.Response] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    @classmethod
    def seeded(cls, **kwargs: Any) -> FakeFreshdesk:
        desk = cls(**kwargs)
        old = load("pyfreshdesk_ticket_1.json")  # 2016: outside the 30-day default window
        for raw in [old, *load("nango_GET_api_v2_tickets.json")]:
            desk.tickets[raw["id"] + 100 if raw is not old else raw["id"]] = raw
        for tid, raw in list(desk.tickets.items()):
            raw["id"] = tid
        desk.conversations[1] = load("pyfreshdesk_conversations.json")
        desk.conversations[1][1]["attachments"] = old["attachments"]
        return desk

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != "Basic " + base64.b64encode(f"{KEY}:X".encode()).decode():
            return httpx.Response(
                401, json={"code": "invalid_credentials", "message": "You have to be logged in"}
            )
        if self.faults:
            return self.faults.pop(0)
        path, method = request.url.path, request.method
        parts = path.strip("/").split("/")[2:]  # after api/v2
        if method == "GET" and parts == ["tickets"]:
            return self._tickets(request)
        if method == "POST" and parts == ["tickets"]:
            return self.create(request)
        if method == "GET" and parts == ["agents", "me"]:
            return httpx.Response(200, json=load("pyfreshdesk_agent_1.json"))
        if method == "GET" and len(parts) == 1:
            name = {
                "contacts": "nango_GET_api_v2_contacts.json",
                "agents": "pyfreshdesk_agents.json",
                "companies": "pyfreshdesk_companies.json",
                "groups": "pyfreshdesk_groups.json",
            }[parts[0]]
            return self._page(request, load(name))
        if parts[0] == "tickets" and len(parts) >= 2:
            return self._ticket(request, int(parts[1]), parts[2:])
        return httpx.Response(404, json={"code": "not_found"})

    def _page(self, request: httpx.Request, items: list[Any]) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        if page > self.max_page:
            return httpx.Response(400, json={"errors": [{"field": "page", "code": "invalid_value"}]})
        chunk = items[(page - 1) * self.page_size : page * self.page_size]
        headers = {"x-ratelimit-total": "200", "x-ratelimit-remaining": "150"}
        if page * self.page_size < len(items):
            nxt = request.url.copy_set_param("page", str(page + 1))
            headers["link"] = f'<{nxt}>; rel="next"'
        return httpx.Response(200, json=chunk, headers=headers)

    def _tickets(self, request: httpx.Request) -> httpx.Response:
        since = request.url.params.get("updated_since")
        items = list(self.tickets.values())
        if since is None:  # the documented default: tickets created in the last 30 days only
            items = [t for t in items if _when(t["created_at"]) >= NOW - timedelta(days=30)]
        else:
            items = [t for t in items if _when(t["updated_at"]) >= _when(since)]
        items.sort(key=lambda t: (t["updated_at"], t["id"]))
        return self._page(request, items)

    def _ticket(self, request: httpx.Request, tid: int, rest: list[str]) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        if tid not in self.tickets:
            return httpx.Response(404, json={"code": "not_found"})
        if request.method == "PUT" and not rest:
            self.tickets[tid].update(body, updated_at="2024-10-24T00:00:00Z")
            return httpx.Response(200, json=self.tickets[tid])
        if request.method == "GET" and not rest:
            return httpx.Response(200, json=self.tickets[tid])
        if request.method == "GET" and rest == ["conversations"]:
            return self._page(request, self.conversations.get(tid, []))
        if request.method == "POST" and rest in (["reply"], ["notes"]):
            note = rest == ["notes"]
            conversation = {
                "id": next(self.ids),
                "ticket_id": tid,
                "body": body["body"],
                "body_text": body["body"],
                "private": bool(body.get("private")) if note else False,
                "incoming": bool(body.get("incoming")),
                "user_id": body.get("user_id", 1),
                "source": 2 if note else 0,
                "created_at": "2024-10-24T00:00:00Z",
                "updated_at": "2024-10-24T00:00:00Z",
                "attachments": [],
            }
            self.conversations.setdefault(tid, []).append(conversation)
            return httpx.Response(201, json=conversation)
        return httpx.Response(405)

    def create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        missing = [f for f in ("subject", "description", "status", "priority") if f not in body]
        if missing or not ({"requester_id", "email"} & set(body)):
            return httpx.Response(
                400, json={"errors": [{"field": f, "code": "missing_field"} for f in missing]}
            )
        tid = next(self.ids)
        stamp = "2024-10-24T00:00:00Z"
        self.tickets[tid] = {
            **body,
            "id": tid,
            "created_at": stamp,
            "updated_at": stamp,
            "tags": body.get("tags", []),
        }
        return httpx.Response(201, json=self.tickets[tid])
