"""Zendesk's side of the gate: credentials, quotas and how its refusals look on the wire.

Auth (v2): Basic ``{email}/token:{api_token}`` or ``{email}:{password}``, or ``Bearer <oauth token>``.
``X-On-Behalf-Of: <email or user id>`` is honoured only with an OAuth token carrying the
``impersonate`` scope (developer.zendesk.com "making API requests on behalf of end users"); with Basic
auth it is ignored.

Rate-limit headers on every answer, as recorded (zenpy cassettes 2023, Nango 2026): ``x-rate-limit``,
``x-rate-limit-remaining``, the 2026 ``ratelimit-limit/remaining/reset`` and the 2023 spelling
``rate-limit``, ``rate-limit-remaining``, ``rate-limit-reset``; plus endpoint buckets as
``zendesk-ratelimit-<name>: total=N; remaining=M; resets=S``. Over quota: 429 with ``Retry-After``.
"""

from __future__ import annotations

from emulators.common.gate import Principal, Profile
from emulators.common.http import Reply, basic_credentials, bearer_token, encode
from emulators.common.ratelimit import Bucket, Usage
from emulators.zendesk.config import ZendeskConfig
from emulators.zendesk.desk import ZendeskDesk

ACCOUNT = "account"
#: Documented per-endpoint minute quotas (developer.zendesk.com rate limits; Nango recordings' headers).
ENDPOINT_BUCKETS = {
    "tickets-index": 100,
    "incremental-exports": 10,
    "incremental-exports-cursor": 20,
    "tickets-update": 100,
}


class ZendeskProfile(Profile):
    def __init__(self, config: ZendeskConfig, desk: ZendeskDesk) -> None:
        self.config = config
        self.desk = desk

    def normalize(self, path: str) -> str:
        # Zendesk serves every v2 path with or without ".json".
        return path[:-5] if path.endswith(".json") else path

    def is_public(self, path: str) -> bool:
        # The Ticket Sharing protocol authenticates with its own X-Ticket-Sharing-Token.
        return path.startswith(("/attachments/token/", "/sharing/"))

    def authenticate(self, headers: dict[str, str]) -> Principal | None:
        authorization = headers.get("authorization", "")
        token = bearer_token(authorization)
        if token is not None:
            scopes = self.config.oauth_tokens.get(token)
            if scopes is None:
                return None
            principal = Principal(
                self.desk.admin_id, self.config.admin_email, "oauth", frozenset(scopes.split())
            )
            return self._on_behalf_of(principal, headers.get("x-on-behalf-of"))
        credentials = basic_credentials(authorization)
        if credentials is None:
            return None
        user, secret = credentials
        if user.endswith("/token"):
            email, method, accepted = user[: -len("/token")], "token", self.config.api_tokens
        else:
            email, method, accepted = user, "password", self.config.passwords
        if accepted.get(email) != secret:
            return None
        return Principal(self.desk.user_by_email(email), email, method)

    def _on_behalf_of(self, principal: Principal, target: str | None) -> Principal | None:
        if not target or "impersonate" not in principal.scopes:
            return principal
        user_id = int(target) if target.isdigit() else self.desk.user_by_email(target)
        user = self.desk.users.get(user_id) if user_id is not None else None
        if user is None:
            return None
        return Principal(user_id, user["email"], "oauth", principal.scopes, impersonated_by=principal.user_id)

    def buckets(self, method: str, path: str, query: str) -> list[Bucket]:
        buckets = [Bucket(ACCOUNT, self.config.rate_limit.per_minute)]
        if not self.config.rate_limit.endpoint_limits:
            return buckets
        name = None
        if path.startswith("/api/v2/incremental/"):
            name = "incremental-exports-cursor" if path.endswith("/cursor") else "incremental-exports"
        elif method == "GET" and path == "/api/v2/tickets":
            name = "tickets-index"
        elif method == "PUT" and path.startswith("/api/v2/tickets/"):
            name = "tickets-update"
        if name is not None:
            buckets.append(Bucket(name, ENDPOINT_BUCKETS[name]))
        return buckets

    def rate_headers(self, usages: list[Usage]) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        for usage in usages:
            limit, remaining, reset = usage.bucket.limit, usage.remaining, usage.reset
            if usage.bucket.name == ACCOUNT:
                headers += [
                    ("x-rate-limit", str(limit)),
                    ("x-rate-limit-remaining", str(remaining)),
                    ("ratelimit-limit", str(limit)),
                    ("ratelimit-remaining", str(remaining)),
                    ("ratelimit-reset", str(reset)),
                    ("rate-limit", str(limit)),
                    ("rate-limit-remaining", str(remaining)),
                    ("rate-limit-reset", str(reset)),
                ]
            else:
                value = f"total={limit}; remaining={remaining}; resets={reset}"
                headers.append((f"zendesk-ratelimit-{usage.bucket.name}", value))
        return [*headers, ("x-zendesk-api-version", "v2")]

    def unauthorized(self) -> Reply:
        return Reply(401, encode({"error": "Couldn't authenticate you"}))

    def throttled(self, retry_after: int) -> Reply:
        body = {
            "error": "APIRateLimitExceeded",
            "description": "Number of allowed API requests per minute exceeded",
        }
        return Reply(429, encode(body), headers=[("retry-after", str(retry_after))])

    def server_error(self) -> Reply:
        return Reply(500, encode({"error": "InternalError", "description": "Something went wrong"}))
