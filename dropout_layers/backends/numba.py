"""Numba implementations of the noise ops (PyTensor's default linker).

Each kernel hashes a running counter into 64-bit words in registers
(SplitMix64, see :mod:`dropout_layers.rng_key`) and writes the mask or the
uniforms directly, without temporaries. They reproduce the NumPy reference
implementations (the ops' ``perform``) bit for bit.
"""
from hashlib import sha256

import numpy as np
from numba.np.random.generator_core import next_uint64
from numba.np.unsafe.ndarray import to_fixed_tuple
from pytensor.link.numba.dispatch import basic as numba_basic
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.link.numba.dispatch.compile_ops import numba_deepcopy

from ..bernoulli_op import _BYTE_TO_BOOLS, BernoulliMask
from ..rng_key import GAMMA, MIX1, MIX2, SUBSTREAM_STRIDE, RNGKey
from ..uniform_op import UniformNoise

__all__ = []

# Bump when a kernel changes: the numba cache keys include it.
_VERSION = 3

_GAMMA = np.uint64(GAMMA)
_MIX1 = np.uint64(MIX1)
_MIX2 = np.uint64(MIX2)
_LOW32 = np.uint64(0xFFFFFFFF)
_S30, _S27, _S31, _S32 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(32)


def _first_counter_offset(substream):
    return np.uint64(((substream * SUBSTREAM_STRIDE + 1) * GAMMA) % 2**64)


def _cache_key(*parts):
    return sha256(repr((*parts, _VERSION)).encode()).hexdigest()


@numba_basic.numba_njit
def _mix64(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba_basic.numba_njit
def _key64(key):
    return np.uint64(key[0]) | (np.uint64(key[1]) << _S32)


@numba_basic.numba_njit
def _size_of(shape, ndim):
    size = 1
    for i in range(ndim):
        size *= shape[i]
    return size


@numba_basic.numba_njit
def _fill_keep(padded, z, n_words, bits, threshold, byte_to_bools):
    """Fill whole words of ``padded`` with keep flags; ``z`` is the first hash input."""
    if bits == 1:
        # Eight mask bytes per table lookup, written as one uint64.
        padded_u64 = padded.view(np.uint64)
        for w in range(n_words):
            word = _mix64(z)
            z += _GAMMA
            for b in range(8):
                padded_u64[8 * w + b] = byte_to_bools[(word >> np.uint64(8 * b)) & np.uint64(255)]
        return
    per_word = 64 // bits
    chunk_mask = np.uint64(2**bits - 1)
    drop_below = np.uint64(threshold)
    width = np.uint64(bits)
    for w in range(n_words):
        word = _mix64(z)
        z += _GAMMA
        base = w * per_word
        # Shifting the word by a fixed width each step keeps everything in
        # uint64 registers (no per-chunk shift amounts to compute).
        for c in range(per_word):
            padded[base + c] = (word & chunk_mask) >= drop_below
            word >>= width


@numba_basic.numba_njit
def _runtime_value(value):
    # Through memory, so that LLVM cannot see a compile-time constant: with
    # ``bits`` known it unrolls and vectorises the chunk loop, and on some
    # CPUs (seen on AMD EPYC with llvmlite 0.47) that optimisation never ends.
    box = np.empty(1, dtype=np.int64)
    box[0] = value
    return box[0]


@numba_basic.numba_njit
def _keep_mask(key, size, bits, threshold, offset, byte_to_bools):
    bits = _runtime_value(bits)
    if bits == 0:
        return np.full(size, threshold == 0, dtype=np.bool_)
    per_word = 64 // bits
    n_words = (size + per_word - 1) // per_word
    # Padded to whole words so the inner loops need no bounds tests.
    padded = np.empty(n_words * per_word, dtype=np.bool_)
    _fill_keep(padded, _key64(key) + offset, n_words, bits, threshold, byte_to_bools)
    return padded[:size]


@numba_basic.numba_njit
def _reduce(threshold, resolution):
    t = np.int64(threshold.item())
    bits = np.int64(resolution)
    if t <= 0:
        return np.int64(0), np.int64(0)
    if t >= np.int64(2) ** bits:
        return np.int64(1), np.int64(0)
    while t % 2 == 0 and bits > 0:
        t //= 2
        bits -= 1
    return t, bits


@register_funcify_and_cache_key(BernoulliMask)
def numba_funcify_bernoulli_mask(op, node, **kwargs):
    ndim = node.outputs[0].type.ndim
    offset = _first_counter_offset(op.substream)
    byte_to_bools = _BYTE_TO_BOOLS
    if op.drop_threshold is None:
        resolution = op.bits

        @numba_basic.numba_njit
        def bernoulli_mask(key, shape, threshold):
            t, bits = _reduce(threshold, resolution)
            size = _size_of(shape, ndim)
            keep = _keep_mask(key, size, bits, t, offset, byte_to_bools)
            return keep.reshape(to_fixed_tuple(shape, ndim))
    else:
        bits, t = op.bits, op.drop_threshold

        @numba_basic.numba_njit
        def bernoulli_mask(key, shape):
            size = _size_of(shape, ndim)
            keep = _keep_mask(key, size, bits, t, offset, byte_to_bools)
            return keep.reshape(to_fixed_tuple(shape, ndim))

    key = _cache_key("BernoulliMask", op.drop_threshold, op.bits, op.substream, ndim)
    return bernoulli_mask, key


@register_funcify_and_cache_key(UniformNoise)
def numba_funcify_uniform_noise(op, node, **kwargs):
    ndim = node.outputs[0].type.ndim
    offset = _first_counter_offset(op.substream)
    wide = op.dtype == "float64"
    out_dtype = np.dtype(op.dtype)
    scale64, scale32 = 2.0**-53, np.float32(2.0**-24)
    s11, s8, s40 = np.uint64(11), np.uint64(8), np.uint64(40)
    low24 = np.uint64(0xFFFFFF)

    @numba_basic.numba_njit
    def uniform_noise(key, shape):
        size = _size_of(shape, ndim)
        out = np.empty(size, dtype=out_dtype)
        z = _key64(key) + offset
        if wide:
            for i in range(size):
                out[i] = np.float64(_mix64(z) >> s11) * scale64
                z += _GAMMA
        else:
            for w in range((size + 1) // 2):
                word = _mix64(z)
                z += _GAMMA
                out[2 * w] = np.float32((word >> s8) & low24) * scale32
                if 2 * w + 1 < size:
                    out[2 * w + 1] = np.float32(word >> s40) * scale32
        return out.reshape(to_fixed_tuple(shape, ndim))

    return uniform_noise, _cache_key("UniformNoise", op.dtype, op.substream, ndim)


@register_funcify_and_cache_key(RNGKey)
def numba_funcify_rng_key(op, node, **kwargs):
    inplace = op.inplace

    @numba_basic.numba_njit
    def rng_key(rng):
        if not inplace:
            rng = numba_deepcopy(rng)
        word = next_uint64(rng.bit_generator)
        key = np.empty(2, dtype=np.uint32)
        key[0] = np.uint32(word & _LOW32)
        key[1] = np.uint32(word >> _S32)
        return rng, key

    return rng_key, _cache_key("RNGKey", op.inplace)
