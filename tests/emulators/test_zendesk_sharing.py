"""The Zendesk emulator's Ticket Sharing: emitted bytes vs the gem captures, captures replayed, e2e."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from emulators.zendesk.app import create_app as create_zendesk
from emulators.zendesk.config import ZendeskConfig
from tests import fakes
from tests.app import test_sharing_e2e as e2e
from tests.app.conftest import desk_url
from tests.support.shared import FIXTURES

CAPTURES = FIXTURES / "ticket_sharing" / "ruby3.1-faraday1.1"
ZD_AUTH = httpx.BasicAuth("admin@acme.test/token", "zd-api-token")
GEM_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def protocol_path(target: str) -> str:
    return "/" + target.split("/", 3)[3]  # drop the recording prefix /cNNN/label


class Recorder:
    """The emulator's outbound client: records every request and answers ``status``."""

    def __init__(self, status: int = 201) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.client = httpx.Client(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status if request.method == "POST" else 200)


def kind(value: Any) -> str:
    return type(value).__name__


def assert_like(sent: Any, recorded: Any, path: str = "$") -> None:
    """Same keys in the same order, same JSON types (null allowed where the recording had a value)."""
    if isinstance(recorded, dict):
        assert isinstance(sent, dict), path
        assert list(sent) == list(recorded), path
        for key in recorded:
            if sent[key] is not None and recorded[key] is not None:
                assert_like(sent[key], recorded[key], f"{path}.{key}")
    elif isinstance(recorded, list) and recorded:
        assert isinstance(sent, list), path
        for item in sent:
            assert_like(item, recorded[0], f"{path}[]")
    elif recorded is not None and sent is not None:
        assert kind(sent) == kind(recorded), path


def assert_headers(request: httpx.Request, recorded: dict[str, Any]) -> None:
    wanted = {k.lower() for k, _ in recorded["headers"]} - {"user-agent", "accept-encoding", "host"}
    got = {k.lower() for k in request.headers} - {"user-agent", "accept-encoding", "host", "connection"}
    assert got == wanted
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert "x-ticket-sharing-version" not in request.headers


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def zd(recorder: Recorder) -> Any:
    app = create_zendesk(ZendeskConfig(tickets=30, seed=7), sharing_client=recorder.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://acme.zendesk.com", auth=ZD_AUTH
    ) as client:
        yield client


async def _new_ticket(zd: httpx.AsyncClient) -> int:
    r = await zd.post(
        "/api/v2/tickets.json",
        json={"ticket": {"subject": "Printer on fire", "comment": {"body": "Help </script> café"}}},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["ticket"]["id"])


async def _accepted_outbound(zd: httpx.AsyncClient, recorder: Recorder) -> dict[str, Any]:
    r = await zd.post(
        "/api/v2/sharing_agreements.json",
        json={"sharing_agreement": {"remote_url": "http://partner.example.org/sharing", "sync_tags": True}},
    )
    assert r.status_code == 201, r.text
    invite: dict[str, Any] = json.loads(recorder.requests[-1].content)
    token = f"{invite['uuid']}:{invite['access_key']}"
    accept = {**invite, "status": "accepted", "name": "Partner"}
    r = await zd.put(
        f"/sharing/agreements/{invite['uuid']}",
        content=json.dumps(accept),
        headers={"X-Ticket-Sharing-Token": token},
    )
    assert r.status_code == 200, r.text
    return invite


