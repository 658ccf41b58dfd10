"""What every layer of the dropout family shares: an RNG stream, a rate, shared axes.

A stochastic layer owns one RNG stream (a shared ``numpy.random.Generator``,
see :mod:`dropout_layers.random`) and draws through :mod:`dropout_layers.masks`,
so that every compiled function that uses it draws fresh noise on every call
(the stream's default update) and checkpoints store and restore its state.

Rates such as ``p`` may be a float (NumPy scalars and 0-d arrays included)
or a scalar PyTensor variable: a shared variable that a schedule anneals
(see :class:`dropout_layers.training.DropoutSchedule`) or any expression. A
checkpoint stores a shared rate by its current value and rebuilds it as a
shared variable.
"""
import numbers

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable

from ..config import get_floatX
from ..random import shared_rng
from .base import Layer

__all__ = ["StochasticLayer", "HasRNGStream", "check_rate", "store_rate", "restore_rate",
           "normalise_axes", "noise_shape"]


def check_rate(value, layer_name, what="dropout probability p", upper=1.0):
    """Check a rate in ``[0, upper)``; return a float as ``float``, a scalar variable as it is."""
    if isinstance(value, Variable):
        if value.type.ndim != 0:
            raise TypeError(f"layer {layer_name!r}: {what} must be a scalar, got a "
                            f"{value.type.ndim}-d variable")
        if isinstance(value, SharedVariable):
            check_rate(value.get_value(), layer_name, what, upper)
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"layer {layer_name!r}: {what} must be a float in [0, {upper:g}), "
                        f"got {value!r}")
    value = float(value)
    if not 0.0 <= value < upper:
        raise ValueError(f"layer {layer_name!r}: {what} must be in [0, {upper:g}), got {value!r}")
    return value


def store_rate(config, key, value, layer_name):
    """Put a rate into a config dict: its value, and ``key + "_shared"`` for a shared one."""
    if isinstance(value, SharedVariable):
        config[key] = float(value.get_value())
        config[f"{key}_shared"] = True
    elif isinstance(value, Variable):
        raise ValueError(
            f"layer {layer_name!r}: {key} is a symbolic expression, which a config cannot hold; "
            "use a float or a shared variable"
        )
    else:
        config[key] = float(value)
    return config


def restore_rate(config, key):
    """Undo :func:`store_rate` in a copy of ``config``; a shared rate becomes a shared variable."""
    config = dict(config)
    if config.pop(f"{key}_shared", False):
        config[key] = pytensor.shared(np.asarray(config[key], dtype=get_floatX()), name=key)
    return config


def normalise_axes(axes, ndim, layer_name, what="shared_axes"):
    """Sorted non-negative axes, checked against the input rank."""
    axes = tuple(axes)
    if any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in axes):
        raise TypeError(f"layer {layer_name!r}: {what} must be integers, got {axes}")
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"layer {layer_name!r}: {what} {axes} out of range for input rank {ndim}")
    return tuple(sorted({int(a) % ndim for a in axes}))


def noise_shape(input, shared_axes=(), known_shape=None):
    """Return the shape of a noise draw for ``input``: size 1 along ``shared_axes``.

    Sizes known from the input's type or from ``known_shape`` (the layer's
    input shape, as Lasagne uses it) are given as ints, so that the draw does
    not ask PyTensor for the shape of the graph below (and JAX, which needs
    concrete shapes, sees constants).
    """
    if known_shape is None or len(known_shape) != input.ndim:
        known_shape = (None,) * input.ndim
    shape = []
    for axis in range(input.ndim):
        static = input.type.shape[axis]
        if static is None:
            static = known_shape[axis] if isinstance(known_shape[axis], int) else None
        if axis in shared_axes:
            shape.append(1)
        else:
            shape.append(static if static is not None else input.shape[axis])
    return tuple(shape)


class HasRNGStream:
    """Mixin giving a layer its own RNG stream, ``self.rng``, seeded from ``seed``."""

    def _init_stream(self, seed, name):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"layer {name!r}: seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._srng = shared_rng(self.seed, name=f"{name}.rng" if name else "dropout.rng")

    @property
    def rng(self):
        """The layer's RNG stream, a shared ``numpy.random.Generator``."""
        return self._srng


class StochasticLayer(HasRNGStream, Layer):
    """A layer with its own RNG stream.

    Parameters
    ----------
    incoming : Layer or tuple
    seed : int, optional
        Seed of the layer's RNG stream; by default drawn from
        :func:`dropout_layers.random.get_rng`, so one ``set_rng`` (or
        ``seeded``) makes a whole network reproducible.
    name : str, optional
    """

    def __init__(self, incoming, seed=None, name=None):
        super().__init__(incoming, name=name)
        self._init_stream(seed, name)

    def noise_shape(self, input, shared_axes=()):
        """Return the shape of this layer's noise for ``input`` (see :func:`noise_shape`)."""
        return noise_shape(input, shared_axes, self.input_shape)
