"""Reading checkpoint files: the checks before and after HDF5 opens them, the stored pieces.

Nothing stored is trusted: :func:`open_checkpoint` verifies the bytes before
HDF5 sees them and audits the object tree before any dataset is read, and
the readers below check the type, range and shape of every value against
what the architecture declares before allocating anything.
"""
import contextlib
import dataclasses
import os
from collections import OrderedDict

import h5py
import numpy as np

from ..preprocessing import FeaturePipeline
from .audit import audit_file
from .errors import (
    CheckpointError,
    CorruptCheckpointError,
    MalformedCheckpointError,
    MissingEntryError,
    NotACheckpointError,
    ShapeMismatchError,
)
from .format import FORMAT, decode_rng_state, from_json, state_to_rng
from .schema import check_architecture, check_dtype_name
from .verify import check_file, check_version

__all__ = ["open_checkpoint", "file_kind", "check_params", "read_tree", "read_model_state",
           "root_attributes_of", "json_attr", "python_value"]

# Root attributes that hold documents rather than facts about the file.
_DOCUMENT_ATTRS = ("architecture", "metadata", "history", "global_rng")
_MAX_TREE_DEPTH = 16
_MAX_STRING_LENGTH = 1 << 16


def python_value(value):
    """Return a NumPy scalar as the Python scalar it holds, bytes as str, the rest as is."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value


def _name(obj):
    return obj.name.rstrip("/") or "/"


# --------------------------------------------------------------------------
# Opening and checking a file
# --------------------------------------------------------------------------

def _h5_reason(exc):
    return " ".join(str(exc).split())


def _open_hdf5(path):
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        reason = _h5_reason(exc)
        if "lock" in reason.lower():
            raise CheckpointError(path, f"cannot open the file ({reason}); on a file system "
                                        "without locking set HDF5_USE_FILE_LOCKING=FALSE") from None
        raise CorruptCheckpointError(path, f"truncated or corrupted HDF5 file ({reason})") from None


def file_kind(h5file):
    """``'ensemble'`` for a file written by ``save_ensemble``, else ``'model'``."""
    kind = python_value(h5file.attrs.get("kind"))
    return "ensemble" if isinstance(kind, str) and kind == "ensemble" else "model"


def _check_root(path, h5file, header):
    fmt = python_value(h5file.attrs.get("format"))
    if not isinstance(fmt, str) or fmt != FORMAT:
        raise NotACheckpointError(
            path, f"an HDF5 file but not a dropout_layers checkpoint (its 'format' attribute is "
                  f"{fmt!r}, expected {FORMAT!r})"
        )
    if "format_version" not in h5file.attrs:
        raise MissingEntryError(path, "missing root attribute 'format_version'")
    check_version(path, python_value(h5file.attrs["format_version"]), "root attributes")
    if header is not None and header.get("kind") not in (None, file_kind(h5file)):
        raise MalformedCheckpointError(path, f"its header says it holds a {header['kind']} but "
                                             f"its contents are a {file_kind(h5file)}")


@contextlib.contextmanager
def open_checkpoint(path, verify=True, key=None):
    """Open a checkpoint for reading after checking it, translating h5py's errors.

    Before HDF5 sees the file, its header, size and SHA-256 (and, with
    ``key``, its HMAC) are checked; after opening, every link and object is
    audited (:func:`~dropout_layers.checkpoint.audit.audit_file`) before any
    data is read. Inside the block, an ``OSError`` from h5py (unreadable
    data) becomes a :class:`CorruptCheckpointError` and a ``KeyError``
    (absent entry) a :class:`MissingEntryError`.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Check the SHA-256 and refuse a file without a checkpoint header.
        ``False`` accepts a file edited after it was written (for example
        with h5py); the audit and every other check still apply.
    key : bytes or str, optional
        Require the HMAC that ``save_checkpoint(..., key=key)`` wrote.

    Yields
    ------
    h5py.File
    """
    path = os.fspath(path)
    header = check_file(path, verify, key)
    h5file = _open_hdf5(path)
    try:
        with h5file:
            audit_file(path, h5file)
            _check_root(path, h5file, header)
            yield h5file
    except OSError as exc:
        raise CorruptCheckpointError(path, f"corrupted file: {_h5_reason(exc)}") from None
    except KeyError as exc:
        raise MissingEntryError(path, f"missing {exc.args[0] if exc.args else 'entry'}") from None


# --------------------------------------------------------------------------
# Entries and attributes
# --------------------------------------------------------------------------

def require(path, group, name, kind="dataset"):
    """Return ``group[name]``, refusing an absent entry or one of the wrong kind."""
    where = f"{_name(group).rstrip('/')}/{name}"
    if name not in group:
        raise MissingEntryError(path, f"missing {kind} '{where}'")
    item = group[name]
    expected = h5py.Dataset if kind == "dataset" else h5py.Group
    if not isinstance(item, expected):
        found = "group" if isinstance(item, h5py.Group) else "dataset"
        raise MalformedCheckpointError(path, f"'{where}' is a {found}, expected a {kind}")
    return item


def json_attr(path, obj, name):
    """Parse the JSON attribute ``name`` of ``obj``; None if it is absent."""
    if name not in obj.attrs:
        return None
    try:
        return from_json(python_value(obj.attrs[name]))
    except ValueError as exc:
        raise MalformedCheckpointError(path, f"attribute '{name}' of '{_name(obj)}': "
                                             f"{exc}") from None


def _typed_attr(path, obj, name, types, default):
    value = python_value(obj.attrs.get(name, default))
    if not isinstance(value, types):
        raise MalformedCheckpointError(path, f"attribute '{name}' of '{_name(obj)}' is {value!r}, "
                                             f"not a {types[0].__name__}")
    return value


def read_tree(path, group, depth=0):
    """Inverse of :func:`~dropout_layers.checkpoint.save.write_tree`."""
    if depth > _MAX_TREE_DEPTH:
        raise MalformedCheckpointError(path, f"'{_name(group)}' is nested deeper than "
                                             f"{_MAX_TREE_DEPTH} groups")
    json_keys = json_attr(path, group, "__json__") or []
    if not isinstance(json_keys, list) or not all(isinstance(key, str) for key in json_keys):
        raise MalformedCheckpointError(path, f"attribute '__json__' of '{_name(group)}' is not a "
                                             "list of names")
    values = {}
    for key in group.attrs:
        if key != "__json__":
            values[key] = json_attr(path, group, key) if key in json_keys else python_value(
                group.attrs[key])
    for key, item in group.items():
        values[key] = (read_tree(path, item, depth + 1) if isinstance(item, h5py.Group)
                       else _read_tree_dataset(path, item))
    return values


def _read_tree_dataset(path, dataset):
    if "numpy_dtype" in dataset.attrs or h5py.check_string_dtype(dataset.dtype) is not None:
        declared = python_value(dataset.attrs.get("numpy_dtype", "<U1"))
        try:
            dtype = np.dtype(declared)
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.kind != "U" or dtype.itemsize // 4 > _MAX_STRING_LENGTH:
            raise MalformedCheckpointError(path, f"dataset '{dataset.name}' declares string dtype "
                                                 f"{declared!r}")
        texts = dataset.asstr(errors="replace")[()]
        texts = np.array(texts.tolist() if isinstance(texts, np.ndarray) else texts, dtype=str)
        return texts.astype(np.promote_types(dtype, texts.dtype))
    if dataset.dtype.kind not in "biuf":
        raise MalformedCheckpointError(path, f"dataset '{dataset.name}' has dtype {dataset.dtype}")
    return dataset[()]


# --------------------------------------------------------------------------
# Reading one model (the file root, or an ensemble member's group)
# --------------------------------------------------------------------------

@dataclasses.dataclass
class _Stored:
    """Everything read from a model group, before any network exists."""

    architecture: dict
    params: dict          # (layer name, param name) -> (dataset path, array, original dtype)
    metadata: object
    history: object
    preprocessing: dict
    pipeline: object      # a FeaturePipeline when the preprocessing is one
    optimizer_state: object
    optimizer_rule: object
    rng_states: dict
    global_rng_state: object
    exact_resume: bool
    weights_dtype: str


def read_architecture(path, group):
    """Return the architecture of a model group, checked by :func:`.check_architecture`."""
    if "architecture" not in group.attrs:
        raise MissingEntryError(path, f"missing attribute 'architecture' of '{_name(group)}'")
    architecture = json_attr(path, group, "architecture")
    try:
        check_architecture(architecture)
    except ValueError as exc:
        raise MalformedCheckpointError(path, f"architecture: {exc}") from None
    return architecture


def check_params(path, group, architecture):
    """Check that every listed parameter is stored, with its shape and a numeric dtype.

    Returns
    -------
    OrderedDict
        ``(layer name, param name) -> (h5py.Dataset, original dtype)``.

    Raises
    ------
    MissingEntryError, ShapeMismatchError, MalformedCheckpointError
    """
    params_group = require(path, group, "params", "group")
    found = OrderedDict()
    for entry in architecture["layers"]:
        for spec in entry["params"]:
            dataset = require(path, params_group, f"{entry['name']}/{spec['name']}")
            expected = tuple(spec["shape"])
            if dataset.shape != expected:
                raise ShapeMismatchError(path, f"dataset '{dataset.name}' has shape "
                                               f"{dataset.shape} but the architecture gives "
                                               f"{expected}")
            if dataset.dtype.kind not in "biuf":
                raise MalformedCheckpointError(path, f"dataset '{dataset.name}' has dtype "
                                                     f"{dataset.dtype}, not a number type")
            try:
                original = check_dtype_name(python_value(dataset.attrs.get("dtype", spec["dtype"])),
                                            "its 'dtype' attribute")
            except ValueError as exc:
                raise MalformedCheckpointError(path, f"dataset '{dataset.name}': {exc}") from None
            found[(entry["name"], spec["name"])] = (dataset, original)
    return found


def _read_params(path, group, architecture):
    return OrderedDict(
        (key, (dataset.name, dataset[()], np.dtype(original)))
        for key, (dataset, original) in check_params(path, group, architecture).items()
    )


def _read_optimizer(path, group):
    if "optimizer" not in group:
        return None, None
    opt_group = require(path, group, "optimizer", "group")
    names = json_attr(path, opt_group, "names") or []
    if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
        raise MalformedCheckpointError(path, "attribute 'names' of '/optimizer' is not a list of "
                                             "names")
    state = OrderedDict()
    for name in names:
        if name.startswith("/") or any(part in ("", ".", "..") for part in name.split("/")):
            raise MalformedCheckpointError(path, f"optimizer state name {name!r} is not a path "
                                                 "inside '/optimizer'")
        dataset = require(path, opt_group, name)
        if dataset.dtype.kind not in "biuf":
            raise MalformedCheckpointError(path, f"dataset '{dataset.name}' has dtype "
                                                 f"{dataset.dtype}, not a number type")
        state[name] = dataset[()]
    rule = _typed_attr(path, opt_group, "rule", (str, type(None)), None)
    return state, rule


def _decode_stream(path, text, what):
    try:
        state = decode_rng_state(python_value(text))
        state_to_rng({"kind": "Generator", "state": state})
    except ValueError as exc:
        raise MalformedCheckpointError(path, f"{what}: {exc}") from None
    return state


def _read_rng(path, group):
    streams = None
    if "rng" in group:
        rng_group = require(path, group, "rng", "group")
        streams = OrderedDict((name, _decode_stream(path, text, f"RNG state of layer {name!r}"))
                              for name, text in rng_group.attrs.items())
    if "global_rng" not in group.attrs:
        return streams, None
    try:
        record = decode_rng_state(python_value(group.attrs["global_rng"]))
        state_to_rng(record)
    except ValueError as exc:
        raise MalformedCheckpointError(path, f"attribute 'global_rng': {exc}") from None
    return streams, record


def read_preprocessing(path, group):
    """Return the stored preprocessing state, and its :class:`FeaturePipeline` if it is one."""
    if "preprocessing" not in group:
        return None, None
    state = read_tree(path, require(path, group, "preprocessing", "group"))
    if not FeaturePipeline.is_state(state):
        return state, None
    try:
        return state, FeaturePipeline.from_state(state)
    except ValueError as exc:
        raise MalformedCheckpointError(path, f"preprocessing: {exc}") from None


def read_model_state(path, group):
    """Read and check everything a model group stores; build nothing."""
    architecture = read_architecture(path, group)
    params = _read_params(path, group, architecture)
    optimizer_state, rule = _read_optimizer(path, group)
    rng_states, global_rng = _read_rng(path, group)
    preprocessing, pipeline = read_preprocessing(path, group)
    weights_dtype = _typed_attr(path, group, "weights_dtype", (str,), "native")
    if weights_dtype not in ("native", "float16"):
        raise MalformedCheckpointError(path, f"weights_dtype {weights_dtype!r} is not 'native' or "
                                             "'float16'")
    return _Stored(
        architecture=architecture, params=params, metadata=json_attr(path, group, "metadata"),
        history=json_attr(path, group, "history"), preprocessing=preprocessing, pipeline=pipeline,
        optimizer_state=optimizer_state, optimizer_rule=rule, rng_states=rng_states,
        global_rng_state=global_rng,
        exact_resume=bool(_typed_attr(path, group, "exact_resume", (bool, int), True)),
        weights_dtype=weights_dtype,
    )


def root_attributes_of(h5file):
    """Return the root attributes that are facts about the file (not its JSON documents)."""
    return {key: python_value(value) for key, value in h5file.attrs.items()
            if key not in _DOCUMENT_ATTRS}
