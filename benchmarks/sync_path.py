"""Sync-path benchmark: a full sync of Zendesk tickets, users and organizations from the emulator into
SQLite, side by side with the floor (plain httpx paging the same emulator endpoints with the same page
sizes and discarding the bodies); peak RSS of the sync process at two sizes; and a rate-limited run.

    python benchmarks/sync_path.py [--tickets 100000] [--small 10000] [--repeat 3] [--skip-rate-limit]

Everything runs on loopback: the emulator in a subprocess, the sync as ``deskbridge sync
--linked-account`` in a subprocess (peak RSS from /proc/<pid>/status VmHWM; its time includes the
process's start), the floor in a fresh interpreter of its own that imports httpx and nothing of ours
(timed from its first request: see ``floor_subprocess``). Each size runs ``--repeat`` times against one
warmed-up emulator, floor and sync alternating, and reports every run and the median ratio: on a shared
two-core machine single runs vary by a fifth.
The rate-limited run drives the sync in-process so the connector's limiter, as shipped, can run on the
same scaled clock as the emulator (``--rate-limit Q --time-scale K``: a "minute" lasts 60/K s). The
endpoint-quota run syncs in-process too, against Zendesk's per-endpoint export quota (``--ep-tickets``,
``--ep-time-scale``), with the limiter as shipped: the emulator's reset headers are in real seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from connectors.http.ratelimit import RateLimiter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOOPBACK = ("127.0.0.0/8", "::1/128")
CREDENTIALS = {"subdomain": "acme", "email": "admin@acme.test", "api_token": "zd-api-token"}
AUTH = ("admin@acme.test/token", "zd-api-token")
SYNC_MODELS = ("Account", "Contact", "User", "Ticket")
#: The paths (and page sizes) the Zendesk connector reads for those models (one users export serves
#: Contacts and Users).
FLOOR_PATHS = (
    "/api/v2/incremental/organizations.json?start_time=0",
    "/api/v2/incremental/users/cursor.json?per_page=1000&start_time=0",
    "/api/v2/incremental/tickets/cursor.json?per_page=1000&start_time=0",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(tickets: int, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "emulators", "zendesk", "--port", str(port), "--tickets", str(tickets)]
    cmd += ["--seed", "1", "--anchor-time", "now", "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("emulator did not start") from None
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    httpx.get(f"{url}/api/v2/users/me.json", auth=AUTH, timeout=300)  # build the lazy tables
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def floor(url: str) -> tuple[int, float]:
    """Page the same endpoints with plain httpx, discarding everything but the paging fields."""
    records = 0
    started = time.perf_counter()
    with httpx.Client(auth=AUTH, timeout=60) as client:
        for path in FLOOR_PATHS:
            next_url: str | None = url + path
            while next_url:
                body = client.get(next_url).json()
                records += sum(len(v) for k, v in body.items() if isinstance(v, list) and k != "exclude")
                if body.get("end_of_stream"):
                    break
                next_url = body.get("after_url") or body.get("next_page")
    return records, time.perf_counter() - started


def floor_subprocess(url: str) -> tuple[int, float]:
    """``floor`` in a fresh interpreter that imports nothing of ours.

    Run in this process, the floor slowed down once the benchmark had linked an account: importing
    deskbridge grows the heap (~31,000 -> ~111,000 objects), and every full collection the JSON
    decoding sets off walks all of it. The 100,000-ticket floor went from 1.9 to 2.7 s and the ratio
    looked ~40 % better than it is (every figure before 2026-11-24's last session). The sync runs in a
    process of its own; so does its floor now."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--floor-only", url]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]), float(out[1])


def settings_for(data_dir: Path):  # type: ignore[no-untyped-def]
    from app.settings import Settings

    return Settings(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'deskbridge.db'}",
        data_dir=data_dir,
        outbound_allow=LOOPBACK,
    )


