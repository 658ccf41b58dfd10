"""Update rules for gradient-based training, as in Lasagne.

Each rule takes ``(loss_or_grads, params, ...)`` and returns an
:class:`Updates` dictionary mapping every parameter (and every accumulator
the rule keeps) to its new value, ready for
``pytensor.function(..., updates=updates)``::

    prediction = get_output(network)
    loss = aggregate(binary_crossentropy(prediction, target_var))
    params = get_all_params(network, trainable=True)
    updates = adam(loss, params, learning_rate=1e-3)
    train_fn = pytensor.function([input_var, target_var], loss, updates=updates)

Parameter updates are applied simultaneously: every expression in the
returned dictionary is computed from the values that parameters and
accumulators had *before* the call, and only then are all shared variables
overwritten. The order of the entries therefore carries no meaning for the
result.

Hyper-parameters
    ``learning_rate``, ``momentum``, ``beta1`` and the like may be Python
    numbers or PyTensor shared variables (or any scalar expression). A shared
    variable makes schedules possible: set its value between calls, for
    example to decay the learning rate or to ramp momentum from 0.5 to 0.99.
    Numbers are converted to each parameter's dtype, and variables of another
    dtype are cast to it, so a float hyper-parameter never upcasts float32
    parameters to float64; every new value keeps its parameter's dtype.

Random number streams
    When ``loss_or_grads`` is a loss expression, the returned updates also
    hold the RNG-state updates of that graph (see
    :func:`dropout_layers.random.collect_rng_updates`), so dropout masks are
    drawn afresh on every call of the compiled function. When it is a list
    of gradients, the RNG updates of the gradient graph are included.

Optimizer state
    The accumulators (velocities, moment estimates, step counter) are shared
    variables listed by stable names in ``updates.state``, an
    :class:`OptimizerState`. Building the same rule on the same parameters
    twice gives the same names in the same order, so a checkpoint can save
    ``updates.state.get_values()`` and a resumed run can restore it with
    ``updates.state.set_values(values)``. The step counter ``t`` of
    :func:`adam`, :func:`adamax` and :func:`amsgrad` is a float (float32, or
    float64 when the library's float dtype is), as Lasagne's, so every entry
    of the updates has a float dtype; float32 counts exactly up to 2**24
    steps, past which the bias corrections it feeds are 1 to float32
    precision anyway. Values saved from an integer counter restore into it.

Lasagne's reference values
    Every rule reproduces, to 1e-5 relative, the parameter values that
    Lasagne's test suite expects after ten steps on its toy problem (values
    computed with ``torch.optim``), with Lasagne's default hyper-parameters.

Constraints
    :func:`norm_constraint` and :func:`total_norm_constraint` rescale
    parameter values or gradients to a maximum norm.
"""
import numbers
from collections import OrderedDict

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable
from pytensor.tensor.type import TensorType

from .config import get_floatX
from .random import collect_rng_updates

__all__ = [
    "OptimizerState",
    "Updates",
    "get_or_compute_grads",
    "sgd",
    "apply_momentum",
    "momentum",
    "apply_nesterov_momentum",
    "nesterov_momentum",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "amsgrad",
    "norm_constraint",
    "total_norm_constraint",
]


