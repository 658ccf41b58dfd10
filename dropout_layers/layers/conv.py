"""Convolution layers, with the names, arguments and defaults of ``lasagne.layers.conv``.

PyTensor 3 has no multi-channel convolution, so these layers gather the
input's windows and multiply them with the filters in one matrix product
(see :mod:`dropout_layers.layers.windows`, whose :func:`conv1d`,
:func:`conv2d` and :func:`conv3d` take the arguments of Theano's ``conv2d``
and are the layers' default ``convolution``). The gradient is PyTensor's
own, and everything runs under the default Numba linker.

Examples
--------
>>> import numpy as np
>>> from dropout_layers.layers import InputLayer, Conv2DLayer, get_output
>>> l_in = InputLayer((None, 1, 8, 8))
>>> l_conv = Conv2DLayer(l_in, num_filters=4, filter_size=3, pad="same")
>>> l_conv.output_shape, l_conv.W.get_value().shape
((None, 4, 8, 8), (4, 1, 3, 3))
>>> get_output(l_conv).eval({l_in.input_var: np.ones((2, 1, 8, 8), "float32")}).shape
(2, 4, 8, 8)
"""
import pytensor.tensor as pt

from .. import init, nonlinearities
from ..utils import as_tuple, int_types
from .base import Layer
from .registry import register_layer
from .windows import (
    conv1d,
    conv2d,
    conv3d,
    correlate,
    correlate_transpose,
    is_symbolic,
    pad_widths,
    spatial_sizes,
)

__all__ = [
    "conv_output_length", "conv_input_length", "conv1d", "conv2d", "conv3d", "BaseConvLayer",
    "Conv1DLayer", "Conv2DLayer", "Conv3DLayer", "TransposedConv2DLayer", "Deconv2DLayer",
    "TransposedConv3DLayer", "Deconv3DLayer", "DilatedConv2DLayer",
]

_CONVOLUTIONS = {1: conv1d, 2: conv2d, 3: conv3d}


def conv_output_length(input_length, filter_size, stride, pad=0):
    """Return the output size of a convolution along one axis.

    Parameters
    ----------
    input_length : int or None
    filter_size, stride : int
    pad : int, 'valid', 'full' or 'same'
        Zeros added on both sides: ``'valid'`` none, ``'full'``
        ``filter_size - 1``, ``'same'`` half the filter size (the output
        keeps the input's size at stride 1).

    Returns
    -------
    int or None
        ``ceil((input_length + 2 * pad - filter_size + 1) / stride)``;
        None for an unknown input size.

    Raises
    ------
    ValueError
        For an unknown ``pad``.

    Examples
    --------
    >>> conv_output_length(13, 5, 3, "full"), conv_output_length(13, 5, 3, 2)
    (6, 5)
    """
    if input_length is None:
        return None
    if pad == "valid":
        length = input_length - filter_size + 1
    elif pad == "full":
        length = input_length + filter_size - 1
    elif pad == "same":
        length = input_length
    elif isinstance(pad, int_types):
        length = input_length + 2 * pad - filter_size + 1
    else:
        raise ValueError(f"Invalid pad: {pad!r}")
    return (length + stride - 1) // stride


def conv_input_length(output_length, filter_size, stride, pad=0):
    """Return the smallest input size whose convolution has ``output_length`` elements.

    This is the output size of the transposed convolution. Arguments are
    those of :func:`conv_output_length`; up to ``stride - 1`` more input
    elements give the same output size.

    Examples
    --------
    >>> conv_input_length(3, 3, 2, "same"), conv_input_length(2, 3, 1, "valid")
    (5, 4)
    """
    if output_length is None:
        return None
    if pad == "valid":
        pad = 0
    elif pad == "full":
        pad = filter_size - 1
    elif pad == "same":
        pad = filter_size // 2
    if not isinstance(pad, int_types):
        raise ValueError(f"Invalid pad: {pad!r}")
    return (output_length - 1) * stride - 2 * pad + filter_size


def _spec_from_config(config):
    """Undo the JSON forms of :meth:`BaseConvLayer.get_config` in a copy of ``config``."""
    config = dict(config)
    config["nonlinearity"] = nonlinearities.get(config["nonlinearity"])
    if config.get("b") == "init":
        del config["b"]
    return config


