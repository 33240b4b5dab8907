"""Linked accounts and the Link flow: registration, details, capabilities, deletion, token exchange."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from app import linking
from app.api.cursor import decode_cursor, encode_cursor
from app.api.deps import Account, Conn, Organization, ServicesDep
from app.api.errors import ApiError, bad_request
from app.api.filters import csv
from app.api.records import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from app.db import accounts as account_store
from app.db import records
from app.db.accounts import NewLinkedAccount
from app.timeutil import from_micros, now_micros
from app.webhooks import hooks as webhooks
from connectors import registry
from connectors.base import CREATE, FETCH, UPDATE
from schemas.accounts import (
    AccountDetails,
    AccountIntegration,
    AccountToken,
    AvailableActions,
    LinkCompletion,
    LinkedAccount,
    LinkedAccountCreate,
    LinkedAccountIntegration,
    LinkedAccountWithToken,
    LinkToken,
    LinkTokenCreate,
    ModelOperation,
    PublicToken,
)
from schemas.envelopes import Page

_OPERATIONS = {FETCH: "FETCH", CREATE: "CREATE", UPDATE: "UPDATE"}


def _operations(integration: str) -> list[ModelOperation]:
    return [
        ModelOperation(
            model_name=m.model,
            available_operations=[_OPERATIONS.get(o, o) for o in m.operations],
            required_post_parameters=list(m.required_post_parameters),
            supported_fields=list(m.supported_fields),
        )
        for m in registry.get(integration).models
    ]


def _integration(slug: str) -> AccountIntegration:
    cls = registry.get(slug)
    return AccountIntegration(name=cls.name, abbreviated_name=cls.name, slug=slug, color=cls.color)


def _linked_account(account: Account) -> dict[str, Any]:
    cls = registry.get(account.integration)
    return {
        "id": account.id,
        "status": account.status,
        "status_detail": account.status_detail,
        "end_user_origin_id": account.end_user_origin_id,
        "end_user_organization_name": account.end_user_organization_name,
        "end_user_email_address": account.end_user_email_address,
        # Inbound vendor webhooks are not offered yet: no listener URL to hand out.
        "webhook_listener_url": "",
        "account_type": "PRODUCTION",
        "completed_at": from_micros(account.completed_at),
        "subdomain": urlsplit(account.base_url).hostname if account.base_url else None,
        "integration": LinkedAccountIntegration(
            name=cls.name,
            categories=["ticketing"],
            color=cls.color,
            slug=cls.slug,
            passthrough_available=False,
            available_model_operations=_operations(account.integration),
        ),
    }


@get("/account-details", operation_id="account_details_retrieve", tags=["account"])
async def account_details(account: Account) -> AccountDetails:
    return AccountDetails(
        id=account.id,
        integration=registry.get(account.integration).name,
        integration_slug=account.integration,
        end_user_origin_id=account.end_user_origin_id,
        end_user_organization_name=account.end_user_organization_name,
        end_user_email_address=account.end_user_email_address,
        status=account.status,
        webhook_listener_url="",
        is_duplicate=None,
        account_type="PRODUCTION",
        completed_at=from_micros(account.completed_at),
    )


@get("/available-actions", operation_id="available_actions_retrieve", tags=["account"])
async def available_actions(account: Account) -> AvailableActions:
    return AvailableActions(
        integration=_integration(account.integration),
        passthrough_available=False,
        available_model_operations=_operations(account.integration),
    )


_LIST_FILTERS = {
    "end_user_email_address": "end_user_email_address",
    "end_user_organization_name": "end_user_organization_name",
    "end_user_origin_id": "end_user_origin_id",
    "id": "id",
    "status": "status",
}


@get("/linked-accounts", operation_id="linked_accounts_list", tags=["linked-accounts"])
async def list_linked_accounts(
    organization: Organization,
    conn: Conn,
    cursor: Annotated[str | None, QueryParameter(required=False)] = None,
    page_size: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, required=False)] = DEFAULT_PAGE_SIZE,
    category: Annotated[str | None, QueryParameter(required=False)] = None,
    end_user_email_address: Annotated[str | None, QueryParameter(required=False)] = None,
    end_user_organization_name: Annotated[str | None, QueryParameter(required=False)] = None,
    end_user_origin_id: Annotated[str | None, QueryParameter(required=False)] = None,
    end_user_origin_ids: Annotated[
        str | None, QueryParameter(required=False, description="Comma-separated.")
    ] = None,
    id: Annotated[str | None, QueryParameter(required=False)] = None,
    ids: Annotated[str | None, QueryParameter(required=False, description="Comma-separated.")] = None,
    include_duplicates: Annotated[bool | None, QueryParameter(required=False)] = None,
    integration_name: Annotated[str | None, QueryParameter(required=False)] = None,
    is_test_account: Annotated[str | None, QueryParameter(required=False)] = None,
    status: Annotated[str | None, QueryParameter(required=False)] = None,
) -> Page[LinkedAccount]:
    given = locals()
    filters: dict[str, Any] = {
        column: given[param] for param, column in _LIST_FILTERS.items() if given[param]
    }
    if end_user_origin_ids:
        filters["end_user_origin_id"] = csv(end_user_origin_ids)
    if ids:
        filters["id"] = csv(ids)
    if category and category != "ticketing":
        return Page(results=[])
    if integration_name:
        slugs = [s for s in registry.slugs() if integration_name.lower() in (s, registry.get(s).name.lower())]
        filters["integration"] = slugs
    after = decode_cursor(cursor).k if cursor else None
    found = await account_store.list_accounts(conn, organization, filters, after=after, limit=page_size + 1)
    more = len(found) > page_size
    found = found[:page_size]
    results = [LinkedAccount(**_linked_account(a)) for a in found]
    return Page(next=encode_cursor(key=found[-1].id) if more else None, previous=None, results=results)


@post(
    "/linked-accounts",
    status_code=201,
    operation_id="linked_accounts_create",
    tags=["linked-accounts"],
    summary="Register an end user's desk with its credentials; returns the account token once",
)
async def create_linked_account(
    data: JSONBody[LinkedAccountCreate], organization: Organization, services: ServicesDep
) -> Response[LinkedAccountWithToken]:
    new = NewLinkedAccount(
        organization_id=organization,
        integration=data.integration,
        credentials=data.credentials,
        base_url=data.base_url,
        end_user_origin_id=data.end_user_origin_id,
        end_user_organization_name=data.end_user_organization_name,
        end_user_email_address=data.end_user_email_address,
    )
    account, token, created = await linking.link(services, new)
    body = LinkedAccountWithToken(**_linked_account(account), account_token=token)
    return Response(body, status_code=201 if created else 200)


@post(
    "/delete-account",
    status_code=200,
    operation_id="delete_account_delete",
    tags=["account"],
    summary="Delete the linked account and every record synced from it",
)
async def delete_account(account: Account, conn: Conn, services: ServicesDep) -> None:
    await conn.rollback()
    async with conn.begin():
        await webhooks.account_deleted(conn, account)  # webhooks: LinkedAccount.deleted
        await records.delete_account_records(conn, account.id)
        await account_store.delete_account(conn, account.id)
    services.auth_cache.clear()  # the token stops working now, not when the cache expires


@post("/link-token", status_code=200, operation_id="link_token_create", tags=["link"])
async def create_link_token(
    data: JSONBody[LinkTokenCreate], organization: Organization, conn: Conn
) -> LinkToken:
    if "ticketing" not in data.categories:
        raise bad_request("categories must include 'ticketing'", pointer="/categories")
    if not 30 <= data.link_expiry_mins <= 10080:
        raise bad_request("link_expiry_mins must be between 30 and 10080", pointer="/link_expiry_mins")
    name = None
    if data.integration:
        try:
            name = registry.get(data.integration).name
        except registry.UnknownIntegrationError:
            raise bad_request(f"unknown integration {data.integration!r}", pointer="/integration") from None
    token = await account_store.create_link_token(
        conn,
        organization,
        end_user_origin_id=data.end_user_origin_id,
        end_user_organization_name=data.end_user_organization_name,
        end_user_email_address=data.end_user_email_address,
        integration=data.integration,
        expiry_minutes=data.link_expiry_mins,
    )
    await conn.commit()
    return LinkToken(link_token=token, integration_name=name, magic_link_url=None)


@post(
    "/link/complete",
    status_code=201,
    operation_id="link_complete",
    tags=["link"],
    # Layers' requirements are concatenated, so [] would not clear the router's bearerAuth; an empty
    # requirement object documents that the call needs no credentials.
    security=[{}],
    summary="Finish a link token with the end user's credentials (what the Link page calls)",
)
async def complete_link(data: JSONBody[LinkCompletion], services: ServicesDep, conn: Conn) -> PublicToken:
    link = await account_store.find_link_token(conn, data.link_token)
    if link is None:
        raise ApiError(404, "Unknown link token.")
    if link.completed_at is not None:
        raise bad_request("This link token was already used; create a new one.", pointer="/link_token")
    if link.expires_at < now_micros():
        raise bad_request("This link token has expired; create a new one.", pointer="/link_token")
    integration = link.integration or data.integration
    if not integration:
        raise bad_request(
            "integration is required (the link token does not preselect one)",
            problem_type="MISSING_REQUIRED_FIELD",
            pointer="/integration",
        )
    if link.integration and data.integration and data.integration != link.integration:
        raise bad_request(f"this link token is for {link.integration}", pointer="/integration")
    new = NewLinkedAccount(
        organization_id=link.organization_id,
        integration=integration,
        credentials=data.credentials,
        base_url=data.base_url,
        end_user_origin_id=link.end_user_origin_id,
        end_user_organization_name=link.end_user_organization_name,
        end_user_email_address=link.end_user_email_address,
    )
    await conn.rollback()  # the token's checks were reads; linking calls the vendor outside them
    account, _token, _created = await linking.link(services, new)
    public = await account_store.complete_link_token(conn, link.id, account.id)
    if public is None:
        raise bad_request("This link token was already used; create a new one.", pointer="/link_token")
    await conn.commit()
    return PublicToken(public_token=public)


@get("/account-token/{public_token:str}", operation_id="account_token_retrieve", tags=["link"])
async def account_token(
    public_token: FromPath[str], organization: Organization, services: ServicesDep, conn: Conn
) -> AccountToken:
    account_id = await account_store.redeem_public_token(conn, organization, public_token)
    if account_id is None:
        raise ApiError(404, "Unknown or already exchanged public token.")
    account = await account_store.get_account(conn, organization, account_id)
    if account is None:
        raise ApiError(404, "The linked account of this public token was deleted.")
    token = await account_store.account_token(conn, services.box, account_id)
    await conn.commit()
    return AccountToken(account_token=token, integration=_integration(account.integration), id=account_id)


HANDLERS = [
    account_details,
    available_actions,
    list_linked_accounts,
    create_linked_account,
    delete_account,
    create_link_token,
    complete_link,
    account_token,
]
