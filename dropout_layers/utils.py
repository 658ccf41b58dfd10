"""Small helpers shared by the layers."""
import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt

from .config import get_floatX

__all__ = ["as_tuple", "create_param", "floatX", "unique"]


def as_tuple(x, n, t=None):
    """Return ``x`` as a tuple of length ``n``, repeating a scalar.

    Parameters
    ----------
    x : value or iterable
    n : int
        Required length.
    t : type or tuple of types, optional
        Required type of every element.
    """
    try:
        xs = tuple(x)
    except TypeError:
        xs = (x,) * n
    if len(xs) != n:
        raise ValueError(f"expected a single value or an iterable of length {n}, got {x!r}")
    if t is not None and not all(isinstance(v, t) for v in xs):
        raise TypeError(f"expected a single value or an iterable of {t}, got {x!r}")
    return xs


def floatX(arr):
    """Return ``arr`` as a NumPy array of the library's float dtype, as Lasagne's ``floatX``.

    Examples
    --------
    >>> floatX([1, 2]).dtype
    dtype('float32')
    """
    return np.asarray(arr, dtype=get_floatX())


def unique(items):
    """Return the items in order of first appearance, without duplicates."""
    seen = set()
    out = []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


def create_param(spec, shape, name=None):
    """Turn a parameter specification into a shared variable.

    Parameters
    ----------
    spec : shared variable, numpy array, number or callable
        A shared variable is used as is (its shape is checked when known);
        an array or number is copied into a new shared variable of dtype
        :func:`dropout_layers.config.get_floatX`; a callable (an initializer) is
        called with ``shape`` and must return an array of that shape.
    shape : tuple of int
    name : str, optional

    Returns
    -------
    SharedVariable
    """
    shape = tuple(shape)
    if any(d <= 0 for d in shape):
        raise ValueError(f"cannot create param {name!r} with shape {shape}: sizes must be positive")
    if isinstance(spec, pytensor.compile.SharedVariable):
        if spec.type.ndim != len(shape):
            raise ValueError(
                f"param {name!r}: shared variable has {spec.type.ndim} dimensions, expected shape {shape}"
            )
        value_shape = spec.get_value(borrow=True).shape
        if value_shape != shape:
            raise ValueError(f"param {name!r}: shared variable has shape {value_shape}, expected {shape}")
        return spec
    if isinstance(spec, pt.TensorVariable):
        raise TypeError(f"param {name!r}: symbolic expressions are not supported as parameters; pass a shared variable")
    if callable(spec):
        value = spec(shape)
    elif isinstance(spec, (np.ndarray, numbers.Number)):
        value = spec
    else:
        raise TypeError(f"param {name!r}: cannot initialise from {type(spec).__name__}")
    value = np.array(value, dtype=get_floatX())
    if value.shape != shape:
        if value.ndim == 0:
            value = np.full(shape, value, dtype=get_floatX())
        else:
            raise ValueError(f"param {name!r}: initial value has shape {value.shape}, expected {shape}")
    return pytensor.shared(value, name=name)
