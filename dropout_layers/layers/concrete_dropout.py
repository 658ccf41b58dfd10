"""Concrete dropout: a drop rate learned by gradient descent."""
import numpy as np
import pytensor.tensor as pt

from ..config import get_floatX
from ..masks import uniform_noise
from .helper import get_all_layers
from .registry import register_layer
from .stochastic import StochasticLayer, check_rate, normalise_axes

__all__ = ["ConcreteDropoutLayer", "concrete_dropout_regularization"]

_EPS = 1e-7


@register_layer
class ConcreteDropoutLayer(StochasticLayer):
    """Dropout whose rate ``p = sigmoid(p_logit)`` is a trainable parameter.

    In training each element is multiplied by ``(1 - z) / (1 - p)``, where
    ``z`` is a *relaxed* Bernoulli(``p``) draw, the concrete distribution:
    ``z = sigmoid((logit(p) + logit(u)) / temperature)`` for a uniform ``u``.
    ``z`` is differentiable in ``p``, so the loss can tune the rate; as the
    temperature goes to 0, ``z`` becomes a 0/1 mask. The deterministic output
    is the input. Add :func:`concrete_dropout_regularization` to the loss:
    without it, the training loss alone drives ``p`` to 0.

    Parameters
    ----------
    incoming : Layer or tuple
    init_p : float
        Initial drop rate, in (0, 1).
    temperature : float
        Temperature of the relaxation; Gal et al. use 0.1.
    shared_axes : tuple of int
        Axes along which one relaxed mask value is shared.
    seed : int, optional
        Seed of the layer's RNG stream.
    name : str, optional

    Attributes
    ----------
    p_logit : shared variable
        The trainable logit of the drop rate (tagged ``trainable``, not
        ``regularizable``).
    p : TensorVariable
        ``sigmoid(p_logit)``.

    Notes
    -----
    ``P(z > 1/2) = p`` exactly (``z > 1/2`` exactly when ``u > 1 - p``),
    whatever the temperature; the mean of ``1 - z`` is close to ``1 - p``
    only at low temperature, so unlike inverted dropout the expected output
    is not exactly the input.

    References
    ----------
    .. [1] Gal, Hron and Kendall (2017): Concrete dropout. NeurIPS.
    .. [2] Maddison, Mnih and Teh (2017): The concrete distribution: a
       continuous relaxation of discrete random variables. ICLR.

    Examples
    --------
    >>> import dropout_layers as dl
    >>> l_in = dl.InputLayer((None, 20))
    >>> hidden = dl.DenseLayer(dl.ConcreteDropoutLayer(l_in, init_p=0.2, seed=1), 10)
    >>> round(dl.get_all_layers(hidden)[1].drop_rate(), 6)
    0.2
    >>> penalty = concrete_dropout_regularization(hidden, weight_regularizer=1e-6,
    ...                                           dropout_regularizer=1e-5)
    >>> penalty.ndim
    0
    """

    def __init__(self, incoming, init_p=0.1, temperature=0.1, shared_axes=(), seed=None, name=None):
        super().__init__(incoming, seed=seed, name=name)
        init_p = check_rate(init_p, name, "initial drop rate init_p")
        if init_p == 0:
            raise ValueError(f"layer {name!r}: init_p must be in (0, 1), got 0")
        temperature = float(temperature)
        if not temperature > 0 or not np.isfinite(temperature):
            raise ValueError(f"layer {name!r}: temperature must be positive, got {temperature!r}")
        self.init_p = init_p
        self.temperature = temperature
        self.shared_axes = normalise_axes(shared_axes, len(self.input_shape), name)
        logit = np.asarray(np.log(init_p) - np.log1p(-init_p), dtype=get_floatX())
        self.p_logit = self.add_param(logit, (), name="p_logit", regularizable=False)

    @property
    def p(self):
        """The drop rate, ``sigmoid(p_logit)``, symbolic."""
        return pt.sigmoid(self.p_logit)

    def drop_rate(self):
        """Return the current drop rate as a float."""
        return float(1.0 / (1.0 + np.exp(-self.p_logit.get_value())))

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return ``x * (1 - z) / (1 - p)`` for a relaxed draw ``z``, or ``x`` if deterministic."""
        if deterministic:
            return input
        dtype = input.dtype
        _, u = uniform_noise(self._srng, self.noise_shape(input, self.shared_axes), dtype)
        if self.shared_axes:
            u = pt.specify_broadcastable(u, *self.shared_axes)
        p = pt.cast(self.p, dtype)
        eps = pt.constant(_EPS, dtype=dtype)
        logits = (pt.log(p + eps) - pt.log1p(eps - p) + pt.log(u + eps) - pt.log1p(eps - u))
        drop = pt.sigmoid(logits / pt.constant(self.temperature, dtype=dtype))
        return input * (1 - drop) / (1 - p)

    def get_config(self):
        """Return ``init_p``, ``temperature``, ``shared_axes``, ``seed`` and ``name``.

        The learned ``p_logit`` is a parameter, stored with the other parameters.
        """
        return {"init_p": self.init_p, "temperature": self.temperature,
                "shared_axes": list(self.shared_axes), "seed": self.seed, "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Rebuild the layer from :meth:`get_config`."""
        config = dict(config)
        config["shared_axes"] = tuple(config.get("shared_axes", ()))
        return cls(incoming, **config)