async def link(data_dir: Path, url: str) -> str:
    from app.db import accounts as account_store
    from app.db.accounts import NewLinkedAccount
    from app.db.engine import migrate
    from app.linking import link as link_account
    from app.services import build_services

    services = build_services(settings_for(data_dir))
    try:
        await migrate(services.engine)
        async with services.engine.begin() as conn:
            org = await account_store.ensure_organization(conn)
        account, _token, _ = await link_account(
            services,
            NewLinkedAccount(
                organization_id=org,
                integration="zendesk",
                end_user_origin_id="bench",
                end_user_organization_name="Bench",
                end_user_email_address="admin@acme.test",
                base_url=url,
                credentials=CREDENTIALS,
            ),
        )
        return account.id
    finally:
        await services.http.aclose()
        await services.engine.dispose()


def sync_subprocess(data_dir: Path, account_id: str) -> tuple[int, float, int]:
    """``deskbridge sync`` in a subprocess: (records, seconds, peak RSS in kB)."""
    env = dict(os.environ, DESKBRIDGE_DATA_DIR=str(data_dir), DESKBRIDGE_OUTBOUND_ALLOW=",".join(LOOPBACK))
    env["DESKBRIDGE_LOG_LEVEL"] = "WARNING"
    cmd = [str(ROOT / ".venv/bin/deskbridge"), "sync", "--linked-account", account_id]
    for model in SYNC_MODELS:
        cmd += ["--model", model]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    # Its end is taken by a thread waiting for it, not by the loop that samples its VmHWM every 50 ms
    # (that added up to 50 ms to the time). wait4's ru_maxrss is no substitute for VmHWM: it counts
    # the forked copy of this process before the exec. Its few lines of output wait in the pipe.
    ended: list[float] = []

    def wait() -> None:
        proc.wait()
        ended.append(time.perf_counter())

    waiter = threading.Thread(target=wait)
    waiter.start()
    peak = 0
    while waiter.is_alive():
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        waiter.join(0.05)
    elapsed = ended[0] - started
    out = proc.stdout.read().decode() if proc.stdout else ""
    records = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[-1] == "records":
            records += int(parts[-2].replace(",", ""))
    if proc.returncode != 0:
        print(out, file=sys.stderr)
    return records, elapsed, peak


def full_runs(tickets: int, repeat: int) -> list[dict[str, float]]:
    proc, url = start_emulator(tickets, "--rate-limit", "10000000", "--no-endpoint-limits")
    runs = []
    try:
        # The emulator encodes a record the first time it serves it and keeps the bytes: a cold pass
        # is ~2.5x slower than a warm one. One untimed pass first, so that every timed run, floor and
        # sync alike, reads it warm (earlier figures timed the floor cold and the sync warm).
        floor_subprocess(url)
        for _ in range(repeat):
            floor_records, floor_s = floor_subprocess(url)
            with tempfile.TemporaryDirectory() as tmp:
                account_id = asyncio.run(link(Path(tmp), url))
                records, sync_s, rss = sync_subprocess(Path(tmp), account_id)
            runs.append(
                {
                    "floor_records": floor_records,
                    "floor_rps": floor_records / floor_s,
                    "records": records,
                    "sync_s": sync_s,
                    "sync_rps": records / sync_s,
                    "ratio": records / sync_s / (floor_records / floor_s),
                    "rss_mb": rss / 1024,
                }
            )
    finally:
        stop(proc)
    return runs


