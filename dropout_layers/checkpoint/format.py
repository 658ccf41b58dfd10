"""The checkpoint file format: constants, names and encodings shared by save and load.

A checkpoint is an HDF5 file preceded by a 512-byte user block (which HDF5
skips and h5py reads through) holding a one-line magic string and a JSON
header with the format version, the kind of file (``model`` or
``ensemble``), the size of the file, the SHA-256 of everything after the
user block and, when the file was saved with a key, an HMAC-SHA256 of the
same bytes. The header lets a reader reject a truncated or corrupted file
before handing it to HDF5, which does not checksum raw data and can
misbehave on damaged metadata.
"""
import hashlib
import hmac
import json
import re

import numpy as np
from pytensor.compile.sharedvalue import SharedVariable

from ..files import to_jsonable

__all__ = [
    "FORMAT", "FORMAT_VERSION", "USERBLOCK_SIZE", "MAGIC", "KINDS", "pack_header",
    "unpack_header", "Digests", "layer_names", "param_short_names", "to_json", "from_json",
    "encode_rng_state", "decode_rng_state", "rng_to_state", "state_to_rng", "BIT_GENERATORS",
    "layer_rng", "param_short_name", "as_key",
]

#: Value of the root attribute ``format``.
FORMAT = "dropout_layers.checkpoint"
#: The format version this library writes and the newest it reads. Version 1
#: files from earlier releases lack the header's ``kind`` and ``hmac``; both
#: are optional, so the version did not change.
FORMAT_VERSION = 1
#: Bytes reserved before the HDF5 superblock for the header.
USERBLOCK_SIZE = 512
#: First line of the user block.
MAGIC = (FORMAT + "\n").encode("ascii")
#: Values of the header's ``kind``.
KINDS = ("model", "ensemble")
#: Deepest nesting of lists and dicts accepted in a stored JSON document.
MAX_JSON_DEPTH = 64

_HASH_CHUNK = 1 << 22


# --------------------------------------------------------------------------
# The user-block header
# --------------------------------------------------------------------------

class Digests:
    """SHA-256 and, with a key, HMAC-SHA256 of the bytes after the user block, in one pass.

    Parameters
    ----------
    key : bytes, str or None
        The HMAC key (a str is encoded as UTF-8).
    """

    def __init__(self, key=None):
        self.sha256 = hashlib.sha256()
        self.hmac = None if key is None else hmac.new(as_key(key), digestmod=hashlib.sha256)

    def read(self, fileobj, start=USERBLOCK_SIZE):
        """Digest ``fileobj`` from byte ``start`` to its end; return self."""
        fileobj.seek(start)
        while True:
            chunk = fileobj.read(_HASH_CHUNK)
            if not chunk:
                return self
            self.sha256.update(chunk)
            if self.hmac is not None:
                self.hmac.update(chunk)


