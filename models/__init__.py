"""Model definitions that compose the layers of :mod:`dropout_layers`."""
from .higgs import build_higgs_mlp, build_seed_network

__all__ = ["build_higgs_mlp", "build_seed_network"]
