"""Pooling and upscaling layers, with the names, arguments and defaults of ``lasagne.layers.pool``.

PyTensor 3 has no pooling op; the pooling here gathers each window's
elements (see :mod:`dropout_layers.layers.windows`) and reduces over them,
so the gradient is PyTensor's own (a max passes it to every element equal to
the maximum, as Theano's pooling did) and it runs under the Numba linker.

Examples
--------
>>> import numpy as np
>>> from dropout_layers.layers import InputLayer, MaxPool2DLayer, get_output
>>> l_in = InputLayer((None, 1, 4, 4))
>>> l_pool = MaxPool2DLayer(l_in, pool_size=2)
>>> l_pool.output_shape
(None, 1, 2, 2)
>>> x = np.arange(16, dtype="float32").reshape(1, 1, 4, 4)
>>> get_output(l_pool).eval({l_in.input_var: x})[0, 0]
array([[ 5.,  7.],
       [13., 15.]], dtype=float32)
"""
import pytensor.tensor as pt

from ..utils import as_tuple, int_types
from .base import Layer
from .registry import register_layer
from .upscale import Upscale1DLayer, Upscale2DLayer, Upscale3DLayer
from .windows import POOL_MODES, pool, spatial_sizes

__all__ = [
    "pool_output_length", "pool_2d", "pool_3d", "Pool1DLayer", "Pool2DLayer", "Pool3DLayer",
    "MaxPool1DLayer", "MaxPool2DLayer", "MaxPool3DLayer", "Upscale1DLayer", "Upscale2DLayer",
    "Upscale3DLayer", "FeaturePoolLayer", "FeatureWTALayer", "GlobalPoolLayer",
    "pool_2d_nxn_regions", "SpatialPyramidPoolingLayer",
]

#: Reductions a config can name, for ``pool_function`` arguments.
_POOL_FUNCTIONS = {"max": pt.max, "min": pt.min, "mean": pt.mean, "sum": pt.sum}


def _pool_function_name(function, layer):
    for name, known in _POOL_FUNCTIONS.items():
        if function is known:
            return name
    raise ValueError(
        f"layer {layer.name!r} pools with {function!r}, which a config cannot hold; use one of "
        f"{sorted(_POOL_FUNCTIONS)} (pytensor.tensor's reductions)"
    )


