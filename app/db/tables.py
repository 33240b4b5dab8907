"""The schema of the store, as SQLAlchemy Core tables (Alembic migrations mirror it).

Times are integer microseconds since the epoch (UTC): exact, portable between SQLite and PostgreSQL, and
cheap to compare and index. Every common model has its own table with the columns its list filters need,
plus ``data``: the record's API JSON (relations as our ids, ``remote_data`` null) so a list page can be
served by concatenating stored bytes. Many-valued relations and tags live in ``record_links``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import (
    false as sa_false,
)
from sqlalchemy import (
    true as sa_true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: An auto-incrementing 64-bit key; SQLite only auto-increments ``INTEGER PRIMARY KEY``.
Seq = BigInteger().with_variant(Integer(), "sqlite")
Micros = BigInteger
Uuid = String(36)

organizations = Table(
    "organizations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", Micros, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    # SHA-256 of the key: keys are 256-bit random, so a fast hash is enough and lookups stay indexed.
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("created_at", Micros, nullable=False),
)

linked_accounts = Table(
    "linked_accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("integration", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_detail", Text),
    Column("end_user_origin_id", String(255), nullable=False),
    Column("end_user_organization_name", String(255), nullable=False),
    Column("end_user_email_address", String(255), nullable=False),
    Column("base_url", Text),
    Column("credentials", LargeBinary, nullable=False),  # Fernet token of the JSON credentials
    Column("account_token_hash", String(64), nullable=False, unique=True),
    Column("account_token", LargeBinary, nullable=False),  # Fernet token, returned again on relink
    Column("completed_at", Micros),
    Column("created_at", Micros, nullable=False),
    UniqueConstraint(
        "organization_id", "integration", "end_user_origin_id", name="uq_linked_accounts_origin"
    ),
)

link_tokens = Table(
    "link_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("end_user_origin_id", String(255), nullable=False),
    Column("end_user_organization_name", String(255), nullable=False),
    Column("end_user_email_address", String(255), nullable=False),
    Column("integration", String(64)),
    Column("expires_at", Micros, nullable=False),
    Column("completed_at", Micros),
    Column("public_token_hash", String(64), unique=True),
    Column("public_token_used_at", Micros),
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE")),
    Column("created_at", Micros, nullable=False),
)

sync_state = Table(
    "sync_state",
    metadata,
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(32), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("is_initial_sync", Boolean, nullable=False, default=True),
    Column("last_sync_start", Micros),
    Column("last_sync_finished", Micros),
    Column("last_sync_result", String(32)),
    Column("data_fresh_as_of", Micros),
    Column("next_sync_start", Micros),
    Column("sync_status_reason", String(64)),
    Column("full_resync_requested", Boolean, nullable=False, default=False),
    Column("checkpoint", LargeBinary),  # the serialized next request of an interrupted run
    Column("records_synced", BigInteger, nullable=False, default=0),
    # --- the job: leases, runs, resumption (see app/sync) ---
    Column("run_id", BigInteger, nullable=False, default=0, server_default="0"),
    Column("run_started_at", Micros),  # recorded before the first read of a run
    Column("run_full", Boolean, nullable=False, default=False, server_default=sa_false()),
    Column("run_records", BigInteger, nullable=False, default=0, server_default="0"),
    Column("resume", LargeBinary),  # where the next incremental run starts (a cursor export's cursor)
    Column("synced_since", Micros),  # start of the last complete run: the next run's changed-since
    Column("lease_owner", String(100)),
    Column("lease_expires_at", Micros),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text),
    Index("ix_sync_state_due", "next_sync_start"),
)

#: Parents whose dependent records (comments of a ticket) must be read again.
sync_parents = Table(
    "sync_parents",
    metadata,
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("model", String(32), primary_key=True),  # the dependent model, e.g. "Comment"
    Column("parent_remote_id", String(255), primary_key=True),
    Column("queued_at", Micros, nullable=False),
)


def _record_table(name: str, *extra: Column[object] | Index) -> Table:
    """A common model's table: shared bookkeeping columns plus its own filter columns."""
    return Table(
        name,
        metadata,
        Column("seq", Seq, primary_key=True, autoincrement=True),
        Column("id", Uuid, nullable=False, unique=True),
        Column(
            "linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), nullable=False
        ),
        Column("remote_id", String(255), nullable=False),
        Column("created_at", Micros, nullable=False),
        Column("modified_at", Micros, nullable=False),
        Column("remote_was_deleted", Boolean, nullable=False, default=False),
        Column("data", LargeBinary, nullable=False),
        Column("remote_data", LargeBinary),
        Column("enum_origins", LargeBinary),
        Column("sync_run", BigInteger),  # the last sync run that saw the record (deletion by diff)
        UniqueConstraint("linked_account_id", "remote_id"),
        Index(f"ix_{name}_account_seq", "linked_account_id", "seq"),
        Index(f"ix_{name}_account_modified", "linked_account_id", "modified_at"),
        *extra,
    )