async def test_invite_matches_the_gem(zd: httpx.AsyncClient, recorder: Recorder) -> None:
    r = await zd.post(
        "/api/v2/sharing_agreements",
        json={"sharing_agreement": {"remote_url": "http://partner.example.org/sharing/", "name": "Acme"}},
    )
    assert r.status_code == 201
    view = r.json()["sharing_agreement"]
    assert set(view) == {
        "id", "name", "partner_name", "remote_subdomain", "status", "type", "created_at", "updated_at", "url",
    }  # fmt: skip
    assert (view["type"], view["status"], view["remote_subdomain"]) == ("outbound", "pending", "partner")
    (sent,) = recorder.requests
    recorded = capture("001-01-invite-POST")
    assert sent.method == "POST"
    body = json.loads(sent.content)
    assert sent.url.path == f"/sharing/agreements/{body['uuid']}"
    assert_headers(sent, recorded)
    assert "x-ticket-sharing-token" not in sent.headers
    assert_like(body, recorded["body_json"])
    assert body["status"] == "pending" and HEX40.match(body["uuid"]) and HEX40.match(body["access_key"])
    assert body["sender_url"] == "https://acme.zendesk.com/sharing"
    assert body["receiver_url"] == "http://partner.example.org/sharing"
    assert b": " not in sent.content and b", " not in sent.content  # compact, like JSON.dump
    listed = (await zd.get("/api/v2/sharing_agreements.json")).json()["sharing_agreements"]
    assert [a["id"] for a in listed] == [view["id"]]


async def test_failed_invite_is_recorded_locally(recorder: Recorder, zd: httpx.AsyncClient) -> None:
    recorder.status = 500
    r = await zd.post(
        "/api/v2/sharing_agreements", json={"sharing_agreement": {"remote_url": "http://x.test/s"}}
    )
    assert r.json()["sharing_agreement"]["status"] == "failed"
    recorder.client = httpx.Client(transport=httpx.MockTransport(_refuse_connection))
    zd_app: Any = zd._transport.app  # type: ignore[attr-defined]
    zd_app.state.desk.sharing.client = recorder.client
    r = await zd.post(
        "/api/v2/sharing_agreements", json={"sharing_agreement": {"remote_url": "http://y.test/s"}}
    )
    assert r.status_code == 201 and r.json()["sharing_agreement"]["status"] == "failed"
    bad = await zd.post("/api/v2/sharing_agreements", json={"sharing_agreement": {"remote_url": "nope"}})
    assert bad.status_code == 422


def _refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


async def test_share_update_and_status_match_the_gem(zd: httpx.AsyncClient, recorder: Recorder) -> None:
    invite = await _accepted_outbound(zd, recorder)
    tid = await _new_ticket(zd)
    before = (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]
    assert before["sharing_agreement_ids"] == []
    r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"sharing_agreement_ids": [1]}})
    assert r.status_code == 200, r.text
    # The ticket now lists the agreement it is shared on, in the response and when read back.
    assert r.json()["ticket"]["sharing_agreement_ids"] == [1]
    after = (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]
    assert after["sharing_agreement_ids"] == [1] and after["updated_at"] == r.json()["ticket"]["updated_at"]
    share = recorder.requests[-1]
    recorded = capture("006-06-share-POST")
    assert share.method == "POST"
    assert_headers(share, recorded)
    assert share.headers["x-ticket-sharing-token"] == f"{invite['uuid']}:{invite['access_key']}"
    body = json.loads(share.content)
    assert share.url.path == f"/sharing/tickets/{body['uuid']}" and HEX40.match(body["uuid"])
    assert_like(body, recorded["body_json"])
    assert GEM_TIME.match(body["requested_at"])
    (comment,) = body["comments"]
    assert_like(comment, recorded["body_json"]["comments"][0])
    assert GEM_TIME.match(comment["authored_at"]) and HEX40.match(comment["uuid"])
    assert comment["body"] == "Help </script> café"
    assert "café".encode() in share.content and b"<\\/script>" not in share.content
    assert body["original_id"] == tid and body["requester"]["role"] in ("agent", "user")

    r = await zd.put(
        f"/api/v2/tickets/{tid}.json",
        json={"ticket": {"status": "pending", "comment": {"body": "Any news?"}}},
    )
    assert r.status_code == 200, r.text
    update = recorder.requests[-1]
    recorded = capture("007-07-update-PUT")
    assert update.method == "PUT" and update.url.path == f"/sharing/tickets/{body['uuid']}"
    assert_headers(update, recorded)
    sent = json.loads(update.content)
    assert_like(sent, recorded["body_json"])
    # The gem's update: only what changed, everything else null.
    assert [k for k, v in sent.items() if v is None] == [
        k for k, v in recorded["body_json"].items() if v is None
    ]
    assert sent["status"] == "pending" and [c["body"] for c in sent["comments"]] == ["Any news?"]

    count = len(recorder.requests)
    await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"priority": "high"}})
    assert len(recorder.requests) == count  # nothing the partner syncs changed


