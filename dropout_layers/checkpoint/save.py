"""Writing checkpoints: the network, its training state, atomically."""
import dataclasses
import os
from collections import OrderedDict
from datetime import datetime, timezone

import h5py
import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from .._version import __version__
from ..config import get_floatX
from ..files import atomic_path, disk_full_errno
from ..layers.base import MergeLayer
from ..layers.helper import get_all_layers
from ..layers.input import InputLayer
from ..layers.registry import registered_layers
from ..preprocessing import FeaturePipeline
from ..random import get_rng
from .errors import CheckpointWriteError
from .format import (
    FORMAT,
    FORMAT_VERSION,
    KINDS,
    USERBLOCK_SIZE,
    Digests,
    as_key,
    encode_rng_state,
    layer_names,
    layer_rng,
    pack_header,
    param_short_names,
    rng_to_state,
    to_json,
)

__all__ = ["save_checkpoint", "CheckpointOptions", "atomic_save", "write_model",
           "describe_network", "root_attributes", "write_tree", "preprocessing_state"]

COMPRESSIONS = (None, "gzip", "lzf")
WEIGHTS_DTYPES = (None, "float16")
# gzip level 4: level 9 takes twice as long for well under 1% on weights.
_GZIP_LEVEL = 4
# Below this many elements a chunked, filtered dataset costs more than it saves.
_MIN_COMPRESSED_SIZE = 1024
_LIBVER = ("v108", "v108")


@dataclasses.dataclass(frozen=True)
class CheckpointOptions:
    """How a checkpoint is stored: compression, weight precision and an optional HMAC key.

    ``save_checkpoint(path, network, compression="gzip", key=k)`` builds one
    from its keywords.

    Parameters
    ----------
    compression : {None, 'gzip', 'lzf'}
        Compression of parameter and optimizer datasets. Trained weights
        hardly compress (about 10%), so the default is none.
    weights_dtype : {None, 'float16'}
        Store floating-point parameters as float16 (half the size of
        float32, about 3 significant digits); loading casts them back to
        the layer's dtype. Such a file records ``exact_resume = False``.
    key : bytes or str, optional
        Write an HMAC-SHA256 of the file under this key into its header,
        so that ``load_checkpoint(path, key=key)`` can tell a file from
        someone who knows the key from one that was changed by anyone else.

    Raises
    ------
    ValueError, TypeError
        For an unknown compression or weights dtype, or a key that is not
        non-empty bytes or str.
    """

    compression: object = None
    weights_dtype: object = None
    key: object = None

    def __post_init__(self):
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if self.weights_dtype is not None:
            if np.dtype(self.weights_dtype) != np.float16:
                raise ValueError(f"weights_dtype must be None or 'float16', got "
                                 f"{self.weights_dtype!r}")
            object.__setattr__(self, "weights_dtype", "float16")
        if self.key is not None:
            object.__setattr__(self, "key", as_key(self.key))

    @classmethod
    def from_keywords(cls, keywords, caller):
        """Build from ``caller``'s ``**storage`` keywords, naming an unknown one."""
        fields = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(keywords) - set(fields))
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r} (the "
                            f"storage options are {', '.join(fields)})")
        return cls(**keywords)


def root_attributes():
    """Return the attributes every checkpoint file carries at its root."""
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "library_version": __version__,
        "pytensor_version": pytensor.__version__, "numpy_version": np.__version__,
        "h5py_version": h5py.__version__, "hdf5_version": h5py.version.hdf5_version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "floatX": get_floatX(),
    }


# --------------------------------------------------------------------------
# Atomic file replacement
# --------------------------------------------------------------------------

