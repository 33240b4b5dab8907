"""What happens when a vendor refuses a linked account's credentials, wherever we find out (a sync, a
write-through): the account is marked ``RELINK_NEEDED``, its sync jobs stop until it is relinked
(``linking.link`` resumes them and resolves the issue), and an issue is opened for the integrator
(``GET /issues``, ``Issue.new``). A repeat updates the open issue instead of opening another; a refusal
after a relink reopens the last one (``Issue.reopened``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import accounts as account_store
from app.db import issues as issue_store
from app.db import syncstate
from app.db.accounts import LinkedAccountRecord
from app.timeutil import now_micros
from app.webhooks import events
from app.webhooks import hooks as webhooks


async def credentials_refused(conn: AsyncConnection, account: LinkedAccountRecord, detail: str) -> None:
    """Record the refusal in the caller's transaction; ``detail`` says where it happened."""
    await account_store.set_status(conn, account.id, "RELINK_NEEDED", detail)
    await syncstate.suspend(conn, account.id, detail)
    issue, change = await issue_store.record(
        conn,
        organization_id=account.organization_id,
        linked_account_id=account.id,
        description=issue_store.INVALID_CREDENTIALS,
        detail=detail,
        now=now_micros(),
    )
    if change is not None:
        event = events.ISSUE_NEW if change == issue_store.OPENED else events.ISSUE_REOPENED
        await webhooks.issue_changed(conn, account, issue, event)
