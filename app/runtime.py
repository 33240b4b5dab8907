"""Process-wide runtime settings for the long-running commands (serve, worker, sync, demo)."""

from __future__ import annotations

import gc

#: Allocations between young collections (CPython's default is 700); the older two stay default.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """Collect cyclic garbage less often, and never walk the objects loaded at startup again.

    Call it once the process has imported what it runs. A sync page decodes into some fifty thousand
    dicts and lists that live until the page is stored: with the default thresholds they set off dozens
    of young collections per page and, as they survive those, full collections that walk every object
    in the process, the imported libraries' included. That was ~40 % of a full sync's CPU on the event
    loop's thread (``benchmarks/sync_path.py``). Freezing moves what exists now (modules, classes,
    compiled statements) out of the collector's sight; the larger young threshold spaces collections
    out. Our records are acyclic and freed by reference counting, so this keeps memory flat: a
    higher threshold for the older generations too was as fast but let peak RSS double at 100,000
    tickets.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
