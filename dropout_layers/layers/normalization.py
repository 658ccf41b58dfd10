"""Normalization layers, with the names and semantics of ``lasagne.layers.normalization``.

:class:`BatchNormLayer` normalises with the batch statistics in training and
with running averages at test time; the running averages learn during
training as Lasagne's do: the training expression carries their update as
the ``default_update`` of aliases of the stored statistics, which every
:func:`pytensor.function` compiled from it applies, with or without other
updates.

Examples
--------
>>> import numpy as np
>>> import pytensor
>>> from dropout_layers.layers import InputLayer, DenseLayer, batch_norm, get_output
>>> l_in = InputLayer((None, 3))
>>> l_bn = batch_norm(DenseLayer(l_in, num_units=2))
>>> [type(layer).__name__ for layer in (l_bn, l_bn.input_layer)]
['NonlinearityLayer', 'BatchNormLayer']
>>> train = pytensor.function([l_in.input_var], get_output(l_bn))
>>> _ = train(np.ones((4, 3), dtype="float32"))
>>> bool(l_bn.input_layer.mean.get_value().any())  # running mean moved toward the batch mean
True
"""
import warnings

import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable

from .. import init, nonlinearities
from ..utils import int_types
from .base import Layer
from .registry import register_layer
from .special import BiasLayer, NonlinearityLayer, ScaleLayer

__all__ = ["LocalResponseNormalization2DLayer", "BatchNormLayer", "batch_norm",
           "StandardizationLayer", "instance_norm", "layer_norm"]


@register_layer
class LocalResponseNormalization2DLayer(Layer):
    """Cross-channel local response normalisation of ``(batch, channels, rows, columns)`` maps.

    Each value is divided by ``(k + alpha * s) ** beta``, where ``s`` sums the
    squares of the same position over the ``n`` neighbouring channels
    (fewer at the first and last channels).

    Parameters
    ----------
    incoming : Layer or tuple
    alpha, k, beta : float
    n : int
        Odd number of channels in a neighbourhood.
    name : str, optional

    Notes
    -----
    The neighbourhood sums are one product with a banded 0/1 channel
    matrix, so the layer needs a known number of channels.

    Examples
    --------
    >>> LocalResponseNormalization2DLayer((None, 16, 8, 8)).output_shape
    (None, 16, 8, 8)

    References
    ----------
    .. [1] Krizhevsky, Sutskever and Hinton (2012): ImageNet classification
       with deep convolutional neural networks. NIPS.
    """

    def __init__(self, incoming, alpha=1e-4, k=2, beta=0.75, n=5, name=None):
        super().__init__(incoming, name=name)
        if n % 2 == 0:
            raise NotImplementedError("Only works with odd n")
        self.alpha, self.k, self.beta, self.n = alpha, k, beta, n

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        return input_shape

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        channels = input.shape[1] if self.input_shape[1] is None else self.input_shape[1]
        positions = pt.arange(channels)
        band = pt.le(abs(positions.dimshuffle(0, "x") - positions.dimshuffle("x", 0)), self.n // 2)
        sums = pt.tensordot(pt.cast(band, input.dtype), pt.sqr(input), axes=[[1], [1]])
        sums = sums.dimshuffle(1, 0, 2, 3)
        k, alpha = (pt.constant(v, dtype=input.dtype) for v in (self.k, self.alpha))
        scale = k + alpha * sums
        return input / scale ** pt.constant(self.beta, dtype=input.dtype)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"alpha": float(self.alpha), "k": float(self.k), "beta": float(self.beta),
                "n": int(self.n), "name": self.name}


def _normalized_axes(axes, ndim):
    if isinstance(axes, str) and axes == "auto":
        return (0,) + tuple(range(2, ndim))
    if isinstance(axes, int_types):
        return (int(axes),)
    return tuple(int(a) for a in axes)


def _with_default_update(stat, update):
    """Alias the shared ``stat`` (same storage), with ``update(alias)`` as default update.

    The alias has the parameter's exact static shape, and the update is held
    to it, because :func:`pytensor.function` wants the types of a shared
    variable and its update to be equal.
    """
    shape = stat.get_value(borrow=True).shape
    alias = type(stat)(type=pt.TensorType(stat.dtype, shape=shape), value=None, strict=None,
                       container=stat.container, name=stat.name)
    new_value = pt.specify_shape(pt.cast(update(alias), stat.dtype), shape)
    # PyTensor 3 deprecates setting a default update but still applies it in
    # every pytensor.function; it is the mechanism Lasagne's Theano used here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        alias.default_update = new_value
    return alias


