"""Issues: problems the integrator must act on (API key only, like ``/linked-accounts``).

Filters as Merge's: ``start_date``/``end_date`` bound the most recent incident, the
``*_incident_time_*`` pairs the first and the last; muted issues are left out unless asked for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import get
from litestar.params import FromPath, QueryParameter

from app.api.cursor import decode_cursor, encode_cursor
from app.api.deps import Conn, Organization
from app.api.errors import bad_request, not_found
from app.api.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.db import accounts as account_store
from app.db import issues as issue_store
from app.db.issues import ONGOING, RESOLVED, IssueFilter
from app.timeutil import to_micros
from connectors import registry
from schemas.accounts import Issue
from schemas.envelopes import Page

Time = Annotated[datetime | None, QueryParameter(required=False)]


def _micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def _later(*times: int | None) -> int | None:
    given = [t for t in times if t is not None]
    return max(given) if given else None


def _earlier(*times: int | None) -> int | None:
    given = [t for t in times if t is not None]
    return min(given) if given else None


@get("/issues", operation_id="issues_list", tags=["issues"])
async def list_issues(
    organization: Organization,
    conn: Conn,
    cursor: Annotated[str | None, QueryParameter(required=False)] = None,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, required=False)] = DEFAULT_PAGE_SIZE,
    account_token: Annotated[
        str | None, QueryParameter(required=False, description="Only this linked account's issues.")
    ] = None,
    linked_account_id: Annotated[str | None, QueryParameter(required=False)] = None,
    status: Annotated[str | None, QueryParameter(required=False, description="ONGOING or RESOLVED.")] = None,
    include_muted: Annotated[bool, QueryParameter(required=False)] = False,
    integration_name: Annotated[str | None, QueryParameter(required=False)] = None,
    end_user_organization_name: Annotated[str | None, QueryParameter(required=False)] = None,
    start_date: Time = None,
    end_date: Time = None,
    first_incident_time_after: Time = None,
    first_incident_time_before: Time = None,
    last_incident_time_after: Time = None,
    last_incident_time_before: Time = None,
) -> Page[Issue]:
    if status is not None and status not in (ONGOING, RESOLVED):
        raise bad_request(f"status must be {ONGOING} or {RESOLVED}", pointer=None)
    accounts: list[str] | None = None
    if linked_account_id:
        accounts = [linked_account_id]
    if account_token:
        # A token of another organization filters to nothing, like an unknown one.
        account = await account_store.account_for_token(conn, organization, account_token)
        mine = [account.id] if account is not None else []
        accounts = mine if accounts is None else [a for a in accounts if a in mine]
    integrations = None
    if integration_name:
        wanted = integration_name.lower()
        integrations = [s for s in registry.slugs() if wanted in (s, registry.get(s).name.lower())]
    where = IssueFilter(
        linked_account_ids=accounts,
        status=status,
        include_muted=include_muted,
        integrations=integrations,
        end_user_organization_name=end_user_organization_name or None,
        first_incident_after=_micros(first_incident_time_after),
        first_incident_before=_micros(first_incident_time_before),
        # ``start_date``/``end_date``: "whose most recent action occurred after/before this time".
        last_incident_after=_later(_micros(last_incident_time_after), _micros(start_date)),
        last_incident_before=_earlier(_micros(last_incident_time_before), _micros(end_date)),
    )
    after = decode_cursor(cursor).p if cursor else 0
    found = await issue_store.list_issues(conn, organization, where, after=after, limit=page_size + 1)
    more = len(found) > page_size
    found = found[:page_size]
    return Page(
        next=encode_cursor(found[-1][0]) if more else None,
        previous=None,
        results=[issue_store.as_merge(issue) for _, issue in found],
    )


@get("/issues/{issue_id:str}", operation_id="issues_retrieve", tags=["issues"])
async def retrieve_issue(organization: Organization, conn: Conn, issue_id: FromPath[str]) -> Issue:
    issue = await issue_store.get_issue(conn, organization, issue_id)
    if issue is None:
        raise not_found()
    return issue_store.as_merge(issue)


HANDLERS = [list_issues, retrieve_issue]