class OptimizerState:
    """The accumulators of an update rule, reachable by stable names.

    Names have the form ``"{index}/{param name}/{slot}"``, for example
    ``"0/W/m"``, where ``index`` is the parameter's position in the list the
    rule was built with and ``slot`` names the accumulator (``velocity``,
    ``accu``, ``delta_accu``, ``m``, ``v``, ``u``, ``v_hat``). Rules with a
    step counter add ``"t"``. An unnamed parameter appears as ``param``.

    Parameters
    ----------
    variables : mapping or iterable of (str, SharedVariable) pairs, optional
        Initial entries.
    """

    def __init__(self, variables=()):
        self._variables = OrderedDict()
        for name, variable in OrderedDict(variables).items():
            self.add(name, variable)

    def add(self, name, variable):
        """Register ``variable`` under ``name``.

        Raises
        ------
        ValueError
            If ``name`` is already taken.
        TypeError
            If ``name`` is not a string or ``variable`` not a shared variable.
        """
        if not isinstance(name, str):
            raise TypeError(f"optimizer state names must be strings, got {name!r}")
        if not isinstance(variable, SharedVariable):
            raise TypeError(
                f"optimizer state {name!r} must be a shared variable, "
                f"got {type(variable).__name__}"
            )
        if name in self._variables:
            raise ValueError(f"optimizer state already has an entry named {name!r}")
        self._variables[name] = variable

    def unique_name(self, name):
        """Return ``name``, or ``name`` with the first free suffix ``_1``, ``_2``, ..."""
        candidate, suffix = name, 1
        while candidate in self._variables:
            candidate = f"{name}_{suffix}"
            suffix += 1
        return candidate

    @property
    def variables(self):
        """OrderedDict mapping each name to its shared variable."""
        return OrderedDict(self._variables)

    def names(self):
        """List of the state names, in order."""
        return list(self._variables)

    def get_values(self):
        """Return an OrderedDict mapping each name to a copy of its value."""
        return OrderedDict(
            (name, np.array(variable.get_value(borrow=False), copy=True))
            for name, variable in self._variables.items()
        )

    def set_values(self, values):
        """Set every accumulator from ``values``, as returned by :meth:`get_values`.

        Nothing is changed unless all entries pass the checks.

        Parameters
        ----------
        values : mapping of str to array_like
            One entry per state name, no more and no fewer.

        Raises
        ------
        ValueError
            If names are missing or unexpected, or a shape differs.
        TypeError
            If a value cannot be cast to its variable's dtype without changing
            its kind (for example float into an integer counter).
        """
        expected = list(self._variables)
        missing = [name for name in expected if name not in values]
        unexpected = [name for name in values if name not in self._variables]
        if missing or unexpected:
            raise ValueError(
                f"optimizer state names do not match: missing {missing}, unexpected {unexpected}"
            )
        converted = OrderedDict()
        for name, variable in self._variables.items():
            current = variable.get_value(borrow=True)
            value = np.asarray(values[name])
            if value.shape != current.shape:
                raise ValueError(
                    f"optimizer state {name!r} has shape {current.shape}, "
                    f"got a value of shape {value.shape}"
                )
            if not np.can_cast(value.dtype, current.dtype, casting="same_kind"):
                raise TypeError(
                    f"optimizer state {name!r} has dtype {current.dtype}, "
                    f"got a value of dtype {value.dtype}"
                )
            converted[name] = value.astype(current.dtype, copy=True)
        for name, value in converted.items():
            self._variables[name].set_value(value, borrow=True)

    def copy(self):
        """Return a new state holding the same shared variables."""
        return OptimizerState(self._variables)

    def __len__(self):
        return len(self._variables)

    def __iter__(self):
        return iter(self._variables)

    def __contains__(self, name):
        return name in self._variables

    def __getitem__(self, name):
        return self._variables[name]

    def __repr__(self):
        return f"OptimizerState({self.names()})"


class Updates(OrderedDict):
    """Ordered mapping from shared variables to their update expressions.

    Accepted as is by ``pytensor.function(..., updates=...)``.

    Attributes
    ----------
    state : OptimizerState
        The accumulators the rule created.
    params : list of SharedVariable
        The parameters the rule updates, in order. :func:`apply_momentum`
        and :func:`apply_nesterov_momentum` use it when no ``params`` are
        given.
    """

    def __init__(self, items=(), state=None, params=()):
        super().__init__(items)
        self.state = OptimizerState() if state is None else state
        self.params = list(params)

    def copy(self):
        """Return a shallow copy with a copy of the state (the same shared variables)."""
        return Updates(self, state=self.state.copy(), params=self.params)