async def test_accept_and_deactivate_inbound_match_the_gem(zd: httpx.AsyncClient, recorder: Recorder) -> None:
    invite = capture("001-01-invite-POST")
    r = await zd.post(
        protocol_path(invite["target"]), content=invite["body_text"], headers=dict(invite["headers"])
    )
    assert r.status_code == 201
    (view,) = (await zd.get("/api/v2/sharing_agreements")).json()["sharing_agreements"]
    assert (view["type"], view["status"], view["remote_subdomain"]) == ("inbound", "pending", "sender")
    r = await zd.put(
        f"/api/v2/sharing_agreements/{view['id']}", json={"sharing_agreement": {"status": "accepted"}}
    )
    assert r.status_code == 200 and r.json()["sharing_agreement"]["status"] == "accepted"
    sent, recorded = recorder.requests[-1], capture("003-03-accept-PUT")
    assert sent.method == "PUT" and str(
        sent.url
    ) == "http://sender.example.com/sharing/agreements/" + view_uuid(invite)
    assert_headers(sent, recorded)
    assert sent.headers["x-ticket-sharing-token"] == dict(recorded["headers"])["X-Ticket-Sharing-Token"]
    body = json.loads(sent.content)
    assert_like(body, recorded["body_json"])
    assert body["status"] == "accepted" and body["access_key"] == invite["body_json"]["access_key"]
    # The accept names its sender, the receiver (capture 003 "Receiver Company" answers 001's "Sender
    # Company"): here the emulator's own account, not the inviter whose name the agreement stores.
    assert (invite["body_json"]["name"], recorded["body_json"]["name"]) == (
        "Sender Company",
        "Receiver Company",
    )
    assert body["name"] == "acme"
    assert body["current_actor"]["role"] == recorded["body_json"]["current_actor"]["role"] == "agent"
    assert r.json()["sharing_agreement"]["name"] == "Sender Company"  # the partner's, locally
    again = await zd.put(
        f"/api/v2/sharing_agreements/{view['id']}", json={"sharing_agreement": {"status": "declined"}}
    )
    assert again.status_code == 422
    r = await zd.put(
        f"/api/v2/sharing_agreements/{view['id']}", json={"sharing_agreement": {"status": "inactive"}}
    )
    assert r.status_code == 200
    assert_like(json.loads(recorder.requests[-1].content), capture("005-05-deactivate-PUT")["body_json"])
    deactivate = json.loads(recorder.requests[-1].content)
    assert (deactivate["status"], deactivate["name"]) == ("inactive", "acme")
    missing = await zd.get("/api/v2/sharing_agreements/99")
    assert missing.status_code == 404


def view_uuid(invite: dict[str, Any]) -> str:
    return str(invite["body_json"]["uuid"])


async def _replay(zd: httpx.AsyncClient, name: str, **changes: Any) -> httpx.Response:
    c = capture(name)
    headers = {k: v for k, v in c["headers"] if k.lower() not in ("host", "content-length")}
    headers.update(changes.pop("headers", {}))
    return await zd.request(
        c["method"],
        protocol_path(c["target"]),
        content=changes.get("content", c["body_text"]),
        headers=headers,
    )


