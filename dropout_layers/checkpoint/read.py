"""Reading checkpoint files: the checks before HDF5, h5py's errors, the stored pieces."""
import contextlib
import dataclasses
import json
import os
from collections import OrderedDict

import h5py
import numpy as np

from .errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    MissingEntryError,
    NotACheckpointError,
    ShapeMismatchError,
    UnsupportedVersionError,
)
from .format import (
    FORMAT,
    FORMAT_VERSION,
    USERBLOCK_SIZE,
    decode_rng_state,
    file_digest,
    from_json,
    unpack_header,
)

__all__ = ["open_checkpoint", "check_params", "read_tree", "read_model_state", "root_attributes_of"]

# Root attributes that hold documents rather than facts about the file.
_DOCUMENT_ATTRS = ("architecture", "metadata", "history", "global_rng")


def _shape(shape):
    return tuple(int(s) for s in shape)


# --------------------------------------------------------------------------
# Opening and checking a file
# --------------------------------------------------------------------------

def _check_version(path, version, where):
    if not isinstance(version, (int, np.integer)) or version < 1:
        raise NotACheckpointError(path, f"format_version {version!r} in the {where} is not a version number")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            path, f"checkpoint format version {int(version)} is newer than this library reads "
                  f"(version {FORMAT_VERSION}); upgrade dropout_layers to load it"
        )


def _check_file(path, verify):
    """Check what can be checked without HDF5; return whether the content digest matches."""
    if not os.path.exists(path):
        raise CheckpointNotFoundError(path, "no such file")
    if os.path.isdir(path):
        raise NotACheckpointError(path, "is a directory, not a checkpoint file")
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise CheckpointError(path, f"cannot read the file ({exc.strerror})") from None
    with raw:
        size = raw.seek(0, os.SEEK_END)
        raw.seek(0)
        block = raw.read(USERBLOCK_SIZE)
        header = unpack_header(block)
        if header is None:
            if block.startswith(b"dropout_layers.checkpoint"):
                raise CorruptCheckpointError(path, "corrupted file: its header is damaged")
            if size == 0:
                raise NotACheckpointError(path, "empty file, not an HDF5 checkpoint")
            if not h5py.is_hdf5(path):
                raise NotACheckpointError(path, "not an HDF5 file")
            return None  # an HDF5 file from elsewhere: the root attributes decide
        _check_version(path, header["format_version"], "file header")
        expected = header.get("size")
        if isinstance(expected, int) and size < expected:
            raise CorruptCheckpointError(
                path, f"truncated file: {size} bytes of the {expected} written (an interrupted copy?)"
            )
        return file_digest(raw) == header.get("sha256") if verify else None


@contextlib.contextmanager
def open_checkpoint(path, verify=True):
    """Open a checkpoint for reading after checking it, translating h5py's errors.

    Inside the block, an ``OSError`` from h5py (unreadable data) becomes a
    :class:`CorruptCheckpointError` and a ``KeyError`` (absent entry) a
    :class:`MissingEntryError`. When the block ends without error and the
    file's SHA-256 differs from the one recorded when it was written, a
    :class:`CorruptCheckpointError` is raised (unless ``verify=False``):
    more specific problems found while reading take precedence.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Check the content digest. ``False`` accepts a file edited after
        it was written (for example with h5py).

    Yields
    ------
    h5py.File
    """
    path = os.fspath(path)
    digest_ok = _check_file(path, verify)
    try:
        h5file = h5py.File(path, "r")
    except OSError as exc:
        reason = _h5_reason(exc)
        if "lock" in reason.lower():
            raise CheckpointError(path, f"cannot open the file ({reason}); on a file system without locking set "
                                        "HDF5_USE_FILE_LOCKING=FALSE") from None
        raise CorruptCheckpointError(path, f"truncated or corrupted HDF5 file ({reason})") from None
    try:
        with h5file:
            fmt = h5file.attrs.get("format")
            if fmt != FORMAT:
                raise NotACheckpointError(
                    path, f"an HDF5 file but not a dropout_layers checkpoint (its 'format' attribute is {fmt!r}, "
                          f"expected {FORMAT!r})"
                )
            if "format_version" not in h5file.attrs:
                raise MissingEntryError(path, "missing root attribute 'format_version'")
            _check_version(path, h5file.attrs["format_version"], "root attributes")
            yield h5file
    except OSError as exc:
        raise CorruptCheckpointError(path, f"corrupted file: {_h5_reason(exc)}") from None
    except KeyError as exc:
        raise MissingEntryError(path, f"missing {exc.args[0] if exc.args else 'entry'}") from None
    except json.JSONDecodeError as exc:
        raise CorruptCheckpointError(path, f"corrupted file: unreadable JSON attribute ({exc})") from None
    if verify and digest_ok is False:
        raise CorruptCheckpointError(
            path, "corrupted file: its contents changed after it was written (SHA-256 mismatch); "
                  "if you edited it on purpose, load it with verify=False"
        )


