"""Keeping the layers' random streams in step with the copies a JAX function draws from.

PyTensor's JAX linker does not use a shared random stream itself: it gives the
compiled function a copy (a dict whose ``"jax_state"`` is a threefry key,
derived from the NumPy generator when the function is built) and advances
only that copy. The layer's stream keeps its value, so a checkpoint would save
a state the masks never came from, and a resumed run would repeat the masks
of the run's start instead of continuing them.

:func:`pull_streams` writes each copy's key back into its layer's stream, as a
NumPy generator from which PyTensor derives that same key; :func:`push_streams`
sets the copies from the layers' streams (after a resume, or after a probe
call whose draws must not count). Together they make a run under
``mode="JAX"`` resume bit for bit, as it does under numba.

Both do nothing for a function that holds no copies (every other backend).
"""
from pytensor.tensor.random.type import RandomType

__all__ = ["stream_copies", "pull_streams", "push_streams"]

_WORD = 2**32
_LOW_64 = 2**64


def stream_copies(function):
    """Return ``(shared stream, container of its copy)`` for each copied stream of ``function``.

    Parameters
    ----------
    function : pytensor Function

    Returns
    -------
    list of tuple
        Empty unless PyTensor's JAX linker replaced shared streams by copies.
    """
    pairs = []
    for symbolic, variable, container in zip(function.maker.inputs, function.maker.fgraph.inputs,
                                             function.input_storage):
        if symbolic.variable is not variable and isinstance(variable.type, RandomType):
            pairs.append((symbolic.variable, container))
    return pairs


def _generator_with_key(generator, key):
    """Return a copy of ``generator`` whose low 64 state bits are the two 32-bit words of ``key``.

    PyTensor's JAX backend takes a generator's key from those bits (its
    ``jax_typify`` of a NumPy ``Generator``), least significant word first.
    """
    state = generator.bit_generator.state
    low, high = (int(word) for word in key)
    state["state"]["state"] = (int(state["state"]["state"]) // _LOW_64 * _LOW_64
                               + high * _WORD + low)
    copy = type(generator)(type(generator.bit_generator)())
    copy.bit_generator.state = state
    return copy


def pull_streams(function):
    """Give every shared stream that ``function`` copied the state its copy has reached."""
    for shared, container in stream_copies(function):
        value = container.storage[0]
        if isinstance(value, dict) and "jax_state" in value:
            shared.set_value(_generator_with_key(shared.get_value(borrow=True),
                                                 value["jax_state"]), borrow=True)


def push_streams(function):
    """Set every copy that ``function`` draws from to its shared stream's state."""
    copies = stream_copies(function)
    if not copies:
        return
    from pytensor.link.jax.dispatch import jax_typify

    for shared, container in copies:
        container.storage[0] = jax_typify(shared.get_value(borrow=False))
