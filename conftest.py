"""Fixtures for every test, the doctests of the packages included.

Each test and doctest starts with the library's default random generator
(NumPy's global one, as in Lasagne), whatever an earlier test set, and
leaves it as it found it.
"""
import numpy as np
import pytest

import dropout_layers


@pytest.fixture(autouse=True)
def _default_library_rng():
    with dropout_layers.random.seeded(np.random):
        yield
