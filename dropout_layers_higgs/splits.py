"""Which events train, which stop the training, which are held out, and how they weigh.

A run first sets aside the held-out test events (:func:`pool_and_test`),
which nothing in the training sees: not the weights, not the epoch, not the
cut. The rest, the *pool*, is cut into the members' splits
(:func:`member_splits`): stratified K-fold for a bag, where every pool event
trains all members but one and is scored by that one, or a single
train / validation split for one network.
"""
import dataclasses

import numpy as np

from .cv import Split, repeated_stratified_splits
from .errors import PipelineError

__all__ = ["is_weighted", "default_monitor", "stratified_split", "training_pool",
           "pool_and_test", "member_splits", "split_events", "balanced_weights",
           "training_weights"]


def is_weighted(data):
    """Whether ``data`` carries physics weights (Kaggle and open data; not UCI)."""
    return data.weights is not None


def default_monitor(data):
    """``'auc'``: the early-stopping figure when the options name none.

    The AUC of a validation fold is far steadier than its AMS, whose value
    on a few thousand events hangs on a handful of background events near
    the cut, so it picks better epochs for the AMS too. ``data`` is
    accepted for callers that chose per data set.
    """
    return "auc"


def stratified_split(y, fraction, seed, index=None):
    """Split events into two parts with the same class balance.

    Parameters
    ----------
    y : array_like of {0, 1}, shape (n,)
        Labels of the events to split.
    fraction : float in [0, 1)
        Share of each class that goes to the second part (rounded; at least
        one event of each class with two or more events, when positive).
    seed : int or sequence of int
        Seed of the shuffle; equal seeds give equal splits.
    index : array_like of int, optional
        The event numbers ``y`` belongs to (default ``arange(n)``); the
        returned indices are taken from it.

    Returns
    -------
    kept, held_out : numpy.ndarray of int64
        Sorted event numbers.

    Examples
    --------
    >>> kept, held_out = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], 0.25, seed=0)
    >>> len(kept), len(held_out)
    (6, 2)
    """
    y = np.asarray(y)
    index = np.arange(len(y)) if index is None else np.asarray(index, dtype=np.int64)
    if index.shape != y.shape:
        raise ValueError(f"stratified_split: index has shape {index.shape}, y {y.shape}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"stratified_split: fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    held_out = []
    for label in (0, 1):
        members = index[y == label]
        n_held = int(round(fraction * len(members)))
        if fraction > 0 and len(members) >= 2:
            n_held = min(max(n_held, 1), len(members) - 1)
        held_out.append(rng.permutation(members)[:n_held])
    held_out = np.sort(np.concatenate(held_out)).astype(np.int64)
    kept = np.setdiff1d(index, held_out).astype(np.int64)
    return kept, held_out


def training_pool(data):
    """Event numbers available for training, and the default test fraction.

    For the open-data file only the Kaggle training set (``KaggleSet == 't'``)
    is used, so that the public and private leaderboard sets stay unseen and
    give the challenge's own figures; its default test fraction is 0.

    Returns
    -------
    pool : numpy.ndarray of int64
    default_test_fraction : float
    """
    if data.kaggle_set is not None:
        pool = np.flatnonzero(data.kaggle_set == "t")
        if len(pool) == 0:
            raise PipelineError(f"{data.path or 'data'}: no events with KaggleSet 't' to "
                                "train on")
        return pool.astype(np.int64), 0.0
    return np.arange(data.n_events, dtype=np.int64), 0.2


def _test_fraction(data, options):
    default = training_pool(data)[1]
    return default if options.test_fraction is None else float(options.test_fraction)


def pool_and_test(data, options, seed):
    """Split the labelled events into the training pool and the held-out test events.

    Returns
    -------
    pool, test : numpy.ndarray of int64
        Sorted, disjoint event numbers; ``test`` may be empty.
    """
    pool, _ = training_pool(data)
    # Its own stream of the seed: changing how the pool is used does not
    # change which events are held out.
    return stratified_split(data.y[pool], _test_fraction(data, options), [seed, 1], index=pool)


def _check_both_classes(data, name, part):
    labels = data.y[part]
    if labels.size == 0 or labels.min() == labels.max():
        lacking = "signal" if labels.size and labels.min() == 0 else "background"
        raise PipelineError(
            f"{data.path or 'data'}: the {name} part ({len(part)} events) lacks {lacking} "
            "events; more labelled events of both classes are needed")


def member_splits(data, pool, options, seed):
    """Plan the members' training and validation events (:class:`~dropout_layers_higgs.cv.Split`).

    Parameters
    ----------
    data : HiggsData
    pool : numpy.ndarray of int64
        From :func:`pool_and_test`.
    options : PipelineOptions
        ``folds`` and ``repeats``; with one fold, ``valid_fraction`` and
        ``test_fraction`` give the single network's split.
    seed : int

    Returns
    -------
    list of Split
        Event numbers of ``data`` (not positions in ``pool``).
    """
    if options.folds == 1:
        share = options.valid_fraction / (1.0 - _test_fraction(data, options))
        train, valid = stratified_split(data.y[pool], min(share, 0.95), [seed, 2], index=pool)
        splits = [Split(0, 0, 0, train, valid)]
    else:
        try:
            local = repeated_stratified_splits(data.y[pool], options.folds, options.repeats,
                                               int(seed))
        except ValueError as exc:
            raise PipelineError(f"{data.path or 'data'}: {exc}; use fewer --folds or more "
                                "labelled events") from None
        splits = [Split(s.index, s.repeat, s.fold, pool[s.train_index], pool[s.valid_index])
                  for s in local]
    for split in splits:
        _check_both_classes(data, "training", split.train_index)
        _check_both_classes(data, "validation", split.valid_index)
    return splits


def split_events(data, options, seed):
    """Split the events for a single network: train, validation and test.

    Returns
    -------
    train_idx, valid_idx, test_idx : numpy.ndarray of int64
        Sorted, disjoint event numbers; ``test_idx`` may be empty.

    Raises
    ------
    PipelineError
        If a part would lack signal or background events.
    """
    pool, test = pool_and_test(data, options, seed)
    single = options if options.folds == 1 else dataclasses.replace(options, folds=1)
    split = member_splits(data, pool, single, seed)[0]
    return split.train_index, split.valid_index, test


def balanced_weights(y, weights=None):
    """Training weights with equal total weight per class.

    The challenge winner trained on the physics weights rescaled so that
    signal and background contribute equally to the loss [1]_; without the
    rescaling the loss is dominated by background, whose weights sum to
    ~600 times the signal's. Data without weights (UCI) are balanced by
    counts.

    Parameters
    ----------
    y : array_like of {0, 1}, shape (n,)
    weights : array_like, shape (n,), optional
        Physics weights; None for unit weights.

    Returns
    -------
    numpy.ndarray of float32, shape (n,)
        Non-negative weights averaging 1, each class summing to ``n / 2``
        (so that the learning rate means the same as for an unweighted loss).

    References
    ----------
    .. [1] G. Melis, "Dissecting the winning solution of the HiggsML
           challenge", JMLR W&CP 42, 57-67 (2015).
    """
    y = np.asarray(y)
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.empty(len(y), dtype=np.float64)
    for label in (0, 1):
        in_class = y == label
        total = weights[in_class].sum()
        if not in_class.any() or total <= 0:
            kind = "signal" if label else "background"
            raise PipelineError(f"no {kind} events with positive weight to train on")
        out[in_class] = weights[in_class] * (0.5 * len(y) / total)
    return out.astype(np.float32)


def training_weights(y, weights, rule):
    """Return the loss weights that :attr:`PipelineOptions.training_weights` names.

    Parameters
    ----------
    y : array_like of {0, 1}
    weights : array_like or None
        Physics weights (None for UCI data, where every rule balances counts).
    rule : {'balanced', 'unweighted', 'mix'}
        ``'balanced'``: :func:`balanced_weights` of the physics weights;
        ``'unweighted'``: every event 1; ``'mix'``: the mean of the balanced
        physics weights and the balanced counts.

    Returns
    -------
    numpy.ndarray of float32
        Averaging 1.

    Examples
    --------
    >>> [round(w, 4) for w in training_weights([0, 0, 0, 1], None, "balanced").tolist()]
    [0.6667, 0.6667, 0.6667, 2.0]
    """
    if rule == "unweighted":
        return np.ones(len(y), dtype=np.float32)
    balanced = balanced_weights(y, weights)
    if rule == "mix":
        return (0.5 * balanced + 0.5 * balanced_weights(y)).astype(np.float32)
    return balanced
