"""A small fit loop for networks built with :mod:`dropout_layers`.

:class:`Trainer` compiles a network's train step (dropout on) and one
deterministic eval step, then :meth:`Trainer.fit` runs epochs over
shuffled mini-batches with validation, metrics, a progress bar, an epoch
table, callbacks and clean Ctrl-C handling; :func:`fit` does both in one
call::

    from dropout_layers.training import EarlyStopping, fit

    trainer = fit(network, X, y, valid=(X_valid, y_valid), epochs=50,
                  metrics={"auc": roc_auc},
                  callbacks=[EarlyStopping("auc", patience=5)])
    scores = trainer.predict(X_test)[:, 0]

Modules: :mod:`~.batches` (mini-batches, seeded per epoch), :mod:`~.history`
(the per-epoch record), :mod:`~.callbacks` (early stopping, checkpoints,
schedules), :mod:`~.loggers` (CSV, TensorBoard, MLflow), :mod:`~.graph`
(loss, update rule, learning rate), :mod:`~.steps` (compiling, with the
first-run notice), :mod:`~.loop` (the epochs), :mod:`~.options` (keyword
settings), :mod:`~.trainer` (:class:`Trainer` and :func:`fit`).
"""
from .batches import BatchIterator, batch_indices, epoch_permutation, iterate_minibatches
from .callbacks import (
    Callback,
    EarlyStopping,
    LearningRateSchedule,
    ModelCheckpoint,
    ParamSchedule,
    linear_ramp,
    save_training_checkpoint,
)
from .dropout_schedule import DropoutSchedule
from .guards import TrainingFailed, TrainingGuard
from .history import History
from .loggers import CSVLogger, MissingDependencyError, MLflowLogger, TensorBoard
from .options import FitOptions, TrainerSettings, UnknownOptionError
from .trainer import RULE_NAMES, Trainer, binary_loss, fit

__all__ = [
    "BatchIterator", "batch_indices", "epoch_permutation", "iterate_minibatches",
    "Callback", "EarlyStopping", "LearningRateSchedule", "ModelCheckpoint", "ParamSchedule",
    "linear_ramp", "save_training_checkpoint", "History", "RULE_NAMES", "Trainer", "binary_loss",
    "fit", "TrainingFailed", "TrainingGuard", "DropoutSchedule",
    "CSVLogger", "TensorBoard", "MLflowLogger", "MissingDependencyError",
    "FitOptions", "TrainerSettings", "UnknownOptionError",
]
