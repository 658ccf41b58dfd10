"""Dropout layers.

Both layers drop each element with probability ``p`` in training and are
the identity with ``deterministic=True``. With ``rescale=True`` (inverted
dropout) the kept elements are divided by ``1 - p`` in training, so the
expected output equals the deterministic one and nothing changes at test
time.

Every element draws its own mask, so every example of a batch gets a
different one, unless ``shared_axes`` shares it along some axes. Each layer
owns an RNG stream (see :mod:`dropout_layers.random`); the stream's next
state reaches the compiled function through the update rules of
:mod:`dropout_layers.updates` or through :func:`dropout_layers.function`, so
each call draws a fresh mask.
"""
import pytensor.tensor as pt

from ..masks import bernoulli_mask
from ..random import shared_rng
from .base import Layer
from .registry import register_layer

__all__ = ["SwitchDropoutLayer", "DropoutLayer", "dropout", "dropout_channels", "spatial_dropout",
           "dropout_locations"]


class _BaseDropoutLayer(Layer):
    def __init__(self, incoming, p=0.5, rescale=True, shared_axes=(), seed=None, name=None):
        super().__init__(incoming, name=name)
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"layer {name!r}: dropout probability p must be a float in [0, 1), got {p!r}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"layer {name!r}: dropout probability p must be in [0, 1), got {p!r}")
        ndim = len(self.input_shape)
        axes = tuple(sorted(a % ndim if -ndim <= a < ndim else a for a in shared_axes))
        if any(not 0 <= a < ndim for a in axes):
            raise ValueError(f"layer {name!r}: shared_axes {tuple(shared_axes)} out of range for input rank {ndim}")
        self.p = float(p)
        self.rescale = bool(rescale)
        self.shared_axes = axes
        self.seed = seed
        self._srng = shared_rng(seed, name=f"{name}.rng" if name else "dropout.rng")

    @property
    def rng(self):
        """The layer's RNG stream, a shared ``numpy.random.Generator``."""
        return self._srng

    def _keep_mask(self, input):
        mask_shape = tuple(1 if a in self.shared_axes else input.shape[a] for a in range(input.ndim))
        _, keep = bernoulli_mask(self._srng, mask_shape, self.p)
        if self.shared_axes:
            keep = pt.specify_broadcastable(keep, *self.shared_axes)
        return keep

    def _scale(self, dtype):
        # One multiply by the rounded reciprocal; PyTensor would rewrite a
        # division by a constant into this anyway, so defining it here makes
        # the kept values exactly ``x * dtype(1 / (1 - p))`` on every linker.
        return pt.constant(1.0 / (1.0 - self.p), dtype=dtype)

    def get_config(self):
        return {"p": self.p, "rescale": self.rescale, "shared_axes": list(self.shared_axes),
                "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        config = dict(config)
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
    p : float
        Probability of dropping an element, in [0, 1). ``p=0`` is the
        identity.
    rescale : bool
        Divide kept elements by ``1 - p`` in training (inverted dropout).
    shared_axes : tuple of int
        Axes along which one mask value is shared, e.g. ``(2, 3)`` drops
        whole feature maps of a 4D input.
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
    """

    def get_output_for(self, input, deterministic=False, **kwargs):
        if deterministic or self.p == 0:
            return input
        kept = input * self._scale(input.dtype) if self.rescale else input
        return pt.switch(self._keep_mask(input), kept, pt.zeros((), dtype=input.dtype))


@register_layer
class DropoutLayer(_BaseDropoutLayer):
    """Dropout that multiplies by a 0/1 mask, as Lasagne's ``DropoutLayer``.

    Training output is ``x * mask / (1 - p)`` (without the division for
    ``rescale=False``); the deterministic output is ``x``. Parameters are
    those of :class:`SwitchDropoutLayer`.

    Notes
    -----
    Unlike the switch, a multiply turns a dropped inf into NaN.
    """

    def get_output_for(self, input, deterministic=False, **kwargs):
        if deterministic or self.p == 0:
            return input
        masked = input * pt.cast(self._keep_mask(input), input.dtype)
        return masked * self._scale(input.dtype) if self.rescale else masked


dropout = SwitchDropoutLayer


def dropout_channels(incoming, *args, **kwargs):
    """Drop whole channels: shares the mask over all axes beyond the second.

    For a 4D input ``(batch, channels, rows, columns)`` this is spatial
    dropout. Other arguments are those of :class:`SwitchDropoutLayer`.

    References
    ----------
    .. [1] Tompson et al. (2015): Efficient object localization using
       convolutional networks. CVPR.
    """
    ndim = len(incoming.output_shape if isinstance(incoming, Layer) else incoming)
    kwargs["shared_axes"] = tuple(range(2, ndim))
    return SwitchDropoutLayer(incoming, *args, **kwargs)


spatial_dropout = dropout_channels


def dropout_locations(incoming, *args, **kwargs):
    """Drop whole locations: shares the mask over the channel axis (axis 1).

    Other arguments are those of :class:`SwitchDropoutLayer`.
    """
    kwargs["shared_axes"] = (1,)
    return SwitchDropoutLayer(incoming, *args, **kwargs)
