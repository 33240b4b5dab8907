"""``deskbridge demo``: a sandbox with two vendor emulators, linked and synced, then served.

``prepare()`` does everything up to serving (start the Zendesk and Freshdesk emulators on free loopback
ports, migrate, make sure the demo API key exists, link both desks through the real linking path, run
the initial sync with progress) and returns what ``run()`` prints. Sandbox only: it allows outbound
requests to loopback (``DESKBRIDGE_OUTBOUND_ALLOW=127.0.0.0/8,::1/128``), which production refuses.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from app.settings import Settings

LOOPBACK = ("127.0.0.0/8", "::1/128")
DEMO_ORIGIN = "deskbridge-demo"
KEY_FILE = "demo-api-key"

#: integration slug -> (emulator vendor, credentials); shown only for registered integrations.
VENDORS: dict[str, tuple[str, dict[str, str]]] = {
    "zendesk": (
        "zendesk",
        {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"},
    ),
    "freshdesk": ("freshdesk", {"domain": "acme.freshdesk.com", "api_key": "fd-api-key"}),
}


@dataclass
class Emulator:
    vendor: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class LinkedDesk:
    integration: str
    account_id: str
    account_token: str
    emulator_url: str


@dataclass
class DemoInfo:
    api_key: str
    desks: list[LinkedDesk]
    records: dict[str, int]
    emulators: list[Emulator] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    key_file: str = ""

    def stop(self) -> None:
        stop_emulators(self.emulators)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(vendor: str, tickets: int, seed: int = 1) -> Emulator:
    port = _free_port()
    cmd = [sys.executable, "-m", "emulators", vendor, "--port", str(port), "--tickets", str(tickets)]
    # Generous limits in the sandbox (0 would advertise 1/min), which the connectors' limiters adopt
    # from the first answer: the initial sync takes seconds. The sync benchmark measures throttling.
    cmd += [
        "--seed",
        str(seed),
        "--anchor-time",
        "now",
        "--rate-limit",
        "100000",
        "--no-endpoint-limits",
        "--log-level",
        "warning",
    ]
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL)  # noqa: S603 (our own argv)
    emulator = Emulator(vendor, port, process)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return emulator
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_emulators([emulator])
                raise RuntimeError(f"the {vendor} emulator did not start") from None
            time.sleep(0.05)


def stop_emulators(emulators: list[Emulator]) -> None:
    for emulator in emulators:
        if emulator.process.poll() is None:
            emulator.process.terminate()
    for emulator in emulators:
        try:
            emulator.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            emulator.process.kill()


def sandbox_settings(settings: Settings) -> Settings:
    allow = tuple(dict.fromkeys((*settings.outbound_allow, *LOOPBACK)))
    return msgspec.structs.replace(settings, outbound_allow=allow)


async def _api_key(settings: Settings) -> str:
    from app.db import accounts as account_store
    from app.db.engine import create_engine

    path = settings.data_dir / KEY_FILE
    key = path.read_text().strip() if path.exists() else ""
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            if key:
                await account_store.ensure_api_key(conn, key, name="demo")
            else:
                key = await account_store.create_api_key(conn, "demo")
    finally:
        await engine.dispose()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


async def _link_and_sync(
    settings: Settings, api_key: str, emulators: list[Emulator], quiet: bool
) -> tuple[list[LinkedDesk], dict[str, int]]:
    from sqlalchemy import update

    from app.db import accounts as account_store
    from app.db import syncstate
    from app.db.accounts import NewLinkedAccount
    from app.db.tables import sync_state
    from app.linking import link
    from app.progress import Progress
    from app.services import build_services
    from app.sync.runner import RunnerConfig
    from app.sync.worker import Worker, WorkerConfig

    services = build_services(settings)
    desks: list[LinkedDesk] = []
    records: dict[str, int] = {}
    try:
        async with services.engine.connect() as conn:
            org = await account_store.organization_for_key(conn, api_key)
        assert org is not None
        for emulator in emulators:
            integration = emulator.vendor
            _, credentials = VENDORS[integration]
            account, token, _created = await link(
                services,
                NewLinkedAccount(
                    organization_id=org,
                    integration=integration,
                    end_user_origin_id=DEMO_ORIGIN,
                    end_user_organization_name="Acme (demo)",
                    end_user_email_address="admin@acme.test",
                    base_url=emulator.url,
                    credentials=credentials,
                ),
            )
            desks.append(LinkedDesk(integration, account.id, token, emulator.url))
        async with services.engine.begin() as conn:
            ids = [d.account_id for d in desks]
            await conn.execute(
                update(sync_state).where(sync_state.c.linked_account_id.in_(ids)).values(next_sync_start=0)
            )
        progress = Progress(stream=io.StringIO() if quiet else None)
        config = WorkerConfig(runner=RunnerConfig(interval_seconds=settings.sync_interval, waiting_seconds=0))
        worker = Worker(services, config, progress=progress)
        for desk in desks:
            while await worker.run_one(account_id=desk.account_id) is not None:
                pass
        progress.finish()
        async with services.engine.connect() as conn:
            for desk in desks:
                for row in await syncstate.list_status(conn, desk.account_id):
                    key = f"{desk.integration} {row.model}"
                    records[key] = row.run_records
                    if row.status not in ("DONE", "DISABLED") and not quiet:
                        print(f"  {key}: {row.status} {row.last_error or ''}", file=sys.stderr)
    finally:
        await services.http.aclose()
        await services.engine.dispose()
    return desks, records


def prepare(settings: Settings, *, tickets: int = 300, quiet: bool = False) -> DemoInfo:
    """Start the emulators, migrate, link and sync; the caller stops the emulators (``info.stop()``)."""
    from app.cli import _migrate
    from connectors import registry

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    available = registry.slugs()
    wanted = [slug for slug in VENDORS if slug in available]
    skipped = [slug for slug in VENDORS if slug not in available]
    asyncio.run(_migrate(settings))
    api_key = asyncio.run(_api_key(settings))
    emulators: list[Emulator] = []
    try:
        for slug in wanted:
            emulators.append(start_emulator(VENDORS[slug][0], tickets))
        desks, records = asyncio.run(_link_and_sync(settings, api_key, emulators, quiet))
    except BaseException:
        stop_emulators(emulators)
        raise
    return DemoInfo(
        api_key=api_key,
        desks=desks,
        records=records,
        emulators=emulators,
        skipped=skipped,
        key_file=str(settings.data_dir / KEY_FILE),
    )


def banner(info: DemoInfo, base: str) -> str:
    api = f"{base}/api/ticketing/v1"
    lines = [
        "",
        "deskbridge demo (sandbox: outbound requests to loopback are allowed; production refuses them)",
        f"  API key:   {info.api_key}   (kept in {info.key_file}, reused on every run)",
    ]
    for desk in info.desks:
        lines.append(
            f"  {desk.integration:<10} account token {desk.account_token}   emulator {desk.emulator_url}"
        )
    for slug in info.skipped:
        lines.append(f"  {slug:<10} not registered yet: it appears here once its connector is")
    synced = ", ".join(f"{k} {v:,}" for k, v in sorted(info.records.items()) if v)
    lines += [f"  synced:    {synced or '-'}", f"  API:       {api}   OpenAPI: {base}/schema", ""]
    first = info.desks[0] if info.desks else None
    token = first.account_token if first else "<account token>"
    lines.append("Try it (one account token per desk; the same API, normalized):")
    for desk in info.desks:
        lines += [
            f'  curl -s "{api}/tickets?page_size=5&expand=assignees" \\',
            f'    -H "Authorization: Bearer {info.api_key}" -H "X-Account-Token: {desk.account_token}"',
        ]
    lines += [
        "",
        "  # pip install MergePythonClient==4.2.1",
        "  from merge import Merge",
        f'  client = Merge(base_url="{base}/api", api_key="{info.api_key}", account_token="{token}")',
        "  for t in client.ticketing.tickets.list(page_size=5).results: print(t.name, t.status)",
        "",
        "Ctrl-C stops the server and the emulators.",
    ]
    return "\n".join(lines)


def run(settings: Settings, *, host: str, port: int, tickets: int) -> int:
    import uvicorn

    from app.asgi import create_app
    from app.progress import holding_back
    from app.sync.jobs import runs_log

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)  # uvicorn installs its own while serving
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = sandbox_settings(settings)
    # The demo's terminal is for its progress and banner: no line per sync run, neither during the
    # initial sync nor for the incremental ones the server's worker runs later.
    with holding_back(runs_log.name):
        print(f"starting the emulators ({tickets} tickets each), linking and syncing…", file=sys.stderr)
        info = prepare(settings, tickets=tickets)
        try:
            print(banner(info, f"http://{host}:{port}"), flush=True)
            app = create_app(settings, run_worker=True)
            uvicorn.run(app, host=host, port=port, log_level="warning")
        except KeyboardInterrupt:
            pass
        finally:
            info.stop()
    return 0
