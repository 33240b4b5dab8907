"""The Zendesk account's state: seeded tables plus every write made through the API.

Writes follow Zendesk's rules that a sync depends on: each change bumps ``updated_at`` and
``generated_timestamp`` (so incremental exports return the ticket again), a deleted ticket leaves the
ticket list but stays in the incremental export with ``status: "deleted"``, and comments are append-only.
"""

from __future__ import annotations

import mimetypes
import secrets
from typing import Any

from emulators.common.clock import Clock, iso
from emulators.common.store import Table
from emulators.zendesk import seed as s
from emulators.zendesk.config import ZendeskConfig

TICKET_FIELDS = ("subject", "status", "priority", "type", "assignee_id", "group_id", "requester_id", "tags")
NEW_COMMENT_BASE = s.COMMENT_BASE + 10**10
NEW_AUDIT_BASE = s.AUDIT_BASE + 10**10
NEW_ATTACHMENT_BASE = s.ATTACHMENT_BASE + 10**10


class ApiError(Exception):
    """A refusal with Zendesk's error body, e.g. ``404 {"error":"RecordNotFound",...}``."""

    def __init__(self, status: int, error: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.body: dict[str, Any] = {"error": error, "description": description}
        if details is not None:
            self.body["details"] = details


def not_found() -> ApiError:
    return ApiError(404, "RecordNotFound", "Not found")


def invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        "RecordInvalid",
        "Record validation errors",
        {field: [{"description": message, "error": "InvalidValue"}]},
    )


