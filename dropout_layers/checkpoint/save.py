"""Writing checkpoints: the network, its training state, atomically."""
import os
from collections import OrderedDict
from datetime import datetime, timezone

import h5py
import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from ..config import get_floatX
from ..files import atomic_path
from ..layers.base import MergeLayer
from ..layers.helper import get_all_layers
from ..layers.input import InputLayer
from ..layers.registry import registered_layers
from ..random import get_rng
from .format import (
    FORMAT,
    FORMAT_VERSION,
    USERBLOCK_SIZE,
    encode_rng_state,
    file_digest,
    layer_names,
    pack_header,
    param_short_names,
    rng_to_state,
    to_json,
)

__all__ = ["save_checkpoint", "atomic_save"]

COMPRESSIONS = (None, "gzip", "lzf")
WEIGHTS_DTYPES = (None, "float16")
# gzip level 4: level 9 takes twice as long for well under 1% on weights.
_GZIP_LEVEL = 4
# Below this many elements a chunked, filtered dataset costs more than it saves.
_MIN_COMPRESSED_SIZE = 1024
_LIBVER = ("v108", "v108")


def _library_versions():
    from .. import __version__

    return {
        "library_version": __version__,
        "pytensor_version": pytensor.__version__,
        "numpy_version": np.__version__,
        "h5py_version": h5py.__version__,
        "hdf5_version": h5py.version.hdf5_version,
    }


def root_attributes():
    """The attributes every checkpoint file carries at its root."""
    attrs = {"format": FORMAT, "format_version": FORMAT_VERSION}
    attrs.update(_library_versions())
    attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    attrs["floatX"] = get_floatX()
    return attrs


# --------------------------------------------------------------------------
# Atomic file replacement
# --------------------------------------------------------------------------

def atomic_save(path, write):
    """Write an HDF5 checkpoint through a temporary file, then rename it into place.

    ``write(h5file)`` fills a new HDF5 file created next to ``path``; the
    file gets its header (size and SHA-256) and replaces ``path`` through
    :func:`dropout_layers.files.atomic_path`. Whatever happens before the
    rename, ``path`` keeps its old contents; on an exception the temporary
    file is removed and the exception re-raised. (A process killed outright
    leaves its temporary file behind, never a partial ``path``.)

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        Called with the open, writable :class:`h5py.File`.
    """
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w", libver=_LIBVER, userblock_size=USERBLOCK_SIZE) as h5file:
            write(h5file)
        with open(temporary, "r+b") as raw:
            size = raw.seek(0, os.SEEK_END)
            header = pack_header(size, file_digest(raw))
            raw.seek(0)
            raw.write(header)


# --------------------------------------------------------------------------
# Pieces of a checkpoint
# --------------------------------------------------------------------------

def _create_dataset(group, name, data, compression):
    data = np.asarray(data)
    kwargs = {}
    if compression is not None and data.ndim > 0 and data.size >= _MIN_COMPRESSED_SIZE:
        kwargs = {"chunks": True, "compression": compression, "shuffle": True}
        if compression == "gzip":
            kwargs["compression_opts"] = _GZIP_LEVEL
    return group.create_dataset(name, data=data, **kwargs)


def _class_key(layer):
    cls = type(layer)
    for key, registered in registered_layers().items():
        if registered is cls:
            return key
    return cls.__name__


def _incoming_refs(layer, position):
    if isinstance(layer, MergeLayer):
        sources = list(zip(layer.input_layers, layer.input_shapes))
    elif isinstance(layer, InputLayer):
        sources = []
    else:
        sources = [(layer.input_layer, layer.input_shape)]
    # A layer built from a shape instead of a layer keeps the shape.
    return [position[src] if src is not None else {"shape": list(shape)} for src, shape in sources]


