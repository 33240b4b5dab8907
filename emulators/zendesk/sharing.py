"""Zendesk's side of Ticket Sharing: the local ``sharing_agreements`` admin API and the protocol.

Admin API (Basic/OAuth like the rest of ``/api/v2``): ``GET/POST /api/v2/sharing_agreements``,
``GET/PUT /api/v2/sharing_agreements/{id}`` (only ``status`` is updatable). A POST with
``remote_url`` (the partner's sharing base URL) invites the partner; a PUT of ``status`` on an
inbound agreement accepts/declines it, any ``inactive`` deactivates it; each is sent to the partner.
A ticket is shared with ``PUT /api/v2/tickets/{id}`` carrying ``sharing_agreement_ids: [id]``;
later comments and status changes on a shared ticket are pushed to the partner. A ticket received from
a partner keeps the partner's tags (on create and on later updates) when the agreement syncs tags.

Protocol (no account auth, the ``X-Ticket-Sharing-Token`` instead), under ``{base_url}/sharing``:
``POST/PUT /sharing/agreements/{uuid}``, ``POST/PUT/DELETE /sharing/tickets/{uuid}``.
Outbound requests are byte-compatible with the ``zendesk/ticket_sharing`` gem: its field order, every
field present (null when unset), ``%Y-%m-%d %H:%M:%S %z`` times, no version header, 40-hex uuids.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath, JSONBody

from emulators.common.clock import iso
from emulators.common.http import json_response
from emulators.zendesk.desk import ApiError, ZendeskDesk, invalid, not_found

Req = Request[Any, Any, Any]
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
AGREEMENT_FIELDS = (
    "receiver_url", "sender_url", "status", "uuid", "access_key", "name", "current_actor",
    "sync_tags", "sync_custom_fields", "allows_public_comments",
)  # fmt: skip
TICKET_FIELDS = (
    "uuid", "subject", "requested_at", "status", "requester", "comments", "current_actor", "tags",
    "original_id", "custom_fields", "custom_status",
)  # fmt: skip
COMMENT_FIELDS = (
    "uuid",
    "author",
    "body",
    "html_body",
    "authored_at",
    "public",
    "attachments",
    "custom_fields",
)


def dump(fields: tuple[str, ...], values: dict[str, Any]) -> bytes:
    """The gem's ``JSON.dump(as_json)``: declared order, every field, compact, raw UTF-8, ``/`` unescaped."""
    return json.dumps({k: values.get(k) for k in fields}, separators=(",", ":"), ensure_ascii=False).encode()


def gem_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S %z")


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - an id, as the protocol defines it


def _refuse(status: int, message: str) -> Response[bytes]:
    return json_response({"error": message}, status)


