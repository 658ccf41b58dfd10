"""Lasagne-style layers."""
from .alpha_dropout import AlphaDropoutLayer
from .base import Layer, MergeLayer
from .concrete_dropout import ConcreteDropoutLayer, concrete_dropout_regularization
from .conv import (
    Conv1DLayer,
    Conv2DLayer,
    Conv3DLayer,
    Deconv2DLayer,
    Deconv3DLayer,
    DilatedConv2DLayer,
    TransposedConv2DLayer,
    TransposedConv3DLayer,
)
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
from .normalization import (
    BatchNormLayer,
    LocalResponseNormalization2DLayer,
    StandardizationLayer,
    batch_norm,
    instance_norm,
    layer_norm,
)
from .pool import (
    FeaturePoolLayer,
    FeatureWTALayer,
    GlobalPoolLayer,
    MaxPool1DLayer,
    MaxPool2DLayer,
    MaxPool3DLayer,
    Pool1DLayer,
    Pool2DLayer,
    Pool3DLayer,
    SpatialPyramidPoolingLayer,
    Upscale1DLayer,
    Upscale2DLayer,
    Upscale3DLayer,
)
from .registry import get_layer_class, register_layer, registered_layers
from .shape import (
    DimshuffleLayer,
    FlattenLayer,
    PadLayer,
    ReshapeLayer,
    SliceLayer,
    dimshuffle,
    flatten,
    pad,
    reshape,
)
from .special import (
    BiasLayer,
    ExpressionLayer,
    InverseLayer,
    NonlinearityLayer,
    ParametricRectifierLayer,
    RandomizedRectifierLayer,
    ScaleLayer,
    TPSTransformerLayer,
    TransformerLayer,
    prelu,
    rrelu,
    standardize,
)

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
# lasagne.layers.{conv,pool,normalization,shape,special}
__all__ += [
    "Conv1DLayer", "Conv2DLayer", "Conv3DLayer", "TransposedConv2DLayer", "Deconv2DLayer",
    "TransposedConv3DLayer", "Deconv3DLayer", "DilatedConv2DLayer",
    "Pool1DLayer", "Pool2DLayer", "Pool3DLayer", "MaxPool1DLayer", "MaxPool2DLayer",
    "MaxPool3DLayer", "Upscale1DLayer", "Upscale2DLayer", "Upscale3DLayer", "FeaturePoolLayer",
    "FeatureWTALayer", "GlobalPoolLayer", "SpatialPyramidPoolingLayer",
    "BatchNormLayer", "batch_norm", "LocalResponseNormalization2DLayer", "StandardizationLayer",
    "instance_norm", "layer_norm",
    "FlattenLayer", "flatten", "ReshapeLayer", "reshape", "DimshuffleLayer", "dimshuffle",
    "PadLayer", "pad", "SliceLayer",
    "NonlinearityLayer", "BiasLayer", "ScaleLayer", "standardize", "ExpressionLayer",
    "InverseLayer", "TransformerLayer", "TPSTransformerLayer", "ParametricRectifierLayer", "prelu",
    "RandomizedRectifierLayer", "rrelu",
]
