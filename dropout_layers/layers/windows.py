"""Sliding windows over the spatial axes of a batch, gathered as rows.

PyTensor 3 has no multi-channel convolution and no pooling op (its
``pytensor.tensor.signal`` convolves single 1-D or 2-D signals through
SciPy, without a Numba implementation). The convolution and pooling layers
are therefore built from a gather: a ``(batch, channels, *spatial)`` input is
laid out as one row of channels per spatial position, and an integer index
picks, for every output position, the rows its window covers. One
``AdvancedSubtensor1`` does the gather and one ``AdvancedIncSubtensor1`` its
gradient, whatever the window, stride, padding or dilation; a convolution
is then a single matrix product, a pooling a reduction over the window axis.

Why a gather and not strided slices: the Numba linker compiles every slice
with constant bounds as a function of its own, so a 5x5 window would cost 25
slice and 25 incremented-slice compilations (seconds each), while the
gather compiles once for every geometry.

Positions outside the input (zero padding, or the partial windows of
``ignore_border=False`` pooling) are gathered from row 0 and then replaced
by the fill value through the mask that :func:`window_index` returns.

Examples
--------
>>> import numpy as np
>>> import pytensor.tensor as pt
>>> x = pt.as_tensor_variable(np.arange(5.0).reshape(1, 1, 5))
>>> idx, valid = window_index((5,), (2,), window=(3,), stride=(2,), offset=(0,))
>>> gather_windows(x, idx, valid, fill=0.0).eval()[0, :, :, 0]
array([[0., 1., 2.],
       [2., 3., 4.]])
"""
import functools
import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from ..utils import as_tuple, int_types

__all__ = ["is_symbolic", "product", "spatial_sizes", "window_index", "channels_last_rows",
           "gather_windows", "scatter_windows", "correlate", "correlate_transpose", "POOL_MODES",
           "pool_length", "pool", "pad_widths", "conv1d", "conv2d", "conv3d"]


def is_symbolic(value):
    """Whether ``value`` is a PyTensor variable rather than a Python or NumPy number."""
    return isinstance(value, Variable)


def product(values):
    """Multiply ints and symbolic scalars; the product is an int when all are ints."""
    result = 1
    for v in values:
        result = result * v
    return result


def spatial_sizes(input, known):
    """Return the spatial sizes of ``input``: the known ints, symbolic sizes for ``None``.

    Parameters
    ----------
    input : TensorVariable
        ``(batch, channels, *spatial)``.
    known : sequence of int or None
        The spatial part of the layer's input shape.
    """
    static = input.type.shape[2:]
    known = tuple(known) if isinstance(known, (tuple, list)) else ()
    if len(known) != len(static):
        known = (None,) * len(static)
    sizes = []
    for axis, (size, fixed) in enumerate(zip(known, static)):
        if size is None:
            size = fixed
        sizes.append(int(size) if size is not None else input.shape[axis + 2])
    return tuple(sizes)


def _as_index(value):
    if isinstance(value, (numbers.Integral, np.integer)):
        return pt.constant(int(value), dtype="int64")
    return pt.cast(value, "int64")


def _coordinates(out_size, window, stride, offset, dilation, d, n, xp):
    """Input coordinates ``o * stride + k * dilation - offset`` along axis ``d``.

    Laid out with ``o`` on axis ``d`` and ``k`` on axis ``n + d`` of ``2 n``
    axes, the others of size 1; ``xp`` is NumPy or ``pytensor.tensor``.
    """
    if xp is np:
        starts = np.arange(out_size) * stride - offset
        steps = np.arange(window) * dilation
        shape_o, shape_k = [1] * (2 * n), [1] * (2 * n)
        shape_o[d], shape_k[n + d] = out_size, window
        return starts.reshape(shape_o) + steps.reshape(shape_k)
    starts = pt.arange(_as_index(out_size), dtype="int64") * _as_index(stride)
    starts = starts - _as_index(offset)
    steps = pt.arange(_as_index(window), dtype="int64") * _as_index(dilation)
    pattern_o, pattern_k = ["x"] * (2 * n), ["x"] * (2 * n)
    pattern_o[d], pattern_k[n + d] = 0, 0
    return starts.dimshuffle(pattern_o) + steps.dimshuffle(pattern_k)


