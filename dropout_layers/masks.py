"""Random keep-masks and noise for the dropout family, with fresh draws on every call.

Every noise layer draws through this module, so the way randomness reaches
a compiled function is the same for all of them:

* :func:`rng_key` takes one key per call from a layer's RNG stream (a
  shared ``numpy.random.Generator``); :func:`bernoulli_mask`,
  :func:`uniform_noise` and :func:`normal_noise` expand it into masks and
  noise (sub-streams keep several draws of one layer independent).
* The stream's next state does not depend on what the graph draws, so one
  update expression serves every graph built from a layer: it is attached to
  the stream as its ``default_update``, which :func:`pytensor.function`
  applies by itself. A plain ``pytensor.function([x], get_output(net))``, or
  one with hand-written updates, therefore draws fresh masks on every call,
  as with Lasagne (whose Theano streams worked the same way). Explicit
  updates (:func:`dropout_layers.random.collect_rng_updates`, the update
  rules, :func:`dropout_layers.function`) are the same expression, so they
  give the same masks. An explicit ``updates={layer.rng: layer.rng}`` opts
  out (a frozen mask).
* Every call takes a new key, so the masks of a batch do not depend on the
  batches before it: splitting the data into other batches draws other
  (equally distributed) masks.

Mask methods
------------
``"bits"`` (default)
    :class:`~dropout_layers.bernoulli_op.BernoulliMask` compares random
    bits with an integer threshold: one bit per element at ``p = 0.5``, at
    most 16 bits for any ``p``. ``p`` is rounded to a multiple of
    ``2**-16`` (see :func:`~dropout_layers.bernoulli_op.quantize_p`), an error
    of at most ``7.6e-6``. A symbolic ``p`` (a shared variable a schedule
    anneals) becomes a run-time threshold and draws the same mask as the
    constant of the same value.
``"uniform"``
    Draws a float32 uniform per element and keeps it when it is at least
    ``p``. The drop probability is ``p`` rounded to float32, on the float32
    uniform grid of step ``2**-24``. Slower; kept for comparison.

Examples
--------
>>> import numpy as np, pytensor
>>> from dropout_layers.random import shared_rng
>>> stream = shared_rng(seed=1)
>>> _, keep = bernoulli_mask(stream, (2, 8), 0.5)
>>> draw = pytensor.function([], keep)   # no updates given
>>> bool((draw() != draw()).any())       # a fresh mask on every call
True
"""
import numbers
from contextlib import contextmanager

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from . import backends  # noqa: F401  (registers the ops' Numba, JAX and PyTorch implementations)
from .bernoulli_op import DEFAULT_RESOLUTION, BernoulliMask
from .rng_key import RNGKey
from .uniform_op import UniformNoise

__all__ = ["bernoulli_mask", "uniform_noise", "normal_noise", "rng_key", "drop_threshold",
           "MASK_METHODS", "get_default_method", "set_default_method", "default_method"]

#: Accepted values of ``method``.
MASK_METHODS = ("bits", "uniform")

_default_method = "bits"

