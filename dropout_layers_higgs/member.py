"""One network, trained on given events: the unit of every run.

:func:`train_member` trains one dropout network on the training events of a
split, early-stopped on its validation events, and returns it with its
validation scores. A single-network run calls it once; a bag calls it once
per fold (locally or as Ray tasks), and a hyper-parameter search once per
trial.

A run that cannot succeed fails here, before anything is saved: a loss that
turns NaN or stops falling, a validation AUC that stays at chance and a
network whose every output is the same raise a
:class:`~dropout_layers_higgs.errors.PipelineError` that says what to change
(see :class:`~dropout_layers.training.TrainingGuard`).
"""
import copy
import dataclasses
import math
import time

import numpy as np
from pytensor.tensor.random.type import RandomGeneratorType

from dropout_layers.metrics import roc_auc
from dropout_layers.training import (
    Callback,
    EarlyStopping,
    LearningRateSchedule,
    Trainer,
    TrainingFailed,
    TrainingGuard,
)

from .augment import EventBatches, symmetry_columns
from .errors import PipelineError
from .models.higgs import build_higgs_mlp
from .options import PipelineOptions
from .preprocessing import HiggsPreprocessor
from .splits import default_monitor, is_weighted, training_weights
from .thresholds import choose_threshold, evaluate_scores, smoothed_best_cut

__all__ = ["MemberResult", "train_member", "fit_preprocessor", "build_network", "history_key",
           "chance_epoch", "CHANCE_UPDATES"]

#: Updates a network trains for before its validation AUC is compared with
#: chance (see :func:`chance_epoch`).
CHANCE_UPDATES = 1500


def history_key(monitor):
    """Return the history column of the early-stopping figure ``monitor`` (``'ams'`` or ``'auc'``).

    The AMS that early stopping watches is the maximum of the smoothed AMS
    curve of the validation events, ``valid_ams_smoothed``; it is not the
    AMS of any selection, so it does not bear that name.
    """
    return "valid_ams_smoothed" if monitor == "ams" else "valid_auc"


@dataclasses.dataclass
class MemberResult:
    """One trained network and what is needed to use and report it.

    Attributes
    ----------
    network : Layer
        The sigmoid output layer, with the best epoch's parameters.
    input_var : TensorVariable
    preprocessor : HiggsPreprocessor
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
        ``valid_auc``, ``valid_ams_smoothed`` (weighted data),
        ``learning_rate``, ``seconds``.
    best_epoch : int
        1-based epoch whose parameters the network holds.
    threshold : float
        Chosen on this member's validation events (see
        :func:`~dropout_layers_higgs.thresholds.choose_threshold`); a bag
        chooses its own cut on all out-of-fold scores.
    valid_scores : numpy.ndarray
        Deterministic scores of the validation events.
    valid_metrics : dict
        :func:`~dropout_layers_higgs.thresholds.evaluate_scores` of the
        validation events at that cut: they chose the epoch and the cut,
        so these figures are optimistic.
    train_idx, valid_idx : numpy.ndarray
        Event numbers (rows of the data) used.
    options : PipelineOptions
    seed : int
    monitor : str
        ``'ams'`` or ``'auc'``.
    stopped_early : bool
    seconds : float
        Wall time of the training.
    trainer : Trainer
        Compiled functions, optimizer state and dropout streams, all as they
        were at the end of the best epoch.
    """

    network: object
    input_var: object
    preprocessor: HiggsPreprocessor
    history: list
    best_epoch: int
    threshold: float
    valid_scores: np.ndarray
    valid_metrics: dict
    train_idx: np.ndarray
    valid_idx: np.ndarray
    options: PipelineOptions
    seed: int
    monitor: str
    stopped_early: bool
    seconds: float
    trainer: object = None

    def predict(self, X, feature_names=None):
        """Return deterministic scores of raw (unpreprocessed) features, float64."""
        X = self.preprocessor.transform(X, feature_names)
        return np.asarray(self.trainer.predict(X), dtype=np.float64).reshape(-1)

    def score(self, data, rows):
        """Return the scores of the events ``rows`` of ``data``."""
        return self.predict(data.X[rows], data.feature_names)


def fit_preprocessor(data, rows, options):
    """Fit the preprocessing that ``options`` describe on the events ``rows``."""
    preprocessor = HiggsPreprocessor(log_transform=options.log_transform,
                                     drop_phi=options.drop_phi,
                                     missing_indicators=options.missing_indicators)
    return preprocessor.fit(data.X[rows], data.feature_names)


def build_network(n_inputs, options, seed):
    """Build the sigmoid MLP of ``options``, its weights and masks drawn from ``(seed, 3)``."""
    return build_higgs_mlp(n_inputs, hidden=options.hidden, p=options.dropout,
                           input_p=options.input_dropout, leakiness=options.leakiness,
                           rng=[int(seed), 3])


