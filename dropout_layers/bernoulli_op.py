"""A Bernoulli keep-mask Op that compares random bits with an integer threshold.

Drawing a float32 uniform per element and comparing it with ``p`` costs
about ten times more than the dropout arithmetic it feeds. A keep-mask needs
far less randomness: at ``p = 0.5`` one random bit per element decides it,
and any ``p`` that is a multiple of ``2**-16`` needs at most 16 bits.
:class:`BernoulliMask` therefore expands a key (see
:mod:`dropout_layers.rng_key`) into 64-bit words, cuts each word into
``bits``-wide chunks, and keeps an element when its chunk is at least the
drop threshold.

Quantisation of ``p``
---------------------
:func:`quantize_p` rounds ``p`` to the nearest multiple of ``2**-resolution``
(``resolution=16`` by default), so the drop probability actually used is
exactly ``floor(p * 2**16 + 1/2) / 2**16``; the error is at most ``2**-17``
(about ``7.6e-6``). The fraction is then reduced: ``p = 0.5`` becomes
``1/2`` and draws one bit per element, ``p = 0.25`` two bits, ``p = 0.1``
(``6554/65536 = 3277/32768``) fifteen bits. ``resolution`` goes up to 32
bits when a drop rate must be closer than that.

A symbolic ``p`` (for example a shared variable that a schedule anneals)
gives the threshold ``round(p * 2**resolution)`` as a third input; the
NumPy and Numba implementations reduce the fraction at run time, so the mask
is the one a constant ``p`` of the same value would draw (JAX and PyTorch
compare ``resolution``-bit chunks instead, with the same probability).

Bit layout
----------
Elements are filled in C order. Element ``i`` uses chunk ``i % (64 // bits)``
of word ``i // (64 // bits)``, counting chunks from the least significant
bit; bits left over at the top of a word are unused. The NumPy fallback
(:meth:`BernoulliMask.perform`), Numba and PyTorch draw the same mask from
the same key; JAX draws 32-bit words with ``jax.random.bits`` and uses the
same layout on them.
"""
import numpy as np
from pytensor.tensor.basic import as_tensor_variable
from pytensor.tensor.type import integer_dtypes

from .rng_key import KeyedNoiseOp, key_words

__all__ = ["BernoulliMask", "quantize_p", "reduce_threshold", "keep_from_words", "n_words_for",
           "DEFAULT_RESOLUTION"]

#: Bits of resolution of ``p`` unless stated otherwise: ``p`` is rounded to ``k / 65536``.
DEFAULT_RESOLUTION = 16


def _check_resolution(resolution):
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
        raise TypeError(f"resolution must be an int number of bits, got {resolution!r}")
    if not 1 <= resolution <= 32:
        raise ValueError(f"resolution must be between 1 and 32 bits, got {resolution}")
    return int(resolution)


