"""Rebuilding a network from a stored architecture, with every parameter taken from the file.

Each layer is built by its class's ``from_config`` through a throwaway
subclass whose :meth:`~dropout_layers.layers.Layer.add_param` looks the
parameter up among the stored arrays *before* anything is allocated: a
config that implies another shape than the stored one (``num_units`` of
4e6 against a stored ``(30, 600)`` weight) is refused at that point, and a
parameter the file does not list is refused instead of being initialised
afresh. The layer then gets its own class back, so that the rebuilt network
is made of the registered classes and nothing else.
"""
import contextlib
from collections import OrderedDict

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable

from .. import config as dl_config
from .. import random as dl_random
from ..layers.input import InputLayer
from ..layers.registry import registered_layers
from .errors import (
    CheckpointError,
    IncompatibleCheckpointError,
    MissingEntryError,
    ShapeMismatchError,
    UnregisteredLayerError,
)
from .format import layer_rng, param_short_name, state_to_rng

__all__ = ["build_network", "cast_for", "set_layer_rngs", "check_layer_rngs"]


@contextlib.contextmanager
def _isolated_build(float_x):
    """Build layers under the checkpoint's floatX, leaving the global RNG untouched.

    Rebuilding seeds every dropout stream from the global generator; a
    throwaway generator absorbs those draws so that loading a checkpoint
    does not change later random numbers.
    """
    previous_float_x = dl_config.get_floatX()
    if float_x is not None:
        dl_config.set_floatX(float_x)
    try:
        with dl_random.seeded(0):
            yield
    finally:
        dl_config.set_floatX(previous_float_x)


def _layer_class(path, entry):
    cls = registered_layers().get(entry["class"])
    if cls is None:
        module = entry.get("module")
        where = f" (defined in module {module!r})" if module else ""
        raise UnregisteredLayerError(
            path, f"layer {entry['name']!r} has class {entry['class']!r}{where}, which is not "
                  "registered; import the module that defines it and decorate the class with "
                  "@dropout_layers.register_layer before loading"
        )
    return cls


def cast_for(path, dataset_path, value, dtype):
    """``value`` as ``dtype``, refusing a cast to another kind (float to int, say)."""
    target = np.dtype(dtype)
    if value.dtype == target:
        return value
    if not np.can_cast(value.dtype, target, casting="same_kind"):
        raise IncompatibleCheckpointError(
            path, f"dataset '{dataset_path}' has dtype {value.dtype}, which does not cast to the "
                  f"parameter's {target}"
        )
    return value.astype(target)


