"""Fully connected layers: dense, rectifier-fused dense and network-in-network."""
import numpy as np
import pytensor.tensor as pt

from .. import init, nonlinearities
from .base import Layer
from .registry import register_layer

__all__ = ["DenseLayer", "ReLUDenseLayer", "NINLayer"]


def _flatten_trailing(input, num_leading_axes):
    if input.ndim > num_leading_axes + 1:
        return input.flatten(num_leading_axes + 1)
    return input


def _check_leading_axes(input_shape, num_leading_axes, name):
    rank = len(input_shape)
    if num_leading_axes >= rank:
        raise ValueError(
            f"layer {name!r}: num_leading_axes={num_leading_axes} for a {rank}-dimensional input, "
            "leaving no trailing axes for the dot product"
        )
    if num_leading_axes < -rank:
        raise ValueError(
            f"layer {name!r}: num_leading_axes={num_leading_axes} for a {rank}-dimensional input, "
            "requesting more trailing axes than there are input dimensions"
        )
    if num_leading_axes < 0:
        num_leading_axes += rank
    trailing = input_shape[num_leading_axes:]
    if any(s is None for s in trailing):
        raise ValueError(
            f"layer {name!r}: a DenseLayer requires a fixed input shape except for the leading "
            f"axes; got {tuple(input_shape)} with num_leading_axes={num_leading_axes}"
        )
    return num_leading_axes, int(np.prod(trailing))


def _check_num_units(num_units, name):
    if isinstance(num_units, bool) or int(num_units) != num_units or int(num_units) <= 0:
        raise ValueError(f"layer {name!r}: num_units must be a positive integer, got {num_units!r}")
    return int(num_units)


def _bias_config(b):
    return None if b is None else "init"


def _from_bias_config(config):
    config = dict(config)
    if config.get("b") == "init":
        del config["b"]
    return config


