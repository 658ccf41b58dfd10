"""Weight penalties, as in Lasagne.

A penalty is a function of one tensor returning a scalar (:func:`l1`,
:func:`l2`). The helpers apply it to the parameters of layers, selected by
tags; by default only those tagged ``regularizable`` (weights, not biases).
Add the result, times a coefficient, to the training loss.

Examples
--------
The Higgs challenge winner penalised only the weights of the first hidden
layer, with L1 5e-6 and L2 5e-5. With ``l_hidden1`` the first
:class:`~dropout_layers.layers.DenseLayer` after the input::

    penalty = (regularize_layer_params_weighted({l_hidden1: 5e-6}, l1)
               + regularize_layer_params_weighted({l_hidden1: 5e-5}, l2))
    loss = aggregate(binary_crossentropy(prediction, target_var)) + penalty

Coefficients given in the dictionary are cast to the penalty's dtype. When
multiplying by hand, write ``np.float32(5e-6) * regularize_layer_params(...)``
for a float32 network: a bare Python float such as ``5e-6`` becomes a float64
constant in PyTensor and upcasts the whole loss.
"""
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from .layers import Layer, get_all_params

__all__ = [
    "l1",
    "l2",
    "apply_penalty",
    "regularize_layer_params",
    "regularize_layer_params_weighted",
    "regularize_network_params",
]


def l1(x):
    """L1 penalty: the sum of absolute values of ``x``."""
    return pt.sum(abs(pt.as_tensor_variable(x)))


def l2(x):
    """L2 penalty: the sum of squares of ``x`` (no square root, no 1/2)."""
    return pt.sum(pt.sqr(pt.as_tensor_variable(x)))


def apply_penalty(tensor_or_tensors, penalty, **kwargs):
    """Apply a penalty to one tensor, or sum it over several.

    Parameters
    ----------
    tensor_or_tensors : TensorVariable or iterable of TensorVariable
    penalty : callable
        Maps a tensor to a scalar, for example :func:`l2`.
    **kwargs
        Passed on to ``penalty``.

    Returns
    -------
    TensorVariable or int
        Scalar: ``0 + penalty(x1) + penalty(x2) + ...`` as Python's ``sum``
        builds it (the integer 0 keeps a float32 sum float32), so an empty
        list gives the number 0, as in Lasagne.
    """
    if isinstance(tensor_or_tensors, (Variable, np.ndarray)):
        return penalty(tensor_or_tensors, **kwargs)
    return sum(penalty(x, **kwargs) for x in tensor_or_tensors)


def _weighted(coefficient, term):
    if isinstance(term, Variable) and not isinstance(coefficient, Variable):
        coefficient = pt.constant(np.asarray(coefficient, dtype=term.dtype))
    return coefficient * term


def regularize_layer_params(layer, penalty, tags={"regularizable": True}, **kwargs):
    """Penalty over the parameters of one layer or a list of layers.

    Parameters
    ----------
    layer : Layer or list of Layer
    penalty : callable
    tags : dict
        Tag filter for ``layer.get_params(**tags)``; by default only
        regularizable parameters.
    **kwargs
        Passed on to ``penalty``.

    Returns
    -------
    TensorVariable
        Scalar.
    """
    layers = [layer] if isinstance(layer, Layer) else list(layer)
    params = []
    for each in layers:
        params.extend(each.get_params(**tags))
    return apply_penalty(params, penalty, **kwargs)


def regularize_layer_params_weighted(layers, penalty, tags={"regularizable": True}, **kwargs):
    """Weighted sum of a penalty over the parameters of several layers.

    Parameters
    ----------
    layers : dict
        Maps each layer to its coefficient (a number or a symbolic scalar;
        numbers are cast to the penalty's dtype).
    penalty : callable
    tags : dict
        Tag filter for ``layer.get_params(**tags)``.
    **kwargs
        Passed on to ``penalty``.

    Returns
    -------
    TensorVariable
        Scalar: ``sum(coeff * penalty(params of layer))``.
    """
    if not isinstance(layers, dict):
        raise TypeError(
            f"layers must be a dict mapping layers to coefficients, got {type(layers).__name__}"
        )
    return sum(
        _weighted(coefficient, apply_penalty(layer.get_params(**tags), penalty, **kwargs))
        for layer, coefficient in layers.items()
    )


def regularize_network_params(layer, penalty, tags={"regularizable": True}, **kwargs):
    """Penalty over the parameters of a whole network.

    Parameters
    ----------
    layer : Layer or list of Layer
        Output layer(s) of the network; every layer below is included.
    penalty : callable
    tags : dict
        Tag filter for :func:`~dropout_layers.layers.get_all_params`; by
        default only regularizable parameters.
    **kwargs
        Passed on to ``penalty``.

    Returns
    -------
    TensorVariable
        Scalar.
    """
    return apply_penalty(get_all_params(layer, **tags), penalty, **kwargs)
