"""Loading checkpoints: rebuilding networks, loading weights, restoring training state."""
import contextlib
import dataclasses
import os
import warnings
from collections import OrderedDict

import h5py
import numpy as np
import pytensor
import pytensor.tensor as pt

from .. import config as dl_config
from .. import random as dl_random
from ..batching import predict_in_batches
from ..layers.helper import get_all_layers, get_output
from ..layers.input import InputLayer
from ..layers.registry import get_layer_class
from .errors import IncompatibleCheckpointError, ShapeMismatchError, UnregisteredLayerError
from .format import layer_names, param_short_names, state_to_rng
from .read import _require, _shape, open_checkpoint, read_model_state, root_attributes_of
from .save import _layer_rng

__all__ = ["Checkpoint", "LoadReport", "load_checkpoint", "load_params", "restore_training_state"]

# --------------------------------------------------------------------------
# Rebuilding and filling networks
# --------------------------------------------------------------------------

@contextlib.contextmanager
def _isolated_build(float_x):
    """Build layers under the checkpoint's floatX, leaving the global RNG untouched.

    Rebuilding runs every layer's initializer and seeds every dropout
    stream from the global generator; a throwaway generator absorbs those
    draws so that loading a checkpoint does not change later random numbers.
    """
    previous_float_x = dl_config.get_floatX()
    if float_x in ("float32", "float64"):
        dl_config.set_floatX(float_x)
    try:
        with dl_random.seeded(0):
            yield
    finally:
        dl_config.set_floatX(previous_float_x)


def _layer_class(path, entry):
    try:
        return get_layer_class(entry["class"])
    except KeyError:
        module = entry.get("module")
        where = f" (defined in module {module!r})" if module else ""
        raise UnregisteredLayerError(
            path, f"layer {entry['name']!r} has class {entry['class']!r}{where}, which is not registered; import "
                  f"the module that defines it and decorate the class with @dropout_layers.register_layer before "
                  f"loading"
        ) from None


def build_network(path, architecture):
    """Rebuild the layers an architecture describes, with fresh parameters.

    Returns
    -------
    network : Layer or list of Layer
    layers : OrderedDict
        Checkpoint name -> layer, in topological order.
    """
    built = []
    with _isolated_build(architecture.get("floatX")):
        for entry in architecture["layers"]:
            cls = _layer_class(path, entry)
            incoming = [built[ref] if isinstance(ref, int) else _shape(ref["shape"]) for ref in entry["incoming"]]
            if entry.get("merge"):
                source = incoming
            else:
                source = incoming[0] if incoming else None
            try:
                layer = cls.from_config(source, entry["config"])
            except Exception as exc:
                raise IncompatibleCheckpointError(
                    path, f"cannot rebuild layer {entry['name']!r} ({entry['class']}) from its config: "
                          f"{type(exc).__name__}: {exc}"
                ) from None
            input_dtype = entry.get("input_dtype")
            if isinstance(layer, InputLayer) and input_dtype and layer.input_var.dtype != input_dtype:
                layer.input_var = pt.tensor(name=layer.input_var.name, dtype=input_dtype, shape=layer.shape)
            built.append(layer)
    layers = OrderedDict((entry["name"], layer) for entry, layer in zip(architecture["layers"], built))
    outputs = [built[index] for index in architecture["outputs"]]
    return (outputs if architecture.get("output_is_list") else outputs[0]), layers


def _network_params(network):
    """``{(layer name, param name): (param, layer)}`` of a network, as a checkpoint names them."""
    layers = get_all_layers(network)
    names = layer_names(layers)
    params = OrderedDict()
    for layer, name in zip(layers, names):
        for param, short in param_short_names(layer).items():
            params[(name, short)] = param
    return params, OrderedDict(zip(names, layers))


def _cast_for(path, dataset_path, value, param):
    target = np.dtype(param.dtype)
    if value.dtype == target:
        return value
    if not np.can_cast(value.dtype, target, casting="same_kind"):
        raise IncompatibleCheckpointError(
            path, f"dataset '{dataset_path}' has dtype {value.dtype}, which does not convert to the parameter's "
                  f"{target}"
        )
    return value.astype(target)


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