def get_or_compute_grads(loss_or_grads, params):
    """Return gradient expressions for ``params``.

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
        A loss to differentiate, or the gradients themselves (a list or
        tuple with one entry per parameter).
    params : list of shared variables

    Returns
    -------
    list of expressions

    Raises
    ------
    ValueError
        If a parameter is not a shared variable, a parameter is listed
        twice, or the number of gradients differs from the number of
        parameters.
    """
    params = list(params)
    for index, param in enumerate(params):
        if not isinstance(param, SharedVariable):
            raise ValueError(
                f"params must contain shared variables only; params[{index}] is "
                f"{param!r} of type {type(param).__name__}"
            )
    seen = set()
    for index, param in enumerate(params):
        if param in seen:
            raise ValueError(f"params[{index}] ({param.name or 'unnamed'}) is listed twice")
        seen.add(param)
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(
                f"got {len(loss_or_grads)} gradient expressions for {len(params)} parameters"
            )
        return loss_or_grads
    return pytensor.grad(loss_or_grads, params)


def _hyper(value, dtype, name):
    """Return hyper-parameter ``value`` as a symbolic value of ``dtype``."""
    if isinstance(value, Variable):
        return value if value.dtype == dtype else pt.cast(value, dtype)
    if isinstance(value, (numbers.Real, np.ndarray, np.number)):
        return pt.constant(np.asarray(value, dtype=dtype))
    raise TypeError(
        f"{name} must be a number or a PyTensor variable, got {type(value).__name__}"
    )


def _as_dtype(expression, dtype):
    expression = pt.as_tensor_variable(expression)
    return expression if expression.dtype == dtype else pt.cast(expression, dtype)


def _zeros_like(param, state, index, slot):
    """Create a zero accumulator shaped like ``param`` and register it."""
    value = param.get_value(borrow=True)
    name = state.unique_name(f"{index}/{param.name or 'param'}/{slot}")
    accumulator = pytensor.shared(
        np.zeros(value.shape, dtype=value.dtype), name=name, shape=param.type.shape
    )
    state.add(name, accumulator)
    return accumulator


def _add_rng_updates(updates, loss_or_grads):
    """Add the RNG-state updates of the loss (or gradient) graph."""
    if isinstance(loss_or_grads, (list, tuple)):
        outputs = [g for g in loss_or_grads if isinstance(g, Variable)]
    else:
        outputs = [loss_or_grads]
    for rng, next_rng in collect_rng_updates(outputs).items():
        updates.setdefault(rng, next_rng)
    return updates


def _start(loss_or_grads, params):
    params = list(params)
    grads = get_or_compute_grads(loss_or_grads, params)
    grads = [_as_dtype(grad, param.dtype) for param, grad in zip(params, grads)]
    return params, grads, Updates(params=params)


def sgd(loss_or_grads, params, learning_rate):
    """Stochastic gradient descent.

    ``param := param - learning_rate * grad``

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar

    Returns
    -------
    Updates
    """
    params, grads, updates = _start(loss_or_grads, params)
    for param, grad in zip(params, grads):
        lr = _hyper(learning_rate, param.dtype, "learning_rate")
        updates[param] = _as_dtype(param - lr * grad, param.dtype)
    return _add_rng_updates(updates, loss_or_grads)


def _momentum_params(updates, params):
    if params is not None:
        params = list(params)
    elif isinstance(updates, Updates):
        params = list(updates.params)
    else:
        # RNG streams are not parameters; momentum on them would be meaningless.
        params = [var for var in updates if isinstance(var.type, TensorType)]
    for param in params:
        if param not in updates:
            raise ValueError(f"parameter {param.name or param!r} has no entry in updates")
    return params


def _extend(updates, params):
    if isinstance(updates, Updates):
        return Updates(updates, state=updates.state.copy(), params=updates.params)
    return Updates(updates, params=params)


