"""Library-wide settings: the float dtype of new parameters and input variables.

The library keeps its own float dtype instead of PyTensor's global
``floatX``: PyTensor defaults to float64, which would silently double memory
traffic and halve BLAS throughput in the training path. Parameters, input
variables and constants created by this library all use :func:`get_floatX`,
and :func:`dropout_layers.utils.floatX` casts arrays to it, as Lasagne's
``utils.floatX`` does.

Examples
--------
>>> from dropout_layers.config import get_floatX, set_floatX
>>> get_floatX()
'float32'
"""
import numpy as np

__all__ = ["get_floatX", "set_floatX"]

_FLOATX = "float32"


def get_floatX():
    """Return the dtype used for new parameters and input variables."""
    return _FLOATX


def set_floatX(dtype):
    """Set the dtype used for new parameters and input variables.

    Parameters
    ----------
    dtype : {'float32', 'float64'}
    """
    global _FLOATX
    dtype = np.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"floatX must be 'float32' or 'float64', got {dtype!r}")
    _FLOATX = dtype
