"""Hooks into the fit loop: early stopping, checkpoints and schedules.

A callback subclasses :class:`Callback` and overrides the hooks it needs.
The fit loop calls, for each callback in the order given:

* ``on_compile_begin(trainer, estimate)`` and ``on_compile_end(trainer,
  seconds)`` around the compilation of the train and evaluation steps,
  when a ``fit`` call finds them not yet compiled (the first ``fit`` of a
  trainer); ``estimate`` is a rough first-run time in seconds, or ``None``,
  and the compilation is much quicker when PyTensor's cache already holds
  the network;
* ``on_train_begin(trainer)`` once, before the first epoch of a
  :meth:`~dropout_layers.training.Trainer.fit` call;
* ``on_epoch_begin(trainer, epoch)`` before each epoch (epochs count from 1
  and continue across ``fit`` calls and resumes);
* ``on_batch_end(trainer, epoch, batch, loss)`` after each training batch
  (``batch`` counts from 1, ``loss`` is that batch's training loss);
* ``on_epoch_end(trainer, epoch, record)`` after each complete epoch, with
  ``trainer.epoch == epoch`` and ``record`` the epoch's row of
  ``trainer.history`` (a callback may add keys to it);
* ``on_train_end(trainer)`` once at the end, also when early stopping or
  Ctrl-C ended training, but not when an exception escaped.

Setting ``trainer.stop_training = True`` ends training after the current
epoch.
"""
import math
import numbers
import warnings

import numpy as np

from ..checkpoint import save_checkpoint
from ..checks import check_positive_int

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ParamSchedule",
           "LearningRateSchedule", "linear_ramp", "save_training_checkpoint"]


class Callback:
    """Base class of fit-loop callbacks; every hook does nothing."""

    def on_compile_begin(self, trainer, estimate):
        """Before the steps are compiled; ``estimate`` is a first-run guess in seconds or None."""

    def on_compile_end(self, trainer, seconds):
        """After the steps are compiled, ``seconds`` later."""

    def on_train_begin(self, trainer):
        """Before the first epoch of a ``fit`` call."""

    def on_epoch_begin(self, trainer, epoch):
        """Before epoch ``epoch``."""

    def on_batch_end(self, trainer, epoch, batch, loss):
        """After training batch ``batch`` of ``epoch``, whose loss was ``loss``."""

    def on_epoch_end(self, trainer, epoch, record):
        """After epoch ``epoch``, whose history row is ``record``."""

    def on_train_end(self, trainer):
        """At the end of a ``fit`` call, also after early stopping or Ctrl-C."""


class _Monitor:
    """Tracks the best value of one history column."""

    def __init__(self, monitor, mode, min_delta, owner):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if not isinstance(min_delta, numbers.Real) or not min_delta >= 0:
            raise ValueError(f"{owner}: min_delta must be a non-negative number, got {min_delta!r}")
        self.monitor = monitor
        self.requested_mode = mode
        self.min_delta = float(min_delta)
        self.owner = owner
        self.key = None
        self.mode = None
        self.best_value = None
        self.best_epoch = None

    def resolve(self, keys):
        """Find the column: ``monitor`` itself or ``'valid_' + monitor``."""
        keys = list(keys)
        for key in (self.monitor, f"valid_{self.monitor}"):
            if key in keys:
                self.key = key
                break
        else:
            raise ValueError(
                f"{self.owner} monitors {self.monitor!r}, which is not in the epoch row "
                f"(columns: {keys}); pass valid=... to fit for validation figures, or monitor "
                "one of these columns"
            )
        if self.requested_mode == "auto":
            self.mode = "min" if self.key.endswith("loss") else "max"
        else:
            self.mode = self.requested_mode
        return self.key

    def improves(self, value):
        if value is None or not math.isfinite(value):
            return False
        if self.best_value is None:
            return True
        if self.mode == "min":
            return value < self.best_value - self.min_delta
        return value > self.best_value + self.min_delta

    def update(self, epoch, value):
        """Record ``value`` of ``epoch``; return whether it is a new best."""
        if self.improves(value):
            self.best_value, self.best_epoch = float(value), int(epoch)
            return True
        return False

    def replay(self, history):
        """Rebuild the best value from the rows of an earlier run (a resume)."""
        self.best_value = self.best_epoch = None
        if len(history) == 0:
            return
        if self.key is None:
            try:
                self.resolve(history.keys())
            except ValueError:
                return
        for record in history:
            self.update(record["epoch"], record.get(self.key))