def describe_network(network):
    """Return the architecture of a network as a JSON-serialisable dict.

    Parameters
    ----------
    network : Layer or list of Layer
        The output layer(s).

    Returns
    -------
    architecture : dict
        ``layers`` (topologically sorted: ``name``, ``class``, ``module``,
        ``config``, ``incoming`` indices, ``merge``, ``params``, and
        ``input_dtype`` for input layers), ``outputs`` (indices) and
        ``output_is_list``.
    layers : list of Layer
    names : list of str
    """
    outputs = list(network) if isinstance(network, (list, tuple)) else [network]
    layers = get_all_layers(outputs)
    names = layer_names(layers)
    position = {layer: index for index, layer in enumerate(layers)}
    entries = []
    for index, (layer, name) in enumerate(zip(layers, names)):
        config = layer.get_config()
        to_json(config, f"the config of layer {name!r} ({type(layer).__name__})")
        incoming = _incoming_refs(layer, position)
        entry = {
            "name": name,
            "class": _class_key(layer),
            "module": type(layer).__module__,
            "config": config,
            "incoming": incoming,
            "incoming_names": [names[ref] if isinstance(ref, int) else None for ref in incoming],
            "merge": isinstance(layer, MergeLayer),
            "params": [
                {"name": short, "shape": list(param.get_value(borrow=True).shape), "dtype": str(param.dtype),
                 "tags": sorted(layer.params[param])}
                for param, short in param_short_names(layer).items()
            ],
        }
        if isinstance(layer, InputLayer):
            entry["input_dtype"] = str(layer.input_var.dtype)
        entries.append(entry)
    architecture = {
        "layers": entries,
        "outputs": [position[layer] for layer in outputs],
        "output_is_list": isinstance(network, (list, tuple)),
        "floatX": get_floatX(),
    }
    return architecture, layers, names


def _stored_value(value, weights_dtype, dataset_path):
    if weights_dtype is None or value.dtype.kind != "f" or value.dtype == np.float16:
        return value
    finite = np.isfinite(value)
    if np.any(np.abs(value[finite]) > np.finfo(np.float16).max):
        raise ValueError(
            f"{dataset_path}: values up to {np.abs(value[finite]).max():.6g} overflow float16 "
            f"(max {float(np.finfo(np.float16).max):g}); save with weights_dtype=None"
        )
    return value.astype(np.float16)


def write_params(group, layers, names, compression=None, weights_dtype=None):
    """Write every parameter as ``params/<layer>/<param>`` under ``group``."""
    params_group = group.create_group("params", track_order=True)
    first_path = {}
    for layer, name in zip(layers, names):
        shorts = param_short_names(layer)
        if not shorts:
            continue
        layer_group = params_group.create_group(name, track_order=True)
        layer_group.attrs["layer_class"] = type(layer).__name__
        for param, short in shorts.items():
            if param in first_path:
                # A parameter shared by two layers is stored once and linked.
                layer_group[short] = group.file[first_path[param]]
                continue
            value = param.get_value(borrow=True)
            dataset_path = f"{params_group.name}/{name}/{short}"
            dataset = _create_dataset(layer_group, short, _stored_value(value, weights_dtype, dataset_path),
                                      compression)
            tags = layer.params[param]
            dataset.attrs["dtype"] = str(value.dtype)
            dataset.attrs["trainable"] = "trainable" in tags
            dataset.attrs["regularizable"] = "regularizable" in tags
            dataset.attrs["tags"] = to_json(sorted(tags), "parameter tags")
            dataset.attrs["layer_class"] = type(layer).__name__
            first_path[param] = dataset.name


def _optimizer_values(optimizer):
    state = getattr(optimizer, "state", optimizer)
    rule = getattr(optimizer, "rule", None) or getattr(state, "rule", None)
    if hasattr(state, "get_values"):
        values = state.get_values()
    elif isinstance(state, dict):
        values = OrderedDict(
            (name, value.get_value() if isinstance(value, SharedVariable) else np.asarray(value))
            for name, value in state.items()
        )
    else:
        raise TypeError(
            f"optimizer must be an OptimizerState, the updates returned by an update rule or a dict "
            f"of arrays, got {type(optimizer).__name__}"
        )
    return values, rule if isinstance(rule, str) else None


