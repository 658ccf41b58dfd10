"""Bernoulli keep-masks for dropout.

:func:`bernoulli_mask` is the one place where dropout layers draw their
masks, so the drawing method can be made faster without touching the layers.
"""
import pytensor.tensor as pt

__all__ = ["bernoulli_mask"]


def bernoulli_mask(rng, shape, p):
    """Draw a boolean keep-mask, True with probability ``1 - p``.

    Parameters
    ----------
    rng : shared ``numpy.random.Generator`` variable
        The stream to draw from.
    shape : tuple of int or symbolic scalars
        Shape of the mask.
    p : float
        Probability of dropping an element, in [0, 1).

    Returns
    -------
    next_rng : Variable
        The new state of ``rng``; it must be applied as an update.
    keep : TensorVariable
        Boolean mask of the given shape.
    """
    next_rng, uniform = pt.random.uniform(size=shape, rng=rng, dtype="float32").owner.outputs
    return next_rng, pt.ge(uniform, pt.constant(p, dtype="float32"))