def _stored_param_datasets(path, group):
    params_group = _require(path, group, "params", "group")
    found = OrderedDict()
    for layer_name, layer_group in params_group.items():
        if isinstance(layer_group, h5py.Group):
            for short, dataset in layer_group.items():
                if isinstance(dataset, h5py.Dataset):
                    found[(layer_name, short)] = dataset
    return found


def _match_params(path, network, datasets, strict):
    """Pair the network's parameters with datasets; return (assignments, report)."""
    params, _ = _network_params(network)
    assignments, loaded, missing, mismatched = [], [], [], []
    shape_errors = []
    for key, param in params.items():
        label = "/".join(key)
        if key not in datasets:
            missing.append(label)
            continue
        dataset = datasets[key]
        expected = param.get_value(borrow=True).shape
        if dataset.shape != expected:
            mismatched.append(label)
            shape_errors.append(f"dataset '{dataset.name}' has shape {dataset.shape} but the network's "
                                f"parameter has shape {expected}")
            continue
        assignments.append((param, _cast_for(path, dataset.name, dataset[()], param)))
        loaded.append(label)
    unexpected = ["/".join(key) for key in datasets if key not in params]
    report = LoadReport(loaded, missing, unexpected, mismatched)
    if strict:
        if shape_errors:
            raise ShapeMismatchError(path, shape_errors[0] + (f" (and {len(shape_errors) - 1} more)"
                                                              if len(shape_errors) > 1 else ""))
        if missing or unexpected:
            raise IncompatibleCheckpointError(
                path, f"parameters do not match the network: missing from the file {missing}, not in the network "
                      f"{unexpected}; name the layers alike or use strict=False"
            )
    return assignments, report


def _check_layer_rngs(path, layers, rng_states):
    for name, layer in layers.items():
        if _layer_rng(layer) is not None and name not in rng_states:
            raise IncompatibleCheckpointError(path, f"no RNG state stored for stochastic layer {name!r}")


def _set_layer_rngs(path, layers, rng_states, strict):
    if strict:
        _check_layer_rngs(path, layers, rng_states)
    for name, layer in layers.items():
        shared = _layer_rng(layer)
        if shared is None:
            continue
        if name not in rng_states:
            continue
        shared.set_value(state_to_rng({"kind": "Generator", "state": rng_states[name]}), borrow=True)


# --------------------------------------------------------------------------
# The loaded checkpoint
# --------------------------------------------------------------------------