class Sharing:
    """Agreements and shared tickets of one emulated account; ``client`` sends to partners."""

    def __init__(self, desk: ZendeskDesk, base_url: str, client: httpx.Client | None = None) -> None:
        self.desk = desk
        self.url = f"{base_url}/sharing"
        self.client = client or httpx.Client(timeout=30)
        self.agreements: dict[int, dict[str, Any]] = {}  # local id -> state (wire fields + local ones)
        self.tickets: dict[str, dict[str, Any]] = {}  # ticket uuid -> {ticket_id, agreement, comments, ...}
        self.sent: list[httpx.Response] = []

    # -- shapes --------------------------------------------------------------------------------
    def api_view(self, a: dict[str, Any]) -> dict[str, Any]:
        remote = a["sender_url"] if a["type"] == "inbound" else a["receiver_url"]
        return {
            "id": a["id"],
            "name": a["name"],
            "partner_name": None,
            "remote_subdomain": httpx.URL(remote or "http://x").host.split(".")[0],
            "status": a["status"],
            "type": a["type"],
            "created_at": iso(a["created"]),
            "updated_at": iso(a["updated"]),
            "url": f"{self.desk.config.base_url}/api/v2/sharing_agreements/{a['id']}.json",
        }

    def actor(self, user_id: int) -> dict[str, Any]:
        user = self.desk.users.get(user_id) or {}
        role = "agent" if user.get("role") in ("agent", "admin") else "user"
        return {"uuid": sha1(f"{self.url}/users/{user_id}"), "name": user.get("name"), "role": role}

    # -- sending -------------------------------------------------------------------------------
    def _send(self, method: str, url: str, body: bytes, token: str | None) -> int:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token is not None:
            headers["X-Ticket-Sharing-Token"] = token
        try:
            reply = self.client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError:
            return 0  # unreachable partner: the caller records the failure (an invite becomes "failed")
        self.sent.append(reply)
        return reply.status_code

    @property
    def own_name(self) -> str:
        """The account's name on the wire (its subdomain, also an invite's default name)."""
        return self.desk.config.subdomain

    def _send_agreement(self, a: dict[str, Any], method: str, actor: int) -> int:
        """``name`` is the name of the party sending the payload (README-2011: the invite carries "Sender
        Company Name", the accept "Receiver Company Name"; capture 003 "Receiver Company"). An inbound
        agreement stores the inviter's name, so here, as the receiver, the account sends its own."""
        name = a["name"] if a["type"] == "outbound" else self.own_name
        wire = {**a, "name": name, "current_actor": self.actor(actor)}
        partner = a["receiver_url"] if a["type"] == "outbound" else a["sender_url"]
        token = None if method == "POST" else f"{a['uuid']}:{a['access_key']}"
        return self._send(method, f"{partner}/agreements/{a['uuid']}", dump(AGREEMENT_FIELDS, wire), token)

    def _new(self, wire: dict[str, Any], kind: str) -> dict[str, Any]:
        now = self.desk.clock.now()
        local_id = len(self.agreements) + 1
        a = {**{k: wire.get(k) for k in AGREEMENT_FIELDS}, "id": local_id, "type": kind}
        a.update(created=now, updated=now)
        self.agreements[local_id] = a
        return a

    def invite(self, body: dict[str, Any], actor: int) -> dict[str, Any]:
        remote = body.get("remote_url")
        if not isinstance(remote, str) or not remote.startswith(("http://", "https://")):
            raise invalid("remote_url", "Remote url: is not a sharing URL")
        uuid = sha1(f"{self.url}/agreements/{len(self.agreements) + 1}/{secrets.token_hex(8)}")
        a = self._new(
            {
                "receiver_url": remote.rstrip("/"),
                "sender_url": self.url,
                "status": "pending",
                "uuid": uuid,
                "access_key": secrets.token_hex(20),
                "name": body.get("name") or self.own_name,
                "sync_tags": bool(body.get("sync_tags", False)),
                "sync_custom_fields": bool(body.get("sync_custom_fields", False)),
                "allows_public_comments": bool(body.get("allows_public_comments", True)),
            },
            "outbound",
        )
        if not 200 <= self._send_agreement(a, "POST", actor) < 300:
            a["status"] = "failed"  # Zendesk records an undelivered invite locally; never on the wire
        return a

    def set_status(self, a: dict[str, Any], status: Any, actor: int) -> None:
        allowed = {"inbound": ("accepted", "declined", "inactive"), "outbound": ("inactive",)}[a["type"]]
        if status not in allowed or a["status"] == "inactive":
            raise invalid("status", f"Status: cannot change from {a['status']} to {status}")
        if a["status"] != "pending" and status != "inactive":
            raise invalid("status", f"Status: cannot change from {a['status']} to {status}")
        a["status"], a["updated"] = status, self.desk.clock.now()
        self._send_agreement(a, "PUT", actor)

    def _comment(self, row: dict[str, Any], tid: int) -> dict[str, Any]:
        return {
            "uuid": sha1(f"{self.url}/tickets/{tid}/comments/{row['id']}"),
            "author": self.actor(row["author_id"]),
            "body": row["body"],
            "html_body": row.get("html_body"),
            "authored_at": gem_time(_ts(row["created_at"])),
            "public": row["public"],
            "attachments": None,
            "custom_fields": None,
        }

    def _wire_comments(self, shared: dict[str, Any], tid: int) -> list[bytes]:
        out = []
        for row in self.desk.comments(tid) or []:
            uuid = shared["comment_ids"].get(row["id"])
            if uuid is None:  # written here, not yet sent
                comment = self._comment(row, tid)
                shared["comment_ids"][row["id"]] = comment["uuid"]
                out.append(dump(COMMENT_FIELDS, comment))
        return out

    def _ticket_body(self, values: dict[str, Any], comments: list[bytes]) -> bytes:
        body = dump(TICKET_FIELDS, {**values, "comments": []})
        return body.replace(b'"comments":[]', b'"comments":[' + b",".join(comments) + b"]", 1)

    def after_ticket_update(self, tid: int, body: dict[str, Any], row: dict[str, Any], actor: int) -> None:
        """Called by ``PUT /api/v2/tickets/{id}``: share, or push the change to the partner."""
        for agreement_id in body.get("sharing_agreement_ids") or []:
            a = self.agreements.get(int(agreement_id))
            if a is None or a["type"] != "outbound" or a["status"] != "accepted":
                raise invalid("sharing_agreement_ids", "Sharing agreement: is not an accepted outbound one")
            self.share(tid, a, actor)
        shared = next((t for t in self.tickets.values() if t["ticket_id"] == tid and not t["orphan"]), None)
        if shared is None or body.get("sharing_agreement_ids"):
            return
        a = shared["agreement"]
        if a["status"] != "accepted":
            return
        changed = "status" in body and body["status"] != shared["status"]
        comments = self._wire_comments(shared, tid)
        if not changed and not comments:
            return
        shared["status"] = row["status"]
        values = {"uuid": shared["uuid"], "status": row["status"] if changed else None}
        values["current_actor"] = self.actor(actor)
        self._send(
            "PUT",
            f"{self._partner(a)}/tickets/{shared['uuid']}",
            self._ticket_body(values, comments),
            _token(a),
        )

    def share(self, tid: int, a: dict[str, Any], actor: int) -> int:
        row = self.desk.tickets.get(tid)
        assert row is not None
        uuid = sha1(f"{self.url}/tickets/{tid}")
        shared = {"uuid": uuid, "ticket_id": tid, "agreement": a, "comment_ids": {}, "status": row["status"]}
        shared["orphan"] = False
        self.tickets[uuid] = shared
        # The ticket lists "the ids of the sharing agreements used for this ticket" (OpenAPI, read-only),
        # set by the update that shares it: that update's row (its response too), at its stamp.
        if a["id"] not in row["sharing_agreement_ids"]:
            row["sharing_agreement_ids"] = [*row["sharing_agreement_ids"], a["id"]]
            self.desk.tickets.put(tid, row, self.desk.tickets.stamp(tid))
        values = {
            "uuid": uuid,
            "subject": row["subject"],
            "requested_at": gem_time(_ts(row["created_at"])),
            "status": row["status"],
            "requester": self.actor(row["requester_id"]),
            "current_actor": self.actor(actor),
            "tags": row["tags"] if a["sync_tags"] else None,
            "original_id": tid,
        }
        body = self._ticket_body(values, self._wire_comments(shared, tid))
        return self._send("POST", f"{a['receiver_url']}/tickets/{uuid}", body, _token(a))

    @staticmethod
    def _partner(a: dict[str, Any]) -> str:
        return str(a["receiver_url"] if a["type"] == "outbound" else a["sender_url"])

    # -- receiving -----------------------------------------------------------------------------
    def _authorize(self, token: str | None, for_tickets: bool) -> dict[str, Any] | Response[bytes]:
        if not token:
            return Response(b"", status_code=401, headers={"WWW-Authenticate": "X-Ticket-Sharing"})
        uuid, _, key = token.partition(":")
        a = next((x for x in self.agreements.values() if x["uuid"] == uuid), None)
        if a is None or not hmac.compare_digest(str(a["access_key"]).encode(), key.encode()):
            return _refuse(403, "Invalid token")
        if for_tickets and a["status"] != "accepted":
            return _refuse(403, f"Agreement is {a['status']}")
        return a

    def receive_invite(self, uuid: str, wire: dict[str, Any]) -> Response[bytes]:
        if wire.get("uuid") != uuid or not wire.get("access_key") or not wire.get("sender_url"):
            return _refuse(422, "uuid, access_key and sender_url are required; uuid must match the URL")
        if wire.get("status") not in (None, "pending"):
            return _refuse(422, "status must be pending on creation")
        if any(x["uuid"] == uuid for x in self.agreements.values()):
            return _refuse(422, "Agreement already exists")
        self._new({**wire, "status": "pending"}, "inbound")
        return json_response(b"", 201)

    def receive_agreement_update(self, uuid: str, token: str | None, wire: dict[str, Any]) -> Response[bytes]:
        a = self._authorize(token, False)
        if isinstance(a, Response):
            return a
        if a["uuid"] != uuid:
            return _refuse(404, "Agreement not found")
        status = wire.get("status")
        if status is not None and status != a["status"]:
            ok = (
                a["type"] == "outbound" and a["status"] == "pending" and status in ("accepted", "declined")
            ) or (status == "inactive" and a["status"] != "inactive")
            if not ok:
                return _refuse(422, f"Cannot change from {a['status']} to {status}")
            a["status"] = status
        if a["type"] == "inbound":  # only the sender changes the terms
            for k in ("name", "sync_tags", "sync_custom_fields", "allows_public_comments"):
                if wire.get(k) is not None:
                    a[k] = wire[k]
        a["updated"] = self.desk.clock.now()
        return json_response(b"", 200)

    def receive_ticket(
        self, method: str, uuid: str, token: str | None, wire: dict[str, Any]
    ) -> Response[bytes]:
        a = self._authorize(token, True)
        if isinstance(a, Response):
            return a
        shared = self.tickets.get(uuid)
        if shared is not None and shared["agreement"] is not a:
            shared = None
        if method == "POST":
            if wire.get("uuid") != uuid:
                return _refuse(422, "uuid does not match the URL")
            if shared is not None:
                return _refuse(422, "Ticket already shared")
            return self._create_shared(uuid, a, wire)
        if shared is None:
            return _refuse(404, "Ticket not found")
        if shared["orphan"]:
            return _refuse(410, "Ticket is no longer shared")
        if method == "DELETE":
            if a["type"] != "inbound":  # only the sharing side unshares
                return _refuse(403, "Only the sender can unshare")
            shared["orphan"] = True
            return json_response(b"", 200)
        self._apply(shared, wire)
        return json_response(b"", 200)

    def _user_for(self, actor: Any) -> int:
        if not isinstance(actor, dict) or not actor.get("uuid"):
            return self.desk.admin_id
        email = f"{actor['uuid']}@sharing.invalid"  # a "foreign user", keyed by the actor uuid
        found = self.desk.user_by_email(email)
        if found is not None:
            return found
        user = self.desk.create_user({"name": actor.get("name") or "Partner user", "email": email})
        if self.desk._email_index is not None:
            self.desk._email_index[email] = user["id"]
        return int(user["id"])

    def _create_shared(self, uuid: str, a: dict[str, Any], wire: dict[str, Any]) -> Response[bytes]:
        comments = [c for c in wire.get("comments") or [] if isinstance(c, dict)]
        if not comments:
            return _refuse(422, "A shared ticket needs at least one comment")
        first = comments[0]
        requester = self._user_for(wire.get("requester"))
        spec = {
            "subject": wire.get("subject") or "(no subject)",
            "comment": {"body": first.get("body") or first.get("html_body") or "(empty)",
                        "public": first.get("public", True) is not False},
            "requester_id": requester,
            "tags": _synced_tags(a, wire) or [],
        }  # fmt: skip
        row, _ = self.desk.create_ticket(spec, self._user_for(first.get("author")))
        tid = int(row["id"])
        made = (self.desk.comments(tid) or [{}])[-1]
        shared = {"uuid": uuid, "ticket_id": tid, "agreement": a, "orphan": False, "status": row["status"]}
        shared["comment_ids"] = {made.get("id"): first.get("uuid")}
        self.tickets[uuid] = shared
        self._apply(shared, {**wire, "comments": comments[1:]})
        return json_response(b"", 201)

    def _apply(self, shared: dict[str, Any], wire: dict[str, Any]) -> None:
        tid = shared["ticket_id"]
        known = set(shared["comment_ids"].values())
        for c in wire.get("comments") or []:
            if not isinstance(c, dict) or c.get("uuid") in known:
                continue
            text = c.get("body") or c.get("html_body")
            if not text:
                continue
            spec = {"comment": {"body": text, "public": c.get("public", True) is not False}}
            self.desk.update_ticket(tid, spec, self._user_for(c.get("author")))
            made = (self.desk.comments(tid) or [{}])[-1]
            shared["comment_ids"][made.get("id")] = c.get("uuid")
            known.add(c.get("uuid"))
        status = wire.get("status")
        row = self.desk.tickets.get(tid) or {}
        if status in STATUSES and status != row.get("status") and row.get("status") != "closed":
            self.desk.update_ticket(tid, {"status": status}, self._user_for(wire.get("current_actor")))
            shared["status"] = status
        if wire.get("subject") is not None and wire["subject"] != row.get("subject"):
            self.desk.update_ticket(tid, {"subject": wire["subject"]}, self.desk.admin_id)
        tags = _synced_tags(shared["agreement"], wire)
        row = self.desk.tickets.get(tid) or {}
        if tags is not None and tags != row.get("tags") and row.get("status") != "closed":
            self.desk.update_ticket(tid, {"tags": tags}, self._user_for(wire.get("current_actor")))


