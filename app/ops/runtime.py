"""Process-level tuning for the long-running commands (``fineline worker``, ``fineline serve``).

Not applied by the app factory or ``run_worker``: tests build many apps in one process, and the
settings below belong to whoever owns the process.
"""

from __future__ import annotations

import gc

#: Allocations between young-generation collections (CPython's default is 700). A busy worker makes
#: and drops hundreds of short-lived objects per message (requests, rows, outcomes) that reference
#: counting frees anyway; at 700 the cycle collector ran often enough to cost a good share of the
#: worker's CPU (scripts/bench_dispatch.py; the figures are in docs/benchmarks.md).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Move what start-up allocated (modules, settings, mapped classes) out of the collector's
    scans for good, and collect the young generation less often. Reference cycles are still
    collected, only in larger steps."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
