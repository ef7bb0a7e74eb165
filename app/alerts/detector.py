"""The unsubscribe-spike guard's statistics: is this campaign losing people abnormally fast?

**Baseline.** The company's normal opt-out rate, pooled over recent completed campaigns and
shrunk toward a prior when there is little history (a beta-binomial posterior mean)::

    baseline = (sum(opt_outs) + prior * prior_weight) / (sum(delivered) + prior_weight)

Pooling weighs each campaign by its size. ``prior_weight`` is the prior's worth in delivered
messages: with the default 20,000, a company with no history starts at ``prior`` (0.5%), and one
with 200,000 delivered messages is 91% its own rate.

**Denominator.** Opt-outs can arrive before the delivery callbacks of the same messages, so a
campaign is judged on ``n = max(delivered, opt_outs)`` (``app.campaigns.rates``, also used by the
campaign's counts): at least every person who opted out was
reached. A lagging delivered count still inflates the rate; pass the best count available.

**The rule.** A campaign with ``k`` opt-outs out of ``n`` fires when all three hold:

1. *enough people* — ``k >= min_opt_outs``;
2. *large* — its rate ``k / n`` reaches the lower of ``multiple × baseline`` and ``ceiling``.
   The ceiling matters for a company whose normal rate is already high (above 0.67% by
   default), where three times normal would be too late;
3. *statistically clear* — ``P[X >= k]`` for ``X ~ Binomial(n, baseline)`` is below ``alpha_k``,
   the share of ``alpha`` this look may spend (below).

Both the multiple and the ceiling need the significance test, so a company whose normal rate
sits above the ceiling is not alarmed by every campaign, and "five people on a tiny send" fires
only when five is far more than the baseline can explain: 5 of 1,000 at 0.5% does not fire
(that is normal), but 5 of 50 does (10% is twenty times normal; p ≈ 5e-6), which is the point of
a small first slice.

**Sequential looks.** The guard is evaluated at every opt-out, so a campaign with 300 opt-outs
is tested 300 times, and a per-look level of ``alpha`` would let normal campaigns trip it far
more often than ``alpha``. The k-th opt-out's test therefore spends ``alpha_k = alpha · 6 / (π² k²)``
(these sum to ``alpha``). The event "fires at look k" implies "at least k opt-outs among the
first n' delivered", whose probability is below ``alpha_k``; by the union bound a campaign at
the normal rate fires with probability at most ``alpha`` over its whole life. The cost is power
for late looks, which matters little: a real spike shows early and strongly. The bound assumes
opt-outs are independent at the baseline rate; real campaigns vary more than that (audiences
differ), and the ``multiple`` bar is what keeps such ordinary variation from firing.

**Computation.** The binomial upper tail is summed exactly in log space from the pmf at ``k``
(``math.lgamma``), term by term with the ratio of successive terms, stopping when the rest is
negligible or, for a yes/no decision, as soon as the sum passes the level. Below the mean the
complement is summed instead. The work is a few thousand terms at most (about nine standard
deviations' worth), a fraction of a millisecond at 10 million delivered, so the guard can run on
every opt-out. `would_fire` is the decision alone and usually stops at the rate bar.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from app.campaigns import rates

MIN_BASELINE = 1e-6  # a rate of zero would make every opt-out infinitely surprising


@dataclass(frozen=True)
class SpikePolicy:
    min_opt_outs: int = 5
    multiple: float = 3.0
    alpha: float = 0.001  # chance that a campaign at the normal rate ever fires
    ceiling: float = 0.02

    def __post_init__(self) -> None:
        if self.min_opt_outs < 1:
            raise ValueError("min_opt_outs must be at least 1")
        if self.multiple <= 1:
            raise ValueError("multiple must be above 1")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be between 0 and 1")
        if not 0 < self.ceiling <= 1:
            raise ValueError("ceiling must be a rate in (0, 1]")

    def rate_bar(self, baseline: float) -> float:
        """The opt-out rate a campaign must reach to count as large."""
        return min(self.multiple * baseline, self.ceiling)

    def level(self, opt_outs: int) -> float:
        """The significance level spent on the look at the ``opt_outs``-th opt-out."""
        return self.alpha * 6 / (math.pi**2 * max(opt_outs, 1) ** 2)


@dataclass(frozen=True)
class Verdict:
    fires: bool
    reason: str  # the numbers and why they fire or not, without a "spike"/"normal" label (see ``fires``)
    rate: float  # opt_outs / max(delivered, opt_outs)
    threshold: int  # the fewest opt-outs that would fire at this delivered count
    p_value: float  # P[X >= opt_outs], X ~ Binomial(max(delivered, opt_outs), baseline); 0.0 if < 1e-308
    opt_outs: int
    delivered: int  # the count judged: max(delivered, opt_outs)
    baseline: float  # the baseline judged against (clamped as the rule uses it)
    rate_bar: float  # the rate that counts as large (``SpikePolicy.rate_bar``)

    def metrics(self) -> dict:
        """The numbers of this decision, as an alert keeps them: one source for every figure shown
        beside the alert (the counts, the rate, the baseline, the rate bar, the count that fires)."""
        return {"opt_outs": self.opt_outs, "delivered": self.delivered, "rate": round(self.rate, 6),
                "baseline_rate": round(self.baseline, 6), "rate_bar": round(self.rate_bar, 6),
                "threshold": self.threshold, "p_value": self.p_value}


def baseline_rate(
    history: Iterable[tuple[int, int]],
    prior: float = 0.005,
    prior_weight: float = 20_000,
) -> float:
    """The normal opt-out rate from (opt_outs, delivered) of recent completed campaigns; see module doc."""
    opt_outs = delivered = 0
    for k, n in history:
        if k < 0 or n < 0:
            raise ValueError(f"negative counts in history: {(k, n)}")
        opt_outs += k
        delivered += max(n, k)
    return (opt_outs + prior * prior_weight) / (delivered + prior_weight)


def _log_pmf(k: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _upper_tail(k: int, n: int, p: float, stop_above: float = math.inf) -> float:
    """P[X >= k] for X ~ Binomial(n, p), summed upward from k; stops early once past ``stop_above``."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    head = math.exp(_log_pmf(k, n, p))
    if head == 0.0:
        return 0.0
    odds = p / (1 - p)
    total = term = head
    for i in range(k, n):
        term *= (n - i) / (i + 1) * odds
        total += term
        if term <= total * 1e-17 or total > stop_above:
            break
    return min(total, 1.0)


