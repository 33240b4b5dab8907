"""Outgoing webhooks to integrators, in Merge's envelope and with Merge's signature.

* ``events``: the event names (Merge's exact strings) and which of them we emit.
* ``outbox``: ``emit`` writes one outbox row per subscribed target inside the caller's transaction, so an
  event exists exactly when the change it reports committed.
* ``delivery``: the loop that leases due rows and POSTs them, with retries, backoff and a max age.
* ``signing``: Merge's ``X-Merge-Webhook-Signature`` plus our timestamped ``X-Deskbridge-Signature``, and
  the receiver-side ``verify``.
* ``targets``: the store of webhook targets (the API is ``app/api/webhooks.py``).
* ``hooks``: what the sync engine, write-through, linking and account deletion call.
"""
