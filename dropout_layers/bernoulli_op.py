"""A Bernoulli keep-mask Op that compares raw random bits with a threshold.

Drawing a float32 uniform per element and comparing it with ``p`` costs
about ten times more than the dropout arithmetic it feeds. A keep-mask needs
far less randomness: at ``p = 0.5`` one random bit per element decides it,
and any ``p`` that is a multiple of ``2**-16`` needs at most 16 bits.
:class:`BernoulliMask` therefore takes raw 64-bit words from the generator's
bit generator, cuts each word into ``bits``-wide chunks, and keeps an element
when its chunk is at least ``drop_threshold``.

Quantisation of ``p``
---------------------
:func:`quantize_p` rounds ``p`` to the nearest multiple of ``2**-resolution``
(``resolution=16`` by default), so the drop probability actually used is
exactly ``round(p * 2**16) / 2**16``; the error is at most ``2**-17``
(about ``7.6e-6``). The fraction is then reduced: ``p = 0.5`` becomes
``1/2`` and draws one bit per element, ``p = 0.25`` two bits, ``p = 0.1``
(``6554/65536 = 3277/32768``) fifteen bits. ``resolution`` goes up to 32
bits when a drop rate must be closer than that.

Bit layout
----------
Elements are filled in C order. Element ``i`` uses chunk ``i % (64 // bits)``
of 64-bit word ``i // (64 // bits)``, counting chunks from the least
significant bit; bits left over at the top of a word are unused. Every word
comes from the bit generator's ``next_uint64``, so the NumPy fallback
(:meth:`BernoulliMask.perform`) and the Numba implementation draw the same
mask from the same generator state.
"""
import numpy as np
from pytensor.compile import optdb
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.rewriting.basic import copy_stack_trace, dfs_rewriter, node_rewriter
from pytensor.tensor.basic import as_tensor_variable, infer_static_shape
from pytensor.tensor.random.op import RNGConsumerOp
from pytensor.tensor.random.type import RandomGeneratorType
from pytensor.tensor.random.utils import custom_rng_deepcopy
from pytensor.tensor.type import TensorType, integer_dtypes

__all__ = ["BernoulliMask", "quantize_p", "DEFAULT_RESOLUTION"]

#: Bits of resolution of ``p`` unless stated otherwise: ``p`` is rounded to ``k / 65536``.
DEFAULT_RESOLUTION = 16


