"""Layers that merge several inputs, with the names and semantics of ``lasagne.layers.merge``.

Inputs of different sizes can be cropped to a common shape first: ``cropping``
lists one mode per axis, ``None`` (leave the axis alone), ``'lower'`` (keep
the first elements), ``'upper'`` (keep the last) or ``'center'``; axes
beyond the list are left alone.

Examples
--------
>>> from dropout_layers.layers import InputLayer
>>> a, b = InputLayer((None, 3, 10)), InputLayer((None, 5, 8))
>>> ConcatLayer([a, b], axis=1, cropping=[None, None, "center"]).output_shape
(None, 8, 8)
"""
import numbers

import pytensor.tensor as pt

from .base import MergeLayer
from .registry import register_layer

__all__ = [
    "autocrop", "autocrop_array_shapes", "ConcatLayer", "concat", "ElemwiseMergeLayer",
    "ElemwiseSumLayer",
]

_CROP_MODES = ("lower", "center", "upper")


def _padded_cropping(cropping, ndim):
    cropping = list(cropping)
    for mode in cropping:
        if mode is not None and mode not in _CROP_MODES:
            raise ValueError(f"unknown crop mode {mode!r}; use None, 'lower', 'center' or 'upper'")
    return cropping + [None] * (ndim - len(cropping))


def _check_ranks(ranks):
    if len(set(ranks)) > 1:
        raise ValueError(
            f"not all inputs have the same number of dimensions: got {len(ranks)} inputs of "
            f"dimensionalities {list(ranks)}"
        )


def autocrop(inputs, cropping):
    """Crop symbolic inputs to a common size along the axes ``cropping`` names.

    Parameters
    ----------
    inputs : list of TensorVariable
        Of one rank.
    cropping : list of {None, 'lower', 'center', 'upper'} or None
        One mode per axis (see the module notes); ``None`` returns the
        inputs unchanged.

    Returns
    -------
    list of TensorVariable

    Raises
    ------
    ValueError
        For inputs of different ranks or an unknown crop mode.
    """
    if cropping is None:
        return inputs
    _check_ranks([x.ndim for x in inputs])
    cropping = _padded_cropping(cropping, inputs[0].ndim)
    shapes = [x.shape for x in inputs]
    smallest = pt.min(pt.stack([pt.stack(list(s)) for s in shapes]), axis=0)
    slices = [[] for _ in inputs]
    for axis, mode in enumerate(cropping):
        size = smallest[axis]
        for shape, per_input in zip(shapes, slices):
            if mode is None:
                per_input.append(slice(None))
            elif mode == "lower":
                per_input.append(slice(None, size))
            elif mode == "upper":
                per_input.append(slice(-size, None))
            else:
                offset = (shape[axis] - size) // 2
                per_input.append(slice(offset, offset + size))
    return [x[tuple(s)] for x, s in zip(inputs, slices)]


def autocrop_array_shapes(input_shapes, cropping):
    """Return the shapes the inputs have after :func:`autocrop`.

    Parameters
    ----------
    input_shapes : list of tuple
    cropping : list of {None, 'lower', 'center', 'upper'} or None

    Returns
    -------
    list of tuple
        A cropped axis has the smallest size of all inputs, or ``None`` if
        any input's size is unknown.

    Examples
    --------
    >>> autocrop_array_shapes([(1, 4), (3, 2)], ["lower", None])
    [(1, 4), (1, 2)]
    """
    if cropping is None:
        return input_shapes
    _check_ranks([len(s) for s in input_shapes])
    cropping = _padded_cropping(cropping, len(input_shapes[0]))
    columns = []
    for sizes, mode in zip(zip(*input_shapes), cropping):
        if mode is None:
            columns.append(sizes)
        else:
            smallest = None if any(s is None for s in sizes) else min(sizes)
            columns.append((smallest,) * len(sizes))
    return [tuple(shape) for shape in zip(*columns)]


def _merged_size(sizes):
    known = {s for s in sizes if s is not None}
    if len(known) > 1:
        return False, None
    return True, (known.pop() if known else None)


@register_layer
class ConcatLayer(MergeLayer):
    """Concatenate the inputs along ``axis``.

    Parameters
    ----------
    incomings : list of Layer or tuple
    axis : int
    cropping : list of {None, 'lower', 'center', 'upper'}, optional
        Crop the other axes to a common size first (see the module notes);
        the concatenation axis itself is never cropped.
    name : str, optional
    """

    def __init__(self, incomings, axis=1, cropping=None, name=None):
        super().__init__(incomings, name=name)
        self.axis = axis
        if cropping is not None:
            cropping = list(cropping)
            if -len(cropping) <= axis < len(cropping):
                cropping[axis] = None
        self.cropping = cropping
        if self._known_input_shapes():
            self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        """Return the shape of the concatenation; raise ValueError if the inputs do not fit."""
        input_shapes = autocrop_array_shapes(input_shapes, self.cropping)
        _check_ranks([len(s) for s in input_shapes])
        axis = self.axis % len(input_shapes[0])
        out = []
        for dim, sizes in enumerate(zip(*input_shapes)):
            if dim == axis:
                out.append(None if any(s is None for s in sizes) else sum(sizes))
                continue
            fits, size = _merged_size(sizes)
            if not fits:
                raise ValueError(
                    f"ConcatLayer {self.name!r}: input shapes {input_shapes} must be the same "
                    f"except in the concatenation axis {self.axis}"
                )
            out.append(size)
        return tuple(out)

    def get_output_for(self, inputs, **kwargs):
        """Return the cropped inputs concatenated along ``axis``."""
        return pt.concatenate(autocrop(inputs, self.cropping), axis=self.axis)

    def get_config(self):
        """Return ``axis``, ``cropping`` and ``name``."""
        return {"axis": self.axis, "cropping": self.cropping, "name": self.name}


