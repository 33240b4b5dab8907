"""The ``deskbridge`` command: serve, worker, sync, demo, migrate, api-key create."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import Sequence

from app.db import accounts as account_store
from app.db.engine import create_engine, migrate
from app.runtime import tune_gc
from app.settings import Settings, SettingsError, from_env

log = logging.getLogger("deskbridge")

#: Commands that run for long and sync or serve, with the modules they run: those are loaded before the
#: garbage collector is tuned (``tune_gc`` freezes what is loaded). The sync and the worker do without
#: the web framework (``app.services``), which starts them ~0.4 s sooner.
LONG_RUNNING: dict[str, tuple[str, ...]] = {
    "serve": ("app.asgi",),
    "demo": ("app.asgi",),
    "worker": ("app.services", "app.sync.worker", "app.webhooks.delivery"),
    "sync": ("app.services", "app.sync.worker", "app.progress"),
}


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
    app = create_app(settings, run_worker=settings.runs_inprocess_worker)
    if settings.runs_inprocess_worker:
        log.info("running the sync worker inside this server process")
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), access_log=args.access_log)
    return 0


async def _worker(settings: Settings, concurrency: int) -> None:
    from app.services import build_services
    from app.sync.worker import Worker, worker_config
    from app.webhooks.delivery import WebhookDelivery

    services = build_services(settings)
    worker = Worker(services, worker_config(settings, concurrency))
    webhooks = WebhookDelivery(services)  # a worker also delivers webhooks from the shared outbox

    def stop() -> None:
        worker.stop()
        webhooks.stop()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(worker.run_forever(), webhooks.run_forever())
    finally:
        await services.http.aclose()
        await services.engine.dispose()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    asyncio.run(_worker(settings, args.concurrency))
    return 0


async def _sync(settings: Settings, account_id: str, models: tuple[str, ...] | None, full: bool) -> int:
    from sqlalchemy import update

    from app.db import accounts as account_store
    from app.db import syncstate
    from app.db.tables import sync_state
    from app.progress import Progress, holding_back
    from app.services import build_services
    from app.sync import jobs
    from app.sync.runner import RunnerConfig
    from app.sync.worker import Worker, WorkerConfig
    from connectors import registry
    from connectors.streams import carrier_of

    services = build_services(settings)
    progress = Progress()
    try:
        async with services.engine.begin() as conn:
            account = await account_store.account_by_id(conn, account_id)
            if account is None:
                print(f"no linked account {account_id}", file=sys.stderr)
                return 2
            if models:  # a model read along with another (Zendesk's Users with Contacts) needs that one
                streams = registry.get(account.integration).streams
                carriers = (carrier_of(streams, m) for m in models if m not in streams)
                models = (*models, *(c.model for c in carriers if c is not None and c.model not in models))
            if full:
                await syncstate.request_resync(conn, account_id)
            due = update(sync_state).where(sync_state.c.linked_account_id == account_id)
            if models:
                due = due.where(sync_state.c.model.in_(models))
            await conn.execute(due.values(next_sync_start=0))
        runner = RunnerConfig(
            interval_seconds=settings.sync_interval,
            lease_seconds=settings.sync_lease_seconds,
            waiting_seconds=0,
        )
        config = WorkerConfig(runner=runner)
        worker = Worker(services, config, progress=progress)
        with holding_back(jobs.runs_log.name):
            while await worker.run_one(account_id=account_id, models=models) is not None:
                pass
        progress.finish()
        outcomes: dict[str, str] = {}
        async with services.engine.connect() as conn:
            if busy := await jobs.leased_elsewhere(conn, account_id, worker.name):
                # An account's jobs run in one worker at a time (they share its rate limiter).
                held = ", ".join(f"{model} by {lease.split('#')[0]}" for model, lease in busy)
                print(f"another worker is syncing this account ({held}): left to it", file=sys.stderr)
            for row in await syncstate.list_status(conn, account_id):
                if models and row.model not in models:
                    continue
                outcomes[row.model] = row.status
                detail = f"  ({row.last_error})" if row.last_error else ""
                print(f"{row.model:<12} {row.status:<17} {row.run_records:>9,} records{detail}")
        return 0 if not busy and all(s in ("DONE", "DISABLED") for s in outcomes.values()) else 1
    finally:
        await services.http.aclose()
        await services.engine.dispose()


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_migrate(settings))
    models = tuple(args.model) if args.model else None
    return asyncio.run(_sync(settings, args.linked_account, models, args.full))


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.demo import run

    return run(
        settings, host=args.host or settings.host, port=args.port or settings.port, tickets=args.tickets
    )


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
    work = sub.add_parser(
        "worker",
        help="run a sync worker that also delivers webhooks (any number of them share a PostgreSQL store)",
    )
    work.add_argument("--concurrency", type=int, default=4, help="jobs run at once (default %(default)s)")
    work.set_defaults(func=cmd_worker)
    sync = sub.add_parser("sync", help="sync one linked account now, showing progress")
    sync.add_argument("--linked-account", required=True, help="the linked account's id")
    sync.add_argument("--model", action="append", help="only this model (repeatable), e.g. Ticket")
    sync.add_argument("--full", action="store_true", help="a full resync instead of an incremental one")
    sync.set_defaults(func=cmd_sync)
    demo = sub.add_parser(
        "demo", help="sandbox: Zendesk and Freshdesk emulators linked, synced and served (loopback allowed)"
    )
    demo.add_argument("--host", help="interface to bind (default DESKBRIDGE_HOST or 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port (default DESKBRIDGE_PORT or 8000)")
    demo.add_argument(
        "--tickets",
        type=int,
        default=300,
        help="tickets per emulator (default %(default)s)",
    )
    demo.set_defaults(func=cmd_demo)
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
    try:
        settings = from_env()
    except SettingsError as exc:
        print(f"deskbridge: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command in LONG_RUNNING:
        for module in LONG_RUNNING[args.command]:
            importlib.import_module(module)
        tune_gc()
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
