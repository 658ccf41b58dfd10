"""Repeated stratified K-fold cross-validation and its out-of-fold scores.

The challenge winner trained 70 networks on 35 repeats of stratified 2-fold
cross-validation and averaged them. The same splits give an honest
estimate of the ensemble's quality for free: every event is held out by
exactly one member per repeat, so averaging those members' predictions
over the repeats gives an out-of-fold (OOF) score for every training event
from networks that never saw it.

Honesty of the AMS
------------------
The AMS needs a threshold, and a threshold tuned on the events being scored
flatters the result. :func:`score_out_of_fold` reports three figures:

``ams_cross_fitted``
    The honest one. The events are cut into the folds of the first repeat;
    each fold's events are classified with the threshold that maximises the
    AMS of the *other* folds' OOF scores, and the AMS is computed once over
    all events so classified.
``ams_top15``
    The AMS of the 15% most signal-like events: a cut fixed in advance.
``ams_best_oof``
    The best AMS of any cut on the OOF scores themselves: optimistic,
    reported for comparison and labelled as such.

The threshold stored with the ensemble for new data is chosen on all OOF
scores with the same rule as the cross-fitted ones.

Note that an OOF score averages ``n_repeats`` members while the ensemble
applied to new events averages all ``n_folds * n_repeats``; the averaged
score of more members is a little better, so the OOF figures are, if
anything, slightly pessimistic.
"""
from dataclasses import dataclass

import numpy as np

from dropout_layers.metrics import roc_auc

from .metrics import (
    ams_at_fraction,
    ams_at_threshold,
    ams_curve,
    best_threshold,
    threshold_at_fraction,
)
from .thresholds import bootstrap_std

__all__ = ["Split", "stratified_folds", "repeated_stratified_splits", "out_of_fold_scores",
           "score_out_of_fold", "member_scores"]


