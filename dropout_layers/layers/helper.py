"""Functions that work on whole networks of layers."""
import warnings
from difflib import get_close_matches

import numpy as np
from pytensor.graph.basic import Variable

from ..utils import as_pytensor_expression, inspect_kwargs, unique
from .base import Layer, MergeLayer
from .input import InputLayer

__all__ = [
    "get_all_layers", "get_output", "get_output_shape", "get_all_params", "count_params",
    "get_all_param_values", "set_all_param_values", "UnusedKwargsWarning",
]


def _incoming(layer):
    # As Lasagne: whatever has ``input_layers`` merges, whatever has an
    # ``input_layer`` has one input, anything else (an InputLayer) has none.
    if isinstance(layer, InputLayer):
        return []
    if hasattr(layer, "input_layers"):
        return list(layer.input_layers)
    if hasattr(layer, "input_layer"):
        return [layer.input_layer]
    return []


def get_all_layers(layer, treat_as_input=None):
    """Return every layer the given layer(s) depend on, inputs first.

    Parameters
    ----------
    layer : Layer or list of Layer
    treat_as_input : iterable of Layer, optional
        Layers whose own inputs are not followed (unless another layer
        needs them).

    Returns
    -------
    list of Layer
        Topologically sorted: each layer comes after all its inputs.

    Examples
    --------
    >>> from dropout_layers.layers import DenseLayer, InputLayer
    >>> l_in = InputLayer((None, 3))
    >>> l_out = DenseLayer(DenseLayer(l_in, 4), 2)
    >>> get_all_layers(l_out)[0] is l_in
    True
    """
    roots = list(layer) if isinstance(layer, (list, tuple)) else [layer]
    stop = set(treat_as_input or ())
    order, done, on_stack = [], set(), set()
    stack = [(lay, False) for lay in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if node is None or node in done:
            continue
        if expanded:
            on_stack.discard(node)
            done.add(node)
            order.append(node)
            continue
        if node in on_stack:
            continue
        on_stack.add(node)
        stack.append((node, True))
        if node not in stop:
            stack.extend((lay, False) for lay in reversed(_incoming(node)) if lay not in done)
    return order


class UnusedKwargsWarning(UserWarning):
    """:func:`get_output` was given keyword arguments that no layer uses.

    A misspelt ``determinstic=True`` would otherwise build a training graph
    silently. Make it an error with
    ``warnings.simplefilter("error", UnusedKwargsWarning)``.
    """


def _accepted_kwargs(layer):
    names = set(getattr(layer, "get_output_kwargs", ()) or ())
    try:
        names.update(inspect_kwargs(layer.get_output_for))
    except (TypeError, ValueError):
        pass  # a callable whose signature cannot be read
    return names


def _warn_unused(kwargs, accepted):
    unused = sorted(set(kwargs) - accepted)
    if not unused:
        return
    described = []
    for name in unused:
        close = get_close_matches(name, sorted(accepted), n=1)
        described.append(f"{name} (perhaps you meant {close[0]})" if close else name)
    warnings.warn(
        "get_output() was called with keyword arguments no layer uses: " + ", ".join(described),
        UnusedKwargsWarning,
        stacklevel=3,
    )


def _input_expression(layer, expr):
    """Return the replacement of an input layer's output: arrays cast to its dtype, rank checked."""
    if not isinstance(expr, Variable):
        input_var = getattr(layer, "input_var", None)
        if isinstance(input_var, Variable):
            expr = np.asarray(expr, dtype=input_var.dtype)
    expr = as_pytensor_expression(expr)
    shape = getattr(layer, "shape", None)
    if isinstance(shape, tuple) and getattr(expr, "ndim", len(shape)) != len(shape):
        raise ValueError(
            f"input for layer {layer.name or 'InputLayer'!r} has {expr.ndim} dimensions, but the "
            f"layer expects shape {shape} ({len(shape)} dimensions)"
        )
    return expr


def _given_outputs(layers, inputs):
    """Return the expressions that replace layers' outputs: from a dict, or the one input."""
    if isinstance(inputs, dict):
        for key in inputs:
            if key is not None and not isinstance(key, Layer):
                raise TypeError(
                    f"the keys of the inputs dict must be layers, got {type(key).__name__}"
                )
        return {
            layer: _input_expression(layer, expr) if isinstance(layer, InputLayer)
            else as_pytensor_expression(expr)
            for layer, expr in inputs.items()
        }
    outputs = {}
    input_layers = [lay for lay in layers if isinstance(lay, InputLayer)]
    if inputs is not None:
        if len(input_layers) > 1:
            raise ValueError(
                f"a single input expression was given but the network has {len(input_layers)} "
                "input layers; pass a dict {input_layer: expression}"
            )
        outputs.update((lay, _input_expression(lay, inputs)) for lay in input_layers)
    return outputs


def _layer_inputs(layer, outputs):
    if isinstance(layer, MergeLayer):
        sources = list(layer.input_layers)
    else:
        sources = [layer.input_layer]
    missing = [s for s in sources if s not in outputs]
    if missing:
        raise ValueError(
            f"get_output() got no input expression for {type(layer).__name__} {layer.name!r}, "
            "which was built from a shape; map it (or None) to an expression in the inputs dict"
        )
    values = [outputs[s] for s in sources]
    return values if isinstance(layer, MergeLayer) else values[0]


def get_output(layer_or_layers, inputs=None, **kwargs):
    """Return the symbolic output of one or several layers.

    Parameters
    ----------
    layer_or_layers : Layer or list of Layer
    inputs : None, Variable, array or dict
        ``None`` uses the input layers' variables; a single expression (or
        array) feeds the network's only input layer; a dict maps layers to
        expressions that replace their outputs (the key ``None`` feeds a
        layer that was built from a shape).
    **kwargs
        Passed to every layer's ``get_output_for``; ``deterministic=True``
        switches stochastic layers to test behaviour.

    Returns
    -------
    Variable or list of Variable

    Warns
    -----
    UnusedKwargsWarning
        If a keyword argument is used by no layer (neither named in a
        ``get_output_for`` signature nor listed in a layer's
        ``get_output_kwargs``), with the closest accepted name, for example
        ``determinstic (perhaps you meant deterministic)``. Lasagne warns
        the same way.

    Notes
    -----
    ``get_output([l1, l2])`` builds one graph, so a dropout layer below both
    draws one mask for both outputs; ``[get_output(l1), get_output(l2)]``
    draws two.
    """
    treat_as_input = list(inputs.keys()) if isinstance(inputs, dict) else []
    layers = get_all_layers(layer_or_layers, treat_as_input)
    outputs = {
        lay: lay.input_var
        for lay in layers
        if isinstance(lay, InputLayer) and lay not in treat_as_input
    }
    outputs.update(_given_outputs(layers, inputs))
    accepted = {"deterministic"}
    for layer in layers:
        if layer in outputs:
            continue
        outputs[layer] = layer.get_output_for(_layer_inputs(layer, outputs), **kwargs)
        accepted |= _accepted_kwargs(layer)
    _warn_unused(kwargs, accepted)
    if isinstance(layer_or_layers, (list, tuple)):
        return [outputs[lay] for lay in layer_or_layers]
    return outputs[layer_or_layers]


def _given_shapes(layers, input_shapes):
    if isinstance(input_shapes, dict):
        return dict(input_shapes)
    input_layers = [lay for lay in layers if isinstance(lay, InputLayer)]
    if len(input_layers) > 1:
        raise ValueError(
            f"one input shape was given but the network has {len(input_layers)} input layers; "
            "pass a dict {input_layer: shape}"
        )
    return {lay: input_shapes for lay in input_layers}


def get_output_shape(layer_or_layers, input_shapes=None):
    """Return the output shape of one or several layers.

    Parameters
    ----------
    layer_or_layers : Layer or list of Layer
    input_shapes : None, tuple or dict
        Like ``inputs`` of :func:`get_output`, with shapes: ``None`` (or an
        empty dict) gives the layers' own ``output_shape``.

    Returns
    -------
    tuple or list of tuple
    """
    if input_shapes is None or (isinstance(input_shapes, dict) and not input_shapes):
        if isinstance(layer_or_layers, (list, tuple)):
            return [lay.output_shape for lay in layer_or_layers]
        return layer_or_layers.output_shape
    treat_as_input = list(input_shapes.keys()) if isinstance(input_shapes, dict) else []
    layers = get_all_layers(layer_or_layers, treat_as_input)
    inputs = [lay for lay in layers if isinstance(lay, InputLayer) and lay not in treat_as_input]
    shapes = {lay: lay.shape for lay in inputs}
    shapes.update(_given_shapes(layers, input_shapes))
    for layer in layers:
        if layer in shapes:
            continue
        if isinstance(layer, MergeLayer):
            shapes[layer] = layer.get_output_shape_for([shapes[lay] for lay in layer.input_layers])
        else:
            shapes[layer] = layer.get_output_shape_for(shapes[layer.input_layer])
    if isinstance(layer_or_layers, (list, tuple)):
        return [shapes[lay] for lay in layer_or_layers]
    return shapes[layer_or_layers]


def get_all_params(layer, unwrap_shared=True, **tags):
    """Return the parameters of a network, filtered by tags.

    Parameters
    ----------
    layer : Layer or list of Layer
    unwrap_shared : bool
        Return the shared variables inside parameter expressions (``True``)
        or the expressions themselves; see :meth:`Layer.get_params`.
    **tags
        As for :meth:`Layer.get_params`, e.g. ``trainable=True``.

    Returns
    -------
    list
        Without duplicates, inputs' parameters first.
    """
    layers = get_all_layers(layer)
    return unique(p for lay in layers for p in lay.get_params(unwrap_shared=unwrap_shared, **tags))


def count_params(layer, **tags):
    """Return the number of scalar parameters of a network."""
    return int(sum(np.prod(p.get_value(borrow=True).shape) for p in get_all_params(layer, **tags)))


def get_all_param_values(layer, **tags):
    """Return copies of the values of a network's parameters."""
    return [p.get_value() for p in get_all_params(layer, **tags)]


def set_all_param_values(layer, values, **tags):
    """Set the values of a network's parameters.

    Parameters
    ----------
    layer : Layer or list of Layer
    values : list of numpy arrays
        In the order of :func:`get_all_params`.
    **tags

    Raises
    ------
    ValueError
        If the number of values or any shape differs from the parameters.
    """
    params = get_all_params(layer, **tags)
    values = list(values)
    if len(params) != len(values):
        raise ValueError(
            f"set_all_param_values: got {len(values)} values for {len(params)} parameters"
        )
    for i, (param, value) in enumerate(zip(params, values)):
        expected = param.get_value(borrow=True).shape
        value = np.asarray(value)
        if value.shape != expected:
            raise ValueError(
                f"set_all_param_values: value {i} for parameter {param.name or '?'!r} has shape "
                f"{value.shape}, expected {expected}"
            )
    for param, value in zip(params, values):
        param.set_value(np.asarray(value, dtype=param.dtype))
