"""Time the oops detector per message, by hand (never from a test).

    python data/oops/bench.py

Runs the whole content check's detector step (``oops.assess`` with the opt-out rule) over every
message of data/oops/eval.tsv several times and prints the time per message: median of the runs,
and the slowest single message.
"""

from __future__ import annotations

import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.campaigns import oops  # noqa: E402
from app.campaigns.content import ContentContext, check_content, has_opt_out  # noqa: E402

RUNS = 5


def main() -> None:
    with (Path(__file__).parent / "eval.tsv").open(encoding="utf-8", newline="") as f:
        rows = [(r["text"], r["brand"]) for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    oops.model()  # the weights load once per process
    per_run = []
    slowest = 0.0
    for _ in range(RUNS):
        started = time.perf_counter()
        for text, brand in rows:
            one = time.perf_counter()
            oops.assess(text, brand, has_opt_out(text))
            slowest = max(slowest, time.perf_counter() - one)
        per_run.append((time.perf_counter() - started) / len(rows))
    long_text = " ".join(text for text, _ in rows)[: oops.READ_LIMIT]
    started = time.perf_counter()
    for _ in range(200):
        oops.assess(long_text, "", has_opt_out(long_text))
    longest = (time.perf_counter() - started) / 200
    started = time.perf_counter()
    for text, brand in rows:
        check_content(text, ContentContext(brand or "Acme", sender_verified=True))
    whole = (time.perf_counter() - started) / len(rows)
    print(f"{len(rows)} messages x {RUNS} runs: median {statistics.median(per_run) * 1e6:.0f} µs per message, "
          f"slowest message {slowest * 1e6:.0f} µs; a {oops.READ_LIMIT}-character message {longest * 1e6:.0f} µs; "
          f"the whole content check {whole * 1e6:.0f} µs per message (detector "
          f"{statistics.median(per_run) / whole:.0%} of it, same run)")


if __name__ == "__main__":
    main()
