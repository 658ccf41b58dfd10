"""The Higgs training pipeline, without the command line: :func:`run_pipeline`.

:func:`run_pipeline` does what ``train-higgs`` promises a physicist: set
aside held-out test events, train on the rest, choose the selection cut on
events that did not train the scoring network, and score the test events
once with that cut. By default it trains a bag of dropout networks on
stratified K-fold splits (every labelled event trains all members but one
and is scored out of fold by that one); with ``folds=1`` one network on a
train / validation split.

The parts live in their own modules, re-exported here: the options
(:mod:`~dropout_layers_higgs.options`), the splits and training weights
(:mod:`~dropout_layers_higgs.splits`), the cut and the figures
(:mod:`~dropout_layers_higgs.thresholds`), one network
(:mod:`~dropout_layers_higgs.member`), the bag
(:mod:`~dropout_layers_higgs.bagging`), the held-out figures
(:mod:`~dropout_layers_higgs.evaluation`), ``metrics.json``
(:mod:`~dropout_layers_higgs.results`) and checkpoints and resuming
(:mod:`~dropout_layers_higgs.resume`).
"""
import dataclasses

import numpy as np

from .bagging import BagResult, MemberStore, plan_of, train_bag
from .errors import PipelineError
from .evaluation import score_held_out
from .member import MemberResult, build_network, fit_preprocessor, train_member
from .options import PipelineOptions, default_learning_rate
from .preprocessing import HiggsPreprocessor
from .results import SCHEMA_VERSION, describe_network, metrics_summary, run_record
from .resume import (
    BAG_CHECKPOINT_KIND,
    CHECKPOINT_KIND,
    ResumePoint,
    check_resume_compatible,
    load_resume_checkpoint,
    resumed_options,
    save_result,
)
from .splits import (
    balanced_weights,
    default_monitor,
    is_weighted,
    member_splits,
    pool_and_test,
    split_events,
    stratified_split,
    training_pool,
    training_weights,
)
from .thresholds import (
    AMS_WINDOW,
    bootstrap_std,
    check_selection,
    choose_threshold,
    evaluate_scores,
    smoothed_best_cut,
)

__all__ = [
    "PipelineError", "PipelineOptions", "MemberResult", "PipelineResult", "ResumePoint",
    "run_pipeline", "train_member", "build_network", "fit_preprocessor", "default_learning_rate",
    "stratified_split", "balanced_weights", "training_weights", "default_monitor", "is_weighted",
    "training_pool", "pool_and_test", "member_splits", "split_events",
    "choose_threshold", "smoothed_best_cut", "check_selection", "bootstrap_std",
    "evaluate_scores", "AMS_WINDOW",
    "metrics_summary", "describe_network", "run_record", "SCHEMA_VERSION",
    "save_result", "load_resume_checkpoint", "check_resume_compatible", "resumed_options",
    "CHECKPOINT_KIND", "BAG_CHECKPOINT_KIND", "MemberStore",
]


@dataclasses.dataclass
class PipelineResult:
    """:func:`run_pipeline`'s result: the trained model plus its held-out figures.

    Attributes
    ----------
    member : MemberResult or None
        The network of a single-network run (``folds=1``).
    bag : BagResult or None
        The members and out-of-fold scores of a bag.
    pool : numpy.ndarray of int64
        The events that trained the model and chose its epochs and cut.
    test_idx : numpy.ndarray of int64
        The held-out events (possibly empty).
    test_scores : numpy.ndarray or None
    test_metrics : dict or None
        :func:`~dropout_layers_higgs.thresholds.evaluate_scores` of the
        held-out events at the chosen cut, with bootstrap spreads.
    leaderboard : dict or None
        Open data only: ``{'public': AMS, 'private': AMS}`` with ``KaggleWeight``.
    weighted : bool
    options : PipelineOptions
    seed : int
    """

    member: MemberResult = None
    bag: BagResult = None
    pool: np.ndarray = None
    test_idx: np.ndarray = None
    test_scores: np.ndarray = None
    test_metrics: dict = None
    leaderboard: dict = None
    weighted: bool = True
    options: PipelineOptions = None
    seed: int = 0

    @property
    def kind(self):
        """``'bag'`` or ``'single'``."""
        return "bag" if self.bag is not None else "single"

    @property
    def threshold(self):
        """The selection cut for new events."""
        return self.bag.threshold if self.bag is not None else self.member.threshold

    @property
    def valid_idx(self):
        """Event numbers of the scores that chose the cut (validation or out-of-fold)."""
        return self.bag.pool if self.bag is not None else self.member.valid_idx

    @property
    def valid_scores(self):
        """The scores that chose the cut: out-of-fold (bag) or validation (one network)."""
        return self.bag.oof_scores if self.bag is not None else self.member.valid_scores

    @property
    def histories(self):
        """Per-epoch records: one list per network."""
        if self.bag is not None:
            return [member.history for member in self.bag.members]
        return [self.member.history]

    def predict(self, X, feature_names=None):
        """Return the model's float64 scores of raw features."""
        if self.bag is None:
            return self.member.predict(X, feature_names)
        preprocessor = HiggsPreprocessor.from_state(self.bag.ensemble.preprocessing)
        inputs = preprocessor.transform(X, feature_names)
        return np.asarray(self.bag.ensemble.predict(inputs), dtype=np.float64).reshape(-1)


