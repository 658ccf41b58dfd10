"""Lasagne-style layers."""
from .alpha_dropout import AlphaDropoutLayer
from .base import Layer, MergeLayer
from .concrete_dropout import ConcreteDropoutLayer, concrete_dropout_regularization
from .dense import DenseLayer, NINLayer, ReLUDenseLayer
from .dropconnect import DropConnectDenseLayer
from .gaussian_dropout import GaussianDropoutLayer
from .helper import (
    UnusedKwargsWarning,
    count_params,
    get_all_layers,
    get_all_param_values,
    get_all_params,
    get_output,
    get_output_shape,
    set_all_param_values,
)
from .input import InputLayer
from .merge import (
    ConcatLayer,
    ElemwiseMergeLayer,
    ElemwiseSumLayer,
    autocrop,
    autocrop_array_shapes,
    concat,
)
from .noise import (
    DropoutLayer,
    GaussianNoiseLayer,
    SwitchDropoutLayer,
    dropout,
    dropout_channels,
    dropout_locations,
    spatial_dropout,
)
from .registry import get_layer_class, register_layer, registered_layers

__all__ = [
    "Layer", "MergeLayer", "InputLayer", "DenseLayer", "ReLUDenseLayer", "ConcatLayer",
    "ElemwiseSumLayer",
    "SwitchDropoutLayer", "DropoutLayer", "dropout", "dropout_channels", "spatial_dropout",
    "dropout_locations", "GaussianNoiseLayer", "GaussianDropoutLayer", "AlphaDropoutLayer",
    "DropConnectDenseLayer", "ConcreteDropoutLayer", "concrete_dropout_regularization",
    "get_all_layers", "get_output", "get_output_shape", "get_all_params",
    "count_params", "get_all_param_values", "set_all_param_values", "register_layer",
    "get_layer_class", "registered_layers",
    # Lasagne's names in dense, merge and helper
    "NINLayer", "ElemwiseMergeLayer", "autocrop", "autocrop_array_shapes", "concat",
    "UnusedKwargsWarning",
]
