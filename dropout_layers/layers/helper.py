"""Functions that work on whole networks of layers."""
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from ..utils import unique
from .base import MergeLayer
from .input import InputLayer

__all__ = [
    "get_all_layers", "get_output", "get_output_shape", "get_all_params", "count_params",
    "get_all_param_values", "set_all_param_values",
]


def _incoming(layer):
    if isinstance(layer, MergeLayer):
        return [l for l in layer.input_layers if l is not None]
    return [layer.input_layer] if getattr(layer, "input_layer", None) is not None else []


def get_all_layers(layer, treat_as_input=None):
    """Return every layer the given layer(s) depend on, inputs first.

    Parameters
    ----------
    layer : Layer or list of Layer
    treat_as_input : list of Layer, optional
        Layers whose own inputs are not followed.

    Returns
    -------
    list of Layer
        Topologically sorted: each layer comes after all its inputs.
    """
    roots = list(layer) if isinstance(layer, (list, tuple)) else [layer]
    stop = set(treat_as_input or ())
    order, done, on_stack = [], set(), set()
    stack = [(l, False) for l in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if node in done:
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
            stack.extend((l, False) for l in reversed(_incoming(node)) if l not in done)
    return order


def _input_expression(layer, expr):
    if not isinstance(expr, Variable):
        expr = pt.as_tensor_variable(np.asarray(expr, dtype=layer.input_var.dtype))
    if expr.ndim != len(layer.shape):
        raise ValueError(
            f"input for layer {layer.name or 'InputLayer'!r} has {expr.ndim} dimensions, but the layer "
            f"expects shape {layer.shape} ({len(layer.shape)} dimensions)"
        )
    return expr


def get_output(layer_or_layers, inputs=None, **kwargs):
    """Return the symbolic output of one or several layers.

    Parameters
    ----------
    layer_or_layers : Layer or list of Layer
    inputs : None, Variable, array or dict
        ``None`` uses the input layers' variables; a single expression feeds
        the network's only input layer; a dict maps layers to expressions
        that replace their outputs.
    **kwargs
        Passed to every layer's ``get_output_for``; ``deterministic=True``
        switches stochastic layers to test behaviour.

    Returns
    -------
    Variable or list of Variable
    """
    layers = get_all_layers(layer_or_layers)
    if isinstance(inputs, dict):
        given = dict(inputs)
    else:
        given = {}
        if inputs is not None:
            input_layers = [l for l in layers if isinstance(l, InputLayer)]
            if len(input_layers) != 1:
                raise ValueError(
                    f"a single input expression was given but the network has {len(input_layers)} input "
                    "layers; pass a dict {input_layer: expression}"
                )
            given[input_layers[0]] = inputs
    outputs = {}
    for layer, expr in given.items():
        outputs[layer] = _input_expression(layer, expr) if isinstance(layer, InputLayer) else expr
    for layer in layers:
        if layer in outputs:
            continue
        if isinstance(layer, InputLayer):
            outputs[layer] = layer.input_var
            continue
        if isinstance(layer, MergeLayer):
            if any(l is None for l in layer.input_layers):
                raise ValueError(f"layer {layer!r} was built from shapes, so get_output needs its inputs in a dict")
            layer_inputs = [outputs[l] for l in layer.input_layers]
        else:
            if layer.input_layer is None:
                raise ValueError(f"layer {layer!r} was built from a shape, so get_output needs its input in a dict")
            layer_inputs = outputs[layer.input_layer]
        outputs[layer] = layer.get_output_for(layer_inputs, **kwargs)
    if isinstance(layer_or_layers, (list, tuple)):
        return [outputs[l] for l in layer_or_layers]
    return outputs[layer_or_layers]


def get_output_shape(layer_or_layers, input_shapes=None):
    """Return the output shape of one or several layers.

    Parameters
    ----------
    layer_or_layers : Layer or list of Layer
    input_shapes : None, tuple or dict
        Like ``inputs`` of :func:`get_output`, with shapes.
    """
    if input_shapes is None:
        if isinstance(layer_or_layers, (list, tuple)):
            return [l.output_shape for l in layer_or_layers]
        return layer_or_layers.output_shape
    layers = get_all_layers(layer_or_layers)
    if isinstance(input_shapes, dict):
        shapes = dict(input_shapes)
    else:
        input_layers = [l for l in layers if isinstance(l, InputLayer)]
        if len(input_layers) != 1:
            raise ValueError(f"one input shape was given but the network has {len(input_layers)} input layers")
        shapes = {input_layers[0]: tuple(input_shapes)}
    for layer in layers:
        if layer in shapes:
            continue
        if isinstance(layer, InputLayer):
            shapes[layer] = layer.shape
        elif isinstance(layer, MergeLayer):
            shapes[layer] = layer.get_output_shape_for([shapes[l] for l in layer.input_layers])
        else:
            shapes[layer] = layer.get_output_shape_for(shapes[layer.input_layer])
    if isinstance(layer_or_layers, (list, tuple)):
        return [shapes[l] for l in layer_or_layers]
    return shapes[layer_or_layers]


def get_all_params(layer, unwrap_shared=True, **tags):
    """Return the parameters of a network, filtered by tags.

    Parameters
    ----------
    layer : Layer or list of Layer
    **tags
        As for :meth:`Layer.get_params`, e.g. ``trainable=True``.
    """
    layers = get_all_layers(layer)
    return unique(p for l in layers for p in l.get_params(**tags))


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
        raise ValueError(f"set_all_param_values: got {len(values)} values for {len(params)} parameters")
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
