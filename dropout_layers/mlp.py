"""Dropout multilayer perceptrons, compiled once per shape and reused across fits.

Model selection fits one architecture many times: a grid search over the
dropout rate, a cross-validation, scikit-learn's estimator checks. A fit of
a small network takes a fraction of a second, but compiling its training
graph takes about a second, and several on a cold numba cache.
:func:`compiled_mlp` therefore keeps one :class:`CompiledMLP` for each
:class:`MLPSpec`, the few settings that fix the graph (the widths, the
activation, the output, the update rule, the dtype), and everything else a
fit may change is a shared variable whose value is set before the fit: the
parameters, the update rule's accumulators, the learning rate, the dropout
rates, the L2 coefficient and the dropout layers' RNG streams.
A trained model is then plain arrays, an :class:`MLPState`, which
:meth:`CompiledMLP.load` puts back into the compiled network: pickling a
model needs no compiled function, and an unpickled one finds (or builds)
its compiled network on first use.

The input variable has no static column count, so the numba kernels of one
architecture serve every number of input columns from the on-disk cache:
a new input width costs the graph rewrites (under a second), not a cold
compile.

Examples
--------
>>> import numpy as np
>>> from dropout_layers.mlp import MLPSpec, compiled_mlp
>>> spec = MLPSpec(n_features=3, hidden_layer_sizes=(8,), n_outputs=1, output="sigmoid")
>>> model = compiled_mlp(spec)
>>> model is compiled_mlp(spec)
True
>>> state = model.initial_state(np.random.RandomState(0))
>>> [param.shape for param in state.params]
[(3, 8), (8,), (8, 1), (1,)]
"""
import dataclasses
import threading
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt

from . import init, nonlinearities
from .batching import predict_in_batches
from .compilation import compile_function
from .config import using_floatX
from .layers import (
    DenseLayer,
    InputLayer,
    ReLUDenseLayer,
    SwitchDropoutLayer,
    get_all_layers,
    get_all_params,
    get_output,
)
from .objectives import aggregate, binary_crossentropy, categorical_crossentropy, squared_error
from .regularization import l2, regularize_network_params
from .training import RULE_NAMES, Trainer

__all__ = ["MLPSpec", "MLPState", "MLPSettings", "CompiledMLP", "ForwardMLP", "build_mlp",
           "compiled_mlp", "forward_mlp", "forward_spec", "clear_cache", "ACTIVATIONS", "OUTPUTS"]

#: Hidden-layer activations, by scikit-learn's names.
ACTIVATIONS = ("relu", "tanh", "logistic", "identity")
#: Output kinds and their losses: softmax with categorical cross-entropy,
#: one sigmoid unit with binary cross-entropy, linear with squared error.
OUTPUTS = ("softmax", "sigmoid", "linear")
#: How many compiled networks the cache keeps (least recently used goes first).
CACHE_SIZE = 32

_NONLINEARITIES = {"tanh": nonlinearities.tanh, "logistic": nonlinearities.sigmoid,
                   "identity": nonlinearities.linear}


@dataclasses.dataclass(frozen=True)
class MLPSpec:
    """What fixes the compiled graph of a dropout MLP.

    Attributes
    ----------
    n_features : int
    hidden_layer_sizes : tuple of int
    n_outputs : int
    output : {'softmax', 'sigmoid', 'linear'}
        The loss: categorical cross-entropy of a softmax, binary
        cross-entropy of one sigmoid unit, or squared error. The network
        itself ends linearly in all three (logits for the first two).
    activation : {'relu', 'tanh', 'logistic', 'identity'}
        Of the hidden layers; ``'relu'`` layers are
        :class:`~dropout_layers.layers.ReLUDenseLayer`.
    solver : str
        An update rule of :data:`dropout_layers.training.RULE_NAMES`.
    input_dropout, dropout : bool
        Whether the inputs and the hidden layers have a dropout layer;
        their rates are settings of the fit.
    penalty : bool
        Whether the loss has an L2 term, whose coefficient is a setting.
    dtype : str
        Of the inputs, parameters and computation.
    """

    n_features: int
    hidden_layer_sizes: tuple
    n_outputs: int
    output: str
    activation: str = "relu"
    solver: str = "adam"
    input_dropout: bool = False
    dropout: bool = True
    penalty: bool = False
    dtype: str = "float32"

    def __post_init__(self):
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.solver not in RULE_NAMES:
            raise ValueError(f"solver must be one of {list(RULE_NAMES)}, got {self.solver!r}")
        if self.output == "sigmoid" and self.n_outputs != 1:
            raise ValueError("a sigmoid output has one unit")
        object.__setattr__(self, "hidden_layer_sizes", tuple(int(n) for n in
                                                             self.hidden_layer_sizes))


