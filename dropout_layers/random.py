"""Random number generation: the global NumPy RNG and PyTensor RNG streams.

Two kinds of randomness meet here:

* parameter initialisation draws from one global NumPy generator,
  controlled by :func:`set_rng` / :func:`get_rng` exactly as in Lasagne. Until
  :func:`set_rng` chooses another, that generator is NumPy's global one (the
  ``numpy.random`` module, as in Lasagne), so ``np.random.seed(s)`` seeds the
  library too; :func:`seeded` swaps it for the length of a ``with`` block;
* each stochastic layer owns a PyTensor RNG stream (a shared
  ``numpy.random.Generator``) seeded from its ``seed`` argument or, failing
  that, from the global generator. One call of :func:`set_rng` therefore makes
  a whole run reproducible.

PyTensor 3 random draws return the next generator state as an output, and
that output must reach :func:`pytensor.function` as an update or every call
reuses the same draw. :func:`collect_rng_updates` finds those updates in a
graph, and :func:`function` compiles with them added.
"""
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.type import RandomGeneratorType

from .compilation import compile_function

__all__ = ["get_rng", "set_rng", "seeded", "new_seed", "shared_rng", "collect_rng_updates",
           "function"]

_rng = np.random


def _is_generator(rng):
    return rng is np.random or isinstance(rng, (np.random.RandomState, np.random.Generator))


def get_rng():
    """Return the global NumPy random generator used by this library.

    Returns
    -------
    numpy.random.RandomState, numpy.random.Generator or the numpy.random module
        The ``numpy.random`` module itself (NumPy's global generator) until
        :func:`set_rng` chose another, as in Lasagne.

    Examples
    --------
    >>> import dropout_layers as dl
    >>> np.random.seed(5); first = dl.init.Normal()((2,))
    >>> np.random.seed(5); again = dl.init.Normal()((2,))
    >>> bool((first == again).all())
    True
    """
    return _rng


def set_rng(new_rng):
    """Set the global random generator.

    Parameters
    ----------
    new_rng : numpy.random.RandomState, numpy.random.Generator or numpy.random
        Used for parameter initialisation and to seed the RNG streams of
        layers created without an explicit ``seed``; the ``numpy.random``
        module itself restores the default, NumPy's global generator.
    """
    global _rng
    if not _is_generator(new_rng):
        raise TypeError(
            "set_rng expects a numpy RandomState or Generator (or the numpy.random module), "
            f"got {type(new_rng).__name__}"
        )
    _rng = new_rng


@contextmanager
def seeded(seed_or_rng):
    """Use another global generator inside a ``with`` block, then restore the previous one.

    Parameters
    ----------
    seed_or_rng : int, sequence of int, numpy.random.RandomState or numpy.random.Generator
        A generator to use as is; an int seeds ``RandomState(seed)``, as
        ``set_rng(np.random.RandomState(seed))`` would; a sequence of ints
        (for example ``[run_seed, member_index]``) is mixed by
        :class:`numpy.random.SeedSequence` into the seed of a ``RandomState``.

    Yields
    ------
    numpy.random.RandomState or numpy.random.Generator
        The generator in use inside the block.

    Examples
    --------
    >>> import dropout_layers as dl
    >>> with seeded(7):
    ...     first = dl.init.Normal(1.0)((3,))
    >>> with seeded(7):
    ...     again = dl.init.Normal(1.0)((3,))
    >>> bool((first == again).all())
    True
    """
    if _is_generator(seed_or_rng):
        rng = seed_or_rng
    elif isinstance(seed_or_rng, (int, np.integer)) and not isinstance(seed_or_rng, bool):
        rng = np.random.RandomState(seed_or_rng)
    else:
        rng = np.random.RandomState(np.random.SeedSequence(seed_or_rng).generate_state(1)[0])
    previous = get_rng()
    set_rng(rng)
    try:
        yield rng
    finally:
        set_rng(previous)


def new_seed():
    """Draw a 31-bit seed from the global generator."""
    if isinstance(_rng, np.random.Generator):
        return int(_rng.integers(0, 2**31 - 1))
    return int(_rng.randint(0, 2**31 - 1))


def shared_rng(seed=None, name=None):
    """Create a PyTensor RNG stream (a shared ``numpy.random.Generator``).

    Parameters
    ----------
    seed : int or None
        Seed of the stream; ``None`` draws one from :func:`get_rng`.
    name : str or None
        Name of the shared variable.
    """
    if seed is None:
        seed = new_seed()
    return pytensor.shared(np.random.default_rng(seed), name=name)


def _is_rng_variable(var):
    return isinstance(var, SharedVariable) and isinstance(var.type, RandomGeneratorType)


def collect_rng_updates(outputs):
    """Find the RNG-state updates that a graph needs to draw fresh numbers.

    Every apply node that consumes a shared RNG and returns a new generator
    state (PyTensor's random variables and this library's mask op alike)
    contributes ``{shared_rng: next_rng}``.

    Parameters
    ----------
    outputs : Variable or list of Variable

    Returns
    -------
    OrderedDict
        Maps each shared RNG to its next state. When one stream feeds several
        draws in the same graph, those draws are identical and the first one's
        update is kept.
    """
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    updates = OrderedDict()
    for var in ancestors([o for o in outputs if o is not None]):
        node = var.owner
        if node is None:
            continue
        for inp in node.inputs:
            if _is_rng_variable(inp) and inp not in updates:
                next_states = [o for o in node.outputs if isinstance(o.type, RandomGeneratorType)]
                if next_states:
                    updates[inp] = next_states[0]
    return updates


def function(inputs, outputs, updates=None, **kwargs):
    """Compile like :func:`pytensor.function`, adding the graph's RNG updates.

    Use this for stochastic forward passes (for example Monte-Carlo dropout)
    so that each call draws fresh masks. Updates given explicitly win over
    the collected ones.

    Parameters
    ----------
    inputs, outputs, **kwargs
        As for :func:`pytensor.function`.
    updates : dict or list of pairs, optional
        Additional updates.
    """
    all_updates = collect_rng_updates(outputs)
    if updates is not None:
        all_updates.update(OrderedDict(updates))
    return compile_function(inputs, outputs, updates=list(all_updates.items()), **kwargs)
