"""Seeded Zendesk records, shaped like the 2026 recordings (nango_get-ticket, nango_list-users, ...).

Ids: tickets 1..N (Zendesk's ``nice_id``); users, organizations, groups, comments and attachments use
13-digit ids like a real account. Comment and attachment ids encode their ticket, so
``/api/v2/attachments/{id}`` resolves a seeded attachment without a lookup table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from emulators.common import seeding
from emulators.common.clock import iso

USER_BASE = 5_100_000_000_000
ORG_BASE = 5_200_000_000_000
GROUP_BASE = 5_300_000_000_000
COMMENT_BASE = 5_400_000_000_000
AUDIT_BASE = 5_500_000_000_000
ATTACHMENT_BASE = 5_600_000_000_000
BRAND_ID = 5_000_000_000_001
FORM_ID = 5_000_000_000_002
CUSTOM_ROLE_ID = 5_000_000_000_003
CUSTOM_FIELD_IDS = (5_000_000_000_101, 5_000_000_000_102)
CUSTOM_STATUS = {
    "new": 5_000_000_000_201,
    "open": 5_000_000_000_202,
    "pending": 5_000_000_000_203,
    "hold": 5_000_000_000_204,
    "solved": 5_000_000_000_205,
    "closed": 5_000_000_000_206,
}
STATUSES = ("new", "open", "open", "open", "pending", "pending", "hold", "solved", "solved", "closed")
PRIORITIES = (None, "low", "normal", "normal", "high", "urgent")
TYPES = (None, "question", "incident", "problem", "task")
TAGS = ("billing", "login", "mobile", "vip", "bug", "feature_request", "refund")
CHANNELS = ("email", "web", "api")
AGENT_METADATA = {
    "system": {
        "client": "Mozilla/5.0 (X11; Linux x86_64)",
        "ip_address": "192.0.2.10",
        "location": "Dublin, D, Ireland",
        "latitude": 53.3331,
        "longitude": -6.2489,
    },
    "custom": {},
}


@dataclass(frozen=True)
class Sizes:
    tickets: int
    agents: int
    end_users: int
    organizations: int
    groups: int

    @classmethod
    def for_tickets(cls, tickets: int) -> Sizes:
        agents = max(3, min(200, tickets // 500 + 3))
        return cls(
            tickets=tickets,
            agents=agents,
            end_users=max(10, tickets // 5),
            organizations=max(3, tickets // 50),
            groups=max(2, min(25, agents // 4 + 1)),
        )


def via(channel: str) -> dict[str, Any]:
    return {"channel": channel, "source": {"from": {}, "to": {}, "rel": None}}


def attachment(base_url: str, att_id: int, file_name: str, content_type: str, size: int) -> dict[str, Any]:
    token = f"t{att_id:x}"
    content_url = f"{base_url}/attachments/token/{token}/?name={file_name}"
    return {
        "url": f"{base_url}/api/v2/attachments/{att_id}.json",
        "id": att_id,
        "file_name": file_name,
        "content_url": content_url,
        "mapped_content_url": content_url,
        "content_type": content_type,
        "size": size,
        "width": None,
        "height": None,
        "inline": False,
        "deleted": False,
        "malware_access_override": False,
        "malware_scan_result": "malware_not_found",
        "thumbnails": [],
    }


def comment(
    comment_id: int,
    audit_id: int,
    author_id: int,
    body: str,
    public: bool,
    created_at: float,
    channel: str,
    attachments: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": comment_id,
        "type": "Comment",
        "author_id": author_id,
        "body": body,
        "html_body": f'<div class="zd-comment" dir="auto"><p dir="auto">{body}</p></div>',
        "plain_body": body,
        "public": public,
        "attachments": attachments,
        "audit_id": audit_id,
        "via": via(channel),
        "created_at": iso(created_at),
        "metadata": AGENT_METADATA,
    }


def encoded_id(ticket_id: int) -> str:
    return f"EMU{ticket_id:06X}-{ticket_id % 97:02d}"


class Seeder:
    """Pure functions of (seed, index) for every seeded record."""

    def __init__(self, seed: int, sizes: Sizes, start: float, end: float, base_url: str) -> None:
        self.seed = seed
        self.sizes = sizes
        self.base_url = base_url
        self.ticket_created = seeding.spread(seed, "ticket", sizes.tickets, start, end)
        rng = random.Random(f"{seed}:ticket:updated")
        # Most tickets change within two weeks of creation, never after the anchor.
        self.ticket_updated = [c + int(rng.random() * min(end - c, 14 * 86400)) for c in self.ticket_created]
        users = sizes.agents + sizes.end_users
        self.user_created = seeding.spread(seed, "user", users, start - 60 * 86400, end)
        self.org_created = seeding.spread(seed, "org", sizes.organizations, start - 90 * 86400, start)
        self.group_created = seeding.spread(
            seed, "group", sizes.groups, start - 120 * 86400, start - 90 * 86400
        )

    # -- ids -----------------------------------------------------------------------------------
    def user_id(self, index: int) -> int:
        return USER_BASE + index

    def agent_ids(self) -> list[int]:
        return [USER_BASE + i for i in range(self.sizes.agents)]

    def end_user_id(self, rng: random.Random) -> int:
        return USER_BASE + self.sizes.agents + rng.randrange(self.sizes.end_users)

    def org_of_user(self, user_id: int) -> int | None:
        index = user_id - USER_BASE
        if index < self.sizes.agents:
            return ORG_BASE
        # One end user in five has no organization.
        slot = (index * 7919 + self.seed) % (self.sizes.organizations * 5)
        return ORG_BASE + slot if slot < self.sizes.organizations else None

    def group_of_agent(self, user_id: int) -> int:
        return GROUP_BASE + (user_id - USER_BASE) % self.sizes.groups

    # -- records -------------------------------------------------------------------------------
    def ticket(self, ticket_id: int) -> dict[str, Any]:
        rng = seeding.rng_for(self.seed, "ticket", ticket_id)
        created, updated = self.ticket_created[ticket_id - 1], self.ticket_updated[ticket_id - 1]
        status = rng.choice(STATUSES)
        requester = self.end_user_id(rng)
        assignee = None if status == "new" else USER_BASE + rng.randrange(self.sizes.agents)
        channel = rng.choice(CHANNELS)
        return ticket_row(
            self.base_url,
            ticket_id,
            subject=seeding.subject(rng),
            description=seeding.paragraph(rng),
            status=status,
            priority=rng.choice(PRIORITIES),
            type_=rng.choice(TYPES),
            requester_id=requester,
            submitter_id=requester,
            assignee_id=assignee,
            group_id=self.group_of_agent(assignee) if assignee else None,
            organization_id=self.org_of_user(requester),
            tags=sorted(set(rng.sample(TAGS, rng.randrange(3)))),
            channel=channel,
            created=created,
            updated=updated,
        )

    def comments(self, ticket: dict[str, Any]) -> list[dict[str, Any]]:
        """A seeded ticket's conversation, built only when asked for (a ticket sync never needs it).
        The first comment is the description, by the requester, as on Zendesk."""
        ticket_id = ticket["id"]
        rng = seeding.rng_for(self.seed, "comments", ticket_id)
        created, updated = self.ticket_created[ticket_id - 1], self.ticket_updated[ticket_id - 1]
        agent = ticket["assignee_id"] or USER_BASE + 1
        count = 1 + rng.randrange(4)
        out = []
        for j in range(count):
            at = created if j == 0 else created + (updated - created) * j / (count - 1)
            by_agent = j % 2 == 1
            public = not (by_agent and rng.random() < 0.3)
            files = []
            if rng.random() < 0.2:
                name, kind = seeding.FILE_NAMES[rng.randrange(len(seeding.FILE_NAMES))]
                att_id = ATTACHMENT_BASE + ticket_id * 1000 + j * 10
                files.append(attachment(self.base_url, att_id, name, kind, 1000 + rng.randrange(50_000)))
            body = ticket["description"] if j == 0 else seeding.paragraph(rng)
            out.append(
                comment(
                    COMMENT_BASE + ticket_id * 100 + j,
                    AUDIT_BASE + ticket_id * 100 + j,
                    agent if by_agent else ticket["requester_id"],
                    body,
                    public,
                    at,
                    ticket["via"]["channel"] if j == 0 else "web",
                    files,
                )
            )
        return out

    def user(self, user_id: int) -> dict[str, Any]:
        index = user_id - USER_BASE
        rng = seeding.rng_for(self.seed, "user", index)
        first, last = seeding.person(rng)
        created = self.user_created[index]
        role = "admin" if index == 0 else "agent" if index < self.sizes.agents else "end-user"
        email = f"{first}.{last}.{index}@example.com".lower().replace(" ", "")
        return user_row(
            self.base_url,
            user_id,
            f"{first} {last}",
            email,
            role,
            created,
            created + 3600,
            organization_id=self.org_of_user(user_id),
            default_group_id=self.group_of_agent(user_id) if role != "end-user" else None,
        )

    def organization(self, org_id: int) -> dict[str, Any]:
        index = org_id - ORG_BASE
        rng = seeding.rng_for(self.seed, "org", index)
        name = seeding.company(rng, index)
        created = self.org_created[index]
        return {
            "url": f"{self.base_url}/api/v2/organizations/{org_id}.json",
            "id": org_id,
            "name": name,
            "shared_tickets": False,
            "shared_comments": False,
            "external_id": None,
            "created_at": iso(created),
            "updated_at": iso(created),
            "domain_names": [f"{name.split()[0].lower()}{index}.example.com"],
            "details": None,
            "notes": None,
            "group_id": None,
            "tags": [],
            "organization_fields": {},
        }

    def group(self, group_id: int) -> dict[str, Any]:
        index = group_id - GROUP_BASE
        created = self.group_created[index]
        name = "Support" if index == 0 else f"Tier {index + 1}"
        return group_row(self.base_url, group_id, name, created, default=index == 0)


def ticket_row(
    base_url: str,
    ticket_id: int,
    *,
    subject: str,
    description: str,
    status: str,
    priority: str | None,
    type_: str | None,
    requester_id: int,
    submitter_id: int,
    assignee_id: int | None,
    group_id: int | None,
    organization_id: int | None,
    tags: list[str],
    channel: str,
    created: float,
    updated: float,
) -> dict[str, Any]:
    fields = [{"id": field_id, "value": None} for field_id in CUSTOM_FIELD_IDS]
    return {
        "url": f"{base_url}/api/v2/tickets/{ticket_id}.json",
        "id": ticket_id,
        "external_id": None,
        "via": via(channel),
        "created_at": iso(created),
        "updated_at": iso(updated),
        "generated_timestamp": int(updated),
        "type": type_,
        "subject": subject,
        "raw_subject": subject,
        "description": description,
        "priority": priority,
        "status": status,
        "recipient": None,
        "requester_id": requester_id,
        "submitter_id": submitter_id,
        "assignee_id": assignee_id,
        "organization_id": organization_id,
        "group_id": group_id,
        "collaborator_ids": [],
        "follower_ids": [],
        "email_cc_ids": [],
        "forum_topic_id": None,
        "problem_id": None,
        "has_incidents": False,
        "is_public": True,
        "due_at": None,
        "tags": tags,
        "custom_fields": fields,
        "satisfaction_rating": {"score": "unoffered"},
        "sharing_agreement_ids": [],
        "custom_status_id": CUSTOM_STATUS[status],
        "encoded_id": encoded_id(ticket_id),
        "fields": [dict(f) for f in fields],
        "followup_ids": [],
        "ticket_form_id": FORM_ID,
        "brand_id": BRAND_ID,
        "allow_channelback": False,
        "allow_attachments": True,
        "from_messaging_channel": False,
        "support_type": "agent",
    }


def user_row(
    base_url: str,
    user_id: int,
    name: str,
    email: str,
    role: str,
    created: float,
    updated: float,
    *,
    organization_id: int | None,
    default_group_id: int | None,
) -> dict[str, Any]:
    staff = role != "end-user"
    return {
        "id": user_id,
        "url": f"{base_url}/api/v2/users/{user_id}.json",
        "name": name,
        "email": email,
        "created_at": iso(created),
        "updated_at": iso(updated),
        "time_zone": "Europe/Dublin",
        "iana_time_zone": "Europe/Dublin",
        "phone": None,
        "shared_phone_number": None,
        "photo": None,
        "locale_id": 1,
        "locale": "en-US",
        "organization_id": organization_id,
        "role": role,
        "verified": staff,
        "external_id": None,
        "tags": [],
        "alias": None,
        "active": True,
        "shared": False,
        "shared_agent": False,
        "last_login_at": iso(updated) if staff else None,
        "two_factor_auth_enabled": None,
        "signature": None,
        "details": None,
        "notes": None,
        "role_type": 4 if role == "admin" else None,
        "custom_role_id": CUSTOM_ROLE_ID if staff else None,
        "is_billing_admin": role == "admin",
        "moderator": staff,
        "ticket_restriction": None if staff else "requested",
        "only_private_comments": False,
        "restricted_agent": not staff,
        "suspended": False,
        "default_group_id": default_group_id,
        "report_csv": staff,
        "user_fields": {},
        "suspension_details": None,
    }


def group_row(
    base_url: str, group_id: int, name: str, created: float, default: bool = False
) -> dict[str, Any]:
    return {
        "url": f"{base_url}/api/v2/groups/{group_id}.json",
        "id": group_id,
        "is_public": True,
        "name": name,
        "description": "",
        "default": default,
        "deleted": False,
        "created_at": iso(created),
        "updated_at": iso(created),
    }
