"""Layers that change the shape of their input, as ``lasagne.layers.shape`` has them.

Examples
--------
>>> from dropout_layers.layers import InputLayer, ReshapeLayer, FlattenLayer, DimshuffleLayer
>>> l_in = InputLayer((None, 100, 20))
>>> ReshapeLayer(l_in, ([0], [1], 5, -1)).output_shape
(None, 100, 5, 4)
>>> FlattenLayer(l_in).output_shape
(None, 2000)
>>> DimshuffleLayer(l_in, (0, 2, "x", 1)).output_shape
(None, 20, 1, 100)
"""
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from ..utils import int_types
from .base import Layer
from .registry import register_layer

__all__ = ["FlattenLayer", "flatten", "ReshapeLayer", "reshape", "DimshuffleLayer", "dimshuffle",
           "PadLayer", "pad", "SliceLayer"]


@register_layer
class FlattenLayer(Layer):
    """Flatten the trailing axes: the output has ``outdim`` axes, the last one collapsing the rest.

    Parameters
    ----------
    incoming : Layer or tuple
    outdim : int
        Number of output axes, at least 1; the leading ``outdim - 1`` keep
        their sizes.
    name : str, optional

    Examples
    --------
    >>> FlattenLayer((2, 3, 4, 5), outdim=3).output_shape
    (2, 3, 20)
    """

    def __init__(self, incoming, outdim=2, name=None):
        super().__init__(incoming, name=name)
        if outdim < 1:
            raise ValueError(f"layer {name!r}: outdim must be at least 1, got {outdim}")
        self.outdim = outdim

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        collapsed = input_shape[self.outdim - 1:]
        size = None if any(s is None for s in collapsed) else int(np.prod(collapsed))
        return tuple(input_shape[:self.outdim - 1]) + (size,)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        return pt.as_tensor_variable(input).flatten(self.outdim)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"outdim": int(self.outdim), "name": self.name}


flatten = FlattenLayer


def _check_reshape_entry(entry):
    if isinstance(entry, int_types):
        if entry == 0 or entry < -1:
            raise ValueError("`shape` integers must be positive or -1")
    elif isinstance(entry, list):
        if len(entry) != 1 or not isinstance(entry[0], int_types) or entry[0] < 0:
            raise ValueError("`shape` input references must be single-element lists of int >= 0")
    elif isinstance(entry, Variable):
        if entry.ndim != 0:
            raise ValueError(
                "A symbolic variable in a shape specification must be a scalar, but had "
                f"{entry.ndim} dimensions"
            )
    else:
        raise ValueError("`shape` must be a tuple of int and/or [int]")


