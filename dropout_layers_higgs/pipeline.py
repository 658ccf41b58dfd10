"""The Higgs training pipeline, without the command line.

:func:`run_pipeline` does what ``scripts/train_higgs.py`` promises a
physicist: split the labelled events, fit the preprocessing on the training
part, train a dropout network with balanced class weights and early stopping
on the validation AMS (or AUC for unweighted data), choose the selection
threshold on validation data and score held-out events with it.

:func:`train_member` is the unit of that work, one network on given training
and validation indices, so that an ensemble can call it once per member
(with its own fold and seed) and average the results.
"""
import copy
import dataclasses
import time

import numpy as np
from pytensor.tensor.random.type import RandomGeneratorType

from dropout_layers import random as dl_random
from dropout_layers.files import to_jsonable
from dropout_layers.metrics import roc_auc, roc_curve
from dropout_layers.training import Callback, EarlyStopping, LearningRateSchedule, Trainer

from .errors import PipelineError
from .metrics import (
    ams_at_fraction,
    ams_at_threshold,
    ams_curve,
    best_threshold,
    leaderboard_ams,
    threshold_at_fraction,
)
from .models.higgs import build_higgs_mlp
from .preprocessing import HiggsPreprocessor

__all__ = [
    "PipelineError", "PipelineOptions", "MemberResult", "PipelineResult", "ResumePoint",
    "stratified_split", "balanced_weights", "default_monitor", "choose_threshold",
    "smoothed_best_cut", "AMS_SMOOTHING",
    "evaluate_scores", "is_weighted", "train_member", "training_pool", "split_events",
    "run_pipeline", "metrics_summary", "describe_network", "save_result",
    "load_resume_checkpoint", "check_resume_compatible", "resumed_options", "CHECKPOINT_KIND",
]


