"""Fixtures shared by the tests; plain helpers live in ``helpers.py``."""
import numpy as np
import pytest
from helpers import SHARED_DATA


@pytest.fixture
def uci_sample_dir():
    path = SHARED_DATA / "uci-higgs-sample"
    if not (path / "binary.train").exists():
        pytest.skip(f"shared UCI HIGGS sample not found at {path} (only present in the project's workspace)")
    return path


@pytest.fixture(autouse=True)
def _seed_global_rng():
    import dropout_layers

    old = dropout_layers.get_rng()
    dropout_layers.set_rng(np.random.RandomState(1234))
    yield
    dropout_layers.set_rng(old)
