"""Building a linked account's connector: the one place ``app`` reaches vendor code (via the registry)."""

from __future__ import annotations

import msgspec
from sqlalchemy import update

from app.api.state import Services
from app.db.accounts import LinkedAccountRecord
from app.db.tables import linked_accounts
from app.urlpolicy import UnsafeURLError
from connectors import registry
from connectors.base import Connector, ConnectorContext, ModelSupport


class VendorURLError(ValueError):
    """The linked account's vendor URL is missing or refused by the outbound policy."""


def resolve_base_url(
    services: Services, integration: str, credentials: dict[str, str], base_url: str | None
) -> str | None:
    """The URL we will call for this desk, checked against the outbound (SSRF) policy."""
    cls = registry.get(integration)
    url = base_url or cls.default_base_url(credentials)
    if url is None:
        return None
    try:
        return services.url_policy.check_url(url)
    except UnsafeURLError as exc:
        raise VendorURLError(f"base_url refused: {exc}") from None


def connector_for(
    services: Services, account: LinkedAccountRecord, *, credentials: dict[str, str] | None = None
) -> Connector:
    """The connector of ``account`` (``credentials`` overrides the stored ones, to test new ones)."""
    cls = registry.get(account.integration)
    credentials = account.credentials(services.box) if credentials is None else credentials
    base_url = resolve_base_url(services, account.integration, credentials, account.base_url)

    async def save_credentials(new: dict[str, str]) -> None:
        if not account.id:  # not stored yet (credentials being checked before linking)
            return
        # An OAuth refresh rotated the tokens: persist at once, outside the request's transaction.
        async with services.engine.begin() as conn:
            await conn.execute(
                update(linked_accounts)
                .where(linked_accounts.c.id == account.id)
                .values(credentials=services.box.encrypt(msgspec.json.encode(new)))
            )
        services.auth_cache.clear()  # cached accounts carry the old sealed credentials

    if account.id and account.id not in services.limiters:
        services.limiters[account.id] = cls.new_limiter()
    return cls(
        ConnectorContext(
            credentials=credentials,
            http=services.http,
            base_url=base_url,
            save_credentials=save_credentials,
            limiter=services.limiters.get(account.id),
            retry=services.retry,
        )
    )


def model_support(integration: str, model: str) -> ModelSupport | None:
    """What the integration declares for ``model`` (None: it does not offer the model at all)."""
    return next((m for m in registry.get(integration).models if m.model == model), None)
