"""A small closed-loop HTTP/1.1 load generator, run in its own process by ``read_path.py``.

It reads a ``LoadConfig`` as JSON on stdin and prints a ``LoadResult`` as JSON on stdout. Each of
``concurrency`` keep-alive connections sends a request, reads the whole response, and sends the next one
(so there are never more than ``concurrency`` requests in flight). Responses finishing during the warmup
are not counted; those finishing inside the measured window are, with their latency (request written to
last body byte read).

The client is deliberately thin so that it is not what limits the figures: raw asyncio streams, a
pre-built request, the response head scanned for ``Content-Length`` and the body read with one
``readexactly`` (no HTTP library, no JSON decoding). ``client_cpu`` in the result is the share of one core
the generator used during the window: well below 1.0 means the servers, not the client, set the pace.

With ``walk_starts`` each connection pages through the list instead of repeating page 1: it starts at its
cursor (``None`` = page 1), follows ``next`` from each response and starts over at page 1 at the end.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import quote

import msgspec


class LoadConfig(msgspec.Struct, kw_only=True):
    host: str
    port: int
    #: Path and query of every request, e.g. ``/api/ticketing/v1/tickets?page_size=100``.
    path: str
    headers: dict[str, str] = {}
    concurrency: int = 8
    warmup: float = 2.0
    duration: float = 10.0
    #: When set: walk pages following ``next``; connection ``i`` starts at ``walk_starts[i % len]``.
    walk_starts: list[str | None] | None = None
    #: The server's pid (same host): its CPU time over the measured window is reported.
    server_pid: int | None = None


class LoadResult(msgspec.Struct, kw_only=True):
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_bytes: float
    client_cpu: float
    #: Share of one core the server process used during the window (NaN without ``server_pid``).
    server_cpu: float = float("nan")
    #: Pages whose ``next`` was null (walks wrapped around to page 1), walk mode only.
    wraps: int = 0


class _Window:
    def __init__(self, start: float, end: float) -> None:
        self.start = start
        self.end = end
        self.latencies: list[float] = []
        self.errors = 0
        self.bytes = 0
        self.wraps = 0


class HTTPError(Exception):
    pass


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        return status, await reader.readexactly(int(lower[at + 17 : end]))
    if b"\r\ntransfer-encoding: chunked" in lower:
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    raise HTTPError(f"response without Content-Length or chunked body: {head[:200]!r}")


def next_cursor(body: bytes) -> str | None:
    """The page's ``next`` without decoding the page: our envelopes start with it."""
    if body.startswith(b'{"next":"'):
        return body[9 : body.index(b'"', 9)].decode()
    if body.startswith(b'{"next":null'):
        return None
    return msgspec.json.decode(body, type=dict[str, object]).get("next")  # type: ignore[return-value]


def _request(cfg: LoadConfig, cursor: str | None) -> bytes:
    path = cfg.path
    if cursor is not None:
        path += ("&" if "?" in path else "?") + "cursor=" + quote(cursor, safe="")
    lines = [f"GET {path} HTTP/1.1", f"Host: {cfg.host}:{cfg.port}"]
    lines += [f"{name}: {value}" for name, value in cfg.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _connection(cfg: LoadConfig, index: int, window: _Window, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
    walking = cfg.walk_starts is not None
    cursor = cfg.walk_starts[index % len(cfg.walk_starts)] if cfg.walk_starts else None
    fixed = _request(cfg, None)
    try:
        while not stop.is_set():
            request = _request(cfg, cursor) if walking else fixed
            sent = time.perf_counter()
            writer.write(request)
            status, body = await read_response(reader)
            done = time.perf_counter()
            counted = window.start <= done < window.end
            if counted:
                window.latencies.append(done - sent)
                window.bytes += len(body)
                if status != 200:
                    window.errors += 1
            if walking:
                cursor = next_cursor(body) if status == 200 else None
                if cursor is None and counted:
                    window.wraps += 1
    finally:
        writer.close()


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000.0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> float:
    """User + system CPU seconds of another process, from /proc (NaN when unknown)."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _sleep_unless_failed(tasks: list[asyncio.Task[None]], until: float) -> None:
    """Sleep until ``until`` (perf_counter), returning early if a connection failed."""
    delay = until - time.perf_counter()
    if delay > 0:
        await asyncio.wait(tasks, timeout=delay, return_when=asyncio.FIRST_EXCEPTION)
    for task in tasks:
        if task.done() and task.exception() is not None:
            raise RuntimeError(f"a connection failed: {task.exception()!r}")


async def run(cfg: LoadConfig) -> LoadResult:
    begin = time.perf_counter()
    window = _Window(begin + cfg.warmup, begin + cfg.warmup + cfg.duration)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_connection(cfg, i, window, stop)) for i in range(cfg.concurrency)]
    try:
        await _sleep_unless_failed(tasks, window.start)
        cpu_start, server_start = _cpu(), process_cpu(cfg.server_pid)
        await _sleep_unless_failed(tasks, window.end)
        cpu_used, server_used = _cpu() - cpu_start, process_cpu(cfg.server_pid) - server_start
    finally:
        stop.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    ordered = sorted(window.latencies)
    count = len(ordered)
    return LoadResult(
        requests=count,
        errors=window.errors,
        seconds=cfg.duration,
        rps=count / cfg.duration,
        p50_ms=_percentile(ordered, 0.50),
        p90_ms=_percentile(ordered, 0.90),
        p99_ms=_percentile(ordered, 0.99),
        max_ms=_percentile(ordered, 1.0),
        mean_bytes=window.bytes / count if count else 0.0,
        client_cpu=cpu_used / cfg.duration,
        server_cpu=server_used / cfg.duration,
        wraps=window.wraps,
    )


def main() -> None:
    cfg = msgspec.json.decode(sys.stdin.buffer.read(), type=LoadConfig)
    result = asyncio.run(run(cfg))
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")


if __name__ == "__main__":
    main()