class EarlyStopping(Callback):
    """Stop when a validation figure stops improving; keep the best parameters.

    Parameters
    ----------
    monitor : str
        Column of the history to watch: ``'valid_loss'``, a metric name
        given to ``fit(metrics=...)`` such as ``'auc'`` (read from the
        ``'valid_auc'`` column), or any other column.
    mode : {'auto', 'min', 'max'}
        Whether smaller or larger is better; ``'auto'`` takes ``'min'`` for
        columns ending in ``loss`` and ``'max'`` otherwise.
    patience : int
        Number of epochs without improvement after which training stops.
    min_delta : float
        Smallest change that counts as an improvement.
    restore_best : bool
        At the end of training (also after Ctrl-C, and when all epochs ran
        without stopping early) set the network's parameters to the values
        they had at the end of the best epoch.

    Attributes
    ----------
    best_epoch : int or None
    best_value : float or None
    stopped_epoch : int or None
        The epoch after which this callback stopped training.

    Notes
    -----
    On a resumed run the best value and the count of epochs without
    improvement are rebuilt from the history. The best epoch's parameter
    values are only known if that epoch ran in this process or is the epoch
    resumed from; if an earlier epoch was the best, the parameters cannot be
    restored and a warning says so.
    """

    def __init__(self, monitor="valid_loss", mode="auto", patience=10, min_delta=0.0,
                 restore_best=True):
        self.patience = check_positive_int(patience, "EarlyStopping: patience")
        self.restore_best = bool(restore_best)
        self._monitor = _Monitor(monitor, mode, min_delta, "EarlyStopping")
        self._best_values = None
        self._values_epoch = None
        self.wait = 0
        self.stopped_epoch = None

    @property
    def monitor(self):
        """The column asked for."""
        return self._monitor.monitor

    @property
    def best_epoch(self):
        """The epoch of the best value so far, or None."""
        return self._monitor.best_epoch

    @property
    def best_value(self):
        """The best value so far, or None."""
        return self._monitor.best_value

    def on_train_begin(self, trainer):
        """Rebuild the best value from the history (a resumed run) and keep its parameters."""
        self.stopped_epoch = None
        self._monitor.replay(trainer.history)
        best_epoch = self._monitor.best_epoch
        self.wait = 0 if best_epoch is None else trainer.epoch - best_epoch
        if (best_epoch is not None and best_epoch == trainer.epoch
                and self._values_epoch != best_epoch):
            # Resumed at the best epoch: the current parameters are its values.
            self._best_values, self._values_epoch = trainer.get_param_values(), best_epoch

    def on_epoch_end(self, trainer, epoch, record):
        """Keep the parameters of a new best epoch; stop after ``patience`` without one."""
        if self._monitor.key is None:
            self._monitor.resolve(record.keys())
        if self._monitor.update(epoch, record.get(self._monitor.key)):
            self.wait = 0
            if self.restore_best:
                self._best_values, self._values_epoch = trainer.get_param_values(), epoch
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True
            trainer.log(
                f"early stopping: {self._monitor.key} has not improved for {self.wait} epochs; "
                f"best {self._monitor.best_value:.6g} at epoch {self._monitor.best_epoch}"
            )

    def on_train_end(self, trainer):
        """Restore the best epoch's parameters (with ``restore_best``)."""
        best_epoch = self._monitor.best_epoch
        if not self.restore_best or best_epoch is None:
            return
        if self._values_epoch != best_epoch:
            warnings.warn(
                f"EarlyStopping: the best epoch ({best_epoch}) ran before this process resumed "
                "training, so its parameters are not available; the network keeps its current "
                "parameters",
                RuntimeWarning, stacklevel=2,
            )
            return
        trainer.set_param_values(self._best_values)
        if best_epoch != trainer.epoch or trainer.history.interrupted is not None:
            trainer.log(f"restored the parameters of epoch {best_epoch} "
                        f"({self._monitor.key} {self._monitor.best_value:.6g})")


def save_training_checkpoint(path, trainer):
    """Save the trainer's network and training state with :mod:`dropout_layers.checkpoint`.

    The default ``save_fn`` of :class:`ModelCheckpoint`. It stores the
    parameters, the optimizer state, the dropout and global RNG states, the
    history and ``trainer.checkpoint_metadata()`` (which holds the epoch),
    everything :meth:`Trainer.fit` needs to resume with ``resume_from=path``.
    """
    save_checkpoint(path, trainer.network, optimizer=trainer.optimizer_state,
                    history=trainer.history.to_dict(), metadata=trainer.checkpoint_metadata())


