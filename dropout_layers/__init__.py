"""dropout_layers: Lasagne-style dropout and dense layers on PyTensor.

The top level holds the layers and graph helpers (as ``lasagne.layers``
does), the checkpoint functions, the fit loop, Monte-Carlo dropout and
ensembles. The Higgs challenge code lives apart, in
:mod:`dropout_layers_higgs`, and is not imported here.
"""
from . import _pytensor_setup

_pytensor_setup.configure()

from . import (  # noqa: E402
    checkpoint,
    compilation,
    config,
    init,
    layers,
    masks,
    nonlinearities,
    objectives,
    random,
    regularization,
    training,
    updates,
    utils,
)
from ._version import __version__  # noqa: E402
from .checkpoint import (  # noqa: E402
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_ensemble,
    load_params,
    restore_training_state,
    save_checkpoint,
    save_ensemble,
)
from .config import get_floatX, set_floatX  # noqa: E402
from .ensemble import Ensemble  # noqa: E402
from .layers import *  # noqa: E402,F401,F403
from .layers import __all__ as _layers_all  # noqa: E402
from .random import function, get_rng, set_rng  # noqa: E402
from .training import EarlyStopping, Trainer, fit  # noqa: E402
from .uncertainty import predict_mc  # noqa: E402


def export_onnx(network_or_checkpoint, path, **options):
    """Write a network (or a checkpoint, with its preprocessing) as an ONNX file.

    A wrapper that imports :mod:`dropout_layers.export.onnx`, and with it the
    optional ``onnx`` package, only when called; see
    :func:`dropout_layers.export.onnx.export_onnx` for the arguments.

    Returns
    -------
    str
        ``path``.
    """
    from .export import onnx as onnx_export  # the onnx extra, imported on first use

    return onnx_export.export_onnx(network_or_checkpoint, path, **options)


__all__ = list(_layers_all) + [
    "checkpoint", "compilation", "config", "init", "layers", "masks", "nonlinearities",
    "objectives", "random", "regularization", "training", "updates", "utils",
    "Checkpoint", "CheckpointError", "load_checkpoint", "load_ensemble", "load_params",
    "restore_training_state", "save_checkpoint", "save_ensemble",
    "Ensemble", "EarlyStopping", "Trainer", "fit", "predict_mc", "export_onnx",
    "get_floatX", "set_floatX", "function", "get_rng", "set_rng", "__version__",
]