async def sync_in_process(
    url: str,
    models: tuple[str, ...],
    count: Callable[[httpx.Response], Awaitable[None]],
    *,
    limiter: RateLimiter | None = None,
    waiting_seconds: float = 5.0,
) -> float:
    """Link the emulator's desk into a fresh store and sync ``models`` in this process, every vendor
    response passed to ``count``; returns the sync's seconds. ``limiter`` replaces the connector's own
    for the account; ``waiting_seconds`` is how soon comments look again while tickets still sync."""
    from sqlalchemy import update

    from app.db.tables import sync_state
    from app.services import build_services
    from app.sync.runner import RunnerConfig
    from app.sync.worker import Worker, WorkerConfig

    with tempfile.TemporaryDirectory() as tmp:
        account_id = await link(Path(tmp), url)
        http = httpx.AsyncClient(timeout=30, event_hooks={"response": [count]})
        services = build_services(settings_for(Path(tmp)), http_client=http)
        if limiter is not None:
            services.limiters[account_id] = limiter
        async with services.engine.begin() as conn:
            await conn.execute(
                update(sync_state)
                .where(sync_state.c.linked_account_id == account_id)
                .values(next_sync_start=0)
            )
        runner = RunnerConfig(interval_seconds=3600, waiting_seconds=waiting_seconds)
        sync_worker = Worker(services, WorkerConfig(runner=runner))
        started = time.perf_counter()
        while await sync_worker.run_one(account_id=account_id, models=models) is not None:
            pass
        elapsed = time.perf_counter() - started
        await http.aclose()
        await services.engine.dispose()
    return elapsed


async def rate_limited(tickets: int, quota: int, scale: float, latency_ms: float) -> dict[str, float]:
    """Tickets and their comments (one request per ticket) under a per-minute quota, time-scaled, with
    the Zendesk connector's limiter as shipped (its clock scaled like the emulator's): it starts from the
    lowest plan's quota and adopts the account's from the emulator's ``x-rate-limit``. Every request
    takes ``latency_ms`` to reach the emulator: a vendor ``scale`` times that far away in real time."""
    from connectors.http.clock import ScaledClock
    from connectors.zendesk.connector import ZendeskConnector

    proc, url = start_emulator(
        tickets,
        "--rate-limit",
        str(quota),
        "--time-scale",
        str(scale),
        "--no-endpoint-limits",
        "--latency-ms",
        str(latency_ms),
    )
    statuses: dict[int, int] = {}

    async def count(response: httpx.Response) -> None:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    limiter = ZendeskConnector.new_limiter()
    limiter.clock = ScaledClock(scale)
    try:
        elapsed = await sync_in_process(url, ("Ticket", "Comment"), count, limiter=limiter, waiting_seconds=0)
    finally:
        stop(proc)
    return against_quota(sum(statuses.values()), statuses, elapsed, allowed=quota * scale / 60)