def _flat_positions(in_sizes, out_sizes, window, stride, offset, dilation, xp):
    """Flat positions and in-bounds mask of every window element, as ``(windows, elements)``."""
    n = len(in_sizes)
    flat, valid, step = 0, None, 1
    for d in reversed(range(n)):
        coord = _coordinates(out_sizes[d], window[d], stride[d], offset[d], dilation[d], d, n, xp)
        inside = (coord >= 0) & (coord < in_sizes[d])
        valid = inside if valid is None else valid & inside
        flat = flat + coord * step
        step = step * in_sizes[d]
    shape = (product(out_sizes), product(window))
    if xp is np:
        return np.where(valid, flat, 0).reshape(shape), valid.reshape(shape)
    shape = tuple(_as_index(s) for s in shape)
    valid = valid.reshape(shape)
    return pt.switch(valid, flat.reshape(shape), 0), valid


@functools.lru_cache(maxsize=512)
def _shared_window_index(geometry):
    # Shared rather than constant: the Numba linker would inline constants
    # into the compiled function, one compilation for every geometry.
    index, valid = _flat_positions(*geometry, xp=np)
    return (pytensor.shared(index.astype("int64"), shape=index.shape),
            pytensor.shared(valid, shape=valid.shape))


def window_index(in_sizes, out_sizes, window, stride, offset, dilation=None):
    """Return the flat input position that every element of every window reads.

    Along each spatial axis, element ``k`` of output window ``o`` reads input
    position ``o * stride + k * dilation - offset``.

    Parameters
    ----------
    in_sizes, out_sizes, window : sequence of int or symbolic scalar
        Spatial sizes of the input and the output, and the window size.
    stride, offset : sequence of int or symbolic scalar
        Step between windows, and how far the first window starts before the
        input (the padding).
    dilation : sequence of int, optional
        Step between the elements of a window; 1 by default.

    Returns
    -------
    index : TensorVariable
        int64 matrix ``(prod(out_sizes), prod(window))`` of flat positions
        into the spatial axes in C order; positions outside the input read 0.
        Computed once (a shared variable) when every size is an int.
    valid : TensorVariable
        bool matrix of the same shape, False where the position lies outside.
    """
    dilation = (1,) * len(in_sizes) if dilation is None else dilation
    parts = (in_sizes, out_sizes, window, stride, offset, dilation)
    geometry = tuple(tuple(part) for part in parts)
    if all(isinstance(v, (numbers.Integral, np.integer)) for part in geometry for v in part):
        return _shared_window_index(tuple(tuple(int(v) for v in part) for part in geometry))
    return _flat_positions(*geometry, xp=pt)


def channels_last_rows(x):
    """``(batch, channels, *spatial)`` as rows ``(batch * prod(spatial), channels)``."""
    pattern = (0,) + tuple(range(2, x.ndim)) + (1,)
    return x.dimshuffle(pattern).reshape((-1, x.shape[1]))


def _batch_rows(index, batch, positions):
    """Row numbers into :func:`channels_last_rows` for every example of the batch."""
    offsets = pt.arange(_as_index(batch), dtype="int64") * _as_index(positions)
    return (offsets.dimshuffle(0, "x", "x") + index.dimshuffle("x", 0, 1)).flatten()


def gather_windows(x, index, valid, fill=None):
    """Gather the windows of ``x`` as ``(batch, windows, window elements, channels)``.

    Parameters
    ----------
    x : TensorVariable
        ``(batch, channels, *spatial)``.
    index, valid : TensorVariable
        From :func:`window_index` for the spatial sizes of ``x``.
    fill : float or None
        Value of the elements outside the input (``-inf`` for max pooling,
        0 for zero padding); None when no element can be outside, which
        skips the masking.
    """
    batch, channels = x.shape[0], x.shape[1]
    positions = product(x.shape[2:])
    rows = channels_last_rows(x)[_batch_rows(index, batch, positions)]
    windows = rows.reshape((batch, index.shape[0], index.shape[1], channels))
    if fill is None:
        return windows
    mask = valid.dimshuffle("x", 0, 1, "x")
    if fill == 0:
        return windows * pt.cast(mask, x.dtype)
    return pt.switch(mask, windows, pt.constant(fill, dtype=x.dtype))


