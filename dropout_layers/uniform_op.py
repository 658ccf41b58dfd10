"""Uniform noise expanded from a key, the source of every continuous noise layer.

:class:`UniformNoise` turns a key (see :mod:`dropout_layers.rng_key`) into
uniform floats in ``[0, 1)``: a float32 takes the top 24 bits of one 32-bit
half of a random word (low half first, two elements per word), a float64 the
top 53 bits of a whole word. Both grids are exact in their dtype, so ``0`` is
possible and ``1`` is not. NumPy, Numba and PyTorch give the same values for
the same key; JAX uses ``jax.random.uniform``.

Gaussian noise is built on top of it in :func:`dropout_layers.masks.normal_noise`
(Box and Muller's transform).
"""
import numpy as np

from .rng_key import KeyedNoiseOp, key_words

__all__ = ["UniformNoise", "uniform_from_words", "n_uniform_words"]

_FLOAT_DTYPES = ("float16", "float32", "float64")


def n_uniform_words(size, dtype):
    """Random 64-bit words that ``size`` uniforms of ``dtype`` need."""
    return size if dtype == "float64" else -(-size // 2)


def uniform_from_words(words, size, dtype):
    """Uniforms in [0, 1) of ``dtype`` (flat) from 64-bit words (NumPy reference)."""
    words = np.asarray(words, dtype=np.uint64)
    if dtype == "float64":
        return (words[:size] >> np.uint64(11)).astype(np.float64) * 2.0**-53
    halves = words.astype("<u8").view("<u4")[:size]
    return ((halves >> np.uint32(8)).astype(np.float32) * np.float32(2.0**-24)).astype(dtype)


class UniformNoise(KeyedNoiseOp):
    """Uniform floats in [0, 1) drawn from a key: ``(key, shape) -> u``.

    Parameters
    ----------
    dtype : {"float16", "float32", "float64"}
        float16 values are float32 uniforms rounded to float16 (so ``1`` can
        occur there).
    substream : int
        Sub-stream of the key (see :mod:`dropout_layers.rng_key`).
    """

    __props__ = ("dtype", "substream")

    def __init__(self, dtype="float32", substream=0):
        super().__init__(substream)
        if dtype not in _FLOAT_DTYPES:
            raise TypeError(f"UniformNoise dtype must be one of {_FLOAT_DTYPES}, got {dtype!r}")
        self.dtype = dtype
        self.output_dtype = dtype

    def perform(self, node, inputs, outputs):
        """Expand the key into uniforms (the NumPy implementation)."""
        key, shape = inputs
        shape, size = self.shape_and_size(shape)
        words = key_words(key, n_uniform_words(size, self.dtype), self.substream)
        outputs[0][0] = uniform_from_words(words, size, self.dtype).reshape(shape)
