"""Fixtures shared by the tests; plain helpers live in ``helpers.py``."""
import pytest
from helpers import SHARED_DATA

import dropout_layers


@pytest.fixture
def uci_sample_dir():
    path = SHARED_DATA / "uci-higgs-sample"
    if not (path / "binary.train").exists():
        pytest.skip(
            f"shared UCI HIGGS sample not found at {path} (only present in the project's workspace)"
        )
    return path


@pytest.fixture(autouse=True)
def _seed_global_rng():
    with dropout_layers.random.seeded(1234):
        yield
