"""Read-path benchmark: ``GET /api/ticketing/v1/tickets?page_size=100`` over a store of 100,000 tickets.

deskbridge (the subject) runs under uvicorn on loopback against an embedded SQLite store; beside it runs
the floor (``floor_app.py``): the same Litestar + msgspec stack serving the same 100 tickets from memory,
under uvicorn with the same settings. Load comes from a separate process (``loadgen.py``), against floor
and subject alternately. Printed: req/s, p50/p99 latency, the subject/floor ratio (target >= 0.5 on
SQLite) and the servers' peak RSS. A second subject row pages through the whole store with cursors.

    python benchmarks/read_path.py [--tickets 100000] [--duration 10] [--concurrency 8] [--rebuild]

The store is built once per size and schema revision under ``var/bench/`` (``--rebuild`` forces it).
Only loopback is used; every server and load process is ended before exit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import os
import random
import secrets
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app.db.accounts import NewLinkedAccount, create_api_key, link_account, organization_for_key  # noqa: E402
from app.db.engine import alembic_config, create_engine, migrate  # noqa: E402
from app.db.records import upsert_records  # noqa: E402
from app.secrets import SecretBox  # noqa: E402
from benchmarks.loadgen import LoadConfig, LoadResult  # noqa: E402
from connectors.base import RemoteRecord  # noqa: E402
from schemas.models import Account, Contact, Team, Ticket, User  # noqa: E402

PATH = "/api/ticketing/v1/tickets"
QUERY = "page_size=100"
TARGET_RATIO = 0.5
#: Bump when the generated data changes, so cached stores are rebuilt.
DATA_VERSION = 1
BATCH = 2000


# --- the store ---------------------------------------------------------------------------------------


class StoreInfo(msgspec.Struct, kw_only=True):
    tickets: int
    data_version: int
    schema_revision: str
    secret_key: str
    api_key: str
    account_token: str
    build_seconds: float


_WORDS = tuple(
    word
    for line in (
        "printer jams login fails invoice missing export slow dashboard blank password reset",
        "request refund shipping delayed webhook retries timeout sso error mobile app crash",
        "billing address update report broken link email bounced attachment upload quota exceeded",
        "permissions denied calendar sync duplicate charge api rate limit vpn disconnects laptop",
        "battery onboarding new hire license renewal",
    )
    for word in line.split()
)
_SENTENCES = (
    "Customer reports the issue started after yesterday's release.",
    "Steps to reproduce are attached; happens on every attempt.",
    "Affects several people on the finance team, blocking month-end close.",
    "Workaround: restart the client, but the problem comes back within an hour.",
    "Logs show intermittent 502 responses from the upstream gateway.",
    "Please prioritise, the account is up for renewal next week.",
    "Could not reproduce internally; asked the requester for a screen recording.",
    "Related to the ticket opened last month about the same integration.",
)
_STATUSES = ("OPEN", "IN_PROGRESS", "ON_HOLD", "CLOSED")
_VENDOR_STATUS = {"OPEN": "open", "IN_PROGRESS": "working", "ON_HOLD": "waiting", "CLOSED": "done"}
_PRIORITIES = ("URGENT", "HIGH", "NORMAL", "LOW")
_TYPES = ("incident", "question", "problem", "task")
_TAGS = ("billing", "bug", "vip", "sla", "mobile", "api", "onboarding", "escalated", "regression", "docs")
_USERS, _ACCOUNTS, _CONTACTS, _TEAMS = 200, 300, 2000, 12
_EPOCH = datetime(2023, 1, 1, tzinfo=UTC)


def _description(rng: random.Random) -> str:
    text_ = ""
    while len(text_) < 200:
        text_ += rng.choice(_SENTENCES) + " "
    return text_[:200].rstrip()


def _ticket(rng: random.Random, i: int) -> RemoteRecord[Ticket]:
    """Ticket ``i`` as a connector maps it: vendor ids in relations, the vendor payload beside it."""
    remote_id = str(i + 1)
    created = _EPOCH + timedelta(minutes=7 * i + rng.randrange(7))
    updated = created + timedelta(hours=rng.randrange(1, 24 * 30))
    due = created + timedelta(days=7)
    status = rng.choice(_STATUSES)
    priority = rng.choice(_PRIORITIES)
    kind = rng.choice(_TYPES)
    title = " ".join(rng.choices(_WORDS, k=rng.randrange(4, 9))).capitalize()
    body = _description(rng)
    assignees: list[str | User] = [f"u{rng.randrange(_USERS)}" for _ in range(rng.choice((0, 1, 1, 1, 2)))]
    tags = rng.sample(_TAGS, rng.choice((0, 1, 2, 3)))
    team, author = f"t{rng.randrange(_TEAMS)}", f"u{rng.randrange(_USERS)}"
    org, requester = f"a{rng.randrange(_ACCOUNTS)}", f"c{rng.randrange(_CONTACTS)}"
    urgent = priority in ("URGENT", "HIGH")
    raw: dict[str, Any] = {
        "id": remote_id,
        "title": title,
        "body": body,
        "state": _VENDOR_STATUS[status],
        "priority": priority.lower(),
        "kind": kind,
        "assignee_ids": assignees,
        "team_id": team,
        "author_id": author,
        "org_id": org,
        "requester_id": requester,
        "labels": tags,
        "created": created.isoformat(),
        "updated": updated.isoformat(),
        "due": due.isoformat() if urgent else None,
    }
    ticket = Ticket(
        remote_id=remote_id,
        name=title,
        description=body,
        status=status,
        priority=priority,
        ticket_type=kind,
        assignees=assignees,
        assigned_teams=[team],
        creator=author,
        account=org,
        contact=requester,
        tags=tags,
        collections=[],
        attachments=[],
        access_level="COMPANY",
        ticket_url=f"https://acme.fakedesk.example/tickets/{remote_id}",
        remote_created_at=created,
        remote_updated_at=updated,
        due_date=due if urgent else None,
        completed_at=updated if status == "CLOSED" else None,
        remote_was_deleted=False,
        field_mappings=None,
        remote_fields=[],
    )
    origins: dict[str, str | None] = {
        "status": raw["state"],
        "priority": raw["priority"],
        "ticket_type": kind,
    }
    return RemoteRecord(model=ticket, path=f"/tickets/{remote_id}", raw=raw, enum_origins=origins)


def _people(rng: random.Random) -> dict[str, list[RemoteRecord[Any]]]:
    def rec(model: Any, path: str, raw: dict[str, Any]) -> RemoteRecord[Any]:
        return RemoteRecord(model=model, path=path, raw=raw)

    return {
        "Team": [
            rec(Team(remote_id=f"t{i}", name=f"Tier {i % 3 + 1} / {rng.choice(_WORDS)}"), "/teams", {"id": i})
            for i in range(_TEAMS)
        ],
        "User": [
            rec(
                User(
                    remote_id=f"u{i}",
                    name=f"Agent {i}",
                    email_address=f"agent{i}@acme.example",
                    is_active=True,
                    teams=[f"t{i % _TEAMS}"],
                    roles=[],
                ),
                "/users",
                {"id": i},
            )
            for i in range(_USERS)
        ],
        "Account": [
            rec(Account(remote_id=f"a{i}", name=f"Customer {i} Ltd", domains=[f"c{i}.example"]), "/orgs", {})
            for i in range(_ACCOUNTS)
        ],
        "Contact": [
            rec(
                Contact(
                    remote_id=f"c{i}",
                    name=f"Requester {i}",
                    email_address=f"req{i}@c{i % _ACCOUNTS}.example",
                    account=f"a{i % _ACCOUNTS}",
                ),
                "/requesters",
                {"id": i},
            )
            for i in range(_CONTACTS)
        ],
    }


async def _build(db: Path, tickets: int, secret: str) -> tuple[str, str]:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            api_key = await create_api_key(conn, "read-path benchmark")
            org = await organization_for_key(conn, api_key)
            assert org is not None
            account, token, _ = await link_account(
                conn,
                SecretBox([secret]),
                NewLinkedAccount(
                    organization_id=org,
                    integration="fakedesk",
                    end_user_origin_id="bench-1",
                    end_user_organization_name="Acme (benchmark)",
                    end_user_email_address="it@acme.example",
                    base_url="https://acme.fakedesk.example",
                    credentials={"api_key": "unused"},
                ),
            )
        rng = random.Random(20240601)
        async with engine.begin() as conn:
            for model, records in _people(rng).items():
                await upsert_records(conn, account.id, model, records)
        started = time.perf_counter()
        for first in range(0, tickets, BATCH):
            batch = [_ticket(rng, i) for i in range(first, min(first + BATCH, tickets))]
            async with engine.begin() as conn:
                await upsert_records(conn, account.id, "Ticket", batch)
            done = first + len(batch)
            if done % 20_000 == 0 or done == tickets:
                rate = done / (time.perf_counter() - started)
                print(f"  {done:>7,} tickets  ({rate:,.0f}/s)", flush=True)
        async with engine.connect() as conn:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            await conn.execute(text("ANALYZE"))
            await conn.commit()
        return api_key, token
    finally:
        await engine.dispose()


def _schema_revision() -> str:
    return str(ScriptDirectory.from_config(alembic_config()).get_current_head())


def ensure_store(data_dir: Path, tickets: int, rebuild: bool) -> tuple[Path, StoreInfo]:
    """The cached store of ``tickets`` tickets (built when missing, stale or ``rebuild``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / f"read-path-{tickets}.db"
    meta = data_dir / f"read-path-{tickets}.json"
    revision = _schema_revision()
    if not rebuild and db.exists() and meta.exists():
        with suppress(msgspec.DecodeError, msgspec.ValidationError):
            info = msgspec.json.decode(meta.read_bytes(), type=StoreInfo)
            if info.data_version == DATA_VERSION and info.schema_revision == revision:
                print(f"store: {db} (cached, built in {info.build_seconds:.1f} s; --rebuild to rebuild)")
                return db, info
    print(f"store: building {tickets:,} tickets into {db}", flush=True)
    for stale in (db, meta, *(db.with_name(db.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    partial = db.with_name(db.name + ".partial")
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-wal", "-shm"))):
        leftover.unlink(missing_ok=True)
    secret = secrets.token_urlsafe(32)
    started = time.perf_counter()
    api_key, token = asyncio.run(_build(partial, tickets, secret))
    seconds = time.perf_counter() - started
    os.replace(partial, db)
    info = StoreInfo(
        tickets=tickets,
        data_version=DATA_VERSION,
        schema_revision=revision,
        secret_key=secret,
        api_key=api_key,
        account_token=token,
        build_seconds=seconds,
    )
    meta.write_bytes(msgspec.json.encode(info))
    print(f"store: built in {seconds:.1f} s ({db.stat().st_size / 1e6:.0f} MB)")
    return db, info


# --- servers -------------------------------------------------------------------------------------------


class Server:
    def __init__(self, name: str, factory: str, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.port = _free_port()
        self.log = logs / f"{name}.log"
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, headers: dict[str, str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log.read_text()}")
            with suppress(httpx.TransportError):
                response = httpx.get(self.url(f"{PATH}?page_size=1"), headers=headers, timeout=5.0)
                if response.status_code == 200:
                    return
                raise RuntimeError(f"{self.name} answered {response.status_code}: {response.text[:500]}")
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s:\n{self.log.read_text()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def memory_mb(self) -> tuple[float, float]:
        """(peak RSS, current RSS) in MB, from /proc (VmHWM, VmRSS)."""
        values: dict[str, float] = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                values[name] = int(rest.split()[0]) / 1024
        return values.get("VmHWM", float("nan")), values.get("VmRSS", float("nan"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


# --- load ----------------------------------------------------------------------------------------------


class Run(msgspec.Struct, kw_only=True):
    target: str
    round: int
    result: LoadResult


def load(cfg: LoadConfig, target: str, round_: int) -> Run:
    """One measured run, the load generated by ``loadgen.py`` in its own process."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "loadgen.py")],
        input=msgspec.json.encode(cfg),
        capture_output=True,
        timeout=cfg.warmup + cfg.duration + 120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{proc.stderr.decode()}")
    return Run(target=target, round=round_, result=msgspec.json.decode(proc.stdout, type=LoadResult))


def walk_cursors(server: Server, headers: dict[str, str]) -> tuple[list[str | None], int]:
    """Page through the whole store once: every page's cursor (page 1 = None) and the records seen."""

    class _Page(msgspec.Struct):
        next: str | None
        results: list[msgspec.Raw]

    decoder = msgspec.json.Decoder(_Page)
    cursors: list[str | None] = [None]
    seen = 0
    with httpx.Client(headers=headers, timeout=30.0) as client:
        cursor: str | None = None
        while True:
            params = {"page_size": "100", **({"cursor": cursor} if cursor else {})}
            response = client.get(server.url(PATH), params=params)
            response.raise_for_status()
            page = decoder.decode(response.content)
            seen += len(page.results)
            if page.next is None:
                return cursors, seen
            cursor = page.next
            cursors.append(cursor)


# --- report --------------------------------------------------------------------------------------------


def _versions() -> str:
    names = ("litestar", "msgspec", "uvicorn", "sqlalchemy", "aiosqlite")
    parts = [f"{n} {importlib.metadata.version(n)}" for n in names]
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return ", ".join(parts) + f"; uvicorn loop={loop} http={http}"


def report(runs: list[Run], servers: dict[str, Server], cfg: LoadConfig, command: str) -> None:
    targets = list(dict.fromkeys(r.target for r in runs))
    print()
    print("per run (req/s):")
    for target in targets:
        line = "  ".join(f"{r.result.rps:8.1f}" for r in runs if r.target == target)
        print(f"  {target:<22} {line}")
    print()
    header = (
        f"{'target':<22} {'req/s best':>10} {'req/s med':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'srv cpu':>7} {'cli cpu':>7} {'peak RSS':>9}"
    )
    print(header)
    print("-" * len(header))
    best: dict[str, float] = {}
    median: dict[str, float] = {}
    for target in targets:
        mine = [r for r in runs if r.target == target]
        top = max(mine, key=lambda r: r.result.rps)
        best[target] = top.result.rps
        median[target] = statistics.median(r.result.rps for r in mine)
        server = servers["floor" if target == "floor" else "subject"]
        peak, _ = server.memory_mb()
        errors = sum(r.result.errors for r in mine)
        r = top.result
        print(
            f"{target:<22} {best[target]:>10.1f} {median[target]:>10.1f} {r.p50_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {errors:>6} {r.server_cpu:>7.2f} {r.client_cpu:>7.2f} {peak:>7.0f} MB"
        )
    print()
    print("p50/p99, srv cpu, cli cpu: from each target's best run; cpu = share of one core.")
    ratio_best = best["subject page 1"] / best["floor"]
    ratio_median = median["subject page 1"] / median["floor"]
    verdict = "PASS" if ratio_median >= TARGET_RATIO else "MISS"
    print(
        f"ratio subject/floor (page 1): {ratio_median:.3f} median, {ratio_best:.3f} best  "
        f"-> {verdict} (target >= {TARGET_RATIO})"
    )
    if "subject walking" in best:
        print(f"ratio subject walking/floor: {median['subject walking'] / median['floor']:.3f} median")
    print()
    print(
        f"load: {cfg.concurrency} keep-alive connections from a separate process, "
        f"{cfg.warmup:g} s warmup + {cfg.duration:g} s per run"
    )
    print(f"host load average (1/5/15 min) at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"stack: Python {sys.version.split()[0]}, {_versions()}; {os.cpu_count()} CPUs")
    print(f"command: {command}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets in the store (100000)")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warmup seconds per run (2)")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections (8)")
    parser.add_argument("--rounds", type=int, default=3, help="floor/subject alternations (3)")
    parser.add_argument("--no-walk", action="store_true", help="skip the cursor-walking subject row")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached store")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "bench", help="store cache")
    args = parser.parse_args()
    command = shlex.join(["python", "benchmarks/read_path.py", *sys.argv[1:]])

    db, info = ensure_store(args.data_dir, args.tickets, args.rebuild)
    print(f"host load average (1/5/15 min) at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    auth = {"Authorization": f"Bearer {info.api_key}", "X-Account-Token": info.account_token}
    with tempfile.TemporaryDirectory(prefix="deskbridge-bench-") as tmp:
        work = Path(tmp)
        subject = Server(
            "subject",
            "benchmarks.subject_app:create",
            {
                "DESKBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
                "DESKBRIDGE_SECRET_KEY": info.secret_key,
                "DESKBRIDGE_DATA_DIR": str(work),
                "DESKBRIDGE_LOG_LEVEL": "WARNING",
                "DESKBRIDGE_INPROCESS_WORKER": "false",
            },
            work,
        )
        servers = [subject]
        with running(servers):
            subject.wait_ready(auth)
            page_one = httpx.get(subject.url(f"{PATH}?{QUERY}"), headers=auth, timeout=30.0)
            page_one.raise_for_status()
            (work / "page1.json").write_bytes(page_one.content)
            floor = Server(
                "floor",
                "benchmarks.floor_app:create",
                {"DESKBRIDGE_BENCH_FLOOR_PAGE": str(work / "page1.json")},
                work,
            )
            servers.append(floor)
            floor.wait_ready({})
            floor_body = httpx.get(floor.url(f"{PATH}?{QUERY}"), timeout=30.0).content
            same = "identical" if floor_body == page_one.content else "DIFFERENT"
            print(
                f"page 1: subject {len(page_one.content):,} bytes, floor {len(floor_body):,} bytes ({same})"
            )

            starts: list[str | None] | None = None
            if not args.no_walk:
                began = time.perf_counter()
                cursors, seen = walk_cursors(subject, auth)
                print(
                    f"walk: {len(cursors)} pages, {seen:,} tickets in {time.perf_counter() - began:.1f} s"
                    + ("" if seen == info.tickets else f"  (EXPECTED {info.tickets:,})")
                )
                step = max(1, len(cursors) // args.concurrency)
                starts = [cursors[(i * step) % len(cursors)] for i in range(args.concurrency)]

            base = LoadConfig(
                host="127.0.0.1",
                port=0,
                path=f"{PATH}?{QUERY}",
                concurrency=args.concurrency,
                warmup=args.warmup,
                duration=args.duration,
            )
            plan: list[tuple[str, LoadConfig]] = [
                ("floor", msgspec.structs.replace(base, port=floor.port, server_pid=floor.proc.pid)),
                (
                    "subject page 1",
                    msgspec.structs.replace(
                        base, port=subject.port, headers=auth, server_pid=subject.proc.pid
                    ),
                ),
            ]
            if starts is not None:
                walking = msgspec.structs.replace(
                    base, port=subject.port, headers=auth, walk_starts=starts, server_pid=subject.proc.pid
                )
                plan.append(("subject walking", walking))
            runs: list[Run] = []
            for round_ in range(1, args.rounds + 1):
                for target, cfg in plan:
                    run = load(cfg, target, round_)
                    runs.append(run)
                    r = run.result
                    print(
                        f"round {round_} {target:<16} {r.rps:8.1f} req/s  p50 {r.p50_ms:6.2f} ms  "
                        f"p99 {r.p99_ms:6.2f} ms  errors {r.errors}  server cpu {r.server_cpu:.2f}  "
                        f"client cpu {r.client_cpu:.2f}",
                        flush=True,
                    )
            report(runs, {"floor": floor, "subject": subject}, base, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
