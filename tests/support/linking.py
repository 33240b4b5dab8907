"""Linking a desk the way ``POST /linked-accounts`` does (credentials checked at the vendor), for tests
that drive the sync engine directly."""

from __future__ import annotations

from app.api.state import Services
from app.db import accounts as account_store
from app.db.accounts import NewLinkedAccount
from app.linking import link


async def link_desk(
    services: Services, integration: str, url: str, credentials: dict[str, str], origin: str
) -> str:
    """Link the desk at ``url`` for the default organization; returns the linked account id."""
    async with services.engine.begin() as conn:
        org = await account_store.ensure_organization(conn)
    account, _token, _ = await link(
        services,
        NewLinkedAccount(
            organization_id=org,
            integration=integration,
            end_user_origin_id=origin,
            end_user_organization_name=origin.title(),
            end_user_email_address="admin@acme.test",
            base_url=url,
            credentials=credentials,
        ),
    )
    return account.id
