"""Monte-Carlo dropout: predictive mean and spread from stochastic forward passes.

A network trained with dropout is an implicit ensemble of thinned networks.
Keeping dropout switched on at prediction time (``deterministic=False``) and
running the same events through the network ``n_samples`` times samples
that ensemble; the mean of the passes approximates the deterministic
(weight-scaled) prediction, and their standard deviation measures how much
the prediction depends on which units happen to be dropped [1]_.

What the standard deviation is good for
---------------------------------------
It flags events whose classification is unstable. An event whose score
sits far from the selection threshold with a small spread is classified
the same way by nearly every thinned network; an event whose mean is near
the threshold, or whose spread is comparable to its distance from it, flips
between signal and background from pass to pass. Such events are the ones
to inspect, to weight down, or to count as a systematic uncertainty on the
selected sample. The spread is a model-dependent uncertainty (it reflects
what the network has not pinned down), not a calibrated probability error
bar, and it does not replace the spread across independently trained
ensemble members (see :meth:`dropout_layers.ensemble.Ensemble.predict_mc`,
which pools both).

Memory
------
:func:`predict_mc` never stores the ``n_samples x N`` matrix of passes: it
feeds the events in batches of ``batch_size``
(:func:`dropout_layers.batching.predict_in_batches`) and folds each pass
into a running mean and sum of squared deviations per event (Welford's
algorithm), so memory is that of one batch's activations plus three arrays
the size of the output (one pass, the mean and the squared deviations),
whatever ``n_samples`` is.

References
----------
.. [1] Y. Gal and Z. Ghahramani (2016): Dropout as a Bayesian approximation:
   representing model uncertainty in deep learning. ICML.
.. [2] B. P. Welford (1962): Note on a method for calculating corrected sums
   of squares and products. Technometrics 4(3), 419-420.
.. [3] T. F. Chan, G. H. Golub and R. J. LeVeque (1979): Updating formulae
   and a pairwise algorithm for computing sample variances. Stanford
   CS report STAN-CS-79-773.
"""
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pytensor.tensor.random.type import RandomGeneratorType
from tqdm.auto import tqdm

from .batching import predict_in_batches
from .checks import check_positive_int
from .inputs import InputError, check_features
from .layers import InputLayer, get_all_layers, get_output
from .random import function

__all__ = ["Moments", "stochastic_function", "mc_moments", "predict_mc", "reseeded_streams",
           "single_input_layer"]

#: Events per forward pass unless told otherwise: large enough to keep BLAS
#: busy, small enough that a 600-600-600 network's activations stay near 30 MB.
DEFAULT_BATCH_SIZE = 4096


@dataclass
class Moments:
    """Running moments of a set of equally sized samples, per output element.

    Attributes
    ----------
    count : int
        Number of samples folded in.
    mean : numpy.ndarray
        Their mean, float64.
    m2 : numpy.ndarray
        Their sum of squared deviations from the mean, float64.
    """

    count: int
    mean: np.ndarray
    m2: np.ndarray

    @property
    def var(self):
        """Population variance (divides by ``count``)."""
        if self.count == 0:
            raise ValueError("variance of zero samples is undefined")
        return self.m2 / self.count

    @property
    def std(self):
        """Population standard deviation; exactly zero when all samples agree."""
        # m2 can come out a few ulps below zero after merging identical moments.
        return np.sqrt(np.maximum(self.var, 0.0))

    def merge(self, other):
        """Return the moments of both sample sets together (Chan et al. [3]_).

        Parameters
        ----------
        other : Moments
            Moments of other samples of the same elements.

        Returns
        -------
        Moments
        """
        if other.mean.shape != self.mean.shape:
            raise ValueError(f"cannot merge moments of shape {other.mean.shape} into shape "
                             f"{self.mean.shape}")
        if self.count == 0:
            return Moments(other.count, other.mean.copy(), other.m2.copy())
        if other.count == 0:
            return Moments(self.count, self.mean.copy(), self.m2.copy())
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        m2 = self.m2 + other.m2 + delta**2 * (self.count * other.count / count)
        return Moments(count, mean, m2)


def single_input_layer(network, input_layer=None):
    """Return ``input_layer`` if given, else the network's only input layer."""
    if input_layer is not None:
        if not isinstance(input_layer, InputLayer):
            raise TypeError(f"input_layer must be an InputLayer, got {type(input_layer).__name__}")
        return input_layer
    inputs = [layer for layer in get_all_layers(network) if isinstance(layer, InputLayer)]
    if len(inputs) != 1:
        raise ValueError(
            f"the network has {len(inputs)} input layers; pass the one the data feeds as "
            "input_layer"
        )
    return inputs[0]