class Checkpoint:
    """A network rebuilt from a checkpoint, with everything stored beside it.

    Attributes
    ----------
    path : str
    network : Layer or list of Layer
        The output layer(s), as passed to :func:`save_checkpoint`.
    layers : OrderedDict
        Checkpoint name -> layer, topologically sorted.
    attrs : dict
        Root attributes: ``format``, ``format_version``, ``library_version``,
        ``pytensor_version``, ``numpy_version``, ``h5py_version``,
        ``created``, ``floatX``, ``weights_dtype``, ``exact_resume``, ...
    architecture : dict
        The stored description of the layers and their wiring.
    metadata, history : JSON values or None
    preprocessing : dict or None
    optimizer_state : OrderedDict or None
        Accumulator name -> array, ready for ``OptimizerState.set_values``.
    optimizer_rule : str or None
    rng_states : dict or None
        Layer name -> bit-generator state of its stream.
    global_rng_state : dict or None
        ``{"kind": "RandomState" or "Generator", "state": ...}``.
    """

    def __init__(self, path, network, layers, attrs, stored):
        self.path = str(path)
        self.network = network
        self.layers = layers
        self.attrs = attrs
        self.architecture = stored.architecture
        self.metadata = stored.metadata
        self.history = stored.history
        self.preprocessing = stored.preprocessing
        self.optimizer_state = stored.optimizer_state
        self.optimizer_rule = stored.optimizer_rule
        self.rng_states = stored.rng_states
        self.global_rng_state = stored.global_rng_state
        self.exact_resume = stored.exact_resume
        self._predict_fn = None

    def __repr__(self):
        return f"<Checkpoint {self.path!r}: {len(self.layers)} layers>"

    @property
    def input_layers(self):
        """The input layers, in topological order."""
        return [layer for layer in self.layers.values() if isinstance(layer, InputLayer)]

    @property
    def input_layer(self):
        """The network's only input layer (ValueError if it has several)."""
        inputs = self.input_layers
        if len(inputs) != 1:
            raise ValueError(f"{self.path}: the network has {len(inputs)} input layers; use input_layers")
        return inputs[0]

    @property
    def input_var(self):
        """The symbolic input variable of the only input layer."""
        return self.input_layer.input_var

    @property
    def input_vars(self):
        """The symbolic input variables, in the order of :attr:`input_layers`."""
        return [layer.input_var for layer in self.input_layers]

    def predict(self, X, batch_size=None, preprocess=None):
        """Deterministic outputs (dropout off) of the network for inputs ``X``.

        The forward pass is compiled on the first call and reused.

        Parameters
        ----------
        X : array_like or list of array_like
            Inputs as the network takes them (one array per input layer),
            cast to the input variables' dtype. The stored
            :attr:`preprocessing` is *not* applied unless ``preprocess``
            says so: a checkpoint records the state of a preprocessing, not
            the code that applies it.
        batch_size : int, optional
            Rows per forward pass; all at once by default.
        preprocess : callable, optional
            Applied to ``X`` first, for example
            ``HiggsPreprocessor.from_state(ckpt.preprocessing).transform``.

        Returns
        -------
        numpy.ndarray or list of numpy.ndarray
            One array per output layer, as :attr:`network` is one layer or a list.
        """
        if preprocess is not None:
            X = preprocess(X)
        inputs = self.input_layers
        arrays = list(X) if len(inputs) > 1 else [X]
        if len(arrays) != len(inputs):
            raise ValueError(f"predict: the network has {len(inputs)} input layers, got {len(arrays)} arrays")
        arrays = [np.asarray(a, dtype=layer.input_var.dtype) for a, layer in zip(arrays, inputs)]
        for array, layer in zip(arrays, inputs):
            if array.ndim != len(layer.shape):
                raise ValueError(f"predict: input for layer {layer.name or 'input'!r} has {array.ndim} dimensions, "
                                 f"expected shape {layer.shape}")
        if self._predict_fn is None:
            outputs = get_output(self.network if isinstance(self.network, list) else [self.network],
                                 deterministic=True)
            self._predict_fn = pytensor.function([layer.input_var for layer in inputs], outputs)
        results = predict_in_batches(lambda *batch: list(self._predict_fn(*batch)), arrays,
                                     batch_size)
        return list(results) if isinstance(self.network, list) else results[0]

    def restore_rng(self, global_rng=True):
        """Set every stochastic layer's stream (and the global RNG) to the stored state.

        :func:`load_checkpoint` already sets the layers' streams; call this
        to rewind them, and to restore the global generator of
        :func:`dropout_layers.random.get_rng` before continuing training.

        Parameters
        ----------
        global_rng : bool
            Also restore the global generator (in place when it is of the
            stored kind, so references to it see the change).
        """
        if self.rng_states is None:
            raise IncompatibleCheckpointError(self.path, "was saved without RNG state (rng=False)")
        _set_layer_rngs(self.path, self.layers, self.rng_states, strict=True)
        if global_rng and self.global_rng_state is not None:
            dl_random.set_rng(state_to_rng(self.global_rng_state, into=dl_random.get_rng()))


