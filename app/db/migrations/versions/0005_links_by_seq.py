"""record_links name records by seq, clustered on the filter lookup (WITHOUT ROWID on SQLite)

Keyed by the records' random UUID ids, a full sync's link rows landed all over the indexes and every
page's commit rewrote pages across them; by ``seq`` they append. See app/db/tables.py.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The common models that have links, and their tables (as of this revision).
LINKED_TABLES = {"Ticket": "tickets", "User": "users"}


def _create_links(by_seq: bool) -> None:
    key = "record_seq" if by_seq else "record_id"
    key_type: sa.types.TypeEngine[Any] = sa.BigInteger() if by_seq else sa.String(length=36)
    columns = [
        sa.Column("linked_account_id", sa.String(length=36), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["linked_account_id"],
            ["linked_accounts.id"],
            name=op.f("fk_record_links_linked_account_id_linked_accounts"),
            ondelete="CASCADE",
        ),
    ]
    columns.insert(4 if by_seq else 2, sa.Column(key, key_type, nullable=False))  # the declared order
    if by_seq:
        op.create_table(
            "record_links",
            *columns,
            sa.PrimaryKeyConstraint(
                "linked_account_id", "model", "field", "target", "record_seq", name=op.f("pk_record_links")
            ),
            sqlite_with_rowid=False,
        )
        op.create_index("ix_record_links_model_record_seq", "record_links", ["model", "record_seq"])
    else:
        op.create_table(
            "record_links",
            *columns,
            sa.PrimaryKeyConstraint("model", "record_id", "field", "target", name=op.f("pk_record_links")),
        )
        op.create_index(
            "ix_record_links_lookup", "record_links", ["linked_account_id", "model", "field", "target"]
        )


def _rebuild(by_seq: bool) -> None:
    """Copy the links aside, recreate the table the other way, and copy them back translated.
    (Constraint names are per schema on PostgreSQL, so the old table goes before the new one comes.)"""
    old_key, new_key = ("record_id", "record_seq") if by_seq else ("record_seq", "record_id")
    record_col, link_col = ("id", "seq") if by_seq else ("seq", "id")
    # Only this module's constants are interpolated into the statements below (S608).
    aside = f"SELECT linked_account_id, model, {old_key} AS k, field, target FROM record_links"  # noqa: S608
    op.execute(f"CREATE TABLE record_links_0005 AS {aside}")
    op.drop_table("record_links")
    _create_links(by_seq)
    for model, table in LINKED_TABLES.items():
        columns = f"linked_account_id, model, {new_key}, field, target"
        values = f"l.linked_account_id, l.model, r.{link_col}, l.field, l.target"
        join = f"record_links_0005 l JOIN {table} r ON r.{record_col} = l.k WHERE l.model = '{model}'"
        op.execute(f"INSERT INTO record_links ({columns}) SELECT {values} FROM {join}")  # noqa: S608
    op.drop_table("record_links_0005")


def upgrade() -> None:
    _rebuild(by_seq=True)


def downgrade() -> None:
    _rebuild(by_seq=False)
