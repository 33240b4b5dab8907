"""Integration slug -> connector class. ``app`` reaches vendors only through here."""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import Connector

#: Vendor modules imported on first use; each registers its connector class.
BUILTIN_MODULES: tuple[str, ...] = ("connectors.freshdesk", "connectors.zendesk")

_registry: dict[str, type[Any]] = {}
_loaded = False


class UnknownIntegrationError(LookupError):
    """No connector is registered under that slug."""


def register(cls: type[Any]) -> type[Any]:
    """Class decorator: make a connector reachable by its ``slug``."""
    _registry[cls.slug] = cls
    return cls


def unregister(slug: str) -> None:
    _registry.pop(slug, None)


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def get(slug: str) -> type[Connector]:
    _load_builtins()
    try:
        cls: type[Connector] = _registry[slug]
    except KeyError:
        raise UnknownIntegrationError(slug) from None
    return cls


def slugs() -> list[str]:
    _load_builtins()
    return sorted(_registry)
