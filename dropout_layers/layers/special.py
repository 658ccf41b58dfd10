"""Layers of ``lasagne.layers.special``: nonlinearity, bias, scale, expression, inverse, rectifiers.

The spatial transformers (``TransformerLayer``, ``TPSTransformerLayer``)
live in :mod:`dropout_layers.layers.transform` and are re-exported here.

Examples
--------
>>> import numpy as np
>>> from dropout_layers.layers import InputLayer, DenseLayer, prelu
>>> layer = prelu(DenseLayer(InputLayer((None, 4)), num_units=3))
>>> layer.alpha.get_value()
array([0.25, 0.25, 0.25], dtype=float32)
"""
import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.graph.basic import Variable

from .. import init, nonlinearities
from ..config import get_floatX
from ..masks import uniform_noise
from ..utils import floatX, int_types
from .base import Layer, MergeLayer
from .registry import register_layer
from .stochastic import HasRNGStream
from .transform import TPSTransformerLayer, TransformerLayer

__all__ = [
    "NonlinearityLayer", "BiasLayer", "ScaleLayer", "standardize", "ExpressionLayer",
    "InverseLayer", "TransformerLayer", "TPSTransformerLayer", "ParametricRectifierLayer", "prelu",
    "RandomizedRectifierLayer", "rrelu",
]


def _b_from_config(config, key):
    """Undo ``"init"`` / None in a config: the default initializer, or no parameter."""
    config = dict(config)
    if config.get(key) == "init":
        del config[key]
    return config


@register_layer
class NonlinearityLayer(Layer):
    """Apply a nonlinearity to the input.

    Parameters
    ----------
    incoming : Layer or tuple
    nonlinearity : callable or None
        Default :func:`~dropout_layers.nonlinearities.rectify`; None is the
        identity.
    name : str, optional

    Examples
    --------
    >>> from dropout_layers.nonlinearities import tanh
    >>> NonlinearityLayer((None, 5), nonlinearity=tanh).output_shape
    (None, 5)
    """

    def __init__(self, incoming, nonlinearity=nonlinearities.rectify, name=None):
        super().__init__(incoming, name=name)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        return self.nonlinearity(input)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"nonlinearity": nonlinearities.name_of(self.nonlinearity), "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        config = dict(config)
        config["nonlinearity"] = nonlinearities.get(config["nonlinearity"])
        return cls(incoming, **config)


def _shared_axes(shared_axes, ndim, allow_all=False):
    """Lasagne's ``shared_axes``: 'auto' is every axis but the second; 'all' every axis."""
    if isinstance(shared_axes, str) and shared_axes == "auto":
        return (0,) + tuple(range(2, ndim))
    if allow_all and isinstance(shared_axes, str) and shared_axes == "all":
        return tuple(range(ndim))
    if isinstance(shared_axes, int_types):
        return (int(shared_axes),)
    return tuple(int(a) for a in shared_axes)


def _param_shape(layer, shared_axes, what):
    shape = [size for axis, size in enumerate(layer.input_shape) if axis not in shared_axes]
    if any(size is None for size in shape):
        raise ValueError(f"{type(layer).__name__} needs specified input sizes for all axes that "
                         f"{what} are not shared over.")
    return shape


def _broadcast_pattern(param, shared_axes, ndim):
    """Dimshuffle pattern that spreads a parameter over the shared axes of an ``ndim`` input."""
    axes = iter(range(param.ndim))
    return ["x" if axis in shared_axes else next(axes) for axis in range(ndim)]


class _SharedParamLayer(Layer):
    """A layer with one parameter shared over some axes of its input, and an optional frozen tag."""

    def _tags_config(self, param):
        return {} if param is None or "trainable" in self.params[param] else {"trainable": False}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        config = dict(config)
        trainable = config.pop("trainable", True)
        layer = cls(incoming, **_b_from_config(config, cls._param_key))
        param = getattr(layer, cls._param_key)
        if not trainable and param is not None:
            layer.params[param].discard("trainable")
        return layer


