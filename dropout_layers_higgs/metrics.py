"""Figures of merit of the Higgs challenge: the AMS and the ROC curve.

The challenge scored a selection of events ("classified as signal") by the
approximate median significance (AMS) of the weighted signal ``s`` and
background ``b`` in it. Its weights are cross-section times luminosity over
the number of simulated events, so that the weights of a class sum to the
expected number of events of that class; any subset of the 250,000 training
events must therefore have its weights scaled back up to the training totals
(:data:`SIGNAL_WEIGHT_TOTAL`, :data:`BACKGROUND_WEIGHT_TOTAL`) before its AMS
is comparable with the leaderboard. The functions here do that by default.

All functions select events with ``score >= threshold``.

References
----------
.. [1] C. Adam-Bourdarios et al., "The Higgs boson machine learning
       challenge", JMLR W&CP 42, 19-55 (2015).
"""
import numpy as np

from dropout_layers.metrics import check_binary_labels, check_binary_scores

__all__ = [
    "SIGNAL_WEIGHT_TOTAL", "BACKGROUND_WEIGHT_TOTAL", "AMS_B_REG",
    "ams", "renormalise_weights", "ams_curve", "best_threshold", "ams_at_threshold",
    "threshold_at_fraction", "ams_at_fraction", "leaderboard_ams",
]

#: Sum of the signal weights of the 250,000 Kaggle training events.
SIGNAL_WEIGHT_TOTAL = 691.988607712
#: Sum of the background weights of the 250,000 Kaggle training events.
BACKGROUND_WEIGHT_TOTAL = 410999.847322
#: Regularisation term of the challenge's AMS.
AMS_B_REG = 10.0


def ams(s, b, b_reg=AMS_B_REG):
    r"""Compute the approximate median significance of a selection.

    .. math:: \mathrm{AMS} = \sqrt{2\left((s + b + b_r)
              \ln\left(1 + \frac{s}{b + b_r}\right) - s\right)}

    Parameters
    ----------
    s, b : float or array_like
        Summed weights of the true signal and true background events in the
        selection (non-negative).
    b_reg : float
        Regularisation term :math:`b_r` (10 in the challenge).

    Returns
    -------
    float or numpy.ndarray
        The AMS, of the broadcast shape of ``s`` and ``b``.
    """
    s = np.asarray(s, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if np.any(s < 0) or np.any(b < 0):
        raise ValueError(f"ams: s and b must be non-negative, got s={s}, b={b}")
    if np.any(b + b_reg <= 0):
        raise ValueError(f"ams: b + b_reg must be positive, got b={b}, b_reg={b_reg}")
    radicand = 2.0 * ((s + b + b_reg) * np.log1p(s / (b + b_reg)) - s)
    # The radicand is >= 0 in exact arithmetic; clip its rounding error at s ~ 0.
    value = np.sqrt(np.maximum(radicand, 0.0))
    return float(value) if value.ndim == 0 else value


def renormalise_weights(y, weights, signal_total=SIGNAL_WEIGHT_TOTAL,
                        background_total=BACKGROUND_WEIGHT_TOTAL):
    """Scale the weights of each class to sum to the given totals.

    Parameters
    ----------
    y : array_like, shape (n,)
        1 for signal, 0 for background.
    weights : array_like, shape (n,)
        Non-negative event weights.
    signal_total, background_total : float
        Target sums; by default the Kaggle training-set totals.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
        A class absent from ``y`` is left as it is (it has no weights to scale).
    """
    y, weights = check_binary_labels(y, weights, "renormalise_weights")
    out = weights.copy()
    for label, total in ((1, signal_total), (0, background_total)):
        in_class = y == label
        if not in_class.any():
            continue
        class_sum = weights[in_class].sum()
        if class_sum <= 0:
            kind = "signal" if label else "background"
            raise ValueError(f"renormalise_weights: the {kind} weights sum to {class_sum}")
        out[in_class] *= total / class_sum
    return out


def ams_curve(scores, y, weights, b_reg=AMS_B_REG, renormalise=True):
    """AMS of every selection ``scores >= threshold``.

    Parameters
    ----------
    scores : array_like, shape (n,)
        Classifier outputs, larger meaning more signal-like.
    y : array_like, shape (n,)
        True labels, 1 for signal and 0 for background.
    weights : array_like, shape (n,)
        Event weights.
    b_reg : float
        Regularisation term of the AMS.
    renormalise : bool
        Scale each class's weights to the Kaggle training totals first (see
        :func:`renormalise_weights`); turn off for weights that already are,
        such as the open data's ``KaggleWeight`` within one ``KaggleSet``.

    Returns
    -------
    thresholds : numpy.ndarray, shape (n_distinct,)
        The distinct scores, in decreasing order.
    values : numpy.ndarray, shape (n_distinct,)
        ``values[i]`` is the AMS of the events with ``scores >= thresholds[i]``.

    Notes
    -----
    One sort and two cumulative sums: O(n log n). Tied scores are selected
    together, as a threshold cannot split them.
    """
    y, scores, weights = check_binary_scores(y, scores, weights, "ams_curve")
    if renormalise:
        weights = renormalise_weights(y, weights)
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    signal_sum = np.cumsum(np.where(y[order] == 1, weights[order], 0.0))
    background_sum = np.cumsum(np.where(y[order] == 1, 0.0, weights[order]))
    group_ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]),
                           len(scores) - 1)
    values = ams(signal_sum[group_ends], background_sum[group_ends], b_reg)
    return sorted_scores[group_ends], np.atleast_1d(values)


