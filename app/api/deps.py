"""Named dependencies handlers ask for (Litestar injects them by parameter name)."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.state import Services
from app.db.accounts import LinkedAccountRecord

Conn = NamedDependency[AsyncConnection]
Account = NamedDependency[LinkedAccountRecord]
Organization = NamedDependency[str]
ServicesDep = NamedDependency[Services]