@register_layer
class ReshapeLayer(Layer):
    """Reshape the input (in C order) to a shape with the same number of elements.

    Parameters
    ----------
    incoming : Layer or tuple
    shape : tuple
        Each entry is a positive int; ``[i]``, the size of input axis ``i``;
        ``-1`` (at most once), the size that makes the total match; or a
        symbolic scalar.
    name : str, optional

    Examples
    --------
    >>> ReshapeLayer((None, 3, 4), ([0], -1)).output_shape
    (None, 12)
    """

    def __init__(self, incoming, shape, name=None):
        super().__init__(incoming, name=name)
        shape = tuple(shape)
        for entry in shape:
            _check_reshape_entry(entry)
        if sum(isinstance(s, int_types) and s == -1 for s in shape) > 1:
            raise ValueError("`shape` cannot contain multiple -1")
        self.shape = shape
        self.get_output_shape_for(self.input_shape)

    def get_output_shape_for(self, input_shape, **kwargs):
        """Return the output shape for the given input shape."""
        input_shape = [None if isinstance(s, Variable) else s for s in input_shape]
        output_shape = [None if isinstance(s, Variable) else s for s in self.shape]
        # Sizes copied from an unknown input size match one to one, so both
        # sides drop out of the element count that -1 is inferred from.
        masked_in, masked_out = list(input_shape), list(output_shape)
        for dim, entry in enumerate(self.shape):
            if isinstance(entry, list):
                if entry[0] >= len(input_shape):
                    raise ValueError(
                        f"specification contains [{entry[0]}], but input shape has "
                        f"{len(input_shape)} dimensions only"
                    )
                output_shape[dim] = masked_out[dim] = input_shape[entry[0]]
                if input_shape[entry[0]] is None and masked_in[entry[0]] is None:
                    masked_in[entry[0]] = masked_out[dim] = 1
        known_in = None if any(s is None for s in masked_in) else int(np.prod(masked_in))
        known_out = None if any(s is None for s in masked_out) else int(np.prod(masked_out))
        if -1 in output_shape:
            dim = output_shape.index(-1)
            if known_in is None or known_out is None:
                output_shape[dim] = known_out = None
            else:
                output_shape[dim] = known_in // -known_out
                known_out = -known_out * output_shape[dim]
        if known_in is not None and known_out is not None and known_in != known_out:
            raise ValueError(
                f"{tuple(input_shape)} cannot be reshaped to specification {self.shape}. The "
                "total size mismatches."
            )
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        shape = [input.shape[s[0]] if isinstance(s, list) else s for s in self.shape]
        return input.reshape(tuple(shape))

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        if any(isinstance(s, Variable) for s in self.shape):
            raise ValueError(
                f"layer {self.name!r}: a symbolic size in the shape cannot be stored in a config"
            )
        shape = [[int(s[0])] if isinstance(s, list) else int(s) for s in self.shape]
        return {"shape": shape, "name": self.name}


reshape = ReshapeLayer


@register_layer
class DimshuffleLayer(Layer):
    """Reorder the axes of the input, insert broadcastable axes (``'x'``), or drop size-1 axes.

    Parameters
    ----------
    incoming : Layer or tuple
    pattern : tuple of int or 'x'
        Input axis for each output axis, or ``'x'`` for a new axis of size 1.
        Every input axis must appear, except axes of size 1 (which are
        dropped).
    name : str, optional

    Examples
    --------
    >>> DimshuffleLayer((2, 3, 5, 7), (3, 2, 1, "x", 0)).output_shape
    (7, 5, 3, 1, 2)
    """

    def __init__(self, incoming, pattern, name=None):
        super().__init__(incoming, name=name)
        used = set()
        for p in pattern:
            if isinstance(p, int_types):
                if p in used:
                    raise ValueError(f"pattern contains dimension {p} more than once")
                used.add(p)
            elif p != "x":
                raise ValueError(f"pattern should only contain dimension indices or 'x', not {p!r}")
        self.pattern = tuple(pattern)
        self.get_output_shape_for(self.input_shape)

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        output_shape = []
        used = [False] * len(input_shape)
        for p in self.pattern:
            if p == "x":
                output_shape.append(1)
                continue
            if p < 0 or p >= len(input_shape):
                raise ValueError(
                    f"pattern contains {p}, but input shape has {len(input_shape)} dimensions only"
                )
            output_shape.append(input_shape[p])
            used[p] = True
        for axis, (size, kept) in enumerate(zip(input_shape, used)):
            if not kept and size is not None and size != 1:
                raise ValueError(
                    f"pattern attempted to collapse dimension {axis} of size {size}; dimensions "
                    "with size != 1/None are not broadcastable and cannot be collapsed"
                )
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        return pt.as_tensor_variable(input).dimshuffle(self.pattern)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"pattern": [p if p == "x" else int(p) for p in self.pattern], "name": self.name}


dimshuffle = DimshuffleLayer


def _pad_widths(width, n):
    """``(before, after)`` for each of ``n`` axes from an int, ints, or pairs."""
    if isinstance(width, int_types):
        return [(int(width), int(width))] * n
    widths = []
    for w in width:
        try:
            before, after = w
        except TypeError:
            before = after = w
        widths.append((int(before), int(after)))
    return widths


