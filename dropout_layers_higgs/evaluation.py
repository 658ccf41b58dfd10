"""Held-out figures: events that chose nothing, scored once at the end.

Every run, one network or a bag, goes the same way: set aside the test
events (:func:`~dropout_layers_higgs.splits.pool_and_test`), train on the
rest, and score the test events with the cut chosen without them. Those
figures, with their bootstrap spreads, are the result; for the open-data
file the public and private leaderboard sets play the part of the test
events.
"""
import dataclasses

import numpy as np

from .metrics import leaderboard_ams
from .splits import is_weighted, pool_and_test
from .thresholds import evaluate_scores

__all__ = ["HeldOut", "score_held_out", "leaderboard_rows"]


@dataclasses.dataclass
class HeldOut:
    """A trained model with the figures of the events it never saw.

    Attributes
    ----------
    model : object
        What ``fit`` returned: a
        :class:`~dropout_layers_higgs.member.MemberResult` or a
        :class:`~dropout_layers_higgs.bagging.BagResult`.
    pool : numpy.ndarray of int64
        The events of the training (and of the choice of epoch and cut).
    test_idx : numpy.ndarray of int64
        The held-out events (possibly empty).
    test_scores : numpy.ndarray or None
    test_metrics : dict or None
        :func:`~dropout_layers_higgs.thresholds.evaluate_scores` at the
        model's cut, with bootstrap spreads; None without test events.
    leaderboard : dict or None
        Open data: ``{'public': AMS, 'private': AMS}`` with ``KaggleWeight``.
    """

    model: object
    pool: np.ndarray
    test_idx: np.ndarray
    test_scores: np.ndarray = None
    test_metrics: dict = None
    leaderboard: dict = None

    @property
    def bag(self):
        """The model (named for the bag's callers)."""
        return self.model


def leaderboard_rows(data):
    """Return the mask of the open data's leaderboard events, or None for other data."""
    if data.kaggle_set is None or data.kaggle_weight is None:
        return None
    if not np.isin(("b", "v"), data.kaggle_set).all():
        return None
    return np.isin(data.kaggle_set, ("b", "v"))


def score_held_out(data, options, seed, fit):
    """Split off the test events, train with ``fit`` on the rest, score the test events.

    Parameters
    ----------
    data : HiggsData
    options : PipelineOptions
        ``test_fraction``, ``top_fraction`` and ``bootstrap``.
    seed : int
        Seeds the split into pool and test events.
    fit : callable
        ``fit(pool) -> model``, where the model has a ``threshold`` and a
        ``score(data, rows)`` method returning float64 scores.

    Returns
    -------
    HeldOut
    """
    pool, test = pool_and_test(data, options, seed)
    model = fit(pool)
    result = HeldOut(model=model, pool=pool, test_idx=test)
    weighted = is_weighted(data)
    if len(test):
        result.test_scores = model.score(data, test)
        labels = data.y[test]
        if labels.min() != labels.max():
            result.test_metrics = evaluate_scores(
                result.test_scores, labels, data.weights[test] if weighted else None,
                model.threshold, weighted, options.top_fraction, options.bootstrap, seed)
    boards = leaderboard_rows(data)
    if boards is not None:
        scores = np.zeros(data.n_events)
        scores[boards] = model.score(data, np.flatnonzero(boards))
        result.leaderboard = leaderboard_ams(data, scores, model.threshold)
    return result
