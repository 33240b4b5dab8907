"""The Freshdesk account's state: seeded tables, writes, and the rules a sync must cope with.

* Every write bumps the ticket's ``updated_at`` (replies and notes too), so ``updated_since`` finds it.
* A deleted ticket leaves the normal lists and shows under ``filter=deleted`` with ``deleted: true``.
* Validation failures answer 400 ``{"description":"Validation failed","errors":[{field,message,code}]}``.
"""

from __future__ import annotations

from typing import Any

from emulators.common.clock import Clock, iso, parse_iso
from emulators.common.store import Table
from emulators.freshdesk import seed as s
from emulators.freshdesk.config import FreshdeskConfig

TICKET_FIELDS = {
    "name",
    "requester_id",
    "email",
    "facebook_id",
    "phone",
    "twitter_id",
    "unique_external_id",
    "subject",
    "type",
    "status",
    "priority",
    "description",
    "responder_id",
    "attachments",
    "cc_emails",
    "custom_fields",
    "due_by",
    "email_config_id",
    "fr_due_by",
    "group_id",
    "product_id",
    "source",
    "tags",
    "company_id",
    "internal_agent_id",
    "internal_group_id",
    "parent_id",
}
REQUESTER_KEYS = ("requester_id", "phone", "email", "twitter_id", "facebook_id", "unique_external_id")
ENUMS = {"status": (2, 3, 4, 5), "priority": (1, 2, 3, 4), "source": (1, 2, 3, 5, 6, 7, 9, 11, 10)}
NEW_CONVERSATION_BASE = s.CONVERSATION_BASE + 10**13


class FreshdeskError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


def validation_failed(*errors: tuple[str, str, str]) -> FreshdeskError:
    return FreshdeskError(
        400,
        {
            "description": "Validation failed",
            "errors": [{"field": f, "message": m, "code": c} for f, m, c in errors],
        },
    )


def not_found() -> FreshdeskError:
    return FreshdeskError(404)


