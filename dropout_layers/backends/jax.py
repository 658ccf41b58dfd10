"""JAX implementations of the noise ops (``mode="JAX"``).

The generator state arrives as PyTensor's JAX backend passes it to its own
random variables: a dict whose ``"jax_state"`` is a raw threefry key.
:class:`~dropout_layers.rng_key.RNGKey` splits it as they do
(``jax.random.split``), keeps one half as the next state and returns the
other as the call's key; the noise ops expand that key with
``jax.random.bits`` (masks, compared with the same integer threshold as on
the CPU, on 32-bit words) and ``jax.random.uniform``.

Shapes must be concrete for ``jax.jit``: :func:`shape_as_tuple` turns a
shape vector built from ``Shape_i`` scalars and constants into PyTensor's
``JAXShapeTuple``.

PyTensor 3.0's JAX reduction returns its accumulator's dtype (a float32 sum
accumulated in float64 comes back as float64), so every parameter trained
through such a graph turned float64 after one step. :func:`_reduce_to_output_dtype`
casts the result to the dtype the graph declares, as the other backends do.
"""
import jax
import jax.numpy as jnp
import numpy as np
from pytensor.link.jax.dispatch.basic import jax_funcify
from pytensor.link.jax.dispatch.shape import JAXShapeTuple
from pytensor.tensor.basic import MakeVector
from pytensor.tensor.elemwise import CAReduce

from ..bernoulli_op import BernoulliMask
from ..rng_key import RNGKey
from ..uniform_op import UniformNoise

__all__ = ["shape_as_tuple"]


def shape_as_tuple(node):
    """Rewrite a noise op's ``MakeVector`` shape input as a ``JAXShapeTuple``.

    Returns the new outputs, or None when there is nothing to rewrite.
    """
    if isinstance(node.op, RNGKey):
        return None
    shape = node.inputs[1]
    if shape.owner is None or not isinstance(shape.owner.op, MakeVector):
        return None
    inputs = list(node.inputs)
    inputs[1] = JAXShapeTuple()(*shape.owner.inputs)
    return node.clone_with_new_inputs(inputs).outputs


_pytensor_careduce = jax_funcify.dispatch(CAReduce)


@jax_funcify.register(CAReduce)
def _reduce_to_output_dtype(op, node=None, **kwargs):
    reduce = _pytensor_careduce(op, node=node, **kwargs)
    if node is None:
        return reduce
    dtype = node.outputs[0].type.dtype

    def reduce_cast(x):
        return reduce(x).astype(dtype)

    return reduce_cast


def _static_shape(node):
    shape = node.outputs[0].type.shape
    return None if None in shape else tuple(int(s) for s in shape)


def _concrete(shape, static):
    return static if static is not None else tuple(int(s) for s in shape)


def _subkey(key, substream):
    return jax.random.fold_in(key, substream) if substream else key


@jax_funcify.register(RNGKey)
def jax_funcify_rng_key(op, node, **kwargs):
    def rng_key(rng):
        state, key = jax.random.split(rng["jax_state"], 2)
        rng = dict(rng)
        rng["jax_state"] = state
        return rng, key

    return rng_key


def _chunks(key, size, bits):
    """Random ``bits``-wide chunks, at least ``size`` of them, from 32-bit words."""
    per_word = 32 // bits
    words = jax.random.bits(key, (-(-size // per_word),), dtype=jnp.uint32)
    if per_word == 1:
        return words
    shifts = jnp.arange(per_word, dtype=jnp.uint32) * jnp.uint32(bits)
    return ((words[:, None] >> shifts) & jnp.uint32(2**bits - 1)).ravel()


@jax_funcify.register(BernoulliMask)
def jax_funcify_bernoulli_mask(op, node, **kwargs):
    static = _static_shape(node)
    bits, substream = op.bits, op.substream

    if op.drop_threshold is not None:
        threshold = op.drop_threshold

        def bernoulli_mask(key, shape):
            shape = _concrete(shape, static)
            size = int(np.prod(shape, dtype=np.int64))
            if bits == 0:
                return jnp.ones(shape, dtype=bool)
            chunks = _chunks(_subkey(key, substream), size, bits)
            return (chunks >= jnp.uint32(threshold))[:size].reshape(shape)

        return bernoulli_mask

    def bernoulli_mask_runtime(key, shape, threshold):
        shape = _concrete(shape, static)
        size = int(np.prod(shape, dtype=np.int64))
        chunks = _chunks(_subkey(key, substream), size, bits)
        # Compared as signed integers so that 2**bits (drop everything) fits;
        # without JAX's 64-bit mode that holds up to 30 bits of resolution.
        limit = jnp.clip(jnp.asarray(threshold), 0, 2**bits)
        return (chunks.astype(limit.dtype) >= limit)[:size].reshape(shape)

    return bernoulli_mask_runtime


@jax_funcify.register(UniformNoise)
def jax_funcify_uniform_noise(op, node, **kwargs):
    static = _static_shape(node)
    # float64 is only there when PyTensor enabled JAX's 64-bit mode (floatX=float64).
    dtype = jax.dtypes.canonicalize_dtype(np.dtype(op.dtype))
    substream = op.substream

    def uniform_noise(key, shape):
        return jax.random.uniform(_subkey(key, substream), _concrete(shape, static), dtype=dtype)

    return uniform_noise
