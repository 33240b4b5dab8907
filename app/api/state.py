"""What every request handler can reach: settings, engine, secrets, outbound policy, vendor HTTP client."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.secrets import SecretBox
from app.settings import Settings
from app.urlpolicy import URLPolicy


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    box: SecretBox
    url_policy: URLPolicy
    #: Shared client for vendor calls; tests inject one whose transport is an emulator or a double.
    http: httpx.AsyncClient