def apply_momentum(updates, params=None, momentum=0.9):
    """Add classical momentum to existing updates.

    ``velocity := momentum * velocity + updates[param] - param``;
    ``param := param + velocity``

    Parameters
    ----------
    updates : OrderedDict
        Updates to modify, for example from :func:`sgd`. Not changed in
        place.
    params : list of shared variables, optional
        Parameters to add momentum to. Defaults to ``updates.params`` for an
        :class:`Updates`, else to every tensor key of ``updates``.
    momentum : float or symbolic scalar

    Returns
    -------
    Updates
        A copy of ``updates`` with momentum applied; its state combines the
        state of ``updates`` with one ``velocity`` per parameter.
    """
    params = _momentum_params(updates, params)
    result = _extend(updates, params)
    for index, param in enumerate(params):
        mom = _hyper(momentum, param.dtype, "momentum")
        velocity = _zeros_like(param, result.state, index, "velocity")
        new_param = mom * velocity + updates[param]
        result[velocity] = _as_dtype(new_param - param, param.dtype)
        result[param] = _as_dtype(new_param, param.dtype)
    return result


def momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """Stochastic gradient descent with classical momentum.

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    momentum : float or symbolic scalar

    Returns
    -------
    Updates

    Notes
    -----
    Higher momentum smooths over more update steps; lower the learning rate
    to compensate, since the effective step is about
    ``learning_rate / (1 - momentum)``.
    """
    updates = sgd(loss_or_grads, params, learning_rate)
    return apply_momentum(updates, momentum=momentum)


def apply_nesterov_momentum(updates, params=None, momentum=0.9):
    """Add Nesterov momentum to existing updates.

    ``velocity := momentum * velocity + updates[param] - param``;
    ``param := param + momentum * velocity + updates[param] - param``

    Parameters
    ----------
    updates, params, momentum
        As for :func:`apply_momentum`.

    Returns
    -------
    Updates

    Notes
    -----
    This is the reformulation of Sutskever et al. (2013) used by Lasagne:
    the gradient is taken at the current parameters, not at a look-ahead
    point.
    """
    params = _momentum_params(updates, params)
    result = _extend(updates, params)
    for index, param in enumerate(params):
        mom = _hyper(momentum, param.dtype, "momentum")
        velocity = _zeros_like(param, result.state, index, "velocity")
        new_velocity = mom * velocity + updates[param] - param
        result[velocity] = _as_dtype(new_velocity, param.dtype)
        result[param] = _as_dtype(mom * new_velocity + updates[param], param.dtype)
    return result


def nesterov_momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """Stochastic gradient descent with Nesterov momentum.

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    momentum : float or symbolic scalar

    Returns
    -------
    Updates
    """
    updates = sgd(loss_or_grads, params, learning_rate)
    return apply_nesterov_momentum(updates, momentum=momentum)


def adagrad(loss_or_grads, params, learning_rate=1.0, epsilon=1e-6):
    """Adagrad updates.

    ``accu := accu + grad ** 2``;
    ``param := param - learning_rate * grad / sqrt(accu + epsilon)``

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    epsilon : float or symbolic scalar
        Keeps the division finite.

    Returns
    -------
    Updates

    References
    ----------
    .. [1] Duchi, J., Hazan, E. and Singer, Y. (2011): Adaptive subgradient
       methods for online learning and stochastic optimization. JMLR 12.
    """
    params, grads, updates = _start(loss_or_grads, params)
    for index, (param, grad) in enumerate(zip(params, grads)):
        lr = _hyper(learning_rate, param.dtype, "learning_rate")
        eps = _hyper(epsilon, param.dtype, "epsilon")
        accu = _zeros_like(param, updates.state, index, "accu")
        accu_new = accu + grad**2
        updates[accu] = accu_new
        updates[param] = _as_dtype(param - lr * grad / pt.sqrt(accu_new + eps), param.dtype)
    return _add_rng_updates(updates, loss_or_grads)