def quantize_p(p, resolution=DEFAULT_RESOLUTION):
    """Round a drop probability to the grid the bit-threshold mask can draw.

    Parameters
    ----------
    p : float
        Probability of dropping an element, in [0, 1).
    resolution : int
        ``p`` is rounded to the nearest multiple of ``2**-resolution``;
        between 1 and 32.

    Returns
    -------
    drop_threshold : int
        Numerator of the reduced fraction ``drop_threshold / 2**bits``.
    bits : int
        Random bits drawn per element; 0 when nothing is ever dropped.
    p_used : float
        The drop probability the mask really has, ``drop_threshold / 2**bits``.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise TypeError(f"resolution must be an int number of bits, got {resolution!r}")
    if not 1 <= resolution <= 32:
        raise ValueError(f"resolution must be between 1 and 32 bits, got {resolution}")
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"drop probability p must be in [0, 1), got {p}")
    threshold = int(round(p * 2**resolution))
    if threshold == 2**resolution:
        raise ValueError(
            f"drop probability p={p} rounds to 1 at {resolution}-bit resolution; "
            "use a smaller p or a larger resolution"
        )
    bits = resolution
    if threshold == 0:
        return 0, 0, 0.0
    # Reduce the fraction: fewer bits per element means fewer words to draw.
    while threshold % 2 == 0:
        threshold //= 2
        bits -= 1
    return threshold, bits, threshold / 2**bits


def _unpack_table():
    # Entry b holds the eight bits of byte b, least significant first, as
    # eight bool bytes of one little-endian uint64.
    bits_of_byte = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
    return np.ascontiguousarray(bits_of_byte.astype(np.uint8)).view("<u8").ravel().astype(np.uint64)


_BYTE_TO_BOOLS = _unpack_table()


class BernoulliMask(RNGConsumerOp):
    """Draw a boolean keep-mask from raw random bits.

    An element is kept when its ``bits``-wide chunk of random bits, read as an
    unsigned integer, is at least ``drop_threshold``; so it is dropped with
    probability exactly ``drop_threshold / 2**bits``. Build it with
    :meth:`from_p` rather than by hand.

    Inputs are ``(rng, shape)``; outputs are ``(next_rng, keep)``. Like
    PyTensor's random variables, the Op copies the generator unless
    ``inplace`` is set, and a ``fast_run`` rewrite sets it, so compiled
    functions advance the shared generator in place.

    Parameters
    ----------
    drop_threshold : int
        Chunks below this value drop their element.
    bits : int
        Width of a chunk, 0 to 32; 0 (with ``drop_threshold=0``) keeps every
        element and draws nothing.
    inplace : bool
        Advance the input generator instead of a copy of it.
    """

    __props__ = ("drop_threshold", "bits", "inplace")
    default_output = 1

    def __init__(self, drop_threshold, bits, inplace=False):
        if not 0 <= bits <= 32:
            raise ValueError(f"bits must be between 0 and 32, got {bits}")
        if not 0 <= drop_threshold < max(2**bits, 1) or (bits == 0 and drop_threshold != 0):
            raise ValueError(f"drop_threshold must be in [0, 2**bits), got {drop_threshold} with bits={bits}")
        self.drop_threshold = int(drop_threshold)
        self.bits = int(bits)
        self.inplace = bool(inplace)
        if self.inplace:
            self.destroy_map = {0: [0]}

    @classmethod
    def from_p(cls, p, resolution=DEFAULT_RESOLUTION):
        """Build the Op for drop probability ``p`` (see :func:`quantize_p`)."""
        threshold, bits, _ = quantize_p(p, resolution)
        return cls(threshold, bits)

    @property
    def p(self):
        """The exact drop probability of this Op."""
        return self.drop_threshold / 2**self.bits if self.bits else 0.0

    @property
    def chunks_per_word(self):
        return 64 // self.bits if self.bits else 64

    def make_node(self, rng, shape):
        if not isinstance(getattr(rng, "type", None), RandomGeneratorType):
            raise TypeError(f"rng must be a numpy Generator variable, got {rng!r}")
        if isinstance(shape, Variable):
            shape = as_tensor_variable(shape, ndim=1)
            if shape.type.dtype not in integer_dtypes:
                raise TypeError(f"mask shape must be integers, got dtype {shape.type.dtype}")
            _, static_shape = infer_static_shape(shape)
            if shape.type.dtype != "int64":
                shape = shape.astype("int64")
        else:
            entries, static_shape = infer_static_shape(shape)
            shape = as_tensor_variable([as_tensor_variable(e).astype("int64") for e in entries], ndim=1)
        keep_type = TensorType(dtype="bool", shape=tuple(static_shape))
        return Apply(self, [rng, shape], [rng.type(), keep_type()])

    def update(self, node):
        return {node.inputs[0]: node.outputs[0]}

    def infer_shape(self, fgraph, node, input_shapes):
        shape = node.inputs[1]
        return [None, [shape[i] for i in range(node.outputs[1].type.ndim)]]

    def connection_pattern(self, node):
        # Neither output is differentiable; declaring that keeps pytensor.grad
        # from asking this Op for a gradient.
        return [[False, False], [False, False]]

    def L_op(self, inputs, outputs, output_grads):
        return [disconnected_type() for _ in inputs]

    def perform(self, node, inputs, outputs):
        rng, shape = inputs
        if not self.inplace:
            rng = custom_rng_deepcopy(rng)
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"mask shape must not be negative, got {shape}")
        size = int(np.prod(shape, dtype=np.int64))
        outputs[0][0] = rng
        outputs[1][0] = self._keep_from_words(self._draw_words(rng, size), size).reshape(shape)

    def _n_words(self, size):
        if self.bits == 0:
            return 0
        return -(-size // self.chunks_per_word)

    def _draw_words(self, rng, size):
        # The full uint64 range makes NumPy return next_uint64() unchanged,
        # the same words the Numba implementation reads.
        return rng.integers(0, 2**64, size=self._n_words(size), dtype=np.uint64)

    def _keep_from_words(self, words, size):
        if self.bits == 0:
            return np.ones(size, dtype=bool)
        if self.bits == 1:
            bit_values = np.unpackbits(words.astype("<u8").view(np.uint8), bitorder="little")
            return bit_values[:size].astype(bool)
        shifts = np.arange(self.chunks_per_word, dtype=np.uint64) * np.uint64(self.bits)
        chunks = (words[:, None] >> shifts) & np.uint64(2**self.bits - 1)
        return (chunks >= np.uint64(self.drop_threshold)).ravel()[:size]


@node_rewriter([BernoulliMask], inplace=True)
def bernoulli_mask_inplace(fgraph, node):
    """Let compiled functions advance the generator in place, without a copy per call."""
    if node.op.inplace:
        return False
    new_op = BernoulliMask(node.op.drop_threshold, node.op.bits, inplace=True)
    # Reuse the output types: re-inferring the static shape from a rewritten
    # shape vector can lose what the original node knew.
    new_outputs = Apply(new_op, list(node.inputs), [out.type() for out in node.outputs]).outputs
    for old, new in zip(node.outputs, new_outputs):
        copy_stack_trace(old, new)
    return new_outputs


# Same place in the pipeline as PyTensor's own random_make_inplace.
optdb.register(
    "dropout_layers_bernoulli_mask_inplace",
    dfs_rewriter(bernoulli_mask_inplace, ignore_newtrees=True),
    "fast_run",
    "inplace",
    position=50.9,
)


def _numba_bernoulli_mask(op, node, **kwargs):
    """Numba implementation: one ``next_uint64`` call per word, no temporaries."""
    from numba.np.random.generator_core import next_uint64
    from numba.np.unsafe.ndarray import to_fixed_tuple
    from pytensor.link.numba.dispatch import basic as numba_basic
    from pytensor.link.numba.dispatch.compile_ops import numba_deepcopy

    ndim = node.outputs[1].type.ndim
    bits = op.bits
    chunks_per_word = op.chunks_per_word
    chunk_mask = np.uint64(2**bits - 1) if bits else np.uint64(0)
    drop_threshold = np.uint64(op.drop_threshold)
    inplace = op.inplace
    byte_to_bools = _BYTE_TO_BOOLS

    @numba_basic.numba_njit
    def bernoulli_mask(rng, shape):
        if not inplace:
            rng = numba_deepcopy(rng)
        size = 1
        for i in range(ndim):
            size *= shape[i]
        if bits == 0:
            keep = np.ones(size, dtype=np.bool_)
            return rng, keep.reshape(to_fixed_tuple(shape, ndim))
        n_words = (size + chunks_per_word - 1) // chunks_per_word
        # Pad to whole words so the inner loops need no bounds tests.
        padded = np.empty(n_words * chunks_per_word, dtype=np.bool_)
        bitgen = rng.bit_generator
        if bits == 1:
            # Eight mask bytes per table lookup, written as one uint64.
            padded_u64 = padded.view(np.uint64)
            for w in range(n_words):
                word = next_uint64(bitgen)
                for b in range(8):
                    padded_u64[8 * w + b] = byte_to_bools[(word >> np.uint64(8 * b)) & np.uint64(255)]
        else:
            for w in range(n_words):
                word = next_uint64(bitgen)
                base = w * chunks_per_word
                for c in range(chunks_per_word):
                    chunk = (word >> np.uint64(c * bits)) & chunk_mask
                    padded[base + c] = chunk >= drop_threshold
        return rng, padded[:size].reshape(to_fixed_tuple(shape, ndim))

    return bernoulli_mask


def _numba_cache_key(op, node):
    from hashlib import sha256

    # Bump when the Numba implementation changes.
    version = 1
    key = (type(op).__qualname__, op.drop_threshold, op.bits, op.inplace, node.outputs[1].type.ndim, version)
    return sha256(repr(key).encode()).hexdigest()


def _register_numba():
    from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key

    @register_funcify_and_cache_key(BernoulliMask)
    def numba_funcify_bernoulli_mask(op, node, **kwargs):
        return _numba_bernoulli_mask(op, node, **kwargs), _numba_cache_key(op, node)


# Numba is a hard dependency of PyTensor 3 (its default linker), so the
# implementation is registered as soon as the Op exists.
_register_numba()