def scatter_windows(windows, index, valid, batch, in_sizes):
    """Add window elements back onto the input positions they came from.

    The transpose of :func:`gather_windows` with ``fill=0``: elements whose
    position lies outside the input are dropped.

    Parameters
    ----------
    windows : TensorVariable
        ``(batch, windows, window elements, channels)``.
    index, valid : TensorVariable
        From :func:`window_index`.
    batch : int or symbolic scalar
    in_sizes : sequence of int or symbolic scalar
        The spatial sizes of the result.

    Returns
    -------
    TensorVariable
        ``(batch, channels, *in_sizes)``.
    """
    channels = windows.shape[3]
    positions = product(in_sizes)
    values = windows * pt.cast(valid.dimshuffle("x", 0, 1, "x"), windows.dtype)
    values = values.reshape((-1, channels))
    target = pt.zeros((_as_index(batch) * _as_index(positions), channels), dtype=windows.dtype)
    rows = pt.inc_subtensor(target[_batch_rows(index, batch, positions)], values)
    spatial = tuple(_as_index(s) for s in in_sizes)
    rows = rows.reshape((_as_index(batch),) + spatial + (channels,))
    n = len(in_sizes)
    return rows.dimshuffle((0, n + 1) + tuple(range(1, n + 1)))


def _flip_spatial(filters, n):
    return filters[(slice(None), slice(None)) + (slice(None, None, -1),) * n]


def correlate(input, filters, in_sizes, filter_size, stride, pad, dilation=None, num_groups=1,
              flip=False):
    """Cross-correlate a batch with a bank of filters (a convolution if ``flip``).

    Parameters
    ----------
    input : TensorVariable
        ``(batch, channels, *in_sizes)``.
    filters : TensorVariable
        ``(num_filters, channels // num_groups, *filter_size)``.
    in_sizes : sequence of int or symbolic scalar
    filter_size, stride, pad : sequence of int
        ``pad`` zeros are added on both sides of every spatial axis.
    dilation : sequence of int, optional
    num_groups : int
        Channels and filters split into this many groups that see only
        each other.
    flip : bool
        Flip the filters along the spatial axes first: a true convolution.

    Returns
    -------
    TensorVariable
        ``(batch, num_filters, *out_sizes)`` with
        ``out = (in + 2 * pad - (filter - 1) * dilation - 1) // stride + 1``.
    """
    n = len(filter_size)
    dilation = (1,) * n if dilation is None else tuple(dilation)
    if flip:
        filters = _flip_spatial(filters, n)
    out_sizes = [(s + 2 * p - (k - 1) * d - 1) // st + 1
                 for s, k, st, p, d in zip(in_sizes, filter_size, stride, pad, dilation)]
    index, valid = window_index(in_sizes, out_sizes, filter_size, stride, pad, dilation)
    windows = gather_windows(input, index, valid, fill=0.0 if any(pad) else None)
    batch, window_elements = input.shape[0], product(filter_size)
    kernel_axes = tuple(range(2, n + 2))
    if num_groups == 1:
        columns = windows.reshape((batch * windows.shape[1], -1))
        weights = filters.dimshuffle(kernel_axes + (1, 0)).reshape((-1, filters.shape[0]))
        result = pt.dot(columns, weights)
    else:
        columns = windows.reshape((batch * windows.shape[1], window_elements, num_groups, -1))
        columns = columns.dimshuffle(2, 0, 1, 3).reshape((num_groups, columns.shape[0], -1))
        grouped = filters.reshape((num_groups, -1) + tuple(filters.shape[1:]))
        weights = grouped.dimshuffle((0,) + tuple(a + 1 for a in kernel_axes) + (2, 1))
        weights = weights.reshape((num_groups, -1, grouped.shape[1]))
        result = pt.matmul(columns, weights).dimshuffle(1, 0, 2).reshape((columns.shape[1], -1))
    result = result.reshape((batch,) + tuple(_as_index(s) for s in out_sizes) + (-1,))
    return result.dimshuffle((0, n + 1) + tuple(range(1, n + 1)))


