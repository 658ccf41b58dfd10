"""The checkpoint file format: constants, names and encodings shared by save and load.

A checkpoint is an HDF5 file preceded by a 512-byte user block (which HDF5
skips and h5py reads through) holding a one-line magic string and a JSON
header with the format version, the size of the file and the SHA-256 of
everything after the user block. The header lets a reader reject a truncated
or corrupted file before handing it to HDF5, which does not checksum raw
data and can misbehave on damaged metadata.
"""
import hashlib
import json
import re

import numpy as np

__all__ = [
    "FORMAT", "FORMAT_VERSION", "USERBLOCK_SIZE", "MAGIC", "pack_header", "unpack_header",
    "file_digest", "layer_names", "param_short_names", "to_json", "from_json", "encode_rng_state",
    "decode_rng_state", "rng_to_state", "state_to_rng",
]

#: Value of the root attribute ``format``.
FORMAT = "dropout_layers.checkpoint"
#: The format version this library writes and the newest it reads.
FORMAT_VERSION = 1
#: Bytes reserved before the HDF5 superblock for the header.
USERBLOCK_SIZE = 512
#: First line of the user block.
MAGIC = (FORMAT + "\n").encode("ascii")

_HASH_CHUNK = 1 << 22


# --------------------------------------------------------------------------
# The user-block header
# --------------------------------------------------------------------------

def file_digest(fileobj, start=USERBLOCK_SIZE):
    """Return the SHA-256 hex digest of ``fileobj`` from byte ``start`` to its end."""
    digest = hashlib.sha256()
    fileobj.seek(start)
    while True:
        chunk = fileobj.read(_HASH_CHUNK)
        if not chunk:
            break
        digest.update(chunk)
    return digest.hexdigest()


def pack_header(size, sha256):
    """Return the user block: the magic line, a JSON line, zero padding."""
    line = json.dumps({"format_version": FORMAT_VERSION, "size": int(size), "sha256": sha256},
                      sort_keys=True).encode("ascii") + b"\n"
    block = MAGIC + line
    if len(block) > USERBLOCK_SIZE:
        raise AssertionError("checkpoint header does not fit its user block")
    return block + b"\0" * (USERBLOCK_SIZE - len(block))


def unpack_header(block):
    """Parse a user block written by :func:`pack_header`.

    Returns
    -------
    dict or None
        ``format_version``, ``size`` and ``sha256``; None if ``block`` does
        not start with the magic line or its JSON line is unreadable.
    """
    if not block.startswith(MAGIC):
        return None
    line = block[len(MAGIC):].split(b"\n", 1)[0]
    try:
        header = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(header, dict) or not isinstance(header.get("format_version"), int):
        return None
    return header


# --------------------------------------------------------------------------
# Names of layers and parameters
# --------------------------------------------------------------------------

def _snake_case(class_name):
    base = class_name[:-len("Layer")] if class_name.endswith("Layer") and class_name != "Layer" else class_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).lower()


def _check_name(name, what):
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name:
        raise ValueError(f"{what} {name!r} cannot name an HDF5 group: use a non-empty string without '/'")
    return name


def layer_names(layers):
    """Return the name each layer has in a checkpoint.

    A layer's own ``name`` is used when it has one; an unnamed layer gets
    ``<class in snake case>_<topological index>``, for example ``dense_3``,
    so that the same code builds a network whose unnamed layers get the
    same names again.

    Parameters
    ----------
    layers : list of Layer
        Topologically sorted, as from :func:`dropout_layers.layers.get_all_layers`.

    Raises
    ------
    ValueError
        If two layers share a name, or a name contains ``/``.
    """
    explicit = {}
    for index, layer in enumerate(layers):
        if layer.name is not None:
            _check_name(layer.name, "layer name")
            if layer.name in explicit:
                raise ValueError(
                    f"layers {explicit[layer.name]} and {index} are both named {layer.name!r}; a checkpoint "
                    "names parameters after their layer, so layer names must be unique"
                )
            explicit[layer.name] = index
    taken = set(explicit)
    names = []
    for index, layer in enumerate(layers):
        if layer.name is not None:
            names.append(layer.name)
            continue
        base = candidate = f"{_snake_case(type(layer).__name__)}_{index}"
        suffix = 1
        while candidate in taken:
            candidate = f"{base}_{suffix}"
            suffix += 1
        taken.add(candidate)
        names.append(candidate)
    return names


