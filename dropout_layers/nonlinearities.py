"""Nonlinearities (activation functions) for use in layers.

Each is a plain function of a tensor, as in Lasagne. :func:`get` and
:func:`name_of` translate between functions and names so that a layer's
configuration can be stored as JSON.
"""
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad

__all__ = [
    "sigmoid", "tanh", "softmax", "rectify", "LeakyRectify", "leaky_rectify", "elu", "selu",
    "linear", "identity", "get", "name_of",
]


def sigmoid(x):
    """Logistic sigmoid, 1 / (1 + exp(-x))."""
    return pt.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    return pt.tanh(x)


def softmax(x):
    """Softmax over the last axis."""
    return pt.special.softmax(x, axis=-1)


def _positive(x):
    """The mask ``x > 0``, outside the gradient.

    A comparison has no gradient, but PyTensor still adds a zero of its
    global floatX (float64 unless set) for it, which upcasts a float32
    backward pass; cutting the condition out of the gradient avoids that.
    """
    return pt.gt(disconnected_grad(x), 0)


def rectify(x):
    """Rectified linear unit, max(0, x).

    Notes
    -----
    Written as a switch on ``x > 0`` rather than ``maximum(x, 0)``: the
    gradient of ``maximum`` compares the output with the input again in the
    backward pass, while the switch reuses one boolean mask: a training step
    of a 30-600-600-600-1 rectifier MLP ran 1.15x to 1.4x faster for it
    (``scripts/benchmark_dropout.py --variants none,none+maximum``). The
    gradient at exactly 0 is 0.
    """
    return pt.switch(_positive(x), x, pt.zeros((), dtype=x.dtype))


class LeakyRectify:
    """Leaky rectifier, x for x > 0 and ``leakiness * x`` otherwise.

    Parameters
    ----------
    leakiness : float
        Slope for negative inputs.
    """

    def __init__(self, leakiness=0.01):
        self.leakiness = leakiness

    def __call__(self, x):
        if self.leakiness == 0:
            return rectify(x)
        # A switch for the reason given in rectify's notes.
        return pt.switch(_positive(x), x, pt.constant(self.leakiness, dtype=x.dtype) * x)

    def __repr__(self):
        return f"LeakyRectify(leakiness={self.leakiness!r})"


leaky_rectify = LeakyRectify(0.01)


def elu(x):
    """Exponential linear unit.

    References
    ----------
    .. [1] Clevert et al. (2015): Fast and accurate deep network learning by
       exponential linear units (ELUs). arXiv:1511.07289.
    """
    return pt.switch(_positive(x), x, pt.expm1(x))


_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def selu(x):
    """Scaled exponential linear unit.

    References
    ----------
    .. [1] Klambauer et al. (2017): Self-normalizing neural networks. NeurIPS.
    """
    scale = pt.constant(_SELU_SCALE, dtype=x.dtype)
    alpha = pt.constant(_SELU_SCALE * _SELU_ALPHA, dtype=x.dtype)
    return pt.switch(_positive(x), scale * x, alpha * pt.expm1(x))


def linear(x):
    """The identity: returns ``x`` unchanged."""
    return x


identity = linear

_BY_NAME = {
    "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "rectify": rectify,
    "elu": elu, "selu": selu, "linear": linear, "identity": linear,
}


def name_of(fn):
    """Return a JSON-serialisable description of a nonlinearity.

    Returns a name such as ``'rectify'``, or ``{'leaky_rectify': 0.1}`` for a
    :class:`LeakyRectify`.
    """
    if fn is None:
        return "linear"
    if isinstance(fn, LeakyRectify):
        return {"leaky_rectify": float(fn.leakiness)}
    for name, known in _BY_NAME.items():
        if fn is known:
            return name
    raise ValueError(
        f"nonlinearity {fn!r} is not one of dropout_layers.nonlinearities, so it cannot be "
        "stored in a layer config; use a built-in one or a custom layer"
    )


def get(spec):
    """Return the nonlinearity described by ``spec`` (see :func:`name_of`)."""
    if callable(spec):
        return spec
    if isinstance(spec, dict) and set(spec) == {"leaky_rectify"}:
        return LeakyRectify(spec["leaky_rectify"])
    if isinstance(spec, str) and spec in _BY_NAME:
        return _BY_NAME[spec]
    raise ValueError(f"unknown nonlinearity {spec!r}; known: {sorted(_BY_NAME)} or {{'leaky_rectify': a}}")
