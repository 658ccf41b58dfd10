"""The fit loop's front: :class:`Trainer` and the one-call :func:`fit`.

A :class:`Trainer` builds a network's training graph
(:mod:`~dropout_layers.training.graph`), compiles its train step and one
deterministic evaluation step (:mod:`~dropout_layers.training.steps`),
checks the data it is given (:mod:`dropout_layers.inputs`) and runs the
epochs (:mod:`~dropout_layers.training.loop`).

Reproducibility: nothing in the loop draws from a random generator that a
checkpoint does not hold. Batches are shuffled from ``(seed, epoch)`` (see
:mod:`~dropout_layers.training.batches`), dropout masks come from the
layers' RNG streams, and the update rule's accumulators are in
``trainer.optimizer_state``. A run resumed with ``resume_from`` from a
checkpoint written at the end of epoch ``k`` therefore trains epochs
``k + 1, ...`` exactly as the uninterrupted run did.
"""
import itertools
import warnings
from collections import OrderedDict

import numpy as np
import pytensor.tensor as pt

from ..batching import predict_in_batches
from ..checkpoint import restore_training_state
from ..checks import check_non_negative_int
from ..compilation import backend_of
from ..config import get_floatX
from ..inputs import InputError, as_array, check_features, check_targets, check_weights
from ..layers import InputLayer, get_all_layers, get_all_param_values, set_all_param_values
from .batches import BatchIterator
from .graph import RULE_NAMES, binary_loss, build_training_graph, default_target_var, single_output
from .history import History
from .loop import CallbackList, FitLoop, metric_values, scores_of
from .options import FitOptions, TrainerSettings, unknown_keyword_error
from .steps import CompileNotice, Steps, estimate_compile_seconds

__all__ = ["Trainer", "fit", "binary_loss", "RULE_NAMES"]


def _single_input_layer(network):
    input_layers = [layer for layer in get_all_layers(network) if isinstance(layer, InputLayer)]
    if len(input_layers) != 1:
        raise ValueError(f"Trainer needs a network with one InputLayer, found {len(input_layers)}")
    return input_layers[0]


def _compile_message(estimate, backend):
    if backend != "numba":
        # Numba's later runs load its kernels from disk; JAX compiles again in every process
        # unless its own cache is on (dropout_layers.compilation.keep_jax_programs).
        return f"compiling the network with {backend}"
    about = f"; about {max(5, 5 * round(estimate / 5))} s" if estimate else ""
    return f"compiling the network (first run only: later runs load it from the cache{about})"


def _checked_metrics(metrics):
    metrics = OrderedDict(metrics or {})
    for name, metric in metrics.items():
        if not callable(metric):
            raise TypeError(f"metric {name!r} must be callable fn(y_true, scores, weights)")
    return metrics