class _BestEpochState(Callback):
    """Remember the optimizer and dropout-stream state of the best epoch.

    :class:`~dropout_layers.training.EarlyStopping` restores the best
    epoch's parameters; with this state as well, a checkpoint of the best
    epoch resumes exactly as the run went on from that epoch.
    """

    def __init__(self, early_stopping):
        self.early_stopping = early_stopping
        self.epoch = None
        self.optimizer_values = None
        self.rng_values = None

    @staticmethod
    def rng_streams(trainer):
        return [variable for variable in trainer.updates
                if isinstance(variable.type, RandomGeneratorType)]

    def snapshot(self, trainer, epoch):
        self.epoch = epoch
        self.optimizer_values = trainer.optimizer_state.get_values()
        self.rng_values = [copy.deepcopy(stream.get_value())
                           for stream in self.rng_streams(trainer)]

    def on_train_begin(self, trainer):
        # Runs after EarlyStopping's: a run resumed from a best-epoch
        # checkpoint starts in the best epoch's state.
        if self.early_stopping.best_epoch is not None and \
                self.early_stopping.best_epoch == trainer.epoch:
            self.snapshot(trainer, trainer.epoch)

    def on_epoch_end(self, trainer, epoch, record):
        if self.early_stopping.best_epoch == epoch:
            self.snapshot(trainer, epoch)

    def restore(self, trainer):
        if self.epoch is None:
            return
        trainer.optimizer_state.set_values(self.optimizer_values)
        for stream, value in zip(self.rng_streams(trainer), self.rng_values):
            stream.set_value(copy.deepcopy(value))


@dataclasses.dataclass
class _Events:
    """Preprocessed inputs, targets and weights of one part of the data."""

    rows: np.ndarray
    X: np.ndarray
    y: np.ndarray
    loss_weights: np.ndarray
    physics: np.ndarray


def _events(data, rows, preprocessor, options):
    physics = data.weights[rows] if is_weighted(data) else None
    y = data.y[rows]
    return _Events(rows, preprocessor.transform(data.X[rows], data.feature_names),
                   y.astype(np.float32), training_weights(y, physics, options.training_weights),
                   physics)


def _chance_margin(y):
    """Three standard errors of the AUC of a guess on events labelled ``y``; None when too few."""
    n1 = int(np.sum(y == 1))
    n0 = len(y) - n1
    if n0 == 0 or n1 == 0:
        return None
    margin = 3.0 * math.sqrt((n0 + n1 + 1) / (12.0 * n0 * n1))
    # With a few dozen events even a good network can score near 0.5 by
    # chance; below that size only a constant output is refused.
    return margin if margin <= 0.25 else None


def _advice(options):
    return (f"lower --learning-rate (now {options.rate:g}) by 3-10x, or narrow --hidden "
            f"(now {','.join(map(str, options.hidden))})")


def chance_epoch(options, n_train):
    """Return the first epoch at which a network's validation AUC must have left chance.

    Ten epochs, or as many as make :data:`CHANCE_UPDATES` updates on small
    data, but never more than ``patience``: an epoch of 4,000 events is only
    31 updates, and on hard data such as UCI HIGGS a network that ends at
    AUC 0.77 can still be within three standard errors of 0.5 after ten.

    Parameters
    ----------
    options : PipelineOptions
        ``epoch_events``, ``batch_size`` and ``patience``.
    n_train : int
        Training events of the network.

    Returns
    -------
    int

    Examples
    --------
    >>> from dropout_layers_higgs.options import PipelineOptions
    >>> chance_epoch(PipelineOptions(), 80_000), chance_epoch(PipelineOptions(), 4_000)
    (10, 40)
    """
    updates_per_epoch = math.ceil(min(n_train, options.epoch_events) / options.batch_size)
    wanted = math.ceil(CHANCE_UPDATES / max(updates_per_epoch, 1))
    return max(10, min(int(options.patience), wanted))


def _callbacks(options, monitor, valid, extra, n_train):
    early_stopping = EarlyStopping(monitor, mode="max", patience=int(options.patience))
    best_state = _BestEpochState(early_stopping)
    # The loss weights average 1, so guessing 0.5 for every event costs ln 2:
    # a network still at twice that after ten epochs has diverged.
    guard = TrainingGuard(monitor="valid_auc", margin=_chance_margin(valid.y),
                          by_epoch=chance_epoch(options, n_train),
                          loss_ceiling=2.0 * math.log(2.0), advice=_advice(options))
    # The learning rate of the options wins over a resumed checkpoint's.
    constant_rate = LearningRateSchedule(lambda epoch: options.rate)
    return [constant_rate, early_stopping, best_state, guard, *extra], early_stopping, best_state


def _training_source(data, train, preprocessor, options, seed):
    """Return ``(X, y, weights)`` to fit on: arrays, or an :class:`EventBatches` source."""
    rotates = options.augment_phi and symmetry_columns(data.feature_names)[2] is not None
    if rotates or len(train.rows) > options.epoch_events:
        return EventBatches(data.X[train.rows], train.y, train.loss_weights, preprocessor,
                            data.feature_names, options, seed), None, None
    return train.X, train.y, train.loss_weights