def param_short_names(layer):
    """Return ``{shared variable: short name}`` for the parameters of ``layer``.

    The short name drops the ``<layer name>.`` prefix that
    :meth:`~dropout_layers.layers.Layer.add_param` adds (``hidden1.W`` becomes
    ``W``); an unnamed parameter becomes ``param<i>``.
    """
    result = {}
    used = set()
    for position, param in enumerate(layer.params):
        name = param.name
        if name is None:
            short = f"param{position}"
        elif layer.name is not None and name.startswith(layer.name + "."):
            short = name[len(layer.name) + 1:]
        else:
            short = name.rsplit(".", 1)[-1]
        _check_name(short, f"parameter of layer {layer.name!r} named")
        if short in used:
            raise ValueError(f"layer {layer.name!r} has two parameters named {short!r}")
        used.add(short)
        result[param] = short
    return result


# --------------------------------------------------------------------------
# JSON that keeps NumPy values and big integers
# --------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value, what):
    """Serialise ``value`` to JSON; NumPy scalars and arrays become numbers and lists.

    Raises
    ------
    TypeError
        Naming ``what`` if something in ``value`` cannot be serialised.
    """
    try:
        return json.dumps(value, default=_jsonable)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON serialisable: {exc}") from None


def from_json(text):
    """Inverse of :func:`to_json`."""
    return json.loads(text)


# --------------------------------------------------------------------------
# RNG states
# --------------------------------------------------------------------------

_INTEGER_STRING = re.compile(r"-?[0-9]+\Z")


def encode_rng_state(state):
    """Return a NumPy bit-generator state as JSON.

    Integers become decimal strings (PCG64's 128-bit state exceeds what JSON
    readers keep exactly) and arrays ``{"dtype": ..., "data": [...]}``.
    """
    def encode(value):
        if isinstance(value, dict):
            return {key: encode(item) for key, item in value.items()}
        if isinstance(value, np.ndarray):
            return {"dtype": value.dtype.str, "data": value.tolist()}
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        if isinstance(value, (float, np.floating)):
            return float(value)
        return value

    return json.dumps(encode(state))


def decode_rng_state(text):
    """Inverse of :func:`encode_rng_state`."""
    def decode(value):
        if isinstance(value, dict):
            if set(value) == {"dtype", "data"}:
                return np.asarray(value["data"], dtype=np.dtype(value["dtype"]))
            return {key: decode(item) for key, item in value.items()}
        if isinstance(value, str) and _INTEGER_STRING.match(value):
            return int(value)
        return value

    return decode(json.loads(text))


def rng_to_state(rng):
    """Return ``{"kind": ..., "state": ...}`` for a RandomState or Generator."""
    if isinstance(rng, np.random.RandomState):
        return {"kind": "RandomState", "state": rng.get_state(legacy=False)}
    if isinstance(rng, np.random.Generator):
        return {"kind": "Generator", "state": rng.bit_generator.state}
    raise TypeError(f"expected a numpy RandomState or Generator, got {type(rng).__name__}")


def state_to_rng(record, into=None):
    """Return a generator in the state ``record`` (from :func:`rng_to_state`).

    Parameters
    ----------
    record : dict
    into : RandomState or Generator, optional
        Set in place and returned if it is of the recorded kind and bit
        generator, so that references to it see the restored state.
    """
    kind, state = record["kind"], record["state"]
    bit_generator = state["bit_generator"]
    if kind == "RandomState":
        if (isinstance(into, np.random.RandomState)
                and into.get_state(legacy=False)["bit_generator"] == bit_generator):
            into.set_state(state)
            return into
        rng = np.random.RandomState(getattr(np.random, bit_generator)())
        rng.set_state(state)
        return rng
    if kind == "Generator":
        if isinstance(into, np.random.Generator) and type(into.bit_generator).__name__ == bit_generator:
            into.bit_generator.state = state
            return into
        generator = getattr(np.random, bit_generator)()
        generator.state = state
        return np.random.Generator(generator)
    raise ValueError(f"unknown RNG kind {kind!r}")
