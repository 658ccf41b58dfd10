"""Nonlinearities (activation functions), with the names of ``lasagne.nonlinearities``.

Each is a function of a tensor, or an instance of a small class with its
settings (:class:`LeakyRectify`, :class:`ScaledTanH`, :class:`SELU`), as in
Lasagne. Constants are made in the input's float dtype, so a float32 graph
stays float32. :func:`get` and :func:`name_of` translate between
nonlinearities and JSON-serialisable descriptions so that a layer's
configuration can be stored in a checkpoint.

Examples
--------
>>> import numpy as np
>>> import pytensor.tensor as pt
>>> x = pt.vector("x")
>>> LeakyRectify(0.1)(x).eval({x: np.array([-2.0, 3.0])})
array([-0.2,  3. ])
>>> get(name_of(very_leaky_rectify)).leakiness == very_leaky_rectify.leakiness
True
"""
import numbers

import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad

__all__ = [
    "sigmoid", "softmax", "tanh", "ScaledTanH", "ScaledTanh", "rectify", "LeakyRectify",
    "leaky_rectify", "very_leaky_rectify", "elu", "SELU", "selu", "softplus", "linear",
    "identity", "get", "name_of",
]


def _constant(value, x):
    """Return ``value`` as a constant of ``x``'s float dtype (integer inputs: PyTensor's choice)."""
    if x.dtype.startswith("float"):
        return pt.constant(value, dtype=x.dtype)
    return pt.constant(value)


def sigmoid(x):
    """Logistic sigmoid, 1 / (1 + exp(-x))."""
    return pt.sigmoid(x)


def softmax(x):
    """Softmax over the last axis (the rows of a matrix, as Lasagne's)."""
    return pt.special.softmax(x, axis=-1)


def tanh(x):
    """Hyperbolic tangent."""
    return pt.tanh(x)


class ScaledTanH:
    """Scaled hyperbolic tangent, ``scale_out * tanh(scale_in * x)``.

    Parameters
    ----------
    scale_in : float
    scale_out : float

    Notes
    -----
    LeCun et al. (1998) recommend ``scale_in=2/3`` and ``scale_out=1.7159``,
    which keeps the variance of normalised inputs near 1.

    References
    ----------
    .. [1] LeCun, Bottou, Orr and Müller (1998): Efficient BackProp. Neural
       Networks: Tricks of the Trade.
    """

    def __init__(self, scale_in=1, scale_out=1):
        self.scale_in = scale_in
        self.scale_out = scale_out

    def __call__(self, x):
        """Apply to the tensor ``x``."""
        return pt.tanh(x * _constant(self.scale_in, x)) * _constant(self.scale_out, x)

    def __repr__(self):
        return f"ScaledTanH(scale_in={self.scale_in!r}, scale_out={self.scale_out!r})"


#: Lasagne's alternative capitalisation of :class:`ScaledTanH`.
ScaledTanh = ScaledTanH


def _positive(x):
    """Return the mask ``x > 0``, outside the gradient.

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
        Slope for negative inputs; 0 is :func:`rectify`.

    References
    ----------
    .. [1] Maas, Hannun and Ng (2013): Rectifier nonlinearities improve neural
       network acoustic models. ICML workshop.
    """

    def __init__(self, leakiness=0.01):
        self.leakiness = leakiness

    def __call__(self, x):
        """Apply to the tensor ``x``."""
        if self.leakiness == 0:
            return rectify(x)
        # A switch for the reason given in rectify's notes.
        return pt.switch(_positive(x), x, _constant(self.leakiness, x) * x)

    def __repr__(self):
        return f"LeakyRectify(leakiness={self.leakiness!r})"


#: :class:`LeakyRectify` with Lasagne's default leakiness, 0.01.
leaky_rectify = LeakyRectify(0.01)
#: :class:`LeakyRectify` with leakiness 1/3, as Lasagne's.
very_leaky_rectify = LeakyRectify(1.0 / 3)


