"""Zendesk's open Ticket Sharing protocol (Networked Help Desk): wire types, mapping, outbound client.

Knows nothing of the service (``app``): the bridge in ``app/sharing`` stores agreements and drives it.
See ``docs/ticket-sharing.md`` and the reference write-up for the protocol itself.
"""
