"""Choosing the PyTensor backend that compiles a graph, and compiling quietly on it.

PyTensor turns one graph into code through one of several backends: numba
(its default), JAX (XLA) and PyTorch. They differ most in how long the
first call takes. On the default Higgs network (30-128-128-128-1, Adam,
dropout), from empty caches on 2 cores, numba compiles the train step in
about 20-28 s (some 250 kernels, each through LLVM), XLA in 1-1.5 s; an epoch
of ``train_higgs.py``'s built-in run (234 steps of 128 events, then
validation) then took 0.15-0.2 s with JAX against 0.21-0.3 s with numba.
Numba keeps its kernels in an on-disk cache, so its later runs start fast
too; JAX compiles again in every process unless :func:`keep_jax_programs`
turns its own cache on.

:func:`resolve_backend` turns a backend name into the ``mode`` that
:func:`pytensor.function` (and :class:`~dropout_layers.training.Trainer`)
take; ``"auto"`` prefers JAX where it is installed. :func:`compile_function`
is :func:`pytensor.function` without the one notice PyTensor's JAX linker
gives for every stochastic graph (that the compiled function draws from its
own copy of each random stream, which is how that linker works).

Examples
--------
>>> resolve_backend("numba")
'NUMBA'
>>> resolve_backend("tpu")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
dropout_layers.compilation.BackendError: backend must be one of 'auto', 'numba', ...; got 'tpu'
"""
import importlib.util
import os
import sys
import warnings
from pathlib import Path

import pytensor

from ._pytensor_setup import user_set, uses_numba
from .errors import DropoutLayersError

__all__ = ["BACKENDS", "BackendError", "resolve_backend", "backend_of", "backend_of_mode",
           "keep_jax_programs", "compile_function"]

#: Backend names and the PyTensor modes they select; ``"auto"`` chooses one.
BACKENDS = {"numba": "NUMBA", "jax": "JAX", "pytorch": "PYTORCH"}

#: The package each backend needs.
_PACKAGES = {"numba": "numba", "jax": "jax", "pytorch": "torch"}

#: PyTensor's linker classes and the backends they are.
_LINKERS = {"NumbaLinker": "numba", "JAXLinker": "jax", "PytorchLinker": "pytorch"}

#: The start of the notice that PyTensor's JAX linker gives when it copies RNG streams.
_JAX_STREAM_COPY = "The RandomType SharedVariables"


class BackendError(DropoutLayersError, ValueError):
    """An unknown backend, or one whose package is not installed."""


def _installed(backend):
    return importlib.util.find_spec(_PACKAGES[backend]) is not None


def resolve_backend(name="auto"):
    """Return the PyTensor ``mode`` for the backend ``name``.

    Parameters
    ----------
    name : {'auto', 'numba', 'jax', 'pytorch'}
        ``'auto'``: the mode the user chose for PyTensor (``PYTENSOR_FLAGS``
        or ``.pytensorrc``) if any, else JAX where jax is installed, else
        PyTensor's default (numba).

    Returns
    -------
    str or None
        A mode name for :func:`pytensor.function`; None means PyTensor's
        configured default.

    Raises
    ------
    BackendError
        For an unknown name, or a backend whose package is missing.
    """
    if name == "auto":
        if user_set("mode") or not _installed("jax"):
            return None
        return BACKENDS["jax"]
    if name not in BACKENDS:
        listed = ", ".join(repr(choice) for choice in ("auto", *BACKENDS))
        raise BackendError(f"backend must be one of {listed}; got {name!r}")
    if not _installed(name):
        extra = "jax" if name == "jax" else "torch"
        raise BackendError(f"the {name} backend needs {_PACKAGES[name]}, which is not installed "
                           f"(the {extra!r} extra installs it)")
    return BACKENDS[name]


def backend_of_mode(mode):
    """Name the backend that ``mode`` (as :func:`resolve_backend` returns it) compiles with.

    Parameters
    ----------
    mode : str or None
        None stands for PyTensor's configured default.

    Returns
    -------
    str
        ``'numba'``, ``'jax'`` or ``'pytorch'``, else PyTensor's name of the mode.

    Examples
    --------
    >>> backend_of_mode("JAX")
    'jax'
    """
    if uses_numba(mode):
        return "numba"
    mode = pytensor.config.mode if mode is None else mode
    return next((name for name, named in BACKENDS.items() if mode == named), str(mode))


def backend_of(function):
    """Name the backend that compiled ``function``, from its linker.

    Parameters
    ----------
    function : pytensor Function

    Returns
    -------
    str
        ``'numba'``, ``'jax'`` or ``'pytorch'``, else the linker's class name
        (``'VMLinker'`` for the C and Python linkers, for example).
    """
    linker = type(function.maker.linker).__name__
    return _LINKERS.get(linker, linker)


def keep_jax_programs(directory=None):
    """Have JAX keep the programs it compiles on disk, so that later processes load them.

    Numba keeps its kernels in PyTensor's cache; JAX compiles again in every
    process unless its persistent cache is on. This turns it on for this
    process and the processes it starts (JAX reads the setting from the
    environment when it is imported), for every program however quick to
    compile: a Higgs train step compiles in under a second, below JAX's
    default threshold for caching.

    Parameters
    ----------
    directory : str or path-like, optional
        Default: ``jax`` inside PyTensor's compile directory, so that a run
        with a fresh PyTensor cache directory is a first run for JAX too.

    Returns
    -------
    pathlib.Path
        The cache directory.
    """
    directory = Path(directory or Path(pytensor.config.compiledir) / "jax")
    settings = {"jax_compilation_cache_dir": str(directory),
                "jax_persistent_cache_min_compile_time_secs": 0}
    jax = sys.modules.get("jax")
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
        if jax is not None:
            jax.config.update(name, value)
    return directory


def compile_function(inputs, outputs, mode=None, **kwargs):
    """Compile like :func:`pytensor.function`, without the JAX linker's stream-copy notice.

    Parameters
    ----------
    inputs, outputs, mode, **kwargs
        As for :func:`pytensor.function`.

    Returns
    -------
    pytensor Function

    Notes
    -----
    Under ``mode="JAX"`` PyTensor warns, for every graph that draws random
    numbers, that the function uses a copy of each shared random stream.
    That is the JAX linker's design (the copy advances on every call; the
    shared variable keeps its value), not a fault of the caller, so only
    that one warning is silenced; every other warning passes.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JAX_STREAM_COPY, category=UserWarning)
        return pytensor.function(inputs, outputs, mode=mode, **kwargs)