#: Lasagne's shortcut for :class:`ConcatLayer`.
concat = ConcatLayer


_STORABLE_MERGES = ("add", "mul", "maximum", "minimum", "sub")


def _merge_function_name(function):
    for name in _STORABLE_MERGES:
        if function is getattr(pt, name):
            return name
    raise ValueError(
        f"merge_function {function!r} is not one of pytensor.tensor's {_STORABLE_MERGES}, so it "
        "cannot be stored in a layer config"
    )


def _fold(function, inputs):
    output = inputs[0]
    for x in inputs[1:]:
        output = function(output, x)
    return output


@register_layer
class ElemwiseMergeLayer(MergeLayer):
    """Merge the inputs element-wise with a binary function, left to right.

    Parameters
    ----------
    incomings : list of Layer or tuple
        Of one shape (after cropping).
    merge_function : callable
        Called as ``merge_function(a, b)``, for example
        ``pytensor.tensor.mul`` or ``pytensor.tensor.maximum``.
    cropping : list of {None, 'lower', 'center', 'upper'}, optional
    name : str, optional

    Notes
    -----
    :meth:`get_config` stores ``merge_function`` by name, which works for
    ``pytensor.tensor``'s ``add``, ``mul``, ``maximum``, ``minimum`` and ``sub``.
    """

    def __init__(self, incomings, merge_function, cropping=None, name=None):
        super().__init__(incomings, name=name)
        self.merge_function = merge_function
        self.cropping = cropping
        if self._known_input_shapes():
            self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        """Return the common shape; raise ValueError if the shapes differ."""
        input_shapes = autocrop_array_shapes(input_shapes, self.cropping)
        _check_ranks([len(s) for s in input_shapes])
        out = []
        for sizes in zip(*input_shapes):
            fits, size = _merged_size(sizes)
            if not fits:
                raise ValueError(
                    f"{type(self).__name__} {self.name!r}: input shapes differ: {input_shapes}"
                )
            out.append(size)
        return tuple(out)

    def get_output_for(self, inputs, **kwargs):
        """Return ``merge_function`` folded over the cropped inputs."""
        return _fold(self.merge_function, autocrop(inputs, self.cropping))

    def get_config(self):
        """Return the settings, ``merge_function`` by name."""
        return {"merge_function": _merge_function_name(self.merge_function),
                "cropping": self.cropping, "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config`."""
        config = dict(config)
        name = config["merge_function"]
        if name not in _STORABLE_MERGES:
            raise ValueError(f"unknown merge_function {name!r}; known: {_STORABLE_MERGES}")
        config["merge_function"] = getattr(pt, name)
        return cls(incoming, **config)


def _scaled(x, coeff):
    if isinstance(coeff, numbers.Number) and coeff == 1:
        return x
    if isinstance(coeff, numbers.Real) and x.dtype.startswith("float"):
        coeff = pt.constant(coeff, dtype=x.dtype)  # no float64 upcast of a float32 input
    return x * coeff


@register_layer
class ElemwiseSumLayer(ElemwiseMergeLayer):
    """Sum the inputs element-wise, each multiplied by its coefficient.

    Parameters
    ----------
    incomings : list of Layer or tuple
    coeffs : number or list of numbers
        One coefficient for all inputs, or one per input. Numbers become
        constants of a float input's dtype.
    cropping : list of {None, 'lower', 'center', 'upper'}, optional
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> layer = ElemwiseSumLayer([(2,), (2,)], coeffs=[2, -1])
    >>> a, b = np.array([1.0, 2.0]), np.array([0.5, 0.5])
    >>> layer.get_output_for([pt.as_tensor(a), pt.as_tensor(b)]).eval()
    array([1.5, 3.5])
    """

    def __init__(self, incomings, coeffs=1, cropping=None, name=None):
        incomings = list(incomings)
        if isinstance(coeffs, (list, tuple)):
            if len(coeffs) != len(incomings):
                raise ValueError(
                    f"ElemwiseSumLayer {name!r}: got {len(coeffs)} coeffs for {len(incomings)} "
                    "incomings"
                )
            coeffs = list(coeffs)
        else:
            coeffs = [coeffs] * len(incomings)
        self.coeffs = coeffs
        super().__init__(incomings, pt.add, cropping=cropping, name=name)

    def get_output_for(self, inputs, **kwargs):
        """Return the weighted sum of the cropped inputs."""
        scaled = [_scaled(x, c) for x, c in zip(autocrop(inputs, self.cropping), self.coeffs)]
        return _fold(pt.add, scaled)

    def get_config(self):
        """Return ``coeffs``, ``cropping`` and ``name``."""
        return {"coeffs": [float(c) for c in self.coeffs], "cropping": self.cropping,
                "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config`."""
        return cls(incoming, **config)