_KEY_TAG = "dropout_layers_key"


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
    >>> from dropout_layers.random import shared_rng
    >>> with default_method("uniform"):
    ...     _, keep = bernoulli_mask(shared_rng(seed=0), (4, 4), 0.5)
    >>> get_default_method()
    'bits'
    """
    previous = get_default_method()
    set_default_method(method)
    try:
        yield
    finally:
        set_default_method(previous)


def rng_key(rng):
    """Return the key one compiled call takes from ``rng``, and the stream's next state.

    The pair is built once per stream and reused by every graph, and the next
    state becomes the stream's ``default_update``; see the module notes.

    Parameters
    ----------
    rng : shared ``numpy.random.Generator`` variable

    Returns
    -------
    next_rng : Variable
        The stream's state after the call.
    key : TensorVariable
        Two uint32 words.
    """
    cached = getattr(rng.tag, _KEY_TAG, None)
    if cached is None:
        next_rng, key = RNGKey()(rng).owner.outputs
        _set_default_update(rng, next_rng)
        cached = (next_rng, key)
        setattr(rng.tag, _KEY_TAG, cached)
    return cached


def _set_default_update(rng, next_rng):
    # PyTensor 3 still applies a shared variable's default_update in every
    # pytensor.function (compile/rebuild.py) but warns on the public setter,
    # whose only other user, RandomStream, it is retiring. The attribute
    # behind the property is set directly so that building a layer warns
    # nothing; tests/test_fresh_masks.py fails should PyTensor drop the
    # mechanism.
    if not hasattr(rng, "_default_update"):
        raise RuntimeError("this PyTensor has no SharedVariable default updates; compile with "
                           "dropout_layers.function so that each call draws fresh masks")
    rng._default_update = next_rng


def drop_threshold(p, resolution=DEFAULT_RESOLUTION):
    """Return the int64 run-time threshold of a symbolic ``p``, on the grid ``[0, 2**resolution]``.

    The threshold is ``floor(p * 2**resolution + 1/2)``: halves round up, as in
    :func:`~dropout_layers.bernoulli_op.quantize_p` (and on every backend:
    PyTorch's has no round-half-to-even).
    """
    scale = pt.constant(2.0**resolution, dtype="float64")
    scaled = pt.floor(pt.cast(p, "float64") * scale + 0.5)
    return pt.cast(pt.clip(scaled, 0, 2**resolution), "int64")


def _check_p(p):
    if isinstance(p, Variable):
        if p.type.ndim != 0:
            raise TypeError(f"drop probability p must be a scalar, got a {p.type.ndim}-d variable")
        return p
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"drop probability p must be a float in [0, 1), got {p!r}")
    return float(p)


def bernoulli_mask(rng, shape, p, method=None, resolution=DEFAULT_RESOLUTION, substream=0):
    """Draw a boolean keep-mask, True with probability ``1 - p``.

    Parameters
    ----------
    rng : shared ``numpy.random.Generator`` variable
        The stream to draw from.
    shape : tuple of int or symbolic scalars, or a symbolic integer vector
        Shape of the mask. Entries equal to the constant 1 give broadcastable
        dimensions.
    p : float or symbolic scalar
        Probability of dropping an element, in [0, 1).
    method : {"bits", "uniform"} or None
        How to draw the mask; see the module docstring. None uses
        :func:`get_default_method` (``"bits"`` unless changed).
    resolution : int
        For ``method="bits"``: ``p`` is rounded to a multiple of
        ``2**-resolution`` (1 to 32 bits).
    substream : int
        Draws of one stream with different sub-streams are independent;
        with the same one they are identical within a call.

    Returns
    -------
    next_rng : Variable
        The new state of ``rng`` (also its default update).
    keep : TensorVariable
        Boolean mask of the given shape.
    """
    if method is None:
        method = _default_method
    _check_method(method)
    p = _check_p(p)
    next_rng, key = rng_key(rng)
    if method == "uniform":
        uniform = UniformNoise("float32", substream)(key, shape)
        return next_rng, pt.ge(uniform, pt.cast(p, "float32"))
    if isinstance(p, Variable):
        threshold = drop_threshold(p, resolution)
        keep = BernoulliMask.runtime(resolution, substream)(key, shape, threshold)
    else:
        keep = BernoulliMask.from_p(p, resolution, substream)(key, shape)
    return next_rng, keep


def uniform_noise(rng, shape, dtype="float32", substream=0):
    """Draw uniforms in [0, 1); returns ``(next_rng, u)`` as :func:`bernoulli_mask` does."""
    next_rng, key = rng_key(rng)
    return next_rng, UniformNoise(dtype, substream)(key, shape)


def normal_noise(rng, shape, dtype="float32", substream=0):
    """Draw standard normal noise (Box-Muller on two uniforms); returns ``(next_rng, z)``.

    float16 noise is computed in float32 and rounded.
    """
    next_rng, key = rng_key(rng)
    work = "float64" if dtype == "float64" else "float32"
    if isinstance(shape, Variable):
        shape = [shape[i] for i in range(pt.get_vector_length(shape))]
    pair = UniformNoise(work, substream)(key, (2, *shape))
    # 1 - u lies in (0, 1], so the logarithm is finite.
    radius = pt.sqrt(-2 * pt.log1p(-pair[0]))
    angle = pt.constant(2 * np.pi, dtype=work) * pair[1]
    return next_rng, pt.cast(radius * pt.cos(angle), dtype)
