"""Choosing a backend (dropout_layers.compilation) without compiling on JAX in this process.

JAX itself runs in jax_backend_cases.py, in a fresh interpreter (see test_backend_jax.py).
"""
import os
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import dropout_layers as dl
from dropout_layers import compilation
from dropout_layers.compilation import (
    BackendError,
    backend_of,
    backend_of_mode,
    compile_function,
    keep_jax_programs,
    resolve_backend,
)


@pytest.fixture
def installed(monkeypatch):
    """Pretend that exactly the given backends' packages are installed."""
    def pretend(*backends):
        monkeypatch.setattr(compilation, "_installed", lambda backend: backend in backends)
    return pretend


@pytest.fixture
def no_user_mode(monkeypatch):
    monkeypatch.setattr(compilation, "user_set", lambda key: False)


def test_auto_takes_jax_where_it_is_installed_and_numba_otherwise(installed, no_user_mode):
    installed("numba", "jax")
    assert resolve_backend("auto") == "JAX"
    installed("numba")
    assert resolve_backend("auto") is None
    assert backend_of_mode(resolve_backend("auto")) == "numba"


def test_auto_keeps_the_mode_the_user_chose_for_pytensor(installed, monkeypatch):
    installed("numba", "jax")
    monkeypatch.setattr(compilation, "user_set", lambda key: key == "mode")
    assert resolve_backend("auto") is None


def test_named_backends_map_to_pytensor_modes(installed):
    installed("numba", "jax", "pytorch")
    assert [resolve_backend(name) for name in ("numba", "jax", "pytorch")] == \
        ["NUMBA", "JAX", "PYTORCH"]
    assert [backend_of_mode(mode) for mode in ("NUMBA", "JAX", "PYTORCH", "FAST_COMPILE")] == \
        ["numba", "jax", "pytorch", "FAST_COMPILE"]


def test_an_unknown_or_missing_backend_is_one_clear_error(installed):
    installed("numba")
    with pytest.raises(BackendError, match=r"backend must be one of 'auto', 'numba', 'jax', "
                                           r"'pytorch'; got 'tpu'"):
        resolve_backend("tpu")
    with pytest.raises(BackendError, match=r"the jax backend needs jax, which is not installed "
                                           r"\(the 'jax' extra installs it\)"):
        resolve_backend("jax")
    assert issubclass(BackendError, dl.errors.DropoutLayersError)


def test_backend_of_names_the_linker_that_compiled_a_function():
    x = pt.vector("x")
    assert backend_of(compile_function([x], 2 * x)) == "numba"
    assert backend_of(compile_function([x], 2 * x, mode="FAST_COMPILE")) == "VMLinker"


def test_compile_function_compiles_like_pytensor_and_lets_other_warnings_pass():
    x = pt.vector("x")
    f = compile_function([x], x + 1)
    np.testing.assert_array_equal(f(np.arange(3, dtype=x.dtype)), [1, 2, 3])
    with pytest.warns(UserWarning, match="not part of the computational graph"):
        compile_function([x, pt.vector("unused")], x + 1, on_unused_input="warn")


def test_keep_jax_programs_puts_the_cache_beside_pytensors(monkeypatch):
    # A copy of the environment, so that the settings end with the test.
    monkeypatch.setattr(os, "environ", dict(os.environ))
    # Without jax imported the settings go through the environment, which JAX reads on import.
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    directory = keep_jax_programs()
    assert directory == Path(pytensor.config.compiledir) / "jax"
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(directory)
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"
