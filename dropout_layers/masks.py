"""Bernoulli keep-masks for dropout.

:func:`bernoulli_mask` is the one place where dropout layers draw their
masks, so the drawing method can be made faster without touching the layers.

Two methods are available:

``"bits"`` (default)
    :class:`~dropout_layers.bernoulli_op.BernoulliMask` compares raw random
    bits with an integer threshold: one bit per element at ``p = 0.5``, at
    most 16 bits for any ``p``. ``p`` is rounded to a multiple of
    ``2**-16`` (see :func:`~dropout_layers.bernoulli_op.quantize_p`), an error
    of at most ``7.6e-6``. About ten times faster than ``"uniform"`` at
    ``p = 0.5`` (see ``scripts/benchmark_dropout.py``).
``"uniform"``
    Draws a float32 uniform per element and keeps it when it is at least
    ``p``. ``p`` may be symbolic. The drop probability is ``p`` rounded to
    float32, on the float32 uniform grid of step ``2**-24``.
"""
import numbers
from contextlib import contextmanager

import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from .bernoulli_op import DEFAULT_RESOLUTION, BernoulliMask

__all__ = ["bernoulli_mask", "MASK_METHODS", "get_default_method", "set_default_method", "default_method"]

#: Accepted values of ``method``.
MASK_METHODS = ("bits", "uniform")

_default_method = "bits"


def _check_method(method):
    if method not in MASK_METHODS:
        raise ValueError(f"unknown mask method {method!r}; expected one of {MASK_METHODS}")


def get_default_method():
    """Return the method :func:`bernoulli_mask` uses when none is given."""
    return _default_method


def set_default_method(method):
    """Set the method that :func:`bernoulli_mask` (and so every dropout layer) uses.

    It applies to graphs built afterwards; compiled functions keep their masks.
    """
    global _default_method
    _check_method(method)
    _default_method = method


@contextmanager
def default_method(method):
    """Build graphs with another mask method inside a ``with`` block.

    Examples
    --------
    >>> with default_method("uniform"):  # doctest: +SKIP
    ...     train_output = get_output(network)
    """
    previous = get_default_method()
    set_default_method(method)
    try:
        yield
    finally:
        set_default_method(previous)


def bernoulli_mask(rng, shape, p, method=None, resolution=DEFAULT_RESOLUTION):
    """Draw a boolean keep-mask, True with probability ``1 - p``.

    Parameters
    ----------
    rng : shared ``numpy.random.Generator`` variable
        The stream to draw from.
    shape : tuple of int or symbolic scalars, or a symbolic integer vector
        Shape of the mask. Entries equal to the constant 1 give broadcastable
        dimensions.
    p : float
        Probability of dropping an element, in [0, 1). Only
        ``method="uniform"`` accepts a symbolic ``p``.
    method : {"bits", "uniform"} or None
        How to draw the mask; see the module docstring. None uses
        :func:`get_default_method` (``"bits"`` unless changed).
    resolution : int
        For ``method="bits"``: ``p`` is rounded to a multiple of
        ``2**-resolution`` (1 to 32 bits).

    Returns
    -------
    next_rng : Variable
        The new state of ``rng``; it must be applied as an update (see
        :func:`dropout_layers.random.collect_rng_updates`).
    keep : TensorVariable
        Boolean mask of the given shape.
    """
    if method is None:
        method = _default_method
    _check_method(method)
    if method == "bits":
        if isinstance(p, Variable):
            raise TypeError("bernoulli_mask(method='bits') needs a numeric p; use method='uniform' for a symbolic p")
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"drop probability p must be a float in [0, 1), got {p!r}")
        next_rng, keep = BernoulliMask.from_p(p, resolution).make_node(rng, shape).outputs
        return next_rng, keep
    next_rng, uniform = pt.random.uniform(size=shape, rng=rng, dtype="float32", return_next_rng=True)
    return next_rng, pt.ge(uniform, pt.cast(p, "float32"))
