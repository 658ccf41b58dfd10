"""The epochs of one :meth:`Trainer.fit <dropout_layers.training.Trainer.fit>` call.

:class:`FitLoop` runs them in small parts, as Keras 3's loop does: one
epoch's batches (:meth:`FitLoop.train_epoch`, with the progress bar),
validation and metrics (:meth:`FitLoop.validate`), the epoch table
(:class:`EpochTable`) and the callbacks (:class:`CallbackList`), under a
:class:`StopRequest` that turns the first Ctrl-C into a clean stop.
"""
import dataclasses
import signal
import sys
import threading
import time
from collections import OrderedDict

import numpy as np
from tqdm import tqdm

from .history import History, _interrupted_note

__all__ = ["StopRequest", "CallbackList", "EpochTable", "FitLoop", "metric_values", "scores_of"]


class StopRequest:
    """Turns the first Ctrl-C (SIGINT) into a request to stop after the current batch.

    A second Ctrl-C raises KeyboardInterrupt as usual. Signal handlers can
    only be set from the main thread; elsewhere this does nothing.
    """

    def __init__(self):
        self.requested = False
        self._previous = None
        self._installed = False

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            # None: a handler installed from C, which could not be put back;
            # SIG_IGN: the user asked for Ctrl-C to be ignored.
            if previous is not None and previous is not signal.SIG_IGN:
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
                self._installed = True
        return self

    def __exit__(self, *exc_info):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        return False


class CallbackList:
    """Calls one hook on every callback, in order; a callback may lack the optional hooks.

    Parameters
    ----------
    callbacks : sequence of Callback
        Objects with at least ``on_epoch_end``.
    """

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not hasattr(callback, "on_epoch_end"):
                raise TypeError("callbacks must be Callback instances, got "
                                f"{type(callback).__name__}")

    def call(self, hook, *args):
        """Call ``hook(*args)`` on each callback that has it."""
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is not None:
                method(*args)


def scores_of(predictions):
    """Predictions as float64 scores: a vector for single-output networks."""
    scores = np.asarray(predictions, dtype=np.float64)
    if scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    return scores


def metric_values(metrics, y, scores, weights):
    """``{name: float(metric(y, scores, weights))}``, refusing non-numbers by name."""
    values = OrderedDict()
    for name, metric in metrics.items():
        value = metric(y, scores, weights)
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"metric {name!r} returned {value!r}, not a number") from None
    return values


class EpochTable:
    """Prints the nolearn-style epoch table, its header with the first row."""

    def __init__(self):
        self.keys = None

    def print_row(self, history, record):
        """Print ``record`` as a row of ``history``'s table, after the header the first time."""
        if self.keys is None:
            self.keys = History([record]).keys()
            print(history.format_header(self.keys), flush=True)
        print(history.format_row(record, self.keys), flush=True)


@dataclasses.dataclass
class EpochResult:
    """What one epoch's batches gave: the weighted mean loss and how far it got."""

    loss: float
    batches_done: int
    completed: bool


class FitLoop:
    """The epochs of one fit call.

    Parameters
    ----------
    trainer : Trainer
    n_batches : int or None
        Batches per epoch, for the progress bar.
    valid : tuple or None
        ``(X, y, w_loss, w_metrics)``: checked validation arrays, the
        weights for the loss (ones without user weights) and for the metrics
        (the user's, or ``None``).
    metrics : dict
        ``{name: fn(y_true, scores, weights)}``.
    callbacks : CallbackList
    """

    def __init__(self, trainer, n_batches, valid, metrics, callbacks):
        self.trainer = trainer
        self.n_batches = n_batches
        self.valid = valid
        self.metrics = metrics
        self.callbacks = callbacks
        self.table = EpochTable()
        self.stop = None

    def run(self, epochs, batches_of):
        """Train epochs ``trainer.epoch + 1`` to ``epochs``, with batches from ``batches_of``."""
        trainer = self.trainer
        with StopRequest() as self.stop:
            self.callbacks.call("on_train_begin", trainer)
            for epoch in range(trainer.epoch + 1, epochs + 1):
                if not self.epoch(epoch, batches_of(epoch)):
                    break
            if trainer.history.interrupted is not None:
                trainer.log(_interrupted_note(trainer.history.interrupted))
            self.callbacks.call("on_train_end", trainer)
        return trainer.history

    def epoch(self, epoch, batches):
        """Run one epoch and its callbacks; return whether training goes on."""
        trainer = self.trainer
        self.callbacks.call("on_epoch_begin", trainer, epoch)
        started = time.perf_counter()
        learning_rate = trainer.current_learning_rate()
        result = self.train_epoch(epoch, batches)
        # Under JAX the steps advance copies of the streams: callbacks that save the
        # training state must see where the masks have got to.
        trainer._steps.pull_streams()
        if not result.completed:
            trainer.history.interrupted = {"epoch": epoch, "batches_done": result.batches_done,
                                           "batches_total": self.n_batches}
            return False
        record = {"epoch": epoch, "train_loss": result.loss}
        record.update(self.validate())
        record["learning_rate"] = learning_rate
        record["seconds"] = time.perf_counter() - started
        record = trainer.history.append(record)
        trainer.epoch = epoch
        if trainer.verbose:
            self.table.print_row(trainer.history, record)
        self.callbacks.call("on_epoch_end", trainer, epoch, record)
        if self.stop.requested:
            trainer.history.interrupted = {"epoch": epoch, "batches_done": result.batches_done,
                                           "batches_total": result.batches_done}
            return False
        return not trainer.stop_training

    def _progress_bar(self, epoch):
        return tqdm(total=self.n_batches, desc=f"epoch {epoch}", unit="batch", leave=False,
                    file=sys.stderr, dynamic_ncols=True,
                    disable=None if self.trainer.verbose else True)

    def train_epoch(self, epoch, batches):
        """Run the train steps of one epoch, batch by batch, with the progress bar."""
        train_step = self.trainer.train_function
        loss_sum, weight_sum, done = 0.0, 0.0, 0
        bar = self._progress_bar(epoch)
        try:
            for batch_X, batch_y, batch_w in batches:
                if self.stop.requested:
                    break
                batch_weight = float(batch_w.sum(dtype=np.float64))
                done += 1
                bar.update(1)
                if batch_weight == 0:
                    # Nothing to learn, and 0/0 in a normalised loss.
                    continue
                loss = float(train_step(batch_X, batch_y, batch_w))
                loss_sum += loss * batch_weight
                weight_sum += batch_weight
                if not bar.disable and done % 10 == 0:
                    bar.set_postfix(loss=f"{loss_sum / weight_sum:.4f}", refresh=False)
                self.callbacks.call("on_batch_end", self.trainer, epoch, done, loss)
            else:
                return EpochResult(loss_sum / weight_sum if weight_sum > 0 else float("nan"),
                                   done, True)
        finally:
            bar.close()
        return EpochResult(float("nan"), done, False)

    def validate(self):
        """Measure the validation loss and metrics, as ``valid_*`` entries of the epoch row."""
        if self.valid is None:
            return {}
        X, y, w_loss, w_metrics = self.valid
        loss, predictions = self.trainer.loss_and_predictions(X, y, w_loss)
        record = {"valid_loss": loss}
        values = metric_values(self.metrics, y, scores_of(predictions), w_metrics)
        record.update((f"valid_{name}", value) for name, value in values.items())
        return record
