"""Zendesk emulator configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulators.common.config import EmulatorConfig


@dataclass
class ZendeskConfig(EmulatorConfig):
    subdomain: str = "acme"
    #: Where the emulator is reached; record ``url`` fields and next-page links are built on it, as
    #: Zendesk builds them on the account's canonical host. The CLI sets it to the bound address.
    base_url: str = ""
    #: The account owner (an admin); Basic credentials and OAuth tokens authenticate as this user.
    admin_email: str = "admin@acme.test"
    #: ``email -> API token`` accepted as Basic ``{email}/token:{token}``.
    api_tokens: dict[str, str] = field(default_factory=lambda: {"admin@acme.test": "zd-api-token"})
    #: ``email -> password`` (deprecated by Zendesk for the API, still accepted; the classic v1 API used it).
    passwords: dict[str, str] = field(default_factory=lambda: {"admin@acme.test": "zd-password"})
    #: ``OAuth access token -> space-separated scopes``; ``impersonate`` unlocks ``X-On-Behalf-Of``.
    oauth_tokens: dict[str, str] = field(
        default_factory=lambda: {"zd-oauth-token": "read write impersonate", "zd-oauth-readonly": "read"}
    )

    #: Incremental exports leave out what changed within this many seconds before the request, as
    #: Zendesk does (60). Tests that change the desk and sync again at once may set 0.
    export_lag_seconds: int = 60

    def __post_init__(self) -> None:
        if not self.base_url:
            self.base_url = f"https://{self.subdomain}.zendesk.com"
        self.base_url = self.base_url.rstrip("/")
