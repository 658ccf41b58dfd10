"""The fit loop: compile a network's train and eval steps and run epochs.

:class:`Trainer` follows the Lasagne recipe::

    prediction = get_output(network)                     # dropout active
    loss = loss_builder(prediction, target_var, weight_var)
    updates = update_rule(loss + penalty, params, learning_rate=shared_lr)
    train_fn = pytensor.function([input_var, target_var, weight_var], loss, updates=updates)

and one deterministic eval function returning the loss and the
predictions, which also serves :meth:`Trainer.predict`. Only these two
functions are compiled, each on first use.

Reproducibility: nothing in the loop draws from a random generator that a
checkpoint does not hold. Batches are shuffled from ``(seed, epoch)`` (see
:mod:`~dropout_layers.training.batches`), dropout masks come from the
layers' RNG streams, and the update rule's accumulators are in
``trainer.optimizer_state``. A run resumed with ``resume_from`` from a
checkpoint written at the end of epoch ``k`` therefore trains epochs
``k + 1, ...`` exactly as the uninterrupted run did.
"""
import importlib
import inspect
import numbers
import signal
import sys
import threading
import time
import warnings
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.tensor.random.type import RandomGeneratorType
from tqdm import tqdm

from .. import updates as update_rules
from ..config import get_floatX
from ..layers import (
    InputLayer,
    get_all_layers,
    get_all_param_values,
    get_all_params,
    get_output,
    set_all_param_values,
)
from ..objectives import aggregate, binary_crossentropy
from ..random import collect_rng_updates
from .batches import BatchIterator
from .history import History, _interrupted_note

__all__ = ["Trainer", "fit", "binary_loss", "RULE_NAMES"]


def binary_loss(predictions, targets, weights):
    """The default loss: weighted binary cross-entropy of a sigmoid output.

    ``sum(w * bce(p, t)) / sum(w)`` over the batch, which is the plain mean
    when all weights are one.

    Parameters
    ----------
    predictions : TensorVariable
        Probabilities, shape ``(N,)`` or ``(N, 1)``.
    targets : TensorVariable
        0/1 targets, shape ``(N,)``.
    weights : TensorVariable
        Non-negative sample weights, shape ``(N,)``.

    Returns
    -------
    TensorVariable
        Scalar, in the predictions' dtype.
    """
    if predictions.ndim == 2:
        # (N, 1) * (N,) would broadcast to (N, N); the weights need a vector.
        predictions = predictions[:, 0]
    return aggregate(binary_crossentropy(predictions, targets), weights, mode="normalized_sum")


def _first_bad(mask):
    """Index tuple of the first True of ``mask`` in row-major order."""
    return np.unravel_index(int(np.argmax(mask)), mask.shape)


def _where(index):
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    return f"index {tuple(int(i) for i in index)}"


def _check_numeric(array, name):
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got an array of dtype {array.dtype}")


def _check_finite(array, name):
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            index = _first_bad(bad)
            raise ValueError(f"{name} contains {array[index]} at {_where(index)}; "
                             "remove or impute non-finite values before training")


def _cast(array, dtype, name):
    """Cast once, refusing values that overflow the target dtype."""
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(dtype)
    if cast.dtype.kind == "f" and array.dtype.kind == "f":
        bad = ~np.isfinite(cast)
        if bad.any():
            index = _first_bad(bad)
            raise ValueError(f"{name} holds {array[index].item()!r} at {_where(index)}, "
                             f"which overflows {dtype}")
    return cast


#: The update rules that ``Trainer(update=...)`` accepts by name.
RULE_NAMES = ("sgd", "momentum", "nesterov_momentum", "adagrad", "rmsprop", "adadelta", "adam",
              "adamax", "amsgrad")


def _resolve_rule(update):
    if update is None:
        return "adam", update_rules.adam
    if isinstance(update, str):
        if update not in RULE_NAMES:
            raise ValueError(f"unknown update rule {update!r}; expected one of {list(RULE_NAMES)} "
                             "or a callable")
        return update, getattr(update_rules, update)
    if callable(update):
        return getattr(update, "__name__", type(update).__name__), update
    raise TypeError(f"update must be a rule name or a callable, got {type(update).__name__}")


def _rule_takes_learning_rate(rule):
    try:
        parameters = inspect.signature(rule).parameters
    except (TypeError, ValueError):
        return True, inspect.Parameter.empty
    if "learning_rate" in parameters:
        return True, parameters["learning_rate"].default
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return takes_kwargs, inspect.Parameter.empty