class ZendeskDesk:
    def __init__(self, config: ZendeskConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        end = float(config.anchor_time)
        sizes = s.Sizes.for_tickets(config.tickets)
        self.seeder = seeder = s.Seeder(
            config.seed, sizes, end - config.history_days * 86400, end, config.base_url
        )
        self._comments: dict[int, list[dict[str, Any]]] = {}
        self.tickets = Table(
            "tickets", self._generate_ticket, ((i + 1, u) for i, u in enumerate(seeder.ticket_updated))
        )
        self.users = Table(
            "users", seeder.user, ((s.USER_BASE + i, c + 3600) for i, c in enumerate(seeder.user_created))
        )
        self.organizations = Table(
            "organizations",
            seeder.organization,
            ((s.ORG_BASE + i, c) for i, c in enumerate(seeder.org_created)),
        )
        self.groups = Table(
            "groups", seeder.group, ((s.GROUP_BASE + i, c) for i, c in enumerate(seeder.group_created))
        )
        self.tables = {
            "tickets": self.tickets,
            "users": self.users,
            "organizations": self.organizations,
            "groups": self.groups,
        }
        self.uploads: dict[str, list[int]] = {}
        self.files: dict[int, tuple[dict[str, Any], bytes]] = {}
        self.deletions: dict[int, dict[str, Any]] = {}
        self._counter = 0
        self.admin_id = s.USER_BASE
        self.sharing: Any = None  # the account's Ticket Sharing state (``sharing.Sharing``), set by the app
        self._email_index: dict[str, int] | None = None
        # The account owner signs in with the configured email, whatever name the seed gave them.
        admin = self.users.get(self.admin_id)
        assert admin is not None
        self.users.put(self.admin_id, {**admin, "email": config.admin_email}, self.users.stamp(self.admin_id))

    # -- reads ---------------------------------------------------------------------------------
    def _generate_ticket(self, ticket_id: int) -> dict[str, Any]:
        return self.seeder.ticket(ticket_id)

    def comments(self, ticket_id: int) -> list[dict[str, Any]] | None:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return None
        if ticket_id not in self._comments:
            self._comments[ticket_id] = self.seeder.comments(ticket)
        return self._comments[ticket_id]

    def user_by_email(self, email: str) -> int | None:
        # Built once on demand: looking users up by email is rare (auth, X-On-Behalf-Of, requester{}).
        if self._email_index is None:
            self._email_index = {}
            for user_id in self.users.ids:
                row = self.users.get(user_id)
                if row is not None and row["email"]:
                    self._email_index[row["email"].lower()] = user_id
        return self._email_index.get(email.lower())

    def attachment(self, att_id: int) -> dict[str, Any] | None:
        if att_id in self.files:
            return self.files[att_id][0]
        ticket_id, rest = divmod(att_id - s.ATTACHMENT_BASE, 1000)
        comments = self.comments(ticket_id) if 0 < ticket_id <= len(self.seeder.ticket_created) else None
        for comment in comments or []:
            for att in comment["attachments"]:
                if att["id"] == att_id:
                    return att  # type: ignore[no-any-return]
        del rest
        return None

    def file_content(self, token: str) -> tuple[dict[str, Any], bytes] | None:
        try:
            att_id = int(token.removeprefix("t"), 16)
        except ValueError:
            return None
        if att_id in self.files:
            return self.files[att_id]
        meta = self.attachment(att_id)
        if meta is None:
            return None
        # Seeded files have deterministic filler of the advertised size.
        pattern = f"{meta['file_name']} #{att_id}\n".encode()
        return meta, (pattern * (meta["size"] // len(pattern) + 1))[: meta["size"]]

    # -- writes --------------------------------------------------------------------------------
    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _stamp(self) -> float:
        return self.clock.now()

    def upload(
        self, file_name: str, content: bytes, content_type: str | None, token: str | None
    ) -> dict[str, Any]:
        kind = content_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        att_id = NEW_ATTACHMENT_BASE + self._next()
        meta = s.attachment(self.config.base_url, att_id, file_name, kind, len(content))
        self.files[att_id] = (meta, content)
        if token is None or token not in self.uploads:
            token = secrets.token_urlsafe(18)[:25]
            self.uploads[token] = []
        self.uploads[token].append(att_id)
        attachments = [self.files[i][0] for i in self.uploads[token]]
        return {
            "token": token,
            "expires_at": iso(self._stamp() + 3 * 86400),
            "attachments": attachments,
            "attachment": meta,
        }

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid("name", "Name:  is too short (minimum one character)")
        email = body.get("email")
        if email and self.user_by_email(email) is not None:
            raise invalid("email", f"Email: {email} is already being used by another user")
        now = self._stamp()
        user_id = self.users.new_id()
        role = body.get("role", "end-user")
        row = s.user_row(
            self.config.base_url,
            user_id,
            name,
            email,
            role,
            now,
            now,
            organization_id=body.get("organization_id"),
            default_group_id=None,
        )
        self.users.put(user_id, row, int(now))
        if email and self._email_index is not None:
            self._email_index[email.lower()] = user_id
        return row

    def update_user(self, user_id: int, body: dict[str, Any]) -> dict[str, Any] | None:
        """Zendesk's Update User: the given fields change, the rest stay. A new role brings what Zendesk
        ties to the role (verification, restrictions, ...) as a new user of that role would have it."""
        row = self.users.get(user_id)
        if row is None:
            return None
        changes = {k: body[k] for k in _UPDATABLE_USER_FIELDS if k in body}
        if "name" in changes and (not isinstance(changes["name"], str) or not changes["name"].strip()):
            raise invalid("name", "Name:  is too short (minimum one character)")
        role = changes.get("role", row["role"])
        if role not in _ROLES:
            raise invalid("role", f"Role: {role} is not a valid role")
        email = changes.get("email")
        if email and self.user_by_email(email) not in (None, user_id):
            raise invalid("email", f"Email: {email} is already being used by another user")
        now = self._stamp()
        new = {**row, **changes, "updated_at": iso(now)}
        if role != row["role"]:
            fresh = s.user_row(
                self.config.base_url,
                user_id,
                new["name"],
                new["email"],
                role,
                now,
                now,
                organization_id=new["organization_id"],
                default_group_id=new["default_group_id"],
            )
            new |= {k: fresh[k] for k in _ROLE_USER_FIELDS}
        self.users.put(user_id, new, int(now))
        if self._email_index is not None and new["email"] != row["email"]:
            self._email_index.pop((row["email"] or "").lower(), None)
            if new["email"]:
                self._email_index[new["email"].lower()] = user_id
        return new

    def _resolve_requester(self, body: dict[str, Any], actor: int) -> int:
        if "requester_id" in body:
            if self.users.get(int(body["requester_id"])) is None:
                raise invalid("requester", "Requester: is invalid")
            return int(body["requester_id"])
        requester = body.get("requester")
        if isinstance(requester, dict) and requester.get("email"):
            found = self.user_by_email(requester["email"])
            if found is not None:
                return found
            name = requester.get("name") or requester["email"].split("@")[0]
            return int(self.create_user({"name": name, "email": requester["email"]})["id"])
        return actor

    def _attachments_for(self, tokens: list[str]) -> list[dict[str, Any]]:
        out = []
        for token in tokens:
            for att_id in self.uploads.pop(token, []):
                out.append(self.files[att_id][0])
        return out

    def _new_comment(
        self, ticket_id: int, audit_id: int, spec: dict[str, Any], actor: int, now: float
    ) -> dict[str, Any]:
        body = spec.get("body") or spec.get("html_body")
        if not isinstance(body, str) or not body.strip():
            raise invalid("comment", "Comment: cannot be blank")
        author = int(spec.get("author_id") or actor)
        files = self._attachments_for(list(spec.get("uploads") or []))
        row = s.comment(
            NEW_COMMENT_BASE + self._next(),
            audit_id,
            author,
            body,
            bool(spec.get("public", True)),
            now,
            "api",
            files,
        )
        self._comments.setdefault(ticket_id, []).append(row)
        return row

    def _audit(
        self, ticket_id: int, audit_id: int, author: int, now: float, events: list[dict[str, Any]]
    ) -> dict[str, Any]:
        events = [e if "id" in e else {"id": NEW_AUDIT_BASE + self._next(), **e} for e in events]
        return {
            "id": audit_id,
            "ticket_id": ticket_id,
            "created_at": iso(now),
            "author_id": author,
            "metadata": s.AGENT_METADATA,
            "events": events,
            "via": {"channel": "api", "source": {"from": {}, "to": {"name": "", "address": ""}, "rel": None}},
        }

    def create_ticket(self, body: dict[str, Any], actor: int) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = body.get("comment") or ({"body": body["description"]} if body.get("description") else None)
        if not isinstance(spec, dict):
            raise invalid("base", "Description: cannot be blank")
        requester = self._resolve_requester(body, actor)
        now = self._stamp()
        ticket_id = self.tickets.new_id()
        audit_id = NEW_AUDIT_BASE + self._next()
        self._comments[ticket_id] = []
        first = self._new_comment(
            ticket_id, audit_id, {**spec, "author_id": spec.get("author_id", requester)}, actor, now
        )
        status = body.get("status") or ("open" if body.get("assignee_id") else "new")
        self._check_enums(status, body.get("priority"), body.get("type"))
        subject = body.get("subject") or first["body"][:80]
        row = s.ticket_row(
            self.config.base_url,
            ticket_id,
            subject=subject,
            description=first["body"],
            status=status,
            priority=body.get("priority"),
            type_=body.get("type"),
            requester_id=requester,
            submitter_id=actor,
            assignee_id=body.get("assignee_id"),
            group_id=body.get("group_id"),
            organization_id=self.seeder.org_of_user(requester),
            tags=list(body.get("tags") or []),
            channel="api",
            created=now,
            updated=now,
        )
        self.tickets.put(ticket_id, row, int(now))
        events = [_comment_event(first)] + [
            {"type": "Create", "value": _event_value(row[f]), "field_name": f}
            for f in TICKET_FIELDS
            if f != "tags"
        ]
        return row, self._audit(ticket_id, audit_id, actor, now, events)

    def update_ticket(
        self, ticket_id: int, body: dict[str, Any], actor: int
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        current = self.tickets.get(ticket_id)
        if current is None:
            raise not_found()
        if current["status"] == "closed":
            raise ApiError(
                422,
                "RecordInvalid",
                "Record validation errors",
                {
                    "status": [
                        {"description": "Status: closed prevents ticket update", "error": "ClosedTicket"}
                    ]
                },
            )
        self._check_enums(body.get("status"), body.get("priority"), body.get("type"))
        now = self._stamp()
        audit_id = NEW_AUDIT_BASE + self._next()
        events: list[dict[str, Any]] = []
        row = dict(current)
        if isinstance(body.get("comment"), dict):
            events.append(_comment_event(self._new_comment(ticket_id, audit_id, body["comment"], actor, now)))
        for field in TICKET_FIELDS:
            if field in body and body[field] != row[field]:
                events.append(
                    {
                        "type": "Change",
                        "value": _event_value(body[field]),
                        "field_name": field,
                        "previous_value": _event_value(row[field]),
                    }
                )
                row[field] = body[field]
        if "subject" in body:
            row["raw_subject"] = row["subject"]
        row["custom_status_id"] = s.CUSTOM_STATUS[row["status"]]
        row["updated_at"] = iso(now)
        row["generated_timestamp"] = int(now)
        self.tickets.put(ticket_id, row, int(now))
        return row, self._audit(ticket_id, audit_id, actor, now, events)

    def delete_ticket(self, ticket_id: int, actor: int) -> bool:
        now = self._stamp()
        row = self.tickets.get(ticket_id)
        if row is None:
            return False
        previous = row["status"]
        tombstone = {**row, "status": "deleted", "updated_at": iso(now), "generated_timestamp": int(now)}
        self.tickets.put(ticket_id, tombstone, int(now))
        self.tickets.delete(ticket_id, int(now))
        actor_row = self.users.get(actor) or {"name": ""}
        self.deletions[ticket_id] = {
            "id": ticket_id,
            "subject": row["subject"],
            "description": row["description"],
            "actor": {"id": actor, "name": actor_row["name"]},
            "previous_state": previous,
            "deleted_at": iso(now),
        }
        return True

    @staticmethod
    def _check_enums(status: Any, priority: Any, type_: Any) -> None:
        if status is not None and status not in s.CUSTOM_STATUS:
            raise invalid("status", f"Status: {status} is not valid")
        if priority is not None and priority not in s.PRIORITIES:
            raise invalid("priority", f"Priority: {priority} is not valid")
        if type_ is not None and type_ not in s.TYPES:
            raise invalid("type", f"Type: {type_} is not valid")

    # -- admin hooks ---------------------------------------------------------------------------
    def admin_view(self, table: str, row_id: int) -> Any:
        t = self.tables[table]
        row = t.get(row_id) or t.get_deleted(row_id)
        if row is None:
            return None
        if table == "tickets":
            return {**row, "comments": self.comments(row_id) or self._comments.get(row_id, [])}
        return row

    def delete_user(self, user_id: int) -> dict[str, Any] | None:
        """Zendesk deletes users softly: lists and exports keep them, ``active: false``, email gone
        (as the recorded users export shows; the address is free for a new user), updated now.
        Returns the deleted user, or None if there is no such live user."""
        now = self._stamp()
        row = self.users.get(user_id)
        if row is None:
            return None
        gone = {**row, "active": False, "email": None, "updated_at": iso(now)}
        self.users.put(user_id, gone, int(now))
        self.users.delete(user_id, int(now))
        if self._email_index is not None and row["email"]:
            self._email_index.pop(row["email"].lower(), None)
        return gone

    def user_shown(self, user_id: int) -> dict[str, Any] | None:
        """What Show User answers: a live user, or a soft-deleted one (``active: false``)."""
        return self.users.get(user_id) or self.users.get_deleted(user_id)

    def admin_delete(self, table: str, row_id: int) -> bool:
        if table == "tickets":
            return self.delete_ticket(row_id, self.admin_id)
        if table == "users":
            return self.delete_user(row_id) is not None
        t = self.tables[table]
        return t.delete(row_id, int(self._stamp())) is not None


_ROLES = ("end-user", "agent", "admin")
_UPDATABLE_USER_FIELDS = (
    "name",
    "email",
    "role",
    "organization_id",
    "phone",
    "details",
    "notes",
    "suspended",
    "default_group_id",
    "tags",
)
#: Fields Zendesk derives from the role (see ``seed.user_row``).
_ROLE_USER_FIELDS = (
    "verified",
    "role_type",
    "custom_role_id",
    "is_billing_admin",
    "moderator",
    "ticket_restriction",
    "restricted_agent",
    "report_csv",
)


def _event_value(value: Any) -> Any:
    # Audit events carry ids as strings ("requester_id": "4640...").
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _comment_event(comment: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "type", "author_id", "body", "html_body", "plain_body", "public", "attachments", "audit_id")
    return {k: comment[k] for k in keys}
