"""Run a vendor emulator on a local port.

    python -m emulators zendesk         --port 9101 --tickets 1000 --seed 1
    python -m emulators zendesk_classic --port 9102 --tickets 1000
    python -m emulators freshdesk       --port 9103 --tickets 1000 --anchor-time now

Common flags: ``--host`` (default 127.0.0.1), ``--seed``, ``--tickets`` (users, organizations and
comments scale with it), ``--anchor-time`` (epoch seconds or ``now``; seeded records are dated in the
``--history-days`` before it; the default is a fixed instant so the same seed gives the same bytes),
``--rate-limit`` (requests per minute; 0 disables), ``--time-scale`` (a rate-limit "minute" lasts
60/scale real seconds), ``--no-endpoint-limits``, fault rates ``--fault-429 --fault-500 --fault-drop
--fault-slow --fault-truncate`` (probabilities 0..1, seeded), ``--slow-seconds``, ``--retry-after``,
``--base-url`` (defaults to the bound address, so record URLs and next-page links lead back here),
``--export-lag`` (Zendesk: seconds of recent changes its incremental exports leave out; default 60).

Credentials (override with ``--credential``, repeatable): Zendesk ``admin@acme.test/token:zd-api-token``
(Basic), password ``admin@acme.test:zd-password``, OAuth ``Bearer zd-oauth-token`` (scope impersonate);
Freshdesk API key ``fd-api-key`` (Basic ``fd-api-key:X``). Faults and limits can also be changed while
running through ``/_emulator/faults`` and ``/_emulator/ratelimit``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from emulators.common.config import DEFAULT_ANCHOR, EmulatorConfig, Faults, RateLimit
from emulators.common.serve import serve

VENDORS = ("zendesk", "zendesk_classic", "freshdesk")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulators", description="Serve a vendor emulator.")
    parser.add_argument("vendor", choices=VENDORS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--anchor-time", default=str(DEFAULT_ANCHOR))
    parser.add_argument("--history-days", type=int, default=365)
    parser.add_argument("--base-url", default="")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per minute (0 disables)")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--no-endpoint-limits", action="store_true")
    parser.add_argument("--export-lag", type=int, default=60, metavar="SECONDS")
    for kind in ("429", "500", "drop", "slow", "truncate"):
        parser.add_argument(f"--fault-{kind}", type=float, default=0.0, metavar="RATE")
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="every request's delay before the vendor sees it"
    )
    parser.add_argument("--retry-after", type=int, default=1)
    parser.add_argument(
        "--credential", action="append", default=[], help="zendesk: email/token:TOKEN; freshdesk: KEY"
    )
    parser.add_argument("--log-level", default="info")
    return parser.parse_args(argv)


def _common(args: argparse.Namespace, default_limit: int) -> dict[str, Any]:
    limit = default_limit if args.rate_limit is None else args.rate_limit
    faults = Faults(
        rate_429=args.fault_429,
        rate_500=args.fault_500,
        rate_drop=args.fault_drop,
        rate_slow=args.fault_slow,
        rate_truncate=args.fault_truncate,
        slow_seconds=args.slow_seconds,
        retry_after=args.retry_after,
    )
    return {
        "seed": args.seed,
        "tickets": args.tickets,
        "anchor_time": int(time.time()) if args.anchor_time == "now" else int(args.anchor_time),
        "history_days": args.history_days,
        "rate_limit": RateLimit(
            per_minute=max(limit, 1),
            time_scale=args.time_scale,
            enabled=limit > 0,
            endpoint_limits=not args.no_endpoint_limits,
        ),
        "faults": faults,
        "latency_seconds": args.latency_ms / 1000,
        "base_url": args.base_url or f"http://{args.host}:{args.port}",
    }


def build_app(args: argparse.Namespace) -> tuple[Any, EmulatorConfig]:
    if args.vendor == "freshdesk":
        from emulators.freshdesk.app import create_app as create_freshdesk
        from emulators.freshdesk.config import FreshdeskConfig

        fd = FreshdeskConfig(**_common(args, 700))
        if args.credential:
            fd.api_keys = list(args.credential)
        return create_freshdesk(fd), fd

    from emulators.zendesk.config import ZendeskConfig

    zd = ZendeskConfig(**_common(args, 700), export_lag_seconds=args.export_lag)
    for credential in args.credential:
        user, _, secret = credential.partition(":")
        if user.endswith("/token"):
            zd.api_tokens[user.removesuffix("/token")] = secret
        else:
            zd.passwords[user] = secret
    if args.vendor == "zendesk_classic":
        zd.rate_limit.endpoint_limits = False
        from emulators.zendesk.classic import create_classic_app

        return create_classic_app(zd), zd
    from emulators.zendesk.app import create_app as create_zendesk

    return create_zendesk(zd), zd


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    app, config = build_app(args)
    print(
        f"{args.vendor} emulator: {config.tickets} tickets, seed {config.seed}, on http://{args.host}:{args.port}"
    )
    serve(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