@register_layer
class DenseLayer(Layer):
    """A fully connected layer, ``nonlinearity(dot(input, W) + b)``.

    Parameters
    ----------
    incoming : Layer or tuple
    num_units : int
        Number of output units.
    W : initializer, array, shared variable or expression
        Weights of shape ``(num_inputs, num_units)``.
    b : initializer, array, shared variable, expression or None
        Biases of shape ``(num_units,)``; ``None`` for no bias. The bias is
        not tagged ``regularizable``.
    nonlinearity : callable or None
        ``None`` means linear (:func:`~dropout_layers.nonlinearities.identity`).
    num_leading_axes : int
        Number of axes kept as they are (1 for a batch of vectors); the
        remaining axes are flattened into the inputs. Negative values count
        from the end, as in Lasagne.
    name : str, optional

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer
    >>> DenseLayer(InputLayer((None, 3, 4)), num_units=5).output_shape
    (None, 5)
    """

    def __init__(self, incoming, num_units, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, num_leading_axes=1, name=None):
        super().__init__(incoming, name=name)
        self.num_units = _check_num_units(num_units, name)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_leading_axes, num_inputs = _check_leading_axes(
            self.input_shape, num_leading_axes, name
        )
        self.W = self.add_param(W, (num_inputs, self.num_units), name="W")
        self.b = None
        if b is not None:
            self.b = self.add_param(b, (self.num_units,), name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        """Return the leading axes of ``input_shape`` followed by ``num_units``."""
        return tuple(input_shape[: self.num_leading_axes]) + (self.num_units,)

    def affine(self, input):
        """Return ``dot(input, W) + b`` with trailing axes flattened."""
        input = _flatten_trailing(input, self.num_leading_axes)
        activation = pt.dot(input, self.W)
        if self.b is not None:
            activation = activation + self.b
        return activation

    def get_output_for(self, input, **kwargs):
        """Return ``nonlinearity(dot(input, W) + b)``."""
        return self.nonlinearity(self.affine(input))

    def get_config(self):
        """Return the settings; ``b`` is ``None`` or ``'init'`` (initialised afresh)."""
        return {
            "num_units": self.num_units,
            "nonlinearity": nonlinearities.name_of(self.nonlinearity),
            "num_leading_axes": self.num_leading_axes,
            "b": _bias_config(self.b),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config`."""
        config = _from_bias_config(config)
        config["nonlinearity"] = nonlinearities.get(config["nonlinearity"])
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
    W : initializer, array, shared variable or expression
        Default ``HeNormal(gain='relu')``.
    b : initializer, array, shared variable, expression or None
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
        super().__init__(incoming, num_units, W=W, b=b,
                         nonlinearity=nonlinearities.LeakyRectify(leakiness),
                         num_leading_axes=num_leading_axes, name=name)

    def get_config(self):
        """Return the settings, with ``leakiness`` in place of ``nonlinearity``."""
        config = super().get_config()
        del config["nonlinearity"]
        config["leakiness"] = self.leakiness
        return config

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config`."""
        return cls(incoming, **_from_bias_config(config))


@register_layer
class NINLayer(Layer):
    """Network-in-network: a dense layer applied at every location, over axis 1.

    For an input ``(batch, channels, *spatial)`` the output is
    ``(batch, num_units, *spatial)``; it is a 1x1 convolution.

    Parameters
    ----------
    incoming : Layer or tuple
        At least 2-D; axis 1 holds the input channels, which must be fixed.
    num_units : int
    untie_biases : bool
        One bias per unit and location (shape ``(num_units, *spatial)``,
        which must then be fixed) instead of one per unit.
    W : initializer, array, shared variable or expression
        Weights of shape ``(channels, num_units)``.
    b : initializer, array, shared variable, expression or None
    nonlinearity : callable or None
    name : str, optional

    References
    ----------
    .. [1] Lin, Chen and Yan (2013): Network in network. arXiv:1312.4400.

    Examples
    --------
    >>> NINLayer((None, 3, 8, 8), num_units=16).output_shape
    (None, 16, 8, 8)
    """

    def __init__(self, incoming, num_units, untie_biases=False, W=init.GlorotUniform(),
                 b=init.Constant(0.0), nonlinearity=nonlinearities.rectify, name=None):
        super().__init__(incoming, name=name)
        self.num_units = _check_num_units(num_units, name)
        self.untie_biases = bool(untie_biases)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        if len(self.input_shape) < 2 or self.input_shape[1] is None:
            raise ValueError(
                f"layer {name!r}: NINLayer needs an input of at least 2 dimensions with a fixed "
                f"number of channels on axis 1, got {self.input_shape}"
            )
        self.W = self.add_param(W, (self.input_shape[1], self.num_units), name="W")
        self.b = None
        if b is not None:
            shape = (self.num_units,) + (tuple(self.input_shape[2:]) if self.untie_biases else ())
            self.b = self.add_param(b, shape, name="b", regularizable=False)

    def get_output_shape_for(self, input_shape):
        """Return ``input_shape`` with ``num_units`` on axis 1."""
        return (input_shape[0], self.num_units) + tuple(input_shape[2:])

    def get_output_for(self, input, **kwargs):
        """Return ``nonlinearity`` of the per-location affine map."""
        # (channels, units) x (batch, channels, ...) -> (units, batch, ...)
        out = pt.tensordot(self.W, input, axes=[[0], [1]])
        out = out.dimshuffle(1, 0, *range(2, input.ndim))
        if self.b is not None:
            spatial = range(1, input.ndim - 1) if self.untie_biases else ["x"] * (input.ndim - 2)
            out = out + self.b.dimshuffle("x", 0, *spatial)
        return self.nonlinearity(out)

    def get_config(self):
        """Return the settings; ``b`` is ``None`` or ``'init'``."""
        return {
            "num_units": self.num_units,
            "untie_biases": self.untie_biases,
            "nonlinearity": nonlinearities.name_of(self.nonlinearity),
            "b": _bias_config(self.b),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config`."""
        config = _from_bias_config(config)
        config["nonlinearity"] = nonlinearities.get(config["nonlinearity"])
        return cls(incoming, **config)