def as_key(key):
    """Return an HMAC key as bytes; refuse an empty or non-text, non-bytes key."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)) or not key:
        raise TypeError(f"key must be non-empty bytes or str, got {type(key).__name__}")
    return bytes(key)


def pack_header(size, digests, kind="model"):
    """Return the user block: the magic line, a JSON line, zero padding.

    Parameters
    ----------
    size : int
        Size of the whole file in bytes.
    digests : Digests
        Of the file's bytes after the user block.
    kind : {'model', 'ensemble'}
    """
    header = {"format_version": FORMAT_VERSION, "kind": kind, "size": int(size),
              "sha256": digests.sha256.hexdigest()}
    if digests.hmac is not None:
        header["hmac"] = digests.hmac.hexdigest()
    block = MAGIC + json.dumps(header, sort_keys=True).encode("ascii") + b"\n"
    if len(block) > USERBLOCK_SIZE:
        raise AssertionError("checkpoint header does not fit its user block")
    return block + b"\0" * (USERBLOCK_SIZE - len(block))


def _hex_digest(value):
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def unpack_header(block):
    """Parse a user block written by :func:`pack_header`.

    Returns
    -------
    dict or None
        ``format_version``, ``size``, ``sha256`` and, where present,
        ``kind`` and ``hmac``; None if ``block`` does not start with the
        magic line.

    Raises
    ------
    ValueError
        If it starts with the magic line but the rest is not a header.
    """
    if not block.startswith(MAGIC):
        return None
    line = block[len(MAGIC):].split(b"\n", 1)[0]
    try:
        header = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ValueError("unreadable JSON") from None
    if not isinstance(header, dict):
        raise ValueError("not a JSON object")
    version, size = header.get("format_version"), header.get("size")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError(f"format_version {version!r:.40} is not a version number")
    if not isinstance(size, int) or isinstance(size, bool) or size < USERBLOCK_SIZE:
        raise ValueError(f"size {size!r:.40} is not a file size")
    if not _hex_digest(header.get("sha256")):
        raise ValueError("sha256 is not a SHA-256 hex digest")
    if header.setdefault("kind", None) not in KINDS + (None,):
        raise ValueError(f"kind {header['kind']!r:.40} is not one of {KINDS}")
    if "hmac" in header and not _hex_digest(header["hmac"]):
        raise ValueError("hmac is not an HMAC-SHA256 hex digest")
    return header


# --------------------------------------------------------------------------
# Names of layers and parameters
# --------------------------------------------------------------------------

def _snake_case(class_name):
    base = class_name
    if class_name.endswith("Layer") and class_name != "Layer":
        base = class_name[:-len("Layer")]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", base).lower()


def _check_name(name, what):
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name:
        raise ValueError(f"{what} {name!r} cannot name an HDF5 group: use a non-empty string "
                         "without '/'")
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
                    f"layers {explicit[layer.name]} and {index} are both named {layer.name!r}; a "
                    "checkpoint names parameters after their layer, so layer names must be unique"
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


def param_short_name(layer_name, param_name, position):
    """Return the name a parameter has within its layer's group.

    ``<layer name>.`` (the prefix :meth:`~dropout_layers.layers.Layer.add_param`
    adds) is dropped, ``hidden1.W`` becoming ``W``; an unnamed parameter is
    ``param<position>``.
    """
    if param_name is None:
        return f"param{position}"
    if layer_name is not None and param_name.startswith(layer_name + "."):
        return param_name[len(layer_name) + 1:]
    return param_name.rsplit(".", 1)[-1]


def param_short_names(layer):
    """Return ``{shared variable: short name}`` for the parameters of ``layer``."""
    result = {}
    used = set()
    for position, param in enumerate(layer.params):
        short = param_short_name(layer.name, param.name, position)
        _check_name(short, f"parameter of layer {layer.name!r} named")
        if short in used:
            raise ValueError(f"layer {layer.name!r} has two parameters named {short!r}")
        used.add(short)
        result[param] = short
    return result


# --------------------------------------------------------------------------
# JSON documents
# --------------------------------------------------------------------------

def to_json(value, what):
    """Serialise ``value`` to JSON; NumPy values become numbers and lists, NaN stays NaN.

    Raises
    ------
    TypeError
        Naming ``what`` if something in ``value`` cannot be serialised.
    """
    try:
        return json.dumps(to_jsonable(value, keep_nonfinite=True))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"{what} must be JSON serialisable: {exc}") from None


def _check_depth(value, limit):
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                raise ValueError(f"nested deeper than {limit} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def from_json(text, max_depth=MAX_JSON_DEPTH):
    """Parse a stored JSON document, refusing what is not text, not JSON or nested too deep.

    Raises
    ------
    ValueError
        One line saying what is wrong.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text") from None
    if not isinstance(text, str):
        raise ValueError(f"a {type(text).__name__}, not a JSON string")
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise ValueError(f"unreadable JSON ({exc})") from None
    _check_depth(value, max_depth)
    return value


# --------------------------------------------------------------------------
# RNG states
# --------------------------------------------------------------------------

#: The bit generators a stored RNG state may name: looked up here, never in ``numpy.random``.
BIT_GENERATORS = {
    "PCG64": np.random.PCG64, "PCG64DXSM": np.random.PCG64DXSM, "MT19937": np.random.MT19937,
    "Philox": np.random.Philox, "SFC64": np.random.SFC64,
}
_STATE_ARRAY_DTYPES = ("<u4", "<u8", "<i4", "<i8", "|u1")
_MAX_STATE_ARRAY = 1024
_INTEGER_STRING = re.compile(r"-?[0-9]{1,60}\Z")