@dataclasses.dataclass
class PipelineOptions:
    """Everything that decides how a network is trained.

    Attributes
    ----------
    hidden : tuple of int
        Units per hidden layer. The challenge winner's ``(600, 600, 600)``
        needs a smaller ``learning_rate`` (0.01; 0.05 diverges).
    dropout : float
        Dropout probability after each hidden layer.
    input_dropout : float
        Dropout probability on the inputs.
    leakiness : float
        Slope of the rectifiers below zero.
    epochs : int
        Maximum number of passes over the training events.
    batch_size : int
    learning_rate : float
        Of Nesterov-momentum SGD.
    momentum : float
    patience : int
        Epochs without a better validation score before stopping early.
    valid_fraction : float
        Share of the labelled events held out for early stopping and for
        choosing the threshold.
    test_fraction : float or None
        Share held out further, scored once at the end with the threshold
        chosen on validation data; None means 0.2, except for the open-data
        file, whose leaderboard sets already serve as held-out data (0).
    drop_phi, log_transform : bool
        Passed to :class:`~dropout_layers_higgs.preprocessing.HiggsPreprocessor`.
    monitor : {None, 'ams', 'auc'}
        The validation figure for early stopping; None picks AMS for data
        with physics weights and AUC otherwise (see :func:`default_monitor`).
    top_fraction : float
        The fixed selection fraction also reported (0.15, as the winners).
    balance_classes : bool
        Rescale training weights so each class has equal total weight.
    progress : bool
        Show a progress bar per epoch and a line per epoch.
    """

    hidden: tuple = (128, 128, 128)
    dropout: float = 0.5
    input_dropout: float = 0.0
    leakiness: float = 0.0
    epochs: int = 40
    batch_size: int = 128
    learning_rate: float = 0.05
    momentum: float = 0.9
    patience: int = 10
    valid_fraction: float = 0.2
    test_fraction: float = None
    drop_phi: bool = False
    log_transform: bool = True
    monitor: str = None
    top_fraction: float = 0.15
    balance_classes: bool = True
    progress: bool = True

    def __post_init__(self):
        self.hidden = tuple(int(units) for units in self.hidden)
        if not self.hidden or any(units <= 0 for units in self.hidden):
            raise ValueError(f"hidden layer sizes must be positive integers, got "
                             f"{','.join(map(str, self.hidden)) or 'none'}")
        for name in ("dropout", "input_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if int(self.patience) < 1:
            raise ValueError(f"patience must be a positive integer, got {self.patience}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0.0 < self.valid_fraction < 1.0:
            raise ValueError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")
        if self.test_fraction is not None and not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.test_fraction is not None and self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"valid_fraction + test_fraction must be below 1, got "
                             f"{self.valid_fraction} + {self.test_fraction}")
        if self.monitor not in (None, "ams", "auc"):
            raise ValueError(f"monitor must be 'ams', 'auc' or None, got {self.monitor!r}")
        if not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {self.top_fraction}")

    def to_dict(self):
        """The options as a JSON-friendly dict (``hidden`` as a list)."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values

    @classmethod
    def from_dict(cls, values):
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in dict(values).items() if key in known})


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------

def is_weighted(data):
    """Whether ``data`` carries physics weights (Kaggle and open data; not UCI)."""
    return data.weights is not None


def default_monitor(data):
    """``'ams'`` for data with physics weights, ``'auc'`` for data without.

    The AMS needs the weights: without them (UCI) it would measure an
    arbitrary mixture, so the ranking quality (AUC) is monitored instead.
    """
    return "ams" if is_weighted(data) else "auc"


def stratified_split(y, fraction, seed, index=None):
    """Split events into two parts with the same class balance.

    Parameters
    ----------
    y : array_like of {0, 1}, shape (n,)
        Labels of the events to split.
    fraction : float in [0, 1)
        Share of each class that goes to the second part (rounded; at least
        one event of each class with two or more events, when positive).
    seed : int
        Seed of the shuffle; equal seeds give equal splits.
    index : array_like of int, optional
        The event numbers ``y`` belongs to (default ``arange(n)``); the
        returned indices are taken from it.

    Returns
    -------
    kept, held_out : numpy.ndarray of int64
        Sorted event numbers.
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
            raise ValueError(f"balanced_weights: no {kind} events with positive weight to "
                             "train on")
        out[in_class] = weights[in_class] * (0.5 * len(y) / total)
    return out.astype(np.float32)


#: Width of the running mean applied to the AMS curve before its maximum is
#: taken, as a fraction of the events (see :func:`smoothed_best_cut`).
AMS_SMOOTHING = 0.05


def smoothed_best_cut(scores, y, weights, window=AMS_SMOOTHING):
    """The cut maximising the AMS curve after a running mean over the selection size.

    The AMS of a small selection is dominated by chance: a few percent of
    validation events that happen to hold no background event score far
    above the broad maximum near 15-30%, and a threshold chosen there does
    badly on other events. Averaging the curve over a window of
    ``window * n`` events in the ranking removes such spikes and keeps the
    broad maximum.

    Parameters
    ----------
    scores, y, weights : array_like, shape (n,)
        As for :func:`~dropout_layers_higgs.metrics.ams_curve` (weights
        renormalised to the Kaggle totals).
    window : float
        Width of the running mean as a fraction of ``n``; a window of one
        event or less is the plain maximum of
        :func:`~dropout_layers_higgs.metrics.best_threshold`.

    Returns
    -------
    threshold : float
        A score of the data; the cut is ``scores >= threshold``.
    smoothed : float
        The smoothed AMS at that cut, a steadier figure to monitor than the
        plain maximum.
    """
    thresholds, values = ams_curve(scores, y, weights)
    n = len(scores)
    width = int(round(window * n))
    if width <= 1:
        best = int(np.argmax(values))
        return float(thresholds[best]), float(values[best])
    # The AMS of the top-r events for every rank r (tied events join
    # together, so the ranks of a group share its value).
    ascending = np.sort(np.asarray(scores, dtype=np.float64))
    selected = n - np.searchsorted(ascending, thresholds, side="left")
    per_rank = np.repeat(values, np.diff(np.concatenate(([0], selected))))
    # Beyond the top, a selection of no events has AMS 0; beyond the bottom
    # the curve stays at the AMS of selecting everything. Padding this way
    # keeps every window full, so a spike at the very top is not averaged
    # only with itself.
    padded = np.concatenate((np.zeros(width), per_rank, np.full(width, per_rank[-1])))
    cumulative = np.concatenate(([0.0], np.cumsum(padded)))
    low = width + selected - 1 - width // 2
    smoothed = (cumulative[low + width] - cumulative[low]) / width
    best = int(np.argmax(smoothed))
    return float(thresholds[best]), float(smoothed[best])


def choose_threshold(scores, y, weights, weighted=True, window=AMS_SMOOTHING):
    """The selection threshold, chosen on validation data.

    Parameters
    ----------
    scores, y : array_like, shape (n,)
    weights : array_like or None
    weighted : bool
        True: the cut maximising the AMS curve smoothed over ``window`` of
        the events (:func:`smoothed_best_cut`; physics weights renormalised
        to the Kaggle totals). False (no physics weights): the cut
        maximising ``tpr - fpr`` (Youden's J), the best balanced accuracy,
        since an AMS of unweighted events means nothing.
    window : float
        See :func:`smoothed_best_cut`.

    Returns
    -------
    float
    """
    if weighted:
        return smoothed_best_cut(scores, y, weights, window)[0]
    fpr, tpr, thresholds = roc_curve(y, scores)
    # thresholds[0] is +inf (nothing selected), never the best cut.
    best = 1 + int(np.argmax((tpr - fpr)[1:]))
    return float(thresholds[best])


def evaluate_scores(scores, y, weights, threshold, weighted=True, top_fraction=0.15):
    """The figures reported for one set of scored events.

    Parameters
    ----------
    scores, y : array_like, shape (n,)
    weights : array_like or None
        Physics weights (renormalised per class to the Kaggle totals for the AMS).
    threshold : float
        Cut chosen on validation data.
    weighted : bool
        Whether AMS figures are meaningful (physics weights present).
    top_fraction : float

    Returns
    -------
    dict
        ``n_events``, ``auc``, ``selected_fraction`` and, for weighted data,
        ``ams_at_threshold``, ``ams_top15`` (AMS of the top ``top_fraction``)
        and ``ams_best`` (the best AMS of any cut on these events: an
        optimistic figure, shown for comparison only).
    """
    scores = np.asarray(scores, dtype=np.float64)
    result = {
        "n_events": int(len(scores)),
        "auc": roc_auc(y, scores),
        "selected_fraction": float(np.mean(scores >= threshold)),
    }
    if weighted:
        result["ams_at_threshold"] = ams_at_threshold(scores, y, weights, threshold)
        result["ams_top15"] = ams_at_fraction(scores, y, weights, top_fraction)
        result["ams_best"] = best_threshold(scores, y, weights)[1]
        result["threshold_top15"] = threshold_at_fraction(scores, top_fraction)
    return result


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------

@dataclasses.dataclass
class MemberResult:
    """One trained network and what is needed to use and report it.

    Attributes
    ----------
    network : Layer
        The sigmoid output layer, with the best epoch's parameters.
    input_var : TensorVariable
    preprocessor : HiggsPreprocessor
        Fitted on the member's training events.
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``valid_loss``,
        ``valid_auc``, ``valid_ams`` (weighted data), ``learning_rate``,
        ``seconds``.
    best_epoch : int
        1-based epoch whose parameters the network holds.
    threshold : float
        Chosen on the validation events (see :func:`choose_threshold`).
    valid_scores : numpy.ndarray
        Deterministic scores of the validation events.
    valid_metrics : dict
        :func:`evaluate_scores` of the validation events.
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
        The :class:`~dropout_layers.training.Trainer`: compiled functions,
        optimizer state and dropout streams, all as they were at the end of
        the best epoch.
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
        """Deterministic scores of raw (unpreprocessed) features, float64."""
        X = self.preprocessor.transform(X, feature_names)
        return np.asarray(self.trainer.predict(X), dtype=np.float64).reshape(-1)


@dataclasses.dataclass
class PipelineResult:
    """:func:`run_pipeline`'s result: the member plus held-out figures.

    Attributes
    ----------
    member : MemberResult
    test_idx : numpy.ndarray
        Held-out event numbers (possibly empty).
    test_scores : numpy.ndarray or None
    test_metrics : dict or None
        :func:`evaluate_scores` of the held-out events at the validation threshold.
    leaderboard : dict or None
        Open data only: ``{'public': AMS, 'private': AMS}`` with ``KaggleWeight``.
    weighted : bool
    """

    member: MemberResult
    test_idx: np.ndarray
    test_scores: np.ndarray = None
    test_metrics: dict = None
    leaderboard: dict = None
    weighted: bool = True


def _build_network(n_inputs, options, seed):
    """The sigmoid MLP of ``options``, with weights and masks seeded by ``seed``."""
    # Initial weights and each dropout layer's stream draw from the global
    # generator; seeding it here makes a member depend on its seed only.
    with dl_random.seeded([seed, 3]):
        return build_higgs_mlp(n_inputs, hidden=options.hidden, p=options.dropout,
                               input_p=options.input_dropout, leakiness=options.leakiness)


def train_member(data, train_idx, valid_idx, options, seed, preprocessor=None, resume=None,
                 callbacks=()):
    """Train one network on ``train_idx``, early-stopped and thresholded on ``valid_idx``.

    Parameters
    ----------
    data : HiggsData
        Labelled events.
    train_idx, valid_idx : array_like of int
        Disjoint event numbers; both need events of both classes.
    options : PipelineOptions
    seed : int
        Seeds the initial weights, dropout masks and batch order.
    preprocessor : HiggsPreprocessor, optional
        Already fitted (for example shared by the members of an ensemble);
        by default one is fitted on the training events.
    resume : ResumePoint, optional
        Continue the training stored in this checkpoint (from
        :func:`load_resume_checkpoint`); ``options`` must describe the same
        network (see :func:`resumed_options`).
    callbacks : sequence of Callback
        Called after the pipeline's own (early stopping, best-epoch state)
        at the end of every epoch, for example to report progress to a
        hyper-parameter search.

    Returns
    -------
    MemberResult
    """
    started = time.perf_counter()
    train_idx = np.asarray(train_idx, dtype=np.int64)
    valid_idx = np.asarray(valid_idx, dtype=np.int64)
    weighted = is_weighted(data)
    monitor = options.monitor or default_monitor(data)
    if monitor == "ams" and not weighted:
        raise PipelineError(f"{data.path or 'data'}: has no event weights, so the AMS cannot "
                            "be monitored; use AUC")
    if preprocessor is None:
        preprocessor = HiggsPreprocessor(log_transform=options.log_transform,
                                         drop_phi=options.drop_phi)
        preprocessor.fit(data.X[train_idx], data.feature_names)
    X_train = preprocessor.transform(data.X[train_idx], data.feature_names)
    X_valid = preprocessor.transform(data.X[valid_idx], data.feature_names)
    y_train, y_valid = data.y[train_idx], data.y[valid_idx]
    physics_train = data.weights[train_idx] if weighted else None
    physics_valid = data.weights[valid_idx] if weighted else None
    w_train = (balanced_weights(y_train, physics_train) if options.balance_classes
               else np.ones(len(train_idx), dtype=np.float32))
    w_valid = (balanced_weights(y_valid, physics_valid) if options.balance_classes
               else np.ones(len(valid_idx), dtype=np.float32))

    # Figures computed on the validation predictions after every epoch; the
    # AMS uses the physics weights, not the balanced training weights.
    metrics = {"auc": lambda y, scores, weights: roc_auc(y, scores)}
    if weighted:
        metrics["ams"] = lambda y, scores, weights: smoothed_best_cut(scores, y_valid,
                                                                      physics_valid)[1]

    network = _build_network(X_train.shape[1], options, seed)
    fitted = _fit_network(network, X_train, y_train, w_train, X_valid, y_valid, w_valid,
                          metrics, monitor, options, seed, resume, callbacks)
    valid_scores = np.asarray(fitted.trainer.predict(X_valid), dtype=np.float64).reshape(-1)
    threshold = choose_threshold(valid_scores, y_valid, physics_valid, weighted)
    valid_metrics = evaluate_scores(valid_scores, y_valid, physics_valid, threshold, weighted,
                                    options.top_fraction)
    return MemberResult(
        network=network, input_var=fitted.trainer.input_var, preprocessor=preprocessor,
        history=fitted.history, best_epoch=fitted.best_epoch, threshold=threshold,
        valid_scores=valid_scores, valid_metrics=valid_metrics, train_idx=train_idx,
        valid_idx=valid_idx, options=options, seed=int(seed), monitor=monitor,
        stopped_early=fitted.stopped_early, seconds=time.perf_counter() - started,
        trainer=fitted.trainer)


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
class _Fitted:
    trainer: object
    history: list
    best_epoch: int
    stopped_early: bool


def _fit_network(network, X_train, y_train, w_train, X_valid, y_valid, w_valid,
                 metrics, monitor, options, seed, resume, callbacks=()):
    """Train with :meth:`Trainer.fit`, early stopping on ``valid_<monitor>``."""
    trainer = Trainer(network, update="nesterov_momentum", learning_rate=options.learning_rate,
                      update_kwargs={"momentum": options.momentum})
    early_stopping = EarlyStopping(monitor, mode="max", patience=int(options.patience))
    best_state = _BestEpochState(early_stopping)
    # The learning rate of the command line wins over a resumed checkpoint's.
    constant_rate = LearningRateSchedule(lambda epoch: options.learning_rate)
    trainer.fit(X_train, y_train.astype(np.float32), w_train,
                valid=(X_valid, y_valid.astype(np.float32), w_valid),
                epochs=int(options.epochs), batch_size=int(options.batch_size), seed=int(seed),
                callbacks=[constant_rate, early_stopping, best_state, *callbacks], metrics=metrics,
                verbose=options.progress,
                resume_from=None if resume is None else resume.path)
    best_state.restore(trainer)
    history = [dict(record) for record in trainer.history]
    best_epoch = early_stopping.best_epoch or (history[-1]["epoch"] if history else 0)
    return _Fitted(trainer, history, int(best_epoch), early_stopping.stopped_epoch is not None)


# --------------------------------------------------------------------------
# The whole run
# --------------------------------------------------------------------------

def training_pool(data):
    """Event numbers available for training and validation, and the default test fraction.

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


def split_events(data, options, seed):
    """The seeded, stratified train / validation / held-out test split.

    Parameters
    ----------
    data : HiggsData
    options : PipelineOptions
    seed : int

    Returns
    -------
    train_idx, valid_idx, test_idx : numpy.ndarray of int64
        Sorted, disjoint event numbers; ``test_idx`` may be empty.

    Raises
    ------
    ValueError
        If a part would lack signal or background events.
    """
    pool, default_test = training_pool(data)
    test_fraction = default_test if options.test_fraction is None else options.test_fraction
    # Two independent streams derived from the seed: changing the test
    # fraction does not reshuffle how the rest is split.
    fit_idx, test_idx = stratified_split(data.y[pool], test_fraction, [seed, 1], index=pool)
    valid_share = options.valid_fraction / (1.0 - test_fraction)
    train_idx, valid_idx = stratified_split(data.y[fit_idx], valid_share, [seed, 2],
                                            index=fit_idx)
    for name, part in (("training", train_idx), ("validation", valid_idx)):
        labels = data.y[part]
        if labels.size == 0 or labels.min() == labels.max():
            raise PipelineError(
                f"{data.path or 'data'}: the {name} part ({len(part)} events) lacks "
                f"{'signal' if labels.size and labels.min() == 0 else 'background'} events; "
                "more labelled events of both classes are needed")
    return train_idx, valid_idx, test_idx


def run_pipeline(data, options, seed=0, resume=None):
    """Split, train one network, choose the threshold and score held-out events.

    Parameters
    ----------
    data : HiggsData
        Labelled events (Kaggle training, open data or UCI).
    options : PipelineOptions
    seed : int
        Seeds the split, the initial weights, the dropout masks and the
        batch order.
    resume : ResumePoint, optional
        From :func:`load_resume_checkpoint`: continue its training with its
        split, seed, preprocessing and network (see :func:`resumed_options`).

    Returns
    -------
    PipelineResult
    """
    if data.y is None:
        raise PipelineError(f"{data.path or 'data'}: needs labelled events to train")
    preprocessor = None
    if resume is not None:
        # The resumed run keeps its split, its preprocessing and its streams.
        seed = int(resume.metadata["seed"])
        preprocessor = HiggsPreprocessor.from_state(resume.preprocessing)
    train_idx, valid_idx, test_idx = split_events(data, options, seed)
    member = train_member(data, train_idx, valid_idx, options, seed, preprocessor=preprocessor,
                          resume=resume)
    weighted = is_weighted(data)
    result = PipelineResult(member=member, test_idx=test_idx, weighted=weighted)
    if len(test_idx):
        result.test_scores = member.predict(data.X[test_idx], data.feature_names)
        weights = data.weights[test_idx] if weighted else None
        labels = data.y[test_idx]
        if labels.min() != labels.max():
            result.test_metrics = evaluate_scores(result.test_scores, labels, weights,
                                                  member.threshold, weighted,
                                                  options.top_fraction)
    if (data.kaggle_set is not None and data.kaggle_weight is not None
            and np.isin(("b", "v"), data.kaggle_set).all()):
        boards = np.isin(data.kaggle_set, ("b", "v"))
        scores = np.zeros(data.n_events)
        scores[boards] = member.predict(data.X[boards], data.feature_names)
        result.leaderboard = leaderboard_ams(data, scores, member.threshold)
    return result


# --------------------------------------------------------------------------
# Reporting and checkpoints
# --------------------------------------------------------------------------

#: ``metadata['kind']`` of a checkpoint written by :func:`save_result`.
CHECKPOINT_KIND = "higgs-mlp"
# Options fixed by a checkpoint: a resumed run keeps its network, its
# preprocessing and its split.
_ARCHITECTURE_OPTIONS = ("hidden", "dropout", "input_dropout", "leakiness", "drop_phi",
                         "log_transform", "valid_fraction", "test_fraction", "monitor",
                         "balance_classes", "top_fraction")


def describe_network(n_inputs, options):
    """A one-line description such as ``33-128-128-1, dropout 0.5``."""
    sizes = "-".join(str(n) for n in (n_inputs, *options.hidden, 1))
    text = f"{sizes}, dropout {options.dropout:g}"
    if options.input_dropout:
        text += f", input dropout {options.input_dropout:g}"
    return text


def metrics_summary(result, data, description, synthetic=False, seconds=None):
    """Everything ``metrics.json`` holds, as a JSON-friendly dict.

    Parameters
    ----------
    result : PipelineResult
    data : HiggsData
        The data ``result`` was trained on.
    description : str
        Where the data came from, for people.
    synthetic : bool
        Whether the data were generated.
    seconds : float, optional
        Wall time of the whole run so far.

    Returns
    -------
    dict
        ``data``, ``network``, ``options``, ``seed``, ``monitor``,
        ``best_epoch``, ``epochs_run``, ``stopped_early``, ``interrupted``
        (set when Ctrl-C stopped training), ``threshold``,
        ``validation``, ``test``, ``leaderboard``, ``history``, ``seconds``.
    """
    member = result.member
    return {
        "data": {
            "description": description, "path": data.path, "format": data.format,
            "synthetic": bool(synthetic), "weighted": result.weighted,
            "n_events": data.n_events, "n_train": len(member.train_idx),
            "n_valid": len(member.valid_idx), "n_test": len(result.test_idx),
        },
        "network": describe_network(member.preprocessor.n_outputs, member.options),
        "inputs": member.preprocessor.output_names,
        "options": member.options.to_dict(),
        "seed": member.seed,
        "monitor": member.monitor,
        "best_epoch": member.best_epoch,
        "epochs_run": len(member.history),
        "stopped_early": member.stopped_early,
        "interrupted": (member.trainer.history.interrupted
                        if member.trainer is not None else None),
        "threshold": member.threshold,
        "threshold_rule": ("maximum AMS on validation" if result.weighted
                           else "maximum TPR - FPR on validation"),
        "validation": member.valid_metrics,
        "test": result.test_metrics,
        "leaderboard": result.leaderboard,
        "history": member.history,
        "seconds": {"training": member.seconds, "total": seconds},
    }


def save_result(path, result, metrics):
    """Write the trained network as a self-contained HDF5 checkpoint.

    The metadata hold everything ``scripts/predict_higgs.py`` needs besides
    the network and preprocessing: the threshold, the feature names, the
    options and the figures of ``metrics`` (without the per-epoch history,
    which the checkpoint stores on its own).

    Parameters
    ----------
    path : str or os.PathLike
    result : PipelineResult
    metrics : dict
        From :func:`metrics_summary`.
    """
    from dropout_layers.checkpoint import save_checkpoint

    member = result.member
    trainer = member.trainer
    # The state at the end of the best epoch: resuming from this file goes on
    # from there (see _BestEpochState); metrics.json keeps the whole history.
    history = [record for record in member.history if record["epoch"] <= member.best_epoch]
    metadata = {
        "kind": CHECKPOINT_KIND,
        "threshold": member.threshold,
        "feature_names": list(member.preprocessor.feature_names),
        "format": metrics["data"]["format"],
        "options": member.options.to_dict(),
        "seed": member.seed,
        "best_epoch": member.best_epoch,
        "metrics": {key: value for key, value in metrics.items() if key != "history"},
        # What Trainer.fit(resume_from=...) reads back.
        "epoch": member.best_epoch,
        "learning_rate": float(member.options.learning_rate),
    }
    save_checkpoint(path, member.network, optimizer=trainer.optimizer_state,
                    metadata=to_jsonable(metadata),
                    history={"records": to_jsonable(history), "interrupted": None},
                    preprocessing=member.preprocessor.get_state())


@dataclasses.dataclass
class ResumePoint:
    """A checkpoint of :func:`save_result` to continue training from.

    Attributes
    ----------
    path : str
    metadata : dict
    preprocessing : dict
        The fitted preprocessing state.
    """

    path: str
    metadata: dict
    preprocessing: dict


def load_resume_checkpoint(path):
    """Read a checkpoint written by :func:`save_result`, to continue its training.

    Only the metadata and preprocessing are kept; the network is rebuilt
    from the stored options and :meth:`Trainer.fit` restores its state.

    Returns
    -------
    ResumePoint

    Raises
    ------
    CheckpointError
        If the file cannot be read.
    PipelineError
        If it was not written by this pipeline.
    """
    from dropout_layers.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    metadata = dict(checkpoint.metadata or {})
    if metadata.get("kind") != CHECKPOINT_KIND or not checkpoint.preprocessing:
        raise PipelineError(f"{path}: not a checkpoint of the Higgs training script (no "
                            f"'{CHECKPOINT_KIND}' metadata and preprocessing)")
    return ResumePoint(str(path), metadata, checkpoint.preprocessing)


def check_resume_compatible(checkpoint, data, path):
    """Refuse to resume on data with other features than the checkpoint's.

    Raises
    ------
    PipelineError
        Naming the checkpoint and the features that differ.
    """
    trained_on = list(checkpoint.metadata.get("feature_names", []))
    found = list(data.feature_names)
    if trained_on == found:
        return

    def listed(names):
        return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")

    missing = [name for name in trained_on if name not in found]
    unexpected = [name for name in found if name not in trained_on]
    if missing or unexpected:
        detail = "; ".join(part for part in (
            missing and f"the data lacks {listed(missing)}",
            unexpected and f"the data has {listed(unexpected)}") if part)
    else:
        detail = "the same features in another order"
    raise PipelineError(f"{path}: cannot resume on {data.path or 'these data'}: the checkpoint "
                        f"was trained on {len(trained_on)} other features ({detail})")


def resumed_options(checkpoint, options):
    """``options`` with the network, preprocessing and split of ``checkpoint``.

    The training schedule (epochs, batch size, learning rate, momentum,
    patience, progress) comes from ``options``; everything that shapes the
    network or decides which events it trains on is the checkpoint's.
    """
    stored = dict(checkpoint.metadata.get("options", {}))
    fixed = {key: stored[key] for key in _ARCHITECTURE_OPTIONS if key in stored}
    if "hidden" in fixed:
        fixed["hidden"] = tuple(fixed["hidden"])
    return dataclasses.replace(options, **fixed)
