"""AMS, thresholds and ROC of the Higgs challenge, against hand values and brute force."""
import math
from pathlib import Path

import numpy as np
import pytest

from dropout_layers_higgs.data import load_higgs
from dropout_layers_higgs.metrics import (
    BACKGROUND_WEIGHT_TOTAL,
    SIGNAL_WEIGHT_TOTAL,
    ams,
    ams_at_fraction,
    ams_at_threshold,
    ams_curve,
    best_threshold,
    leaderboard_ams,
    renormalise_weights,
    threshold_at_fraction,
)

OPENDATA = Path(__file__).resolve().parent / "fixtures" / "opendata_sample.csv"


def brute_force_ams(scores, y, weights, threshold, b_reg=10.0):
    selected = scores >= threshold
    s = sum(w for w, sel, label in zip(weights, selected, y) if sel and label == 1)
    b = sum(w for w, sel, label in zip(weights, selected, y) if sel and label == 0)
    return math.sqrt(2 * ((s + b + b_reg) * math.log1p(s / (b + b_reg)) - s))


# The AMS radicand cancels (~s^2/b from terms ~s) when s << b, as with
# Kaggle weights: summation order alone moves the last ~1e-12 digits.
AMS_RTOL = 1e-9


def random_problem(seed, n=60, ties=True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int8)
    y[:2] = [0, 1]
    scores = rng.normal(y * 0.8, 1.0)
    if ties:
        scores = np.round(scores, 1)  # many tied scores, across classes
    weights = np.where(y == 1, rng.uniform(1e-3, 3e-3, n), rng.uniform(0.5, 5.0, n))
    return scores, y, weights


# --------------------------------------------------------------------------
# AMS


def test_ams_hand_values():
    # s=2, b=3: (2+3+10) ln(1 + 2/13) = 15 * 0.1431008436 = 2.1465126546;
    # 2 (2.1465126546 - 2) = 0.2930253093; sqrt -> 0.5413181220.
    assert ams(2.0, 3.0) == pytest.approx(0.5413181220, abs=1e-9)
    # s=5, b=0: 2 (15 ln 1.5 - 5) = 2 (6.0819766 - 5) = 2.1639532; sqrt -> 1.4710382.
    assert ams(5.0, 0.0) == pytest.approx(1.4710382, abs=1e-7)
    # Nothing selected, or only background: no significance.
    assert ams(0.0, 0.0) == 0.0 and ams(0.0, 50.0) == 0.0


def test_ams_small_signal_limit_is_s_over_sqrt_b():
    # For s << b (and b_reg=0) the AMS tends to s / sqrt(b): 1 / sqrt(10^4) = 0.01,
    # with a relative correction of order s / b = 1e-4.
    assert ams(1.0, 1e4, b_reg=0.0) == pytest.approx(0.01, rel=2e-5)


def test_ams_is_vectorised_and_checks_input():
    values = ams(np.array([2.0, 5.0]), np.array([3.0, 0.0]))
    np.testing.assert_allclose(values, [ams(2.0, 3.0), ams(5.0, 0.0)], rtol=1e-15)
    with pytest.raises(ValueError, match="non-negative"):
        ams(-1.0, 3.0)
    with pytest.raises(ValueError, match="b \\+ b_reg must be positive"):
        ams(1.0, 0.0, b_reg=0.0)


def test_weight_totals_and_renormalisation():
    assert SIGNAL_WEIGHT_TOTAL == 691.988607712 and BACKGROUND_WEIGHT_TOTAL == 410999.847322
    y = np.array([1, 0, 1, 0, 0])
    weights = np.array([0.002, 2.0, 0.001, 1.0, 1.0])
    scaled = renormalise_weights(y, weights)
    assert scaled[y == 1].sum() == pytest.approx(SIGNAL_WEIGHT_TOTAL, rel=1e-14)
    assert scaled[y == 0].sum() == pytest.approx(BACKGROUND_WEIGHT_TOTAL, rel=1e-14)
    # Ratios within a class are kept: 0.002 / 0.001 = 2.
    assert scaled[0] / scaled[2] == pytest.approx(2.0, rel=1e-14)
    only_background = renormalise_weights([0, 0], [1.0, 3.0], background_total=8.0)
    np.testing.assert_allclose(only_background, [2.0, 6.0], rtol=1e-15)
    with pytest.raises(ValueError, match="y_true must hold 0"):
        renormalise_weights([0, 2], [1.0, 1.0])