def atomic_save(path, write, kind="model", key=None):
    """Write an HDF5 checkpoint through a temporary file, then rename it into place.

    ``write(h5file)`` fills a new HDF5 file created next to ``path``; the
    file gets its header (kind, size, SHA-256 and, with ``key``, HMAC) and
    replaces ``path`` through :func:`dropout_layers.files.atomic_path`.
    Whatever happens before the rename, ``path`` keeps its old contents; on
    an exception the temporary file is removed and the exception re-raised,
    a full disk as a :class:`CheckpointWriteError`. (A process killed
    outright leaves its temporary file behind, never a partial ``path``.)

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        Called with the open, writable :class:`h5py.File`.
    kind : {'model', 'ensemble'}
    key : bytes, optional

    Raises
    ------
    CheckpointWriteError
        If the disk (or the user's quota) fills up on the way, however the
        system, HDF5 or h5py reports it.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    try:
        with atomic_path(path) as temporary:
            with h5py.File(temporary, "w", libver=_LIBVER,
                           userblock_size=USERBLOCK_SIZE) as h5file:
                write(h5file)
            with open(temporary, "r+b") as raw:
                size = raw.seek(0, os.SEEK_END)
                header = pack_header(size, Digests(key).read(raw), kind)
                raw.seek(0)
                raw.write(header)
    except (OSError, RuntimeError) as exc:
        code = disk_full_errno(exc)
        if code is None:
            raise
        raise CheckpointWriteError(path, f"{os.strerror(code).lower()}; nothing written, the "
                                         "file (if any) is as it was", code) from exc


# --------------------------------------------------------------------------
# The architecture
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


def _describe_layer(layer, name, incoming, names):
    config = layer.get_config()
    to_json(config, f"the config of layer {name!r} ({type(layer).__name__})")
    entry = {
        "name": name, "class": _class_key(layer), "module": type(layer).__module__,
        "config": config, "incoming": incoming,
        "incoming_names": [names[ref] if isinstance(ref, int) else None for ref in incoming],
        "merge": isinstance(layer, MergeLayer),
        "params": [
            {"name": short, "shape": list(param.get_value(borrow=True).shape),
             "dtype": str(param.dtype), "tags": sorted(layer.params[param])}
            for param, short in param_short_names(layer).items()
        ],
    }
    if isinstance(layer, InputLayer):
        entry["input_dtype"] = str(layer.input_var.dtype)
    return entry


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
        ``input_dtype`` for input layers), ``outputs`` (indices),
        ``output_is_list`` and ``floatX``.
    layers : list of Layer
    names : list of str
    """
    outputs = list(network) if isinstance(network, (list, tuple)) else [network]
    layers = get_all_layers(outputs)
    names = layer_names(layers)
    position = {layer: index for index, layer in enumerate(layers)}
    entries = [_describe_layer(layer, name, _incoming_refs(layer, position), names)
               for layer, name in zip(layers, names)]
    architecture = {
        "layers": entries,
        "outputs": [position[layer] for layer in outputs],
        "output_is_list": isinstance(network, (list, tuple)),
        "floatX": get_floatX(),
    }
    return architecture, layers, names


# --------------------------------------------------------------------------
# Parameters, optimizer and RNG states
# --------------------------------------------------------------------------

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


def write_params(group, layers, names, options):
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
                # A parameter shared by two layers is stored once and hard-linked.
                layer_group[short] = group.file[first_path[param]]
                continue
            value = param.get_value(borrow=True)
            dataset_path = f"{params_group.name}/{name}/{short}"
            stored = _stored_value(value, options.weights_dtype, dataset_path)
            dataset = _create_dataset(layer_group, short, stored, options.compression)
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
            f"optimizer must be an OptimizerState, the updates returned by an update rule or a "
            f"dict of arrays, got {type(optimizer).__name__}"
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
            raise ValueError(f"optimizer state name {name!r} clashes with another entry: "
                             f"{exc}") from None
    if "t" in values:
        opt_group.attrs["step"] = int(np.asarray(values["t"]))


def _global_rng(rng):
    if rng is True:
        return get_rng()
    if rng is None or rng is False or (isinstance(rng, str) and rng == "layers"):
        return None
    if isinstance(rng, (np.random.RandomState, np.random.Generator)):
        return rng
    raise TypeError(f"rng must be True, False, 'layers' or a numpy RandomState/Generator, "
                    f"got {rng!r}")


def write_rng(group, layers, names, global_rng):
    """Write each stochastic layer's stream state and the global RNG's."""
    rng_group = group.create_group("rng", track_order=True)
    for layer, name in zip(layers, names):
        shared = layer_rng(layer)
        if shared is not None:
            state = shared.get_value(borrow=True).bit_generator.state
            rng_group.attrs[name] = encode_rng_state(state)
    if global_rng is not None:
        group.attrs["global_rng"] = encode_rng_state(rng_to_state(global_rng))


# --------------------------------------------------------------------------
# Preprocessing and other trees of values
# --------------------------------------------------------------------------

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
            elif array.dtype.kind not in "biuf":
                raise TypeError(f"{what}[{key!r}]: {array.dtype} arrays cannot be stored; use "
                                "numbers or str")
            else:
                group.create_dataset(key, data=array)
        elif isinstance(value, (bool, str, float)) or (isinstance(value, int)
                                                       and -2**63 <= value < 2**63):
            group.attrs[key] = value
        else:
            group.attrs[key] = to_json(value, f"{what}[{key!r}]")
            json_keys.append(key)
    if json_keys:
        group.attrs["__json__"] = to_json(json_keys, "keys")


