"""The toolkit every vendor emulator is built from.

* ``config`` — seed/size, rate-limit and fault knobs (mutable at run time)
* ``clock`` — wall clock (pinnable) and the vendors' ISO timestamp format
* ``seeding`` — deterministic per-record RNGs and word pools
* ``store`` — lazily seeded in-memory tables with id and change-time indexes
* ``ratelimit`` — fixed per-minute windows with a time-scale factor
* ``faults`` — seeded fault picking, dropped connections, truncated bodies
* ``gate`` — ``EmulatorApp`` (a Litestar app) running faults, rate limit and auth before routing
* ``admin`` — ``/_emulator`` endpoints
* ``http`` — replies, Basic/Bearer parsing, absolute URLs
* ``serve`` — uvicorn in the foreground or a background thread
"""