@register_layer
class BiasLayer(_SharedParamLayer):
    """Add a (trainable) bias, shared over some axes.

    Parameters
    ----------
    incoming : Layer or tuple
    b : initializer, array, shared variable, expression or None
        The bias, with the input's shape minus the shared axes; None adds
        nothing. Not regularizable.
    shared_axes : 'auto', int or tuple of int
        'auto' shares over every axis but the second (the batch, and the
        spatial axes of feature maps).
    name : str, optional

    Examples
    --------
    >>> BiasLayer((20, 30, 40, 50), shared_axes=(0, 2)).b.get_value().shape
    (30, 50)
    """

    _param_key = "b"

    def __init__(self, incoming, b=init.Constant(0), shared_axes="auto", name=None):
        super().__init__(incoming, name=name)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape))
        if b is None:
            self.b = None
        else:
            shape = _param_shape(self, self.shared_axes, "biases")
            self.b = self.add_param(b, shape, "b", regularizable=False)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        if self.b is None:
            return input
        input = pt.as_tensor_variable(input)
        return input + self.b.dimshuffle(_broadcast_pattern(self.b, self.shared_axes, input.ndim))

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"b": None if self.b is None else "init", "shared_axes": list(self.shared_axes),
                "name": self.name, **self._tags_config(self.b)}


@register_layer
class ScaleLayer(_SharedParamLayer):
    """Multiply by (trainable) scales, shared over some axes.

    Parameters
    ----------
    incoming : Layer or tuple
    scales : initializer, array, shared variable or expression
        With the input's shape minus the shared axes; not regularizable.
    shared_axes : 'auto', int or tuple of int
        As for :class:`BiasLayer`.
    name : str, optional

    Examples
    --------
    >>> ScaleLayer((20, 30, 40, 50), shared_axes=(0, 2)).scales.get_value().shape
    (30, 50)
    """

    _param_key = "scales"

    def __init__(self, incoming, scales=init.Constant(1), shared_axes="auto", name=None):
        super().__init__(incoming, name=name)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape))
        shape = _param_shape(self, self.shared_axes, "scales")
        self.scales = self.add_param(scales, shape, "scales", regularizable=False)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        pattern = _broadcast_pattern(self.scales, self.shared_axes, input.ndim)
        return input * self.scales.dimshuffle(pattern)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"scales": "init", "shared_axes": list(self.shared_axes), "name": self.name,
                **self._tags_config(self.scales)}


def standardize(layer, offset, scale, shared_axes="auto"):
    """Subtract a fixed ``offset`` and divide by a fixed ``scale`` (a frozen bias and scale layer).

    Parameters
    ----------
    layer : Layer or tuple
    offset, scale : array or shared variable
        With the input's shape minus the shared axes; neither is trainable.
    shared_axes : 'auto', int or tuple of int
        As for :class:`BiasLayer`.

    Returns
    -------
    ScaleLayer
        On top of a :class:`BiasLayer`.

    Examples
    --------
    >>> import numpy as np
    >>> data = np.random.default_rng(0).standard_normal((100, 20))
    >>> l_std = standardize((None, 20), data.mean(axis=0), data.std(axis=0), shared_axes=0)
    >>> type(l_std).__name__, type(l_std.input_layer).__name__
    ('ScaleLayer', 'BiasLayer')
    """
    layer = BiasLayer(layer, -offset, shared_axes)
    layer.params[layer.b].discard("trainable")
    layer = ScaleLayer(layer, floatX(1.0) / scale, shared_axes)
    layer.params[layer.scales].discard("trainable")
    return layer


def _evaluated_shape(function, input_shape):
    """Evaluate ``function`` on zeros for its output shape; unknown sizes stand in as 0."""
    zeros = pt.alloc(np.array(0, dtype=get_floatX()), *(0 if s is None else s for s in input_shape))
    mode = Mode(linker="py", optimizer="fast_compile")
    shape = pytensor.function([], function(zeros).shape, mode=mode)()
    return tuple(int(s) if s else None for s in shape)