def _h5_reason(exc):
    return " ".join(str(exc).split())


def _require(path, group, name, kind="dataset"):
    if name not in group:
        raise MissingEntryError(path, f"missing {kind} '{group.name.rstrip('/')}/{name}'")
    return group[name]


def _python(value):
    return value.item() if isinstance(value, np.generic) else value


def _json_attr(group, name):
    return from_json(group.attrs[name]) if name in group.attrs else None


def read_tree(group):
    """Inverse of :func:`~dropout_layers.checkpoint.save.write_tree`."""
    json_keys = set(from_json(group.attrs["__json__"])) if "__json__" in group.attrs else set()
    values = {}
    for key, value in group.attrs.items():
        if key == "__json__":
            continue
        values[key] = from_json(value) if key in json_keys else _python(value)
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            values[key] = read_tree(item)
        elif "numpy_dtype" in item.attrs:
            values[key] = np.asarray(item.asstr()[()], dtype=np.dtype(item.attrs["numpy_dtype"]))
        else:
            values[key] = item[()]
    return values


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
    optimizer_state: object
    optimizer_rule: object
    rng_states: dict
    global_rng_state: object
    exact_resume: bool
    weights_dtype: str


def check_params(path, group, architecture):
    """Check that every parameter the architecture lists is stored, with its shape.

    Returns
    -------
    OrderedDict
        ``(layer name, param name) -> (h5py.Dataset, architecture's dtype)``.

    Raises
    ------
    MissingEntryError, ShapeMismatchError
    """
    params_group = _require(path, group, "params", "group")
    found = OrderedDict()
    for entry in architecture["layers"]:
        for spec in entry["params"]:
            name = f"{entry['name']}/{spec['name']}"
            dataset_path = f"{params_group.name}/{name}"
            if name not in params_group:
                raise MissingEntryError(path, f"missing dataset '{dataset_path}'")
            dataset = params_group[name]
            expected = _shape(spec["shape"])
            if dataset.shape != expected:
                raise ShapeMismatchError(
                    path, f"dataset '{dataset_path}' has shape {dataset.shape} but the architecture gives {expected}"
                )
            found[(entry["name"], spec["name"])] = (dataset, spec["dtype"])
    return found


def _read_params(path, group, architecture):
    """Read the datasets the architecture lists, after :func:`check_params`."""
    return OrderedDict(
        (key, (dataset.name, dataset[()], np.dtype(dataset.attrs.get("dtype", dtype))))
        for key, (dataset, dtype) in check_params(path, group, architecture).items()
    )


def read_model_state(path, group):
    if "architecture" not in group.attrs:
        raise MissingEntryError(path, f"missing attribute 'architecture' of '{group.name}'")
    architecture = from_json(group.attrs["architecture"])
    params = _read_params(path, group, architecture)
    optimizer_state = rule = None
    if "optimizer" in group:
        opt_group = group["optimizer"]
        names = from_json(opt_group.attrs["names"]) if "names" in opt_group.attrs else []
        optimizer_state = OrderedDict()
        for name in names:
            optimizer_state[name] = _require(path, opt_group, name)[()]
        rule = opt_group.attrs.get("rule")
    rng_states = None
    if "rng" in group:
        rng_states = OrderedDict((name, decode_rng_state(text)) for name, text in group["rng"].attrs.items())
    global_rng = decode_rng_state(group.attrs["global_rng"]) if "global_rng" in group.attrs else None
    preprocessing = read_tree(group["preprocessing"]) if "preprocessing" in group else None
    return _Stored(
        architecture=architecture, params=params, metadata=_json_attr(group, "metadata"),
        history=_json_attr(group, "history"), preprocessing=preprocessing, optimizer_state=optimizer_state,
        optimizer_rule=_python(rule), rng_states=rng_states, global_rng_state=global_rng,
        exact_resume=bool(group.attrs.get("exact_resume", True)),
        weights_dtype=str(group.attrs.get("weights_dtype", "native")),
    )


def root_attributes_of(h5file):
    return {key: _python(value) for key, value in h5file.attrs.items() if key not in _DOCUMENT_ATTRS}