@dataclasses.dataclass
class MLPSettings:
    """The settings of one fit, set into the compiled network's shared variables.

    Attributes
    ----------
    learning_rate : float
    dropout : float
        Drop probability of the hidden units, in [0, 1).
    input_dropout : float
        Drop probability of the inputs, in [0, 1).
    alpha : float
        Coefficient of the L2 penalty ``alpha / 2 * sum(W ** 2)`` over the
        weights (biases excluded).
    """

    learning_rate: float = 0.001
    dropout: float = 0.5
    input_dropout: float = 0.0
    alpha: float = 0.0


@dataclasses.dataclass
class MLPState:
    """A trained (or initial) MLP as plain arrays.

    Attributes
    ----------
    params : list of numpy.ndarray
        ``W`` and ``b`` of each dense layer, input side first.
    optimizer : OrderedDict
        The update rule's accumulators by name (see
        :class:`~dropout_layers.updates.OptimizerState`).
    rng_states : list of dict
        Bit-generator states of the dropout layers' streams, input side first.
    epoch : int
        Epochs trained so far; the batch order of the next one derives from it.
    """

    params: list
    optimizer: OrderedDict
    rng_states: list
    epoch: int = 0


def _loss_builder(output):
    def loss(predictions, targets, weights):
        if output == "softmax":
            per_row = categorical_crossentropy(predictions, targets, from_logits=True)
        elif output == "sigmoid":
            logits = predictions.reshape((predictions.shape[0],))
            per_row = binary_crossentropy(logits, targets, from_logits=True)
        else:
            if targets.ndim == 1:
                predictions = predictions.reshape((predictions.shape[0],))
                per_row = squared_error(predictions, targets)
            else:
                per_row = squared_error(predictions, targets).mean(axis=1)
        return aggregate(per_row, weights, mode="normalized_sum")

    loss.__name__ = f"{output}_loss"
    return loss


def _scalar(value, dtype, name):
    return pytensor.shared(np.asarray(value, dtype=dtype), name=name)


def build_mlp(spec, rates=None, params=None, output_nonlinearity=None):
    """Build the layers of a dropout MLP.

    Parameters
    ----------
    spec : MLPSpec
    rates : dict, optional
        ``{'dropout': p, 'input_dropout': p}``, floats or shared scalars,
        for the dropout layers that ``spec`` asks for; zero by default.
    params : list of numpy.ndarray, optional
        ``W`` and ``b`` of each dense layer (as :attr:`MLPState.params`);
        zeros by default.
    output_nonlinearity : callable, optional
        Of the output layer; linear by default (logits), which is what the
        losses of :class:`CompiledMLP` take.

    Returns
    -------
    Layer
        The output layer. The input variable has no static column count.
    """
    rates = dict(rates or {})
    dtype = spec.dtype
    sizes = (spec.n_features,) + spec.hidden_layer_sizes + (spec.n_outputs,)
    if params is None:
        params = [np.zeros(shape, dtype=dtype) for n_in, n_out in zip(sizes[:-1], sizes[1:])
                  for shape in ((n_in, n_out), (n_out,))]
    layer = InputLayer((None, spec.n_features), input_var=pt.matrix("X", dtype=dtype),
                       name="input")
    if spec.input_dropout:
        layer = SwitchDropoutLayer(layer, p=rates.get("input_dropout", 0.0), seed=0,
                                   name="input_dropout")
    for index, width in enumerate(spec.hidden_layer_sizes):
        name = f"hidden{index + 1}"
        W, b = params[2 * index], params[2 * index + 1]
        if spec.activation == "relu":
            layer = ReLUDenseLayer(layer, width, W=W, b=b, name=name)
        else:
            layer = DenseLayer(layer, width, W=W, b=b,
                               nonlinearity=_NONLINEARITIES[spec.activation], name=name)
        if spec.dropout:
            layer = SwitchDropoutLayer(layer, p=rates.get("dropout", 0.0), seed=index + 1,
                                       name=f"{name}_dropout")
    return DenseLayer(layer, spec.n_outputs, W=params[-2], b=params[-1],
                      nonlinearity=output_nonlinearity, name="output")