def _synced_tags(a: dict[str, Any], wire: dict[str, Any]) -> list[str] | None:
    """The ticket's tags when the agreement syncs them (``sync_tags``), else None = leave them alone.
    A null or missing ``tags`` means unchanged; a list replaces the ticket's tags (``[]`` clears them)."""
    tags = wire.get("tags")
    if not a.get("sync_tags") or not isinstance(tags, list):
        return None
    return list(dict.fromkeys(t for t in tags if isinstance(t, str) and t))


def _token(a: dict[str, Any]) -> str:
    return f"{a['uuid']}:{a['access_key']}"


def _ts(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


async def _wire(request: Req) -> dict[str, Any] | None:
    try:
        value = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def routes(sharing: Sharing, actor: Any) -> list[Any]:
    base = "/api/v2/sharing_agreements"

    def find(agreement_id: int) -> dict[str, Any]:
        a = sharing.agreements.get(agreement_id)
        if a is None:
            raise not_found()
        return a

    @get(base, sync_to_thread=False)
    def list_agreements() -> Response[bytes]:
        return json_response(
            {"sharing_agreements": [sharing.api_view(a) for a in sharing.agreements.values()]}
        )

    @post(base, sync_to_thread=True)
    def create_agreement(request: Req, data: JSONBody[dict[str, Any]]) -> Response[bytes]:
        body = data.get("sharing_agreement")
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidParameter", "Parameter sharing_agreement is required")
        a = sharing.invite(body, actor(request))
        return json_response({"sharing_agreement": sharing.api_view(a)}, 201)

    @get(base + "/{agreement_id:int}", sync_to_thread=False)
    def show_agreement(agreement_id: FromPath[int]) -> Response[bytes]:
        return json_response({"sharing_agreement": sharing.api_view(find(agreement_id))})

    @put(base + "/{agreement_id:int}", sync_to_thread=True)
    def update_agreement(
        request: Req, agreement_id: FromPath[int], data: JSONBody[dict[str, Any]]
    ) -> Response[bytes]:
        a = find(agreement_id)
        body = data.get("sharing_agreement")
        if not isinstance(body, dict) or "status" not in body:
            raise ApiError(400, "InvalidParameter", "Parameter sharing_agreement.status is required")
        sharing.set_status(a, body["status"], actor(request))
        return json_response({"sharing_agreement": sharing.api_view(a)})

    @post("/sharing/agreements/{uuid:str}")
    async def invited(request: Req, uuid: FromPath[str]) -> Response[bytes]:
        wire = await _wire(request)
        return _refuse(422, "Invalid JSON") if wire is None else sharing.receive_invite(uuid, wire)

    @put("/sharing/agreements/{uuid:str}")
    async def agreement_changed(request: Req, uuid: FromPath[str]) -> Response[bytes]:
        wire = await _wire(request)
        if wire is None:
            return _refuse(422, "Invalid JSON")
        return sharing.receive_agreement_update(uuid, request.headers.get("x-ticket-sharing-token"), wire)

    async def on_ticket(request: Req, uuid: str) -> Response[bytes]:
        wire = await _wire(request) if request.method != "DELETE" else {}
        if wire is None:
            return _refuse(422, "Invalid JSON")
        token = request.headers.get("x-ticket-sharing-token")
        return sharing.receive_ticket(request.method, uuid, token, wire)

    @post("/sharing/tickets/{uuid:str}", name="sharing-ticket-post")
    async def ticket_post(request: Req, uuid: FromPath[str]) -> Response[bytes]:
        return await on_ticket(request, uuid)

    @put("/sharing/tickets/{uuid:str}", name="sharing-ticket-put")
    async def ticket_put(request: Req, uuid: FromPath[str]) -> Response[bytes]:
        return await on_ticket(request, uuid)

    @delete("/sharing/tickets/{uuid:str}", name="sharing-ticket-delete", status_code=200)
    async def ticket_delete(request: Req, uuid: FromPath[str]) -> Response[bytes]:
        return await on_ticket(request, uuid)

    return [
        list_agreements, create_agreement, show_agreement, update_agreement,
        invited, agreement_changed, ticket_post, ticket_put, ticket_delete,
    ]  # fmt: skip