def _consumers(layers, layer):
    return [other for other in layers
            if getattr(other, "input_layer", None) is layer
            or layer in (getattr(other, "input_layers", None) or ())]


def concrete_dropout_regularization(network, weight_regularizer=1e-6, dropout_regularizer=1e-5):
    """Return the penalty of every :class:`ConcreteDropoutLayer` in ``network``, for the loss.

    For each concrete dropout layer with rate ``p`` over ``K`` input units
    (the size of one example's input), and ``W`` the regularizable
    parameters of the layers that take its output:

    ``weight_regularizer * sum(W**2) / (1 - p)
    + dropout_regularizer * K * (p log p + (1 - p) log(1 - p))``.

    The second term is ``-K`` times the entropy of Bernoulli(``p``): it
    pushes ``p`` towards 1/2 against the loss, which pushes it towards 0.

    Parameters
    ----------
    network : Layer
        The output layer (every layer below it is searched).
    weight_regularizer : float
        ``l**2 / N`` for a prior length-scale ``l`` and ``N`` training
        examples (Gal et al.).
    dropout_regularizer : float
        ``2 / N`` for a classification loss, ``2 / (tau N)`` for a Gaussian
        likelihood of precision ``tau``.

    Returns
    -------
    TensorVariable
        Scalar, in the library's float dtype; 0 without concrete dropout layers.

    References
    ----------
    .. [1] Gal, Hron and Kendall (2017): Concrete dropout. NeurIPS, equation (3).
    """
    dtype = get_floatX()
    layers = get_all_layers(network)
    total = pt.constant(np.asarray(0, dtype=dtype))
    for layer in layers:
        if not isinstance(layer, ConcreteDropoutLayer):
            continue
        units = layer.input_shape[1:]
        if any(s is None for s in units):
            raise ValueError(f"layer {layer.name!r}: concrete dropout regularization needs a fixed "
                             f"input size per example, got input shape {layer.input_shape}")
        p = pt.cast(layer.p, dtype)
        squares = [pt.sum(pt.sqr(w)) for other in _consumers(layers, layer)
                   for w in other.get_params(regularizable=True)]
        weight_term = sum(squares[1:], squares[0]) / (1 - p) if squares else 0
        entropy_term = p * pt.log(p) + (1 - p) * pt.log1p(-p)
        total = total + (pt.cast(weight_regularizer, dtype) * weight_term
                         + pt.cast(dropout_regularizer * int(np.prod(units)), dtype) * entropy_term)
    return total