class FreshdeskDesk:
    def __init__(self, config: FreshdeskConfig, clock: Clock) -> None:
        self.config, self.clock = config, clock
        end = float(config.anchor_time)
        sizes = s.Sizes.for_tickets(config.tickets)
        self.seeder = sd = s.Seeder(
            config.seed, sizes, end - config.history_days * 86400, end, config.base_url
        )
        self.tickets = Table("tickets", sd.ticket, ((i + 1, u) for i, u in enumerate(sd.ticket_updated)))
        self.contacts = Table(
            "contacts", sd.contact, ((s.CONTACT_BASE + i, c + 600) for i, c in enumerate(sd.contact_created))
        )
        self.agents = Table(
            "agents", sd.agent, ((s.AGENT_BASE + i, c) for i, c in enumerate(sd.agent_created))
        )
        self.companies = Table(
            "companies", sd.company, ((s.COMPANY_BASE + i, c) for i, c in enumerate(sd.company_created))
        )
        self.groups = Table(
            "groups", sd.group, ((s.GROUP_BASE + i, c) for i, c in enumerate(sd.group_created))
        )
        self.tables = {
            "tickets": self.tickets,
            "contacts": self.contacts,
            "agents": self.agents,
            "companies": self.companies,
            "groups": self.groups,
        }
        self._conversations: dict[int, list[dict[str, Any]]] = {}
        self._emails: dict[str, int] | None = None
        self._counter = 0
        #: The agent every API key belongs to (``/agents/me``).
        self.me = s.AGENT_BASE
        #: Tickets created through the API (no seeded conversation) and tickets changed since seeding.
        self.created_via_api: set[int] = set()
        self.written: set[int] = set()

    def now(self) -> float:
        return self.clock.now()

    def created_of(self, ticket_id: int) -> float:
        """Creation time without building the row (seeded tickets) — the 30-day window needs it per id."""
        if ticket_id <= len(self.seeder.ticket_created) and ticket_id not in self.created_via_api:
            return self.seeder.ticket_created[ticket_id - 1]
        row = self.tickets.get(ticket_id) or self.tickets.get_deleted(ticket_id)
        return parse_iso(row["created_at"]) if row else 0.0

    # -- reads ---------------------------------------------------------------------------------
    def conversations(self, ticket_id: int) -> list[dict[str, Any]] | None:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            return None
        if ticket_id not in self._conversations:
            contact = self.contacts.get(ticket["requester_id"]) or {"email": None}
            seeded = ticket_id <= len(self.seeder.ticket_created) and ticket_id not in self.created_via_api
            self._conversations[ticket_id] = (
                self.seeder.conversations(ticket, contact["email"]) if seeded else []
            )
        return self._conversations[ticket_id]

    def agent_by_email(self, email: str) -> int | None:
        for agent_id in self.agents.ids:
            row = self.agents.get(agent_id)
            if row and str(row["contact"]["email"]).lower() == email.lower():
                return agent_id
        return None

    def contact_by_email(self, email: str) -> int | None:
        if self._emails is None:
            self._emails = {}
            for contact_id in self.contacts.ids:
                row = self.contacts.get(contact_id)
                if row and row["email"]:
                    self._emails[row["email"].lower()] = contact_id
        return self._emails.get(email.lower())

    def file(self, att_id: int) -> dict[str, Any] | None:
        ticket_id = (att_id - s.ATTACHMENT_BASE) // 1000
        ticket = self.tickets.get(ticket_id) if ticket_id > 0 else None
        if ticket is None:
            return None
        for att in ticket["attachments"] + [
            a for c in self.conversations(ticket_id) or [] for a in c["attachments"]
        ]:
            if att["id"] == att_id:
                return att  # type: ignore[no-any-return]
        return None

    # -- writes --------------------------------------------------------------------------------
    def _check_ticket(self, body: dict[str, Any], creating: bool) -> None:
        errors = [
            (k, "Unexpected/invalid field in request", "invalid_field")
            for k in body
            if k not in TICKET_FIELDS
        ]
        if creating and not any(body.get(k) for k in REQUESTER_KEYS):
            errors.append(
                (
                    "requester_id",
                    "Please fill at least 1 of requester_id, phone, email, twitter_id, "
                    "facebook_id, unique_external_id fields",
                    "missing_field",
                )
            )
        if creating and not isinstance(body.get("subject"), str):
            errors.append(("subject", "It should be a/an String", "missing_field"))
        for field, allowed in ENUMS.items():
            if field not in body:
                continue
            value = body[field]
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append((field, "It should be a/an Integer", "datatype_mismatch"))
            elif value not in allowed:
                errors.append(
                    (
                        field,
                        f"It should be one of these values: '{','.join(map(str, allowed))}'",
                        "invalid_value",
                    )
                )
        requester = body.get("requester_id")
        if requester is not None and requester not in self.contacts:
            errors.append(
                ("requester_id", "There is no contact matching the given requester_id", "invalid_value")
            )
        responder = body.get("responder_id")
        if responder is not None and responder not in self.agents:
            errors.append(
                ("responder_id", "There is no agent matching the given responder_id", "invalid_value")
            )
        if errors:
            raise validation_failed(*errors)

    def _requester(self, body: dict[str, Any]) -> int:
        if body.get("requester_id"):
            return int(body["requester_id"])
        email = (
            body.get("email")
            or f"{body.get('phone') or body.get('unique_external_id') or 'anon'}@unknown.invalid"
        )
        # Freshdesk matches the e-mail against every user: contacts, then agents (an agent can be
        # a requester, but only by e-mail: ``requester_id`` is checked against contacts).
        found = self.contact_by_email(email)
        if found is None:
            found = self.agent_by_email(email)
        if found is not None:
            return found
        return int(
            self.create_contact({"name": body.get("name") or email.split("@")[0], "email": email})["id"]
        )

    def create_ticket(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_ticket(body, creating=True)
        now = self.now()
        ticket_id = self.tickets.new_id()
        requester = self._requester(body)
        description = str(body.get("description") or "")
        row = s.ticket_row(
            ticket_id,
            subject=body["subject"],
            description=description,
            status=body.get("status", 2),
            priority=body.get("priority", 1),
            source=body.get("source", 2),
            type_=body.get("type"),
            requester_id=requester,
            responder_id=body.get("responder_id"),
            group_id=body.get("group_id"),
            company_id=body.get("company_id") or self.seeder.company_of(requester),
            tags=list(body.get("tags") or []),
            created=now,
            updated=now,
            attachments=[],
        )
        row["description"] = (
            description if description.lstrip().startswith("<") else f"<div>{description}</div>"
        )
        row["cc_emails"] = list(body.get("cc_emails") or [])
        row["custom_fields"] = {**row["custom_fields"], **(body.get("custom_fields") or {})}
        self.created_via_api.add(ticket_id)
        self.written.add(ticket_id)
        self.tickets.put(ticket_id, row, int(now))
        self._conversations[ticket_id] = []
        return row

    def update_ticket(self, ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
        current = self.tickets.get(ticket_id)
        if current is None:
            raise not_found()
        self._check_ticket(body, creating=False)
        now = self.now()
        row = {**current, **{k: v for k, v in body.items() if k in current and k != "description"}}
        if "description" in body:
            row["description"], row["description_text"] = (
                f"<div>{body['description']}</div>",
                s.plain_text(str(body["description"])),
            )
        row["updated_at"] = iso(now)
        self._touch(ticket_id, row, now)
        return row

    def _touch(self, ticket_id: int, row: dict[str, Any], now: float) -> None:
        self.written.add(ticket_id)
        self.tickets.put(ticket_id, row, int(now))

    def delete_ticket(self, ticket_id: int) -> bool:
        row = self.tickets.get(ticket_id)
        if row is None:
            return False
        self.conversations(ticket_id)
        now = self.now()
        self._touch(ticket_id, {**row, "deleted": True, "updated_at": iso(now)}, now)
        self.tickets.delete(ticket_id, int(now))
        return True

    def add_conversation(self, ticket_id: int, body: dict[str, Any], note: bool) -> dict[str, Any]:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise not_found()
        allowed = (
            {"body", "user_id", "private", "incoming", "notify_emails"}
            if note
            else {"body", "from_email", "user_id", "cc_emails", "bcc_emails"}
        )
        errors = [
            (k, "Unexpected/invalid field in request", "invalid_field") for k in body if k not in allowed
        ]
        if not isinstance(body.get("body"), str) or not body["body"].strip():
            errors.append(("body", "It should be a/an String", "missing_field"))
        if errors:
            raise validation_failed(*errors)
        conversations = self.conversations(ticket_id)
        assert conversations is not None
        now = self.now()
        self._counter += 1
        contact = self.contacts.get(ticket["requester_id"]) or {"email": None}
        text = body["body"]
        row = s.conversation(
            NEW_CONVERSATION_BASE + self._counter,
            ticket_id,
            int(body.get("user_id") or self.me),
            text.replace("<div>", "").replace("</div>", ""),
            incoming=bool(body.get("incoming", False)),
            private=bool(body.get("private", True)) if note else False,
            source=2 if note else 0,
            at=now,
            to_emails=list(body.get("notify_emails") or []) if note else [contact["email"]],
            from_email=None
            if note
            else body.get("from_email", f"support@{self.config.domain}.freshdesk.com"),
            attachments=[],
        )
        row["body"] = text if text.lstrip().startswith("<") else f"<div>{text}</div>"
        conversations.append(row)
        self._touch(ticket_id, {**ticket, "updated_at": iso(now)}, now)
        return row

    def create_contact(self, body: dict[str, Any]) -> dict[str, Any]:
        errors = []
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            errors.append(("name", "It should be a/an String", "missing_field"))
        if not any(body.get(k) for k in ("email", "phone", "mobile", "twitter_id", "unique_external_id")):
            errors.append(
                (
                    "email",
                    "Please fill at least 1 of email, mobile, phone, twitter_id, unique_external_id fields",
                    "missing_field",
                )
            )
        email = body.get("email")
        if email and self.contact_by_email(email) is not None:
            errors.append(("email", "It should be a unique value", "duplicate_value"))
        if errors:
            raise validation_failed(*errors)
        now = self.now()
        contact_id = self.contacts.new_id()
        first, _, last = body["name"].partition(" ")
        row = s.contact_row(contact_id, first, last, email, body.get("company_id"), now, now)
        for key in (
            "phone",
            "mobile",
            "job_title",
            "description",
            "address",
            "twitter_id",
            "unique_external_id",
        ):
            if key in body:
                row[key] = body[key]
        self.contacts.put(contact_id, row, int(now))
        if email and self._emails is not None:
            self._emails[email.lower()] = contact_id
        return row

    # -- admin hooks ---------------------------------------------------------------------------
    def admin_view(self, table: str, row_id: int) -> Any:
        t = self.tables[table]
        row = t.get(row_id) or t.get_deleted(row_id)
        if row is not None and table == "tickets":
            return {
                **row,
                "conversations": self._conversations.get(row_id) or self.conversations(row_id) or [],
            }
        return row

    def admin_delete(self, table: str, row_id: int) -> bool:
        if table == "tickets":
            return self.delete_ticket(row_id)
        return self.tables[table].delete(row_id, int(self.now())) is not None