def pool_output_length(input_length, pool_size, stride, pad, ignore_border):
    """Return the number of pooling regions along one axis.

    Parameters
    ----------
    input_length, pool_size : int or None
    stride, pad : int
    ignore_border : bool
        True counts the whole regions of the padded axis; False appends one
        partial region when input elements would be left out (``pad`` must
        then be 0).

    Returns
    -------
    int or None
        None if ``input_length`` or ``pool_size`` is None.

    Examples
    --------
    >>> pool_output_length(5, 2, 2, 0, True), pool_output_length(5, 2, 2, 0, False)
    (2, 3)
    """
    if input_length is None or pool_size is None:
        return None
    if ignore_border:
        return (input_length + 2 * pad - pool_size + stride) // stride
    if pad != 0:
        raise ValueError(f"pooling with ignore_border=False needs pad=0, got pad={pad}")
    if stride >= pool_size:
        return (input_length + stride - 1) // stride
    return max(0, (input_length - pool_size + stride - 1) // stride) + 1


def _as_window(value, n):
    """Return a window or stride as an ``n``-tuple (ints, or a symbolic vector's entries)."""
    if not isinstance(value, (tuple, list)) and getattr(value, "ndim", 0) == 1:
        return tuple(value[d] for d in range(n))
    return as_tuple(value, n)


def _pool_nd(input, ws, n, ignore_border, stride, pad, mode):
    input = pt.as_tensor_variable(input)
    ws = _as_window(ws, n)
    stride = ws if stride is None else _as_window(stride, n)
    pad = (0,) * n if pad is None else as_tuple(pad, n, int_types)
    return pool(input, spatial_sizes(input, (None,) * n), ws, stride, pad, ignore_border, mode)


def pool_2d(input, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    """Pool the two trailing axes of a 4-D tensor, with the arguments of Theano's ``pool_2d``.

    Parameters
    ----------
    input : TensorVariable
        ``(batch, channels, rows, columns)``.
    ws : int, pair of int, or symbolic integer vector
        The window.
    ignore_border : bool
        Default True (Theano's default was False).
    stride : pair or symbolic vector, optional
        Default ``ws``.
    pad : pair of int or None
    mode : {'max', 'average_inc_pad', 'average_exc_pad'}
    """
    return _pool_nd(input, ws, 2, ignore_border, stride, pad, mode)


def pool_3d(input, ws, ignore_border=True, stride=None, pad=(0, 0, 0), mode="max"):
    """Pool the three trailing axes of a 5-D tensor; arguments as :func:`pool_2d`."""
    return _pool_nd(input, ws, 3, ignore_border, stride, pad, mode)


class _PoolLayer(Layer):
    """Pooling over the ``n`` trailing axes of ``(batch, channels, *spatial)``."""

    def __init__(self, incoming, pool_size, stride, pad, ignore_border, mode, n, name):
        super().__init__(incoming, name=name)
        if len(self.input_shape) != n + 2:
            raise ValueError(
                f"Tried to create a {n}D pooling layer with input shape {self.input_shape}. "
                f"Expected {n + 2} input dimensions (batchsize, channels, {n} spatial dimensions)."
            )
        if mode not in POOL_MODES:
            raise ValueError(f"layer {name!r}: mode must be one of {POOL_MODES}, got {mode!r}")
        self.n = n
        self.pool_size = as_tuple(pool_size, n, int_types)
        self.stride = self.pool_size if stride is None else as_tuple(stride, n, int_types)
        self.pad = as_tuple(pad, n, int_types)
        self.ignore_border = bool(ignore_border)
        self.mode = mode
        if any(p and not ignore_border for p in self.pad):
            raise ValueError(
                f"layer {name!r}: padding needs ignore_border=True, got pad={self.pad}"
            )
        if any(p >= w for p, w in zip(self.pad, self.pool_size)):
            raise ValueError(
                f"layer {name!r}: pad {self.pad} must be smaller than pool_size {self.pool_size}"
            )

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        sizes = (pool_output_length(s, w, st, p, self.ignore_border) for s, w, st, p in
                 zip(input_shape[2:], self.pool_size, self.stride, self.pad))
        return tuple(input_shape[:2]) + tuple(sizes)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        sizes = spatial_sizes(input, self.input_shape[2:])
        return pool(input, sizes, self.pool_size, self.stride, self.pad, self.ignore_border,
                    self.mode)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"pool_size": list(self.pool_size), "stride": list(self.stride),
                "pad": list(self.pad), "ignore_border": self.ignore_border, "mode": self.mode,
                "name": self.name}


@register_layer
class Pool1DLayer(_PoolLayer):
    """1-D max or mean pooling over the trailing axis of ``(batch, channels, length)``.

    Parameters
    ----------
    incoming : Layer or tuple
    pool_size : int or 1-tuple
    stride : int, 1-tuple or None
        None is ``pool_size`` (non-overlapping regions).
    pad : int or 1-tuple
        Elements added on both sides, smaller than ``pool_size``; the value
        is below the input's minimum for max pooling, zero for mean pooling.
    ignore_border : bool
        Drop partial regions (needed for ``pad > 0``), or keep a last one.
    mode : {'max', 'average_inc_pad', 'average_exc_pad'}
        Max pooling, or the mean counting padded elements or not.
    name : str, optional

    Examples
    --------
    >>> Pool1DLayer((None, 3, 10), pool_size=3, stride=2, mode="average_exc_pad").output_shape
    (None, 3, 4)
    """

    def __init__(self, incoming, pool_size, stride=None, pad=0, ignore_border=True, mode="max",
                 name=None):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, 1, name)


@register_layer
class Pool2DLayer(_PoolLayer):
    """2-D max or mean pooling over the two trailing axes of ``(batch, channels, rows, columns)``.

    Parameters are those of :class:`Pool1DLayer`, with pairs.

    Examples
    --------
    >>> Pool2DLayer((None, 3, 9, 9), pool_size=3, stride=2, pad=1).output_shape
    (None, 3, 5, 5)
    """

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0), ignore_border=True, mode="max",
                 name=None):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, 2, name)


@register_layer
class Pool3DLayer(_PoolLayer):
    """3-D max or mean pooling over the three trailing axes; parameters as :class:`Pool2DLayer`.

    Examples
    --------
    >>> Pool3DLayer((None, 3, 8, 8, 8), pool_size=2).output_shape
    (None, 3, 4, 4, 4)
    """

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0, 0), ignore_border=True,
                 mode="max", name=None):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode, 3, name)


class _MaxPoolConfig:
    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        config = super().get_config()
        del config["mode"]
        return config


@register_layer
class MaxPool1DLayer(_MaxPoolConfig, Pool1DLayer):
    """1-D max pooling: :class:`Pool1DLayer` with ``mode='max'``.

    Examples
    --------
    >>> MaxPool1DLayer((None, 3, 11), pool_size=2, ignore_border=False).output_shape
    (None, 3, 6)
    """

    def __init__(self, incoming, pool_size, stride=None, pad=0, ignore_border=True, name=None):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", name=name)


