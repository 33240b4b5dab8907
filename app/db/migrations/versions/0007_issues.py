"""issues: problems the integrator must act on (Merge's Issues), listed by GET /issues

A refused credential used to exist only as an Issue.new webhook; now it is a row that stays ONGOING
(its last incident moving on) until the account is relinked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 16:49:11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column(
            "seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organization_id", sa.String(length=36), nullable=False),
        sa.Column("linked_account_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_description", sa.String(length=255), nullable=False),
        sa.Column("error_details", sa.LargeBinary(), nullable=False),
        sa.Column("first_incident_time", sa.BigInteger(), nullable=False),
        sa.Column("last_incident_time", sa.BigInteger(), nullable=False),
        sa.Column("is_muted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["linked_account_id"],
            ["linked_accounts.id"],
            name=op.f("fk_issues_linked_account_id_linked_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_issues_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_issues")),
        sa.UniqueConstraint("id", name=op.f("uq_issues_id")),
    )
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.create_index("ix_issues_org_seq", ["organization_id", "seq"], unique=False)
        # One ongoing issue per (account, problem), even when two workers report it at once.
        batch_op.create_index(
            "uq_issues_ongoing",
            ["linked_account_id", "error_description"],
            unique=True,
            sqlite_where=sa.text("status = 'ONGOING'"),
            postgresql_where=sa.text("status = 'ONGOING'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_index("uq_issues_ongoing")
        batch_op.drop_index("ix_issues_org_seq")

    op.drop_table("issues")