def _lower_tail(k: int, n: int, p: float) -> float:
    """P[X <= k] for X ~ Binomial(n, p), summed downward from k."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    term = math.exp(_log_pmf(k, n, p))
    total = term
    inverse_odds = (1 - p) / p
    for i in range(k, 0, -1):
        term *= i / (n - i + 1) * inverse_odds
        total += term
        if term <= total * 1e-17:
            break
    return min(total, 1.0)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P[X >= k] for X ~ Binomial(n, p), exact to double precision."""
    if k <= n * p:  # at or below the mean the tail is large: 1 - P[X <= k - 1] is accurate
        return max(0.0, 1.0 - _lower_tail(k - 1, n, p))
    return _upper_tail(k, n, p)


def _clear(k: int, n: int, p: float, level: float) -> bool:
    """Is P[X >= k] < level? Stops summing as soon as the answer is known."""
    if k <= n * p:
        return False  # the tail is at least about one half
    return _upper_tail(k, n, p, stop_above=level) < level


_denominator = rates.judged_delivered


def would_fire(opt_outs: int, delivered: int, baseline: float, policy: SpikePolicy) -> bool:
    """The firing decision alone (the rule in the module doc), cheap enough for every opt-out."""
    if opt_outs < policy.min_opt_outs:
        return False
    n = _denominator(opt_outs, delivered)
    p = min(max(baseline, MIN_BASELINE), 0.5)
    if opt_outs < policy.rate_bar(p) * n:
        return False
    return _clear(opt_outs, n, p, policy.level(opt_outs))


def threshold(delivered: int, baseline: float, policy: SpikePolicy) -> int:
    """The fewest opt-outs that would fire with ``delivered`` messages delivered."""
    p = min(max(baseline, MIN_BASELINE), 0.5)
    k = max(policy.min_opt_outs, math.ceil(policy.rate_bar(p) * delivered))
    while k > policy.min_opt_outs and (k - 1) >= policy.rate_bar(p) * delivered:
        k -= 1  # undo floating-point rounding up
    # Firing is monotone in k (higher rate, smaller tail, though a stricter level), so walk up.
    # From the rate bar the tail falls by a constant factor per step, so this takes few steps;
    # gallop then bisect to bound the work for extreme inputs.
    if would_fire(k, delivered, p, policy):
        return k
    step = 1
    low = k
    while not would_fire(low + step, delivered, p, policy):
        low += step
        step *= 2
    high = low + step
    while high - low > 1:
        middle = (low + high) // 2
        if would_fire(middle, delivered, p, policy):
            high = middle
        else:
            low = middle
    return high


def evaluate(opt_outs: int, delivered: int, baseline: float, policy: SpikePolicy | None = None) -> Verdict:
    """Judge a campaign with ``opt_outs`` opt-outs after ``delivered`` deliveries; see module doc."""
    policy = policy or SpikePolicy()
    if opt_outs < 0 or delivered < 0:
        raise ValueError(f"counts cannot be negative: opt_outs={opt_outs}, delivered={delivered}")
    p = min(max(baseline, MIN_BASELINE), 0.5)
    n = _denominator(opt_outs, delivered)
    rate = rates.opt_out_rate(opt_outs, delivered)
    p_value = binomial_sf(opt_outs, n, p) if n else 1.0
    fires = would_fire(opt_outs, delivered, p, policy)
    bar = policy.rate_bar(p)
    level = policy.level(opt_outs)
    numbers = f"{opt_outs} opt-outs of {n} delivered ({rate:.2%}) against a baseline of {p:.2%}"
    if fires:
        large = []
        if rate >= policy.multiple * p:
            large.append(f"{rate / p:.1f}× the baseline")
        if rate >= policy.ceiling:
            large.append(f"above the {policy.ceiling:.2%} ceiling")
        reason = f"{numbers}; {' and '.join(large)}; p = {p_value:.2g} < {level:.2g}"
    elif opt_outs < policy.min_opt_outs:
        reason = f"{numbers}; fewer than {policy.min_opt_outs} opt-outs"
    elif rate < bar:
        reason = f"{numbers}; below the {bar:.2%} rate that counts as a spike"
    else:
        reason = f"{numbers}; not statistically clear (p = {p_value:.2g} ≥ {level:.2g})"
    return Verdict(
        fires=fires,
        reason=reason,
        rate=rate,
        threshold=threshold(delivered, p, policy),
        p_value=p_value,
        opt_outs=opt_outs,
        delivered=n,
        baseline=p,
        rate_bar=bar,
    )
