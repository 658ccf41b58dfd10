"""One version: what pip installed is what checkpoints and metrics.json record."""
import importlib.metadata

import dropout_layers


def test_installed_version_is_the_library_version():
    assert importlib.metadata.version("dropout_layers") == dropout_layers.__version__