def write_optimizer(group, optimizer, compression=None):
    """Write the accumulators of an update rule under ``group/optimizer``."""
    values, rule = _optimizer_values(optimizer)
    opt_group = group.create_group("optimizer", track_order=True)
    opt_group.attrs["names"] = to_json(list(values), "optimizer state names")
    if rule is not None:
        opt_group.attrs["rule"] = rule
    for name, value in values.items():
        parts = str(name).split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"optimizer state name {name!r} cannot name an HDF5 dataset")
        try:
            _create_dataset(opt_group, name, value, compression)
        except ValueError as exc:  # a name that is also another name's group
            raise ValueError(f"optimizer state name {name!r} clashes with another entry: {exc}") from None
    if "t" in values:
        opt_group.attrs["step"] = int(np.asarray(values["t"]))


def _layer_rng(layer):
    rng = getattr(layer, "rng", None)
    if isinstance(rng, SharedVariable):
        value = rng.get_value(borrow=True)
        if isinstance(value, np.random.Generator):
            return rng
    return None


def write_rng(group, layers, names, global_rng):
    """Write each stochastic layer's stream state and the global RNG's."""
    rng_group = group.create_group("rng", track_order=True)
    for layer, name in zip(layers, names):
        shared = _layer_rng(layer)
        if shared is not None:
            rng_group.attrs[name] = encode_rng_state(shared.get_value(borrow=True).bit_generator.state)
    if global_rng is not None:
        group.attrs["global_rng"] = encode_rng_state(rng_to_state(global_rng))


def write_tree(group, values, what):
    """Write a dict of arrays, scalars, strings and lists under ``group``.

    Arrays (and NumPy scalars) become datasets, Python numbers and strings
    attributes, nested dicts subgroups, and everything else (lists, None)
    JSON attributes whose keys the attribute ``__json__`` lists.
    """
    json_keys = []
    for key, value in values.items():
        if not isinstance(key, str) or not key or "/" in key or key in (".", "..", "__json__"):
            raise ValueError(f"{what}: key {key!r} cannot name an HDF5 entry")
        if isinstance(value, dict):
            write_tree(group.create_group(key, track_order=True), value, f"{what}[{key!r}]")
        elif isinstance(value, (np.ndarray, np.generic)):
            array = np.asarray(value)
            if array.dtype.kind == "U":
                dataset = group.create_dataset(key, data=array.astype(object),
                                               dtype=h5py.string_dtype("utf-8"))
                dataset.attrs["numpy_dtype"] = array.dtype.str
            elif array.dtype.kind == "O":
                raise TypeError(f"{what}[{key!r}]: object arrays cannot be stored; use numbers or str")
            else:
                group.create_dataset(key, data=array)
        elif isinstance(value, (bool, str, float)) or (isinstance(value, int) and -2**63 <= value < 2**63):
            group.attrs[key] = value
        else:
            group.attrs[key] = to_json(value, f"{what}[{key!r}]")
            json_keys.append(key)
    if json_keys:
        group.attrs["__json__"] = to_json(json_keys, "keys")


def _history_value(history):
    return history.to_dict() if hasattr(history, "to_dict") else history


