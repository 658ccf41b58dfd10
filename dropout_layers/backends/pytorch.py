"""PyTorch implementations of the noise ops (``mode="PYTORCH"``).

PyTensor's PyTorch backend has no random variables of its own, so the
generator state travels as the NumPy ``Generator`` itself: taking the key
(:class:`~dropout_layers.rng_key.RNGKey`) is one ``next_uint64`` of a copy of
the generator. The noise ops hash the key with SplitMix64 in int64 tensor
arithmetic, so they draw exactly the masks and uniforms of the NumPy and
Numba implementations (a run-time threshold compares ``resolution``-bit
chunks without reducing the fraction, so its masks differ, with the same
probability).

All three run as eager PyTorch, outside ``torch.compile``: their sizes come
from data (which would break the compiled graph with a warning each time),
and Inductor folds wrapping int64 products of large constants into
overflow errors. The rest of the graph is compiled as usual.
"""
import numpy as np
import torch
from pytensor.link.pytorch.dispatch.basic import pytorch_funcify, pytorch_typify
from pytensor.tensor.random.utils import custom_rng_deepcopy

from ..bernoulli_op import BernoulliMask
from ..rng_key import GAMMA, MIX1, MIX2, SUBSTREAM_STRIDE, RNGKey
from ..uniform_op import UniformNoise

__all__ = []


def _signed(value):
    """Return the int64 with the same bits as a uint64 constant."""
    return value - 2**64 if value >= 2**63 else value


_GAMMA, _MIX1, _MIX2 = _signed(GAMMA), _signed(MIX1), _signed(MIX2)


class _GeneratorOutput:
    """Carries a next generator state through PyTensor's PyTorch wrapper.

    The wrapper converts every output with ``.cpu().numpy()``; this returns
    the generator itself, so the shared stream receives a ``Generator``.
    """

    def __init__(self, generator):
        self.generator = generator

    def cpu(self):
        return self

    def numpy(self):
        return self.generator


@pytorch_typify.register(np.random.Generator)
def pytorch_typify_generator(data, **kwargs):
    return data


_eager = torch._dynamo.disable


@pytorch_funcify.register(RNGKey)
def pytorch_funcify_rng_key(op, node, **kwargs):
    @_eager
    def rng_key(rng):
        if isinstance(rng, _GeneratorOutput):
            rng = rng.generator
        rng = custom_rng_deepcopy(rng)
        word = int(rng.integers(0, 2**64, dtype=np.uint64))
        key = torch.tensor([word & 0xFFFFFFFF, word >> 32], dtype=torch.int64).to(torch.uint32)
        return _GeneratorOutput(rng), key

    return rng_key


def _shift_right(z, k):
    """Logical right shift of int64 bits by a constant ``k`` > 0."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _words(key, n_words, substream):
    key = key.to(torch.int64)
    key64 = key[0] | (key[1] << 32)
    counters = torch.arange(n_words, dtype=torch.int64) + (substream * SUBSTREAM_STRIDE + 1)
    z = key64 + counters * _GAMMA
    z = (z ^ _shift_right(z, 30)) * _MIX1
    z = (z ^ _shift_right(z, 27)) * _MIX2
    return z ^ _shift_right(z, 31)


def _shape(shape, static):
    return static if static is not None else tuple(int(s) for s in shape)


def _static_shape(node):
    shape = node.outputs[0].type.shape
    return None if None in shape else tuple(int(s) for s in shape)


@pytorch_funcify.register(BernoulliMask)
def pytorch_funcify_bernoulli_mask(op, node, **kwargs):
    static = _static_shape(node)
    bits, substream = op.bits, op.substream
    constant = op.drop_threshold

    @_eager
    def bernoulli_mask(key, shape, threshold=None):
        shape = _shape(shape, static)
        size = int(np.prod(shape, dtype=np.int64))
        if bits == 0:
            return torch.ones(shape, dtype=torch.bool)
        per_word = 64 // bits
        words = _words(key, -(-size // per_word), substream)
        # An arithmetic shift differs from a logical one only in the bits the
        # chunk mask clears, since every chunk ends at or below bit 63.
        shifts = torch.arange(per_word, dtype=torch.int64) * bits
        chunks = ((words[:, None] >> shifts) & (2**bits - 1)).reshape(-1)[:size]
        if constant is not None:
            limit = constant
        else:
            limit = torch.clamp(torch.as_tensor(threshold), 0, 2**bits)
        return (chunks >= limit).reshape(shape)

    return bernoulli_mask


_TORCH_DTYPES = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}


@pytorch_funcify.register(UniformNoise)
def pytorch_funcify_uniform_noise(op, node, **kwargs):
    static = _static_shape(node)
    dtype, substream = op.dtype, op.substream
    out_dtype = _TORCH_DTYPES[dtype]

    @_eager
    def uniform_noise(key, shape):
        shape = _shape(shape, static)
        size = int(np.prod(shape, dtype=np.int64))
        if dtype == "float64":
            words = _words(key, size, substream)
            return (_shift_right(words, 11).to(torch.float64) * 2.0**-53).reshape(shape)
        words = _words(key, -(-size // 2), substream)
        halves = torch.stack([(words >> 8) & 0xFFFFFF, _shift_right(words, 40)], dim=1)
        halves = halves.reshape(-1)[:size]
        return (halves.to(torch.float32) * 2.0**-24).to(out_dtype).reshape(shape)

    return uniform_noise
