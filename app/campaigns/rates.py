"""A campaign's opt-out rate: one definition for the counts the API shows and the spike guard's
judgement (``app.alerts.detector``). Pure: no I/O.

Opt-outs can arrive before the delivery callbacks of the same messages, so the rate is taken over
``max(delivered, opt_outs)``: at least every person who opted out was reached.
"""

from __future__ import annotations


def judged_delivered(opt_outs: int, delivered: int) -> int:
    """The delivered count a rate is taken over: at least the number who opted out."""
    return max(delivered, opt_outs)


def opt_out_rate(opt_outs: int, delivered: int) -> float:
    n = judged_delivered(opt_outs, delivered)
    return opt_outs / n if n else 0.0