def correlate_transpose(input, filters, in_sizes, out_sizes, filter_size, stride, crop, flip=False):
    """Transpose :func:`correlate`: spread a filter over the output from each input element.

    Parameters
    ----------
    input : TensorVariable
        ``(batch, channels, *in_sizes)``.
    filters : TensorVariable
        ``(channels, num_filters, *filter_size)``: the filters of the
        correlation from ``num_filters`` to ``channels`` channels that this
        transposes.
    in_sizes : sequence of int or symbolic scalar
        Spatial sizes of the input.
    out_sizes : sequence of int or symbolic scalar
        Spatial sizes of the result; the correlation of a result of these
        sizes with ``stride`` and padding ``crop`` has the input's sizes.
    filter_size, stride, crop : sequence of int
    flip : bool
        Whether the transposed correlation flips its filters.

    Returns
    -------
    TensorVariable
        ``(batch, num_filters, *out_sizes)``.
    """
    n = len(filter_size)
    if flip:
        filters = _flip_spatial(filters, n)
    index, valid = window_index(out_sizes, in_sizes, filter_size, stride, crop)
    batch = input.shape[0]
    rows = channels_last_rows(input)
    weights = filters.dimshuffle((0,) + tuple(range(2, n + 2)) + (1,))
    weights = weights.reshape((filters.shape[0], -1))
    spread = pt.dot(rows, weights)
    spread = spread.reshape((batch, index.shape[0], index.shape[1], filters.shape[1]))
    return scatter_windows(spread, index, valid, batch, out_sizes)


POOL_MODES = ("max", "average_inc_pad", "average_exc_pad")


def pool_length(length, window, stride, pad, ignore_border):
    """Count the pooling windows along an axis of ``length`` (an int or symbolic scalar).

    With ``ignore_border`` only whole windows of the padded axis count;
    otherwise a last partial window is added where elements would be left out.
    """
    if ignore_border:
        return (length + 2 * pad - window) // stride + 1
    if stride >= window:
        return (length + stride - 1) // stride
    partial = (length - window + stride - 1) // stride
    partial = pt.maximum(partial, 0) if is_symbolic(partial) else max(partial, 0)
    return partial + 1


def pool(input, in_sizes, window, stride, pad, ignore_border=True, mode="max"):
    """Max or mean pooling over the trailing ``len(window)`` axes of a batch.

    Parameters
    ----------
    input : TensorVariable
        ``(batch, channels, *in_sizes)``.
    in_sizes, window, stride : sequence of int or symbolic scalar
    pad : sequence of int
        Padding on both sides; needs ``ignore_border``.
    ignore_border : bool
    mode : {'max', 'average_inc_pad', 'average_exc_pad'}
        The mean modes count padded elements, or only the input's.

    Returns
    -------
    TensorVariable
        ``(batch, channels, *out_sizes)``, see :func:`pool_length`.
    """
    if mode not in POOL_MODES:
        raise ValueError(f"pooling mode must be one of {POOL_MODES}, got {mode!r}")
    n = len(window)
    out_sizes = [pool_length(s, w, st, p, ignore_border)
                 for s, w, st, p in zip(in_sizes, window, stride, pad)]
    index, valid = window_index(in_sizes, out_sizes, window, stride, pad)
    partial = any(pad) or not ignore_border
    if mode == "max":
        fill = -np.inf if input.dtype.startswith("float") else np.iinfo(input.dtype).min
        pooled = gather_windows(input, index, valid, fill=fill if partial else None).max(axis=2)
    else:
        summed = gather_windows(input, index, valid, fill=0 if partial else None).sum(axis=2)
        if (mode == "average_inc_pad" and ignore_border) or not partial:
            count = pt.cast(product(window), summed.dtype)
        else:
            count = valid.sum(axis=1).astype(summed.dtype).dimshuffle("x", 0, "x")
        pooled = summed / count
    batch = input.shape[0]
    pooled = pooled.reshape((batch,) + tuple(_as_index(s) for s in out_sizes) + (-1,))
    return pooled.dimshuffle((0, n + 1) + tuple(range(1, n + 1)))