async def test_replayed_captures(zd: httpx.AsyncClient, recorder: Recorder) -> None:
    token = dict(capture("006-06-share-POST")["headers"])["X-Ticket-Sharing-Token"]
    assert (await _replay(zd, "006-06-share-POST")).status_code == 403  # unknown agreement
    assert (await _replay(zd, "001-01-invite-POST")).status_code == 201
    assert (await _replay(zd, "001-01-invite-POST")).status_code == 422  # duplicate create
    assert (await _replay(zd, "006-06-share-POST")).status_code == 403  # still pending
    unauth = await _replay(zd, "006-06-share-POST", headers={"X-Ticket-Sharing-Token": ""})
    assert unauth.status_code == 401
    wrong = await _replay(zd, "006-06-share-POST", headers={"X-Ticket-Sharing-Token": token[:41] + "0" * 40})
    assert wrong.status_code == 403
    r = await zd.put("/api/v2/sharing_agreements/1", json={"sharing_agreement": {"status": "accepted"}})
    assert r.status_code == 200
    assert (await _replay(zd, "007-07-update-PUT")).status_code == 404  # not shared yet
    assert (await _replay(zd, "006-06-share-POST")).status_code == 201
    assert (await _replay(zd, "006-06-share-POST")).status_code == 422  # duplicate share
    mismatch = json.loads(capture("006-06-share-POST")["body_text"])
    mismatch["uuid"] = "f" * 40
    assert (await _replay(zd, "006-06-share-POST", content=json.dumps(mismatch))).status_code == 422
    tickets = (await zd.get("/api/v2/tickets.json?sort_by=id&per_page=100")).json()
    (tid,) = [t["id"] for t in tickets["tickets"] if t["subject"] == "Trial expiry time mismatch"]
    comments = (await zd.get(f"/api/v2/tickets/{tid}/comments.json")).json()["comments"]
    assert [c["public"] for c in comments] == [True, False]
    assert comments[0]["body"].startswith("Hello, I need help.")
    assert (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]["status"] == "open"

    assert (await _replay(zd, "007-07-update-PUT")).status_code == 200
    assert (await _replay(zd, "007-07-update-PUT")).status_code == 200  # same comment uuid: deduplicated
    ticket = (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]
    comments = (await zd.get(f"/api/v2/tickets/{tid}/comments.json")).json()["comments"]
    assert (
        ticket["status"] == "pending" and ticket["subject"] == "Trial expiry time mismatch"
    )  # null = unchanged
    assert [c["body"] for c in comments][-1] == "Any news?" and len(comments) == 3

    # The receiving side's own comment goes back to the sender, with the same token.
    r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"comment": {"body": "Looking."}}})
    assert r.status_code == 200, r.text
    back = recorder.requests[-1]
    ticket_uuid = capture("006-06-share-POST")["body_json"]["uuid"]
    assert (back.method, str(back.url)) == ("PUT", f"http://sender.example.com/sharing/tickets/{ticket_uuid}")
    assert back.headers["x-ticket-sharing-token"] == token
    sent = json.loads(back.content)
    assert_like(sent, capture("007-07-update-PUT")["body_json"])
    assert sent["status"] is None and [c["body"] for c in sent["comments"]] == ["Looking."]

    assert (await _replay(zd, "008-08-unshare-DELETE")).status_code == 200
    assert (await _replay(zd, "007-07-update-PUT")).status_code == 410  # orphan
    assert (await zd.get(f"/api/v2/tickets/{tid}.json")).status_code == 200  # kept
    assert (await _replay(zd, "005-05-deactivate-PUT")).status_code == 200
    (view,) = (await zd.get("/api/v2/sharing_agreements")).json()["sharing_agreements"]
    assert view["status"] == "inactive"
    assert (await _replay(zd, "006-06-share-POST")).status_code == 403  # inactive agreement


async def _received_ticket(zd: httpx.AsyncClient, share: str | None = None, **terms: Any) -> dict[str, Any]:
    """Replay the captured invite (its terms changed by ``terms``), accept it, replay the captured share
    (or ``share``); the ticket the emulator made of it."""
    invite = json.loads(capture("001-01-invite-POST")["body_text"])
    assert (
        await _replay(zd, "001-01-invite-POST", content=json.dumps({**invite, **terms}))
    ).status_code == 201
    r = await zd.put("/api/v2/sharing_agreements/1", json={"sharing_agreement": {"status": "accepted"}})
    assert r.status_code == 200, r.text
    r = await _replay(zd, "006-06-share-POST", **({} if share is None else {"content": share}))
    assert r.status_code == 201, r.text
    app: Any = zd._transport.app  # type: ignore[attr-defined]
    (shared,) = app.state.desk.sharing.tickets.values()
    return (await zd.get(f"/api/v2/tickets/{shared['ticket_id']}.json")).json()["ticket"]  # type: ignore[no-any-return]