class ModelCheckpoint(Callback):
    """Save a checkpoint every few epochs and/or whenever a figure improves.

    Parameters
    ----------
    path : str or path-like
        Where to save; ``{epoch}`` in it is replaced by the epoch number
        (for example ``'run/epoch{epoch:03d}.h5'``), otherwise each save
        replaces the previous file.
    every : int or None
        Save after every ``every``-th epoch (epochs ``every``,
        ``2 * every``, ...).
    on_best : bool
        Save after each epoch that improves ``monitor``.
    monitor, mode, min_delta
        As for :class:`EarlyStopping`.
    save_fn : callable, optional
        ``save_fn(path, trainer)`` does the saving; by default
        :func:`save_training_checkpoint`.

    Attributes
    ----------
    saved : list of (int, str)
        The epochs and paths saved so far.
    """

    def __init__(self, path, every=None, on_best=True, monitor="valid_loss", mode="auto",
                 min_delta=0.0, save_fn=None):
        if every is not None:
            every = check_positive_int(every, "ModelCheckpoint: every")
        if every is None and not on_best:
            raise ValueError("ModelCheckpoint: with every=None and on_best=False nothing would "
                             "be saved")
        self.path = path
        self.every = every
        self.on_best = bool(on_best)
        self.save_fn = save_training_checkpoint if save_fn is None else save_fn
        self._monitor = _Monitor(monitor, mode, min_delta, "ModelCheckpoint")
        self.saved = []

    def on_train_begin(self, trainer):
        """Rebuild the best value from the history of a resumed run."""
        if self.on_best:
            self._monitor.replay(trainer.history)

    def on_epoch_end(self, trainer, epoch, record):
        """Save when the epoch is due or improves the monitored column."""
        due = self.every is not None and epoch % self.every == 0
        if self.on_best:
            if self._monitor.key is None:
                self._monitor.resolve(record.keys())
            due = self._monitor.update(epoch, record.get(self._monitor.key)) or due
        if due:
            path = str(self.path).format(epoch=epoch)
            self.save_fn(path, trainer)
            self.saved.append((epoch, path))


class ParamSchedule(Callback):
    """Set a shared variable from the epoch number before each epoch.

    Parameters
    ----------
    variable : shared variable
        For example the ``momentum`` given to
        :func:`~dropout_layers.updates.nesterov_momentum`.
    fn : callable
        ``fn(epoch) -> value`` with ``epoch`` counting from 1.

    Examples
    --------
    A momentum ramp from 0.5 to 0.99 over the first 50 epochs::

        momentum = pytensor.shared(np.float32(0.5))
        trainer = Trainer(network, update="nesterov_momentum", learning_rate=0.01,
                          update_kwargs={"momentum": momentum})
        trainer.fit(X, y, callbacks=[ParamSchedule(momentum, linear_ramp(0.5, 0.99, 50))])

    Notes
    -----
    The value depends on the epoch number only, so a resumed run continues
    the schedule exactly.
    """

    def __init__(self, variable, fn):
        if variable is not None and not hasattr(variable, "set_value"):
            raise TypeError(f"ParamSchedule needs a shared variable, got {type(variable).__name__}")
        if not callable(fn):
            raise TypeError(f"ParamSchedule needs a callable fn(epoch), got {type(fn).__name__}")
        self.variable = variable
        self.fn = fn

    def on_epoch_begin(self, trainer, epoch):
        """Set the variable to ``fn(epoch)``, in its dtype and shape."""
        value = np.asarray(self.fn(epoch))
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{type(self).__name__}: fn({epoch}) returned {value}, not a finite "
                             "value")
        current = self.variable.get_value(borrow=True)
        self.variable.set_value(value.astype(current.dtype).reshape(np.shape(current)))


class LearningRateSchedule(ParamSchedule):
    """Set ``trainer.learning_rate`` from the epoch number before each epoch.

    Parameters
    ----------
    fn : callable
        ``fn(epoch) -> learning rate``, ``epoch`` counting from 1; for
        example ``lambda epoch: 0.01 * 0.95 ** (epoch - 1)``.
    """

    def __init__(self, fn):
        super().__init__(None, fn)

    def on_train_begin(self, trainer):
        """Take the trainer's learning rate as the variable to set."""
        if trainer.learning_rate is None:
            raise ValueError(
                "LearningRateSchedule: the trainer's update rule takes no learning_rate, "
                "so there is nothing to schedule"
            )
        self.variable = trainer.learning_rate


def linear_ramp(start, stop, epochs):
    """Make a schedule going linearly from ``start`` at epoch 1 to ``stop`` at ``epochs``.

    Parameters
    ----------
    start, stop : float
    epochs : int
        The epoch at which ``stop`` is reached (1 means ``stop`` throughout).

    Returns
    -------
    callable
        ``fn(epoch) -> float``.
    """
    epochs = check_positive_int(epochs, "linear_ramp: epochs")
    start, stop = float(start), float(stop)

    def ramp(epoch):
        if epochs == 1 or epoch >= epochs:
            return stop
        fraction = max(epoch - 1, 0) / (epochs - 1)
        return start + (stop - start) * fraction

    return ramp