@register_layer
class BatchNormLayer(Layer):
    """Batch normalisation [1]_: ``(x - mean) * inv_std * gamma + beta``.

    In training (``deterministic=False``) ``mean`` and ``inv_std`` are the
    current batch's statistics over ``axes``, and the stored averages move
    towards them by the fraction ``alpha``; with ``deterministic=True`` the
    stored averages are used and left alone. The layer stores
    ``inv_std = 1 / sqrt(var + epsilon)``, as Lasagne does.

    Parameters
    ----------
    incoming : Layer or tuple
    axes : 'auto', int or tuple of int
        Axes to normalise over; 'auto' is every axis but the second (the
        batch, and the spatial axes of feature maps).
    epsilon : float
        Added to the variance before the square root.
    alpha : float
        Weight of the current batch in the running averages.
    beta, gamma : initializer, array, shared variable, expression or None
        The learned shift (not regularizable) and scale, of the input's shape
        minus ``axes``; None fixes them at 0 and 1.
    mean, inv_std : initializer, array, shared variable or expression
        The running averages, tagged ``trainable=False``,
        ``regularizable=False`` and ``batch_norm_stat=True``.
    name : str, optional

    Notes
    -----
    ``batch_norm_use_averages`` and ``batch_norm_update_averages``, passed
    to :func:`~dropout_layers.layers.get_output`, override the choice that
    ``deterministic`` makes (use the averages; update them). Updating them
    needs shared variables for ``mean`` and ``inv_std``.

    Examples
    --------
    >>> layer = BatchNormLayer((None, 4, 5, 5))
    >>> [p.name for p in layer.get_params(batch_norm_stat=True)]
    ['mean', 'inv_std']

    References
    ----------
    .. [1] Ioffe and Szegedy (2015): Batch normalization: accelerating deep
       network training by reducing internal covariate shift. ICML.
    """

    def __init__(self, incoming, axes="auto", epsilon=1e-4, alpha=0.1, beta=init.Constant(0),
                 gamma=init.Constant(1), mean=init.Constant(0), inv_std=init.Constant(1),
                 name=None):
        super().__init__(incoming, name=name)
        self.axes = _normalized_axes(axes, len(self.input_shape))
        self.epsilon = epsilon
        self.alpha = alpha
        shape = [size for axis, size in enumerate(self.input_shape) if axis not in self.axes]
        if any(size is None for size in shape):
            raise ValueError(
                "BatchNormLayer needs specified input sizes for all axes not normalized over."
            )
        self.beta = self.gamma = None
        if beta is not None:
            self.beta = self.add_param(beta, shape, "beta", trainable=True, regularizable=False)
        if gamma is not None:
            self.gamma = self.add_param(gamma, shape, "gamma", trainable=True, regularizable=True)
        stat = {"trainable": False, "regularizable": False, "batch_norm_stat": True}
        self.mean = self.add_param(mean, shape, "mean", **stat)
        self.inv_std = self.add_param(inv_std, shape, "inv_std", **stat)

    def _running_averages(self, batch_mean, batch_inv_std):
        """Aliases of the stored averages that update themselves towards the batch statistics."""
        if not (isinstance(self.mean, SharedVariable) and isinstance(self.inv_std, SharedVariable)):
            raise ValueError(
                f"layer {self.name!r}: updating the running averages needs shared variables for "
                "mean and inv_std; pass batch_norm_update_averages=False"
            )
        alpha = self.alpha

        def towards(batch_value):
            return lambda stat: (1 - alpha) * stat + alpha * batch_value
        return (_with_default_update(self.mean, towards(batch_mean)),
                _with_default_update(self.inv_std, towards(batch_inv_std)))

    def get_output_for(self, input, deterministic=False, batch_norm_use_averages=None,
                       batch_norm_update_averages=None, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        batch_mean = input.mean(self.axes)
        epsilon = pt.constant(self.epsilon, dtype=input.dtype)
        batch_inv_std = pt.reciprocal(pt.sqrt(input.var(self.axes) + epsilon))
        use_averages = deterministic if batch_norm_use_averages is None else batch_norm_use_averages
        update_averages = batch_norm_update_averages
        if update_averages is None:
            update_averages = not deterministic
        mean, inv_std = (self.mean, self.inv_std) if use_averages else (batch_mean, batch_inv_std)
        if update_averages:
            running_mean, running_inv_std = self._running_averages(batch_mean, batch_inv_std)
            if use_averages:
                # Normalise with the aliases themselves: the update may overwrite
                # their storage in place, which PyTensor orders after every read
                # of the alias, but not after reads of the original variable.
                mean, inv_std = running_mean, running_inv_std
            else:
                # Zero times the aliases puts them into the graph, so that their
                # default updates are collected; the product is optimised away.
                mean = mean + 0 * running_mean
                inv_std = inv_std + 0 * running_inv_std
        param_axes = iter(range(input.ndim - len(self.axes)))
        pattern = ["x" if axis in self.axes else next(param_axes) for axis in range(input.ndim)]
        beta = 0 if self.beta is None else self.beta.dimshuffle(pattern)
        gamma = 1 if self.gamma is None else self.gamma.dimshuffle(pattern)
        return (input - mean.dimshuffle(pattern)) * (gamma * inv_std.dimshuffle(pattern)) + beta

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"axes": list(self.axes), "epsilon": float(self.epsilon),
                "alpha": float(self.alpha), "beta": None if self.beta is None else "init",
                "gamma": None if self.gamma is None else "init", "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        config = dict(config)
        for key in ("beta", "gamma"):
            if config.get(key) == "init":
                del config[key]
        return cls(incoming, **config)


def _strip(layer, suffix, kwargs):
    """Take ``layer``'s nonlinearity and bias away; return them and the name for the new layers."""
    nonlinearity = getattr(layer, "nonlinearity", None)
    if nonlinearity is not None:
        layer.nonlinearity = nonlinearities.identity
    if getattr(layer, "b", None) is not None:
        del layer.params[layer.b]
        layer.b = None
    name = kwargs.pop("name", None) or (getattr(layer, "name", None) and layer.name + suffix)
    return nonlinearity, name


def _suffixed(name, suffix):
    return name and name + suffix


def batch_norm(layer, **kwargs):
    """Insert batch normalisation before ``layer``'s nonlinearity.

    ``layer`` is changed: its nonlinearity becomes the identity and its bias
    is removed (the normalisation's ``beta`` replaces it). A
    :class:`BatchNormLayer` (named ``<layer name>_bn``) and, if there was a
    nonlinearity, a :class:`NonlinearityLayer` (``..._bn_nonlin``) go on top.

    Parameters
    ----------
    layer : Layer
    **kwargs
        For :class:`BatchNormLayer`; ``name`` names it instead.

    Returns
    -------
    BatchNormLayer or NonlinearityLayer

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer, DenseLayer, get_all_layers
    >>> from dropout_layers.nonlinearities import tanh
    >>> l2 = batch_norm(DenseLayer(InputLayer((64, 768)), num_units=500, nonlinearity=tanh))
    >>> [type(l).__name__ for l in get_all_layers(l2)]
    ['InputLayer', 'DenseLayer', 'BatchNormLayer', 'NonlinearityLayer']
    """
    nonlinearity, name = _strip(layer, "_bn", kwargs)
    layer = BatchNormLayer(layer, name=name, **kwargs)
    if nonlinearity is not None:
        layer = NonlinearityLayer(layer, nonlinearity, name=_suffixed(name, "_nonlin"))
    return layer


@register_layer
class StandardizationLayer(Layer):
    """Standardise each example to zero mean and unit variance over some axes (train and test).

    Parameters
    ----------
    incoming : Layer or tuple
    axes : 'auto', 'spatial', 'features', int or tuple of int
        'auto': the last axis of 2-D inputs, every axis after the second
        otherwise; 'spatial': every axis after the second; 'features': every
        axis after the first.
    epsilon : float
        Added to the variance before the square root.
    name : str, optional

    Examples
    --------
    >>> StandardizationLayer((None, 3, 8, 8)).axes
    (2, 3)

    References
    ----------
    .. [1] Ulyanov, Vedaldi and Lempitsky (2016): Instance normalization: the
       missing ingredient for fast stylization. arXiv:1607.08022.
    .. [2] Ba, Kiros and Hinton (2016): Layer normalization. arXiv:1607.06450.
    """

    def __init__(self, incoming, axes="auto", epsilon=1e-4, name=None):
        super().__init__(incoming, name=name)
        ndim = len(self.input_shape)
        if isinstance(axes, str):
            if axes not in ("auto", "spatial", "features"):
                raise ValueError(f"layer {name!r}: axes must be 'auto', 'spatial', 'features' or "
                                 f"ints, got {axes!r}")
            if axes == "auto":
                axes = (1,) if ndim == 2 else tuple(range(2, ndim))
            elif axes == "spatial":
                axes = tuple(range(2, ndim))
            else:
                axes = tuple(range(1, ndim))
        self.axes = _normalized_axes(axes, ndim)
        self.epsilon = epsilon

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        mean = input.mean(self.axes, keepdims=True)
        epsilon = pt.constant(self.epsilon, dtype=input.dtype)
        std = pt.sqrt(input.var(self.axes, keepdims=True) + epsilon)
        return (input - mean) / std

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"axes": list(self.axes), "epsilon": float(self.epsilon), "name": self.name}


