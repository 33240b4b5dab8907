"""Freshdesk API v2: ``wire`` (payload shapes), ``mapping`` (pure conversions), ``connector``.

Importing the package registers ``FreshdeskConnector`` under the slug ``freshdesk``.
"""

from connectors.freshdesk.connector import FreshdeskConnector

__all__ = ["FreshdeskConnector"]