def write_model(group, network, *, optimizer=None, rng=True, metadata=None, history=None, preprocessing=None,
                compression=None, weights_dtype=None):
    """Write one network and its state under ``group`` (the file root or an ensemble member)."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if weights_dtype is not None and np.dtype(weights_dtype) == np.float16:
        weights_dtype = "float16"
    elif weights_dtype is not None:
        raise ValueError(f"weights_dtype must be None or 'float16', got {weights_dtype!r}")
    if rng is True:
        global_rng = get_rng()
    elif rng is None or rng is False or (isinstance(rng, str) and rng == "layers"):
        global_rng = None
    elif isinstance(rng, (np.random.RandomState, np.random.Generator)):
        global_rng = rng
    else:
        raise TypeError(f"rng must be True, False, 'layers' or a numpy RandomState/Generator, got {rng!r}")
    architecture, layers, names = describe_network(network)
    group.attrs["architecture"] = to_json(architecture, "architecture")
    group.attrs["weights_dtype"] = weights_dtype or "native"
    # float16 weights cannot continue a run bit for bit.
    group.attrs["exact_resume"] = weights_dtype is None
    group.attrs["compression"] = compression or "none"
    if metadata is not None:
        group.attrs["metadata"] = to_json(metadata, "metadata")
    if history is not None:
        group.attrs["history"] = to_json(_history_value(history), "history")
    write_params(group, layers, names, compression, weights_dtype)
    if optimizer is not None:
        write_optimizer(group, optimizer, compression)
    if rng is not None and rng is not False:
        write_rng(group, layers, names, global_rng)
    if preprocessing is not None:
        state = preprocessing.get_state() if hasattr(preprocessing, "get_state") else preprocessing
        if not isinstance(state, dict):
            raise TypeError(f"preprocessing must be a dict (or have get_state()), got {type(state).__name__}")
        write_tree(group.create_group("preprocessing", track_order=True), state, "preprocessing")


def save_checkpoint(path, network, *, optimizer=None, rng=True, metadata=None, history=None, preprocessing=None,
                    compression=None, weights_dtype=None):
    """Save a network, and optionally its training state, to one HDF5 file.

    The file holds the architecture (so that :func:`load_checkpoint` rebuilds
    the network without the code that built it), every parameter as its own
    dataset ``/params/<layer>/<param>``, and whatever training state is
    given. It is written to a temporary file in the same directory and
    renamed over ``path`` only once complete, so an interrupted save leaves
    the previous checkpoint intact.

    Parameters
    ----------
    path : str or os.PathLike
        The file to (over)write; its directory must exist.
    network : Layer or list of Layer
        The output layer(s). Layer names must be unique; unnamed layers are
        stored as ``<class>_<index>`` (for example ``dense_3``).
    optimizer : OptimizerState, updates dict or dict, optional
        The update rule's accumulators and step count: an
        :class:`~dropout_layers.updates.OptimizerState`, the
        :class:`~dropout_layers.updates.Updates` returned by an update rule
        (its ``.state`` is used), or a dict of arrays.
    rng : bool or numpy RandomState/Generator
        True (default) stores the RNG stream of every stochastic layer and
        the global generator :func:`dropout_layers.random.get_rng`; a
        generator stores that one as the global generator; ``'layers'``
        stores the layers' streams only; False stores no RNG state.
    metadata : dict, optional
        Free-form, JSON-serialisable.
    history : dict, list or object with ``to_dict()``, optional
        The training history, JSON-serialisable.
    preprocessing : dict or object with ``get_state()``, optional
        Feature preprocessing state: arrays become datasets, scalars and
        strings attributes, lists JSON attributes, dicts subgroups.
    compression : {None, 'gzip', 'lzf'}
        Compression of parameter and optimizer datasets. Trained weights
        hardly compress (about 10%), so the default is none.
    weights_dtype : {None, 'float16'}
        Store floating-point parameters as float16 (half the size of
        float32, about 3 significant digits); loading casts them back to
        the layer's dtype. Such a file records ``exact_resume = False``
        and :func:`restore_training_state` refuses it unless asked.

    Raises
    ------
    ValueError
        For duplicate layer names, unknown options, or float16 overflow.
    TypeError
        If the metadata, history, preprocessing or a layer config cannot be
        serialised.
    """
    # Check everything that can be checked before touching the disk.
    describe_network(network)

    def write(h5file):
        for key, value in root_attributes().items():
            h5file.attrs[key] = value
        write_model(h5file, network, optimizer=optimizer, rng=rng, metadata=metadata, history=history,
                    preprocessing=preprocessing, compression=compression, weights_dtype=weights_dtype)

    atomic_save(path, write)
