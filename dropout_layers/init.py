"""Parameter initializers, with the names and semantics of ``lasagne.init``.

An initializer is called with a shape and returns an array of the library's
float dtype (:func:`dropout_layers.config.get_floatX`). Every initializer takes
an explicit ``rng=`` (a :class:`numpy.random.Generator` or
:class:`~numpy.random.RandomState`), Flax-style; without one it draws from the
global generator of :func:`dropout_layers.random.get_rng`, which is NumPy's
global one unless :func:`~dropout_layers.random.set_rng` chose another, so
``np.random.seed(s)`` makes initialisation reproducible, as in Lasagne.

Examples
--------
>>> import numpy as np
>>> W = GlorotUniform(rng=np.random.default_rng(0))((3, 2))
>>> W.dtype, W.shape
(dtype('float32'), (3, 2))
>>> bool((W == GlorotUniform(rng=np.random.default_rng(0))((3, 2))).all())
True
"""
import numpy as np

from .errors import DropoutLayersError
from .random import get_rng
from .utils import floatX

__all__ = [
    "Initializer", "Constant", "Normal", "Uniform", "Glorot", "GlorotUniform", "GlorotNormal",
    "He", "HeNormal", "HeUniform", "Sparse", "Orthogonal", "InitializerShapeError",
]


class InitializerShapeError(DropoutLayersError, ValueError, RuntimeError):
    """A shape an initializer cannot fill (too few dimensions, or not 4-D with ``c01b``).

    Lasagne raises :class:`RuntimeError` here; this class is also a
    :class:`ValueError`, so code catching either keeps working.
    """


def _gain_value(gain):
    return float(np.sqrt(2)) if gain == "relu" else gain


