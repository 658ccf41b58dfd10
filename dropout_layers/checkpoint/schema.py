"""The shape of a stored architecture, checked before any layer is built.

:func:`check_architecture` accepts exactly what
:func:`~dropout_layers.checkpoint.save.describe_network` writes: a non-empty
list of layers in topological order (each input refers to an earlier
layer), with string names and classes, dict configs and parameter lists of
integer shapes and numeric dtypes. Anything else is refused with one line
naming the layer and the field, so that a hand-edited or hostile file never
reaches a layer's constructor with values of the wrong type.
"""
import numpy as np

__all__ = ["check_architecture", "PARAM_DTYPES", "check_dtype_name"]

#: Dtypes a parameter or an input may have.
PARAM_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                "uint16", "uint32", "uint64", "bool")
_FLOAT_X = ("float32", "float64")
_MAX_RANK = 32


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _where(index, entry):
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"layer {index}" + (f" ({name!r})" if isinstance(name, str) else "")


def check_dtype_name(value, what):
    """Return ``value`` if it names one of :data:`PARAM_DTYPES`, else raise ValueError."""
    if not isinstance(value, str) or value not in PARAM_DTYPES:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(PARAM_DTYPES)}")
    return value


def _check_shape(shape, what, allow_none):
    if not isinstance(shape, list) or len(shape) > _MAX_RANK:
        raise ValueError(f"{what} must be a list of at most {_MAX_RANK} sizes, got {shape!r}")
    for size in shape:
        if size is None and allow_none:
            continue
        if not _is_int(size) or size < (1 if allow_none else 0):
            raise ValueError(f"{what} {shape!r} holds {size!r}, not a size")


def _check_incoming(where, index, incoming, merge):
    if not isinstance(incoming, list):
        raise ValueError(f"{where}: 'incoming' must be a list")
    if not merge and len(incoming) > 1:
        raise ValueError(f"{where}: {len(incoming)} inputs for a layer that takes one")
    for ref in incoming:
        if isinstance(ref, dict) and set(ref) == {"shape"}:
            _check_shape(ref["shape"], f"{where}: input shape", allow_none=True)
        elif not _is_int(ref):
            raise ValueError(f"{where}: input {ref!r} is neither a layer index nor a shape")
        elif ref == index:
            raise ValueError(f"{where}: takes its input from itself")
        elif not 0 <= ref < index:
            raise ValueError(f"{where}: input {ref} is not an earlier layer (the layers are stored "
                             f"in topological order, so inputs lie in 0..{index - 1})")


def _check_params(where, params):
    if not isinstance(params, list):
        raise ValueError(f"{where}: 'params' must be a list")
    names = set()
    for spec in params:
        if not isinstance(spec, dict):
            raise ValueError(f"{where}: a parameter entry is a {type(spec).__name__}, not a dict")
        name = spec.get("name")
        if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
            raise ValueError(f"{where}: parameter name {name!r} is not a valid name")
        if name in names:
            raise ValueError(f"{where}: parameter {name!r} is listed twice")
        names.add(name)
        _check_shape(spec.get("shape"), f"{where}: parameter {name!r} shape", allow_none=False)
        check_dtype_name(spec.get("dtype"), f"{where}: parameter {name!r} dtype")
        tags = spec.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ValueError(f"{where}: parameter {name!r} tags must be a list of strings")


def _check_entry(index, entry, names):
    where = _where(index, entry)
    if not isinstance(entry, dict):
        raise ValueError(f"{where} is a {type(entry).__name__}, not a dict")
    name = entry.get("name")
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(f"{where}: name {name!r} is not a valid layer name")
    if name in names:
        raise ValueError(f"{where}: the name {name!r} is used twice")
    names.add(name)
    for key in ("class", "module"):
        value = entry.get(key, "" if key == "module" else None)
        if not isinstance(value, str) or (key == "class" and not value):
            raise ValueError(f"{where}: '{key}' must be a string, got {value!r}")
    config = entry.get("config")
    if not isinstance(config, dict) or not all(isinstance(key, str) for key in config):
        raise ValueError(f"{where}: 'config' must be a dict with string keys")
    merge = entry.get("merge", False)
    if not isinstance(merge, bool):
        raise ValueError(f"{where}: 'merge' must be true or false")
    _check_incoming(where, index, entry.get("incoming"), merge)
    _check_params(where, entry.get("params"))
    if "input_dtype" in entry:
        check_dtype_name(entry["input_dtype"], f"{where}: input_dtype")


def check_architecture(architecture):
    """Check a stored architecture's structure, types and wiring.

    Parameters
    ----------
    architecture : object
        As parsed from the ``architecture`` attribute.

    Raises
    ------
    ValueError
        One line naming the layer and the field at fault.
    """
    if not isinstance(architecture, dict):
        raise ValueError(f"the architecture is a {type(architecture).__name__}, not a dict")
    layers = architecture.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("the architecture lists no layers")
    names = set()
    for index, entry in enumerate(layers):
        _check_entry(index, entry, names)
    outputs = architecture.get("outputs")
    if not isinstance(outputs, list) or not outputs:
        raise ValueError("the architecture names no output layers")
    for ref in outputs:
        if not _is_int(ref) or not 0 <= ref < len(layers):
            raise ValueError(f"output {ref!r} is not a layer index in 0..{len(layers) - 1}")
    as_list = architecture.get("output_is_list", False)
    if not isinstance(as_list, bool):
        raise ValueError("'output_is_list' must be true or false")
    if not as_list and len(outputs) != 1:
        raise ValueError(f"{len(outputs)} outputs, but 'output_is_list' is false")
    float_x = architecture.get("floatX")
    if float_x is not None and float_x not in _FLOAT_X:
        raise ValueError(f"floatX {float_x!r} is not one of {', '.join(_FLOAT_X)}")
