"""Dropout and Gaussian noise layers, as in ``lasagne.layers.noise``.

Both dropout layers drop each element with probability ``p`` in training and
are the identity with ``deterministic=True``. With ``rescale=True``
(inverted dropout) the kept elements are divided by ``1 - p`` in training, so
the expected output equals the deterministic one and nothing changes at test
time. :class:`SwitchDropoutLayer` (a switch, the recommended layer) and
:class:`DropoutLayer` (a multiply, Lasagne's ``DropoutLayer`` and
``dropout``) draw the same masks from the same stream.

Every element draws its own mask, so every example of a batch gets a
different one, unless ``shared_axes`` shares it along some axes: ``(0,)``
uses one mask for the whole batch, ``(2, 3)`` drops whole feature maps, and
for a sequence ``(batch, time, features)``, ``shared_axes=(1,)`` is
*variational* (locked) dropout, one mask per sequence for all its time
steps (Gal and Ghahramani 2016).

``p`` may be a float or a scalar tensor (a shared ``p`` can be annealed
during training, see :class:`dropout_layers.training.DropoutSchedule`).
Each call of a compiled function draws fresh masks, whether or not its
updates mention the layer's stream (see :mod:`dropout_layers.masks`).

Examples
--------
Variational dropout of a sequence batch: one mask per sequence and feature,
the same at every time step.

>>> import numpy as np, pytensor
>>> import dropout_layers as dl
>>> l_in = dl.InputLayer((None, 5, 8))
>>> locked = dl.SwitchDropoutLayer(l_in, p=0.5, shared_axes=(1,), seed=1)
>>> f = pytensor.function([l_in.input_var], dl.get_output(locked))
>>> out = f(np.ones((2, 5, 8), dtype="float32"))
>>> bool((out == out[:, :1]).all())      # every time step has the same mask
True
>>> bool((f(np.ones((2, 5, 8), dtype="float32")) != out).any())   # a new mask per call
True
"""
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from ..masks import bernoulli_mask, normal_noise
from .registry import register_layer
from .stochastic import (
    StochasticLayer,
    check_rate,
    normalise_axes,
    restore_rate,
    store_rate,
)

__all__ = ["SwitchDropoutLayer", "DropoutLayer", "dropout", "dropout_channels", "spatial_dropout",
           "dropout_locations", "GaussianNoiseLayer"]


def retain_scale(p, dtype):
    """Return ``1 / (1 - p)`` in ``dtype``: a constant for a float ``p``, else an expression."""
    if isinstance(p, Variable):
        return pt.cast(1.0 / (1.0 - p), dtype)
    # One multiply by the rounded reciprocal; PyTensor would rewrite a
    # division by a constant into this anyway, so defining it here makes
    # the kept values exactly ``x * dtype(1 / (1 - p))`` on every linker.
    return pt.constant(1.0 / (1.0 - p), dtype=dtype)


def is_off(p):
    """Tell whether a rate is the constant zero (a symbolic one never is)."""
    return not isinstance(p, Variable) and p == 0


class _BaseDropoutLayer(StochasticLayer):
    def __init__(self, incoming, p=0.5, rescale=True, shared_axes=(), seed=None, name=None):
        super().__init__(incoming, seed=seed, name=name)
        self.p = check_rate(p, name)
        self.rescale = bool(rescale)
        self.shared_axes = normalise_axes(shared_axes, len(self.input_shape), name)

    def _keep_mask(self, input):
        _, keep = bernoulli_mask(self._srng, self.noise_shape(input, self.shared_axes), self.p)
        if self.shared_axes:
            keep = pt.specify_broadcastable(keep, *self.shared_axes)
        return keep

    def _scale(self, dtype):
        return retain_scale(self.p, dtype)

    def get_config(self):
        """Return ``p`` (by value), ``rescale``, ``shared_axes``, ``seed`` and ``name``."""
        config = {"rescale": self.rescale, "shared_axes": list(self.shared_axes), "seed": self.seed,
                  "name": self.name}
        return store_rate(config, "p", self.p, self.name)

    @classmethod
    def from_config(cls, incoming, config):
        """Rebuild the layer from :meth:`get_config`."""
        config = restore_rate(config, "p")
        config["shared_axes"] = tuple(config.get("shared_axes", ()))
        return cls(incoming, **config)


