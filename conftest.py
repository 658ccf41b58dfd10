"""Fixtures for every test, the doctests of the packages included.

Each test and doctest starts with the library's default random generator
(NumPy's global one, as in Lasagne), whatever an earlier test set, and
leaves it as it found it.

Modules that need an optional package outside the ``test`` extra (PyTorch,
for PyTensor's PyTorch backend) are not collected for doctests where that
package is missing; their tests skip, saying so.
"""
import importlib.util

import numpy as np
import pytest

import dropout_layers

collect_ignore = []
if importlib.util.find_spec("torch") is None:
    collect_ignore.append("dropout_layers/backends/pytorch.py")


@pytest.fixture(autouse=True)
def _default_library_rng():
    with dropout_layers.random.seeded(np.random):
        yield