class _StopRequest:
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


class Trainer:
    """Train a network with mini-batches, validation, callbacks and progress output.

    Parameters
    ----------
    network : Layer
        The output layer. The network must have one input layer.
    input_var : TensorVariable, optional
        The input variable; by default the input layer's own.
    target_var : TensorVariable, optional
        The target variable; by default a :func:`~dropout_layers.config.get_floatX`
        vector for a network with one output unit, else a floatX tensor of
        the output's rank.
    loss : callable, optional
        ``loss(predictions, targets, weights) -> scalar`` building the
        loss to minimise from symbolic network outputs, targets and sample
        weights (a floatX vector, all ones when ``fit`` gets no weights). By
        default :func:`binary_loss`: binary cross-entropy of a sigmoid
        output, ``sum(w * bce) / sum(w)``. Combine the objectives, for
        example ``lambda p, t, w: aggregate(categorical_crossentropy(p, t),
        w, mode='normalized_sum')``. Batch losses are combined into epoch
        losses weighted by the batches' weight sums, which is exact for
        weighted means such as these.
    update : str or callable, optional
        An update rule of :mod:`dropout_layers.updates` by name (default
        ``'adam'``) or any callable ``update(loss, params, learning_rate=...,
        **update_kwargs)`` returning a dict of updates.
    learning_rate : float or shared variable, optional
        Initial learning rate; by default the rule's own default (``sgd``,
        ``momentum`` and ``nesterov_momentum`` have none and need one). A
        number becomes the floatX shared variable ``trainer.learning_rate``,
        which schedules change between epochs.
    update_kwargs : dict, optional
        Further arguments of the rule, for example ``{'momentum': shared}``
        for a momentum ramp (see
        :class:`~dropout_layers.training.ParamSchedule`).
    regularization : callable, optional
        ``regularization(network) -> scalar`` penalty added to the loss for
        the gradient, for example ``lambda net:
        regularize_network_params(net, l2) * 1e-4``. It is cast to the
        loss's dtype, so a Python-float coefficient does not upcast a
        float32 graph. The recorded losses exclude it.
    eval_batch_size : int
        Rows per call of the eval function in validation and prediction.
    mode : str or Mode, optional
        PyTensor compilation mode of both functions.

    Attributes
    ----------
    network : Layer
    history : History
        Filled by :meth:`fit`, carried across ``fit`` calls.
    epoch : int
        Number of epochs completed (the last epoch number).
    learning_rate : shared variable or None
        ``None`` if the update rule takes no learning rate.
    optimizer_state : OptimizerState
        The update rule's accumulators, by name (see
        :class:`~dropout_layers.updates.OptimizerState`).
    updates : OrderedDict
        All updates of the train step, RNG streams included.
    stop_training : bool
        Set by a callback to end training after the current epoch.
    verbose : bool
        Whether the current ``fit`` call prints.

    Notes
    -----
    :meth:`predict` reuses the eval function with zero targets of shape
    ``(N,)`` (or ``(N, 1, ...)`` for a target of higher rank, in the
    target's dtype) and unit weights, and discards the loss. A custom loss
    must accept such targets, which broadcasting usually ensures.
    """

    def __init__(self, network, input_var=None, target_var=None, loss=None, update=None,
                 learning_rate=None, update_kwargs=None, regularization=None, eval_batch_size=4096,
                 mode=None):
        self.network = network
        input_layers = [layer for layer in get_all_layers(network) if isinstance(layer, InputLayer)]
        if len(input_layers) != 1:
            raise ValueError(f"Trainer needs a network with one InputLayer, found {len(input_layers)}")
        self.input_layer = input_layers[0]
        self.input_var = self.input_layer.input_var if input_var is None else input_var
        output_shape = tuple(network.output_shape)
        single_output = len(output_shape) == 1 or (len(output_shape) == 2 and output_shape[1] == 1)
        if target_var is None:
            ndim = 1 if single_output else len(output_shape)
            target_var = pt.tensor(name="targets", dtype=get_floatX(), shape=(None,) * ndim)
        self.target_var = target_var
        self.weight_var = pt.vector("weights", dtype=get_floatX())
        if loss is None:
            if not single_output:
                raise ValueError(
                    f"the default loss (binary cross-entropy) needs one output unit, but the network's "
                    f"output shape is {output_shape}; pass loss=..."
                )
            loss = binary_loss
        self.loss = loss
        if isinstance(eval_batch_size, bool) or not isinstance(eval_batch_size, numbers.Integral) \
                or eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be a positive integer, got {eval_batch_size!r}")
        self.eval_batch_size = int(eval_batch_size)
        self.mode = mode

        train_output = get_output(network, inputs=self.input_var)
        self._train_loss = self._build_loss(train_output, "training")
        objective = self._train_loss
        if regularization is not None:
            penalty = pt.as_tensor_variable(regularization(network))
            if penalty.ndim != 0:
                raise ValueError(f"regularization must return a scalar, got a {penalty.ndim}-D tensor")
            objective = objective + pt.cast(penalty, objective.dtype)

        self.update_name, rule = _resolve_rule(update)
        takes_lr, default_lr = _rule_takes_learning_rate(rule)
        kwargs = dict(update_kwargs or {})
        if "learning_rate" in kwargs:
            raise ValueError("pass the learning rate as Trainer(learning_rate=...), not in update_kwargs")
        if takes_lr:
            if learning_rate is None:
                if default_lr is inspect.Parameter.empty:
                    raise ValueError(f"update rule {self.update_name!r} has no default learning rate; "
                                     "pass learning_rate=...")
                learning_rate = default_lr
            if isinstance(learning_rate, SharedVariable):
                self.learning_rate = learning_rate
            else:
                self.learning_rate = pytensor.shared(np.asarray(learning_rate, dtype=get_floatX()),
                                                     name="learning_rate")
            kwargs["learning_rate"] = self.learning_rate
        elif learning_rate is not None:
            raise ValueError(f"update rule {self.update_name!r} takes no learning_rate argument")
        else:
            self.learning_rate = None
        self.params = get_all_params(network, trainable=True)
        rule_updates = rule(objective, self.params, **kwargs)
        self.optimizer_state = self._state_of(rule_updates)
        # Rules from dropout_layers.updates include the masks' RNG updates;
        # other callables may not, and frozen masks would go unnoticed.
        all_updates = collect_rng_updates([objective])
        all_updates.update(OrderedDict(rule_updates))
        self.updates = all_updates

        test_output = get_output(network, inputs=self.input_var, deterministic=True)
        self._eval_outputs = [self._build_loss(test_output, "evaluation"), test_output]
        self._train_fn = None
        self._eval_fn = None

        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.verbose = False
        self.fit_settings = {}

    # ------------------------------------------------------------------
    # Graph and compilation
    # ------------------------------------------------------------------
    def _build_loss(self, output, which):
        value = pt.as_tensor_variable(self.loss(output, self.target_var, self.weight_var))
        if value.ndim != 0:
            raise ValueError(f"the loss builder must return a scalar, got a {value.ndim}-D {which} loss")
        return value

    def _state_of(self, rule_updates):
        state = getattr(rule_updates, "state", None)
        if state is not None:
            return state
        # A plain dict from a custom rule: name its accumulators so that
        # checkpoints can still save them.
        state = update_rules.OptimizerState()
        params = set(self.params)
        for index, variable in enumerate(rule_updates):
            if variable in params or isinstance(variable.type, RandomGeneratorType):
                continue
            state.add(state.unique_name(f"{index}/{variable.name or 'state'}"), variable)
        return state

    @property
    def train_function(self):
        """The compiled train step ``f(X, y, w) -> loss`` (compiled on first use)."""
        if self._train_fn is None:
            self._train_fn = pytensor.function(
                [self.input_var, self.target_var, self.weight_var], self._train_loss,
                updates=list(self.updates.items()), mode=self.mode, on_unused_input="ignore")
        return self._train_fn

    @property
    def eval_function(self):
        """The compiled deterministic step ``f(X, y, w) -> [loss, predictions]``."""
        if self._eval_fn is None:
            self._eval_fn = pytensor.function(
                [self.input_var, self.target_var, self.weight_var], self._eval_outputs,
                mode=self.mode, on_unused_input="ignore")
        return self._eval_fn

    # ------------------------------------------------------------------
    # Input checks
    # ------------------------------------------------------------------
    def _check_inputs(self, X, name="X"):
        X = np.asarray(X)
        _check_numeric(X, name)
        expected = tuple(self.input_layer.shape)
        if X.ndim != len(expected) or any(e is not None and e != s for e, s in zip(expected, X.shape)):
            raise ValueError(f"{name} has shape {X.shape} but the network's input layer expects "
                             f"shape {expected} (None: any size)")
        if len(X) == 0:
            raise ValueError(f"{name} has no rows")
        _check_finite(X, name)
        return _cast(X, self.input_var.dtype, name)

    def _check_targets(self, y, n, name="y", x_name="X"):
        y = np.asarray(y)
        _check_numeric(y, name)
        if y.ndim == 0 or len(y) != n:
            rows = "a scalar" if y.ndim == 0 else f"{len(y)} rows"
            raise ValueError(f"{name} has {rows} but {x_name} has {n}")
        ndim = self.target_var.ndim
        if ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != ndim:
            raise ValueError(f"{name} has shape {y.shape} but the target variable has {ndim} "
                             f"dimension{'s' if ndim != 1 else ''}")
        _check_finite(y, name)
        return _cast(y, self.target_var.dtype, name)

    def _check_weights(self, weights, n, name="weights", x_name="X"):
        if weights is None:
            return None
        weights = np.asarray(weights)
        _check_numeric(weights, name)
        if weights.ndim != 1:
            raise ValueError(f"{name} must be a vector of one weight per row, got shape {weights.shape}")
        if len(weights) != n:
            raise ValueError(f"{name} has {len(weights)} rows but {x_name} has {n}")
        _check_finite(weights, name)
        negative = weights < 0
        if negative.any():
            row = int(np.argmax(negative))
            raise ValueError(f"{name} has a negative value {weights[row]} at row {row}; "
                             "weights must be >= 0")
        if not weights.any():
            raise ValueError(f"{name} are all zero")
        return _cast(weights, self.weight_var.dtype, name)

    def _check_arrays(self, X, y, weights, prefix=""):
        x_name = f"{prefix}X"
        X = self._check_inputs(X, x_name)
        y = self._check_targets(y, len(X), f"{prefix}y", x_name)
        weights = self._check_weights(weights, len(X), f"{prefix}weights", x_name)
        return X, y, weights

    def _check_valid(self, valid):
        if not isinstance(valid, (tuple, list)) or len(valid) not in (2, 3):
            raise ValueError("valid must be a tuple (X_valid, y_valid) or (X_valid, y_valid, w_valid)")
        X, y = valid[0], valid[1]
        weights = valid[2] if len(valid) == 3 else None
        return self._check_arrays(X, y, weights, prefix="valid ")

    def _check_batch(self, batch, index):
        """Check one batch from a user's batch iterator."""
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            raise ValueError(f"batch {index}: a batch iterator must yield (X, y) or (X, y, weights) "
                             f"tuples, got {type(batch).__name__}")
        X, y, weights = self._check_arrays(batch[0], batch[1], batch[2] if len(batch) == 3 else None,
                                           prefix=f"batch {index} ")
        if weights is None:
            weights = np.ones(len(X), dtype=self.weight_var.dtype)
        return X, y, weights

    # ------------------------------------------------------------------
    # Helpers used by callbacks
    # ------------------------------------------------------------------
    def get_param_values(self):
        """Copies of all parameter values of the network."""
        return get_all_param_values(self.network)

    def set_param_values(self, values):
        """Set all parameter values of the network (as from :meth:`get_param_values`)."""
        set_all_param_values(self.network, values)

    def current_learning_rate(self):
        """The learning rate now, as a float, or ``None``."""
        if self.learning_rate is None:
            return None
        value = np.asarray(self.learning_rate.get_value())
        # The shortest decimal that reads back as the same float32 value
        # (0.01, not 0.009999999776482582), exact for either dtype.
        return float(repr(value.item()) if value.dtype == np.float64 else str(value))

    def log(self, message):
        """Print ``message`` when the current ``fit`` call is verbose."""
        if self.verbose:
            print(message, flush=True)

    def checkpoint_metadata(self):
        """What a checkpoint needs besides the network to resume this run."""
        return {"epoch": int(self.epoch), "learning_rate": self.current_learning_rate(),
                **self.fit_settings}

    # ------------------------------------------------------------------
    # Evaluation and prediction
    # ------------------------------------------------------------------
    def _run_eval(self, X, y, weights, batch_size=None):
        size = self.eval_batch_size if batch_size is None else int(batch_size)
        fn = self.eval_function
        loss_sum, weight_sum, outputs = 0.0, 0.0, []
        for start in range(0, len(X), size):
            w = weights[start:start + size]
            loss, prediction = fn(X[start:start + size], y[start:start + size], w)
            outputs.append(prediction)
            batch_weight = float(w.sum(dtype=np.float64))
            if batch_weight > 0:
                loss_sum += float(loss) * batch_weight
                weight_sum += batch_weight
        loss = loss_sum / weight_sum if weight_sum > 0 else float("nan")
        return loss, np.concatenate(outputs)

    @staticmethod
    def _scores(predictions):
        scores = np.asarray(predictions, dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] == 1:
            scores = scores[:, 0]
        return scores

    def _metric_values(self, metrics, y, scores, weights):
        values = OrderedDict()
        for name, metric in metrics.items():
            value = metric(y, scores, weights)
            try:
                values[name] = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"metric {name!r} returned {value!r}, not a number") from None
        return values

    def predict(self, X, batch_size=None):
        """Deterministic network outputs (dropout off), in batches.

        Parameters
        ----------
        X : array_like
            Inputs, cast to the input variable's dtype.
        batch_size : int, optional
            Rows per call; by default ``eval_batch_size``.

        Returns
        -------
        numpy.ndarray
            The network's output for every row, in its dtype and shape.
        """
        X = self._check_inputs(X)
        target_shape = (len(X),) + (1,) * (self.target_var.ndim - 1)
        dummy_targets = np.zeros(target_shape, dtype=self.target_var.dtype)
        unit_weights = np.ones(len(X), dtype=self.weight_var.dtype)
        return self._run_eval(X, dummy_targets, unit_weights, batch_size)[1]

    def evaluate(self, X, y, weights=None, metrics=None):
        """Deterministic loss and metrics on a data set.

        Parameters
        ----------
        X, y, weights : array_like
        metrics : dict, optional
            ``{name: fn(y_true, scores, weights) -> float}``.

        Returns
        -------
        dict
            ``{'loss': ..., name: ...}``.
        """
        X, y, checked_weights = self._check_arrays(X, y, weights)
        unit = np.ones(len(X), dtype=self.weight_var.dtype) if checked_weights is None else None
        loss, predictions = self._run_eval(X, y, checked_weights if unit is None else unit)
        result = {"loss": loss}
        result.update(self._metric_values(dict(metrics or {}), y, self._scores(predictions),
                                          checked_weights))
        return result

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def _resume(self, path, seed):
        checkpoint = importlib.import_module("dropout_layers.checkpoint")
        state = checkpoint.restore_training_state(path, self.network, optimizer=self.optimizer_state)
        history = getattr(state, "history", None)
        self.history = History.from_dict(history) if history else History()
        metadata = dict(getattr(state, "metadata", None) or {})
        self.epoch = int(metadata.get("epoch", len(self.history)))
        learning_rate = metadata.get("learning_rate")
        if learning_rate is not None and self.learning_rate is not None:
            self.learning_rate.set_value(np.asarray(learning_rate, dtype=self.learning_rate.dtype))
        saved_seed = metadata.get("seed")
        if saved_seed is not None and saved_seed != seed:
            warnings.warn(f"resuming {path} with seed={seed}, but it was trained with seed={saved_seed}; "
                          "the batches will not match the original run", RuntimeWarning, stacklevel=3)

    def _train_source(self, X, y, weights, batch_size, shuffle, seed, drop_last):
        """Checked arrays wrapped in a BatchIterator, or a user's batch iterator."""
        if isinstance(X, BatchIterator) or (callable(X) and not isinstance(X, np.ndarray)):
            if y is not None or weights is not None:
                raise ValueError("with a batch iterator as X, pass no y or weights: the batches hold them")
            return X, False
        if y is None:
            raise ValueError("fit needs targets y (or a batch iterator as X)")
        X, y, weights = self._check_arrays(X, y, weights)
        if weights is None:
            weights = np.ones(len(X), dtype=self.weight_var.dtype)
        return BatchIterator(X, y, weights, batch_size=batch_size, shuffle=shuffle, seed=seed,
                             drop_last=drop_last), True

    def fit(self, X, y=None, weights=None, valid=None, epochs=10, batch_size=128, shuffle=True,
            seed=0, drop_last=False, callbacks=(), metrics=None, verbose=True, resume_from=None):
        """Train until epoch ``epochs``, validating and calling callbacks after each epoch.

        Parameters
        ----------
        X : array_like or batch iterator
            Training inputs, or a :class:`BatchIterator` (or any callable
            ``batches(epoch)`` yielding ``(X, y[, weights])`` tuples, with
            ``__len__`` for the progress bar), in which case ``y``,
            ``weights``, ``batch_size``, ``shuffle``, ``seed`` and
            ``drop_last`` are not used.
        y : array_like
            Training targets, one per row of ``X``.
        weights : array_like, optional
            Non-negative sample weights, one per row.
        valid : tuple, optional
            ``(X_valid, y_valid)`` or ``(X_valid, y_valid, w_valid)``,
            evaluated deterministically after each epoch.
        epochs : int
            The epoch number to stop at. Epochs count from 1 across
            ``fit`` calls and resumes: ``fit(epochs=2)`` then
            ``fit(epochs=4)`` trains epochs 1-2, then 3-4.
        batch_size : int
            Rows per training batch; a batch larger than the data gives one
            batch per epoch.
        shuffle : bool
            Visit the rows in a new order each epoch, derived from
            ``(seed, epoch)``.
        seed : int
            Seed of the shuffling (the masks and initial weights have their
            own, see :func:`dropout_layers.set_rng`).
        drop_last : bool
            Skip each epoch's last batch when it is smaller than
            ``batch_size``.
        callbacks : sequence of Callback
        metrics : dict, optional
            ``{name: fn(y_true, scores, weights) -> float}``, computed on
            the validation predictions after each epoch and recorded as
            ``valid_<name>``. ``scores`` is float64, a vector for
            single-output networks; ``weights`` is ``w_valid`` or ``None``.
        verbose : bool
            Print an epoch table and, on a terminal, a progress bar.
        resume_from : str or path-like, optional
            A checkpoint written by
            :class:`~dropout_layers.training.ModelCheckpoint`: restore the
            parameters, optimizer state, RNG streams, learning rate and
            history, then continue with the next epoch.

        Returns
        -------
        History
            ``trainer.history``; ``history.interrupted`` is set when Ctrl-C
            stopped training.

        Raises
        ------
        ValueError, TypeError
            For bad inputs, before training starts.

        Notes
        -----
        The first Ctrl-C stops training after the current batch (an
        epoch cut short gets no history row), runs the callbacks'
        ``on_train_end`` (so :class:`EarlyStopping` restores the best
        parameters) and returns; a second Ctrl-C aborts at once.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        callbacks = list(callbacks)
        for callback in callbacks:
            if not hasattr(callback, "on_epoch_end"):
                raise TypeError(f"callbacks must be Callback instances, got {type(callback).__name__}")
        metrics = OrderedDict(metrics or {})
        for name, metric in metrics.items():
            if not callable(metric):
                raise TypeError(f"metric {name!r} must be callable fn(y_true, scores, weights)")
        source, from_arrays = self._train_source(X, y, weights, batch_size, shuffle, seed, drop_last)
        valid_data = None
        if valid is not None:
            X_valid, y_valid, w_valid = self._check_valid(valid)
            # The loss needs weights; the metrics get the user's (or None).
            w_loss = np.ones(len(X_valid), dtype=self.weight_var.dtype) if w_valid is None else w_valid
            valid_data = (X_valid, y_valid, w_loss, w_valid)
        if metrics and valid_data is None:
            raise ValueError("metrics are computed on the validation set; pass valid=(X_valid, y_valid)")

        self.verbose = bool(verbose)
        if resume_from is not None:
            self._resume(resume_from, seed)
            self.log(f"resumed from {resume_from} after epoch {self.epoch}")
        self.fit_settings = {"seed": seed} if from_arrays else {}
        self.stop_training = False
        self.history.interrupted = None

        # Compile before taking over Ctrl-C, so that it still aborts a slow compile.
        train_fn = self.train_function
        if valid_data is not None:
            self.eval_function
        try:
            n_batches = len(source)
        except TypeError:
            n_batches = None
        if from_arrays:
            self.log(f"training on {source.n_samples} rows, {n_batches} batches of {source.batch_size}"
                     + (f", validating on {len(valid_data[0])} rows" if valid_data else ""))
        table_keys = None
        with _StopRequest() as stop:
            for callback in callbacks:
                callback.on_train_begin(self)
            for epoch in range(self.epoch + 1, epochs + 1):
                for callback in callbacks:
                    callback.on_epoch_begin(self, epoch)
                started = time.perf_counter()
                learning_rate = self.current_learning_rate()
                loss_sum, weight_sum, done = 0.0, 0.0, 0
                bar = tqdm(source(epoch), total=n_batches, desc=f"epoch {epoch}", unit="batch",
                           leave=False, file=sys.stderr, dynamic_ncols=True,
                           disable=None if self.verbose else True)
                completed = False
                try:
                    for batch in bar:
                        if stop.requested:
                            break
                        if from_arrays:
                            batch_X, batch_y, batch_w = batch
                        else:
                            batch_X, batch_y, batch_w = self._check_batch(batch, done + 1)
                        batch_weight = float(batch_w.sum(dtype=np.float64))
                        done += 1
                        if batch_weight == 0:
                            # Nothing to learn, and 0/0 in a normalised loss.
                            continue
                        loss = float(train_fn(batch_X, batch_y, batch_w))
                        loss_sum += loss * batch_weight
                        weight_sum += batch_weight
                        if not bar.disable and done % 10 == 0:
                            bar.set_postfix(loss=f"{loss_sum / weight_sum:.4f}", refresh=False)
                        for callback in callbacks:
                            callback.on_batch_end(self, epoch, done, loss)
                    else:
                        completed = True
                finally:
                    bar.close()
                if not completed:
                    self.history.interrupted = {"epoch": epoch, "batches_done": done,
                                                "batches_total": n_batches}
                    break
                record = {"epoch": epoch,
                          "train_loss": loss_sum / weight_sum if weight_sum > 0 else float("nan")}
                if valid_data is not None:
                    X_valid, y_valid, w_valid, w_metric = valid_data
                    record["valid_loss"], predictions = self._run_eval(X_valid, y_valid, w_valid)
                    scores = self._scores(predictions)
                    for name, value in self._metric_values(metrics, y_valid, scores, w_metric).items():
                        record[f"valid_{name}"] = value
                record["learning_rate"] = learning_rate
                record["seconds"] = time.perf_counter() - started
                record = self.history.append(record)
                self.epoch = epoch
                if self.verbose:
                    if table_keys is None:
                        table_keys = History([record]).keys()
                        print(self.history.format_header(table_keys), flush=True)
                    print(self.history.format_row(record, table_keys), flush=True)
                for callback in callbacks:
                    callback.on_epoch_end(self, epoch, record)
                if stop.requested:
                    self.history.interrupted = {"epoch": epoch, "batches_done": done,
                                                "batches_total": done}
                    break
                if self.stop_training:
                    break
            if self.history.interrupted is not None:
                self.log(_interrupted_note(self.history.interrupted))
            for callback in callbacks:
                callback.on_train_end(self)
        return self.history


def fit(network, X, y=None, weights=None, *, input_var=None, target_var=None, loss=None,
        update=None, learning_rate=None, update_kwargs=None, regularization=None,
        eval_batch_size=4096, mode=None, **fit_kwargs):
    """Build a :class:`Trainer` for ``network`` and fit it in one call.

    Parameters
    ----------
    network : Layer
    X, y, weights
        As for :meth:`Trainer.fit`.
    input_var, target_var, loss, update, learning_rate, update_kwargs, regularization, eval_batch_size, mode
        As for :class:`Trainer`.
    **fit_kwargs
        ``valid``, ``epochs``, ``batch_size``, ``shuffle``, ``seed``,
        ``drop_last``, ``callbacks``, ``metrics``, ``verbose``,
        ``resume_from``, as for :meth:`Trainer.fit`.

    Returns
    -------
    Trainer
        Holding the trained network, ``history`` and :meth:`~Trainer.predict`.

    Examples
    --------
    >>> trainer = fit(network, X, y, valid=(Xv, yv), epochs=20,  # doctest: +SKIP
    ...               metrics={"auc": roc_auc}, callbacks=[EarlyStopping("auc", patience=5)])
    >>> scores = trainer.predict(X_test)[:, 0]  # doctest: +SKIP
    """
    trainer = Trainer(network, input_var=input_var, target_var=target_var, loss=loss, update=update,
                      learning_rate=learning_rate, update_kwargs=update_kwargs,
                      regularization=regularization, eval_batch_size=eval_batch_size, mode=mode)
    trainer.fit(X, y, weights, **fit_kwargs)
    return trainer
