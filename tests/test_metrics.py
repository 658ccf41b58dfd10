"""ROC metrics of the library, against hand values, brute force and scikit-learn."""
import numpy as np
import pytest

from dropout_layers.metrics import roc_auc, roc_curve


def brute_force_auc(y, scores, weights):
    won = total = 0.0
    for si, yi, wi in zip(scores, y, weights):
        for sj, yj, wj in zip(scores, y, weights):
            if yi == 1 and yj == 0:
                total += wi * wj
                won += wi * wj * (1.0 if si > sj else 0.5 if si == sj else 0.0)
    return won / total


def random_problem(seed, n=60):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int8)
    y[:2] = [0, 1]
    scores = np.round(rng.normal(y * 0.8, 1.0), 1)  # many tied scores, across classes
    weights = np.where(y == 1, rng.uniform(1e-3, 3e-3, n), rng.uniform(0.5, 5.0, n))
    return y, scores, weights


def test_roc_auc_hand_values():
    # Pairs (positive, negative): (0.35, 0.1) won, (0.35, 0.4) lost,
    # (0.8, 0.1) won, (0.8, 0.4) won: 3 of 4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # One tied pair counts one half.
    assert roc_auc([1, 0], [0.5, 0.5]) == 0.5
    # Weights: the won pair (0.8 vs 0.1) has weight 3*2 = 6, the lost pair
    # (0.2 vs 0.3) 1*1 = 1, the others 3*1 = 3 (won) and 1*2 = 2 (won): 11/12.
    assert roc_auc([1, 1, 0, 0], [0.8, 0.2, 0.1, 0.3], [3.0, 1.0, 2.0, 1.0]) == pytest.approx(
        11 / 12, rel=1e-15)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("weighted", [False, True])
def test_roc_auc_matches_pairwise_brute_force_with_ties(seed, weighted):
    y, scores, weights = random_problem(seed)
    if not weighted:
        weights = np.ones_like(weights)
    expected = brute_force_auc(y, scores, weights)
    assert roc_auc(y, scores, weights if weighted else None) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_roc_auc_and_curve_agree_with_scikit_learn(seed):
    metrics = pytest.importorskip("sklearn.metrics")
    y, scores, weights = random_problem(seed)
    assert roc_auc(y, scores, weights) == pytest.approx(
        metrics.roc_auc_score(y, scores, sample_weight=weights), rel=1e-12)
    fpr, tpr, _ = roc_curve(y, scores)
    expected_fpr, expected_tpr, _ = metrics.roc_curve(y, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, expected_fpr, rtol=1e-12)
    np.testing.assert_allclose(tpr, expected_tpr, rtol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_roc_curve_area_equals_auc(seed):
    y, scores, weights = random_problem(seed)
    fpr, tpr, thresholds = roc_curve(y, scores, weights)
    assert (fpr[0], tpr[0], thresholds[0]) == (0.0, 0.0, np.inf)
    assert fpr[-1] == pytest.approx(1.0) and tpr[-1] == pytest.approx(1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    np.testing.assert_array_equal(thresholds[1:], np.unique(scores)[::-1])
    # Efficiencies at one threshold, directly.
    t = thresholds[5]
    assert tpr[5] == pytest.approx(weights[(scores >= t) & (y == 1)].sum() / weights[y == 1].sum())
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(roc_auc(y, scores, weights), rel=1e-12)


def test_roc_input_errors():
    with pytest.raises(ValueError, match="needs positive and negative examples"):
        roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN or infinity"):
        roc_auc([1, 0], [0.1, np.nan])
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        roc_auc([1, 0], [0.1, 0.2], [1.0, -1.0])
    with pytest.raises(ValueError, match=r"y_true has shape \(3,\), y_score \(2,\)"):
        roc_curve([1, 0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="must hold 0 .* or 1"):
        roc_auc([2, 0], [0.1, 0.2])
