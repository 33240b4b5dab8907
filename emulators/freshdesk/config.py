"""Freshdesk emulator configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from emulators.common.config import EmulatorConfig, RateLimit


@dataclass
class FreshdeskConfig(EmulatorConfig):
    domain: str = "acme"
    #: Base of record URLs (attachment links) and ``Link`` headers; the CLI sets the bound address.
    base_url: str = ""
    #: API keys accepted as Basic ``{key}:X`` (any password); each belongs to an agent.
    api_keys: list[str] = field(default_factory=lambda: ["fd-api-key"])
    #: Freshdesk Enterprise: 700 calls per minute, account-wide.
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(per_minute=700))
    #: Deepest page the ticket list serves (Freshdesk caps page depth; re-anchor ``updated_since``).
    max_page: int = 300

    def __post_init__(self) -> None:
        if not self.base_url:
            self.base_url = f"https://{self.domain}.freshdesk.com"
        self.base_url = self.base_url.rstrip("/")