def instance_norm(layer, learn_scale=True, learn_bias=True, **kwargs):
    """Insert instance normalisation (per example and channel) before the nonlinearity.

    Like :func:`batch_norm`, ``layer`` loses its nonlinearity and bias; a
    :class:`StandardizationLayer` over the spatial axes (``<name>_in``), an
    optional :class:`ScaleLayer` and :class:`BiasLayer` per channel
    (``_in_scale``, ``_in_bias``) and the nonlinearity (``_in_nonlin``) go on
    top.

    Parameters
    ----------
    layer : Layer
    learn_scale, learn_bias : bool
    **kwargs
        For :class:`StandardizationLayer`.

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer, Conv2DLayer, get_all_layers
    >>> l2 = instance_norm(Conv2DLayer(InputLayer((10, 3, 28, 28)), num_filters=4, filter_size=3))
    >>> [type(l).__name__ for l in get_all_layers(l2)][2:]
    ['StandardizationLayer', 'ScaleLayer', 'BiasLayer', 'NonlinearityLayer']
    """
    nonlinearity, name = _strip(layer, "_in", kwargs)
    layer = StandardizationLayer(layer, axes="spatial", name=name, **kwargs)
    if learn_scale:
        layer = ScaleLayer(layer, shared_axes="auto", name=_suffixed(name, "_scale"))
    if learn_bias:
        layer = BiasLayer(layer, shared_axes="auto", name=_suffixed(name, "_bias"))
    if nonlinearity is not None:
        layer = NonlinearityLayer(layer, nonlinearity, name=_suffixed(name, "_nonlin"))
    return layer


def layer_norm(layer, **kwargs):
    """Insert layer normalisation (per example, over all features) before the nonlinearity.

    Like :func:`instance_norm` with ``axes='features'`` and the names
    ``<name>_ln``, ``_ln_scale``, ``_ln_bias``, ``_ln_nonlin``; the scale and
    bias are always learned.

    Examples
    --------
    >>> from dropout_layers.layers import InputLayer, DenseLayer, get_all_layers
    >>> l2 = layer_norm(DenseLayer(InputLayer((10, 28)), num_units=64))
    >>> [type(l).__name__ for l in get_all_layers(l2)][2:]
    ['StandardizationLayer', 'ScaleLayer', 'BiasLayer', 'NonlinearityLayer']
    """
    nonlinearity, name = _strip(layer, "_ln", kwargs)
    layer = StandardizationLayer(layer, axes="features", name=name, **kwargs)
    layer = ScaleLayer(layer, shared_axes="auto", name=_suffixed(name, "_scale"))
    layer = BiasLayer(layer, shared_axes="auto", name=_suffixed(name, "_bias"))
    if nonlinearity is not None:
        layer = NonlinearityLayer(layer, nonlinearity, name=_suffixed(name, "_nonlin"))
    return layer
