"""The selection cut, and the figures of scored events with their uncertainty.

The AMS of a selection of a few thousand weighted events hangs on a handful
of background events near the cut, each weighing hundreds of events once
the weights are scaled to the Kaggle totals. Its maximum over all cuts is
therefore mostly luck: a run once showed validation AMS 8.75 at its own
cut, and 1.10 at the same cut on held-out events. The rules here are built
against that:

* the cut is chosen where the AMS curve is high over a *window* of
  neighbouring selection sizes (:func:`smoothed_best_cut`), on the bag's
  out-of-fold scores (every labelled event, each scored by the network that
  never trained on it) rather than on one validation part;
* every figure reported for a set of events comes with a bootstrap
  standard deviation over those events (:func:`bootstrap_std`);
* a cut that selects no event or every event is refused
  (:func:`check_selection`).
"""
import numpy as np

from dropout_layers.metrics import roc_auc, roc_curve

from .errors import PipelineError
from .metrics import (
    BACKGROUND_WEIGHT_TOTAL,
    SIGNAL_WEIGHT_TOTAL,
    ams,
    ams_at_fraction,
    ams_at_threshold,
    ams_curve,
    best_threshold,
    renormalise_weights,
    threshold_at_fraction,
)

__all__ = ["AMS_WINDOW", "MIN_FITTED_CUT_EVENTS", "smoothing_window", "smoothed_best_cut",
           "choose_threshold", "check_selection", "bootstrap_std", "evaluate_scores"]

#: Default width of the running mean over the AMS curve, in events.
AMS_WINDOW = 1000
#: Below this many scored events no cut is fitted: the top fraction is selected.
MIN_FITTED_CUT_EVENTS = 1000
# The window never spans more than this share of the events: wider, it
# would flatten the whole curve.
_MAX_WINDOW_SHARE = 0.1
# Replicates are drawn in blocks of this many, to bound the memory of the
# (replicates x events) count matrix.
_BOOTSTRAP_BLOCK = 16


def _ams_per_rank(scores, thresholds, values):
    """Spread the AMS curve over ranks: the AMS of the top r events for every r."""
    ascending = np.sort(np.asarray(scores, dtype=np.float64))
    selected = len(ascending) - np.searchsorted(ascending, thresholds, side="left")
    return np.repeat(values, np.diff(np.concatenate(([0], selected)))), selected


def smoothing_window(window, n_events):
    """Return the running mean's width on ``n_events`` events: ``window``, at most a tenth of them.

    Examples
    --------
    >>> smoothing_window(1000, 50_000), smoothing_window(1000, 5600)
    (1000, 560)
    """
    return min(int(window), max(1, int(n_events * _MAX_WINDOW_SHARE)))


def smoothed_best_cut(scores, y, weights, window=AMS_WINDOW):
    """Find the cut maximising the AMS curve after a running mean over ``window`` events.

    Parameters
    ----------
    scores, y, weights : array_like, shape (n,)
        As for :func:`~dropout_layers_higgs.metrics.ams_curve` (weights
        renormalised to the Kaggle totals).
    window : int
        Width of the running mean over the selection size, in events (at
        most a tenth of the events); 1 is the plain maximum of
        :func:`~dropout_layers_higgs.metrics.best_threshold`.

    Returns
    -------
    threshold : float
        A score of the data; the cut is ``scores >= threshold``.
    smoothed : float
        The smoothed AMS at that cut: a steadier figure than the plain
        maximum, but still chosen on these events (optimistic).

    Notes
    -----
    The AMS of ``r`` selected events is averaged over the selections of
    ``r - window/2`` to ``r + window/2`` events; beyond the top a selection
    of no events counts as AMS 0 and beyond the bottom the curve stays at
    the AMS of all events, so every window is full and a spike at the very
    top is not averaged with itself alone.
    """
    thresholds, values = ams_curve(scores, y, weights)
    n = len(scores)
    width = smoothing_window(window, n)
    if width <= 1:
        best = int(np.argmax(values))
        return float(thresholds[best]), float(values[best])
    per_rank, selected = _ams_per_rank(scores, thresholds, values)
    padded = np.concatenate((np.zeros(width), per_rank, np.full(width, per_rank[-1])))
    cumulative = np.concatenate(([0.0], np.cumsum(padded)))
    low = width + selected - 1 - width // 2
    smoothed = (cumulative[low + width] - cumulative[low]) / width
    best = int(np.argmax(smoothed))
    return float(thresholds[best]), float(smoothed[best])


