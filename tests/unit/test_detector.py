"""Tests for the unsubscribe-spike statistics, including simulated campaigns."""

import math
import random
import time
from fractions import Fraction

import pytest

from app.alerts.detector import (
    SpikePolicy,
    baseline_rate,
    binomial_sf,
    evaluate,
    threshold,
    would_fire,
)

POLICY = SpikePolicy()
BASELINE = 0.005


def exact_sf(k, n, p):
    """P[X >= k] for X ~ Binomial(n, p) in exact rational arithmetic."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    f = Fraction(str(p))
    a, b = f.numerator, f.denominator
    terms = range(k, n + 1) if k > n * p else range(0, k)
    total = sum(math.comb(n, i) * a**i * (b - a) ** (n - i) for i in terms)
    return float(Fraction(total if k > n * p else b**n - total, b**n))


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (0, 10, 0.1),
        (1, 1, 0.5),
        (3, 10, 0.1),
        (5, 50, 0.005),
        (5, 1000, 0.005),
        (12, 1000, 0.005),
        (30, 1000, 0.005),
        (4, 1000, 0.005),
        (60, 2000, 0.02),
        (25, 2000, 0.02),
        (2, 3, 0.3),
        (11, 10, 0.1),
    ],
)
def test_binomial_tail_is_exact(k, n, p):
    assert binomial_sf(k, n, p) == pytest.approx(exact_sf(k, n, p), rel=1e-9, abs=1e-300)


def test_binomial_tail_is_fast_for_ten_million():
    started = time.perf_counter()
    for k in (49_000, 50_000, 50_300, 51_000, 150_000):
        value = binomial_sf(k, 10_000_000, BASELINE)
        assert 0.0 <= value <= 1.0
    assert binomial_sf(50_000, 10_000_000, BASELINE) == pytest.approx(0.5006, abs=1e-3)  # about the mean
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], 0.005),  # no history: the prior
        ([(0, 0)], 0.005),
        ([(10, 1000)], (10 + 100) / (1000 + 20_000)),
        ([(2_000, 200_000)], (2_000 + 100) / (200_000 + 20_000)),  # 91% its own 1%
        ([(10, 1000), (30, 3000)], (40 + 100) / (4000 + 20_000)),  # pooled, i.e. size-weighted
        ([(5, 0)], (5 + 100) / (5 + 20_000)),  # opt-outs before deliveries count as delivered
    ],
)
def test_baseline_rate(history, expected):
    assert baseline_rate(history) == pytest.approx(expected)


def test_baseline_rate_converges_to_the_history_and_refuses_nonsense():
    assert baseline_rate([(20_000, 10_000_000)]) == pytest.approx(0.002, rel=0.01)
    assert baseline_rate([(1, 100)], prior=0.01, prior_weight=0) == 0.01
    with pytest.raises(ValueError):
        baseline_rate([(-1, 10)])


VERDICTS = [
    # (opt_outs, delivered, baseline, fires, reason fragment)
    (0, 0, 0.005, False, "fewer than 5"),
    (4, 10, 0.005, False, "fewer than 5"),  # 40% but only four people
    (5, 1000, 0.005, False, "below the 1.50%"),  # exactly the expected count
    (14, 1000, 0.005, False, "below the 1.50%"),
    (15, 1000, 0.005, False, "not statistically clear"),  # 3x, but 15 of 1000 is p ~ 1e-4
    (19, 1000, 0.005, True, "3.8× the baseline"),
    (5, 50, 0.005, True, "20.0× the baseline"),  # a tiny slice losing 10%: clear, fires
    (5, 200, 0.005, False, "not statistically clear"),  # 2.5%, expected 1: p ~ 0.004
    (9, 200, 0.005, True, "9.0× the baseline"),
    (5, 50, 0.02, False, "not statistically clear"),  # the same 5 of 50 at a 2% baseline
    (5, 0, 0.005, True, "5 opt-outs of 5 delivered"),  # opt-outs ahead of the delivery callbacks
    (5, 3, 0.005, True, "100.00%"),
    (250, 10_000, 0.01, True, "above the 2.00% ceiling"),  # 2.5x a high baseline, over the ceiling
    (150, 10_000, 0.01, False, "below the 2.00%"),
    (300, 10_000, 0.03, False, "not statistically clear"),  # baseline above the ceiling: needs clear excess
    (3_000, 100_000, 0.03, False, "not statistically clear"),
    (3_400, 100_000, 0.03, True, "above the 2.00% ceiling"),
    (50_500, 10_000_000, 0.005, False, "below the 1.50%"),
    (160_000, 10_000_000, 0.005, True, "3.2× the baseline"),
]


@pytest.mark.parametrize(("k", "n", "baseline", "fires", "fragment"), VERDICTS)
def test_evaluate(k, n, baseline, fires, fragment):
    verdict = evaluate(k, n, baseline, POLICY)
    assert verdict.fires is fires, verdict.reason
    assert fragment in verdict.reason
    assert verdict.fires == would_fire(k, n, baseline, POLICY)
    assert verdict.rate == (k / max(n, k) if max(n, k) else 0.0)
    assert (verdict.threshold <= k) is fires


@pytest.mark.parametrize(
    "delivered", [0, 1, 10, 50, 200, 1000, 5_000, 20_000, 100_000, 1_000_000, 10_000_000]
)
@pytest.mark.parametrize("baseline", [0.0005, 0.005, 0.015, 0.05])
def test_threshold_is_the_fewest_opt_outs_that_fire(delivered, baseline):
    t = threshold(delivered, baseline, POLICY)
    assert t >= POLICY.min_opt_outs
    assert would_fire(t, delivered, baseline, POLICY)
    if t > POLICY.min_opt_outs:
        assert not would_fire(t - 1, delivered, baseline, POLICY)
    assert evaluate(0, delivered, baseline, POLICY).threshold == t


def test_evaluate_is_fast_enough_for_every_opt_out():
    started = time.perf_counter()
    for k in range(49_000, 51_000, 100):
        evaluate(k, 10_000_000, BASELINE, POLICY)
    assert (time.perf_counter() - started) / 20 < 0.02


def test_policy_validation_and_spending():
    with pytest.raises(ValueError):
        SpikePolicy(multiple=1.0)
    with pytest.raises(ValueError):
        SpikePolicy(alpha=0)
    assert sum(POLICY.level(k) for k in range(1, 100_000)) == pytest.approx(POLICY.alpha, rel=1e-4)


def run_campaign(rng, size, true_rate, baseline, policy=POLICY):
    """Deliver ``size`` messages one by one; each opts out with ``true_rate``, at once (the worst
    case for false alarms: no delivery counted after it). Evaluate at every opt-out, as production
    does. Returns the opt-out count at which the guard fired, or None."""
    position = opt_outs = 0
    log_keep = math.log1p(-true_rate)
    while True:
        position += int(math.log(1.0 - rng.random()) / log_keep) + 1  # geometric gap to the next opt-out
        if position > size:
            return None
        opt_outs += 1
        if would_fire(opt_outs, position, baseline, policy):
            return opt_outs


def test_normal_campaigns_almost_never_fire():
    rng = random.Random(20261122)
    campaigns = 2_000
    alarms = sum(
        run_campaign(rng, rng.randint(500, 50_000), BASELINE, BASELINE) is not None for _ in range(campaigns)
    )
    assert alarms / campaigns < 0.001


def test_normal_campaigns_at_a_high_baseline_almost_never_fire():
    rng = random.Random(7)
    alarms = sum(run_campaign(rng, rng.randint(500, 20_000), 0.02, 0.02) is not None for _ in range(500))
    assert alarms == 0


def test_a_tenfold_spike_fires_within_a_few_dozen_opt_outs():
    rng = random.Random(11)
    fired_at = [run_campaign(rng, 20_000, 10 * BASELINE, BASELINE) for _ in range(300)]
    assert all(k is not None for k in fired_at)
    assert max(fired_at) < 60
    assert sorted(fired_at)[len(fired_at) // 2] <= 12


def test_a_fivefold_spike_fires_too():
    rng = random.Random(13)
    fired_at = [run_campaign(rng, 20_000, 5 * BASELINE, BASELINE) for _ in range(200)]
    assert all(k is not None and k < 60 for k in fired_at)
