"""The symbolic side of training: loss, penalty, update rule, learning rate and optimizer state.

:func:`build_training_graph` follows the Lasagne recipe::

    prediction = get_output(network)                     # dropout active
    loss = loss_builder(prediction, target_var, weight_var)
    updates = update_rule(loss + penalty, params, learning_rate=shared_lr)

and adds the deterministic evaluation outputs (the loss and the
predictions, one function for validation and prediction alike). Nothing
is compiled here; :mod:`~dropout_layers.training.steps` does that.
"""
import dataclasses
import inspect
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.scalar.math import Sigmoid as ScalarSigmoid
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.random.type import RandomGeneratorType

from .. import updates as update_rules
from ..config import get_floatX
from ..layers import get_all_params, get_output
from ..objectives import aggregate, binary_crossentropy
from ..random import collect_rng_updates

__all__ = ["binary_loss", "RULE_NAMES", "resolve_rule", "TrainingGraph", "build_training_graph",
           "default_target_var"]

#: The update rules that ``Trainer(update=...)`` accepts by name.
RULE_NAMES = ("sgd", "momentum", "nesterov_momentum", "adagrad", "rmsprop", "adadelta", "adam",
              "adamax", "amsgrad")


def binary_loss(predictions, targets, weights):
    """Build the default loss: weighted binary cross-entropy of a sigmoid output.

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

    Notes
    -----
    When the predictions are the output of a sigmoid, the loss is computed
    from its input ``z`` as ``softplus(z) - t * z``, which is exact and
    finite for any ``z``; ``log(sigmoid(z))`` of a saturated unit is
    ``log(0)`` in float32. (PyTensor's stabilising rewrites do that only
    when nothing else reads the sigmoid's output, while here the gradient
    and the evaluation step's predictions do.)

    An ``(N, 1)`` output is reshaped rather than indexed with ``[:, 0]``:
    the gradient of a reshape is a reshape, while that of a column index
    allocates a zero matrix and writes into it, two more kernels to
    compile (a quarter of the default Higgs network's compile time).
    """
    logits = _sigmoid_input(predictions)
    scores = predictions if logits is None else logits
    if scores.ndim == 2:
        # (N, 1) * (N,) would broadcast to (N, N); the weights need a vector.
        scores = scores.reshape((scores.shape[0],))
    losses = binary_crossentropy(scores, targets, from_logits=logits is not None)
    return aggregate(losses, weights, mode="normalized_sum")


def _sigmoid_input(variable):
    """Return ``z`` when ``variable`` is ``sigmoid(z)``, else None."""
    owner = variable.owner
    if (owner is not None and isinstance(owner.op, Elemwise)
            and isinstance(owner.op.scalar_op, ScalarSigmoid)):
        return owner.inputs[0]
    return None


def single_output(network):
    """Whether the network has one output unit (shape ``(N,)`` or ``(N, 1)``)."""
    shape = tuple(network.output_shape)
    return len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)


def default_target_var(network):
    """Make a floatX target: a vector for one output unit, else a tensor of the output's rank."""
    ndim = 1 if single_output(network) else len(network.output_shape)
    return pt.tensor(name="targets", dtype=get_floatX(), shape=(None,) * ndim)


def resolve_rule(update):
    """``(name, rule)`` for an update rule given by name, as a callable, or ``None`` (Adam)."""
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


def learning_rate_variable(rule_name, rule, learning_rate):
    """Return the floatX shared learning rate the rule gets, or ``None`` if it takes none."""
    takes_lr, default_lr = _rule_takes_learning_rate(rule)
    if not takes_lr:
        if learning_rate is not None:
            raise ValueError(f"update rule {rule_name!r} takes no learning_rate argument")
        return None
    if learning_rate is None:
        if default_lr is inspect.Parameter.empty:
            raise ValueError(f"update rule {rule_name!r} has no default learning rate; "
                             "pass learning_rate=...")
        learning_rate = default_lr
    if isinstance(learning_rate, SharedVariable):
        return learning_rate
    return pytensor.shared(np.asarray(learning_rate, dtype=get_floatX()), name="learning_rate")


