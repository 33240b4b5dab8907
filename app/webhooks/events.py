"""Event names, exactly as Merge spells them (merge-api.md §7), and the ones we emit.

Our common-model names differ from Merge's *webhook* model names for the models Merge prefixes with
``Ticketing`` (Contact, Account, Team, Tag, Attachment); the mapping below is the only place that knows.
"""

from __future__ import annotations

from typing import Final

#: Our common model name -> Merge's webhook model name.
WEBHOOK_MODEL: Final[dict[str, str]] = {
    "Ticket": "Ticket",
    "Comment": "Comment",
    "Contact": "TicketingContact",
    "Account": "TicketingAccount",
    "User": "User",
    "Team": "TicketingTeam",
    "Attachment": "TicketingAttachment",
    "Collection": "Collection",
    "Tag": "TicketingTag",
    "Role": "Role",
}

ADDED, CHANGED, REMOVED = "added", "changed", "removed"

LINKED = "LinkedAccount.linked"
SYNC_COMPLETED = "LinkedAccount.sync_completed"
ACCOUNT_DELETED = "LinkedAccount.deleted"
ISSUE_NEW = "Issue.new"
ISSUE_REOPENED = "Issue.reopened"
ISSUE_RESOLVED = "Issue.resolved"
#: Not a Merge event: "send test" posts a real signed envelope (Merge's button posts a bare ping body).
TEST = "WebhookTarget.test"


def model_event(model: str, change: str) -> str:
    return f"{WEBHOOK_MODEL[model]}.{change}"


#: Every event a target may subscribe to: the ones we actually emit. Merge's other names (``*.synced``,
#: ``LinkedAccount.status_changed``, async-passthrough events) are refused rather than accepted and never
#: sent.
EMITTED: Final[frozenset[str]] = frozenset(
    {
        *(model_event(m, c) for m in WEBHOOK_MODEL for c in (ADDED, CHANGED, REMOVED)),
        LINKED,
        SYNC_COMPLETED,
        ACCOUNT_DELETED,
        ISSUE_NEW,
        ISSUE_REOPENED,
        ISSUE_RESOLVED,
    }
)
