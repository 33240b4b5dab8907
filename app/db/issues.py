"""Issues: problems the integrator must act on, as Merge's ``/issues`` lists them.

Today one kind: a vendor refused a linked account's credentials (found by a sync or a write-through). A
problem that repeats updates its ONGOING issue (``last_incident_time``, the newest detail) rather than
adding one per incident; relinking the account resolves it, and a recurrence reopens it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.bulk import insert_ignoring_duplicates
from app.db.tables import issues, linked_accounts
from app.timeutil import from_micros
from schemas.accounts import Issue

ONGOING, RESOLVED = "ONGOING", "RESOLVED"
#: What ``record`` did to an issue that was not ongoing.
OPENED, REOPENED = "opened", "reopened"
INVALID_CREDENTIALS = "Invalid credentials"
#: Details kept per issue (the newest): a problem repeating for weeks must not grow its row forever.
MAX_DETAILS = 20


@dataclass(frozen=True)
class IssueRecord:
    id: str
    linked_account_id: str
    status: str
    error_description: str
    error_details: list[str]
    first_incident_time: int
    last_incident_time: int
    is_muted: bool
    #: The account's end user, as Merge's ``end_user`` object names them (read with the issue).
    end_user_origin_id: str | None
    end_user_organization_name: str | None
    end_user_email_address: str | None


_COLUMNS = (
    issues.c.seq,
    issues.c.id,
    issues.c.linked_account_id,
    issues.c.status,
    issues.c.error_description,
    issues.c.error_details,
    issues.c.first_incident_time,
    issues.c.last_incident_time,
    issues.c.is_muted,
    linked_accounts.c.end_user_origin_id,
    linked_accounts.c.end_user_organization_name,
    linked_accounts.c.end_user_email_address,
)


def _issue(row: Any) -> IssueRecord:
    return IssueRecord(
        id=row.id,
        linked_account_id=row.linked_account_id,
        status=row.status,
        error_description=row.error_description,
        error_details=msgspec.json.decode(row.error_details, type=list[str]),
        first_incident_time=row.first_incident_time,
        last_incident_time=row.last_incident_time,
        is_muted=bool(row.is_muted),
        end_user_origin_id=row.end_user_origin_id,
        end_user_organization_name=row.end_user_organization_name,
        end_user_email_address=row.end_user_email_address,
    )


def _select(organization_id: str) -> Select[Any]:
    return (
        select(*_COLUMNS)
        .join(linked_accounts, linked_accounts.c.id == issues.c.linked_account_id)
        .where(issues.c.organization_id == organization_id)
    )


async def record(
    conn: AsyncConnection,
    *,
    organization_id: str,
    linked_account_id: str,
    description: str,
    detail: str,
    now: int,
) -> tuple[IssueRecord, str | None]:
    """Record an incident of ``description`` on the account: the issue, and ``OPENED`` or ``REOPENED``
    when it was not ongoing (None for a repeat).

    One issue per (account, problem): a repeat updates the ongoing issue, a recurrence after a relink
    reopens the last resolved one. Writes before it reads, so concurrent reporters (two workers meeting
    the same refusal) serialize on the row or on the unique index of ongoing issues: one opens or
    reopens the issue, the other updates it.
    """
    ongoing = (issues.c.status == ONGOING,)
    last_resolved = (
        issues.c.status == RESOLVED,
        issues.c.seq
        == (
            select(func.max(issues.c.seq))
            .where(
                issues.c.linked_account_id == linked_account_id,
                issues.c.error_description == description,
                issues.c.status == RESOLVED,
            )
            .scalar_subquery()
        ),
    )
    for _ in range(2):
        seq = await _add_incident(conn, linked_account_id, description, ongoing, detail, now)
        if seq is not None:
            return await _by_seq(conn, organization_id, seq), None
        seq = await _add_incident(conn, linked_account_id, description, last_resolved, detail, now)
        if seq is not None:
            return await _by_seq(conn, organization_id, seq), REOPENED
        opened = await conn.execute(
            insert_ignoring_duplicates(conn.dialect, issues)
            .values(
                id=str(uuid.uuid4()),
                organization_id=organization_id,
                linked_account_id=linked_account_id,
                status=ONGOING,
                error_description=description,
                error_details=msgspec.json.encode([detail]),
                first_incident_time=now,
                last_incident_time=now,
                is_muted=False,
            )
            .returning(issues.c.seq)
        )
        seq = opened.scalar()
        if seq is not None:
            return await _by_seq(conn, organization_id, seq), OPENED
        # Another reporter opened it between our update and our insert: update that one.
    raise RuntimeError("issue neither updated nor opened")  # the index and the updates disagree: a bug


async def _add_incident(
    conn: AsyncConnection,
    linked_account_id: str,
    description: str,
    which: tuple[ColumnElement[bool], ...],
    detail: str,
    now: int,
) -> int | None:
    """The incident on the issue ``which`` selects: ongoing from now on, its last incident ``now``, with
    ``detail`` added. Its seq, or None when there is no such issue."""
    row = (
        await conn.execute(
            update(issues)
            .where(
                issues.c.linked_account_id == linked_account_id,
                issues.c.error_description == description,
                *which,
            )
            .values(status=ONGOING, last_incident_time=now)
            .returning(issues.c.seq, issues.c.error_details)
        )
    ).first()
    if row is None:
        return None
    details = [*msgspec.json.decode(row.error_details, type=list[str]), detail][-MAX_DETAILS:]
    await conn.execute(
        update(issues).where(issues.c.seq == row.seq).values(error_details=msgspec.json.encode(details))
    )
    return int(row.seq)


async def _by_seq(conn: AsyncConnection, organization_id: str, seq: int) -> IssueRecord:
    return _issue((await conn.execute(_select(organization_id).where(issues.c.seq == seq))).one())


async def resolve(conn: AsyncConnection, organization_id: str, linked_account_id: str) -> list[IssueRecord]:
    """Resolve the account's ongoing issues (it was relinked); returns them, resolved."""
    resolved = await conn.execute(
        update(issues)
        .where(issues.c.linked_account_id == linked_account_id, issues.c.status == ONGOING)
        .values(status=RESOLVED)
        .returning(issues.c.seq)
    )
    return [await _by_seq(conn, organization_id, seq) for seq in resolved.scalars().all()]