def reduce_threshold(threshold, bits):
    """Reduce ``threshold / 2**bits`` to lowest terms: fewer bits per element.

    Returns ``(threshold, bits)``; ``(0, 0)`` keeps everything and ``(1, 0)``
    drops everything.
    """
    threshold, bits = int(threshold), int(bits)
    if threshold == 0:
        return 0, 0
    while threshold % 2 == 0 and bits > 0:
        threshold //= 2
        bits -= 1
    return threshold, bits


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

    Examples
    --------
    >>> quantize_p(0.5)
    (1, 1, 0.5)
    >>> quantize_p(0.1)
    (3277, 15, 0.100006103515625)
    """
    resolution = _check_resolution(resolution)
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"drop probability p must be in [0, 1), got {p}")
    # Halves round up, as the run-time threshold does (see masks.drop_threshold).
    threshold = int(np.floor(p * 2**resolution + 0.5))
    if threshold == 2**resolution:
        raise ValueError(
            f"drop probability p={p} rounds to 1 at {resolution}-bit resolution; "
            "use a smaller p or a larger resolution"
        )
    threshold, bits = reduce_threshold(threshold, resolution)
    return threshold, bits, (threshold / 2**bits if bits else 0.0)


def keep_from_words(words, size, bits, threshold, word_bits=64):
    """Turn random words into a flat boolean keep-mask for drop rate ``threshold / 2**bits``.

    Parameters
    ----------
    words : numpy.ndarray of uint64 (or uint32 with ``word_bits=32``)
    size : int
        Number of mask elements.
    bits, threshold : int
        As returned by :func:`reduce_threshold`.
    word_bits : {64, 32}
    """
    if bits == 0:
        return np.full(size, threshold == 0, dtype=bool)
    word_dtype = np.uint64 if word_bits == 64 else np.uint32
    words = np.asarray(words, dtype=word_dtype)
    if bits == 1:
        as_bytes = words.astype(f"<u{word_bits // 8}").view(np.uint8)
        bit_values = np.unpackbits(as_bytes, bitorder="little")
        # A reduced threshold over one bit is 1: keep where the bit is set.
        return bit_values[:size].astype(bool)
    per_word = word_bits // bits
    shifts = np.arange(per_word, dtype=word_dtype) * word_dtype(bits)
    chunks = (words[:, None] >> shifts) & word_dtype(2**bits - 1)
    return (chunks >= word_dtype(threshold)).ravel()[:size]


def _unpack_table():
    # Entry b holds the eight bits of byte b, least significant first, as
    # eight bool bytes of one little-endian uint64.
    bits_of_byte = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
    return np.ascontiguousarray(bits_of_byte.astype(np.uint8)).view("<u8").ravel().astype(np.uint64)


_BYTE_TO_BOOLS = _unpack_table()


def n_words_for(size, bits, word_bits=64):
    """Random words a mask of ``size`` elements at ``bits`` per element needs."""
    if bits == 0:
        return 0
    per_word = word_bits // bits
    return -(-size // per_word)


class BernoulliMask(KeyedNoiseOp):
    """Draw a boolean keep-mask from a key: ``(key, shape[, threshold]) -> keep``.

    An element is kept when its ``bits``-wide chunk of random bits, read as an
    unsigned integer, is at least the drop threshold, so it is dropped with
    probability exactly ``drop_threshold / 2**bits``. Build it with
    :meth:`from_p` (a constant ``p``) or :meth:`runtime` (a threshold given
    as an input) rather than by hand.

    Parameters
    ----------
    drop_threshold : int or None
        Chunks below this value drop their element; ``None`` takes the
        threshold, a multiple of ``2**-bits``, from a third input.
    bits : int
        Width of a chunk, 0 to 32; 0 (with ``drop_threshold=0``) keeps every
        element and draws nothing. With a runtime threshold, the resolution.
    substream : int
        Sub-stream of the key (see :mod:`dropout_layers.rng_key`).
    """

    __props__ = ("drop_threshold", "bits", "substream")
    output_dtype = "bool"

    def __init__(self, drop_threshold, bits, substream=0):
        super().__init__(substream)
        if not 0 <= bits <= 32:
            raise ValueError(f"bits must be between 0 and 32, got {bits}")
        if drop_threshold is not None and (
            not 0 <= drop_threshold < max(2**bits, 1) or (bits == 0 and drop_threshold != 0)
        ):
            raise ValueError(f"drop_threshold must be in [0, 2**bits), got {drop_threshold} "
                             f"with bits={bits}")
        if drop_threshold is None and bits == 0:
            raise ValueError("a runtime threshold needs at least one bit of resolution")
        self.drop_threshold = None if drop_threshold is None else int(drop_threshold)
        self.bits = int(bits)

    @classmethod
    def from_p(cls, p, resolution=DEFAULT_RESOLUTION, substream=0):
        """Build the Op for a constant drop probability ``p`` (see :func:`quantize_p`)."""
        threshold, bits, _ = quantize_p(p, resolution)
        return cls(threshold, bits, substream)

    @classmethod
    def runtime(cls, resolution=DEFAULT_RESOLUTION, substream=0):
        """Build the Op whose threshold is its third input (``round(p * 2**resolution)``)."""
        return cls(None, _check_resolution(resolution), substream)

    @property
    def p(self):
        """The exact drop probability of a constant-threshold Op."""
        if self.drop_threshold is None:
            raise AttributeError("this BernoulliMask takes its threshold at run time")
        return self.drop_threshold / 2**self.bits if self.bits else 0.0

    def make_node(self, key, shape, threshold=None):
        """Build the node; ``threshold`` is given exactly for a run-time-threshold Op."""
        if (threshold is None) != (self.drop_threshold is not None):
            raise TypeError("BernoulliMask takes a threshold input exactly when built with "
                            "BernoulliMask.runtime")
        if threshold is None:
            return super().make_node(key, shape)
        threshold = as_tensor_variable(threshold)
        if threshold.type.ndim != 0 or threshold.type.dtype not in integer_dtypes:
            raise TypeError(f"threshold must be an integer scalar, got {threshold.type}")
        return super().make_node(key, shape, threshold.astype("int64"))

    def threshold_and_bits(self, inputs):
        """Return the reduced ``(threshold, bits)`` that a call with these inputs uses."""
        if self.drop_threshold is not None:
            return self.drop_threshold, self.bits
        threshold = min(max(int(inputs[2]), 0), 2**self.bits)
        return reduce_threshold(threshold, self.bits)

    def perform(self, node, inputs, outputs):
        """Expand the key into the mask (the NumPy implementation)."""
        key, shape = inputs[:2]
        shape, size = self.shape_and_size(shape)
        threshold, bits = self.threshold_and_bits(inputs)
        words = key_words(key, n_words_for(size, bits), self.substream)
        outputs[0][0] = keep_from_words(words, size, bits, threshold).reshape(shape)