def rmsprop(loss_or_grads, params, learning_rate=1.0, rho=0.9, epsilon=1e-6):
    """RMSProp updates.

    ``accu := rho * accu + (1 - rho) * grad ** 2``;
    ``param := param - learning_rate * grad / sqrt(accu + epsilon)``

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    rho : float or symbolic scalar
        Decay of the moving average of squared gradients.
    epsilon : float or symbolic scalar

    Returns
    -------
    Updates

    References
    ----------
    .. [1] Tieleman, T. and Hinton, G. (2012): Neural Networks for Machine
       Learning, Lecture 6.5 - rmsprop. Coursera.
    """
    params, grads, updates = _start(loss_or_grads, params)
    for index, (param, grad) in enumerate(zip(params, grads)):
        lr = _hyper(learning_rate, param.dtype, "learning_rate")
        decay = _hyper(rho, param.dtype, "rho")
        eps = _hyper(epsilon, param.dtype, "epsilon")
        one = pt.constant(np.asarray(1, dtype=param.dtype))
        accu = _zeros_like(param, updates.state, index, "accu")
        accu_new = decay * accu + (one - decay) * grad**2
        updates[accu] = _as_dtype(accu_new, param.dtype)
        updates[param] = _as_dtype(param - lr * grad / pt.sqrt(accu_new + eps), param.dtype)
    return _add_rng_updates(updates, loss_or_grads)


def adadelta(loss_or_grads, params, learning_rate=1.0, rho=0.95, epsilon=1e-6):
    """Adadelta updates.

    ``accu := rho * accu + (1 - rho) * grad ** 2``;
    ``step = grad * sqrt(delta_accu + epsilon) / sqrt(accu + epsilon)``;
    ``param := param - learning_rate * step``;
    ``delta_accu := rho * delta_accu + (1 - rho) * step ** 2``

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
        Zeiler's paper uses no learning rate, which is ``1.0``.
    rho : float or symbolic scalar
    epsilon : float or symbolic scalar

    Returns
    -------
    Updates

    References
    ----------
    .. [1] Zeiler, M. D. (2012): ADADELTA: An Adaptive Learning Rate Method.
       arXiv:1212.5701.
    """
    params, grads, updates = _start(loss_or_grads, params)
    for index, (param, grad) in enumerate(zip(params, grads)):
        lr = _hyper(learning_rate, param.dtype, "learning_rate")
        decay = _hyper(rho, param.dtype, "rho")
        eps = _hyper(epsilon, param.dtype, "epsilon")
        one = pt.constant(np.asarray(1, dtype=param.dtype))
        accu = _zeros_like(param, updates.state, index, "accu")
        delta_accu = _zeros_like(param, updates.state, index, "delta_accu")
        accu_new = decay * accu + (one - decay) * grad**2
        step = grad * pt.sqrt(delta_accu + eps) / pt.sqrt(accu_new + eps)
        updates[accu] = _as_dtype(accu_new, param.dtype)
        updates[param] = _as_dtype(param - lr * step, param.dtype)
        updates[delta_accu] = _as_dtype(decay * delta_accu + (one - decay) * step**2, param.dtype)
    return _add_rng_updates(updates, loss_or_grads)


def _counter_dtype():
    """Return the dtype of the step counter ``t``: the library's float, at least float32.

    A float counter, as Lasagne's: every entry of the updates then has a
    float dtype. float32 counts exactly to 2**24 steps, beyond which the
    bias corrections it feeds equal 1 anyway.
    """
    return "float64" if get_floatX() == "float64" else "float32"


def _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, variant):
    params, grads, updates = _start(loss_or_grads, params)
    # The counter exists before the accumulators, but it is named after them
    # so that the per-parameter entries come first in the state.
    t_prev = pytensor.shared(np.asarray(0, dtype=_counter_dtype()))
    t = t_prev + np.asarray(1, dtype=t_prev.dtype)
    for index, (param, grad) in enumerate(zip(params, grads)):
        dtype = param.dtype
        lr = _hyper(learning_rate, dtype, "learning_rate")
        b1 = _hyper(beta1, dtype, "beta1")
        b2 = _hyper(beta2, dtype, "beta2")
        eps = _hyper(epsilon, dtype, "epsilon")
        one = pt.constant(np.asarray(1, dtype=dtype))
        t_float = pt.cast(t, dtype)

        m_prev = _zeros_like(param, updates.state, index, "m")
        m_t = b1 * m_prev + (one - b1) * grad
        updates[m_prev] = _as_dtype(m_t, dtype)
        if variant == "adamax":
            u_prev = _zeros_like(param, updates.state, index, "u")
            u_t = pt.maximum(b2 * u_prev, abs(grad))
            updates[u_prev] = _as_dtype(u_t, dtype)
            step = lr / (one - b1**t_float) * m_t / (u_t + eps)
        else:
            v_prev = _zeros_like(param, updates.state, index, "v")
            v_t = b2 * v_prev + (one - b2) * grad**2
            updates[v_prev] = _as_dtype(v_t, dtype)
            a_t = lr * pt.sqrt(one - b2**t_float) / (one - b1**t_float)
            if variant == "amsgrad":
                v_hat_prev = _zeros_like(param, updates.state, index, "v_hat")
                v_hat_t = pt.maximum(v_hat_prev, v_t)
                updates[v_hat_prev] = _as_dtype(v_hat_t, dtype)
                step = a_t * m_t / (pt.sqrt(v_hat_t) + eps)
            else:
                step = a_t * m_t / (pt.sqrt(v_t) + eps)
        updates[param] = _as_dtype(param - step, dtype)
    t_prev.name = updates.state.unique_name("t")
    updates.state.add(t_prev.name, t_prev)
    updates[t_prev] = t
    return _add_rng_updates(updates, loss_or_grads)