def choose_threshold(scores, y, weights, weighted=True, rule="smoothed", window=AMS_WINDOW,
                     fraction=0.15):
    """Choose the selection cut on out-of-fold or validation scores.

    Parameters
    ----------
    scores, y : array_like, shape (n,)
    weights : array_like or None
        Physics weights.
    weighted : bool
        Whether the AMS means something (physics weights present). Without
        weights the cut maximises ``tpr - fpr`` (Youden's J), the best
        balanced accuracy.
    rule : {'smoothed', 'fraction'}
        ``'smoothed'``: :func:`smoothed_best_cut` over ``window`` events;
        ``'fraction'``: select the top ``fraction`` of the events. With
        fewer than :data:`MIN_FITTED_CUT_EVENTS` events the top fraction is
        selected whatever the rule: a cut fitted on so few events is noise.
    window : int
    fraction : float

    Returns
    -------
    float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(2000) < 0.5).astype(int)
    >>> scores = rng.random(2000) + 0.5 * y
    >>> 0.45 < choose_threshold(scores, y, None, weighted=False) < 1.05
    True
    >>> choose_threshold([0.9, 0.8, 0.7, 0.6], [1, 1, 0, 0], None, fraction=0.5)
    0.8
    """
    if rule == "fraction" or len(scores) < MIN_FITTED_CUT_EVENTS:
        return threshold_at_fraction(scores, fraction)
    if weighted:
        return smoothed_best_cut(scores, y, weights, window)[0]
    fpr, tpr, thresholds = roc_curve(y, scores)
    # thresholds[0] is +inf (nothing selected), never the best cut.
    best = 1 + int(np.argmax((tpr - fpr)[1:]))
    return float(thresholds[best])


def check_selection(scores, threshold, where):
    """Refuse a cut that selects no event or every event of ``scores``.

    Such a cut means the network did not separate the classes (or the
    rule failed): classifying everything alike is no result.

    Raises
    ------
    PipelineError
        Naming the events (``where``) and the share selected.
    """
    scores = np.asarray(scores, dtype=np.float64)
    selected = int(np.sum(scores >= threshold))
    if 0 < selected < len(scores):
        return
    which = "no event" if selected == 0 else f"all {len(scores)} events"
    raise PipelineError(
        f"the cut {threshold:.6g} selects {which} of the {where}: the network does not "
        "separate signal from background; lower --learning-rate or train longer")


def _replicate_counts(rng, n, replicates):
    return rng.multinomial(n, np.full(n, 1.0 / n), size=replicates).astype(np.float64)


def _ams_of_counts(counts, y, weights, selected):
    """Compute the AMS of ``selected`` events for each row of bootstrap counts."""
    signal = np.where(y == 1, weights, 0.0)
    background = np.where(y == 1, 0.0, weights)
    s_total, b_total = counts @ signal, counts @ background
    s = counts @ (signal * selected) * SIGNAL_WEIGHT_TOTAL / np.maximum(s_total, 1e-300)
    b = counts @ (background * selected) * BACKGROUND_WEIGHT_TOTAL / np.maximum(b_total, 1e-300)
    return ams(s, b)


