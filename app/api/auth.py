"""Who is calling: the API key picks the organization, ``X-Account-Token`` the linked account.

Both are resolved by hash lookups scoped to the organization, so an account token of another
organization is indistinguishable from an unknown one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import HeaderParameter
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.deps import Organization, ServicesDep
from app.api.errors import ApiError
from app.api.state import Services
from app.db import accounts as account_store
from app.db.accounts import LinkedAccountRecord
from app.tokens import token_hash


def provide_services(state: State) -> Services:
    services: ServicesDep = state.services
    return services


#: Where a request's open connections are noted, so ``close_leftover_connections`` can close them.
OPEN_CONNECTIONS = "deskbridge.connections"


async def provide_conn(
    request: Request[Any, Any, Any], services: ServicesDep
) -> AsyncGenerator[AsyncConnection, None]:
    async with services.engine.connect() as conn:
        request.scope.setdefault(OPEN_CONNECTIONS, []).append(conn)  # type: ignore[misc]
        yield conn


def close_leftover_connections(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: Litestar drops a generator dependency without closing it when another
    dependency of the same request raises (a 401 from auth, say), which would leave the connection to
    the garbage collector. Close whatever the request opened once it is answered."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            for conn in scope.get(OPEN_CONNECTIONS, ()):  # type: ignore[attr-defined]
                if not conn.closed:
                    await conn.close()

    return middleware


def bearer_key(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "Authentication credentials were not provided.")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(401, "Authorization header must be 'Bearer <api key>'.")
    return key.strip()


async def provide_organization(request: Request[Any, Any, Any], services: ServicesDep) -> str:
    key = ("key", token_hash(bearer_key(request)))
    organization: str | None = services.auth_cache.get(key)
    if organization is None:
        async with services.engine.connect() as conn:
            organization = await account_store.organization_for_key(conn, bearer_key(request))
        if organization is None:
            raise ApiError(401, "Invalid API key.")
        services.auth_cache.put(key, organization)
    return organization


async def provide_account(
    organization: Organization,
    services: ServicesDep,
    x_account_token: Annotated[
        str | None,
        HeaderParameter(name="X-Account-Token", description="The linked account's token.", required=False),
    ] = None,
) -> LinkedAccountRecord:
    if not x_account_token:
        raise ApiError(401, "This endpoint needs the linked account's token in the X-Account-Token header.")
    key = ("account", organization, token_hash(x_account_token))
    account: LinkedAccountRecord | None = services.auth_cache.get(key)
    if account is None:
        async with services.engine.connect() as conn:
            account = await account_store.account_for_token(conn, organization, x_account_token)
        if account is None:
            raise ApiError(401, "Invalid X-Account-Token.")
        services.auth_cache.put(key, account)
    return account


DEPENDENCIES = {
    "services": Provide(provide_services, sync_to_thread=False),
    "conn": Provide(provide_conn),
    "organization": Provide(provide_organization),
    "account": Provide(provide_account),
}
