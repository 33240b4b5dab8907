"""unread links: no more record_links for Ticket.assigned_teams and Ticket.attachments

No list filter reads them (Merge has none), yet every sync page wrote them: a third of a Zendesk
sync's links. Their rows and numbered targets go. Downgrading restores nothing: the versions before
this one never read those links either, and write a changed ticket's links afresh.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_link_targets = sa.table("link_targets", sa.column("key"), sa.column("model"), sa.column("field"))
_record_links = sa.table("record_links", sa.column("target_key"))
_UNREAD = (_link_targets.c.model == "Ticket", _link_targets.c.field.in_(["assigned_teams", "attachments"]))


def upgrade() -> None:
    unread_keys = sa.select(_link_targets.c.key).where(*_UNREAD)
    op.execute(_record_links.delete().where(_record_links.c.target_key.in_(unread_keys)))
    op.execute(_link_targets.delete().where(*_UNREAD))


def downgrade() -> None:
    pass
