"""Networks of convolution, pooling, normalisation, shape and special layers survive a checkpoint.

``save_checkpoint`` stores each layer's config and parameters; ``load_checkpoint`` rebuilds the
network from the file alone, and its deterministic outputs must equal the original's exactly.
"""

import numpy as np
import pytensor
import pytest
from pytensor.compile.mode import Mode

from dropout_layers.checkpoint import load_checkpoint, save_checkpoint
from dropout_layers.layers import (
    BatchNormLayer,
    Conv1DLayer,
    Conv2DLayer,
    DenseLayer,
    DilatedConv2DLayer,
    DimshuffleLayer,
    ExpressionLayer,
    FeaturePoolLayer,
    FeatureWTALayer,
    FlattenLayer,
    GlobalPoolLayer,
    InputLayer,
    LocalResponseNormalization2DLayer,
    MaxPool1DLayer,
    MaxPool2DLayer,
    NonlinearityLayer,
    PadLayer,
    Pool2DLayer,
    RandomizedRectifierLayer,
    ReshapeLayer,
    SliceLayer,
    SpatialPyramidPoolingLayer,
    TransposedConv2DLayer,
    Upscale2DLayer,
    batch_norm,
    get_all_layers,
    get_all_params,
    get_output,
    prelu,
    standardize,
)
from dropout_layers.nonlinearities import tanh
from dropout_layers.utils import floatX

PY = Mode(linker="py", optimizer=None)


def image_network():
    l_in = InputLayer((None, 1, 8, 8), name="image")
    layer = standardize(l_in, floatX([0.5]), floatX([2.0]), shared_axes="auto")
    layer = PadLayer(layer, 1)
    layer = batch_norm(Conv2DLayer(layer, 4, 3, pad="same", name="conv"))
    layer = MaxPool2DLayer(layer, 2)
    layer = Upscale2DLayer(layer, 2, mode="dilate")
    layer = TransposedConv2DLayer(layer, 3, 3, stride=1, crop=1)
    layer = DilatedConv2DLayer(layer, 4, 3, dilation=2)
    layer = LocalResponseNormalization2DLayer(layer, n=3)
    layer = Pool2DLayer(layer, 2, stride=1, mode="average_exc_pad", pad=1)
    layer = FeaturePoolLayer(layer, 2)
    layer = prelu(BatchNormLayer(layer, alpha=0.3))
    pyramid = SpatialPyramidPoolingLayer(layer, [2, 1])
    layer = GlobalPoolLayer(layer)
    return [DenseLayer(layer, 3, nonlinearity=tanh, name="out"), pyramid]


def sequence_network():
    l_in = InputLayer((None, 12), name="sequence")
    layer = ReshapeLayer(l_in, ([0], 2, 6))
    layer = Conv1DLayer(layer, 4, 3, stride=1, pad="full", untie_biases=True)
    layer = MaxPool1DLayer(layer, 2, ignore_border=False)
    layer = RandomizedRectifierLayer(layer, seed=5)
    layer = FeatureWTALayer(layer, 2)
    layer = DimshuffleLayer(layer, (0, 2, 1))
    layer = SliceLayer(layer, slice(0, 3), axis=1)
    layer = NonlinearityLayer(FlattenLayer(layer), tanh)
    return DenseLayer(layer, 2, nonlinearity=None)


def perturb(network, rng):
    """Give every parameter, batch-norm statistics included, values away from its initialisation."""
    for param in get_all_params(network):
        value = param.get_value()
        param.set_value((value + rng.uniform(0.1, 0.5, value.shape)).astype(value.dtype))


def deterministic_outputs(network, input_layers, inputs):
    outputs = get_output(network, deterministic=True)
    fn = pytensor.function([layer.input_var for layer in input_layers], outputs, mode=PY)
    return fn(*inputs)


@pytest.mark.parametrize(
    "build, shape", [(image_network, (5, 1, 8, 8)), (sequence_network, (5, 12))]
)
def test_round_trip_gives_identical_deterministic_outputs(tmp_path, build, shape):
    rng = np.random.default_rng(0)
    network = build()
    perturb(network, rng)
    input_layer = [layer for layer in get_all_layers(network) if isinstance(layer, InputLayer)]
    x = rng.standard_normal(shape).astype("float32")
    before = deterministic_outputs(network, input_layer, [x])
    save_checkpoint(tmp_path / "net.h5", network)
    loaded = load_checkpoint(tmp_path / "net.h5")
    assert [type(layer).__name__ for layer in loaded.layers.values()] == [
        type(layer).__name__ for layer in get_all_layers(network)
    ]
    after = deterministic_outputs(loaded.network, loaded.input_layers, [x])
    for a, b in zip(
        before if isinstance(before, list) else [before],
        after if isinstance(after, list) else [after],
    ):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)

    def frozen(net):
        trainable = get_all_params(net, trainable=True)
        return {p.name for p in get_all_params(net) if p not in trainable}

    assert frozen(loaded.network) == frozen(network)


def test_expression_layer_refuses_to_be_saved(tmp_path):
    network = ExpressionLayer(InputLayer((None, 3)), lambda x: 2 * x)
    with pytest.raises(ValueError, match="ExpressionLayer"):
        save_checkpoint(tmp_path / "net.h5", network)
    assert not (tmp_path / "net.h5").exists()