def optimizer_state_of(rule_updates, params):
    """Name the rule's accumulators, also those of a plain dict from a custom rule."""
    state = getattr(rule_updates, "state", None)
    if state is not None:
        return state
    # Name a custom rule's accumulators so that checkpoints can still save them.
    state = update_rules.OptimizerState()
    params = set(params)
    for index, variable in enumerate(rule_updates):
        if variable in params or isinstance(variable.type, RandomGeneratorType):
            continue
        state.add(state.unique_name(f"{index}/{variable.name or 'state'}"), variable)
    return state


def _scalar_loss(loss, output, target_var, weight_var, which):
    value = pt.as_tensor_variable(loss(output, target_var, weight_var))
    if value.ndim != 0:
        raise ValueError(f"the loss builder must return a scalar, got a {value.ndim}-D {which} "
                         "loss")
    return value


def _penalised(objective, regularization, network):
    if regularization is None:
        return objective
    penalty = pt.as_tensor_variable(regularization(network))
    if penalty.ndim != 0:
        raise ValueError(f"regularization must return a scalar, got a {penalty.ndim}-D tensor")
    # A Python-float coefficient must not upcast a float32 graph.
    return objective + pt.cast(penalty, objective.dtype)


@dataclasses.dataclass
class TrainingGraph:
    """Everything symbolic that the train and evaluation steps compute.

    Attributes
    ----------
    inputs : list of TensorVariable
        ``[input_var, target_var, weight_var]``, the arguments of both steps.
    train_loss : TensorVariable
        The loss with dropout active, without the penalty.
    updates : OrderedDict
        All updates of the train step, RNG streams included.
    eval_outputs : list of TensorVariable
        ``[loss, predictions]``, deterministic.
    params : list of SharedVariable
        The trainable parameters.
    learning_rate : SharedVariable or None
    optimizer_state : OptimizerState
    update_name : str
    """

    inputs: list
    train_loss: object
    updates: OrderedDict
    eval_outputs: list
    params: list
    learning_rate: object
    optimizer_state: object
    update_name: str


def build_training_graph(network, inputs, loss, update=None, learning_rate=None,
                         update_kwargs=None, regularization=None):
    """Build the loss, updates and evaluation outputs of ``network``.

    Parameters
    ----------
    network : Layer
    inputs : sequence of TensorVariable
        ``(input_var, target_var, weight_var)``.
    loss, update, learning_rate, update_kwargs, regularization
        As for :class:`~dropout_layers.training.Trainer`.

    Returns
    -------
    TrainingGraph
    """
    input_var, target_var, weight_var = inputs
    kwargs = dict(update_kwargs or {})
    if "learning_rate" in kwargs:
        raise ValueError("pass the learning rate as Trainer(learning_rate=...), not in "
                         "update_kwargs")
    train_output = get_output(network, inputs=input_var)
    train_loss = _scalar_loss(loss, train_output, target_var, weight_var, "training")
    objective = _penalised(train_loss, regularization, network)
    update_name, rule = resolve_rule(update)
    shared_lr = learning_rate_variable(update_name, rule, learning_rate)
    if shared_lr is not None:
        kwargs["learning_rate"] = shared_lr
    params = get_all_params(network, trainable=True)
    rule_updates = rule(objective, params, **kwargs)
    # Rules from dropout_layers.updates include the masks' RNG updates;
    # other callables may not, and frozen masks would go unnoticed.
    updates = collect_rng_updates([objective])
    updates.update(OrderedDict(rule_updates))
    test_output = get_output(network, inputs=input_var, deterministic=True)
    eval_loss = _scalar_loss(loss, test_output, target_var, weight_var, "evaluation")
    return TrainingGraph(inputs=[input_var, target_var, weight_var], train_loss=train_loss,
                         updates=updates, eval_outputs=[eval_loss, test_output], params=params,
                         learning_rate=shared_lr,
                         optimizer_state=optimizer_state_of(rule_updates, params),
                         update_name=update_name)