def adam(loss_or_grads, params, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam updates.

    With step count ``t`` starting at 1:
    ``m := beta1 * m + (1 - beta1) * grad``;
    ``v := beta2 * v + (1 - beta2) * grad ** 2``;
    ``param := param - a_t * m / (sqrt(v) + epsilon)`` with
    ``a_t = learning_rate * sqrt(1 - beta2 ** t) / (1 - beta1 ** t)``.

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    beta1 : float or symbolic scalar
        Decay of the first-moment estimate.
    beta2 : float or symbolic scalar
        Decay of the second-moment estimate.
    epsilon : float or symbolic scalar

    Returns
    -------
    Updates
        Its state holds ``m`` and ``v`` per parameter and the step count
        ``t`` (a float scalar, see the module notes).

    References
    ----------
    .. [1] Kingma, D. P. and Ba, J. (2015): Adam: A Method for Stochastic
       Optimization. ICLR. arXiv:1412.6980 (algorithm 1 with the
       efficiency reordering of section 2).
    """
    return _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, "adam")


def adamax(loss_or_grads, params, learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adamax updates, the infinity-norm variant of Adam.

    ``m := beta1 * m + (1 - beta1) * grad``;
    ``u := max(beta2 * u, |grad|)``;
    ``param := param - learning_rate / (1 - beta1 ** t) * m / (u + epsilon)``

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    beta1 : float or symbolic scalar
    beta2 : float or symbolic scalar
    epsilon : float or symbolic scalar

    Returns
    -------
    Updates
        Its state holds ``m`` and ``u`` per parameter and the step count ``t``.

    References
    ----------
    .. [1] Kingma, D. P. and Ba, J. (2015): Adam: A Method for Stochastic
       Optimization. ICLR. arXiv:1412.6980 (section 7.1).
    """
    return _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, "adamax")


