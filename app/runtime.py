"""Process-wide runtime settings for the long-running commands (serve, worker, sync, demo)."""

from __future__ import annotations

import gc

#: Allocations between young collections (CPython's default is 700); the older two stay default.
GC_THRESHOLDS = (100_000, 10, 10)


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

    Why 100,000 and not less: the count that sets off a young collection is objects allocated less
    those freed, and a sync keeps several pages alive at once (read ahead, being prepared, queued for
    the database), tens of thousands of objects, which each collection walked. At 10,000 a sync of
    100,000 tickets ran 99 young collections and 9 of the middle generation (0.74 s); at 100,000 it
    runs none, since what it allocates is freed by reference counting before that many pile up.
    Cyclic garbage, should some code make it, still sets one off. Measured in-process (three
    interleaved runs each): the event loop's CPU 3.5-4.0 -> 2.9-3.2 s, peak RSS +10 MB; 200,000 and
    400,000 were no faster.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