async def get_issue(conn: AsyncConnection, organization_id: str, issue_id: str) -> IssueRecord | None:
    row = (await conn.execute(_select(organization_id).where(issues.c.id == issue_id))).first()
    return None if row is None else _issue(row)


@dataclass(frozen=True)
class IssueFilter:
    """``GET /issues`` filters; None means "not filtered". Times are microseconds since the epoch."""

    linked_account_ids: list[str] | None = None
    status: str | None = None
    include_muted: bool = False
    integrations: list[str] | None = None
    end_user_organization_name: str | None = None
    first_incident_after: int | None = None
    first_incident_before: int | None = None
    last_incident_after: int | None = None
    last_incident_before: int | None = None


async def list_issues(
    conn: AsyncConnection, organization_id: str, where: IssueFilter, *, after: int, limit: int
) -> list[tuple[int, IssueRecord]]:
    """The organization's issues in the order they were opened, keyset-paged by ``seq``: (seq, issue)."""
    stmt = _select(organization_id).where(issues.c.seq > after)
    if where.linked_account_ids is not None:
        stmt = stmt.where(issues.c.linked_account_id.in_(where.linked_account_ids))
    if where.status is not None:
        stmt = stmt.where(issues.c.status == where.status)
    if not where.include_muted:
        stmt = stmt.where(issues.c.is_muted.is_(False))
    if where.integrations is not None:
        stmt = stmt.where(linked_accounts.c.integration.in_(where.integrations))
    if where.end_user_organization_name is not None:
        stmt = stmt.where(linked_accounts.c.end_user_organization_name == where.end_user_organization_name)
    for column, after_, before in (
        (issues.c.first_incident_time, where.first_incident_after, where.first_incident_before),
        (issues.c.last_incident_time, where.last_incident_after, where.last_incident_before),
    ):
        if after_ is not None:
            stmt = stmt.where(column > after_)
        if before is not None:
            stmt = stmt.where(column < before)
    rows = await conn.execute(stmt.order_by(issues.c.seq).limit(limit))
    return [(row.seq, _issue(row)) for row in rows]


def as_merge(issue: IssueRecord) -> Issue:
    """The issue as Merge's ``/issues`` and the ``Issue.new`` webhook show it."""
    return Issue(
        id=issue.id,
        status=issue.status,
        error_description=issue.error_description,
        end_user={
            "end_user_origin_id": issue.end_user_origin_id,
            "organization_name": issue.end_user_organization_name,
            "email_address": issue.end_user_email_address,
            "linked_account_id": issue.linked_account_id,
        },
        first_incident_time=from_micros(issue.first_incident_time),
        last_incident_time=from_micros(issue.last_incident_time),
        is_muted=issue.is_muted,
        error_details=list(issue.error_details),
    )
