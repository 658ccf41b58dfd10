"""Library-wide settings.

The library keeps its own ``floatX`` instead of PyTensor's global one:
PyTensor defaults to float64, which would silently double memory traffic and
halve BLAS throughput in the training path. Parameters, input variables and
constants created by this library all use :func:`floatX`.
"""
import numpy as np

_FLOATX = "float32"


def floatX():
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


def as_floatX(arr):
    """Return ``arr`` as a NumPy array of dtype :func:`floatX`."""
    return np.asarray(arr, dtype=_FLOATX)