tickets = _record_table(
    "tickets",
    Column("name", Text),
    Column("status", String(32)),
    Column("priority", String(32)),
    Column("ticket_type", String(255)),
    Column("ticket_url", Text),
    Column("account_id", Uuid),
    Column("contact_id", Uuid),
    Column("creator_id", Uuid),
    Column("parent_ticket_id", Uuid),
    Column("due_date", Micros),
    Column("completed_at", Micros),
    Column("remote_created_at", Micros),
    Column("remote_updated_at", Micros),
    Index("ix_tickets_account_status", "linked_account_id", "status"),
)
comments = _record_table(
    "comments",
    Column("ticket_id", Uuid),
    Column("user_id", Uuid),
    Column("contact_id", Uuid),
    Column("remote_created_at", Micros),
    Index("ix_comments_account_ticket", "linked_account_id", "ticket_id"),
)
contacts = _record_table(
    "contacts",
    Column("email_address", String(320)),
    Column("account_id", Uuid),
    Index("ix_contacts_account_email", "linked_account_id", "email_address"),
)
accounts = _record_table("accounts")
users = _record_table(
    "users",
    Column("email_address", String(320)),  # lower-cased: the filter is case-insensitive
    Index("ix_users_account_email", "linked_account_id", "email_address"),
)
teams = _record_table("teams")
attachments = _record_table(
    "attachments",
    Column("ticket_id", Uuid),
    Column("remote_created_at", Micros),
    Index("ix_attachments_account_ticket", "linked_account_id", "ticket_id"),
)
collections = _record_table(
    "collections",
    Column("name", Text),
    Column("collection_type", String(32)),
    Column("parent_collection_id", Uuid),
)
tags = _record_table("tags")
roles = _record_table("roles")

#: Common model name -> its table.
RECORD_TABLES: dict[str, Table] = {
    "Ticket": tickets,
    "Comment": comments,
    "Contact": contacts,
    "Account": accounts,
    "User": users,
    "Team": teams,
    "Attachment": attachments,
    "Collection": collections,
    "Tag": tags,
    "Role": roles,
}

#: Many-valued fields (a ticket's assignees, teams, tags): one row per value, for list filters. Each
#: distinct (account, model, field, value) is numbered once in ``link_targets``; a link is then two
#: integers, (target_key, record_seq). A sync page names hundreds of targets (a thousand tickets, two
#: hundred assignees), so its links land in hundreds of places of the filter's index, and every page's
#: commit rewrote those index pages; with the strings in every key (~100 bytes a row) that was half of
#: all the bytes a full sync wrote. Measured at 100,000 tickets: links 56 MB -> ~7 MB, bytes written
#: by the sync 4.3 GB -> 2.4 GB, SQLite's time inserting links 1.6 s -> 0.3 s.
link_targets = Table(
    "link_targets",
    metadata,
    Column("key", Seq, primary_key=True, autoincrement=True),
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("model", String(32), nullable=False),
    Column("field", String(32), nullable=False),
    Column("target", String(255), nullable=False),  # our id, or the tag text for ``tags``
    UniqueConstraint("linked_account_id", "model", "field", "target"),
)

#: A link names its record by ``seq`` (the record table's key), not by its random UUID id: a sync
#: inserts records in ``seq`` order, so within each target the links append. Clustered on the
#: filter's lookup (``WITHOUT ROWID`` on SQLite: the key is the row).
record_links = Table(
    "record_links",
    metadata,
    Column("target_key", BigInteger, ForeignKey("link_targets.key", ondelete="CASCADE"), primary_key=True),
    Column("record_seq", BigInteger, primary_key=True),  # ``seq`` of the record in its model's table
    Index("ix_record_links_record_seq", "record_seq"),  # a record's links, to replace them
    sqlite_with_rowid=False,
)

# --- outgoing webhooks (app/webhooks) ---------------------------------------------------------------


def delivery_columns() -> list[Column[Any]]:
    """An outbox row's delivery state (``app/outbox.py``), the same in both outboxes."""
    return [
        Column("created_at", Micros, nullable=False),
        Column("attempts", Integer, nullable=False, default=0, server_default="0"),
        Column("next_attempt_at", Micros),  # null once delivered or dead: the due index skips it
        Column("lease_owner", String(100)),
        Column("lease_expires_at", Micros),
        Column("delivered_at", Micros),
        Column("last_status", Integer),  # the receiver's last HTTP status (null: no response)
        Column("last_error", Text),
        Column("dead_at", Micros),
    ]


#: Where an organization wants events delivered; the signing secret is sealed with the SecretBox.
#: Problems the integrator must act on (Merge's Issues): one ONGOING row per (linked account, problem)
#: whose ``last_incident_time`` moves on each repeat; RESOLVED when the account is relinked.
issues = Table(
    "issues",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", Uuid, nullable=False, unique=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False),  # ONGOING | RESOLVED
    Column("error_description", String(255), nullable=False),
    Column("error_details", LargeBinary, nullable=False),  # JSON list of strings, newest last
    Column("first_incident_time", Micros, nullable=False),
    Column("last_incident_time", Micros, nullable=False),
    Column("is_muted", Boolean, nullable=False, default=False, server_default=sa_false()),
    Index("ix_issues_org_seq", "organization_id", "seq"),
    # One ongoing issue per (account, problem), even when two workers report it at once.
    Index(
        "uq_issues_ongoing",
        "linked_account_id",
        "error_description",
        unique=True,
        sqlite_where=text("status = 'ONGOING'"),
        postgresql_where=text("status = 'ONGOING'"),
    ),
)