def best_threshold(scores, y, weights, b_reg=AMS_B_REG, renormalise=True):
    """Find the threshold maximising the AMS, to be chosen on validation data.

    Parameters
    ----------
    scores, y, weights, b_reg, renormalise
        As for :func:`ams_curve`.

    Returns
    -------
    threshold : float
        A score of the data; selecting ``scores >= threshold`` gives the
        best AMS (the highest such threshold when several tie).
    value : float
        That AMS.
    """
    thresholds, values = ams_curve(scores, y, weights, b_reg, renormalise)
    best = int(np.argmax(values))
    return float(thresholds[best]), float(values[best])


def ams_at_threshold(scores, y, weights, threshold, b_reg=AMS_B_REG, renormalise=True):
    """AMS of the selection ``scores >= threshold``.

    Parameters
    ----------
    scores, y, weights, b_reg, renormalise
        As for :func:`ams_curve`.
    threshold : float
        The cut, typically from :func:`best_threshold` on validation data.

    Returns
    -------
    float
    """
    y, scores, weights = check_binary_scores(y, scores, weights, "ams_at_threshold")
    if renormalise:
        weights = renormalise_weights(y, weights)
    selected = scores >= threshold
    s = weights[selected & (y == 1)].sum()
    b = weights[selected & (y == 0)].sum()
    return ams(s, b, b_reg)


def threshold_at_fraction(scores, fraction):
    """Find the threshold that selects the top ``fraction`` of the events.

    Parameters
    ----------
    scores : array_like, shape (n,)
    fraction : float in (0, 1]

    Returns
    -------
    float
        The ``k``-th largest score with ``k = round(fraction * n)`` (at least
        1): ``scores >= threshold`` selects ``k`` events, or more when other
        events tie with the ``k``-th.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) == 0:
        raise ValueError(f"threshold_at_fraction: scores must be a non-empty 1-d array, "
                         f"got shape {scores.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"threshold_at_fraction: fraction must be in (0, 1], got {fraction}")
    k = min(max(int(round(fraction * len(scores))), 1), len(scores))
    return float(np.partition(scores, len(scores) - k)[len(scores) - k])


def ams_at_fraction(scores, y, weights, fraction=0.15, b_reg=AMS_B_REG, renormalise=True):
    """AMS of the top ``fraction`` of the events by score.

    The challenge's winning solutions selected roughly the 15% most
    signal-like events; this scores that choice without fitting a threshold.

    Parameters
    ----------
    scores, y, weights, b_reg, renormalise
        As for :func:`ams_curve`.
    fraction : float in (0, 1]
        See :func:`threshold_at_fraction`.

    Returns
    -------
    float
    """
    threshold = threshold_at_fraction(scores, fraction)
    return ams_at_threshold(scores, y, weights, threshold, b_reg, renormalise)


def leaderboard_ams(data, scores, threshold, b_reg=AMS_B_REG):
    """Public and private leaderboard AMS of the CERN open-data file.

    Parameters
    ----------
    data : HiggsData
        Loaded from the open-data file (format ``'opendata'``): needs ``y``,
        ``kaggle_set`` and ``kaggle_weight``.
    scores : array_like, shape (data.n_events,)
        Classifier outputs for all events of ``data``.
    threshold : float
        Events with ``scores >= threshold`` are classified as signal.
    b_reg : float
        Regularisation term of the AMS.

    Returns
    -------
    dict
        ``{'public': AMS of KaggleSet 'b', 'private': AMS of KaggleSet 'v'}``,
        each computed with ``KaggleWeight``, which the open data already
        normalises within each set.
    """
    if data.kaggle_set is None or data.kaggle_weight is None or data.y is None:
        raise ValueError(f"leaderboard_ams: {data.path or 'data'} has no KaggleSet/KaggleWeight "
                         "columns; it needs the CERN open-data file")
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (data.n_events,):
        raise ValueError(f"leaderboard_ams: scores have shape {scores.shape}, expected "
                         f"({data.n_events},)")
    result = {}
    for board, kaggle_set in (("public", "b"), ("private", "v")):
        in_set = data.kaggle_set == kaggle_set
        if not in_set.any():
            raise ValueError(f"leaderboard_ams: {data.path or 'data'} has no events with "
                             f"KaggleSet '{kaggle_set}'")
        result[board] = ams_at_threshold(scores[in_set], data.y[in_set],
                                         data.kaggle_weight[in_set], threshold, b_reg,
                                         renormalise=False)
    return result
