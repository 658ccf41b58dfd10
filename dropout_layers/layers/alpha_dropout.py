"""Alpha dropout: dropout for self-normalising (SELU) networks."""
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from ..masks import bernoulli_mask
from .noise import is_off
from .registry import register_layer
from .stochastic import (
    StochasticLayer,
    check_rate,
    normalise_axes,
    restore_rate,
    store_rate,
)

__all__ = ["AlphaDropoutLayer", "SELU_ALPHA", "SELU_SCALE", "alpha_dropout_affine"]

#: SELU's constants (Klambauer et al. 2017):
#: ``selu(x) = scale * (x if x > 0 else alpha * (exp(x) - 1))``.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def alpha_dropout_affine(p, alpha_prime):
    """Return alpha dropout's ``(a, b)``: ``a * (x or alpha') + b`` has mean 0, variance 1 again.

    For an input of mean 0 and variance 1 and keep probability ``q = 1 - p``,
    ``a = (q * (1 + p * alpha'**2)) ** -0.5`` and ``b = -a * p * alpha'``;
    works on floats and on symbolic ``p`` alike.

    Examples
    --------
    >>> a, b = alpha_dropout_affine(0.1, -SELU_SCALE * SELU_ALPHA)
    >>> round(float(a), 4), round(float(b), 4)
    (0.9213, 0.162)
    """
    q = 1.0 - p
    sqrt = pt.sqrt if isinstance(p, Variable) else np.sqrt
    a = 1.0 / sqrt(q * (1.0 + p * alpha_prime**2))
    return a, -a * p * alpha_prime


@register_layer
class AlphaDropoutLayer(StochasticLayer):
    """Dropout that keeps a SELU network's activations at mean 0 and variance 1.

    In training each element is replaced, with probability ``p``, by SELU's
    negative saturation value ``alpha' = -scale * alpha`` (about -1.758)
    instead of 0, and the result is transformed by ``a * x + b``
    (:func:`alpha_dropout_affine`) so that an input of mean 0 and variance 1
    leaves with mean 0 and variance 1. The deterministic output is the input.

    Parameters
    ----------
    incoming : Layer or tuple
    p : float or scalar tensor
        Probability of dropping an element, in [0, 1); ``p=0`` is the
        identity. A shared ``p`` may be annealed.
    alpha_prime : float
        The value a dropped element takes before the affine correction;
        the default is SELU's ``-scale * alpha``.
    shared_axes : tuple of int
        Axes along which one mask value is shared, as for dropout.
    seed : int, optional
        Seed of the layer's RNG stream.
    name : str, optional

    Notes
    -----
    Use it with ``selu`` units and LeCun-normal weights; the paper
    recommends ``p`` of 0.05 or 0.1. Mean and variance are kept for inputs
    that have mean 0 and variance 1 (the SELU fixed point); other inputs are
    transformed by the same affine map.

    References
    ----------
    .. [1] Klambauer, Unterthiner, Mayr and Hochreiter (2017):
       Self-normalizing neural networks. NeurIPS.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 10000))
    >>> drop = dl.AlphaDropoutLayer(l_in, p=0.1, seed=1)
    >>> f = pytensor.function([l_in.input_var], dl.get_output(drop))
    >>> out = f(np.random.default_rng(0).standard_normal((2, 10000)).astype("float32"))
    >>> abs(float(out.mean())) < 0.05 and abs(float(out.var()) - 1) < 0.05
    True
    """

    def __init__(self, incoming, p=0.1, alpha_prime=-SELU_SCALE * SELU_ALPHA, shared_axes=(),
                 seed=None, name=None):
        super().__init__(incoming, seed=seed, name=name)
        self.p = check_rate(p, name)
        self.alpha_prime = float(alpha_prime)
        if not np.isfinite(self.alpha_prime):
            raise ValueError(f"layer {name!r}: alpha_prime must be finite, got {alpha_prime!r}")
        self.shared_axes = normalise_axes(shared_axes, len(self.input_shape), name)

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return ``a * switch(mask, x, alpha') + b``, or ``x`` if deterministic."""
        if deterministic or is_off(self.p):
            return input
        _, keep = bernoulli_mask(self._srng, self.noise_shape(input, self.shared_axes), self.p)
        if self.shared_axes:
            keep = pt.specify_broadcastable(keep, *self.shared_axes)
        a, b = alpha_dropout_affine(self.p, self.alpha_prime)
        a, b = pt.cast(a, input.dtype), pt.cast(b, input.dtype)
        dropped = pt.switch(keep, input, pt.constant(self.alpha_prime, dtype=input.dtype))
        return a * dropped + b

    def get_config(self):
        """Return ``p`` (by value), ``alpha_prime``, ``shared_axes``, ``seed`` and ``name``."""
        config = {"alpha_prime": self.alpha_prime, "shared_axes": list(self.shared_axes),
                  "seed": self.seed, "name": self.name}
        return store_rate(config, "p", self.p, self.name)

    @classmethod
    def from_config(cls, incoming, config):
        """Rebuild the layer from :meth:`get_config`."""
        config = restore_rate(config, "p")
        config["shared_axes"] = tuple(config.get("shared_axes", ()))
        return cls(incoming, **config)