def layer_rng(layer):
    """Return the shared ``numpy.random.Generator`` of a layer's RNG stream, or None."""
    rng = getattr(layer, "rng", None)
    if isinstance(rng, SharedVariable) and isinstance(rng.get_value(borrow=True),
                                                      np.random.Generator):
        return rng
    return None


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


def _decode_array(value):
    dtype, data = value["dtype"], value["data"]
    if dtype not in _STATE_ARRAY_DTYPES:
        raise ValueError(f"RNG state array dtype {dtype!r} is not one of {_STATE_ARRAY_DTYPES}")
    if (not isinstance(data, list) or len(data) > _MAX_STATE_ARRAY
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in data)):
        raise ValueError(f"RNG state array must be a list of at most {_MAX_STATE_ARRAY} integers")
    try:
        return np.asarray(data, dtype=np.dtype(dtype))
    except OverflowError:
        raise ValueError(f"RNG state array holds an integer outside {dtype}") from None


def _decode_value(value, depth=0):
    if depth > 4:
        raise ValueError("RNG state nested too deep")
    if isinstance(value, dict):
        if set(value) == {"dtype", "data"}:
            return _decode_array(value)
        return {str(key): _decode_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, str) and _INTEGER_STRING.match(value):
        return int(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"RNG state holds a {type(value).__name__}")


def decode_rng_state(text):
    """Inverse of :func:`encode_rng_state`.

    Raises
    ------
    ValueError
        If ``text`` is not such a state: its ``bit_generator`` must be one
        of :data:`BIT_GENERATORS`, its arrays short lists of integers.
    """
    state = _decode_value(from_json(text, max_depth=6))
    if not isinstance(state, dict):
        raise ValueError("RNG state is not a JSON object")
    return state


def rng_to_state(rng):
    """Return ``{"kind": ..., "state": ...}`` for a RandomState or Generator.

    The ``numpy.random`` module (the library's default global generator, as
    in Lasagne) is NumPy's global RandomState.
    """
    if rng is np.random or isinstance(rng, np.random.RandomState):
        return {"kind": "RandomState", "state": rng.get_state(legacy=False)}
    if isinstance(rng, np.random.Generator):
        return {"kind": "Generator", "state": rng.bit_generator.state}
    raise TypeError(f"expected a numpy RandomState or Generator, got {type(rng).__name__}")


def _bit_generator_class(state):
    if not isinstance(state, dict):
        raise ValueError("RNG state is not a mapping")
    name = state.get("bit_generator")
    if not isinstance(name, str) or name not in BIT_GENERATORS:
        raise ValueError(f"RNG bit generator {name!r} is not one of {', '.join(BIT_GENERATORS)}")
    return BIT_GENERATORS[name]


def _set_state(target, state):
    try:
        if isinstance(target, np.random.RandomState):
            target.set_state(state)
        else:
            target.state = state
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        # NumPy's state setters say what they found in any of these.
        raise ValueError(f"RNG state does not fit {state['bit_generator']}: {exc}") from None
    return target


def state_to_rng(record, into=None):
    """Return a generator in the state ``record`` (from :func:`rng_to_state`).

    Parameters
    ----------
    record : dict
    into : RandomState, Generator or the numpy.random module, optional
        Set in place and returned if it is of the recorded kind and bit
        generator, so that references to it see the restored state.

    Raises
    ------
    ValueError
        If the record is not a state of an allowed bit generator.
    """
    if not isinstance(record, dict) or record.get("kind") not in ("RandomState", "Generator"):
        raise ValueError("RNG record must have kind 'RandomState' or 'Generator'")
    state = record.get("state")
    bit_generator = _bit_generator_class(state)
    if record["kind"] == "RandomState":
        # Checked on a fresh generator first, so that a bad state leaves ``into`` as it was.
        fresh = _set_state(np.random.RandomState(bit_generator()), state)
        if (into is np.random or isinstance(into, np.random.RandomState)) and (
                into.get_state(legacy=False)["bit_generator"] == state["bit_generator"]):
            into.set_state(fresh.get_state(legacy=False))
            return into
        return fresh
    fresh = _set_state(bit_generator(), state)
    if (isinstance(into, np.random.Generator)
            and type(into.bit_generator).__name__ == state["bit_generator"]):
        into.bit_generator.state = fresh.state
        return into
    return np.random.Generator(fresh)
