"""The ``deskbridge`` command: serve, migrate, api-key create."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from app.db import accounts as account_store
from app.db.engine import create_engine, migrate
from app.settings import Settings, from_env

log = logging.getLogger("deskbridge")


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


async def _ensure_key(settings: Settings) -> bool:
    assert settings.api_key
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await account_store.ensure_api_key(conn, settings.api_key)
    finally:
        await engine.dispose()


async def _create_key(settings: Settings, name: str, organization: str) -> str:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await account_store.create_api_key(conn, name, organization=organization)
    finally:
        await engine.dispose()


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    print(f"migrated {_safe_url(settings.database_url)}")
    return 0


def cmd_api_key_create(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    key = asyncio.run(_create_key(settings, args.name, args.organization))
    print(key)
    print(
        f"(API key {args.name!r} for organization {args.organization!r}: shown once, store it now)",
        file=sys.stderr,
    )
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from app.asgi import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    asyncio.run(_migrate(settings))
    if settings.api_key and asyncio.run(_ensure_key(settings)):
        log.info("created the API key given in DESKBRIDGE_API_KEY")
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), access_log=args.access_log)
    return 0


def _safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deskbridge", description="Self-hosted unified ticketing API.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API server (applies migrations first)")
    serve.add_argument("--host", help="interface to bind (default DESKBRIDGE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default DESKBRIDGE_PORT or 8000)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)
    mig = sub.add_parser("migrate", help="create or upgrade the database schema")
    mig.set_defaults(func=cmd_migrate)
    keys = sub.add_parser("api-key", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="action", required=True)
    create = keys_sub.add_parser("create", help="create an API key and print it once")
    create.add_argument("--name", required=True, help="a label for the key")
    create.add_argument(
        "--organization",
        default=account_store.DEFAULT_ORGANIZATION,
        help="the tenant the key belongs to (default: %(default)s)",
    )
    create.set_defaults(func=cmd_api_key_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
