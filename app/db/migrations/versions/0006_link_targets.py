"""record_links become (target_key, record_seq): each distinct target numbered once in link_targets

With the account id, model, field and target text in every key (~100 bytes a row), the links' index
was half of what a full sync wrote: a page names hundreds of targets. See app/db/tables.py.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_targets() -> None:
    op.create_table(
        "link_targets",
        sa.Column(
            "key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("linked_account_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["linked_account_id"],
            ["linked_accounts.id"],
            name=op.f("fk_link_targets_linked_account_id_linked_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_link_targets")),
        sa.UniqueConstraint(
            "linked_account_id",
            "model",
            "field",
            "target",
            name=op.f("uq_link_targets_linked_account_id_model_field_target"),
        ),
    )


def upgrade() -> None:
    _create_targets()
    op.execute(
        "INSERT INTO link_targets (linked_account_id, model, field, target) "
        "SELECT DISTINCT linked_account_id, model, field, target FROM record_links"
    )
    op.execute(
        "CREATE TABLE record_links_0006 AS SELECT t.key AS target_key, l.record_seq AS record_seq "
        "FROM record_links l JOIN link_targets t ON t.linked_account_id = l.linked_account_id "
        "AND t.model = l.model AND t.field = l.field AND t.target = l.target"
    )
    op.drop_table("record_links")  # and its index (constraint names are per schema on PostgreSQL)
    op.create_table(
        "record_links",
        sa.Column("target_key", sa.BigInteger(), nullable=False),
        sa.Column("record_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_key"],
            ["link_targets.key"],
            name=op.f("fk_record_links_target_key_link_targets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("target_key", "record_seq", name=op.f("pk_record_links")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_record_links_record_seq", "record_links", ["record_seq"])
    op.execute(
        "INSERT INTO record_links (target_key, record_seq) "
        "SELECT target_key, record_seq FROM record_links_0006 ORDER BY target_key, record_seq"
    )
    op.drop_table("record_links_0006")


def downgrade() -> None:
    op.execute(
        "CREATE TABLE record_links_0006 AS SELECT t.linked_account_id AS linked_account_id, "
        "t.model AS model, t.field AS field, t.target AS target, l.record_seq AS record_seq "
        "FROM record_links l JOIN link_targets t ON t.key = l.target_key"
    )
    op.drop_table("record_links")
    op.drop_table("link_targets")
    # record_links as revision 0005 made it.
    op.create_table(
        "record_links",
        sa.Column("linked_account_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("record_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["linked_account_id"],
            ["linked_accounts.id"],
            name=op.f("fk_record_links_linked_account_id_linked_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "linked_account_id", "model", "field", "target", "record_seq", name=op.f("pk_record_links")
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_record_links_model_record_seq", "record_links", ["model", "record_seq"])
    op.execute(
        "INSERT INTO record_links (linked_account_id, model, field, target, record_seq) "
        "SELECT linked_account_id, model, field, target, record_seq FROM record_links_0006"
    )
    op.drop_table("record_links_0006")