def _read_model(path, group, h5file):
    stored = read_model_state(path, group)
    network, layers = build_network(path, stored.architecture)
    for (layer_name, short), (dataset_path, value, original) in stored.params.items():
        layer = layers[layer_name]
        by_short = {s: p for p, s in param_short_names(layer).items()}
        if short not in by_short:
            raise IncompatibleCheckpointError(
                path, f"layer {layer_name!r} rebuilt from its config has no parameter {short!r}"
            )
        param = by_short[short]
        if param.get_value(borrow=True).shape != value.shape:
            raise ShapeMismatchError(
                path, f"dataset '{dataset_path}' has shape {value.shape} but layer {layer_name!r} rebuilt from its "
                      f"config has shape {param.get_value(borrow=True).shape}"
            )
        param.set_value(_cast_for(path, dataset_path, value, param), borrow=True)
    if stored.rng_states:
        _set_layer_rngs(path, layers, stored.rng_states, strict=False)
    attrs = root_attributes_of(h5file)
    attrs.update({"weights_dtype": stored.weights_dtype, "exact_resume": stored.exact_resume})
    return Checkpoint(path, network, layers, attrs, stored)


def load_checkpoint(path, verify=True):
    """Rebuild the network stored in a checkpoint, with its parameters and RNG streams.

    Needs no code but this library's: each layer class is looked up in the
    registry (:func:`dropout_layers.register_layer`). Layers are rebuilt
    under the checkpoint's floatX with a throwaway generator, so loading
    leaves the global RNG and floatX as they were.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Check the file's SHA-256 against the one recorded at save time.

    Returns
    -------
    Checkpoint
        Or, for a file written by :func:`save_ensemble`, an
        :class:`~dropout_layers.ensemble.Ensemble`.

    Raises
    ------
    CheckpointError
        With a one-line message naming the file: missing, not HDF5,
        truncated or corrupted, newer format version, missing dataset,
        shape mismatch, unregistered layer class.
    """
    with open_checkpoint(path, verify=verify) as h5file:
        if h5file.attrs.get("kind") == "ensemble":
            from .ensemble import read_ensemble

            return read_ensemble(os.fspath(path), h5file)
        return _read_model(os.fspath(path), h5file, h5file)


def load_params(network, path, strict=True, verify=True):
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
    with open_checkpoint(path, verify=verify) as h5file:
        assignments, report = _match_params(path, network, _stored_param_datasets(path, h5file), strict)
    for param, value in assignments:
        param.set_value(value, borrow=True)
    return report


def restore_training_state(path, network, optimizer=None, *, rng=True, allow_inexact=False, verify=True):
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

    Returns
    -------
    Checkpoint
        With ``network`` the given network, and ``history``, ``metadata``
        and the rest as stored.
    """
    path = os.fspath(path)
    with open_checkpoint(path, verify=verify) as h5file:
        stored = read_model_state(path, h5file)
        assignments, _ = _match_params(path, network, _stored_param_datasets(path, h5file), strict=True)
        attrs = root_attributes_of(h5file)
    if not stored.exact_resume:
        detail = (f"stores {stored.weights_dtype} weights, which cannot resume training exactly")
        if not allow_inexact:
            raise IncompatibleCheckpointError(path, detail + "; pass allow_inexact=True to resume from them anyway")
        warnings.warn(f"{path}: {detail}; resuming from rounded weights", RuntimeWarning, stacklevel=2)
    _, layers = _network_params(network)
    if rng and (stored.rng_states is None or stored.global_rng_state is None):
        raise IncompatibleCheckpointError(path, "was saved without RNG state (rng=False); pass rng=False to resume "
                                                "without restoring the random streams")
    if rng:
        _check_layer_rngs(path, layers, stored.rng_states)
    if optimizer is not None:
        if stored.optimizer_state is None:
            raise IncompatibleCheckpointError(path, "holds no optimizer state (saved without optimizer=...)")
        state = getattr(optimizer, "state", optimizer)
        try:
            state.set_values(stored.optimizer_state)
        except (ValueError, TypeError) as exc:
            raise IncompatibleCheckpointError(path, f"optimizer state does not fit: {exc}") from None
    for param, value in assignments:
        param.set_value(value, borrow=True)
    if rng:
        _set_layer_rngs(path, layers, stored.rng_states, strict=True)
        dl_random.set_rng(state_to_rng(stored.global_rng_state, into=dl_random.get_rng()))
    attrs.update({"weights_dtype": stored.weights_dtype, "exact_resume": stored.exact_resume})
    return Checkpoint(path, network if not isinstance(network, tuple) else list(network), layers, attrs, stored)