@register_layer
class ExpressionLayer(Layer):
    """Apply a function of the input, for small custom transformations.

    Parameters
    ----------
    incoming : Layer or tuple
    function : callable
        Maps the input expression to the output expression.
    output_shape : None, tuple, callable or 'auto'
        None: the input shape; a tuple: fixed; a callable: maps the input
        shape to the output shape; 'auto': inferred from the expression
        (statically where PyTensor can, else by evaluating it on zeros).
    name : str, optional

    Notes
    -----
    The function is Python code, which a checkpoint cannot hold: a network
    with an :class:`ExpressionLayer` cannot be saved with
    :func:`~dropout_layers.checkpoint.save_checkpoint`; write a custom layer
    for that.

    Examples
    --------
    >>> ExpressionLayer((32, 100, 20), lambda X: X.mean(-1), output_shape="auto").output_shape
    (32, 100)
    """

    def __init__(self, incoming, function, output_shape=None, name=None):
        super().__init__(incoming, name=name)
        self.function = function
        self._output_shape = None
        if isinstance(output_shape, str) and output_shape == "auto":
            self._output_shape = "auto"
        elif callable(output_shape):
            self.get_output_shape_for = output_shape
        elif output_shape is not None:
            self._output_shape = tuple(output_shape)
        self._auto_shapes = {}

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        if self._output_shape is None:
            return input_shape
        if self._output_shape != "auto":
            return self._output_shape
        input_shape = tuple(input_shape)
        if input_shape not in self._auto_shapes:
            probe = pt.tensor(dtype=get_floatX(), shape=input_shape)
            static = self.function(probe).type.shape
            if any(s is None for s in static) and all(s is not None for s in input_shape):
                static = _evaluated_shape(self.function, input_shape)
            self._auto_shapes[input_shape] = tuple(None if s is None else int(s) for s in static)
        return self._auto_shapes[input_shape]

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        return self.function(input)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        raise ValueError(
            f"layer {self.name!r} is an ExpressionLayer: its function is Python code, which a "
            "checkpoint cannot hold; write a registered custom layer instead"
        )


@register_layer
class InverseLayer(MergeLayer):
    """Apply the transpose of ``layer``'s derivative: backpropagate ``incoming`` through ``layer``.

    Gives a transposed dense layer for a :class:`DenseLayer`, a transposed
    convolution for a convolution layer, an unpooling for a max pooling
    layer (derivatives of a bias and nonlinearity included), for
    autoencoders with tied weights.

    Parameters
    ----------
    incoming : Layer or tuple
    layer : Layer
        The layer to invert; its input shape is the output shape.
    name : str, optional

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer, DenseLayer
    >>> l_in = InputLayer((10, 12))
    >>> l_hidden = DenseLayer(l_in, num_units=3)
    >>> InverseLayer(l_hidden, l_hidden).output_shape
    (10, 12)
    """

    def __init__(self, incoming, layer, name=None):
        super().__init__([incoming, layer, layer.input_layer], name=name)

    def get_output_shape_for(self, input_shapes):
        """Return the output shape for the given input shape."""
        return input_shapes[2]

    def get_output_for(self, inputs, **kwargs):
        """Return the output expression for the given input."""
        input, layer_out, layer_in = inputs
        return pytensor.grad(None, wrt=layer_in, known_grads={layer_out: input})

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        incoming, layer, layer_in = incoming
        if layer.input_layer is not layer_in:
            raise ValueError("InverseLayer: the third incoming must be the inverted layer's input")
        return cls(incoming, layer, **config)


@register_layer
class ParametricRectifierLayer(Layer):
    """Parametric rectifier ``max(x, 0) + alpha * min(x, 0)`` with learned ``alpha`` [1]_.

    Parameters
    ----------
    incoming : Layer or tuple
    alpha : initializer, array, shared variable or expression
        Default 0.25; shape of the input minus the shared axes; not
        regularizable.
    shared_axes : 'auto', 'all', int or tuple of int
        'auto' shares over every axis but the second, 'all' learns one
        scalar.
    name : str, optional

    Examples
    --------
    >>> ParametricRectifierLayer((20, 3, 28, 28), shared_axes=(0, 3)).alpha.get_value().shape
    (3, 28)

    References
    ----------
    .. [1] He et al. (2015): Delving deep into rectifiers: surpassing
       human-level performance on ImageNet classification. ICCV.
    """

    def __init__(self, incoming, alpha=init.Constant(0.25), shared_axes="auto", name=None):
        super().__init__(incoming, name=name)
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape), allow_all=True)
        shape = _param_shape(self, self.shared_axes, "alphas")
        self.alpha = self.add_param(alpha, shape, name="alpha", regularizable=False)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        alpha = self.alpha.dimshuffle(_broadcast_pattern(self.alpha, self.shared_axes, input.ndim))
        return pt.switch(input > 0, input, alpha * input)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"shared_axes": list(self.shared_axes), "name": self.name}


def _steal_nonlinearity(layer):
    if getattr(layer, "nonlinearity", None) is not None:
        layer.nonlinearity = nonlinearities.identity