class CompiledMLP:
    """One dropout MLP with its :class:`~dropout_layers.training.Trainer`, reused across fits.

    Parameters
    ----------
    spec : MLPSpec

    Attributes
    ----------
    spec : MLPSpec
    network : Layer
        The output layer (linear: logits or regression outputs).
    trainer : Trainer
    lock : threading.RLock
        Held by whoever loads a state and trains or predicts, so that
        threads sharing the cache do not mix their models.

    Notes
    -----
    Build it through :func:`compiled_mlp`, which shares one per spec.
    """

    def __init__(self, spec):
        self.spec = spec
        self.lock = threading.RLock()
        dtype = spec.dtype
        self._rate = {"learning_rate": _scalar(0.001, dtype, "learning_rate"),
                      "dropout": _scalar(0.0, dtype, "dropout.p"),
                      "input_dropout": _scalar(0.0, dtype, "input_dropout.p"),
                      "alpha": _scalar(0.0, dtype, "alpha")}
        self.network = build_mlp(spec, rates=self._rate)
        self.dropout_layers = [layer for layer in get_all_layers(self.network)
                               if isinstance(layer, SwitchDropoutLayer)]
        self.params = get_all_params(self.network, trainable=True)
        self.trainer = Trainer(self.network, loss=_loss_builder(spec.output), update=spec.solver,
                               learning_rate=self._rate["learning_rate"],
                               regularization=self._penalty() if spec.penalty else None,
                               target_var=self._target_var(), compile_notice_after=1.0)
        self._initial_optimizer = self.trainer.optimizer_state.get_values()

    def _penalty(self):
        alpha = self._rate["alpha"]

        def penalty(network):
            return alpha * np.asarray(0.5, dtype=alpha.dtype) * regularize_network_params(
                network, l2)

        return penalty

    def _target_var(self):
        ndim = 2 if self.spec.n_outputs > 1 or self.spec.output == "softmax" else 1
        return pt.tensor(name="targets", dtype=self.spec.dtype, shape=(None,) * ndim)

    # ------------------------------------------------------------------
    def initial_state(self, rng):
        """Draw a fresh :class:`MLPState` from ``rng`` (a NumPy RandomState or Generator).

        Rectifier layers get He-normal weights, other hidden layers
        Glorot-uniform ones, and the output layer starts at zero, as do
        the biases; accumulators are as the update rule starts them, and
        each dropout stream gets a seed drawn from ``rng``.

        Notes
        -----
        A zero output layer starts every network at the same prediction
        (logits 0, regression outputs 0). With random output weights the
        first outputs of a dropout network are sums of many units each
        scaled by ``1 / (1 - p)``, of variance several times that of
        standardised targets, and the first tens of epochs only undo that:
        on scikit-learn's regression check (200 rows, ``dropout=0.5``) the
        first epoch's loss was 7.0 instead of 1.0 and 200 epochs reached
        R^2 = 0.76 instead of 0.84. The hidden layers still learn, since the
        output weights move away from zero at the first step.
        """
        spec = self.spec
        params = [np.zeros(param.get_value(borrow=True).shape, dtype=spec.dtype)
                  for param in self.params]
        sizes = (spec.n_features,) + spec.hidden_layer_sizes
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            initializer = (init.HeNormal(gain="relu", rng=rng) if spec.activation == "relu"
                           else init.GlorotUniform(rng=rng))
            params[2 * index] = np.asarray(initializer((n_in, n_out)), dtype=spec.dtype)
        seeds = [int(rng.randint(0, 2**31 - 1)) if hasattr(rng, "randint")
                 else int(rng.integers(0, 2**31 - 1)) for _ in self.dropout_layers]
        rng_states = [np.random.default_rng(seed).bit_generator.state for seed in seeds]
        optimizer = OrderedDict((name, value.copy())
                                for name, value in self._initial_optimizer.items())
        return MLPState(params=params, optimizer=optimizer, rng_states=rng_states, epoch=0)

    def load(self, state, settings=None):
        """Put ``state`` (and, when given, the :class:`MLPSettings`) into the compiled network.

        Call it holding :attr:`lock`. The trainer's history is emptied and its
        epoch set to the state's.
        """
        if len(state.params) != len(self.params):
            raise ValueError(f"an MLP state with {len(state.params)} parameters does not fit a "
                             f"network with {len(self.params)}")
        for param, value in zip(self.params, state.params):
            if value.shape != param.get_value(borrow=True).shape:
                raise ValueError(f"parameter {param.name} has shape "
                                 f"{param.get_value(borrow=True).shape}, the state {value.shape}")
        for param, value in zip(self.params, state.params):
            param.set_value(np.array(value, dtype=self.spec.dtype), borrow=True)
        self.trainer.optimizer_state.set_values(state.optimizer)
        for layer, bit_state in zip(self.dropout_layers, state.rng_states):
            generator = np.random.default_rng()
            generator.bit_generator.state = bit_state
            layer.rng.set_value(generator, borrow=True)
        if settings is not None:
            for name, variable in self._rate.items():
                variable.set_value(np.asarray(getattr(settings, name), dtype=self.spec.dtype))
        trainer = self.trainer
        trainer.history = type(trainer.history)()
        trainer.epoch = int(state.epoch)
        trainer.stop_training = False
        trainer.feature_names_in_ = None

    def save(self):
        """Return the compiled network's current :class:`MLPState` (copies)."""
        return MLPState(
            params=[np.array(param.get_value(borrow=True), copy=True) for param in self.params],
            optimizer=self.trainer.optimizer_state.get_values(),
            rng_states=[layer.rng.get_value(borrow=True).bit_generator.state
                        for layer in self.dropout_layers],
            epoch=int(self.trainer.epoch))


