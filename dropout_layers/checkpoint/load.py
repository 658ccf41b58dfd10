"""Loading checkpoints: rebuilding a network, loading weights, restoring training state."""
import dataclasses
import os
import warnings
from collections import OrderedDict

import h5py

from .. import random as dl_random
from ..layers.helper import get_all_layers
from .build import cast_for, check_layer_rngs, set_layer_rngs
from .ensemble import read_ensemble
from .errors import IncompatibleCheckpointError, ShapeMismatchError
from .format import layer_names, param_short_names, state_to_rng
from .model import Checkpoint, read_model
from .read import file_kind, open_checkpoint, read_model_state, require, root_attributes_of
from .verify import read_header

__all__ = ["LoadReport", "load_checkpoint", "load_params", "restore_training_state",
           "is_ensemble_file"]


@dataclasses.dataclass
class LoadReport:
    """What :func:`load_params` did.

    Attributes
    ----------
    loaded : list of str
        ``<layer>/<param>`` names set from the file.
    missing : list of str
        Parameters of the network that the file lacks.
    unexpected : list of str
        Datasets of the file that the network lacks.
    mismatched : list of str
        Names present in both with different shapes (not loaded).
    """

    loaded: list
    missing: list
    unexpected: list
    mismatched: list


def _refuse_ensemble(path, h5file):
    if file_kind(h5file) == "ensemble":
        raise IncompatibleCheckpointError(
            path, "is an ensemble file (written by save_ensemble); load it with "
                  "dropout_layers.checkpoint.load_ensemble"
        )


def is_ensemble_file(path):
    """Whether the checkpoint at ``path`` was written by :func:`save_ensemble`.

    Reads the 512-byte header only, so it is cheap; the load that follows
    checks the file. A file whose header predates the ``kind`` entry is
    opened (and verified) to read its root attributes.

    Raises
    ------
    CheckpointError
        If the file is missing, or unreadable where the answer needs it.
    """
    path = os.fspath(path)
    header = read_header(path)
    if header is None:
        return False
    if header.get("kind") is not None:
        return header["kind"] == "ensemble"
    with open_checkpoint(path) as h5file:
        return file_kind(h5file) == "ensemble"


def load_checkpoint(path, verify=True, key=None):
    """Rebuild the network (or the ensemble) stored in a checkpoint, with its parameters.

    Returns a :class:`Checkpoint` for a file of one network (written by
    :func:`save_checkpoint`) and an :class:`~dropout_layers.ensemble.Ensemble`
    for a file of several (written by :func:`save_ensemble`); both are
    :class:`~dropout_layers.predictor.Predictor` objects, whose ``predict``
    applies the stored feature pipeline to raw inputs (``preprocess=False``
    skips it), so code that only scores events takes either.
    :func:`is_ensemble_file` tells beforehand which one a file holds;
    :func:`load_ensemble` reads ensembles only.

    Needs no code but this library's: each layer class is looked up in the
    registry (:func:`dropout_layers.register_layer`). Layers are rebuilt
    under the checkpoint's floatX with a throwaway generator, so loading
    leaves the global RNG and floatX as they were. The file is untrusted
    input: its bytes are verified before HDF5 reads them, and links,
    external or virtual storage and data the file does not hold are refused
    (see :mod:`dropout_layers.checkpoint`).

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Check the file's size and SHA-256 against its header, and refuse a
        file without one. The SHA-256 detects corruption, not tampering.
    key : bytes or str, optional
        Require the HMAC written by ``save_checkpoint(..., key=key)``: use
        it for files from others.

    Returns
    -------
    Checkpoint or Ensemble
        A Checkpoint, with its network, training state and metadata; or,
        for an ensemble file, the Ensemble :func:`load_ensemble` returns.

    Raises
    ------
    CheckpointError
        With a one-line message naming the file and the fault.
    """
    path = os.fspath(path)
    with open_checkpoint(path, verify=verify, key=key) as h5file:
        if file_kind(h5file) == "ensemble":
            return read_ensemble(path, h5file)
        return read_model(path, h5file, root_attributes_of(h5file))


def _network_params(network):
    """``{(layer name, param name): param}`` of a network, and its layers by checkpoint name."""
    layers = get_all_layers(network)
    names = layer_names(layers)
    params = OrderedDict()
    for layer, name in zip(layers, names):
        for param, short in param_short_names(layer).items():
            params[(name, short)] = param
    return params, OrderedDict(zip(names, layers))


def _stored_param_datasets(path, group):
    params_group = require(path, group, "params", "group")
    found = OrderedDict()
    for layer_name, layer_group in params_group.items():
        if isinstance(layer_group, h5py.Group):
            for short, dataset in layer_group.items():
                if isinstance(dataset, h5py.Dataset):
                    found[(layer_name, short)] = dataset
    return found


def _shape_errors_detail(shape_errors):
    more = len(shape_errors) - 1
    return shape_errors[0] + (f" (and {more} more)" if more else "")