def preprocessing_state(preprocessing, network):
    """Return the state to store for ``preprocessing``, checked against ``network``.

    Parameters
    ----------
    preprocessing : dict, FeaturePipeline or object with ``get_state()``
    network : Layer or list of Layer

    Returns
    -------
    dict

    Raises
    ------
    TypeError
        If the state is not a dict.
    ValueError
        If it is a :class:`~dropout_layers.preprocessing.FeaturePipeline`
        state that does not load, or whose output width differs from the
        network's input width.
    """
    state = preprocessing.get_state() if hasattr(preprocessing, "get_state") else preprocessing
    if not isinstance(state, dict):
        raise TypeError(f"preprocessing must be a dict (or have get_state()), got "
                        f"{type(state).__name__}")
    if FeaturePipeline.is_state(state):
        pipeline = FeaturePipeline.from_state(state)
        inputs = [layer for layer in get_all_layers(network) if isinstance(layer, InputLayer)]
        width = inputs[0].shape[-1] if len(inputs) == 1 and len(inputs[0].shape) == 2 else False
        if width is False or width not in (None, pipeline.n_outputs):
            raise ValueError(f"the feature pipeline gives {pipeline.n_outputs} columns but the "
                             f"network's input is {[layer.shape for layer in inputs]}")
    return state


# --------------------------------------------------------------------------
# A whole model, and the file
# --------------------------------------------------------------------------

def write_model(group, network, *, optimizer=None, rng=True, metadata=None, history=None,
                preprocessing=None, options=None):
    """Write one network and its state under ``group`` (the file root or an ensemble member).

    The keywords are those of :func:`save_checkpoint`; ``options`` is a
    :class:`CheckpointOptions` (its key is the file's, not used here).
    """
    options = options or CheckpointOptions()
    global_rng = _global_rng(rng)
    architecture, layers, names = describe_network(network)
    group.attrs["architecture"] = to_json(architecture, "architecture")
    group.attrs["weights_dtype"] = options.weights_dtype or "native"
    # float16 weights cannot continue a run bit for bit.
    group.attrs["exact_resume"] = options.weights_dtype is None
    group.attrs["compression"] = options.compression or "none"
    if metadata is not None:
        group.attrs["metadata"] = to_json(metadata, "metadata")
    if history is not None:
        history = history.to_dict() if hasattr(history, "to_dict") else history
        group.attrs["history"] = to_json(history, "history")
    write_params(group, layers, names, options)
    if optimizer is not None:
        write_optimizer(group, optimizer, options.compression)
    if rng is not None and rng is not False:
        write_rng(group, layers, names, global_rng)
    if preprocessing is not None:
        write_tree(group.create_group("preprocessing", track_order=True),
                   preprocessing_state(preprocessing, network), "preprocessing")


def save_checkpoint(path, network, *, optimizer=None, rng=True, metadata=None, history=None,
                    preprocessing=None, **storage):
    """Save a network, and optionally its training state, to one HDF5 file.

    The file holds the architecture (so that :func:`load_checkpoint` rebuilds
    the network without its code), every parameter as its own dataset
    ``/params/<layer>/<param>``, and whatever training state is given. It is
    written to a temporary file renamed over ``path`` once complete, so an
    interrupted save leaves the previous checkpoint intact.

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
        Free-form JSON (NaN kept); ``threshold`` is :attr:`Checkpoint.threshold`.
    history : dict, list or object with ``to_dict()``, optional
        The training history, JSON-serialisable.
    preprocessing : FeaturePipeline, dict or object with ``get_state()``, optional
        Feature preprocessing state: arrays become datasets, scalars and
        strings attributes, lists JSON attributes, dicts subgroups. A
        :class:`~dropout_layers.preprocessing.FeaturePipeline` (or a state
        that is one) is what :meth:`Checkpoint.predict` applies to raw inputs.
    **storage
        ``compression``, ``weights_dtype`` and ``key``: see
        :class:`CheckpointOptions`.

    Raises
    ------
    ValueError
        For duplicate layer names, bad options, float16 overflow, or a
        feature pipeline that does not fit the network.
    TypeError
        For an unknown keyword, or something that cannot be serialised.
    """
    options = CheckpointOptions.from_keywords(storage, "save_checkpoint")
    describe_network(network)  # everything that can be checked, before touching the disk
    if preprocessing is not None:
        preprocessing = preprocessing_state(preprocessing, network)

    def write(h5file):
        for key, value in root_attributes().items():
            h5file.attrs[key] = value
        write_model(h5file, network, optimizer=optimizer, rng=rng, metadata=metadata,
                    history=history, preprocessing=preprocessing, options=options)

    atomic_save(path, write, "model", options.key)
