"""Parameter initializers.

Every initializer draws from :func:`dropout_layers.random.get_rng`, so
``set_rng(np.random.RandomState(seed))`` makes initialisation reproducible,
as in Lasagne.
"""
import numpy as np

from .random import get_rng
from .utils import floatX

__all__ = [
    "Initializer", "Constant", "Normal", "Uniform", "Glorot", "GlorotUniform", "GlorotNormal",
    "He", "HeNormal", "HeUniform", "Orthogonal",
]


class Initializer:
    """Base class: an initializer is called with a shape and returns an array."""

    def __call__(self, shape):
        return floatX(self.sample(shape))

    def sample(self, shape):
        raise NotImplementedError

    def get_config(self):
        """Return the constructor arguments as a JSON-serialisable dict."""
        return dict(self.__dict__)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Fill with a constant value ``val``."""

    def __init__(self, val=0.0):
        self.val = val

    def sample(self, shape):
        return np.full(shape, self.val)


class Normal(Initializer):
    """Draw from a normal distribution with the given ``std`` and ``mean``."""

    def __init__(self, std=0.01, mean=0.0):
        self.std = std
        self.mean = mean

    def sample(self, shape):
        return get_rng().normal(self.mean, self.std, size=shape)


class Uniform(Initializer):
    """Draw uniformly from ``range`` or from a range with the given ``std``.

    Parameters
    ----------
    range : float or tuple of float
        ``(low, high)``, or ``a`` for ``(-a, a)``; ignored if ``std`` is given.
    std : float, optional
        Standard deviation of the distribution, centred on ``mean``.
    mean : float
    """

    def __init__(self, range=0.01, std=None, mean=0.0):
        if std is not None:
            a = mean - np.sqrt(3) * std
            b = mean + np.sqrt(3) * std
        else:
            try:
                a, b = range
            except TypeError:
                a, b = -range, range
        self.range = (float(a), float(b))

    def sample(self, shape):
        return get_rng().uniform(low=self.range[0], high=self.range[1], size=shape)


def _gain_value(gain):
    if gain == "relu":
        return float(np.sqrt(2))
    return float(gain)


class Glorot(Initializer):
    """Glorot weight initialisation with a normal or uniform base distribution.

    Parameters
    ----------
    initializer : Normal or Uniform class
    gain : float or 'relu'
        Scaling factor; 'relu' means sqrt(2).

    References
    ----------
    .. [1] Glorot and Bengio (2010): Understanding the difficulty of training
       deep feedforward neural networks. AISTATS.
    """

    def __init__(self, initializer, gain=1.0):
        self.initializer = initializer
        self.gain = gain

    def get_config(self):
        return {"gain": self.gain}

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{type(self).__name__} needs a shape of at least 2 dimensions, got {shape}")
        receptive = int(np.prod(shape[2:]))
        fan_in, fan_out = shape[0] * receptive, shape[1] * receptive
        std = _gain_value(self.gain) * np.sqrt(2.0 / (fan_in + fan_out))
        return self.initializer(std=std).sample(shape)


class GlorotNormal(Glorot):
    """Glorot initialisation with a normal distribution."""

    def __init__(self, gain=1.0):
        super().__init__(Normal, gain)


class GlorotUniform(Glorot):
    """Glorot initialisation with a uniform distribution."""

    def __init__(self, gain=1.0):
        super().__init__(Uniform, gain)


class He(Initializer):
    """He weight initialisation, std = gain * sqrt(1 / fan_in).

    Parameters
    ----------
    initializer : Normal or Uniform class
    gain : float or 'relu'
        'relu' (sqrt(2)) suits rectifier networks.

    References
    ----------
    .. [1] He et al. (2015): Delving deep into rectifiers. ICCV.
    """

    def __init__(self, initializer, gain=1.0):
        self.initializer = initializer
        self.gain = gain

    def get_config(self):
        return {"gain": self.gain}

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{type(self).__name__} needs a shape of at least 2 dimensions, got {shape}")
        fan_in = int(np.prod(shape[:1] if len(shape) == 2 else shape[1:]))
        std = _gain_value(self.gain) * np.sqrt(1.0 / fan_in)
        return self.initializer(std=std).sample(shape)


class HeNormal(He):
    """He initialisation with a normal distribution."""

    def __init__(self, gain=1.0):
        super().__init__(Normal, gain)


class HeUniform(He):
    """He initialisation with a uniform distribution."""

    def __init__(self, gain=1.0):
        super().__init__(Uniform, gain)


class Orthogonal(Initializer):
    """Orthogonal matrix initialisation, scaled by ``gain``.

    References
    ----------
    .. [1] Saxe et al. (2013): Exact solutions to the nonlinear dynamics of
       learning in deep linear neural networks. arXiv:1312.6120.
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of at least 2 dimensions, got {shape}")
        flat_shape = (shape[0], int(np.prod(shape[1:])))
        a = get_rng().normal(0.0, 1.0, flat_shape)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat_shape else v
        return _gain_value(self.gain) * q.reshape(shape)