class Initializer:
    """Base class: an initializer is called with a shape and returns an array.

    Parameters
    ----------
    rng : numpy.random.Generator or numpy.random.RandomState, optional
        The generator to draw from; default the global one of
        :func:`dropout_layers.random.get_rng`, looked up at each call.

    Notes
    -----
    Subclasses implement :meth:`sample`. :meth:`get_config` returns the
    constructor's arguments without ``rng``.
    """

    rng = None

    def __call__(self, shape):
        """Return ``sample(shape)`` as an array of the library's float dtype."""
        return floatX(self.sample(shape))

    def sample(self, shape):
        """Return an array of the given shape."""
        raise NotImplementedError

    def _generator(self):
        return get_rng() if self.rng is None else self.rng

    def get_config(self):
        """Return the constructor arguments (without ``rng``) as a JSON-serialisable dict."""
        return {k: v for k, v in self.__dict__.items() if k != "rng"}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Fill with the constant ``val``; any shape, scalars included."""

    def __init__(self, val=0.0):
        self.val = val

    def sample(self, shape):
        """Return an array of ``val``."""
        return floatX(np.full(shape, self.val))


class Normal(Initializer):
    """Draw from a normal distribution with the given ``std`` and ``mean``; any shape.

    Parameters
    ----------
    std : float
    mean : float
    rng : numpy.random.Generator or RandomState, optional
    """

    def __init__(self, std=0.01, mean=0.0, rng=None):
        self.std = std
        self.mean = mean
        self.rng = rng

    def sample(self, shape):
        """Return normal draws."""
        return floatX(self._generator().normal(self.mean, self.std, size=shape))


class Uniform(Initializer):
    """Draw uniformly from ``range``, or from a range with the given ``std``; any shape.

    Parameters
    ----------
    range : float or tuple of float
        ``(low, high)``, or ``a`` for ``(-a, a)``; ignored if ``std`` is given.
    std : float, optional
        Standard deviation of the distribution, centred on ``mean``.
    mean : float
    rng : numpy.random.Generator or RandomState, optional
    """

    def __init__(self, range=0.01, std=None, mean=0.0, rng=None):
        if std is not None:
            a = mean - np.sqrt(3) * std
            b = mean + np.sqrt(3) * std
        else:
            try:
                a, b = range
            except TypeError:
                a, b = -range, range
        self.range = (float(a), float(b))
        self.rng = rng

    def sample(self, shape):
        """Return uniform draws."""
        return floatX(self._generator().uniform(self.range[0], self.range[1], size=shape))


def _check_c01b(shape, name):
    if len(shape) != 4:
        raise InitializerShapeError(f"{name} with c01b=True needs a 4-D shape, got {shape}")


def _check_matrix_or_more(shape, name):
    if len(shape) < 2:
        raise InitializerShapeError(f"{name} needs a shape of at least 2 dimensions, got {shape}")


class _FanScaled:
    """Glorot and He: a Normal or Uniform base scaled by the fans of the shape.

    A mixin, so that Glorot and He stay direct subclasses of Initializer, as
    in Lasagne.
    """

    def __init__(self, initializer, gain=1.0, c01b=False, rng=None):
        self.initializer = initializer
        self.gain = gain
        self.c01b = bool(c01b)
        self.rng = rng

    def get_config(self):
        """Return ``gain`` and ``c01b``."""
        return {"gain": self.gain, "c01b": self.c01b}

    def _std(self, shape):
        raise NotImplementedError

    def sample(self, shape):
        """Return draws of the base distribution with the scaled standard deviation."""
        shape = tuple(shape)
        base = self.initializer(std=self._std(shape))
        if self.rng is not None:
            base.rng = self.rng
        return base.sample(shape)


class Glorot(_FanScaled, Initializer):
    """Glorot weight initialisation with a normal or uniform base distribution.

    ``std = gain * sqrt(2 / ((n_in + n_out) * receptive_field))``

    Parameters
    ----------
    initializer : Normal or Uniform class
    gain : float or 'relu'
        Scaling factor; 'relu' means sqrt(2).
    c01b : bool
        The shape is ``(channels_in, rows, columns, channels_out)`` (4-D
        only), as cuda-convnet lays kernels out; otherwise
        ``(n_in, n_out, *receptive_field)``.
    rng : numpy.random.Generator or RandomState, optional

    Raises
    ------
    InitializerShapeError
        For shapes of fewer than 2 dimensions, or not 4-D with ``c01b``.

    References
    ----------
    .. [1] Glorot and Bengio (2010): Understanding the difficulty of training
       deep feedforward neural networks. AISTATS.
    """

    def _std(self, shape):
        name = type(self).__name__
        if self.c01b:
            _check_c01b(shape, name)
            n1, n2, receptive = shape[0], shape[3], shape[1] * shape[2]
        else:
            _check_matrix_or_more(shape, name)
            n1, n2, receptive = shape[0], shape[1], int(np.prod(shape[2:]))
        return _gain_value(self.gain) * np.sqrt(2.0 / ((n1 + n2) * receptive))


class GlorotNormal(Glorot):
    """Glorot initialisation with a normal distribution (parameters as :class:`Glorot`)."""

    def __init__(self, gain=1.0, c01b=False, rng=None):
        super().__init__(Normal, gain, c01b, rng)


class GlorotUniform(Glorot):
    """Glorot initialisation with a uniform distribution (parameters as :class:`Glorot`)."""

    def __init__(self, gain=1.0, c01b=False, rng=None):
        super().__init__(Uniform, gain, c01b, rng)


class He(_FanScaled, Initializer):
    """He weight initialisation, ``std = gain * sqrt(1 / fan_in)``.

    ``fan_in`` is ``shape[0]`` for a matrix, the product of all axes but the
    first for a convolution kernel, and of the first three with ``c01b``.

    Parameters
    ----------
    initializer : Normal or Uniform class
    gain : float or 'relu'
        'relu' (sqrt(2)) suits rectifier networks.
    c01b : bool
        As for :class:`Glorot`.
    rng : numpy.random.Generator or RandomState, optional

    Raises
    ------
    InitializerShapeError
        For shapes of fewer than 2 dimensions, or not 4-D with ``c01b``.

    References
    ----------
    .. [1] He et al. (2015): Delving deep into rectifiers. ICCV.
    """

    def _std(self, shape):
        name = type(self).__name__
        if self.c01b:
            _check_c01b(shape, name)
            fan_in = int(np.prod(shape[:3]))
        else:
            _check_matrix_or_more(shape, name)
            fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))
        return _gain_value(self.gain) * np.sqrt(1.0 / fan_in)


class HeNormal(He):
    """He initialisation with a normal distribution (parameters as :class:`He`)."""

    def __init__(self, gain=1.0, c01b=False, rng=None):
        super().__init__(Normal, gain, c01b, rng)


class HeUniform(He):
    """He initialisation with a uniform distribution (parameters as :class:`He`)."""

    def __init__(self, gain=1.0, c01b=False, rng=None):
        super().__init__(Uniform, gain, c01b, rng)


class Sparse(Initializer):
    """A sparse matrix: each column has ``int(sparsity * n_inputs)`` normal non-zeros.

    Parameters
    ----------
    sparsity : float
        Fraction of the inputs connected to each output unit.
    std : float
        Standard deviation of the non-zero weights.
    rng : numpy.random.Generator or RandomState, optional

    Raises
    ------
    InitializerShapeError
        For shapes that are not 2-D.

    References
    ----------
    .. [1] Martens (2010): Deep learning via Hessian-free optimization. ICML.
    """

    def __init__(self, sparsity=0.1, std=0.01, rng=None):
        self.sparsity = sparsity
        self.std = std
        self.rng = rng

    def sample(self, shape):
        """Return the sparse matrix."""
        if len(shape) != 2:
            raise InitializerShapeError(f"Sparse needs a 2-D shape, got {tuple(shape)}")
        n_inputs, n_outputs = shape
        size = int(self.sparsity * n_inputs)
        rng = self._generator()
        weights = np.zeros(shape, dtype=np.float64)
        for column in range(n_outputs):
            rows = rng.permutation(n_inputs)[:size]
            weights[rows, column] = rng.normal(0.0, self.std, size=size)
        return floatX(weights)


class Orthogonal(Initializer):
    """Orthogonal matrix initialisation, scaled by ``gain``.

    Shapes of more than 2 dimensions are orthogonal over the flattened
    trailing axes.

    Parameters
    ----------
    gain : float or 'relu'
    rng : numpy.random.Generator or RandomState, optional

    Raises
    ------
    InitializerShapeError
        For shapes of fewer than 2 dimensions.

    References
    ----------
    .. [1] Saxe et al. (2013): Exact solutions to the nonlinear dynamics of
       learning in deep linear neural networks. arXiv:1312.6120.
    """

    def __init__(self, gain=1.0, rng=None):
        self.gain = gain
        self.rng = rng

    def sample(self, shape):
        """Return the scaled orthogonal array."""
        _check_matrix_or_more(shape, "Orthogonal")
        flat_shape = (shape[0], int(np.prod(shape[1:])))
        a = self._generator().normal(0.0, 1.0, flat_shape)
        u, _, v = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat_shape else v
        return floatX(_gain_value(self.gain) * q.reshape(shape))