@dataclass(frozen=True)
class Split:
    """One member's share of the data.

    Attributes
    ----------
    index : int
        Member index, ``repeat * n_folds + fold``.
    repeat, fold : int
    train_index, valid_index : numpy.ndarray of int64
        Sorted event indices; ``valid_index`` is the held-out fold, used for
        early stopping and for the OOF scores.
    """

    index: int
    repeat: int
    fold: int
    train_index: np.ndarray
    valid_index: np.ndarray


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def stratified_folds(y, n_folds, seed):
    """Assign every event to one of ``n_folds`` folds, class by class.

    Each class is shuffled with its own stream and dealt out round-robin,
    so every fold holds the same share of each class to within one event.

    Parameters
    ----------
    y : array_like of {0, 1}, shape (n,)
    n_folds : int, at least 2
    seed : int or sequence of int
        Seed of :class:`numpy.random.SeedSequence`.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        The fold of each event.
    """
    y = np.asarray(y)
    n_folds = _check_int(n_folds, "n_folds", 2)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("stratified_folds: labels must be 0 or 1")
    fold_of = np.empty(len(y), dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        if len(members) < n_folds:
            raise ValueError(f"cannot make {n_folds} stratified folds: class {label} has only "
                             f"{len(members)} events")
        fold_of[rng.permutation(members)] = np.arange(len(members)) % n_folds
    return fold_of


def repeated_stratified_splits(y, n_folds, n_repeats, seed):
    """Split events into ``n_repeats`` independent stratified K-fold partitions.

    Repeat ``r`` is shuffled with seed ``(seed, r)``, so the splits of a
    repeat do not depend on how many repeats there are.

    Parameters
    ----------
    y : array_like of {0, 1}
    n_folds : int, at least 2
    n_repeats : int, at least 1
    seed : int

    Returns
    -------
    list of Split
        ``n_folds * n_repeats`` splits, ordered by member index.
    """
    n_repeats = _check_int(n_repeats, "n_repeats", 1)
    seed = _check_int(seed, "seed", 0)
    splits = []
    for repeat in range(n_repeats):
        fold_of = stratified_folds(y, n_folds, [seed, repeat])
        for fold in range(n_folds):
            held_out = fold_of == fold
            splits.append(Split(repeat * n_folds + fold, repeat, fold,
                                np.flatnonzero(~held_out), np.flatnonzero(held_out)))
    return splits


def out_of_fold_scores(splits, held_out_predictions, n_events):
    """Average every event's held-out predictions over the repeats.

    Parameters
    ----------
    splits : list of Split
    held_out_predictions : list of numpy.ndarray
        Member ``i``'s predictions for ``splits[i].valid_index``.
    n_events : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_events,)
    """
    total = np.zeros(n_events)
    count = np.zeros(n_events, dtype=np.int64)
    for split, predictions in zip(splits, held_out_predictions, strict=True):
        predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
        if predictions.shape != split.valid_index.shape:
            raise ValueError(
                f"member {split.index}: {predictions.shape[0]} held-out predictions for "
                f"{split.valid_index.shape[0]} held-out events"
            )
        total[split.valid_index] += predictions
        count[split.valid_index] += 1
    if (count == 0).any():
        raise ValueError(f"{int((count == 0).sum())} events are held out by no member")
    return total / count


def _best_cut(scores, y, weights):
    return best_threshold(scores, y, weights)[0]


def _cross_fitted_ams(scores, y, weights, fold_of, choose_cut):
    selected = np.zeros(len(scores), dtype=bool)
    thresholds = []
    for fold in np.unique(fold_of):
        inside = fold_of == fold
        threshold = choose_cut(scores[~inside], y[~inside], weights[~inside])
        thresholds.append(threshold)
        selected[inside] = scores[inside] >= threshold
    # Classify with the per-fold thresholds, then score all events at once:
    # an indicator score cut at 1 selects exactly those events.
    indicator = selected.astype(np.float64)
    return ams_at_threshold(indicator, y, weights, 1.0), thresholds, indicator


def _bootstrap_out_of_fold(oof_scores, y, weights, indicator, replicates, seed):
    """Bootstrap spreads of the out-of-fold AUC, cross-fitted AMS and top-15% AMS."""
    spread = bootstrap_std(oof_scores, y, weights,
                           {"ams_top15": threshold_at_fraction(oof_scores, 0.15)},
                           replicates, seed)
    # The cross-fitted selection is fixed event by event: resample its indicator.
    spread["ams_cross_fitted_std"] = bootstrap_std(
        indicator, y, weights, {"ams": 1.0}, replicates, seed)["ams_std"]
    return spread


def score_out_of_fold(oof_scores, y, weights, splits, choose_cut=None, bootstrap=0, seed=0):
    """Compute the cross-validated AUC and AMS of out-of-fold scores.

    Parameters
    ----------
    oof_scores : numpy.ndarray, shape (n,)
        From :func:`out_of_fold_scores`.
    y : numpy.ndarray of {0, 1}
    weights : numpy.ndarray or None
        Event weights; without them (UCI data) only the AUC is computed.
    splits : list of Split
        The splits, whose first repeat defines the folds of the cross-fitted
        threshold.
    choose_cut : callable, optional
        ``choose_cut(scores, y, weights) -> threshold``, the rule that picks
        a cut on scored events (for example the pipeline's smoothed maximum,
        :func:`~dropout_layers_higgs.thresholds.choose_threshold`); by
        default the plain maximum of the AMS curve.
    bootstrap : int
        Replicates for the bootstrap spreads (0: none).
    seed : int
        Of the bootstrap.

    Returns
    -------
    dict
        ``auc``, and with weights ``auc_weighted``, ``ams_cross_fitted``,
        ``cross_fitted_thresholds``, ``ams_top15``, ``ams_best_oof`` (the
        plain maximum of the AMS curve of the OOF scores), ``threshold``
        (``choose_cut`` on all OOF scores: the cut for new data) with
        ``selected_fraction`` (the share of events it selects) and
        ``ams_at_threshold`` (its in-sample AMS: optimistic); with
        ``bootstrap``, ``auc_std`` and, with weights, ``ams_cross_fitted_std``
        and ``ams_top15_std``.

    Notes
    -----
    Each member was early-stopped on the fold it scores, so the out-of-fold
    scores chose their epochs: a slight optimism that held-out events do not
    have. The cross-fitted AMS takes no cut from the events it scores.
    """
    y = np.asarray(y)
    result = {"auc": roc_auc(y, oof_scores)}
    if weights is None:
        if bootstrap:
            result.update(bootstrap_std(oof_scores, y, None, {}, bootstrap, seed))
        return result
    result["auc_weighted"] = roc_auc(y, oof_scores, weights)
    fold_of = np.empty(len(y), dtype=np.int64)
    for split in splits:
        if split.repeat == 0:
            fold_of[split.valid_index] = split.fold
    choose_cut = choose_cut or _best_cut
    result["ams_cross_fitted"], result["cross_fitted_thresholds"], indicator = \
        _cross_fitted_ams(oof_scores, y, weights, fold_of, choose_cut)
    result["ams_top15"] = ams_at_fraction(oof_scores, y, weights, 0.15)
    result["ams_best_oof"] = best_threshold(oof_scores, y, weights)[1]
    threshold = float(choose_cut(oof_scores, y, weights))
    result["threshold"] = threshold
    result["selected_fraction"] = float(np.mean(oof_scores >= threshold))
    result["ams_at_threshold"] = ams_at_threshold(oof_scores, y, weights, threshold)
    if bootstrap:
        result.update(_bootstrap_out_of_fold(oof_scores, y, weights, indicator, bootstrap, seed))
    return result


def member_scores(splits, held_out_predictions, y, weights):
    """Score each member on its own held-out fold, and give the spread.

    Parameters
    ----------
    splits : list of Split
    held_out_predictions : list of numpy.ndarray
    y : numpy.ndarray of {0, 1}
    weights : numpy.ndarray or None

    Returns
    -------
    dict
        ``members``: one dict per member with ``auc`` and, with weights,
        ``ams_top15`` (AMS of the fold's 15% most signal-like events; no
        threshold fitted) and ``ams_best`` (at the fold's own best cut:
        optimistic); ``spread``: ``{name: {'mean': ..., 'std': ...}}`` over
        the members (population standard deviation).
    """
    rows = []
    for split, predictions in zip(splits, held_out_predictions, strict=True):
        predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
        fold_y = np.asarray(y)[split.valid_index]
        row = {"index": split.index, "repeat": split.repeat, "fold": split.fold,
               "auc": roc_auc(fold_y, predictions)}
        if weights is not None:
            fold_w = np.asarray(weights)[split.valid_index]
            row["ams_top15"] = ams_at_fraction(predictions, fold_y, fold_w, 0.15)
            row["ams_best"] = float(ams_curve(predictions, fold_y, fold_w)[1].max())
        rows.append(row)
    names = [name for name in ("auc", "ams_top15", "ams_best") if rows and name in rows[0]]
    spread = {name: {"mean": float(np.mean([r[name] for r in rows])),
                     "std": float(np.std([r[name] for r in rows]))} for name in names}
    return {"members": rows, "spread": spread}
