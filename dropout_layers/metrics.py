"""Metrics of binary classifiers, with scikit-learn's argument order.

Every function takes the true labels first, then the scores, then optional
sample weights, as :mod:`sklearn.metrics` does, so a metric passed to
:func:`dropout_layers.training.fit` (which calls ``metric(y_true, scores,
weights)``) can be any of them.

Examples
--------
>>> from dropout_layers.metrics import roc_auc
>>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
0.75
"""
import numpy as np

__all__ = ["roc_auc", "roc_curve", "check_binary_labels", "check_binary_scores"]


def check_binary_labels(y_true, sample_weight=None, caller="metric"):
    """Return labels as int8 0/1 and weights as float64, after checking both.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        1 for the positive class (signal), 0 for the negative (background).
    sample_weight : array_like, shape (n,), optional
        Finite, non-negative weights; ones by default.
    caller : str
        Named in error messages.

    Returns
    -------
    y_true : numpy.ndarray of int8
    weights : numpy.ndarray of float64

    Raises
    ------
    ValueError
        Naming the caller and what is wrong.
    """
    y_true = np.asarray(y_true)
    if y_true.ndim != 1:
        raise ValueError(f"{caller}: y_true must be 1-d, got shape {y_true.shape}")
    valid = np.isin(y_true, (0, 1))
    if not valid.all():
        raise ValueError(f"{caller}: y_true must hold 0 (negative) or 1 (positive), found "
                         f"{y_true[~valid][0]!r}")
    y_true = y_true.astype(np.int8)
    weights = (np.ones(len(y_true)) if sample_weight is None
               else np.asarray(sample_weight, dtype=np.float64))
    if weights.shape != y_true.shape:
        raise ValueError(f"{caller}: sample_weight has shape {weights.shape}, expected "
                         f"{y_true.shape}")
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError(f"{caller}: sample_weight must be finite and non-negative")
    return y_true, weights


def check_binary_scores(y_true, y_score, sample_weight=None, caller="metric"):
    """Check labels, scores and weights of one scored data set.

    Returns
    -------
    y_true : numpy.ndarray of int8
    y_score : numpy.ndarray of float64
    weights : numpy.ndarray of float64

    Raises
    ------
    ValueError
        For empty or non-finite scores, shapes that differ, labels other
        than 0 and 1, or negative weights.
    """
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim != 1 or len(y_score) == 0:
        raise ValueError(f"{caller}: y_score must be a non-empty 1-d array, got shape "
                         f"{y_score.shape}")
    if not np.isfinite(y_score).all():
        raise ValueError(f"{caller}: y_score contains NaN or infinity")
    y_true, weights = check_binary_labels(y_true, sample_weight, caller)
    if y_true.shape != y_score.shape:
        raise ValueError(f"{caller}: y_true has shape {y_true.shape}, y_score {y_score.shape}")
    return y_true, y_score, weights


def _class_totals(y_true, weights, caller):
    positive_total = weights[y_true == 1].sum()
    negative_total = weights[y_true == 0].sum()
    if positive_total <= 0 or negative_total <= 0:
        raise ValueError(f"{caller}: needs positive and negative examples with positive weight "
                         f"(positive {positive_total}, negative {negative_total})")
    return positive_total, negative_total


def roc_auc(y_true, y_score, sample_weight=None):
    """Area under the ROC curve, from ranks.

    Parameters
    ----------
    y_true : array_like, shape (n,)
        1 for the positive class (signal), 0 for the negative (background).
    y_score : array_like, shape (n,)
        Higher means more likely positive.
    sample_weight : array_like, shape (n,), optional
        Non-negative weights.

    Returns
    -------
    float
        The (weighted) probability that a random positive example scores
        higher than a random negative one, counting ties as one half: the
        Mann-Whitney statistic over the product of the class weights.

    Notes
    -----
    Equal to :func:`sklearn.metrics.roc_auc_score` with the same arguments.

    Examples
    --------
    >>> roc_auc([1, 0], [0.5, 0.5])
    0.5
    >>> roc_auc([1, 1, 0, 0], [0.8, 0.2, 0.1, 0.3], sample_weight=[3.0, 1.0, 2.0, 1.0])
    0.9166666666666666
    """
    y_true, y_score, weights = check_binary_scores(y_true, y_score, sample_weight, "roc_auc")
    positive_total, negative_total = _class_totals(y_true, weights, "roc_auc")
    order = np.argsort(y_score, kind="stable")
    sorted_scores = y_score[order]
    group_starts = np.append(0, np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1)
    is_positive = y_true[order] == 1
    positive = np.add.reduceat(np.where(is_positive, weights[order], 0.0), group_starts)
    negative = np.add.reduceat(np.where(is_positive, 0.0, weights[order]), group_starts)
    negative_below = np.cumsum(negative) - negative
    pairs_won = np.sum(positive * (negative_below + 0.5 * negative))
    return float(pairs_won / (positive_total * negative_total))


def roc_curve(y_true, y_score, sample_weight=None):
    """Receiver operating characteristic, for plotting and for choosing cuts.

    Parameters
    ----------
    y_true, y_score, sample_weight
        As for :func:`roc_auc`.

    Returns
    -------
    fpr, tpr : numpy.ndarray, shape (n_distinct + 1,)
        Negative and positive efficiencies of ``y_score >= thresholds[i]``,
        starting at (0, 0) and ending at (1, 1).
    thresholds : numpy.ndarray, shape (n_distinct + 1,)
        ``inf`` (nothing selected), then the distinct scores in decreasing
        order.

    Notes
    -----
    The trapezoidal area under (fpr, tpr) equals :func:`roc_auc`.

    Examples
    --------
    >>> fpr, tpr, thresholds = roc_curve([0, 1, 1], [0.2, 0.9, 0.5])
    >>> fpr.tolist(), tpr.tolist(), thresholds.tolist()
    ([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0], [inf, 0.9, 0.5, 0.2])
    """
    y_true, y_score, weights = check_binary_scores(y_true, y_score, sample_weight, "roc_curve")
    positive_total, negative_total = _class_totals(y_true, weights, "roc_curve")
    order = np.argsort(-y_score, kind="stable")
    sorted_scores = y_score[order]
    group_ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]),
                           len(y_score) - 1)
    is_positive = y_true[order] == 1
    tpr = np.cumsum(np.where(is_positive, weights[order], 0.0))[group_ends] / positive_total
    fpr = np.cumsum(np.where(is_positive, 0.0, weights[order]))[group_ends] / negative_total
    return (np.append(0.0, fpr), np.append(0.0, tpr),
            np.append(np.inf, sorted_scores[group_ends]))