def _guarded_class(cls, path, layer_name, stored):
    """Return a subclass of ``cls`` whose ``add_param`` takes each value from ``stored``.

    Also returns the dict it fills, short name -> created parameter.
    """
    created = OrderedDict()

    def add_param(self, spec, shape, name=None, **tags):
        full_name = f"{self.name}.{name}" if name is not None and self.name is not None else name
        short = param_short_name(self.name, full_name, len(self.params))
        shape = tuple(shape)
        if short not in stored:
            raise MissingEntryError(
                path, f"layer {layer_name!r} ({cls.__name__}) needs parameter {short!r} of shape "
                      f"{shape}, which the file does not list; every parameter must come from the "
                      "file, so none is initialised afresh"
            )
        dataset_path, value, dtype = stored[short]
        if shape != value.shape:
            raise ShapeMismatchError(
                path, f"layer {layer_name!r} ({cls.__name__}) rebuilt from its config needs "
                      f"parameter {short!r} of shape {shape}, but dataset '{dataset_path}' has "
                      f"shape {value.shape}"
            )
        if isinstance(spec, SharedVariable):
            spec.set_value(cast_for(path, dataset_path, value, spec.dtype), borrow=True)
            value = spec
        elif isinstance(spec, Variable):
            raise IncompatibleCheckpointError(
                path, f"layer {layer_name!r} ({cls.__name__}) makes parameter {short!r} from an "
                      "expression, which a checkpoint cannot fill"
            )
        else:
            value = cast_for(path, dataset_path, value, dtype)
        param = cls.add_param(self, value, shape, name, **tags)
        created[short] = param
        return param

    namespace = {"add_param": add_param, "__slots__": (), "__module__": cls.__module__,
                 "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
    return type(cls.__name__, (cls,), namespace), created


def _construct(path, entry, guard, source):
    try:
        return guard.from_config(source, dict(entry["config"]))
    except CheckpointError:
        raise
    except Exception as exc:  # whatever a layer's constructor says about a bad config
        raise IncompatibleCheckpointError(
            path, f"cannot rebuild layer {entry['name']!r} ({entry['class']}) from its config: "
                  f"{type(exc).__name__}: {exc}"
        ) from None


def _build_layer(path, entry, built, stored):
    cls = _layer_class(path, entry)
    guard, created = _guarded_class(cls, path, entry["name"], stored)
    incoming = [built[ref] if isinstance(ref, int) else tuple(ref["shape"])
                for ref in entry["incoming"]]
    source = incoming if entry.get("merge") else (incoming[0] if incoming else None)
    layer = _construct(path, entry, guard, source)
    if type(layer) is not guard:
        raise IncompatibleCheckpointError(
            path, f"{cls.__name__}.from_config returned a {type(layer).__name__}, not a layer of "
                  "its own class, so its parameters cannot be checked against the file"
        )
    layer.__class__ = cls
    unused = [short for short in stored if short not in created]
    if unused:
        raise IncompatibleCheckpointError(path, f"layer {entry['name']!r} rebuilt from its config "
                                                f"has no parameter {unused[0]!r}")
    if len(layer.params) != len(created):
        raise IncompatibleCheckpointError(path, f"layer {entry['name']!r} ({cls.__name__}) has "
                                                "parameters that were not made with add_param")
    input_dtype = entry.get("input_dtype")
    if isinstance(layer, InputLayer) and input_dtype and layer.input_var.dtype != input_dtype:
        layer.input_var = pt.tensor(name=layer.input_var.name, dtype=input_dtype,
                                    shape=layer.shape)
    return layer


def build_network(path, architecture, params):
    """Rebuild the layers an architecture describes, with the stored parameters.

    Parameters
    ----------
    path : str
        For the messages.
    architecture : dict
        Checked by :func:`~dropout_layers.checkpoint.schema.check_architecture`.
    params : dict
        ``(layer name, param name) -> (dataset path, array, dtype)``, the
        arrays already checked against the architecture, ``dtype`` the
        parameter's own (the array may be stored as float16).

    Returns
    -------
    network : Layer or list of Layer
    layers : OrderedDict
        Checkpoint name -> layer, in topological order.
    """
    by_layer = {}
    for (layer_name, short), (dataset_path, value, dtype) in params.items():
        by_layer.setdefault(layer_name, OrderedDict())[short] = (dataset_path, value, dtype)
    built = []
    with _isolated_build(architecture.get("floatX")):
        for entry in architecture["layers"]:
            built.append(_build_layer(path, entry, built, by_layer.get(entry["name"], {})))
    layers = OrderedDict((entry["name"], layer)
                         for entry, layer in zip(architecture["layers"], built))
    outputs = [built[index] for index in architecture["outputs"]]
    return (outputs if architecture.get("output_is_list") else outputs[0]), layers


def check_layer_rngs(path, layers, rng_states):
    """Refuse a network with a stochastic layer whose stream the file does not store."""
    for name, layer in layers.items():
        if layer_rng(layer) is not None and name not in rng_states:
            raise IncompatibleCheckpointError(path, f"no RNG state stored for stochastic layer "
                                                    f"{name!r}")


def set_layer_rngs(path, layers, rng_states, strict):
    """Set each stochastic layer's stream to its stored (already checked) state."""
    if strict:
        check_layer_rngs(path, layers, rng_states)
    for name, layer in layers.items():
        shared = layer_rng(layer)
        if shared is not None and name in rng_states:
            generator = state_to_rng({"kind": "Generator", "state": rng_states[name]})
            shared.set_value(generator, borrow=True)
