"""Gaussian dropout: multiplicative noise of mean 1 instead of a 0/1 mask."""
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from ..masks import normal_noise
from .noise import is_off
from .registry import register_layer
from .stochastic import (
    StochasticLayer,
    check_rate,
    normalise_axes,
    restore_rate,
    store_rate,
)

__all__ = ["GaussianDropoutLayer"]


def noise_std(p, dtype):
    """``sqrt(p / (1 - p))``, the noise standard deviation that matches dropout of rate ``p``."""
    if isinstance(p, Variable):
        return pt.cast(pt.sqrt(p / (1.0 - p)), dtype)
    return pt.constant((p / (1.0 - p)) ** 0.5, dtype=dtype)


@register_layer
class GaussianDropoutLayer(StochasticLayer):
    """Multiply the input by Gaussian noise ``N(1, p / (1 - p))`` in training.

    The noise has the mean and variance of inverted dropout's factor
    (``0`` or ``1 / (1 - p)``), so the expected output equals the
    deterministic one, which is the input.

    Parameters
    ----------
    incoming : Layer or tuple
    p : float or scalar tensor
        The dropout rate the noise stands for, in [0, 1); ``p=0`` is the
        identity. A shared ``p`` may be annealed.
    shared_axes : tuple of int
        Axes along which one noise value is shared, as for dropout.
    seed : int, optional
        Seed of the layer's RNG stream.
    name : str, optional

    Notes
    -----
    Unlike a mask, the noise is continuous and unbounded: a unit is
    sometimes scaled by more than ``1 / (1 - p)``, and, with probability
    ``Phi(-sqrt((1 - p) / p))`` (2.3% at ``p = 0.2``, 16% at ``p = 0.5``),
    negated.

    References
    ----------
    .. [1] Srivastava et al. (2014): Dropout: a simple way to prevent neural
       networks from overfitting. JMLR 15, 1929-1958, section 10.
    .. [2] Wang and Manning (2013): Fast dropout training. ICML.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 2000))
    >>> noisy = dl.GaussianDropoutLayer(l_in, p=0.5, seed=1)
    >>> f = pytensor.function([l_in.input_var], dl.get_output(noisy))
    >>> out = f(np.ones((1, 2000), "float32"))
    >>> 0.95 < float(out.mean()) < 1.05 and 0.95 < float(out.std()) < 1.05
    True
    """

    def __init__(self, incoming, p=0.5, shared_axes=(), seed=None, name=None):
        super().__init__(incoming, seed=seed, name=name)
        self.p = check_rate(p, name)
        self.shared_axes = normalise_axes(shared_axes, len(self.input_shape), name)

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return ``x * (1 + sqrt(p / (1 - p)) * noise)``, or ``x`` if deterministic."""
        if deterministic or is_off(self.p):
            return input
        _, noise = normal_noise(self._srng, self.noise_shape(input, self.shared_axes), input.dtype)
        if self.shared_axes:
            noise = pt.specify_broadcastable(noise, *self.shared_axes)
        return input * (1 + noise_std(self.p, input.dtype) * noise)

    def get_config(self):
        """Return ``p`` (a shared one by value), ``shared_axes``, ``seed`` and ``name``."""
        config = {"shared_axes": list(self.shared_axes), "seed": self.seed, "name": self.name}
        return store_rate(config, "p", self.p, self.name)

    @classmethod
    def from_config(cls, incoming, config):
        """Rebuild the layer from :meth:`get_config`."""
        config = restore_rate(config, "p")
        config["shared_axes"] = tuple(config.get("shared_axes", ()))
        return cls(incoming, **config)