def elu(x):
    """Exponential linear unit, x for x > 0 and ``exp(x) - 1`` otherwise.

    References
    ----------
    .. [1] Clevert et al. (2015): Fast and accurate deep network learning by
       exponential linear units (ELUs). arXiv:1511.07289.
    """
    return pt.switch(_positive(x), x, pt.expm1(x))


class SELU:
    """Scaled exponential linear unit, ``scale * (x if x > 0 else scale_neg * (exp(x) - 1))``.

    Parameters
    ----------
    scale : float
    scale_neg : float

    Notes
    -----
    :data:`selu` has the constants of the paper, which make a network of
    SELU layers with :class:`~dropout_layers.init.Normal` weights of variance
    ``1 / fan_in`` self-normalising.

    References
    ----------
    .. [1] Klambauer et al. (2017): Self-normalizing neural networks. NeurIPS.
    """

    def __init__(self, scale=1, scale_neg=1):
        self.scale = scale
        self.scale_neg = scale_neg

    def __call__(self, x):
        """Apply to the tensor ``x``."""
        # Both constants folded into each branch: one multiply per element.
        positive = _constant(self.scale, x) * x
        negative = _constant(self.scale * self.scale_neg, x) * pt.expm1(x)
        return pt.switch(_positive(x), positive, negative)

    def __repr__(self):
        return f"SELU(scale={self.scale!r}, scale_neg={self.scale_neg!r})"


#: :class:`SELU` with the constants of Klambauer et al. (2017).
selu = SELU(scale=1.0507009873554804934193349852946, scale_neg=1.6732632423543772848170429916717)


def softplus(x):
    """Softplus, ``log(1 + exp(x))``, computed without overflow."""
    return pt.softplus(x)


def linear(x):
    """Return ``x`` unchanged (the identity)."""
    return x


identity = linear

_BY_NAME = {
    "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "rectify": rectify,
    "elu": elu, "selu": selu, "softplus": softplus, "linear": linear, "identity": linear,
}
_CLASSES = {"leaky_rectify": LeakyRectify, "ScaledTanH": ScaledTanH, "SELU": SELU}


def name_of(fn):
    """Return a JSON-serialisable description of a nonlinearity.

    Returns a name such as ``'rectify'``; ``{'leaky_rectify': 0.1}`` for a
    :class:`LeakyRectify`; ``{'ScaledTanH': {'scale_in': a, 'scale_out': b}}``
    and ``{'SELU': {'scale': a, 'scale_neg': b}}`` for those classes.

    Raises
    ------
    ValueError
        For a callable that is not one of this module's.
    """
    if fn is None:
        return "linear"
    for name, known in _BY_NAME.items():
        if fn is known:
            return name
    if isinstance(fn, LeakyRectify):
        return {"leaky_rectify": float(fn.leakiness)}
    if isinstance(fn, ScaledTanH):
        return {"ScaledTanH": {"scale_in": float(fn.scale_in), "scale_out": float(fn.scale_out)}}
    if isinstance(fn, SELU):
        return {"SELU": {"scale": float(fn.scale), "scale_neg": float(fn.scale_neg)}}
    raise ValueError(
        f"nonlinearity {fn!r} is not one of dropout_layers.nonlinearities, so it cannot be "
        "stored in a layer config; use a built-in one or a custom layer"
    )


def get(spec):
    """Return the nonlinearity described by ``spec`` (see :func:`name_of`).

    Raises
    ------
    ValueError
        For an unknown description.
    """
    if callable(spec):
        return spec
    if isinstance(spec, str) and spec in _BY_NAME:
        return _BY_NAME[spec]
    if isinstance(spec, dict) and len(spec) == 1:
        (name, args), = spec.items()
        if name == "leaky_rectify" and isinstance(args, numbers.Real):
            return LeakyRectify(args)
        if name in _CLASSES and isinstance(args, dict):
            try:
                return _CLASSES[name](**args)
            except TypeError:
                pass
    raise ValueError(
        f"unknown nonlinearity {spec!r}; known: {sorted(_BY_NAME)}, {{'leaky_rectify': a}}, "
        "{'ScaledTanH': {...}} or {'SELU': {...}}"
    )
