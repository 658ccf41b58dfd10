"""DropConnect: a dense layer that drops weights instead of units."""
import pytensor.tensor as pt

from .. import init, nonlinearities
from ..masks import bernoulli_mask
from .dense import DenseLayer
from .noise import is_off, retain_scale
from .registry import register_layer
from .stochastic import HasRNGStream, check_rate, restore_rate, store_rate

__all__ = ["DropConnectDenseLayer", "MASK_SCOPES"]

#: Accepted values of ``mask``: one weight mask per mini-batch, or one per example.
MASK_SCOPES = ("batch", "example")


@register_layer
class DropConnectDenseLayer(HasRNGStream, DenseLayer):
    """A fully connected layer whose weights are dropped with probability ``p`` in training.

    Training output is ``nonlinearity(dot(x, W * M / (1 - p)) + b)`` with a
    0/1 mask ``M`` over the weights (the bias is kept); the deterministic
    output is the plain dense layer's ``nonlinearity(dot(x, W) + b)``, which
    the division makes the expected pre-activation.

    Parameters
    ----------
    incoming : Layer or tuple
    num_units : int
    p : float or scalar tensor
        Probability of dropping a weight, in [0, 1); ``p=0`` is a plain dense
        layer. A shared ``p`` may be annealed.
    rescale : bool
        Divide the kept weights by ``1 - p`` in training.
    mask : {"batch", "example"}
        ``"batch"`` (default) draws one weight mask per call, shared by every
        example of the mini-batch; ``"example"`` draws one per example, as in
        Wan et al.
    W, b, nonlinearity, num_leading_axes, name
        As for :class:`~dropout_layers.layers.DenseLayer`.
    seed : int, optional
        Seed of the layer's RNG stream.

    Notes
    -----
    Why one mask per batch by default: it costs one mask of the weights'
    size and keeps the single matrix product, so a training step costs
    about what a dense layer's does. One mask per example needs a
    ``(batch, inputs, units)`` mask and a broadcast product over it
    instead of one matrix product (for 600 x 600 weights and batches of 256,
    92 million mask elements per step), in memory and time about ``batch``
    times the dense layer's. The price of the batch mask is that the examples
    of a mini-batch share one thinned network, so the gradient averages over
    fewer masks; use ``mask="example"`` for small layers or for the paper's
    estimator. ``mask="example"`` needs ``num_leading_axes=1``.

    References
    ----------
    .. [1] Wan, Zeiler, Zhang, LeCun and Fergus (2013): Regularization of
       neural networks using DropConnect. ICML.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 3))
    >>> layer = dl.DropConnectDenseLayer(l_in, 2, p=0.5, W=np.ones((3, 2), "float32"),
    ...                                  nonlinearity=None, seed=1)
    >>> f = pytensor.function([l_in.input_var], dl.get_output(layer))
    >>> out = f(np.ones((1, 3), "float32"))
    >>> set(out.ravel().tolist()) <= {0.0, 2.0, 4.0, 6.0}   # 0 to 3 kept weights of 2
    True
    """

    def __init__(self, incoming, num_units, p=0.5, rescale=True, mask="batch",
                 W=init.GlorotUniform(), b=init.Constant(0.0), nonlinearity=nonlinearities.rectify,
                 num_leading_axes=1, seed=None, name=None):
        super().__init__(incoming, num_units, W=W, b=b, nonlinearity=nonlinearity,
                         num_leading_axes=num_leading_axes, name=name)
        self._init_stream(seed, name)
        self.p = check_rate(p, name, "weight drop probability p")
        self.rescale = bool(rescale)
        if mask not in MASK_SCOPES:
            raise ValueError(f"layer {name!r}: mask must be one of {MASK_SCOPES}, got {mask!r}")
        if mask == "example" and self.num_leading_axes != 1:
            raise ValueError(f"layer {name!r}: mask='example' needs num_leading_axes=1, got "
                             f"{self.num_leading_axes}")
        self.mask = mask

    def _thinned(self, weights, keep):
        kept = weights * retain_scale(self.p, weights.dtype) if self.rescale else weights
        return pt.switch(keep, kept, pt.zeros((), dtype=weights.dtype))

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return the dense output with thinned weights, or the plain one if deterministic."""
        if deterministic or is_off(self.p):
            return super().get_output_for(input)
        if input.ndim > self.num_leading_axes + 1:
            input = input.flatten(self.num_leading_axes + 1)
        if self.mask == "batch":
            _, keep = bernoulli_mask(self._srng, self.W.shape, self.p)
            activation = pt.dot(input, self._thinned(self.W, keep))
        else:
            _, keep = bernoulli_mask(self._srng, (input.shape[0], *self.W.shape), self.p)
            weights = self._thinned(self.W[None, :, :], keep)
            # The (batch, inputs, units) mask exists anyway; a broadcast product
            # and a sum run on every backend. Accumulating in the input's dtype,
            # as a matrix product does, keeps JAX from returning float64.
            activation = (input[:, :, None] * weights).sum(axis=1, acc_dtype=weights.dtype)
        if self.b is not None:
            activation = activation + self.b
        return self.nonlinearity(activation)

    def get_config(self):
        """Return the dense layer's settings and ``p``, ``rescale``, ``mask``, ``seed``."""
        config = super().get_config()
        config.update(rescale=self.rescale, mask=self.mask, seed=self.seed)
        return store_rate(config, "p", self.p, self.name)

    @classmethod
    def from_config(cls, incoming, config):
        """Rebuild the layer from :meth:`get_config` (with fresh weights)."""
        return super().from_config(incoming, restore_rate(config, "p"))
