"""Linking an end user's desk: validate the integration and credentials, check them with the vendor,
then store the linked account (created, or relinked with the same account token)."""

from __future__ import annotations

import msgspec

from app.api.errors import ApiError, bad_request, problem
from app.api.state import Services
from app.db import accounts as account_store
from app.db import issues as issue_store
from app.db import syncstate
from app.db.accounts import LinkedAccountRecord, NewLinkedAccount
from app.vendors import VendorURLError, connector_for, resolve_base_url
from app.webhooks import events
from app.webhooks import hooks as webhooks
from connectors import registry
from connectors.base import FETCH, missing_credentials
from connectors.http.errors import AuthError, ConnectorError


def _check_input(services: Services, request: NewLinkedAccount) -> str | None:
    try:
        cls = registry.get(request.integration)
    except registry.UnknownIntegrationError:
        raise bad_request(
            f"unknown integration {request.integration!r}; available: {', '.join(registry.slugs())}",
            pointer="/integration",
        ) from None
    missing = missing_credentials(cls.credential_fields, request.credentials)
    if missing:
        raise bad_request(
            f"credentials for {request.integration} need: {', '.join(missing)}",
            problem_type="MISSING_REQUIRED_FIELD",
            pointer="/credentials",
        )
    try:
        url = resolve_base_url(services, request.integration, request.credentials, request.base_url)
    except VendorURLError as exc:
        raise bad_request(str(exc), pointer="/base_url") from None
    if url is None:
        raise bad_request(
            f"{request.integration} needs a base_url",
            problem_type="MISSING_REQUIRED_FIELD",
            pointer="/base_url",
        )
    return url


async def link(services: Services, request: NewLinkedAccount) -> tuple[LinkedAccountRecord, str, bool]:
    """Check the credentials with the vendor, then create or relink in a transaction of its own (not
    the caller's: none may stay open while the vendor answers)."""
    url = _check_input(services, request)
    if request.base_url:
        request = msgspec.structs.replace(request, base_url=url)
    probe = LinkedAccountRecord(
        id="",
        organization_id=request.organization_id,
        integration=request.integration,
        status="INCOMPLETE",
        status_detail=None,
        end_user_origin_id=request.end_user_origin_id,
        end_user_organization_name=request.end_user_organization_name,
        end_user_email_address=request.end_user_email_address,
        base_url=request.base_url,
        credentials_sealed=services.box.encrypt(b"{}"),
        completed_at=None,
        created_at=0,
    )
    connector = connector_for(services, probe, credentials=request.credentials)
    try:
        await connector.check_credentials()
    except AuthError:
        raise ApiError(
            400,
            f"{request.integration} refused these credentials.",
            errors=[
                problem(
                    "CREDENTIAL_ERROR",
                    "Credentials refused",
                    "The vendor answered 401/403 to a test request.",
                    "/credentials",
                )
            ],
        ) from None
    except ConnectorError as exc:
        raise ApiError(
            400,
            f"Could not verify the credentials with {request.integration}: {exc}",
            errors=[problem("VENDOR_UNREACHABLE", "Vendor check failed", str(exc), "/base_url")],
        ) from None
    models = [m.model for m in registry.get(request.integration).models if FETCH in m.operations]
    async with services.engine.begin() as conn:
        account, token, created = await account_store.link_account(conn, services.box, request)
        await syncstate.ensure_models(conn, account.id, models)
        if not created:
            await syncstate.resume_all(conn, account.id)
            # The credentials work again: webhooks: Issue.resolved, committed with the relink.
            for issue in await issue_store.resolve(conn, account.organization_id, account.id):
                await webhooks.issue_changed(conn, account, issue, events.ISSUE_RESOLVED)
        else:  # webhooks: LinkedAccount.linked, committed with the new account
            await webhooks.linked(conn, account)
    services.auth_cache.clear()  # a relink changes the cached account (status, credentials)
    return account, token, created