class Trainer:
    """Train a network with mini-batches, validation, callbacks and progress output.

    Parameters
    ----------
    network : Layer
        The output layer. The network must have one input layer.
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
    mode : str or Mode, optional
        PyTensor compilation mode of both steps.
    **settings
        ``input_var``, ``target_var``, ``eval_batch_size`` and
        ``compile_notice_after``: see :class:`TrainerSettings`.

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
    feature_names_in_ : numpy.ndarray of str or None
        The columns of the DataFrame the network was trained on; later
        DataFrames must have exactly these, in this order.
    stop_training : bool
        Set by a callback to end training after the current epoch.
    verbose : bool
        Whether the current ``fit`` call prints.

    Notes
    -----
    :meth:`predict` reuses the evaluation step with zero targets of shape
    ``(N,)`` (or ``(N, 1, ...)`` for a target of higher rank, in the
    target's dtype) and unit weights, and discards the loss: one compiled
    function serves validation, :meth:`evaluate` and :meth:`predict`. A
    custom loss must accept such targets, which broadcasting usually
    ensures.
    """

    def __init__(self, network, loss=None, update=None, learning_rate=None, update_kwargs=None,
                 regularization=None, mode=None, **settings):
        settings = TrainerSettings.from_keywords(settings)
        self.network = network
        self.input_layer = _single_input_layer(network)
        self.input_var = (self.input_layer.input_var if settings.input_var is None
                          else settings.input_var)
        self.target_var = (default_target_var(network) if settings.target_var is None
                           else settings.target_var)
        self.weight_var = pt.vector("weights", dtype=get_floatX())
        if loss is None:
            if not single_output(network):
                raise ValueError(f"the default loss (binary cross-entropy) needs one output unit, "
                                 f"but the network's output shape is "
                                 f"{tuple(network.output_shape)}; pass loss=...")
            loss = binary_loss
        self.loss = loss
        self.eval_batch_size = settings.eval_batch_size
        self.compile_notice_after = settings.compile_notice_after
        graph = build_training_graph(network, (self.input_var, self.target_var, self.weight_var),
                                     loss, update, learning_rate, update_kwargs, regularization)
        self.update_name = graph.update_name
        self.learning_rate = graph.learning_rate
        self.params = graph.params
        self.optimizer_state = graph.optimizer_state
        self.updates = graph.updates
        self._steps = Steps(graph, mode)
        self.history = History()
        self.epoch = 0
        self.stop_training = False
        self.verbose = False
        self.fit_settings = {}
        self.feature_names_in_ = None

    @property
    def mode(self):
        """The PyTensor compilation mode of both steps."""
        return self._steps.mode

    @property
    def train_function(self):
        """The compiled train step ``f(X, y, w) -> loss`` (built on first use)."""
        return self._steps.train

    @property
    def eval_function(self):
        """The compiled deterministic step ``f(X, y, w) -> [loss, predictions]``."""
        return self._steps.evaluate

    # ------------------------------------------------------------------
    # Input checks
    # ------------------------------------------------------------------
    def _check_inputs(self, X, name="X"):
        return check_features(X, self.input_layer, name, self.feature_names_in_,
                              dtype=self.input_var.dtype)

    def _check_arrays(self, X, y, weights, prefix=""):
        x_name = f"{prefix}X"
        X = self._check_inputs(X, x_name)
        y = check_targets(y, len(X), self.target_var, f"{prefix}y", x_name)
        weights = check_weights(weights, len(X), self.weight_var.dtype, f"{prefix}weights",
                                x_name)
        return X, y, weights

    def _unit_weights(self, n_rows):
        return np.ones(n_rows, dtype=self.weight_var.dtype)

    def _check_valid(self, valid):
        if not isinstance(valid, (tuple, list)) or len(valid) not in (2, 3):
            raise InputError("valid must be a tuple (X_valid, y_valid) or (X_valid, y_valid, "
                             "w_valid)")
        weights = valid[2] if len(valid) == 3 else None
        X, y, w_metrics = self._check_arrays(valid[0], valid[1], weights, prefix="valid ")
        # The loss needs weights; the metrics get the user's (or None).
        w_loss = self._unit_weights(len(X)) if w_metrics is None else w_metrics
        return X, y, w_loss, w_metrics

    def _check_batch(self, batch, index):
        """Check one batch from a user's batch iterator."""
        if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
            raise InputError(f"batch {index}: a batch iterator must yield (X, y) or (X, y, "
                             f"weights) tuples, got {type(batch).__name__}")
        X, y, weights = self._check_arrays(batch[0], batch[1],
                                           batch[2] if len(batch) == 3 else None,
                                           prefix=f"batch {index} ")
        return X, y, self._unit_weights(len(X)) if weights is None else weights

    # ------------------------------------------------------------------
    # Helpers used by callbacks
    # ------------------------------------------------------------------
    def get_param_values(self):
        """Return copies of all parameter values of the network."""
        return get_all_param_values(self.network)

    def set_param_values(self, values):
        """Set all parameter values of the network (as from :meth:`get_param_values`)."""
        set_all_param_values(self.network, values)

    def current_learning_rate(self):
        """Return the learning rate now, as a float, or ``None``."""
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
        """Return what a checkpoint needs besides the network to resume this run."""
        metadata = {"epoch": int(self.epoch), "learning_rate": self.current_learning_rate(),
                    **self.fit_settings}
        if self.feature_names_in_ is not None:
            metadata["feature_names_in"] = [str(name) for name in self.feature_names_in_]
        return metadata

    # ------------------------------------------------------------------
    # Compilation
    # ------------------------------------------------------------------
    def compile(self, train_batch=None, eval_batch=None, callbacks=()):
        """Compile the steps that have a sample batch, before any training.

        Each step is called once on its sample, after which every shared
        variable it touched is put back, so nothing about the run changes;
        only the machine code now exists. Callbacks get
        ``on_compile_begin(trainer, estimate)`` and
        ``on_compile_end(trainer, seconds)`` around it, and a verbose
        trainer announces a compilation that is still running after
        ``compile_notice_after`` seconds (a first run; a cached network
        loads faster than that).

        Parameters
        ----------
        train_batch, eval_batch : tuple of numpy.ndarray, optional
            Checked ``(X, y, w)`` for the train and evaluation steps.
        callbacks : CallbackList or sequence of Callback

        Returns
        -------
        list of str
            The steps compiled: ``'train'`` and/or ``'evaluate'``.
        """
        callbacks = callbacks if isinstance(callbacks, CallbackList) else CallbackList(callbacks)
        names = self._steps.pending(train_batch, eval_batch)
        if not names:
            return names
        functions = self._steps.build(names)
        estimate = estimate_compile_seconds(functions)
        callbacks.call("on_compile_begin", self, estimate)
        notice = CompileNotice(self.log, _compile_message(estimate, backend_of(functions[0])),
                               delay=self.compile_notice_after)
        with notice:
            self._steps.prepare(train_batch, eval_batch)
        callbacks.call("on_compile_end", self, notice.seconds)
        return names

    # ------------------------------------------------------------------
    # Evaluation and prediction
    # ------------------------------------------------------------------
    def loss_and_predictions(self, X, y, weights, batch_size=None):
        """Weighted mean loss and deterministic outputs on checked arrays, batch by batch."""
        evaluate = self._steps.evaluate

        def step(batch_X, batch_y, batch_w):
            loss, prediction = evaluate(batch_X, batch_y, batch_w)
            return np.array([[float(loss), float(batch_w.sum(dtype=np.float64))]]), prediction

        sums, predictions = predict_in_batches(step, [X, y, weights],
                                               batch_size or self.eval_batch_size)
        weighted = sums[:, 1] > 0
        weight_sum = sums[weighted, 1].sum()
        loss = (float((sums[weighted, 0] * sums[weighted, 1]).sum() / weight_sum)
                if weight_sum > 0 else float("nan"))
        return loss, predictions

    def predict(self, X, batch_size=None):
        """Deterministic network outputs (dropout off), in batches.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Inputs, cast to the input variable's dtype; a DataFrame must have
            the training DataFrame's columns, in order.
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
        return self.loss_and_predictions(X, dummy_targets, self._unit_weights(len(X)),
                                         batch_size)[1]

    def evaluate(self, X, y, weights=None, metrics=None):
        """Deterministic loss and metrics on a data set.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
        y, weights : array_like or pandas.Series
        metrics : dict, optional
            ``{name: fn(y_true, scores, weights) -> float}``.

        Returns
        -------
        dict
            ``{'loss': ..., name: ...}``.
        """
        X, y, weights = self._check_arrays(X, y, weights)
        loss_weights = self._unit_weights(len(X)) if weights is None else weights
        loss, predictions = self.loss_and_predictions(X, y, loss_weights)
        result = {"loss": loss}
        result.update(metric_values(dict(metrics or {}), y, scores_of(predictions), weights))
        return result

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def _resume(self, path, seed):
        state = restore_training_state(path, self.network, optimizer=self.optimizer_state)
        history = getattr(state, "history", None)
        self.history = History.from_dict(history) if history else History()
        metadata = dict(getattr(state, "metadata", None) or {})
        self.epoch = int(metadata.get("epoch", len(self.history)))
        learning_rate = metadata.get("learning_rate")
        if learning_rate is not None and self.learning_rate is not None:
            self.learning_rate.set_value(np.asarray(learning_rate, dtype=self.learning_rate.dtype))
        if metadata.get("feature_names_in") is not None:
            self.feature_names_in_ = np.asarray(metadata["feature_names_in"], dtype=object)
        saved_seed = metadata.get("seed")
        if saved_seed is not None and saved_seed != seed:
            warnings.warn(f"resuming {path} with seed={seed}, but it was trained with "
                          f"seed={saved_seed}; the batches will not match the original run",
                          RuntimeWarning, stacklevel=3)

    def _train_source(self, X, y, weights, batch_size, options):
        """Wrap checked arrays in a BatchIterator, or take a user's batch iterator."""
        if isinstance(X, BatchIterator) or (callable(X) and not isinstance(X, np.ndarray)):
            if y is not None or weights is not None:
                raise InputError("with a batch iterator as X, pass no y or weights: the batches "
                                 "hold them")
            return X, False, None
        if y is None:
            raise InputError("fit needs targets y (or a batch iterator as X)")
        columns = as_array(X)[1]
        X, y, weights = self._check_arrays(X, y, weights)
        source = BatchIterator(X, y, self._unit_weights(len(X)) if weights is None else weights,
                               batch_size=batch_size, shuffle=options.shuffle, seed=options.seed,
                               drop_last=options.drop_last)
        return source, True, columns

    def _epoch_batches(self, source, from_arrays):
        """``batches(epoch)``: the epoch's checked ``(X, y, w)`` batches."""
        if from_arrays:
            return source

        def checked(epoch):
            for index, batch in enumerate(source(epoch), start=1):
                yield self._check_batch(batch, index)

        return checked

    def _announce(self, source, from_arrays, valid):
        if from_arrays:
            self.log(f"training on {source.n_samples} rows, {len(source)} batches of "
                     f"{source.batch_size}"
                     + (f", validating on {len(valid[0])} rows" if valid else ""))

    def _compile_ahead(self, batches_of, epochs, valid, callbacks):
        """Compile before the epochs, on the first batch; return the epochs' batch source."""
        first_epoch = self.epoch + 1
        if first_epoch > epochs:
            return batches_of
        batches = iter(batches_of(first_epoch))
        first = next(batches, None)
        # The first validation chunk: JAX compiles one program per input shape.
        eval_batch = (None if valid is None
                      else tuple(array[:self.eval_batch_size] for array in valid[:3]))
        self.compile(first, eval_batch, callbacks)
        if first is not None:
            batches = itertools.chain([first], batches)
        return lambda epoch: batches if epoch == first_epoch else batches_of(epoch)

    def _valid_data(self, valid, metrics):
        valid_data = None if valid is None else self._check_valid(valid)
        if metrics and valid_data is None:
            raise InputError("metrics are computed on the validation set; pass "
                             "valid=(X_valid, y_valid)")
        return valid_data

    def _begin(self, options, from_arrays, columns):
        """Set the state of a new fit call, after every argument passed its checks."""
        if columns is not None and self.feature_names_in_ is None:
            self.feature_names_in_ = np.asarray(columns, dtype=object)
        self.verbose = options.verbose
        if options.resume_from is not None:
            self._resume(options.resume_from, options.seed)
            self.log(f"resumed from {options.resume_from} after epoch {self.epoch}")
        self.fit_settings = {"seed": options.seed} if from_arrays else {}
        self.stop_training = False
        self.history.interrupted = None

    def fit(self, X, y=None, weights=None, valid=None, epochs=10, batch_size=128, callbacks=(),
            metrics=None, **options):
        """Train until epoch ``epochs``, validating and calling callbacks after each epoch.

        Parameters
        ----------
        X : array_like, pandas.DataFrame or batch iterator
            Training inputs (a DataFrame's columns become
            ``feature_names_in_``), or a :class:`BatchIterator` or any
            callable ``batches(epoch)`` yielding ``(X, y[, weights])``
            tuples, with ``__len__`` for the progress bar.
        y : array_like or pandas.Series
            Training targets, one per row of ``X``.
        weights : array_like or pandas.Series, optional
            Non-negative sample weights, one per row.
        valid : tuple, optional
            ``(X_valid, y_valid[, w_valid])``, evaluated deterministically
            after each epoch.
        epochs : int
            The epoch number to stop at; epochs count from 1 across ``fit``
            calls and resumes.
        batch_size : int
        callbacks : sequence of Callback
        metrics : dict, optional
            ``{name: fn(y_true, scores, weights) -> float}`` on the
            validation set after each epoch, recorded as ``valid_<name>``;
            ``scores`` are float64 (a vector for one output unit),
            ``weights`` are ``w_valid`` or None. Any scikit-learn-style
            metric fits, such as :func:`dropout_layers.metrics.roc_auc`.
        **options
            ``shuffle``, ``seed``, ``drop_last``, ``verbose``,
            ``resume_from``: see :class:`FitOptions`.

        Returns
        -------
        History
            ``trainer.history``; ``history.interrupted`` is set when Ctrl-C
            stopped training.

        Notes
        -----
        Bad inputs and unknown keywords are refused before anything else,
        and both steps are compiled before epoch 1 (:meth:`compile`). The
        first Ctrl-C stops after the current batch (that epoch gets no row)
        and runs ``on_train_end`` (:class:`EarlyStopping` restores the best
        parameters); a second one aborts.
        """
        options = FitOptions.from_keywords(options)
        epochs = check_non_negative_int(epochs, "epochs")
        callbacks = CallbackList(callbacks)
        metrics = _checked_metrics(metrics)
        source, from_arrays, columns = self._train_source(X, y, weights, batch_size, options)
        valid_data = self._valid_data(valid, metrics)
        self._begin(options, from_arrays, columns)
        # A train step compiled by an earlier fit draws from where the streams are now.
        self._steps.push_streams()
        self._announce(source, from_arrays, valid_data)
        # Compiled before Ctrl-C is taken over, so that it still aborts a slow compile.
        batches_of = self._compile_ahead(self._epoch_batches(source, from_arrays), epochs,
                                         valid_data, callbacks)
        n_batches = len(source) if hasattr(source, "__len__") else None
        return FitLoop(self, n_batches, valid_data, metrics, callbacks).run(epochs, batches_of)