def amsgrad(loss_or_grads, params, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """AMSGrad updates: Adam with a non-decreasing second-moment estimate.

    As :func:`adam`, but the step divides by ``sqrt(v_hat) + epsilon`` with
    ``v_hat := max(v_hat, v)``.

    Parameters
    ----------
    loss_or_grads : scalar expression or list of expressions
    params : list of shared variables
    learning_rate : float or symbolic scalar
    beta1 : float or symbolic scalar
    beta2 : float or symbolic scalar
    epsilon : float or symbolic scalar

    Returns
    -------
    Updates
        Its state holds ``m``, ``v`` and ``v_hat`` per parameter and the
        step count ``t``.

    References
    ----------
    .. [1] Reddi, S. J., Kale, S. and Kumar, S. (2018): On the Convergence of
       Adam and Beyond. ICLR.
    """
    return _adam_family(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, "amsgrad")


def norm_constraint(tensor_var, max_norm, norm_axes=None, epsilon=1e-7):
    """Rescale slices of a tensor so that their norms do not exceed ``max_norm``.

    Parameters
    ----------
    tensor_var : TensorVariable
        Typically a weight update, for example ``updates[W]``.
    max_norm : float or symbolic scalar
        Largest norm allowed.
    norm_axes : sequence of int, optional
        Axes to compute the norm over. By default ``(0,)`` for 2-D tensors,
        which for a :class:`DenseLayer` weight of shape
        ``(num_inputs, num_units)`` limits the incoming weights of each unit,
        and all axes but the first for 3-, 4- and 5-D tensors.
    epsilon : float
        Keeps the division finite.

    Returns
    -------
    TensorVariable
        ``tensor_var * clip(norms, 0, max_norm) / (epsilon + norms)``, of the
        same dtype as ``tensor_var``.

    Raises
    ------
    ValueError
        If ``norm_axes`` is missing for a tensor of another rank, or names an
        axis out of range.

    Examples
    --------
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 4))
    >>> layer = dl.DenseLayer(l_in, 3, W=np.full((4, 3), 2.0, dtype="float32"))
    >>> loss = dl.get_output(layer, np.ones((1, 4), "float32")).sum()
    >>> updates = sgd(loss, [layer.W], learning_rate=0.01)
    >>> updates[layer.W] = norm_constraint(updates[layer.W], max_norm=3.0)
    >>> norms = np.sqrt((updates[layer.W].eval() ** 2).sum(axis=0))
    >>> bool(np.allclose(norms, 3.0))
    True
    """
    tensor_var = pt.as_tensor_variable(tensor_var)
    ndim = tensor_var.ndim
    if norm_axes is not None:
        sum_over = tuple(int(axis) for axis in norm_axes)
        for axis in sum_over:
            if not -ndim <= axis < ndim:
                raise ValueError(f"norm_axes {tuple(norm_axes)} out of range for a {ndim}-D tensor")
    elif ndim == 2:
        sum_over = (0,)
    elif ndim in (3, 4, 5):
        sum_over = tuple(range(1, ndim))
    else:
        raise ValueError(f"Unsupported tensor dimensionality {ndim}; specify norm_axes")
    dtype = tensor_var.dtype
    norms = pt.sqrt(pt.sum(pt.sqr(tensor_var), axis=sum_over, keepdims=True))
    zero = pt.constant(np.asarray(0, dtype=dtype))
    target_norms = pt.clip(norms, zero, _hyper(max_norm, dtype, "max_norm"))
    return tensor_var * (target_norms / (_hyper(epsilon, dtype, "epsilon") + norms))


def total_norm_constraint(tensor_vars, max_norm, epsilon=1e-7, return_norm=False):
    """Rescale a list of tensors so that their joint norm does not exceed ``max_norm``.

    Typically applied to the gradients before an update rule (gradient
    clipping)::

        grads = pytensor.grad(loss, params)
        grads = total_norm_constraint(grads, max_norm=10.0)
        updates = adam(grads, params)

    Parameters
    ----------
    tensor_vars : list of TensorVariable
    max_norm : float or symbolic scalar
    epsilon : float
        Keeps the division finite.
    return_norm : bool
        Also return the joint norm before rescaling.

    Returns
    -------
    list of TensorVariable
        Each tensor times ``clip(norm, 0, max_norm) / (epsilon + norm)``,
        in its own dtype.
    norm : scalar TensorVariable
        Only with ``return_norm=True``: the joint L2 norm of the inputs.
    """
    tensor_vars = [pt.as_tensor_variable(t) for t in tensor_vars]
    if not tensor_vars:
        raise ValueError("total_norm_constraint needs at least one tensor")
    norm = pt.sqrt(sum(pt.sum(pt.sqr(t)) for t in tensor_vars))
    dtype = norm.dtype
    zero = pt.constant(np.asarray(0, dtype=dtype))
    target_norm = pt.clip(norm, zero, _hyper(max_norm, dtype, "max_norm"))
    multiplier = target_norm / (_hyper(epsilon, dtype, "epsilon") + norm)
    scaled = [t * _as_dtype(multiplier, t.dtype) for t in tensor_vars]
    if return_norm:
        return scaled, norm
    return scaled
