"""Organizations, API keys, linked accounts and link tokens.

Secrets are stored as SHA-256 hashes (for lookup) and, where we must hand them out again (an account
token on relink), encrypted with the ``SecretBox``. Vendor credentials are only ever stored encrypted.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.ids import new_linked_account_id
from app.db.tables import api_keys, link_tokens, linked_accounts, organizations, sync_state
from app.secrets import SecretBox
from app.timeutil import now_micros
from app.tokens import new_token, token_hash

DEFAULT_ORGANIZATION = "default"


class LinkedAccountRecord(msgspec.Struct, kw_only=True):
    """A linked account as the service works with it (credentials decrypted on demand)."""

    id: str
    organization_id: str
    integration: str
    status: str
    status_detail: str | None
    end_user_origin_id: str
    end_user_organization_name: str
    end_user_email_address: str
    base_url: str | None
    credentials_sealed: bytes
    completed_at: int | None
    created_at: int

    def credentials(self, box: SecretBox) -> dict[str, str]:
        return msgspec.json.decode(box.decrypt(self.credentials_sealed), type=dict[str, str])


_ACCOUNT_COLUMNS = (
    linked_accounts.c.id,
    linked_accounts.c.organization_id,
    linked_accounts.c.integration,
    linked_accounts.c.status,
    linked_accounts.c.status_detail,
    linked_accounts.c.end_user_origin_id,
    linked_accounts.c.end_user_organization_name,
    linked_accounts.c.end_user_email_address,
    linked_accounts.c.base_url,
    linked_accounts.c.credentials,
    linked_accounts.c.completed_at,
    linked_accounts.c.created_at,
)


def _account(row: Row[*tuple[Any, ...]]) -> LinkedAccountRecord:
    m = row._mapping
    return LinkedAccountRecord(
        id=m["id"],
        organization_id=m["organization_id"],
        integration=m["integration"],
        status=m["status"],
        status_detail=m["status_detail"],
        end_user_origin_id=m["end_user_origin_id"],
        end_user_organization_name=m["end_user_organization_name"],
        end_user_email_address=m["end_user_email_address"],
        base_url=m["base_url"],
        credentials_sealed=m["credentials"],
        completed_at=m["completed_at"],
        created_at=m["created_at"],
    )


# --- organizations and API keys -------------------------------------------------------------------


async def ensure_organization(conn: AsyncConnection, name: str = DEFAULT_ORGANIZATION) -> str:
    found = await conn.scalar(select(organizations.c.id).where(organizations.c.name == name))
    if found:
        return str(found)
    org_id = str(uuid.uuid4())
    await conn.execute(insert(organizations).values(id=org_id, name=name, created_at=now_micros()))
    return org_id


async def create_api_key(
    conn: AsyncConnection, name: str, *, organization: str = DEFAULT_ORGANIZATION, key: str | None = None
) -> str:
    """Store a new API key (hashed) and return it; the plain key is never retrievable again."""
    org_id = await ensure_organization(conn, organization)
    key = key or new_token("dbk")
    await conn.execute(
        insert(api_keys).values(
            id=str(uuid.uuid4()),
            organization_id=org_id,
            name=name,
            key_hash=token_hash(key),
            key_prefix=key[:8],
            created_at=now_micros(),
        )
    )
    return key


async def ensure_api_key(conn: AsyncConnection, key: str, *, name: str = "DESKBRIDGE_API_KEY") -> bool:
    """Make sure ``key`` exists (in the default organization); True when it had to be created."""
    if await organization_for_key(conn, key):
        return False
    await create_api_key(conn, name, key=key)
    return True


async def organization_for_key(conn: AsyncConnection, key: str) -> str | None:
    found = await conn.scalar(
        select(api_keys.c.organization_id).where(api_keys.c.key_hash == token_hash(key))
    )
    return str(found) if found else None


# --- linked accounts -------------------------------------------------------------------------------


class NewLinkedAccount(msgspec.Struct, kw_only=True):
    organization_id: str
    integration: str
    end_user_origin_id: str
    end_user_organization_name: str
    end_user_email_address: str
    base_url: str | None
    credentials: dict[str, str]


async def link_account(
    conn: AsyncConnection, box: SecretBox, new: NewLinkedAccount
) -> tuple[LinkedAccountRecord, str, bool]:
    """Create the linked account, or relink the existing one of the same end user and integration.

    Relinking replaces credentials and base URL and keeps the id and the account token (Merge's rule).
    Returns the account, its account token and whether it was created.
    """
    now = now_micros()
    sealed = box.encrypt(msgspec.json.encode(new.credentials))
    existing = (
        await conn.execute(
            select(linked_accounts.c.id, linked_accounts.c.account_token).where(
                linked_accounts.c.organization_id == new.organization_id,
                linked_accounts.c.integration == new.integration,
                linked_accounts.c.end_user_origin_id == new.end_user_origin_id,
            )
        )
    ).first()
    values = {
        "status": "COMPLETE",
        "status_detail": None,
        "end_user_organization_name": new.end_user_organization_name,
        "end_user_email_address": new.end_user_email_address,
        "base_url": new.base_url,
        "credentials": sealed,
        "completed_at": now,
    }
    if existing is not None:
        await conn.execute(
            update(linked_accounts).where(linked_accounts.c.id == existing.id).values(**values)
        )
        token = box.decrypt(existing.account_token).decode()
        account_id, created = str(existing.id), False
    else:
        token = new_token("acct")
        account_id, created = new_linked_account_id(), True
        await conn.execute(
            insert(linked_accounts).values(
                id=account_id,
                organization_id=new.organization_id,
                integration=new.integration,
                end_user_origin_id=new.end_user_origin_id,
                account_token_hash=token_hash(token),
                account_token=box.encrypt(token.encode()),
                created_at=now,
                **values,
            )
        )
    account = await get_account(conn, new.organization_id, account_id)
    assert account is not None
    return account, token, created


async def account_for_token(
    conn: AsyncConnection, organization_id: str, token: str
) -> LinkedAccountRecord | None:
    """The linked account of ``token`` if it belongs to ``organization_id`` (the tenant boundary)."""
    row = (
        await conn.execute(
            select(*_ACCOUNT_COLUMNS).where(
                linked_accounts.c.account_token_hash == token_hash(token),
                linked_accounts.c.organization_id == organization_id,
            )
        )
    ).first()
    return _account(row) if row else None


async def get_account(
    conn: AsyncConnection, organization_id: str, account_id: str
) -> LinkedAccountRecord | None:
    row = (
        await conn.execute(
            select(*_ACCOUNT_COLUMNS).where(
                linked_accounts.c.id == account_id, linked_accounts.c.organization_id == organization_id
            )
        )
    ).first()
    return _account(row) if row else None


async def account_token(conn: AsyncConnection, box: SecretBox, account_id: str) -> str:
    sealed = await conn.scalar(
        select(linked_accounts.c.account_token).where(linked_accounts.c.id == account_id)
    )
    if sealed is None:
        raise LookupError(f"linked account {account_id} does not exist")
    return box.decrypt(sealed).decode()


async def list_accounts(
    conn: AsyncConnection,
    organization_id: str,
    filters: dict[str, Any],
    *,
    after: str | None,
    limit: int,
) -> list[LinkedAccountRecord]:
    """Linked accounts of the organization, ordered by id, keyset-paged, with equality/any-of filters."""
    stmt = select(*_ACCOUNT_COLUMNS).where(linked_accounts.c.organization_id == organization_id)
    for column, value in filters.items():
        col = linked_accounts.c[column]
        stmt = stmt.where(col.in_(value) if isinstance(value, list) else col == value)
    if after:
        stmt = stmt.where(linked_accounts.c.id > after)
    rows = await conn.execute(stmt.order_by(linked_accounts.c.id).limit(limit))
    return [_account(r) for r in rows]


async def set_status(conn: AsyncConnection, account_id: str, status: str, detail: str | None) -> None:
    await conn.execute(
        update(linked_accounts)
        .where(linked_accounts.c.id == account_id)
        .values(status=status, status_detail=detail)
    )


async def delete_account(conn: AsyncConnection, account_id: str) -> None:
    await conn.execute(delete(sync_state).where(sync_state.c.linked_account_id == account_id))
    await conn.execute(delete(link_tokens).where(link_tokens.c.linked_account_id == account_id))
    await conn.execute(delete(linked_accounts).where(linked_accounts.c.id == account_id))


async def count_accounts(conn: AsyncConnection, organization_id: str) -> int:
    return int(
        await conn.scalar(
            select(func.count())
            .select_from(linked_accounts)
            .where(linked_accounts.c.organization_id == organization_id)
        )
        or 0
    )


# --- link tokens -----------------------------------------------------------------------------------


async def create_link_token(
    conn: AsyncConnection,
    organization_id: str,
    *,
    end_user_origin_id: str,
    end_user_organization_name: str,
    end_user_email_address: str,
    integration: str | None,
    expiry_minutes: int,
) -> str:
    token = new_token("link")
    now = now_micros()
    await conn.execute(
        insert(link_tokens).values(
            id=str(uuid.uuid4()),
            organization_id=organization_id,
            token_hash=token_hash(token),
            end_user_origin_id=end_user_origin_id,
            end_user_organization_name=end_user_organization_name,
            end_user_email_address=end_user_email_address,
            integration=integration,
            expires_at=now + expiry_minutes * 60_000_000,
            created_at=now,
        )
    )
    return token


async def find_link_token(conn: AsyncConnection, token: str) -> Row[Any] | None:
    return (
        await conn.execute(select(link_tokens).where(link_tokens.c.token_hash == token_hash(token)))
    ).first()


async def complete_link_token(conn: AsyncConnection, link_id: str, account_id: str) -> str | None:
    """Mark the link token used and mint its one-time public token; None if it was used meanwhile."""
    public = new_token("pub")
    result = await conn.execute(
        update(link_tokens)
        .where(link_tokens.c.id == link_id, link_tokens.c.completed_at.is_(None))
        .values(completed_at=now_micros(), linked_account_id=account_id, public_token_hash=token_hash(public))
    )
    return public if result.rowcount == 1 else None


async def redeem_public_token(conn: AsyncConnection, organization_id: str, public_token: str) -> str | None:
    """Exchange a public token once; returns the linked account id, None when unknown or already used."""
    row = (
        await conn.execute(
            select(link_tokens.c.id, link_tokens.c.linked_account_id).where(
                link_tokens.c.public_token_hash == token_hash(public_token),
                link_tokens.c.organization_id == organization_id,
                link_tokens.c.public_token_used_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    result = await conn.execute(
        update(link_tokens)
        .where(link_tokens.c.id == row.id, link_tokens.c.public_token_used_at.is_(None))
        .values(public_token_used_at=now_micros())
    )
    return str(row.linked_account_id) if result.rowcount == 1 else None


async def account_by_id(conn: AsyncConnection, account_id: str) -> LinkedAccountRecord | None:
    """A linked account regardless of organization: for the sync engine, never for API requests."""
    row = (await conn.execute(select(*_ACCOUNT_COLUMNS).where(linked_accounts.c.id == account_id))).first()
    return _account(row) if row else None