def pad_widths(pad, filter_size):
    """Return the zeros added on each side of each axis for a padding spec.

    ``'full'`` is ``filter_size - 1``, ``'same'`` and ``'half'`` are
    ``filter_size // 2``, ``'valid'`` is 0; ints (one, or one per axis) are
    taken as they are.
    """
    if isinstance(pad, str):
        if pad == "full":
            return tuple(k - 1 for k in filter_size)
        if pad in ("same", "half"):
            return tuple(k // 2 for k in filter_size)
        if pad == "valid":
            return (0,) * len(filter_size)
    return tuple(int(p) for p in as_tuple(pad, len(filter_size), int_types))


def _filter_shape(filters, given):
    if given is not None and all(s is not None for s in given):
        return tuple(int(s) for s in given)
    if hasattr(filters, "get_value"):
        return tuple(filters.get_value(borrow=True).shape)
    if all(s is not None for s in filters.type.shape):
        return tuple(filters.type.shape)
    raise ValueError("the filter shape of the convolution must be known: pass filter_shape")


def _conv_nd(input, filters, n, input_shape, filter_shape, border_mode, subsample, filter_flip,
             filter_dilation, num_groups):
    input, filters = pt.as_tensor_variable(input), pt.as_tensor_variable(filters)
    if input.ndim != n + 2 or filters.ndim != n + 2:
        raise ValueError(f"a {n}-D convolution needs {n + 2}-D input and filters, got "
                         f"{input.ndim}-D and {filters.ndim}-D")
    filter_size = _filter_shape(filters, filter_shape)[2:]
    dilation = as_tuple(filter_dilation, n, int_types)
    extent = [(k - 1) * d + 1 for k, d in zip(filter_size, dilation)]
    known = (None,) * n if input_shape is None else tuple(input_shape)[2:]
    return correlate(input, filters, spatial_sizes(input, known), filter_size,
                     as_tuple(subsample, n, int_types), pad_widths(border_mode, extent), dilation,
                     num_groups, flip=filter_flip)


def conv1d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=1,
           filter_flip=True, filter_dilation=1, num_groups=1):
    """Convolve ``(batch, channels, length)`` with ``(filters, channels, size)``.

    Arguments are those of :func:`conv2d`, with one entry per tuple.
    """
    return _conv_nd(input, filters, 1, input_shape, filter_shape, border_mode, subsample,
                    filter_flip, filter_dilation, num_groups)


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):
    """Convolve in 2-D, with the arguments of Theano's ``conv2d``.

    Parameters
    ----------
    input : TensorVariable
        ``(batch, channels, rows, columns)``.
    filters : TensorVariable or shared variable
        ``(num_filters, channels // num_groups, filter_rows, filter_columns)``.
    input_shape, filter_shape : tuple, optional
        Known sizes (None for unknown ones); ``filter_shape`` is needed when
        ``filters`` is an expression of unknown static shape.
    border_mode : 'valid', 'full', 'half', int or tuple of int
        Zero padding: none, ``filter_size - 1``, ``filter_size // 2``, or the
        given number on both sides of each axis.
    subsample : int or tuple of int
        The stride.
    filter_flip : bool
        Flip the filters (a convolution) or not (a cross-correlation).
    filter_dilation : int or tuple of int
    num_groups : int

    Returns
    -------
    TensorVariable
        ``(batch, num_filters, out_rows, out_columns)``.

    Examples
    --------
    >>> x, filters = pt.tensor4("x"), pytensor.shared(np.ones((1, 1, 2, 2)))
    >>> conv2d(x, filters).eval({x: np.arange(9.0).reshape(1, 1, 3, 3)})[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    return _conv_nd(input, filters, 2, input_shape, filter_shape, border_mode, subsample,
                    filter_flip, filter_dilation, num_groups)


def conv3d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1, 1), filter_flip=True, filter_dilation=(1, 1, 1), num_groups=1):
    """Convolve ``(batch, channels, depth, rows, columns)`` in 3-D; arguments as :func:`conv2d`."""
    return _conv_nd(input, filters, 3, input_shape, filter_shape, border_mode, subsample,
                    filter_flip, filter_dilation, num_groups)