class ForwardMLP:
    """The deterministic forward pass of a dropout MLP in float64, for prediction.

    Dropout is off at prediction, so one forward pass serves every spec
    that differs only in its dropout layers, penalty or update rule; it
    runs in float64 whatever the training dtype, so that a row's output
    does not depend on the other rows of its batch (float32 matrix products
    round differently for one row and for many).

    Parameters
    ----------
    spec : MLPSpec
        Its :meth:`forward_spec`.
    """

    def __init__(self, spec):
        self.spec = spec
        self.lock = threading.RLock()
        self.network = build_mlp(spec)
        self.params = get_all_params(self.network, trainable=True)
        input_var = get_all_layers(self.network)[0].input_var
        self.function = compile_function([input_var],
                                         get_output(self.network, deterministic=True))

    def outputs(self, X, params, batch_size=4096):
        """Return the network's outputs for ``X`` with parameters ``params``, float64."""
        with self.lock:
            for param, value in zip(self.params, params):
                param.set_value(np.asarray(value, dtype=np.float64), borrow=True)
            return predict_in_batches(self.function, [np.asarray(X, dtype=np.float64)],
                                      batch_size)


def forward_spec(spec):
    """Return the spec of ``spec``'s forward pass: float64, no dropout, penalty or rule."""
    return dataclasses.replace(spec, solver="adam", input_dropout=False, dropout=False,
                               penalty=False, dtype="float64")


_cache = OrderedDict()
_cache_lock = threading.Lock()


def _cached(kind, spec):
    key = (kind, spec)
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model
    with using_floatX(spec.dtype):
        model = kind(spec)
    with _cache_lock:
        model = _cache.setdefault(key, model)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def compiled_mlp(spec):
    """Return the shared :class:`CompiledMLP` of ``spec``, building it on first use.

    The cache keeps the :data:`CACHE_SIZE` most recently used networks.
    """
    return _cached(CompiledMLP, spec)


def forward_mlp(spec):
    """Return the shared :class:`ForwardMLP` of ``spec``'s :func:`forward_spec`."""
    return _cached(ForwardMLP, forward_spec(spec))


def clear_cache():
    """Forget every compiled network (their memory is freed once nothing else holds them)."""
    with _cache_lock:
        _cache.clear()
