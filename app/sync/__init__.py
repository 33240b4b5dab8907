"""The sync engine: jobs per (linked account, model), leased by workers, run page by page.

``jobs`` leases and releases job rows (``sync_state``), ``runner`` runs one leased job, ``worker`` loops
over due jobs. Any number of workers on any number of machines share one PostgreSQL (``FOR UPDATE SKIP
LOCKED`` leases with expiry and heartbeat); on SQLite one in-process worker runs inside ``serve``.
"""