@register_layer
class MaxPool2DLayer(_MaxPoolConfig, Pool2DLayer):
    """2-D max pooling: :class:`Pool2DLayer` with ``mode='max'``.

    Examples
    --------
    >>> MaxPool2DLayer((None, 3, 9, 9), pool_size=(2, 3)).output_shape
    (None, 3, 4, 3)
    """

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0), ignore_border=True, name=None):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", name=name)


@register_layer
class MaxPool3DLayer(_MaxPoolConfig, Pool3DLayer):
    """3-D max pooling: :class:`Pool3DLayer` with ``mode='max'``.

    Examples
    --------
    >>> MaxPool3DLayer((None, 3, 8, 8, 8), pool_size=2).output_shape
    (None, 3, 4, 4, 4)
    """

    def __init__(self, incoming, pool_size, stride=None, pad=(0, 0, 0), ignore_border=True,
                 name=None):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", name=name)


def _check_feature_groups(layer, pool_size, axis):
    maps = layer.input_shape[axis]
    if maps is None or maps % pool_size:
        raise ValueError(
            f"Number of input feature maps ({maps}) is not a multiple of the pool size "
            f"(pool_size={pool_size})"
        )


@register_layer
class FeaturePoolLayer(Layer):
    """Pool groups of ``pool_size`` consecutive features along ``axis`` (maxout by default).

    Parameters
    ----------
    incoming : Layer or tuple
    pool_size : int
        Features pooled together; must divide the size of ``axis``.
    axis : int
        1, the feature axis of dense and convolution layers, by default.
    pool_function : callable
        A reduction taking ``axis=``; ``pytensor.tensor.max`` (maxout [1]_)
        by default.
    name : str, optional

    Examples
    --------
    >>> FeaturePoolLayer((None, 6, 5), pool_size=3).output_shape
    (None, 2, 5)

    References
    ----------
    .. [1] Goodfellow et al. (2013): Maxout networks. ICML.
    """

    def __init__(self, incoming, pool_size, axis=1, pool_function=pt.max, name=None):
        super().__init__(incoming, name=name)
        self.pool_size = pool_size
        self.axis = axis
        self.pool_function = pool_function
        _check_feature_groups(self, pool_size, axis)

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        shape = list(input_shape)
        shape[self.axis] = None if shape[self.axis] is None else shape[self.axis] // self.pool_size
        return tuple(shape)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        axis = self.axis % input.ndim
        shape = tuple(input.shape)
        grouped = shape[:axis] + (shape[axis] // self.pool_size, self.pool_size) + shape[axis + 1:]
        return self.pool_function(input.reshape(grouped), axis=axis + 1)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"pool_size": int(self.pool_size), "axis": int(self.axis),
                "pool_function": _pool_function_name(self.pool_function, self), "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        config = dict(config)
        config["pool_function"] = _POOL_FUNCTIONS[config["pool_function"]]
        return cls(incoming, **config)


@register_layer
class FeatureWTALayer(Layer):
    """Winner take all: keep the largest of each group of ``pool_size`` features, zero the others.

    Parameters
    ----------
    incoming : Layer or tuple
    pool_size : int
        Features per group; must divide the size of ``axis``.
    axis : int
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> FeatureWTALayer((1, 4), pool_size=2).get_output_for(np.array([[1.0, 3.0, 4.0, 2.0]])).eval()
    array([[0., 3., 4., 0.]])

    References
    ----------
    .. [1] Srivastava et al. (2013): Compete to compute. NIPS.
    """

    def __init__(self, incoming, pool_size, axis=1, name=None):
        super().__init__(incoming, name=name)
        self.pool_size = pool_size
        self.axis = axis
        _check_feature_groups(self, pool_size, axis)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        axis = self.axis % input.ndim
        shape = tuple(input.shape)
        groups = (shape[axis] // self.pool_size, self.pool_size)
        grouped = input.reshape(shape[:axis] + groups + shape[axis + 1:])
        winners = pt.argmax(grouped, axis=axis + 1, keepdims=True)
        pattern = ["x"] * (axis + 1) + [0] + ["x"] * (input.ndim - axis - 1)
        positions = pt.arange(self.pool_size).dimshuffle(pattern)
        return input * pt.eq(winners, positions).reshape(input.shape).astype(input.dtype)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"pool_size": int(self.pool_size), "axis": int(self.axis), "name": self.name}


@register_layer
class GlobalPoolLayer(Layer):
    """Pool each feature map over all its positions: from ``(batch, channels, ...)`` to two axes.

    Parameters
    ----------
    incoming : Layer or tuple
    pool_function : callable
        A reduction taking ``axis=``; ``pytensor.tensor.mean`` by default.
    name : str, optional

    Examples
    --------
    >>> GlobalPoolLayer((None, 8, 5, 5)).output_shape
    (None, 8)
    """

    def __init__(self, incoming, pool_function=pt.mean, name=None):
        super().__init__(incoming, name=name)
        self.pool_function = pool_function

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        return tuple(input_shape[:2])

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        return self.pool_function(pt.as_tensor_variable(input).flatten(3), axis=2)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"pool_function": _pool_function_name(self.pool_function, self), "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        config = dict(config)
        config["pool_function"] = _POOL_FUNCTIONS[config["pool_function"]]
        return cls(incoming, **config)


def _check_spp_mode(mode):
    if mode not in POOL_MODES:
        raise ValueError(
            f"Mode must be either 'max', 'average_inc_pad' or 'average_exc_pad'. Got '{mode}'"
        )


def pool_2d_nxn_regions(inputs, output_size, mode="max"):
    """Pool a 4-D input into ``output_size x output_size`` regions of (nearly) equal size.

    Region ``(i, j)`` covers rows ``floor(i h / n)`` to ``ceil((i + 1) h / n)``
    and likewise for columns, as in appendix A of [1]_; the mean modes take
    the plain mean of each region.

    Returns
    -------
    list of TensorVariable
        ``output_size ** 2`` tensors ``(batch, channels, 1)``, rows first.

    References
    ----------
    .. [1] He et al. (2015): Spatial pyramid pooling in deep convolutional
       networks for visual recognition. arXiv:1406.4729.
    """
    _check_spp_mode(mode)
    reduce = pt.max if mode == "max" else pt.mean
    inputs = pt.as_tensor_variable(inputs)
    height, width = inputs.shape[2], inputs.shape[3]
    n = float(output_size)
    regions = []
    for row in range(output_size):
        for col in range(output_size):
            top, bottom = pt.floor(row / n * height), pt.ceil((row + 1) / n * height)
            left, right = pt.floor(col / n * width), pt.ceil((col + 1) / n * width)
            bounds = [pt.cast(v, "int64") for v in (top, bottom, left, right)]
            region = inputs[:, :, bounds[0]:bounds[1], bounds[2]:bounds[3]]
            regions.append(reduce(region, axis=(2, 3)).dimshuffle(0, 1, "x"))
    return regions


@register_layer
class SpatialPyramidPoolingLayer(Layer):
    """Pool a feature map into a fixed number of regions per level, whatever its size.

    Level ``n`` of the pyramid gives ``n * n`` values per channel; the
    output is ``(batch, channels, sum(n * n for n in pool_dims))``.

    Parameters
    ----------
    incoming : Layer or tuple
        ``(batch, channels, rows, columns)``.
    pool_dims : list of int
    mode : {'max', 'average_inc_pad', 'average_exc_pad'}
    implementation : {'fast', 'kaiming'}
        ``'fast'`` pools with windows ``ceil(size / n)`` at strides
        ``floor(size / n)``; ``'kaiming'`` uses the regions of
        :func:`pool_2d_nxn_regions`.
    name : str, optional

    Examples
    --------
    >>> SpatialPyramidPoolingLayer((None, 8, 13, 17), pool_dims=[4, 2, 1]).output_shape
    (None, 8, 21)

    References
    ----------
    .. [1] He et al. (2015): Spatial pyramid pooling in deep convolutional
       networks for visual recognition. arXiv:1406.4729.
    """

    def __init__(self, incoming, pool_dims=(4, 2, 1), mode="max", implementation="fast", name=None):
        super().__init__(incoming, name=name)
        if len(self.input_shape) != 4:
            raise ValueError(
                f"Tried to create a SPP layer with input shape {self.input_shape}. Expected 4 "
                "input dimensions (batchsize, channels, 2 spatial dimensions)."
            )
        _check_spp_mode(mode)
        if implementation not in ("fast", "kaiming"):
            raise ValueError(f"implementation must be 'fast' or 'kaiming', got {implementation!r}")
        self.pool_dims = list(pool_dims)
        self.mode = mode
        self.implementation = implementation

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        return (input_shape[0], input_shape[1], sum(p * p for p in self.pool_dims))

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        sizes = spatial_sizes(input, self.input_shape[2:])
        levels = []
        for dim in self.pool_dims:
            if self.implementation == "kaiming":
                levels.extend(pool_2d_nxn_regions(input, dim, mode=self.mode))
                continue
            window = tuple((s + dim - 1) // dim for s in sizes)
            stride = tuple(s // dim for s in sizes)
            levels.append(pool(input, sizes, window, stride, (0, 0), True, self.mode).flatten(3))
        return pt.concatenate(levels, axis=2)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"pool_dims": [int(p) for p in self.pool_dims], "mode": self.mode,
                "implementation": self.implementation, "name": self.name}

