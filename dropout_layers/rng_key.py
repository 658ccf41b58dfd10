"""One key per compiled call: the random state behind every noise layer.

A layer's RNG stream is a shared ``numpy.random.Generator``. Instead of
letting each draw consume a shape-dependent amount of that generator, a
compiled call takes one 64-bit *key* from it (:class:`RNGKey`), and the noise
ops (:class:`~dropout_layers.bernoulli_op.BernoulliMask`,
:class:`~dropout_layers.uniform_op.UniformNoise`) expand the key into as many
random words as they need with a counter-based hash. The generator's next
state is then the same whatever the graph draws, which is what lets one
update expression serve every graph built from a layer (see
:func:`dropout_layers.masks.rng_key`).

Counter hash
------------
Word ``w`` of sub-stream ``s`` for key ``k`` is ``mix64(k + c * GAMMA)`` with
``c = s * 2**48 + w + 1``, where ``mix64`` is the finaliser of Steele, Lea
and Flood's SplitMix64 and ``GAMMA = 0x9E3779B97F4A7C15``; for ``s = 0`` this
is exactly the SplitMix64 sequence seeded with ``k``. The NumPy, Numba and
PyTorch implementations produce the same words; the JAX implementation uses
``jax.random`` (threefry) instead.

References
----------
.. [1] Steele, Lea and Flood (2014): Fast splittable pseudorandom number
   generators. OOPSLA.
"""
import numpy as np
from pytensor.compile import optdb
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import copy_stack_trace, dfs_rewriter, node_rewriter
from pytensor.tensor.basic import as_tensor_variable, infer_static_shape
from pytensor.tensor.random.op import RNGConsumerOp
from pytensor.tensor.random.type import RandomGeneratorType
from pytensor.tensor.random.utils import custom_rng_deepcopy
from pytensor.tensor.type import TensorType, integer_dtypes

__all__ = ["RNGKey", "KeyedNoiseOp", "GAMMA", "MIX1", "MIX2", "SUBSTREAM_STRIDE", "mix64",
           "key_words", "key_to_int"]

GAMMA = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
#: Counter distance between sub-streams: no draw comes near 2**48 words.
SUBSTREAM_STRIDE = 2**48

#: The type of a key: two uint32 words, low word first (also a raw JAX key).
key_type = TensorType(dtype="uint32", shape=(2,))


def mix64(z):
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic)."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
    return z ^ (z >> np.uint64(31))


def key_to_int(key):
    """Return the 64-bit integer of a key given as two uint32 words."""
    key = np.asarray(key, dtype=np.uint64).reshape(2)
    return key[0] | (key[1] << np.uint64(32))


def key_words(key, n_words, substream=0):
    """Expand ``key`` into its first ``n_words`` 64-bit words (the NumPy reference).

    Parameters
    ----------
    key : array of two uint32
    n_words : int
    substream : int
        Independent sub-streams of one key, for layers that need several draws.

    Returns
    -------
    numpy.ndarray of uint64
    """
    start = np.uint64(substream * SUBSTREAM_STRIDE + 1)
    counters = np.arange(n_words, dtype=np.uint64) + start
    with np.errstate(over="ignore"):
        return mix64(key_to_int(key) + counters * np.uint64(GAMMA))


def _shape_vector(shape):
    """Return an int64 shape vector and the static shape it implies."""
    if isinstance(shape, Variable):
        shape = as_tensor_variable(shape, ndim=1)
        if shape.type.dtype not in integer_dtypes:
            raise TypeError(f"noise shape must be integers, got dtype {shape.type.dtype}")
        _, static_shape = infer_static_shape(shape)
        return (shape if shape.type.dtype == "int64" else shape.astype("int64")), static_shape
    entries, static_shape = infer_static_shape(shape)
    vector = as_tensor_variable([as_tensor_variable(e).astype("int64") for e in entries], ndim=1)
    return vector, static_shape