def _single_network(data, options, seed, resume, callbacks):
    def fit(pool):
        split = member_splits(data, pool, options, seed)[0]
        preprocessor = (None if resume is None
                        else HiggsPreprocessor.from_state(resume.preprocessing))
        member = train_member(data, split.train_index, split.valid_index, options, seed,
                              preprocessor=preprocessor, resume=resume,
                              callbacks=() if callbacks is None else callbacks(0))
        check_selection(member.valid_scores, member.threshold, "validation events")
        return member

    return fit


def run_pipeline(data, options, seed=0, resume=None, settings=None, store=None, callbacks=None):
    """Split, train, choose the cut and score the held-out events.

    Parameters
    ----------
    data : HiggsData
        Labelled events (Kaggle training, open data or UCI).
    options : PipelineOptions
    seed : int
        Seeds the split, the initial weights, the dropout masks, the batch
        order and the rotations.
    resume : ResumePoint, optional
        From :func:`~dropout_layers_higgs.resume.load_resume_checkpoint`:
        continue a single network's training with its split, seed,
        preprocessing and network (see
        :func:`~dropout_layers_higgs.resume.resumed_options`).
    settings : ExecutorSettings, optional
        Where a bag's members train (by default one after another here).
    store : MemberStore, optional
        Keep a bag's member checkpoints (and, with ``store.resume``, reuse
        finished ones).
    callbacks : callable, optional
        ``callbacks(index) -> list of Callback``: extra fit-loop callbacks
        for network ``index`` (0 for a single network), for example
        TensorBoard logs; picklable, as bag members may train elsewhere.

    Returns
    -------
    PipelineResult

    Raises
    ------
    PipelineError
        For unusable data or options, and for a failed training: a loss
        that turns NaN or stops falling, a validation AUC at chance, or a
        cut that selects no event or every event.
    KeyboardInterrupt
        After Ctrl-C before a single network's first epoch ended, or while
        a bag's members trained (finished members are in ``store``).
    """
    if data.y is None:
        raise PipelineError(f"{data.path or 'data'}: needs labelled events to train")
    if resume is not None:
        if options.folds != 1:
            raise PipelineError(f"{resume.path}: only a single network (folds 1) resumes from "
                                "a checkpoint; a bag resumes its members from --out")
        seed = int(resume.metadata["seed"])
    if options.folds == 1:
        fit = _single_network(data, options, seed, resume, callbacks)
    else:
        plan = plan_of(options, seed)

        def fit(pool):
            return train_bag(data, pool, options, plan, settings, store, callbacks=callbacks)

    held_out = score_held_out(data, options, seed, fit)
    model = held_out.model
    return PipelineResult(
        member=model if isinstance(model, MemberResult) else None,
        bag=model if isinstance(model, BagResult) else None, pool=held_out.pool,
        test_idx=held_out.test_idx, test_scores=held_out.test_scores,
        test_metrics=held_out.test_metrics, leaderboard=held_out.leaderboard,
        weighted=is_weighted(data), options=options, seed=int(seed))