async def _tags(zd: httpx.AsyncClient, tid: int) -> list[str]:
    tags: list[str] = (await zd.get(f"/api/v2/tickets/{tid}.json")).json()["ticket"]["tags"]
    return tags


async def test_received_tags_follow_sync_tags(zd: httpx.AsyncClient) -> None:
    """The captured invite syncs tags: the shared ticket (006) arrives with its tags; an update whose
    ``tags`` is null (007) leaves them; one with a list replaces them, ``[]`` clears them."""
    assert capture("001-01-invite-POST")["body_json"]["sync_tags"] is True
    ticket = await _received_ticket(zd)
    assert ticket["tags"] == capture("006-06-share-POST")["body_json"]["tags"] == ["billing", "vip"]
    tid = ticket["id"]
    update = capture("007-07-update-PUT")
    assert update["body_json"]["tags"] is None
    assert (await _replay(zd, "007-07-update-PUT")).status_code == 200
    assert await _tags(zd, tid) == ["billing", "vip"]  # null = unchanged
    changed = {**update["body_json"], "comments": [], "status": None, "tags": ["vip", "escalated", "vip"]}
    assert (await _replay(zd, "007-07-update-PUT", content=json.dumps(changed))).status_code == 200
    assert await _tags(zd, tid) == ["vip", "escalated"]
    cleared = {**changed, "tags": []}
    assert (await _replay(zd, "007-07-update-PUT", content=json.dumps(cleared))).status_code == 200
    assert await _tags(zd, tid) == []


async def test_received_tags_ignored_without_sync_tags(zd: httpx.AsyncClient) -> None:
    ticket = await _received_ticket(zd, sync_tags=False)
    assert ticket["tags"] == []
    update = {**capture("007-07-update-PUT")["body_json"], "tags": ["vip"]}
    assert (await _replay(zd, "007-07-update-PUT", content=json.dumps(update))).status_code == 200
    assert await _tags(zd, ticket["id"]) == []


async def test_received_tags_null_on_share(zd: httpx.AsyncClient) -> None:
    share = {**capture("006-06-share-POST")["body_json"], "tags": None}
    ticket = await _received_ticket(zd, share=json.dumps(share))
    assert ticket["tags"] == []


# -- end to end: the Zendesk emulator (desk A) and a deskbridge-linked fakedesk (desk B) -------------

bridge, server, settings, port = e2e.bridge, e2e.server, e2e.settings, e2e.port


class Emulator:
    """The Zendesk emulator on a loopback port, sending to partners over the network."""

    def __init__(self) -> None:
        self.port = e2e._free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sender = httpx.Client(timeout=30)
        app = create_zendesk(
            ZendeskConfig(tickets=30, seed=7, base_url=self.base), sharing_client=self.sender
        )
        self.sharing = app.state.desk.sharing
        self.srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.srv.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.srv.started:
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.srv.should_exit = True
        self.thread.join(timeout=10)
        self.sender.close()


@pytest.fixture
def zendesk() -> Iterator[Emulator]:
    emulator = Emulator()
    yield emulator
    emulator.stop()


async def share_printer_ticket(zd: httpx.AsyncClient, agreement_id: int) -> int:
    """Zendesk agent: a ticket with the customer's message and a private comment, shared; its id."""
    r = await zd.post(
        "/api/v2/tickets.json",
        json={"ticket": {"subject": "Printer on fire", "comment": {"body": "It smokes."}, "tags": ["hw"]}},
    )
    assert r.status_code == 201, r.text
    tid: int = r.json()["ticket"]["id"]
    r = await zd.put(
        f"/api/v2/tickets/{tid}.json",
        json={"ticket": {"comment": {"body": "Did you unplug it?", "public": False}}},
    )
    assert r.status_code == 200, r.text
    r = await zd.put(
        f"/api/v2/tickets/{tid}.json", json={"ticket": {"sharing_agreement_ids": [agreement_id]}}
    )
    assert r.status_code == 200, r.text
    return tid


