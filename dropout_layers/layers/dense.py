"""Fully connected layers."""
import numpy as np
import pytensor.tensor as pt

from .. import init, nonlinearities
from .base import Layer
from .registry import register_layer

__all__ = ["DenseLayer", "ReLUDenseLayer"]


def _flatten_trailing(input, num_leading_axes):
    if input.ndim > num_leading_axes + 1:
        return input.flatten(num_leading_axes + 1)
    return input


def _check_leading_axes(input_shape, num_leading_axes, name):
    if num_leading_axes >= len(input_shape):
        raise ValueError(
            f"layer {name!r}: num_leading_axes={num_leading_axes} leaves no axis of the input shape "
            f"{input_shape} to connect"
        )
    if num_leading_axes < -len(input_shape):
        raise ValueError(f"layer {name!r}: num_leading_axes={num_leading_axes} exceeds the input rank {len(input_shape)}")
    if num_leading_axes < 0:
        num_leading_axes += len(input_shape)
    num_inputs = input_shape[num_leading_axes:]
    if any(s is None for s in num_inputs):
        raise ValueError(
            f"layer {name!r}: the trailing input dimensions {num_inputs} must be fixed, not None"
        )
    return num_leading_axes, int(np.prod(num_inputs))


@register_layer
class DenseLayer(Layer):
    """A fully connected layer, ``nonlinearity(dot(input, W) + b)``.

    Parameters
    ----------
    incoming : Layer or tuple
    num_units : int
        Number of output units.
    W : initializer, array or shared variable
        Weights of shape ``(num_inputs, num_units)``.
    b : initializer, array, shared variable or None
        Biases of shape ``(num_units,)``; ``None`` for no bias. The bias is
        not tagged ``regularizable``.
    nonlinearity : callable or None
        ``None`` means linear.
    num_leading_axes : int
        Number of axes kept as they are (1 for a batch of vectors); the
        remaining axes are flattened into the inputs.
    name : str, optional
    """

    def __init__(self, incoming, num_units, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, num_leading_axes=1, name=None):
        super().__init__(incoming, name=name)
        if int(num_units) <= 0 or int(num_units) != num_units:
            raise ValueError(f"layer {name!r}: num_units must be a positive integer, got {num_units!r}")
        self.num_units = int(num_units)
        self.nonlinearity = nonlinearities.linear if nonlinearity is None else nonlinearity
        self.num_leading_axes, num_inputs = _check_leading_axes(self.input_shape, num_leading_axes, name)
        self.W = self.add_param(W, (num_inputs, self.num_units), name="W")
        self.b = None if b is None else self.add_param(b, (self.num_units,), name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        return tuple(input_shape[: self.num_leading_axes]) + (self.num_units,)

    def affine(self, input):
        """Return ``dot(input, W) + b`` with trailing axes flattened."""
        input = _flatten_trailing(input, self.num_leading_axes)
        activation = pt.dot(input, self.W)
        if self.b is not None:
            activation = activation + self.b
        return activation

    def get_output_for(self, input, deterministic=False, **kwargs):
        return self.nonlinearity(self.affine(input))

    def get_config(self):
        return {
            "num_units": self.num_units,
            "nonlinearity": nonlinearities.name_of(self.nonlinearity),
            "num_leading_axes": self.num_leading_axes,
            "b": None if self.b is None else "init",
            "name": self.name,
        }

    @classmethod
    def from_config(cls, incoming, config):
        config = dict(config)
        config["nonlinearity"] = nonlinearities.get(config["nonlinearity"])
        if config.get("b") == "init":
            del config["b"]
        return cls(incoming, **config)


@register_layer
class ReLUDenseLayer(DenseLayer):
    """A fully connected layer fused with a (leaky) rectifier.

    Computes ``max(dot(input, W) + b, leakiness * (dot(input, W) + b))``.
    He initialisation with the rectifier gain is the default, which keeps
    the activations' variance steady through deep rectifier stacks.

    Parameters
    ----------
    incoming : Layer or tuple
    num_units : int
    W : initializer, array or shared variable
        Default ``HeNormal(gain='relu')``.
    b : initializer, array, shared variable or None
        Default zeros; tagged ``regularizable=False``.
    leakiness : float
        Slope for negative activations, in [0, 1); 0 is a plain rectifier.
    num_leading_axes : int
    name : str, optional

    References
    ----------
    .. [1] Nair and Hinton (2010): Rectified linear units improve restricted
       Boltzmann machines. ICML.
    .. [2] He et al. (2015): Delving deep into rectifiers. ICCV.
    """

    def __init__(self, incoming, num_units, W=init.HeNormal(gain="relu"), b=init.Constant(0.0),
                 leakiness=0.0, num_leading_axes=1, name=None):
        leakiness = float(leakiness)
        if not 0.0 <= leakiness < 1.0:
            raise ValueError(f"layer {name!r}: leakiness must be in [0, 1), got {leakiness}")
        self.leakiness = leakiness
        super().__init__(incoming, num_units, W=W, b=b, nonlinearity=nonlinearities.LeakyRectify(leakiness),
                         num_leading_axes=num_leading_axes, name=name)

    def get_config(self):
        config = super().get_config()
        del config["nonlinearity"]
        config["leakiness"] = self.leakiness
        return config

    @classmethod
    def from_config(cls, incoming, config):
        config = dict(config)
        if config.get("b") == "init":
            del config["b"]
        return cls(incoming, **config)
