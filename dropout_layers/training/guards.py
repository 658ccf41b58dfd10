"""Fail a training run that cannot succeed, instead of saving what it made.

A learning rate too large for the width blows the loss up to NaN, or kills
every rectifier in the first epoch so that the network outputs one constant
for every input; a run that does not learn at all keeps its validation AUC
at 0.5. Each of these used to end with a saved network and exit status 0.
:class:`TrainingGuard` watches the epoch rows of the fit loop and raises
:class:`TrainingFailed`, whose one-line message says what went wrong and
what to change, before anything is saved.

Examples
--------
>>> import numpy as np
>>> import dropout_layers as dl
>>> from dropout_layers.training import Trainer, TrainingFailed, TrainingGuard
>>> network = dl.layers.DenseLayer(dl.layers.InputLayer((None, 2)), 1,
...                                nonlinearity=dl.nonlinearities.sigmoid)
>>> X = np.zeros((8, 2), dtype="float32")
>>> y = np.array([0, 1] * 4, dtype="float32")
>>> guard = TrainingGuard(stall_epochs=3, advice="check the inputs")
>>> try:
...     Trainer(network).fit(X, y, epochs=5, callbacks=[guard], verbose=False)
... except TrainingFailed as error:
...     print(error)
the training loss has not fallen in 3 epochs (0.6931 at epoch 1, at best 0.6931); check the inputs
"""
import math

from ..errors import DropoutLayersError
from .callbacks import Callback

__all__ = ["TrainingFailed", "TrainingGuard"]


class TrainingFailed(DropoutLayersError, RuntimeError):
    """A training run diverged or does not learn; more epochs will not mend it."""


class TrainingGuard(Callback):
    """Raise :class:`TrainingFailed` for a non-finite or stalled loss, or a figure at chance.

    Parameters
    ----------
    stall_epochs : int
        The training loss must fall below the first epoch's by ``min_drop``
        (relative) within this many epochs.
    min_drop : float
        Relative drop of the training loss that counts as learning.
    monitor : str, optional
        A column of the epoch row, such as ``'valid_auc'``, whose chance
        value ``chance`` a network that learns must leave behind.
    chance : float
        The monitored figure of a network that guesses (0.5 for an AUC).
    margin : float, optional
        The monitored figure must exceed ``chance + margin`` at some epoch
        by epoch ``by_epoch`` and at the end of training; None checks only
        for a figure of exactly ``chance`` (a constant output, where every
        event ties) in ``dead_epochs`` epochs in a row. Size it from the
        validation set (for an AUC, a few standard errors of a guess).
    by_epoch : int
        The first epoch at which the figure is compared with chance: a
        network may take a few epochs to leave it.
    dead_epochs : int
    loss_ceiling : float, optional
        A training loss that a network which learns must go below within
        ``stall_epochs`` epochs, for example a small multiple of the loss
        of a constant prediction (``ln 2`` for a binary cross-entropy with
        class-balanced weights). A diverged network's loss may fall from
        1e27 to 5e27 and so pass the ``min_drop`` test; this one fails it.
    advice : str
        What to change, appended to every message (for example ``'lower the
        learning rate'``).

    Notes
    -----
    A loss that is not finite stops training at the batch where it
    appears. The comparison with chance runs after each epoch from
    ``by_epoch`` on; a run shorter than that is only checked for a constant
    output. A resumed run counts from the first epoch of its history.
    """

    def __init__(self, stall_epochs=10, min_drop=0.01, monitor=None, chance=0.5, margin=None,
                 by_epoch=10, dead_epochs=3, loss_ceiling=None, advice="lower the learning rate"):
        self.stall_epochs = int(stall_epochs)
        self.min_drop = float(min_drop)
        self.monitor = monitor
        self.chance = float(chance)
        self.margin = None if margin is None else float(margin)
        self.by_epoch = int(by_epoch)
        self.dead_epochs = int(dead_epochs)
        self.loss_ceiling = None if loss_ceiling is None else float(loss_ceiling)
        self.advice = advice
        self._losses = []
        self._figures = []

    def _fail(self, problem):
        raise TrainingFailed(f"{problem}; {self.advice}" if self.advice else problem)

    def on_train_begin(self, trainer):
        """Start from the history (a resumed run)."""
        self._losses = [(row["epoch"], row.get("train_loss")) for row in trainer.history]
        self._figures = [row.get(self.monitor) for row in trainer.history] if self.monitor else []

    def on_batch_end(self, trainer, epoch, batch, loss):
        """Fail at once on a loss that is not finite."""
        if not math.isfinite(loss):
            self._fail(f"the training loss became {loss} in epoch {epoch}, batch {batch}")

    def on_epoch_end(self, trainer, epoch, record):
        """Check the epoch's loss and monitored figure."""
        loss = record.get("train_loss")
        if loss is None or not math.isfinite(loss):
            self._fail(f"the training loss of epoch {epoch} is {loss}")
        self._losses.append((epoch, loss))
        self._check_loss()
        if self.monitor is not None:
            self._figures.append(record.get(self.monitor))
            self._check_dead(epoch)
            if epoch >= self.by_epoch:
                self._check_chance(epoch)

    def on_train_end(self, trainer):
        """Check the monitored figure once more (a resumed run may not have reached an epoch)."""
        if (self.monitor is not None and len(self._figures) >= self.by_epoch
                and trainer.history.interrupted is None):
            self._check_chance(trainer.epoch)

    def _check_loss(self):
        if len(self._losses) < self.stall_epochs:
            return
        first_epoch, first = self._losses[0]
        best = min(loss for _, loss in self._losses)
        if best > first * (1.0 - self.min_drop):
            self._fail(f"the training loss has not fallen in {len(self._losses)} epochs "
                       f"({first:.4f} at epoch {first_epoch}, at best {best:.4f})")
        if self.loss_ceiling is not None and best > self.loss_ceiling:
            self._fail(f"the training loss diverged: {best:.4g} at best in "
                       f"{len(self._losses)} epochs, above {self.loss_ceiling:.4g}")

    def _check_dead(self, epoch):
        recent = self._figures[-self.dead_epochs:]
        if len(recent) == self.dead_epochs and all(value == self.chance for value in recent):
            self._fail(f"the network gives every event the same score ({self.monitor} exactly "
                       f"{self.chance:g} in epochs {epoch - self.dead_epochs + 1}-{epoch}): its "
                       "units died")

    def _check_chance(self, epoch):
        values = [value for value in self._figures if value is not None and math.isfinite(value)]
        if self.margin is None or not values:
            return
        best = max(values)
        if best <= self.chance + self.margin:
            self._fail(f"{self.monitor} stays near chance ({best:.4f} at best after {epoch} "
                       f"epochs; chance {self.chance:g} +- {self.margin:.3f})")
