"""The ticket-sharing bridge: every linked desk speaks Zendesk's Ticket Sharing protocol through us.

``store`` (tables), ``receive`` + ``routes`` (the protocol server), ``desk`` (writing shares into a
linked desk), ``outbound`` (what sync and writes queue), ``outbox`` + ``deliver`` (durable sending),
``service`` (the integrator API's operations). The protocol itself is ``connectors.ticket_sharing``.
"""