class BaseConvLayer(Layer):
    """The base class of the ``n``-dimensional convolution layers.

    Computes ``nonlinearity(convolve(input) + b)``; subclasses implement
    :meth:`convolve`.

    Parameters
    ----------
    incoming : Layer or tuple
        ``(batch, channels, *spatial)`` with ``n`` spatial axes.
    num_filters : int
    filter_size, stride : int or tuple of int
    pad : int, tuple of int, 'valid', 'full' or 'same'
        Zero padding, see :func:`conv_output_length`; ``'same'`` needs odd
        filter sizes.
    untie_biases : bool
        One bias per channel and position (shape ``(num_filters, *out)``)
        instead of one per channel.
    W, b : initializer, array, shared variable or expression
        ``W`` of shape :meth:`get_W_shape`; ``b=None`` for no bias (``b`` is
        not regularizable).
    nonlinearity : callable or None
        None is the identity.
    flip_filters : bool
        Flip the filters (a true convolution, the default) or not (a
        cross-correlation).
    num_groups : int
        Input and output channels split into this many groups that see only
        each other.
    n : int or None
        Number of spatial axes; by default from the input shape.
    name : str, optional

    Notes
    -----
    The argument list is Lasagne's, so that ported calls keep working.

    Examples
    --------
    >>> BaseConvLayer((None, 3, 10, 10, 10), num_filters=2, filter_size=3).n
    3
    """

    def __init__(self, incoming, num_filters, filter_size, stride=1, pad=0, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=True, num_groups=1, n=None,
                 name=None):
        super().__init__(incoming, name=name)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.n = self._check_rank(n)
        self.num_filters = num_filters
        self.filter_size = as_tuple(filter_size, self.n, int_types)
        self.flip_filters = flip_filters
        self.stride = as_tuple(stride, self.n, int_types)
        self.untie_biases = untie_biases
        self.pad = self._check_pad(pad)
        self.num_groups = self._check_groups(num_groups)
        self.W = self.add_param(W, self.get_W_shape(), name="W")
        self.b = None
        if b is not None:
            self.b = self.add_param(b, self._bias_shape(), name="b", regularizable=False)

    def _check_rank(self, n):
        rank = len(self.input_shape) - 2
        if n is None:
            n = rank
        if rank < 1 or n != rank:
            raise ValueError(
                f"Tried to create a {n}D convolution layer with input shape {self.input_shape}. "
                f"Expected {n + 2} input dimensions (batchsize, channels, {n} spatial dimensions)."
            )
        return n

    def _check_pad(self, pad):
        if isinstance(pad, str) and pad in ("full", "same", "valid"):
            if pad == "same" and any(k % 2 == 0 for k in self.filter_size):
                raise NotImplementedError("`same` padding requires odd filter size.")
            return (0,) * self.n if pad == "valid" else pad
        return as_tuple(pad, self.n, int_types)

    def _check_groups(self, num_groups):
        channels = self.input_shape[1]
        if channels is None:
            raise ValueError(
                f"layer {self.name!r}: the number of input channels (axis 1) must be known"
            )
        if num_groups <= 0 or self.num_filters % num_groups or channels % num_groups:
            raise ValueError(
                f"num_groups (here: {num_groups}) must be positive and evenly divide the number "
                f"of input and output channels (here: {channels} and {self.num_filters})"
            )
        return num_groups

    def _bias_shape(self):
        if not self.untie_biases:
            return (self.num_filters,)
        shape = (self.num_filters,) + tuple(self.output_shape[2:])
        if any(s is None for s in shape):
            raise ValueError(
                f"layer {self.name!r}: untie_biases needs known output sizes, got {shape}"
            )
        return shape

    def _pad_tuple(self):
        return self.pad if isinstance(self.pad, tuple) else (self.pad,) * self.n

    def get_W_shape(self):
        """Return the shape of ``W``: ``(num_filters, channels // num_groups, *filter_size)``."""
        return (self.num_filters, self.input_shape[1] // self.num_groups) + self.filter_size

    def get_output_shape_for(self, input_shape):
        """Return ``(batch, num_filters, *sizes)``, the sizes from :func:`conv_output_length`."""
        sizes = (conv_output_length(s, k, st, p) for s, k, st, p in
                 zip(input_shape[2:], self.filter_size, self.stride, self._pad_tuple()))
        return (input_shape[0], self.num_filters) + tuple(sizes)

    def get_output_for(self, input, **kwargs):
        """Return ``nonlinearity(convolve(input) + b)``."""
        conved = self.convolve(pt.as_tensor_variable(input), **kwargs)
        if self.b is None:
            activation = conved
        elif self.untie_biases:
            activation = conved + pt.shape_padleft(self.b, 1)
        else:
            activation = conved + self.b.dimshuffle(("x", 0) + ("x",) * self.n)
        return self.nonlinearity(activation)

    def convolve(self, input, **kwargs):
        """Convolve ``input`` with ``W``, without bias or nonlinearity (in subclasses)."""
        raise NotImplementedError(
            "BaseConvLayer does not implement the convolve() method; use a subclass such as "
            "Conv2DLayer"
        )

    def get_config(self):
        """Return the settings; ``b`` is None or ``'init'`` (initialised afresh)."""
        config = {
            "num_filters": int(self.num_filters), "filter_size": list(self.filter_size),
            "untie_biases": bool(self.untie_biases),
            "nonlinearity": nonlinearities.name_of(self.nonlinearity),
            "flip_filters": bool(self.flip_filters), "num_groups": int(self.num_groups),
            "b": None if self.b is None else "init", "name": self.name,
        }
        if hasattr(self, "stride"):
            config["stride"] = list(self.stride)
        if hasattr(self, "pad"):
            config["pad"] = self.pad if isinstance(self.pad, str) else list(self.pad)
        return config

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config`, with fresh parameters."""
        return cls(incoming, **_spec_from_config(config))


class _ConvLayer(BaseConvLayer):
    """A forward convolution through ``self.convolution`` (default: :func:`conv2d` and kin)."""

    def convolve(self, input, **kwargs):
        """Convolve ``input`` with ``W`` through ``self.convolution``."""
        border_mode = "half" if self.pad == "same" else self.pad
        extra = {"num_groups": self.num_groups} if self.num_groups > 1 else {}
        return self.convolution(input, self.W, self.input_shape, self.get_W_shape(),
                                subsample=self.stride, border_mode=border_mode,
                                filter_flip=self.flip_filters, **extra)

    def get_config(self):
        """Return the settings; a custom ``convolution`` cannot be stored."""
        if self.convolution is not _CONVOLUTIONS[self.n]:
            raise ValueError(
                f"layer {self.name!r} convolves with {self.convolution!r}, which a config cannot "
                "hold; only the default convolution can be stored"
            )
        return super().get_config()


@register_layer
class Conv1DLayer(_ConvLayer):
    """1-D convolution layer over ``(batch, channels, length)``.

    Parameters are those of :class:`BaseConvLayer` (``W`` has shape
    ``(num_filters, channels // num_groups, filter_length)``), plus
    ``convolution``, a function with the arguments of :func:`conv1d`.

    Examples
    --------
    >>> Conv1DLayer((None, 3, 20), num_filters=5, filter_size=4, stride=2).output_shape
    (None, 5, 9)
    """

    def __init__(self, incoming, num_filters, filter_size, stride=1, pad=0, untie_biases=False,
                 W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=True, convolution=conv1d,
                 num_groups=1, name=None):
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, num_groups, n=1, name=name)
        self.convolution = convolution


@register_layer
class Conv2DLayer(_ConvLayer):
    """2-D convolution layer over ``(batch, channels, rows, columns)``.

    Parameters are those of :class:`BaseConvLayer` (``W`` has shape
    ``(num_filters, channels // num_groups, filter_rows, filter_columns)``),
    plus ``convolution``, a function with the arguments of :func:`conv2d`.

    Examples
    --------
    >>> layer = Conv2DLayer((None, 3, 32, 32), num_filters=16, filter_size=5, stride=2, pad=2)
    >>> layer.output_shape, layer.W.get_value().shape
    ((None, 16, 16, 16), (16, 3, 5, 5))
    """

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1), pad=0,
                 untie_biases=False, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=True, convolution=conv2d,
                 num_groups=1, name=None):
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, num_groups, n=2, name=name)
        self.convolution = convolution


@register_layer
class Conv3DLayer(_ConvLayer):
    """3-D convolution layer over ``(batch, channels, depth, rows, columns)``.

    Parameters are those of :class:`BaseConvLayer`, plus ``convolution``, a
    function with the arguments of :func:`conv3d`.

    Examples
    --------
    >>> Conv3DLayer((None, 1, 8, 8, 8), num_filters=2, filter_size=3).output_shape
    (None, 2, 6, 6, 6)
    """

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1, 1), pad=0,
                 untie_biases=False, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=True, convolution=conv3d,
                 num_groups=1, name=None):
        super().__init__(incoming, num_filters, filter_size, stride, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, num_groups, n=3, name=name)
        self.convolution = convolution


def _output_size(output_size, n):
    """Return an ``output_size`` argument as an ``n``-tuple, None, or the symbolic vector."""
    if output_size is None or is_symbolic(output_size):
        return output_size
    return as_tuple(output_size, n, int_types)


class _TransposedConvLayer(BaseConvLayer):
    """The backward pass of a convolution: each input element spreads a filter over the output.

    Subclasses set ``output_size`` before calling the base constructor (which
    needs the output shape) and rename ``pad`` to ``crop`` after it.
    """

    def _crop_tuple(self):
        crop = getattr(self, "crop", getattr(self, "pad", None))
        return crop if isinstance(crop, tuple) else (crop,) * self.n

    def _rename_pad_to_crop(self):
        self.crop = self.pad
        del self.pad

    def get_W_shape(self):
        """Return the shape of ``W``: ``(channels, num_filters, *filter_size)``."""
        return (self.input_shape[1], self.num_filters) + self.filter_size

    def get_output_shape_for(self, input_shape):
        """Return ``(batch, num_filters, *sizes)``: ``output_size``, or the smallest sizes."""
        if self.output_size is not None:
            if is_symbolic(self.output_size):
                return (input_shape[0], self.num_filters) + (None,) * self.n
            return (input_shape[0], self.num_filters) + tuple(self.output_size)
        sizes = (conv_input_length(s, k, st, c) for s, k, st, c in
                 zip(input_shape[2:], self.filter_size, self.stride, self._crop_tuple()))
        return (input_shape[0], self.num_filters) + tuple(sizes)

    def _output_sizes(self, in_sizes):
        if is_symbolic(self.output_size):
            return [self.output_size[d] for d in range(self.n)]
        known = self.output_shape[2:]
        return [s if s is not None else conv_input_length(i, k, st, c) for s, i, k, st, c in
                zip(known, in_sizes, self.filter_size, self.stride, self._crop_tuple())]

    def convolve(self, input, **kwargs):
        """Spread each input element's filter over the output: the transposed convolution."""
        crop = pad_widths(self.crop, self.filter_size)
        if any(c > k - 1 for c, k in zip(crop, self.filter_size)):
            raise NotImplementedError(
                f"layer {self.name!r}: crop {self.crop} exceeds filter_size - 1"
            )
        in_sizes = spatial_sizes(input, self.input_shape[2:])
        return correlate_transpose(input, self.W, in_sizes, self._output_sizes(in_sizes),
                                   self.filter_size, self.stride, crop,
                                   flip=not self.flip_filters)

    def get_config(self):
        """Return the settings, with ``crop`` and ``output_size``; no symbolic size."""
        if is_symbolic(self.output_size):
            raise ValueError(
                f"layer {self.name!r}: a symbolic output_size cannot be stored in a config"
            )
        config = super().get_config()
        config["crop"] = self.crop if isinstance(self.crop, str) else list(self.crop)
        del config["num_groups"]
        config["output_size"] = None if self.output_size is None else list(self.output_size)
        return config


@register_layer
class TransposedConv2DLayer(_TransposedConvLayer):
    """2-D transposed convolution (the backward pass of a convolution).

    Also called fractionally-strided convolution or deconvolution. It can be
    thought of as spreading the input over a grid ``stride`` apart, padding
    it with ``filter_size - 1 - crop`` zeros and convolving.

    Parameters
    ----------
    incoming : Layer or tuple
        ``(batch, channels, rows, columns)``.
    num_filters : int
    filter_size, stride : int or tuple of int
        For the transposed convolution the stride enlarges the output.
    crop : int, tuple of int, 'valid', 'full' or 'same'
        The padding of the convolution this transposes: ``'valid'`` (0)
        gives the largest output (a full convolution), ``'full'`` the
        smallest.
    untie_biases, b, nonlinearity, name
        As for :class:`BaseConvLayer`.
    W : initializer, array, shared variable or expression
        Shape ``(channels, num_filters, *filter_size)``: the first two axes
        are swapped compared to a forward convolution, so the ``W`` of a
        :class:`Conv2DLayer` can be tied.
    flip_filters : bool
        Default False, the opposite of :class:`Conv2DLayer`.
    output_size : int, tuple of int or symbolic vector, optional
        Which output size to produce when several give the input size
        (stride > 1); by default the smallest, :func:`conv_input_length`.

    Examples
    --------
    >>> conv = Conv2DLayer((None, 1, 32, 32), 16, 3, stride=2, pad=2)
    >>> deconv = TransposedConv2DLayer(conv, conv.input_shape[1], conv.filter_size,
    ...                                stride=conv.stride, crop=conv.pad, W=conv.W,
    ...                                flip_filters=not conv.flip_filters)
    >>> deconv.output_shape
    (None, 1, 31, 31)

    References
    ----------
    .. [1] Dumoulin and Visin (2016): A guide to convolution arithmetic for
       deep learning. arXiv:1603.07285.
    """

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1), crop=0,
                 untie_biases=False, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=False, output_size=None,
                 name=None):
        self.output_size = _output_size(output_size, 2)
        super().__init__(incoming, num_filters, filter_size, stride, crop, untie_biases, W, b,
                         nonlinearity, flip_filters, n=2, name=name)
        self._rename_pad_to_crop()


@register_layer
class TransposedConv3DLayer(_TransposedConvLayer):
    """3-D transposed convolution; parameters as :class:`TransposedConv2DLayer`, on three axes.

    Examples
    --------
    >>> TransposedConv3DLayer((None, 2, 4, 4, 4), 1, 3, stride=2).output_shape
    (None, 1, 9, 9, 9)
    """

    def __init__(self, incoming, num_filters, filter_size, stride=(1, 1, 1), crop=0,
                 untie_biases=False, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=False, output_size=None,
                 name=None):
        self.output_size = _output_size(output_size, 3)
        super().__init__(incoming, num_filters, filter_size, stride, crop, untie_biases, W, b,
                         nonlinearity, flip_filters, n=3, name=name)
        self._rename_pad_to_crop()


Deconv2DLayer = TransposedConv2DLayer
Deconv3DLayer = TransposedConv3DLayer


@register_layer
class DilatedConv2DLayer(BaseConvLayer):
    """2-D convolution with dilated filters (``dilation - 1`` zeros between filter taps).

    Parameters
    ----------
    incoming : Layer or tuple
        ``(batch, channels, rows, columns)``.
    num_filters : int
    filter_size, dilation : int or tuple of int
    pad : 0, (0, 0) or 'valid'
        Only a valid convolution is supported; add a
        :class:`~dropout_layers.layers.PadLayer` for padding.
    untie_biases, b, nonlinearity, name
        As for :class:`BaseConvLayer`.
    W : initializer, array, shared variable or expression
        Shape ``(channels, num_filters, *filter_size)``, the first two axes
        swapped as for :class:`TransposedConv2DLayer`.
    flip_filters : False
        Only a cross-correlation is supported.

    Examples
    --------
    >>> DilatedConv2DLayer((None, 3, 11, 16), 4, 3, dilation=2).output_shape
    (None, 4, 7, 12)

    References
    ----------
    .. [1] Yu and Koltun (2016): Multi-scale context aggregation by dilated
       convolutions. ICLR.
    """

    def __init__(self, incoming, num_filters, filter_size, dilation=(1, 1), pad=0,
                 untie_biases=False, W=init.GlorotUniform(), b=init.Constant(0.0),
                 nonlinearity=nonlinearities.rectify, flip_filters=False, name=None):
        self.dilation = as_tuple(dilation, 2, int_types)
        super().__init__(incoming, num_filters, filter_size, 1, pad, untie_biases, W, b,
                         nonlinearity, flip_filters, n=2, name=name)
        del self.stride
        if self.pad != (0, 0):
            raise NotImplementedError(
                f"DilatedConv2DLayer requires pad=0 / (0,0) / 'valid', but got {pad!r}. For a "
                "padded dilated convolution, add a PadLayer."
            )
        if self.flip_filters:
            raise NotImplementedError("DilatedConv2DLayer requires flip_filters=False.")

    def get_W_shape(self):
        """Return the shape of ``W``: ``(channels, num_filters, *filter_size)``."""
        return (self.input_shape[1], self.num_filters) + self.filter_size

    def get_output_shape_for(self, input_shape):
        """Return ``(batch, num_filters, *sizes)`` of the valid dilated convolution."""
        sizes = (conv_output_length(s, (k - 1) * d + 1, 1, 0) for s, k, d in
                 zip(input_shape[2:], self.filter_size, self.dilation))
        return (input_shape[0], self.num_filters) + tuple(sizes)

    def convolve(self, input, **kwargs):
        """Cross-correlate ``input`` with the dilated filters."""
        return correlate(input, self.W.dimshuffle(1, 0, 2, 3),
                         spatial_sizes(input, self.input_shape[2:]), self.filter_size, (1, 1),
                         (0, 0), self.dilation)

    def get_config(self):
        """Return the settings, with ``dilation`` and without stride and padding."""
        config = super().get_config()
        del config["num_groups"]
        config["dilation"] = list(self.dilation)
        return config
