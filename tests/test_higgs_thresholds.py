"""The selection cut and the spreads of the reported figures (dropout_layers_higgs.thresholds)."""
import numpy as np
import pytest

from dropout_layers.metrics import roc_auc
from dropout_layers_higgs import metrics
from dropout_layers_higgs.errors import PipelineError
from dropout_layers_higgs.thresholds import (
    MIN_FITTED_CUT_EVENTS,
    bootstrap_std,
    check_selection,
    choose_threshold,
    evaluate_scores,
    smoothed_best_cut,
)


def _events(n, seed):
    """Scored events weighted like the challenge's, whose AMS peaks near an 18% selection.

    Signal scores high and background low, except that 5% of the background
    looks like signal: at the top a small sample often holds no background
    event at all, and its AMS there is a spike that new events do not show.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.34).astype(np.int8)
    scores = rng.beta(np.where(y == 1, 3.0, 1.5), np.where(y == 1, 1.5, 4.0))
    fake = (y == 0) & (rng.random(n) < 0.05)
    scores[fake] = rng.beta(3.0, 1.5, fake.sum())
    weights = np.where(y == 1, 0.002, 1.0) * rng.uniform(0.5, 1.5, n)
    return scores, y, weights


def test_choose_threshold_maximises_ams_on_weighted_data():
    scores = np.linspace(1.0, 0.0, 2000, endpoint=False)
    y = np.zeros(2000, dtype=np.int8)
    y[:300] = 1  # the top 300 are all signal
    weights = np.where(y == 1, 0.01, 1.0)
    threshold = choose_threshold(scores, y, weights, window=1)
    assert threshold == scores[299]
    s = metrics.SIGNAL_WEIGHT_TOTAL
    assert metrics.ams_at_threshold(scores, y, weights, threshold) == pytest.approx(
        metrics.ams(s, 0.0))


def test_smoothed_best_cut_is_a_running_mean_of_the_ams_curve():
    scores, y, weights = _events(400, seed=1)
    thresholds, values = metrics.ams_curve(scores, y, weights)
    # Reference: the mean of the AMS of the top r - 10 ... top r + 9 events,
    # with AMS 0 for fewer than one event (scores are distinct, so rank r
    # is the r-th threshold).
    padded = np.concatenate([np.zeros(20), values, np.full(20, values[-1])])
    reference = [padded[20 + r - 1 - 10:20 + r - 1 + 10].mean() for r in range(1, 401)]
    threshold, value = smoothed_best_cut(scores, y, weights, window=20)
    assert value == pytest.approx(max(reference), rel=1e-12)
    assert threshold == thresholds[int(np.argmax(reference))]
    # A window of one event is the plain maximum; no window exceeds a tenth of the events.
    assert smoothed_best_cut(scores, y, weights, window=1) == metrics.best_threshold(
        scores, y, weights)
    assert smoothed_best_cut(scores, y, weights, window=10**6) == smoothed_best_cut(
        scores, y, weights, window=40)


def test_smoothing_ignores_a_lucky_pure_signal_corner():
    # 2000 events whose signal share falls with the score, except that the
    # top 5 are all signal: alone they have the largest AMS (no background).
    n = 2000
    scores = np.linspace(1.0, 0.0, n)
    rank = np.arange(n)
    y = ((rank * 7919) % 100 < 60 - 55 * rank / n).astype(np.int8)
    y[:5] = 1
    weights = np.ones(n)
    plain, _ = metrics.best_threshold(scores, y, weights)
    assert np.mean(scores >= plain) == 0.0025
    assert np.mean(scores >= choose_threshold(scores, y, weights)) > 0.05


def test_the_cut_chosen_on_a_small_sample_keeps_the_ams_of_a_15_percent_selection():
    # The rule against the plain maximum, on 20 small samples (3000 events,
    # the size of a validation part) cut and scored on 200,000 new events.
    big_scores, big_y, big_weights = _events(200_000, seed=99)
    reference = metrics.ams_at_fraction(big_scores, big_y, big_weights, 0.15)
    kept = {"smoothed": [], "plain": []}
    for seed in range(20):
        scores, y, weights = _events(3000, seed)
        for rule, window in (("smoothed", 1000), ("plain", 1)):
            cut = choose_threshold(scores, y, weights, window=window)
            kept[rule].append(metrics.ams_at_threshold(big_scores, big_y, big_weights, cut)
                              / reference)
    # The plain maximum falls for the spikes of some samples; the smoothed cut never does.
    assert min(kept["plain"]) < 0.5 and min(kept["smoothed"]) >= 0.85
    assert np.mean(kept["smoothed"]) > np.mean(kept["plain"]) + 0.1


def test_youden_cut_without_weights_and_the_fraction_rule():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4] * 200)
    y = np.array([1, 0, 1, 1, 0, 0] * 200)
    # Cuts: 0.9 -> (tpr 1/3, fpr 0); 0.7 -> (2/3, 1/3); 0.6 -> (1, 1/3): J = 2/3, the best.
    assert choose_threshold(scores, y, None, weighted=False) == 0.6
    assert choose_threshold(scores, y, None, weighted=False, rule="fraction",
                            fraction=0.5) == 0.7


def test_too_few_events_select_the_top_fraction():
    scores, y, weights = _events(MIN_FITTED_CUT_EVENTS - 1, seed=2)
    assert choose_threshold(scores, y, weights) == metrics.threshold_at_fraction(scores, 0.15)


def test_a_cut_that_selects_nothing_or_everything_is_a_failed_run():
    scores = np.array([0.2, 0.4, 0.6])
    check_selection(scores, 0.5, "validation events")
    with pytest.raises(PipelineError, match=r"the cut 0\.1 selects all 3 events of the "
                                            r"validation events: the network does not separate"):
        check_selection(scores, 0.1, "validation events")
    with pytest.raises(PipelineError, match="selects no event of the out-of-fold scores"):
        check_selection(scores, 0.7, "out-of-fold scores")


def test_bootstrap_spread_matches_the_spread_over_independent_samples():
    n, samples = 3000, 200
    scores, y, weights = _events(n, seed=0)
    cut = metrics.threshold_at_fraction(scores, 0.15)
    spread = bootstrap_std(scores, y, weights, {"ams": cut}, replicates=400, seed=1)
    # The same figures on 200 independent samples of the same events.
    aucs, amss = [], []
    for seed in range(1, samples + 1):
        s, t, w = _events(n, seed=1000 + seed)
        aucs.append(roc_auc(t, s))
        amss.append(metrics.ams_at_threshold(s, t, w, cut))
    # The standard deviation of a standard deviation estimated from k
    # draws is about 1/sqrt(2k) of it: 5% here for the samples, 3.5% for the
    # bootstrap; 25% is more than three of those together.
    assert spread["auc_std"] == pytest.approx(np.std(aucs), rel=0.25)
    assert spread["ams_std"] == pytest.approx(np.std(amss), rel=0.25)


def test_evaluate_scores_matches_the_metric_functions():
    scores, y, weights = _events(300, seed=5)
    result = evaluate_scores(scores, y, weights, threshold=0.6, top_fraction=0.15)
    assert result["auc"] == roc_auc(y, scores)
    assert result["ams_at_threshold"] == metrics.ams_at_threshold(scores, y, weights, 0.6)
    assert result["ams_top15"] == metrics.ams_at_fraction(scores, y, weights, 0.15)
    assert result["cut_keeps"] == result["ams_at_threshold"] / result["ams_top15"]
    assert result["selected_fraction"] == np.mean(scores >= 0.6)
    unweighted = evaluate_scores(scores, y, None, threshold=0.6, weighted=False)
    assert set(unweighted) == {"n_events", "auc", "selected_fraction"}
    spread = evaluate_scores(scores, y, weights, threshold=0.6, bootstrap=30, seed=4)
    expected = bootstrap_std(scores, y, weights, {"ams_at_threshold": 0.6,
                                                  "ams_top15": result["threshold_top15"]},
                             30, 4)
    assert {key: spread[key] for key in expected} == expected
