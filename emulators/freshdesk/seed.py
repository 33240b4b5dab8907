"""Seeded Freshdesk records, shaped like the recordings (Nango 2024 lists, python-freshdesk samples).

Status, priority and source are Freshdesk's integers: status 2 Open, 3 Pending, 4 Resolved, 5 Closed;
priority 1 Low .. 4 Urgent; source 1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback widget,
10 Outbound email. Conversation ``source``: 0 reply, 2 note.
"""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass
from typing import Any

from emulators.common import seeding
from emulators.common.clock import iso

CONTACT_BASE = 501_001_000_000
AGENT_BASE = 501_002_000_000
COMPANY_BASE = 501_003_000_000
GROUP_BASE = 501_004_000_000
CONVERSATION_BASE = 501_005_000_000_000
ATTACHMENT_BASE = 501_006_000_000_000
EMAIL_CONFIG_ID = 501_000_020_526
PRODUCT_ID = 501_000_018_903
ROLE_ID = 501_000_149_189
STATUSES = (2, 2, 2, 3, 3, 4, 4, 5, 5, 5)
SOURCES = (1, 1, 2, 3, 7, 9, 10)
TYPES = (None, "Question", "Incident", "Problem", "Feature Request")
TAGS = ("billing", "login", "mobile", "vip", "bug")


