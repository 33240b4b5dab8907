"""Zendesk Support: the API v2 connector (``zendesk``) and the classic v1 JSON API (``zendesk_classic``).

Importing the package registers both.
"""

from connectors.zendesk import classic, connector

__all__ = ["classic", "connector"]