_TRAINER_KEYWORDS = ("loss", "update", "learning_rate", "update_kwargs", "regularization",
                     "mode", *TrainerSettings.names())
_FIT_KEYWORDS = ("valid", "epochs", "batch_size", "callbacks", "metrics", *FitOptions.names())


def fit(network, X, y=None, weights=None, **keywords):
    """Build a :class:`Trainer` for ``network`` and fit it in one call.

    Parameters
    ----------
    network : Layer
    X, y, weights
        As for :meth:`Trainer.fit`.
    **keywords
        ``loss``, ``update``, ``learning_rate``, ``update_kwargs``,
        ``regularization``, ``mode`` and the :class:`TrainerSettings`, as
        for :class:`Trainer`; ``valid``, ``epochs``, ``batch_size``,
        ``callbacks``, ``metrics`` and the :class:`FitOptions`, as for
        :meth:`Trainer.fit`.

    Returns
    -------
    Trainer
        Holding the trained network, ``history`` and :meth:`~Trainer.predict`;
        a keyword neither takes raises :class:`UnknownOptionError`.

    Examples
    --------
    Early stopping on the validation AUC (``FAST_COMPILE`` keeps the example
    quick; the default mode compiles to faster code):

    >>> import numpy as np
    >>> import dropout_layers as dl
    >>> from dropout_layers.metrics import roc_auc
    >>> from dropout_layers.training import EarlyStopping, fit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 4)).astype("float32")
    >>> y = (X[:, 0] + X[:, 1] > 0).astype("float32")
    >>> with dl.random.seeded(0):
    ...     hidden = dl.ReLUDenseLayer(dl.InputLayer((None, 4)), 16)
    ...     network = dl.DenseLayer(dl.SwitchDropoutLayer(hidden, p=0.5), 1,
    ...                             nonlinearity=dl.nonlinearities.sigmoid)
    >>> trainer = fit(network, X[:400], y[:400], valid=(X[400:], y[400:]), epochs=30,
    ...               learning_rate=0.01, metrics={"auc": roc_auc},
    ...               callbacks=[EarlyStopping("auc", patience=5)], verbose=False,
    ...               mode="FAST_COMPILE")
    >>> max(trainer.history.column("valid_auc")) > 0.95
    True
    >>> trainer.predict(X[400:]).shape
    (200, 1)
    """
    trainer_keywords, fit_keywords = {}, {}
    for keyword, value in keywords.items():
        if keyword in _TRAINER_KEYWORDS:
            trainer_keywords[keyword] = value
        elif keyword in _FIT_KEYWORDS:
            fit_keywords[keyword] = value
        else:
            raise unknown_keyword_error("fit", keyword, _TRAINER_KEYWORDS + _FIT_KEYWORDS)
    trainer = Trainer(network, **trainer_keywords)
    trainer.fit(X, y, weights, **fit_keywords)
    return trainer