def bootstrap_std(scores, y, weights, cuts, replicates=200, seed=0):
    """Bootstrap standard deviations of the AUC and of the AMS at fixed cuts.

    The events are resampled with replacement ``replicates`` times; the cuts
    stay where they are (they were chosen elsewhere), and each replicate's
    weights are renormalised to the Kaggle totals as the AMS itself does.

    Parameters
    ----------
    scores, y : array_like, shape (n,)
    weights : array_like or None
        Physics weights; without them only the AUC is resampled.
    cuts : dict
        ``{name: threshold}``; each gives ``<name>_std``, the spread of the
        AMS of ``scores >= threshold``.
    replicates : int
    seed : int

    Returns
    -------
    dict
        ``auc_std`` and, with weights, ``<name>_std`` for every cut.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(2000) < 0.3).astype(int)
    >>> spread = bootstrap_std(rng.random(2000) + 0.5 * y, y, None, {}, replicates=50)
    >>> 0.005 < spread["auc_std"] < 0.02
    True
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    rng = np.random.default_rng([seed, 11])
    aucs = []
    amss = {name: [] for name in cuts}
    selections = {name: (scores >= cut).astype(np.float64) for name, cut in cuts.items()}
    renormalised = None if weights is None else renormalise_weights(y, weights)
    for start in range(0, replicates, _BOOTSTRAP_BLOCK):
        counts = _replicate_counts(rng, len(scores), min(_BOOTSTRAP_BLOCK, replicates - start))
        for row in counts:
            if y[row > 0].min() != y[row > 0].max():
                aucs.append(roc_auc(y, scores, row))
        if renormalised is not None:
            for name, selected in selections.items():
                amss[name].extend(_ams_of_counts(counts, y, renormalised, selected))
    result = {"auc_std": float(np.std(aucs)) if aucs else None}
    if renormalised is not None:
        result.update({f"{name}_std": float(np.std(values)) for name, values in amss.items()})
    return result


def evaluate_scores(scores, y, weights, threshold, weighted=True, top_fraction=0.15,
                    bootstrap=0, seed=0):
    """Compute the figures reported for one set of scored events.

    Parameters
    ----------
    scores, y : array_like, shape (n,)
    weights : array_like or None
        Physics weights (renormalised per class to the Kaggle totals for the AMS).
    threshold : float
        The cut, chosen on other events (or on these: then say so).
    weighted : bool
        Whether AMS figures are meaningful (physics weights present).
    top_fraction : float
    bootstrap : int
        Replicates of :func:`bootstrap_std` (0: no uncertainties).
    seed : int
        Of the bootstrap.

    Returns
    -------
    dict
        ``n_events``, ``auc``, ``selected_fraction`` and, for weighted data,
        ``ams_at_threshold``, ``ams_top15`` (AMS of the top ``top_fraction``),
        ``threshold_top15``, ``cut_keeps`` (``ams_at_threshold /
        ams_top15``) and ``ams_best`` (the best AMS of any cut on these
        events: optimistic, for comparison only); with ``bootstrap``, the
        ``*_std`` of the AUC, of the AMS at the cut and of the AMS at the
        top fraction.
    """
    scores = np.asarray(scores, dtype=np.float64)
    result = {"n_events": int(len(scores)), "auc": roc_auc(y, scores),
              "selected_fraction": float(np.mean(scores >= threshold))}
    top = threshold_at_fraction(scores, top_fraction)
    if weighted:
        result["ams_at_threshold"] = ams_at_threshold(scores, y, weights, threshold)
        result["ams_top15"] = ams_at_fraction(scores, y, weights, top_fraction)
        result["threshold_top15"] = top
        result["cut_keeps"] = (result["ams_at_threshold"] / result["ams_top15"]
                               if result["ams_top15"] > 0 else None)
        result["ams_best"] = best_threshold(scores, y, weights)[1]
    if bootstrap:
        cuts = {"ams_at_threshold": threshold, "ams_top15": top} if weighted else {}
        result.update(bootstrap_std(scores, y, weights if weighted else None, cuts, bootstrap,
                                    seed))
    return result