webhook_targets = Table(
    "webhook_targets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Text, nullable=False, default="", server_default=""),  # comma-separated; "" = all
    Column("secret", LargeBinary, nullable=False),
    Column("is_active", Boolean, nullable=False, default=True, server_default=sa_true()),
    Column("created_at", Micros, nullable=False),
    Index("ix_webhook_targets_org", "organization_id", "id"),
)

#: One row per (event, target), written in the transaction of the change it reports. The row is the
#: whole delivery state (nothing lives in memory), so deliveries survive restarts.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", Uuid, nullable=False, unique=True),  # the event id receivers dedupe on
    Column("target_id", Uuid, ForeignKey("webhook_targets.id", ondelete="CASCADE"), nullable=False),
    Column("event", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the exact bytes signed and sent
    *delivery_columns(),
    Index("ix_webhook_outbox_due", "next_attempt_at"),
    Index("ix_webhook_outbox_target_seq", "target_id", "seq"),
)

# --- ticket sharing (app/sharing) --------------------------------------------------------------------

#: A linked account's receiving endpoint: ``{public_url}/sharing/{sharing_id}`` (unguessable, not the id).
sharing_endpoints = Table(
    "sharing_endpoints",
    metadata,
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("sharing_id", String(64), nullable=False, unique=True),
    Column("created_at", Micros, nullable=False),
)

#: Agreements as each linked account sees them: ``out`` = we invited (we are the sender), ``in`` = we
#: were invited. Two accounts of one deskbridge sharing with each other hold one row each, same uuid.
sharing_agreements = Table(
    "sharing_agreements",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("uuid", String(255), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("partner_url", Text, nullable=False),
    Column("our_url", Text, nullable=False),
    Column("access_key", LargeBinary, nullable=False),  # sealed with the SecretBox
    Column("name", String(255)),  # the sender's (company) name, as invites carry it
    Column("partner_name", String(255)),
    Column("sync_tags", Boolean, nullable=False, default=False, server_default=sa_false()),
    Column("sync_custom_fields", Boolean, nullable=False, default=False, server_default=sa_false()),
    Column("allows_public_comments", Boolean, nullable=False, default=False, server_default=sa_false()),
    Column("deactivated_by", String(16)),
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("linked_account_id", "uuid", name="uq_sharing_agreements_account_uuid"),
)

#: A ticket shared on an agreement: ``sharer`` (ours, sent out) or ``receiver`` (created from a share).
#: ``state``: creating (a share being written into the desk), active, unshared (an orphan).
shared_tickets = Table(
    "shared_tickets",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("agreement_id", Uuid, ForeignKey("sharing_agreements.id", ondelete="CASCADE"), nullable=False),
    Column("linked_account_id", Uuid, ForeignKey("linked_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("uuid", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("ticket_id", Uuid),
    Column("ticket_remote_id", String(255)),
    Column("sent_status", String(32)),  # the protocol status both sides last agreed on
    Column("sent_tags", Text),  # JSON list, when tags sync
    Column("created_at", Micros, nullable=False),
    Column("updated_at", Micros, nullable=False),
    UniqueConstraint("agreement_id", "uuid", name="uq_shared_tickets_agreement_uuid"),
    Index("ix_shared_tickets_ticket", "linked_account_id", "ticket_id"),
)

#: Comment uuid <-> our comment, per shared ticket; ``origin`` partner rows are never sent back (echo).
#: A partner row with no ``comment_remote_id`` is a comment being written into the desk right now.
shared_comments = Table(
    "shared_comments",
    metadata,
    Column("shared_ticket_id", Uuid, ForeignKey("shared_tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("uuid", String(255), primary_key=True),
    Column("origin", String(8), nullable=False),
    Column("comment_id", Uuid),
    Column("comment_remote_id", String(255)),
    Column("sent_ok_at", Micros),
    Column("created_at", Micros, nullable=False),
    Index("ix_shared_comments_remote", "shared_ticket_id", "comment_remote_id"),
)

#: Protocol requests to send, one row each, in ``seq`` order per ``order_key`` (an agreement or a shared
#: ticket). Ticket bodies are built when sent, from the state at that moment; agreement bodies when
#: queued (each status change must reach the partner).
sharing_outbox = Table(
    "sharing_outbox",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("agreement_id", Uuid, ForeignKey("sharing_agreements.id", ondelete="CASCADE"), nullable=False),
    Column("shared_ticket_id", Uuid, ForeignKey("shared_tickets.id", ondelete="CASCADE")),
    Column("order_key", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # invite | agreement | share | update | unshare
    Column("body", LargeBinary),
    *delivery_columns(),
    Index("ix_sharing_outbox_due", "next_attempt_at"),
    Index("ix_sharing_outbox_order", "order_key", "seq"),
)