def _pad(x, width, val, batch_ndim):
    """Pad the axes of ``x`` after the first ``batch_ndim`` with ``val``."""
    x = pt.as_tensor_variable(x)
    for offset, (before, after) in enumerate(_pad_widths(width, x.ndim - batch_ndim)):
        axis = batch_ndim + offset
        pieces = []
        for size in (before, after):
            shape = list(x.shape)
            shape[axis] = size
            pieces.append(pt.full(shape, val, dtype=x.dtype) if size else None)
        parts = [p for p in (pieces[0], x, pieces[1]) if p is not None]
        if len(parts) > 1:
            x = pt.concatenate(parts, axis=axis)
    return x


@register_layer
class PadLayer(Layer):
    """Pad every axis after the first ``batch_ndim`` with ``width`` elements of value ``val``.

    Parameters
    ----------
    incoming : Layer or tuple
    width : int, iterable of int, or iterable of pairs
        The same width before and after every axis; one per axis; or
        ``(before, after)`` per axis.
    val : float
    batch_ndim : int
        Leading axes left alone: 2 keeps the batch and channel axes of
        convolution feature maps.
    name : str, optional

    Examples
    --------
    >>> PadLayer((2, 3, 4, 5), width=((1, 2), (3, 4))).output_shape
    (2, 3, 7, 12)
    """

    def __init__(self, incoming, width, val=0, batch_ndim=2, name=None):
        super().__init__(incoming, name=name)
        self.width = width
        self.val = val
        self.batch_ndim = batch_ndim

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        output_shape = list(input_shape)
        widths = _pad_widths(self.width, len(input_shape) - self.batch_ndim)
        for offset, (before, after) in enumerate(widths):
            axis = offset + self.batch_ndim
            if output_shape[axis] is not None:
                output_shape[axis] += before + after
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        return _pad(input, self.width, self.val, self.batch_ndim)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        width = self.width if isinstance(self.width, int_types) else [
            list(w) if isinstance(w, (tuple, list)) else w for w in self.width]
        return {"width": width, "val": float(self.val), "batch_ndim": int(self.batch_ndim),
                "name": self.name}


pad = PadLayer


@register_layer
class SliceLayer(Layer):
    """Select along one axis: an index (dropping the axis) or a slice (keeping it).

    Parameters
    ----------
    incoming : Layer or tuple
    indices : int or slice
    axis : int
    name : str, optional

    Examples
    --------
    >>> SliceLayer((2, 3, 4), indices=0, axis=1).output_shape
    (2, 4)
    >>> SliceLayer((2, 3, 4), indices=slice(-2, None), axis=-1).output_shape
    (2, 3, 2)
    """

    def __init__(self, incoming, indices, axis=-1, name=None):
        super().__init__(incoming, name=name)
        self.slice = indices
        self.axis = axis

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        output_shape = list(input_shape)
        if isinstance(self.slice, int_types):
            del output_shape[self.axis]
        elif input_shape[self.axis] is not None:
            output_shape[self.axis] = len(range(*self.slice.indices(input_shape[self.axis])))
        else:
            output_shape[self.axis] = None
        return tuple(output_shape)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        input = pt.as_tensor_variable(input)
        axis = self.axis + input.ndim if self.axis < 0 else self.axis
        return input[(slice(None),) * axis + (self.slice,)]

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        if isinstance(self.slice, slice):
            indices = {"start": self.slice.start, "stop": self.slice.stop, "step": self.slice.step}
        else:
            indices = int(self.slice)
        return {"indices": indices, "axis": int(self.axis), "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its :meth:`get_config`, with fresh parameters."""
        config = dict(config)
        if isinstance(config["indices"], dict):
            bounds = config["indices"]
            config["indices"] = slice(bounds.get("start"), bounds.get("stop"), bounds.get("step"))
        return cls(incoming, **config)