def prelu(layer, **kwargs):
    """Replace ``layer``'s nonlinearity by a :class:`ParametricRectifierLayer` on top of it.

    ``layer`` is changed: its nonlinearity becomes the identity. Keyword
    arguments go to :class:`ParametricRectifierLayer`.

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer, DenseLayer
    >>> dense = DenseLayer(InputLayer((32, 100)), num_units=200)
    >>> layer = prelu(dense)
    >>> dense.nonlinearity is nonlinearities.identity
    True
    """
    _steal_nonlinearity(layer)
    return ParametricRectifierLayer(layer, **kwargs)


def _bound(value, name):
    if isinstance(value, Variable):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"RandomizedRectifierLayer: {name} must be a number or scalar variable, got {value!r}"
        )
    return float(value)


@register_layer
class RandomizedRectifierLayer(HasRNGStream, Layer):
    """Randomized leaky rectifier: slopes drawn from ``U(lower, upper)``, their mean at test time.

    ``f(x) = x`` for ``x > 0`` and ``a * x`` otherwise, with ``a`` drawn
    afresh on every call in training and ``(lower + upper) / 2`` with
    ``deterministic=True`` [1]_.

    Parameters
    ----------
    incoming : Layer or tuple
    lower, upper : float or scalar variable
        Range of the slopes, ``lower <= upper``.
    shared_axes : 'auto', 'all', int or tuple of int
        Axes along which one slope is shared; 'auto' every axis but the
        second, 'all' a single slope.
    seed : int, optional
        Seed of the layer's RNG stream; by default drawn from
        :func:`dropout_layers.random.get_rng`.
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> layer = RandomizedRectifierLayer((2, 3), lower=0.2, upper=0.4, seed=1)
    >>> layer.get_output_for(-np.ones((2, 3)), deterministic=True).eval()
    array([[-0.3, -0.3, -0.3],
           [-0.3, -0.3, -0.3]])

    References
    ----------
    .. [1] Xu et al. (2015): Empirical evaluation of rectified activations
       in convolutional network. arXiv:1505.00853.
    """

    def __init__(self, incoming, lower=0.3, upper=0.8, shared_axes="auto", seed=None, name=None):
        Layer.__init__(self, incoming, name=name)
        self.lower, self.upper = _bound(lower, "lower"), _bound(upper, "upper")
        symbolic = isinstance(self.lower, Variable) or isinstance(self.upper, Variable)
        if not symbolic and lower > upper:
            raise ValueError(
                "Upper bound for RandomizedRectifierLayer needs to be higher than lower bound."
            )
        self.shared_axes = _shared_axes(shared_axes, len(self.input_shape), allow_all=True)
        self._init_stream(seed, name)

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        fixed = not isinstance(self.lower, Variable) and not isinstance(self.upper, Variable) and (
            self.lower == self.upper)
        if deterministic or fixed:
            slope = pt.cast((self.upper + self.lower) / 2.0, input.dtype)
        else:
            shape = tuple(1 if a in self.shared_axes else input.shape[a] for a in range(input.ndim))
            _, u = uniform_noise(self.rng, shape, dtype=input.dtype)
            u = pt.specify_broadcastable(u, *self.shared_axes) if self.shared_axes else u
            lower = pt.cast(self.lower, input.dtype)
            slope = lower + (pt.cast(self.upper, input.dtype) - lower) * u
        return pt.switch(input > 0, input, slope * input)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        if isinstance(self.lower, Variable) or isinstance(self.upper, Variable):
            raise ValueError(
                f"layer {self.name!r}: symbolic slope bounds cannot be stored in a config"
            )
        return {"lower": self.lower, "upper": self.upper, "shared_axes": list(self.shared_axes),
                "seed": self.seed, "name": self.name}


def rrelu(layer, **kwargs):
    """Replace ``layer``'s nonlinearity by a :class:`RandomizedRectifierLayer` on top of it.

    ``layer`` is changed: its nonlinearity becomes the identity. Keyword
    arguments go to :class:`RandomizedRectifierLayer`.

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer, DenseLayer
    >>> layer = rrelu(DenseLayer(InputLayer((32, 100)), num_units=200))
    >>> (layer.lower, layer.upper)
    (0.3, 0.8)
    """
    _steal_nonlinearity(layer)
    return RandomizedRectifierLayer(layer, **kwargs)
