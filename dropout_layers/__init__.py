"""dropout_layers: Lasagne-style dropout and dense layers on PyTensor."""
from . import _pytensor_setup

_pytensor_setup.configure()

from . import (  # noqa: E402
    config, init, layers, masks, nonlinearities, objectives, random, regularization, updates, utils,
)
from .config import floatX, set_floatX  # noqa: E402
from .layers import *  # noqa: E402,F401,F403
from .layers import __all__ as _layers_all  # noqa: E402
from .random import function, get_rng, set_rng  # noqa: E402

__version__ = "0.1.0"

__all__ = list(_layers_all) + [
    "config", "init", "layers", "masks", "nonlinearities", "objectives", "random", "regularization",
    "updates", "utils",
    "floatX", "set_floatX", "function", "get_rng", "set_rng", "__version__",
]