async def endpoint_limited(tickets: int, scale: float) -> dict[str, float]:
    """A full sync under Zendesk's own per-endpoint quota on exports (the cursor exports: 20 a minute,
    time-scaled), with the connector's limiter as shipped: it reads the ``zendesk-ratelimit-*`` headers
    and waits for the bucket's reset. The account's quota is out of the way."""
    proc, url = start_emulator(tickets, "--rate-limit", "10000000", "--time-scale", str(scale))
    statuses: dict[int, int] = {}
    exports = 0
    windows: set[int] = set()  # the emulator's fixed windows (60/scale real seconds) exports fell in

    async def count(response: httpx.Response) -> None:
        nonlocal exports
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.request.url.path.endswith("/cursor.json"):
            exports += 1
            # The emulator's window index, taken at the answer (it takes it on arrival, a moment before).
            windows.add(int(time.time() // (60 / scale)))

    try:
        elapsed = await sync_in_process(url, SYNC_MODELS, count)
    finally:
        stop(proc)
    result = against_quota(exports, statuses, elapsed, allowed=20 * scale / 60)  # cursor exports a second
    # A run of a few windows straddles their edges: it may use the rest of one window and all of the
    # next, so its rate can exceed the quota's without a single refusal. What the emulator would have
    # let through is the quota of each window the run touched.
    result["windows"] = len(windows)
    result["window_allowance"] = 20 * len(windows)
    return result


def against_quota(
    counted: int, statuses: dict[int, int], seconds: float, *, allowed: float
) -> dict[str, float]:
    """A run's ``counted`` requests (those the quota counts) against ``allowed`` per second, and the
    share of all its requests (``statuses``: count per HTTP status) answered 429."""
    total = sum(statuses.values())
    return {
        "requests": total,
        "counted": counted,
        "seconds": seconds,
        "rate": counted / seconds,
        "allowed": allowed,
        "share": counted / seconds / allowed,
        "throttled": statuses.get(429, 0) / max(total, 1),
    }


def main() -> None:
    if sys.argv[1:2] == ["--floor-only"]:  # floor_subprocess's child: nothing else is imported
        records, seconds = floor(sys.argv[2])
        print(records, seconds)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (floor and sync each)")
    # The recorded Zendesk account's plan (x-rate-limit: 400), twice the connector's starting quota.
    parser.add_argument("--quota", type=int, default=400, help="rate-limited run: requests per minute")
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--rl-tickets", type=int, default=1200, help="rate-limited run: ~3 minutes' quota")
    # 30 ms at time scale 10: a vendor answering in 300 ms, which one request at a time could not keep
    # at 400 a minute (200 at most).
    parser.add_argument("--rl-latency-ms", type=float, default=30.0, help="rate-limited run: latency")
    parser.add_argument("--skip-rate-limit", action="store_true")
    parser.add_argument("--ep-tickets", type=int, default=40_000, help="endpoint-quota run: tickets")
    parser.add_argument("--ep-time-scale", type=float, default=20.0, help="endpoint-quota run: time scale")
    args = parser.parse_args()
    print("$ " + " ".join([Path(sys.executable).name, *sys.argv]))
    from connectors import registry

    assert "zendesk" in registry.slugs(), "the Zendesk connector is not registered"
    print("connector: zendesk (API v2 incremental cursor exports); store: SQLite; emulator in a subprocess")
    for n in (args.small, args.tickets):
        runs = full_runs(n, args.repeat)
        for r in runs:
            print(
                f"{n:>8,} tickets: floor {r['floor_records']:>9,} records {r['floor_rps']:>9,.0f}/s | "
                f"deskbridge sync {r['records']:>9,} records in {r['sync_s']:6.1f}s "
                f"{r['sync_rps']:>8,.0f}/s | ratio {r['ratio']:.2f} | sync peak RSS {r['rss_mb']:.0f} MB",
                flush=True,
            )
            if r["records"] != r["floor_records"]:  # a sync that skipped records would look faster
                print(f"  !! sync stored {r['records']:,} records, the endpoints hold {r['floor_records']:,}")
        print(
            f"{n:>8,} tickets: median ratio {statistics.median(r['ratio'] for r in runs):.2f} "
            f"over {len(runs)} runs; peak RSS {max(r['rss_mb'] for r in runs):.0f} MB",
            flush=True,
        )
    if not args.skip_rate_limit:
        r = asyncio.run(rate_limited(args.rl_tickets, args.quota, args.time_scale, args.rl_latency_ms))
        print(
            f"rate-limited ({args.quota}/min, time scale {args.time_scale:g}, "
            f"{args.rl_latency_ms:g} ms to the emulator: "
            f"{r['allowed']:.1f} req/s allowed): "
            f"{r['requests']:,} requests in {r['seconds']:.1f}s = {r['rate']:.1f} req/s "
            f"({r['share']:.0%} of the quota), {r['throttled']:.2%} answered 429"
        )
        e = asyncio.run(endpoint_limited(args.ep_tickets, args.ep_time_scale))
        print(
            f"endpoint quota (cursor exports 20/min, time scale {args.ep_time_scale:g}; "
            f"{args.ep_tickets:,} tickets): {e['counted']:,} export requests in {e['seconds']:.1f}s, "
            f"falling in {e['windows']:g} of the emulator's fixed windows, which allow "
            f"{e['window_allowance']:g}; {e['requests']:,} requests in all, {e['throttled']:.2%} answered 429"
        )


if __name__ == "__main__":
    main()
