"""Freshdesk's side of the gate: API-key Basic auth, credit-based quotas and its headers.

Auth: Basic with the API key as username and any password (``-u APIKEY:X``); anything else is 401
``{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}``.

Quota: account-wide calls per minute; a request costs one credit plus one per ``include=`` embed.
Every answer carries ``X-RateLimit-Total``, ``X-RateLimit-Remaining``,
``X-RateLimit-Used-CurrentRequest``; over quota, 429 with ``Retry-After`` (developers.freshdesk.com
"Rate limit"). Per-endpoint caps (ticket list, create, update; contact list) are charged too but, as on
Freshdesk, only the account totals are reported in headers.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from emulators.common.gate import Principal, Profile
from emulators.common.http import Reply, basic_credentials, encode
from emulators.common.ratelimit import Bucket, Usage
from emulators.freshdesk.config import FreshdeskConfig

ACCOUNT = "account"
#: Endpoint caps per minute by plan, the plan known by its account-wide limit: Growth 200, Pro 400,
#: Enterprise 700 (support.freshdesk.com article 225439). Any other limit (a trial's 50, the generous
#: ones of benchmarks and the sandbox) gets Enterprise's caps.
PLAN_ENDPOINT_CAPS = {
    200: {"tickets-list": 20, "tickets-create": 80, "tickets-update": 80, "contacts-list": 20},
    400: {"tickets-list": 100, "tickets-create": 160, "tickets-update": 160, "contacts-list": 100},
    700: {"tickets-list": 200, "tickets-create": 280, "tickets-update": 280, "contacts-list": 200},
}
ENTERPRISE = 700


class FreshdeskProfile(Profile):
    def __init__(self, config: FreshdeskConfig, me: int) -> None:
        self.config = config
        self.me = me

    def is_public(self, path: str) -> bool:
        return path.startswith("/data/helpdesk/attachments/")

    def authenticate(self, headers: dict[str, str]) -> Principal | None:
        credentials = basic_credentials(headers.get("authorization", ""))
        if credentials is None or credentials[0] not in self.config.api_keys:
            return None
        return Principal(self.me, "", "apikey")

    def buckets(self, method: str, path: str, query: str) -> list[Bucket]:
        includes = [x for v in parse_qs(query).get("include", []) for x in v.split(",") if x]
        cost = 1 + len(includes)
        buckets = [Bucket(ACCOUNT, self.config.rate_limit.per_minute, cost)]
        name = None
        if path == "/api/v2/tickets":
            name = "tickets-list" if method == "GET" else "tickets-create" if method == "POST" else None
        elif method == "PUT" and path.startswith("/api/v2/tickets/"):
            name = "tickets-update"
        elif method == "GET" and path == "/api/v2/contacts":
            name = "contacts-list"
        if name is not None and self.config.rate_limit.endpoint_limits:
            caps = PLAN_ENDPOINT_CAPS.get(self.config.rate_limit.per_minute, PLAN_ENDPOINT_CAPS[ENTERPRISE])
            buckets.append(Bucket(name, caps[name], cost))
        return buckets

    def rate_headers(self, usages: list[Usage]) -> list[tuple[str, str]]:
        account = next(u for u in usages if u.bucket.name == ACCOUNT)
        return [
            ("X-RateLimit-Total", str(account.bucket.limit)),
            ("X-RateLimit-Remaining", str(account.remaining)),
            ("X-RateLimit-Used-CurrentRequest", str(account.bucket.cost if account.allowed else 0)),
            ("X-Freshdesk-API-Version", "latest=api/v2; requested=api/v2"),
        ]

    def unauthorized(self) -> Reply:
        body = {"code": "invalid_credentials", "message": "You have to be logged in to perform this action."}
        return Reply(401, encode(body))

    def throttled(self, retry_after: int) -> Reply:
        body = {
            "message": "You have exceeded the limit of requests per minute. Please try again after some time."
        }
        return Reply(429, encode(body), headers=[("Retry-After", str(retry_after))])

    def server_error(self) -> Reply:
        return Reply(
            500, encode({"code": "internal_error", "message": "We're sorry, but something went wrong."})
        )