class KeyedNoiseOp(Op):
    """Base of the ops that expand a key into noise: inputs ``(key, shape, *extra)``.

    The ops are pure functions of their inputs (the randomness is all in the
    key), have no gradient, and their output has the given shape. Subclasses
    set ``output_dtype`` (or override :meth:`make_output`) and implement
    ``perform``.

    Parameters
    ----------
    substream : int
        Which independent sub-stream of the key to use (see the module notes).
    """

    default_output = 0

    def __init__(self, substream=0):
        if isinstance(substream, bool) or not isinstance(substream, (int, np.integer)) \
                or substream < 0:
            raise ValueError(f"substream must be a non-negative int, got {substream!r}")
        self.substream = int(substream)

    def make_output(self, static_shape):
        """Return the output variable for an output of ``static_shape``."""
        return TensorType(dtype=self.output_dtype, shape=tuple(static_shape))()

    def make_node(self, key, shape, *extra):
        """Check the key, turn ``shape`` into an int64 vector and build the node."""
        key = as_tensor_variable(key)
        if key.type.dtype != "uint32" or key.type.ndim != 1:
            raise TypeError(f"key must be a uint32 vector of length 2 (see RNGKey), got {key.type}")
        shape, static_shape = _shape_vector(shape)
        return Apply(self, [key, shape, *extra], [self.make_output(static_shape)])

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the entries of the shape input."""
        shape = node.inputs[1]
        return [[shape[i] for i in range(node.outputs[0].type.ndim)]]

    def connection_pattern(self, node):
        """Declare that no output depends differentiably on any input."""
        return [[False] for _ in node.inputs]

    def L_op(self, inputs, outputs, output_grads):
        """Return disconnected gradients: noise has none."""
        return [disconnected_type() for _ in inputs]

    @staticmethod
    def shape_and_size(shape):
        """Return the shape as a tuple of ints, checked, and the number of elements."""
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"noise shape must not be negative, got {shape}")
        return shape, int(np.prod(shape, dtype=np.int64))


class RNGKey(RNGConsumerOp):
    """Take one 64-bit key from a generator: ``(rng) -> (next_rng, key)``.

    The key is the generator's next ``next_uint64`` word, split into two
    uint32 (low word first); the next state is the generator advanced by
    exactly that one word. Like PyTensor's random variables, the Op copies the
    generator unless ``inplace`` is set, and a ``fast_run`` rewrite sets it
    where the function updates the generator.

    Parameters
    ----------
    inplace : bool
        Advance the input generator instead of a copy of it.
    """

    __props__ = ("inplace",)
    default_output = 1

    def __init__(self, inplace=False):
        self.inplace = bool(inplace)
        if self.inplace:
            self.destroy_map = {0: [0]}

    def make_node(self, rng):
        """Build the node ``rng -> (next_rng, key)``."""
        if not isinstance(getattr(rng, "type", None), RandomGeneratorType):
            raise TypeError(f"rng must be a numpy Generator variable, got {rng!r}")
        return Apply(self, [rng], [rng.type(), key_type()])

    def update(self, node):
        """Return the update that advances the generator: ``{rng: next_rng}``."""
        return {node.inputs[0]: node.outputs[0]}

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the key's shape, ``(2,)``."""
        return [None, (2,)]

    def connection_pattern(self, node):
        """Declare that neither output is differentiable."""
        return [[False, False]]

    def L_op(self, inputs, outputs, output_grads):
        """Return a disconnected gradient."""
        return [disconnected_type()]

    def perform(self, node, inputs, outputs):
        """Take one word from (a copy of) the generator."""
        (rng,) = inputs
        if not self.inplace:
            rng = custom_rng_deepcopy(rng)
        # The full uint64 range makes NumPy return next_uint64() unchanged,
        # the word the Numba implementation reads.
        word = int(rng.integers(0, 2**64, dtype=np.uint64))
        outputs[0][0] = rng
        outputs[1][0] = np.array([word & 0xFFFFFFFF, word >> 32], dtype=np.uint32)


@node_rewriter([RNGKey], inplace=True)
def rng_key_inplace(fgraph, node):
    """Let compiled functions advance the generator in place, without a copy per call."""
    if node.op.inplace:
        return False
    outputs = [out.type() for out in node.outputs]
    new_outputs = Apply(RNGKey(inplace=True), list(node.inputs), outputs).outputs
    for old, new in zip(node.outputs, new_outputs):
        copy_stack_trace(old, new)
    return new_outputs


# Same place in the pipeline as PyTensor's own random_make_inplace.
optdb.register(
    "dropout_layers_rng_key_inplace",
    dfs_rewriter(rng_key_inplace, ignore_newtrees=True),
    "fast_run",
    "inplace",
    position=50.9,
)