def stochastic_function(network, input_layer=None):
    """Compile a forward pass with dropout switched on.

    Compiled with :func:`dropout_layers.random.function`, so the dropout
    layers' RNG streams advance on every call and each call draws fresh
    masks.

    Parameters
    ----------
    network : Layer
        The output layer.
    input_layer : InputLayer, optional
        The layer the data feeds; needed only when the network has several.

    Returns
    -------
    callable
        ``f(X) -> predictions`` for a batch ``X``; it has the compiled
        function's ``get_shared()``, which lists the RNG streams it draws from.
    """
    input_layer = single_input_layer(network, input_layer)
    output = get_output(network, deterministic=False)
    return function([input_layer.input_var], output)


def mc_moments(sample_fn, X, n_samples=30, batch_size=DEFAULT_BATCH_SIZE, progress=False):
    """Fold ``n_samples`` stochastic passes over ``X`` into running moments.

    Passes are the outer loop and batches the inner one, so pass ``k`` sees
    the events in order: each RNG stream is consumed in the same order
    whatever ``batch_size`` is.

    Parameters
    ----------
    sample_fn : callable
        ``sample_fn(X_batch) -> predictions``, one stochastic forward pass
        (see :func:`stochastic_function`).
    X : numpy.ndarray
        Events along the first axis.
    n_samples : int
        Number of passes.
    batch_size : int
        Events per call of ``sample_fn``.
    progress : bool
        Show a progress bar over the passes.

    Returns
    -------
    Moments
        Per event and output unit, float64.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    if len(X) == 0:
        raise InputError("mc_moments: X holds no events")
    mean = m2 = None
    passes = tqdm(range(1, n_samples + 1), desc="MC dropout passes", unit="pass", leave=False,
                  disable=not progress)
    for count in passes:
        sample = np.asarray(predict_in_batches(sample_fn, [X], batch_size), dtype=np.float64)
        if mean is None:
            mean, m2 = np.zeros_like(sample), np.zeros_like(sample)
        # Welford's update: stable where the naive sum of squares cancels.
        delta = sample - mean
        mean += delta / count
        m2 += delta * (sample - mean)
    return Moments(n_samples, mean, m2)


def _rng_streams(compiled):
    return [var for var in compiled.get_shared() if isinstance(var.type, RandomGeneratorType)]


@contextmanager
def reseeded_streams(compiled, seed):
    """Reseed a compiled function's RNG streams for the duration of a block.

    Stream ``i`` (in the function's order of shared variables) gets a
    generator seeded from ``numpy.random.SeedSequence(seed).spawn``; the
    previous states come back afterwards, so a seeded prediction leaves the
    network's own streams untouched.

    Parameters
    ----------
    compiled : pytensor Function
    seed : int or sequence of int or None
        ``None`` leaves the streams as they are.
    """
    if seed is None:
        yield
        return
    streams = _rng_streams(compiled)
    saved = [stream.get_value(borrow=False) for stream in streams]
    children = np.random.SeedSequence(seed).spawn(len(streams))
    try:
        for stream, child in zip(streams, children):
            stream.set_value(np.random.default_rng(child), borrow=True)
        yield
    finally:
        for stream, state in zip(streams, saved):
            stream.set_value(state, borrow=True)


def predict_mc(network, X, n_samples=30, batch_size=DEFAULT_BATCH_SIZE, input_layer=None,
               seed=None, progress=False):
    """Monte-Carlo dropout prediction: mean and standard deviation of stochastic passes.

    Parameters
    ----------
    network : Layer
        The output layer.
    X : array_like or pandas.DataFrame
        Input events, first axis over events; checked as
        :func:`dropout_layers.inputs.check_features` does.
    n_samples : int
        Number of stochastic forward passes.
    batch_size : int
        Events per forward pass; memory does not grow with ``n_samples``.
    input_layer : InputLayer, optional
        Needed only when the network has several input layers.
    seed : int, optional
        Draw the masks from streams seeded with this value (the network's
        own streams are left untouched); by default the network's streams
        are used and advanced.
    progress : bool
        Show a progress bar over the passes.

    Returns
    -------
    mean, std : numpy.ndarray
        Per event and output unit, float64; ``std`` is the population
        standard deviation over the passes, exactly zero for a network
        without active dropout.

    Notes
    -----
    The mean of the passes converges to the deterministic prediction only
    for a network that is linear in its dropped units; through rectifiers
    and a sigmoid it converges to the dropout ensemble's mean, which is
    close to, but not exactly, the weight-scaled deterministic prediction.
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    input_layer = single_input_layer(network, input_layer)
    X = np.ascontiguousarray(check_features(X, input_layer))
    compiled = stochastic_function(network, input_layer)
    with reseeded_streams(compiled, seed):
        moments = mc_moments(compiled, X, n_samples, batch_size, progress)
    return moments.mean, moments.std