@dataclass(frozen=True)
class Sizes:
    tickets: int
    contacts: int
    agents: int
    companies: int
    groups: int

    @classmethod
    def for_tickets(cls, tickets: int) -> Sizes:
        agents = max(3, min(200, tickets // 500 + 3))
        return cls(
            tickets, max(10, tickets // 5), agents, max(3, tickets // 50), max(2, min(25, agents // 4 + 1))
        )


def attachment(
    base_url: str, att_id: int, name: str, content_type: str, size: int, at: float
) -> dict[str, Any]:
    # ``file_size`` as in the recorded ticket (pyfreshdesk_ticket_1); the URL is "signed", so needs no auth.
    return {
        "id": att_id,
        "content_type": content_type,
        "file_size": size,
        "name": name,
        "attachment_url": f"{base_url}/data/helpdesk/attachments/production/{att_id}/original/{name}",
        "created_at": iso(at),
        "updated_at": iso(at),
    }


_BREAKS = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6])>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


def plain_text(body: str) -> str:
    """Freshdesk's ``*_text`` twin of an HTML field: tags dropped, blocks and breaks as new lines."""
    text = html.unescape(_TAGS.sub("", _BREAKS.sub("\n", body)))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def conversation(
    conv_id: int,
    ticket_id: int,
    user_id: int,
    body: str,
    *,
    incoming: bool,
    private: bool,
    source: int,
    at: float,
    to_emails: list[str],
    from_email: str | None,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "body": f"<div>{body}</div>",
        "body_text": plain_text(body),
        "id": conv_id,
        "incoming": incoming,
        "private": private,
        "user_id": user_id,
        "support_email": None,
        "source": source,
        "ticket_id": ticket_id,
        "to_emails": to_emails,
        "from_email": from_email,
        "cc_emails": None,
        "bcc_emails": None,
        "created_at": iso(at),
        "updated_at": iso(at),
        "attachments": attachments,
    }


def ticket_row(
    ticket_id: int,
    *,
    subject: str,
    description: str,
    status: int,
    priority: int,
    source: int,
    type_: str | None,
    requester_id: int,
    responder_id: int | None,
    group_id: int | None,
    company_id: int | None,
    tags: list[str],
    created: float,
    updated: float,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "cc_emails": [],
        "fwd_emails": [],
        "reply_cc_emails": [],
        "ticket_cc_emails": [],
        "fr_escalated": False,
        "spam": False,
        "email_config_id": EMAIL_CONFIG_ID,
        "group_id": group_id,
        "priority": priority,
        "requester_id": requester_id,
        "responder_id": responder_id,
        "source": source,
        "company_id": company_id,
        "status": status,
        "subject": subject,
        "association_type": None,
        "support_email": None,
        "to_emails": None,
        "product_id": PRODUCT_ID,
        "id": ticket_id,
        "type": type_,
        "due_by": iso(created + 3 * 86400),
        "fr_due_by": iso(created + 86400),
        "is_escalated": False,
        "custom_fields": {"cf_reference_number": None},
        "created_at": iso(created),
        "updated_at": iso(updated),
        "associated_tickets_count": None,
        "tags": tags,
        "sentiment_score": None,
        "initial_sentiment_score": None,
        "nr_due_by": None,
        "nr_escalated": False,
        "description": f"<div>{description}</div>",
        "description_text": plain_text(description),
        "attachments": attachments,
    }


def contact_row(
    contact_id: int,
    first: str,
    last: str,
    email: str | None,
    company_id: int | None,
    created: float,
    updated: float,
) -> dict[str, Any]:
    return {
        "active": True,
        "address": None,
        "deleted": False,
        "description": None,
        "email": email,
        "id": contact_id,
        "job_title": None,
        "language": "en",
        "mobile": None,
        "name": f"{first} {last}".strip(),
        "phone": None,
        "time_zone": "Eastern Time (US & Canada)",
        "twitter_id": None,
        "custom_fields": {},
        "tags": [],
        "other_emails": [],
        "facebook_id": None,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "csat_rating": None,
        "preferred_source": None,
        "company_id": company_id,
        "view_all_tickets": None,
        "other_companies": [],
        "unique_external_id": None,
        "avatar": None,
        "first_name": first,
        "last_name": last,
        "visitor_id": f"00000000-0000-4000-8000-{contact_id:012d}",
        "org_contact_id": 1_848_295_627_395_000_000 + contact_id % 1_000_000,
        "other_phone_numbers": [],
    }


class Seeder:
    def __init__(self, seed: int, sizes: Sizes, start: float, end: float, base_url: str) -> None:
        self.seed, self.sizes, self.base_url = seed, sizes, base_url
        self.ticket_created = seeding.spread(seed, "fd-ticket", sizes.tickets, start, end)
        rng = random.Random(f"{seed}:fd-ticket:updated")
        self.ticket_updated = [c + int(rng.random() * min(end - c, 14 * 86400)) for c in self.ticket_created]
        self.contact_created = seeding.spread(seed, "fd-contact", sizes.contacts, start - 60 * 86400, end)
        self.agent_created = seeding.spread(
            seed, "fd-agent", sizes.agents, start - 120 * 86400, start - 90 * 86400
        )
        self.company_created = seeding.spread(seed, "fd-company", sizes.companies, start - 90 * 86400, start)
        self.group_created = seeding.spread(
            seed, "fd-group", sizes.groups, start - 120 * 86400, start - 90 * 86400
        )

    def company_of(self, contact_id: int) -> int | None:
        slot = ((contact_id - CONTACT_BASE) * 7919 + self.seed) % (self.sizes.companies * 4)
        return COMPANY_BASE + slot if slot < self.sizes.companies else None

    def group_of(self, agent_id: int) -> int:
        return GROUP_BASE + (agent_id - AGENT_BASE) % self.sizes.groups

    def ticket(self, ticket_id: int) -> dict[str, Any]:
        rng = seeding.rng_for(self.seed, "fd-ticket", ticket_id)
        created, updated = self.ticket_created[ticket_id - 1], self.ticket_updated[ticket_id - 1]
        requester = CONTACT_BASE + rng.randrange(self.sizes.contacts)
        status = rng.choice(STATUSES)
        responder = None if rng.random() < 0.15 else AGENT_BASE + rng.randrange(self.sizes.agents)
        files = []
        if rng.random() < 0.1:
            name, kind = seeding.FILE_NAMES[rng.randrange(len(seeding.FILE_NAMES))]
            files.append(
                attachment(
                    self.base_url,
                    ATTACHMENT_BASE + ticket_id * 1000,
                    name,
                    kind,
                    1000 + rng.randrange(50_000),
                    created,
                )
            )
        return ticket_row(
            ticket_id,
            subject=seeding.subject(rng),
            description=seeding.paragraph(rng),
            status=status,
            priority=1 + rng.randrange(4),
            source=rng.choice(SOURCES),
            type_=rng.choice(TYPES),
            requester_id=requester,
            responder_id=responder,
            group_id=self.group_of(responder) if responder else None,
            company_id=self.company_of(requester),
            tags=sorted(set(rng.sample(TAGS, rng.randrange(3)))),
            created=created,
            updated=updated,
            attachments=files,
        )

    def conversations(self, ticket: dict[str, Any], contact_email: str) -> list[dict[str, Any]]:
        """Replies and notes after the description (which Freshdesk keeps on the ticket itself)."""
        ticket_id = ticket["id"]
        rng = seeding.rng_for(self.seed, "fd-conversations", ticket_id)
        created, updated = self.ticket_created[ticket_id - 1], self.ticket_updated[ticket_id - 1]
        agent = ticket["responder_id"] or AGENT_BASE
        count = rng.randrange(4)
        out = []
        for j in range(count):
            at = created + (updated - created) * (j + 1) / count
            from_agent = j % 2 == 0
            note = from_agent and rng.random() < 0.3
            files = []
            if rng.random() < 0.15:
                name, kind = seeding.FILE_NAMES[rng.randrange(len(seeding.FILE_NAMES))]
                files.append(
                    attachment(
                        self.base_url, ATTACHMENT_BASE + ticket_id * 1000 + j + 1, name, kind, 2048, at
                    )
                )
            out.append(
                conversation(
                    CONVERSATION_BASE + ticket_id * 100 + j,
                    ticket_id,
                    agent if from_agent else ticket["requester_id"],
                    seeding.paragraph(rng),
                    incoming=not from_agent,
                    private=note,
                    source=2 if note else 0,
                    at=at,
                    to_emails=[] if note or not from_agent else [contact_email],
                    from_email=None if note or not from_agent else "support@acme.freshdesk.com",
                    attachments=files,
                )
            )
        return out

    def contact(self, contact_id: int) -> dict[str, Any]:
        index = contact_id - CONTACT_BASE
        rng = seeding.rng_for(self.seed, "fd-contact", index)
        first, last = seeding.person(rng)
        created = self.contact_created[index]
        email = f"{first}.{last}.{index}@example.com".lower().replace(" ", "")
        return contact_row(
            contact_id, first, last, email, self.company_of(contact_id), created, created + 600
        )

    def agent(self, agent_id: int) -> dict[str, Any]:
        index = agent_id - AGENT_BASE
        rng = seeding.rng_for(self.seed, "fd-agent", index)
        first, last = seeding.person(rng)
        created = self.agent_created[index]
        return {
            "available": index % 2 == 0,
            "occasional": False,
            "id": agent_id,
            "ticket_scope": 1,
            "group_ids": [self.group_of(agent_id)],
            "role_ids": [ROLE_ID],
            "skill_ids": [],
            "created_at": iso(created),
            "updated_at": iso(created),
            "last_active_at": iso(created + 86400),
            "available_since": None,
            "type": "support_agent",
            "contact": {
                "active": True,
                "email": f"{first}.{last}.agent{index}@acme.test".lower().replace(" ", ""),
                "job_title": None,
                "language": "en",
                "last_login_at": iso(created + 86400),
                "mobile": None,
                "name": f"{first} {last}",
                "phone": None,
                "time_zone": "Eastern Time (US & Canada)",
                "created_at": iso(created),
                "updated_at": iso(created),
            },
            "signature": None,
            "contribution_group_ids": [],
            "focus_mode": True,
            "deactivated": False,
        }

    def company(self, company_id: int) -> dict[str, Any]:
        index = company_id - COMPANY_BASE
        rng = seeding.rng_for(self.seed, "fd-company", index)
        name = seeding.company(rng, index)
        created = self.company_created[index]
        return {
            "id": company_id,
            "name": name,
            "description": None,
            "domains": [f"{name.split()[0].lower()}{index}.example.com"],
            "note": None,
            "created_at": iso(created),
            "updated_at": iso(created),
            "custom_fields": {},
            "health_score": rng.choice(("Happy", "Doing okay", "At risk")),
            "account_tier": rng.choice(("Basic", "Premium", "Enterprise")),
            "renewal_date": None,
            "industry": None,
        }

    def group(self, group_id: int) -> dict[str, Any]:
        index = group_id - GROUP_BASE
        created = self.group_created[index]
        agents = [AGENT_BASE + i for i in range(self.sizes.agents) if i % self.sizes.groups == index]
        return {
            "id": group_id,
            "name": "Support" if index == 0 else f"Tier {index + 1}",
            "description": None,
            "business_hour_id": None,
            "escalate_to": None,
            "unassigned_for": "30m",
            "agent_ids": agents,
            "auto_ticket_assign": False,
            "created_at": iso(created),
            "updated_at": iso(created),
        }