@register_layer
class SwitchDropoutLayer(_BaseDropoutLayer):
    """Dropout that selects with a switch instead of multiplying by a mask.

    Training output is ``switch(mask, x / (1 - p), 0)`` (or
    ``switch(mask, x, 0)`` with ``rescale=False``); the deterministic output
    is ``x``. The division is a multiplication by ``1 / (1 - p)`` rounded to
    the input's dtype, so a kept value is within one ulp of ``x / (1 - p)``
    and exact for p = 0.5.

    Parameters
    ----------
    incoming : Layer or tuple
    p : float or scalar tensor
        Probability of dropping an element, in [0, 1). ``p=0`` is the
        identity. A shared ``p`` may change between calls (annealing).
    rescale : bool
        Divide kept elements by ``1 - p`` in training (inverted dropout).
    shared_axes : tuple of int
        Axes along which one mask value is shared, e.g. ``(2, 3)`` drops
        whole feature maps of a 4D input, ``(1,)`` of a ``(batch, time,
        features)`` input is variational dropout over time.
    seed : int, optional
        Seed of the layer's RNG stream; by default drawn from
        :func:`dropout_layers.random.get_rng`.
    name : str, optional

    Notes
    -----
    A switch leaves the dropped elements exactly zero, even where the input
    is inf or NaN, and its gradient is exactly zero there too.

    References
    ----------
    .. [1] Srivastava et al. (2014): Dropout: a simple way to prevent neural
       networks from overfitting. JMLR 15, 1929-1958.
    .. [2] Gal and Ghahramani (2016): A theoretically grounded application of
       dropout in recurrent neural networks. NeurIPS.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 4))
    >>> drop = dl.SwitchDropoutLayer(l_in, p=0.5, seed=3)
    >>> out = pytensor.function([l_in.input_var], dl.get_output(drop))(np.ones((2, 4), "float32"))
    >>> sorted(set(out.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
    True
    """

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return ``switch(mask, x / (1 - p), 0)``, or ``x`` if deterministic."""
        if deterministic or is_off(self.p):
            return input
        kept = input * self._scale(input.dtype) if self.rescale else input
        return pt.switch(self._keep_mask(input), kept, pt.zeros((), dtype=input.dtype))


@register_layer
class DropoutLayer(_BaseDropoutLayer):
    """Dropout that multiplies by a 0/1 mask, as Lasagne's ``DropoutLayer``.

    Training output is ``x * mask / (1 - p)`` (without the division for
    ``rescale=False``); the deterministic output is ``x``. Parameters are
    those of :class:`SwitchDropoutLayer`, which draws the same masks.

    Notes
    -----
    Unlike the switch, a multiply turns a dropped inf into NaN. With
    ``rescale=False`` an integer input stays integer.

    References
    ----------
    .. [1] Hinton et al. (2012): Improving neural networks by preventing
       co-adaptation of feature detectors. arXiv:1207.0580.
    .. [2] Srivastava et al. (2014): Dropout: a simple way to prevent neural
       networks from overfitting. JMLR 15, 1929-1958.
    """

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return ``x * mask / (1 - p)``, or ``x`` if deterministic."""
        if deterministic or is_off(self.p):
            return input
        masked = input * pt.cast(self._keep_mask(input), input.dtype)
        return masked * self._scale(input.dtype) if self.rescale else masked


dropout = DropoutLayer


def _rank(incoming):
    return len(getattr(incoming, "output_shape", incoming))


def dropout_channels(incoming, *args, **kwargs):
    """Drop whole channels: a :class:`DropoutLayer` sharing its mask beyond the second axis.

    For a 4D input ``(batch, channels, rows, columns)`` this is spatial
    dropout. Other arguments are those of :class:`DropoutLayer`, except
    ``shared_axes``; for the switch, give
    ``SwitchDropoutLayer(incoming, shared_axes=(2, 3))``.

    References
    ----------
    .. [1] Tompson et al. (2015): Efficient object localization using
       convolutional networks. CVPR.

    Examples
    --------
    >>> dropout_channels((None, 16, 8, 8)).shared_axes
    (2, 3)
    """
    kwargs["shared_axes"] = tuple(range(2, _rank(incoming)))
    return DropoutLayer(incoming, *args, **kwargs)


spatial_dropout = dropout_channels


def dropout_locations(incoming, *args, **kwargs):
    """Drop whole locations: a :class:`DropoutLayer` sharing its mask over channels (axis 1).

    Other arguments are those of :class:`DropoutLayer`, except ``shared_axes``.

    Examples
    --------
    >>> dropout_locations((None, 16, 8, 8)).shared_axes
    (1,)
    """
    kwargs["shared_axes"] = (1,)
    return DropoutLayer(incoming, *args, **kwargs)


@register_layer
class GaussianNoiseLayer(StochasticLayer):
    """Add zero-mean Gaussian noise of standard deviation ``sigma`` in training.

    The deterministic output is the input.

    Parameters
    ----------
    incoming : Layer or tuple
    sigma : float or scalar tensor
        Standard deviation of the noise, at least 0.
    seed : int, optional
        Seed of the layer's RNG stream.
    name : str, optional

    References
    ----------
    .. [1] Jim, Giles and Horne (1996): An analysis of noise in recurrent
       neural networks: convergence and generalization. IEEE Transactions on
       Neural Networks 7(6), 1424-1438.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 1000))
    >>> noisy = dl.GaussianNoiseLayer(l_in, sigma=0.1, seed=2)
    >>> f = pytensor.function([l_in.input_var], dl.get_output(noisy))
    >>> out = f(np.zeros((1, 1000), "float32"))
    >>> 0.09 < float(out.std()) < 0.11
    True
    """

    def __init__(self, incoming, sigma=0.1, seed=None, name=None):
        super().__init__(incoming, seed=seed, name=name)
        self.sigma = check_rate(sigma, name, "noise standard deviation sigma", upper=float("inf"))

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return ``x + sigma * noise``, or ``x`` if deterministic."""
        if deterministic or is_off(self.sigma):
            return input
        dtype = input.dtype if input.dtype.startswith("float") else "float64"
        _, noise = normal_noise(self._srng, self.noise_shape(input), dtype)
        return input + pt.cast(self.sigma, dtype) * noise

    def get_config(self):
        """Return ``sigma`` (a shared one by value), ``seed`` and ``name``."""
        return store_rate({"seed": self.seed, "name": self.name}, "sigma", self.sigma, self.name)

    @classmethod
    def from_config(cls, incoming, config):
        """Rebuild the layer from :meth:`get_config`."""
        return cls(incoming, **restore_rate(config, "sigma"))