def _validation_metrics(valid, options):
    """Return the per-epoch figures: the AUC and, with weights, the smoothed AMS."""
    figures = {"auc": lambda y, scores, weights: roc_auc(y, scores)}
    if valid.physics is not None:
        window = min(options.ams_window, len(valid.rows))
        figures["ams_smoothed"] = lambda y, scores, weights: smoothed_best_cut(
            scores, valid.y, valid.physics, window)[1]
    return figures


def _fit(network, sources, options, seed, resume, extra):
    """Train with :meth:`Trainer.fit`; return the trainer, early stopping and history."""
    train, valid, source = sources
    trainer = Trainer(network, update=options.update, learning_rate=options.rate,
                      update_kwargs=({"momentum": options.momentum}
                                     if options.update == "nesterov_momentum" else None),
                      mode=options.mode)
    monitor = history_key(options.monitor or "auc")
    callbacks, early_stopping, best_state = _callbacks(options, monitor, valid, extra,
                                                       len(train.rows))
    X, y, weights = source
    try:
        # With a batch source the seed is only compared with a resumed checkpoint's.
        trainer.fit(X, y, weights, valid=(valid.X, valid.y, valid.loss_weights),
                    epochs=int(options.epochs), batch_size=int(options.batch_size),
                    seed=int(seed), callbacks=callbacks,
                    metrics=_validation_metrics(valid, options), verbose=options.progress,
                    resume_from=None if resume is None else resume.path)
    except TrainingFailed as exc:
        raise PipelineError(f"training failed: {exc}") from None
    if not trainer.history:
        # Ctrl-C before one epoch was complete: nothing trained to keep.
        raise KeyboardInterrupt
    best_state.restore(trainer)
    return trainer, early_stopping


def _monitor(data, options):
    monitor = options.monitor or default_monitor(data)
    if monitor == "ams" and not is_weighted(data):
        raise PipelineError(f"{data.path or 'data'}: has no event weights, so the AMS cannot "
                            "be monitored; use AUC")
    return monitor


def _validation_cut(trainer, valid, options):
    """Score the validation events and choose the member's cut on them."""
    valid_scores = np.asarray(trainer.predict(valid.X), dtype=np.float64).reshape(-1)
    if np.ptp(valid_scores) == 0:
        raise PipelineError(f"training failed: the network gives all {len(valid_scores)} "
                            f"validation events the score {valid_scores[0]:.6g}; "
                            f"{_advice(options)}")
    threshold = choose_threshold(valid_scores, valid.y, valid.physics, valid.physics is not None,
                                 options.threshold_rule, options.ams_window,
                                 options.top_fraction)
    return valid_scores, threshold


def train_member(data, train_idx, valid_idx, options, seed, preprocessor=None, resume=None,
                 callbacks=()):
    """Train one network on ``train_idx``, early-stopped on ``valid_idx``.

    Parameters
    ----------
    data : HiggsData
        Labelled events.
    train_idx, valid_idx : array_like of int
        Disjoint event numbers; both need events of both classes.
    options : PipelineOptions
    seed : int
        Seeds the initial weights, dropout masks, batch order and rotations.
    preprocessor : HiggsPreprocessor, optional
        Already fitted (shared by the members of a bag); by default one is
        fitted on the training events.
    resume : ResumePoint, optional
        Continue the training stored in this checkpoint; ``options`` must
        describe the same network (see
        :func:`~dropout_layers_higgs.results.resumed_options`).
    callbacks : sequence of Callback
        Called after the pipeline's own at the end of every epoch, for
        example to report progress to a hyper-parameter search.

    Returns
    -------
    MemberResult

    Raises
    ------
    PipelineError
        If the training failed (see :class:`~dropout_layers.training.TrainingGuard`)
        or the network scores every validation event alike.
    KeyboardInterrupt
        After Ctrl-C before the first epoch ended.
    """
    started = time.perf_counter()
    monitor = _monitor(data, options)
    train_idx = np.asarray(train_idx, dtype=np.int64)
    valid_idx = np.asarray(valid_idx, dtype=np.int64)
    preprocessor = preprocessor or fit_preprocessor(data, train_idx, options)
    train = _events(data, train_idx, preprocessor, options)
    valid = _events(data, valid_idx, preprocessor, options)
    network = build_network(train.X.shape[1], options, seed)
    source = _training_source(data, train, preprocessor, options, seed)
    trainer, early_stopping = _fit(network, (train, valid, source), options, seed, resume,
                                   callbacks)
    valid_scores, threshold = _validation_cut(trainer, valid, options)
    weighted = valid.physics is not None
    history = [dict(record) for record in trainer.history]
    return MemberResult(
        network=network, input_var=trainer.input_var, preprocessor=preprocessor,
        history=history, best_epoch=int(early_stopping.best_epoch or history[-1]["epoch"]),
        threshold=threshold, valid_scores=valid_scores,
        valid_metrics=evaluate_scores(valid_scores, valid.y, valid.physics, threshold, weighted,
                                      options.top_fraction),
        train_idx=train_idx, valid_idx=valid_idx, options=options, seed=int(seed),
        monitor=monitor, stopped_early=early_stopping.stopped_epoch is not None,
        seconds=time.perf_counter() - started, trainer=trainer)
