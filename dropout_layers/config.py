"""Library-wide settings: the float dtype of new parameters and input variables.

The library's float dtype, :func:`get_floatX`, is chosen in this order:

1. the dtype given to :func:`set_floatX` (``None`` returns to the rules below);
2. PyTensor's ``floatX`` when the user chose it: through ``PYTENSOR_FLAGS``
   (``PYTENSOR_FLAGS=floatX=float64``) or ``.pytensorrc``, or by assigning
   ``pytensor.config.floatX`` a value other than PyTensor's default float64;
3. otherwise float32.

Lasagne follows Theano's ``floatX``, whose default is float64; PyTensor keeps
that default, which would silently double memory traffic and halve BLAS
throughput in the training path, so an unconfigured run uses float32.
Assigning ``pytensor.config.floatX = 'float64'`` at run time cannot be told
apart from PyTensor's default: use ``set_floatX('float64')`` or the flag for
float64. Parameters made by the initializers, input variables and constants
created by this library all use :func:`get_floatX`, and
:func:`dropout_layers.utils.floatX` casts arrays to it, as Lasagne's
``utils.floatX`` does.

Examples
--------
>>> from dropout_layers.config import get_floatX, set_floatX
>>> get_floatX()
'float32'
>>> set_floatX("float64"); get_floatX()
'float64'
>>> set_floatX(None); get_floatX()
'float32'
"""
from contextlib import contextmanager

import numpy as np
import pytensor

from ._pytensor_setup import user_set

__all__ = ["get_floatX", "set_floatX", "using_floatX"]

_LIBRARY_DEFAULT = "float32"
_PYTENSOR_DEFAULT = "float64"
_FLOAT_DTYPES = ("float16", "float32", "float64")
_chosen = None


def get_floatX():
    """Return the dtype used for new parameters and input variables (see the module notes)."""
    if _chosen is not None:
        return _chosen
    pytensor_floatx = pytensor.config.floatX
    if pytensor_floatx != _PYTENSOR_DEFAULT or user_set("floatX"):
        return pytensor_floatx
    return _LIBRARY_DEFAULT


def set_floatX(dtype):
    """Set the dtype used for new parameters and input variables.

    Parameters
    ----------
    dtype : {'float16', 'float32', 'float64'} or None
        ``None`` forgets an earlier choice, so that :func:`get_floatX`
        follows PyTensor's ``floatX`` again where the user set it.
    """
    global _chosen
    if dtype is None:
        _chosen = None
        return
    name = np.dtype(dtype).name
    if name not in _FLOAT_DTYPES:
        raise ValueError(f"floatX must be one of {_FLOAT_DTYPES}, got {dtype!r}")
    _chosen = name


@contextmanager
def using_floatX(dtype):
    """Use ``dtype`` as the library's float dtype inside a ``with`` block, then restore.

    Examples
    --------
    >>> with using_floatX("float64"):
    ...     get_floatX()
    'float64'
    >>> get_floatX()
    'float32'
    """
    global _chosen
    previous = _chosen
    set_floatX(dtype)
    try:
        yield get_floatX()
    finally:
        _chosen = previous