def test_ams_curve_and_best_threshold_hand_example():
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    y = np.array([1, 1, 0, 1])
    weights = np.array([5.0, 5.0, 10.0, 5.0])
    thresholds, values = ams_curve(scores, y, weights, renormalise=False)
    np.testing.assert_array_equal(thresholds, [0.9, 0.8, 0.7, 0.6])
    # Cuts select (s, b) = (5, 0), (10, 0), (10, 10), (15, 10):
    #   sqrt(2 (15 ln 1.5 - 5))      = 1.4710382
    #   sqrt(2 (20 ln 2 - 10))       = 2.7795480
    #   sqrt(2 (30 ln 1.5 - 10))     = 2.0803621
    #   sqrt(2 (35 ln 1.75 - 15))    = 3.0287134
    np.testing.assert_allclose(values, [1.4710382, 2.7795480, 2.0803621, 3.0287134], atol=1e-7)
    threshold, best = best_threshold(scores, y, weights, renormalise=False)
    assert threshold == 0.6 and best == pytest.approx(3.0287134, abs=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_ams_curve_matches_brute_force_with_ties(seed):
    scores, y, weights = random_problem(seed)
    scaled = renormalise_weights(y, weights)
    thresholds, values = ams_curve(scores, y, weights)
    np.testing.assert_array_equal(thresholds, np.unique(scores)[::-1])
    expected = [brute_force_ams(scores, y, scaled, t) for t in thresholds]
    np.testing.assert_allclose(values, expected, rtol=AMS_RTOL)
    threshold, best = best_threshold(scores, y, weights)
    assert best == pytest.approx(max(expected), rel=AMS_RTOL)
    assert threshold == thresholds[int(np.argmax(expected))]
    assert ams_at_threshold(scores, y, weights, threshold) == pytest.approx(best, rel=AMS_RTOL)


def test_renormalisation_makes_subsets_comparable():
    scores, y, weights = random_problem(7, n=200)
    threshold = 0.5
    # Duplicating every event doubles the raw weights; renormalised, the AMS is unchanged.
    doubled = [np.concatenate([a, a]) for a in (scores, y, weights)]
    assert ams_at_threshold(*doubled, threshold) == pytest.approx(
        ams_at_threshold(scores, y, weights, threshold), rel=AMS_RTOL)
    assert ams_at_threshold(*doubled, threshold, renormalise=False) == pytest.approx(
        brute_force_ams(*doubled, threshold), rel=AMS_RTOL)


def test_threshold_and_ams_at_fraction():
    scores = np.arange(20, dtype=float) / 20  # 0.0 .. 0.95
    y = np.array([0, 1] * 10)
    weights = np.where(y == 1, 0.01, 1.0)
    # 15% of 20 events = 3: the top three scores, 0.85, 0.9 and 0.95.
    assert threshold_at_fraction(scores, 0.15) == 0.85
    expected = brute_force_ams(scores, y, renormalise_weights(y, weights), 0.85)
    assert ams_at_fraction(scores, y, weights) == pytest.approx(expected, rel=AMS_RTOL)
    # Ties with the k-th score are selected too.
    tied = np.array([0.1, 0.5, 0.5, 0.5, 0.9])
    assert threshold_at_fraction(tied, 0.4) == 0.5
    assert threshold_at_fraction(tied, 1e-9) == 0.9  # at least one event
    with pytest.raises(ValueError, match="fraction must be in"):
        threshold_at_fraction(tied, 0.0)


def test_leaderboard_ams_uses_kaggle_weight_per_set():
    data = load_higgs(OPENDATA)
    scores = np.linspace(0.0, 1.0, data.n_events)
    threshold = 0.3
    result = leaderboard_ams(data, scores, threshold)
    for board, kaggle_set in (("public", "b"), ("private", "v")):
        in_set = data.kaggle_set == kaggle_set
        expected = brute_force_ams(scores[in_set], data.y[in_set], data.kaggle_weight[in_set],
                                   threshold)
        assert result[board] == pytest.approx(expected, rel=AMS_RTOL)
    with pytest.raises(ValueError, match="needs the CERN open-data file"):
        leaderboard_ams(load_higgs(OPENDATA.parent / "kaggle_training_sample.csv"), scores, 0.5)
    with pytest.raises(ValueError, match=r"scores have shape \(3,\)"):
        leaderboard_ams(data, scores[:3], 0.5)