async def test_zendesk_emulator_shares_with_deskbridge(bridge: e2e.Deskbridge, zendesk: Emulator) -> None:
    b = await bridge.link("desk-b")
    b_url = (await bridge.api("GET", "/sharing/url", b["account_token"])).json()["url"]
    async with httpx.AsyncClient(base_url=zendesk.base, auth=ZD_AUTH, timeout=30) as zd:
        # Zendesk (A) invites B; B accepts through deskbridge's API; the accept reaches Zendesk.
        r = await zd.post(
            "/api/v2/sharing_agreements.json",
            json={"sharing_agreement": {"remote_url": b_url, "name": "Acme Zendesk", "sync_tags": True}},
        )
        assert r.status_code == 201 and r.json()["sharing_agreement"]["status"] == "pending", r.text
        agreement_id = r.json()["sharing_agreement"]["id"]
        (b_agreement,) = await e2e.agreements(bridge, b["account_token"])
        assert (b_agreement["direction"], b_agreement["status"]) == ("in", "pending")
        r = await bridge.api("POST", f"/sharing/agreements/{b_agreement['id']}/accept", b["account_token"])
        assert r.status_code == 200, r.text
        await bridge.deliver()
        view = (await zd.get(f"/api/v2/sharing_agreements/{agreement_id}.json")).json()["sharing_agreement"]
        assert view["status"] == "accepted"

        # A shares a ticket with its comments; it appears in B.
        tid = await share_printer_ticket(zd, agreement_id)
        await bridge.deliver()
        desk_b = fakes.desk(desk_url("desk-b"))
        (b_raw,) = desk_b.tickets.values()
        assert b_raw["title"] == "Printer on fire" and b_raw["state"] == "open"
        joined = "\n".join([b_raw["body"], *e2e.texts("desk-b")])
        assert "It smokes." in joined and "Did you unplug it?" in joined

        # A comment on B reaches A (sync -> outbox -> PUT to the emulator).
        desk_b.put_comment(
            {"id": "B1", "ticket_id": b_raw["id"], "text": "Partner here: on it.", "internal": True}
        )
        await bridge.sync(b["id"])
        await bridge.deliver()
        comments = (await zd.get(f"/api/v2/tickets/{tid}/comments.json")).json()["comments"]
        assert comments[-1]["body"].endswith("Partner here: on it.") and comments[-1]["public"] is False
        count = len(comments)

        # A's status change reaches B (and B's comment was not echoed back).
        r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"status": "pending"}})
        assert r.status_code == 200, r.text
        await bridge.deliver()
        assert desk_b.tickets[b_raw["id"]]["state"] == "waiting"
        await bridge.sync(b["id"])
        await bridge.deliver()
        assert len((await zd.get(f"/api/v2/tickets/{tid}/comments.json")).json()["comments"]) == count

        # A deactivates: B hears it; further updates are refused both ways.
        r = await zd.put(
            f"/api/v2/sharing_agreements/{agreement_id}.json",
            json={"sharing_agreement": {"status": "inactive"}},
        )
        assert r.status_code == 200 and r.json()["sharing_agreement"]["status"] == "inactive"
        await bridge.deliver()
        (b_agreement,) = await e2e.agreements(bridge, b["account_token"])
        assert b_agreement["status"] == "inactive"
        sent = len(zendesk.sharing.sent)
        r = await zd.put(f"/api/v2/tickets/{tid}.json", json={"ticket": {"comment": {"body": "Anyone?"}}})
        assert r.status_code == 200 and len(zendesk.sharing.sent) == sent  # nothing goes out any more
        access = await e2e._access_key(bridge, b["id"])
        token = {"X-Ticket-Sharing-Token": f"{b_agreement['uuid']}:{access}"}
        ticket_uuid = next(iter(zendesk.sharing.tickets))
        update = json.dumps({"uuid": ticket_uuid, "status": "open"})
        r = await bridge.http.put(f"{b_url}/tickets/{ticket_uuid}", content=update, headers=token)
        assert r.status_code == 403
        r = await zd.put(f"/sharing/tickets/{ticket_uuid}", content=update, headers=token)
        assert r.status_code == 403