def _match_params(path, network, datasets, strict):
    """Pair the network's parameters with datasets; return (assignments, report)."""
    params, _ = _network_params(network)
    assignments, loaded, missing, mismatched, shape_errors = [], [], [], [], []
    for key, param in params.items():
        label = "/".join(key)
        if key not in datasets:
            missing.append(label)
            continue
        dataset = datasets[key]
        expected = param.get_value(borrow=True).shape
        if dataset.shape != expected:
            mismatched.append(label)
            shape_errors.append(f"dataset '{dataset.name}' has shape {dataset.shape} but the "
                                f"network's parameter has shape {expected}")
            continue
        if dataset.dtype.kind not in "biuf":
            raise IncompatibleCheckpointError(path, f"dataset '{dataset.name}' has dtype "
                                                    f"{dataset.dtype}, not a number type")
        assignments.append((param, cast_for(path, dataset.name, dataset[()], param.dtype)))
        loaded.append(label)
    unexpected = ["/".join(key) for key in datasets if key not in params]
    if strict and shape_errors:
        raise ShapeMismatchError(path, _shape_errors_detail(shape_errors))
    if strict and (missing or unexpected):
        raise IncompatibleCheckpointError(
            path, f"parameters do not match the network: missing from the file {missing}, not in "
                  f"the network {unexpected}; name the layers alike or use strict=False"
        )
    return assignments, LoadReport(loaded, missing, unexpected, mismatched)


def load_params(network, path, strict=True, verify=True, key=None):
    """Load stored parameter values into a network built in code.

    Parameters are matched by ``(layer name, parameter name)``, with the
    names :func:`save_checkpoint` gives (unnamed layers ``<class>_<index>``).
    Nothing is changed unless the checks pass.

    Parameters
    ----------
    network : Layer or list of Layer
    path : str or os.PathLike
    strict : bool
        Require every parameter of the network and every stored one to
        match, with equal shapes. With ``strict=False`` whatever matches is
        loaded and the rest reported.
    verify : bool
        Check the file's SHA-256.
    key : bytes or str, optional
        Require the file's HMAC under this key.

    Returns
    -------
    LoadReport

    Raises
    ------
    ShapeMismatchError
        (strict) Naming the dataset and both shapes.
    IncompatibleCheckpointError
        (strict) Listing missing and unexpected names.
    """
    path = os.fspath(path)
    with open_checkpoint(path, verify=verify, key=key) as h5file:
        _refuse_ensemble(path, h5file)
        assignments, report = _match_params(path, network, _stored_param_datasets(path, h5file),
                                            strict)
    for param, value in assignments:
        param.set_value(value, borrow=True)
    return report


def _check_resumable(path, stored, allow_inexact, rng):
    if not stored.exact_resume:
        detail = f"stores {stored.weights_dtype} weights, which cannot resume training exactly"
        if not allow_inexact:
            raise IncompatibleCheckpointError(path, detail + "; pass allow_inexact=True to resume "
                                                             "from them anyway")
        warnings.warn(f"{path}: {detail}; resuming from rounded weights", RuntimeWarning,
                      stacklevel=3)
    if rng and (stored.rng_states is None or stored.global_rng_state is None):
        raise IncompatibleCheckpointError(path, "was saved without RNG state (rng=False); pass "
                                                "rng=False to resume without restoring the random "
                                                "streams")


def _set_optimizer(path, stored, optimizer):
    if stored.optimizer_state is None:
        raise IncompatibleCheckpointError(path, "holds no optimizer state (saved without "
                                                "optimizer=...)")
    state = getattr(optimizer, "state", optimizer)
    try:
        state.set_values(stored.optimizer_state)
    except (ValueError, TypeError) as exc:
        raise IncompatibleCheckpointError(path, f"optimizer state does not fit: {exc}") from None


def restore_training_state(path, network, optimizer=None, *, rng=True, allow_inexact=False,
                           verify=True, key=None):
    """Continue training where a checkpoint left off.

    Loads the parameters (strictly), the optimizer's accumulators and step
    count, every dropout layer's RNG stream and the global RNG, so that
    training on from here is bit-for-bit the run that wrote the checkpoint.

    Parameters
    ----------
    path : str or os.PathLike
    network : Layer or list of Layer
        Built in code like the saved one.
    optimizer : OptimizerState or updates dict, optional
        The update rule of the training function; its state is set.
    rng : bool
        Restore the RNG streams and the global generator.
    allow_inexact : bool
        Accept a checkpoint with float16 weights (with a warning); it
        cannot resume exactly.
    verify : bool
        Check the file's SHA-256.
    key : bytes or str, optional
        Require the file's HMAC under this key.

    Returns
    -------
    Checkpoint
        With ``network`` the given network, and ``history``, ``metadata``
        and the rest as stored.
    """
    path = os.fspath(path)
    with open_checkpoint(path, verify=verify, key=key) as h5file:
        _refuse_ensemble(path, h5file)
        stored = read_model_state(path, h5file)
        assignments, _ = _match_params(path, network, _stored_param_datasets(path, h5file),
                                       strict=True)
        attrs = root_attributes_of(h5file)
    _check_resumable(path, stored, allow_inexact, rng)
    _, layers = _network_params(network)
    if rng:
        check_layer_rngs(path, layers, stored.rng_states)
    if optimizer is not None:
        _set_optimizer(path, stored, optimizer)
    for param, value in assignments:
        param.set_value(value, borrow=True)
    if rng:
        set_layer_rngs(path, layers, stored.rng_states, strict=True)
        dl_random.set_rng(state_to_rng(stored.global_rng_state, into=dl_random.get_rng()))
    attrs.update({"weights_dtype": stored.weights_dtype, "exact_resume": stored.exact_resume})
    network = list(network) if isinstance(network, tuple) else network
    return Checkpoint(path, network, layers, attrs, stored)
