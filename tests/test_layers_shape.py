"""Reshape, flatten, dimshuffle, pad and slice layers: shapes, values, references and errors."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

from dropout_layers.layers import (
    DimshuffleLayer,
    FlattenLayer,
    InputLayer,
    PadLayer,
    ReshapeLayer,
    SliceLayer,
    dimshuffle,
    flatten,
    get_layer_class,
    pad,
    reshape,
)

PY = Mode(linker="py", optimizer=None)


def evaluate_all(layers, x):
    var = pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
    return pytensor.function([var], [layer.get_output_for(var) for layer in layers], mode=PY)(x)


def test_aliases_are_lasagnes():
    assert (flatten, reshape, dimshuffle, pad) == (
        FlattenLayer,
        ReshapeLayer,
        DimshuffleLayer,
        PadLayer,
    )


def test_reshape_with_references_and_inferred_size():
    x = np.arange(2 * 3 * 4 * 5, dtype=float).reshape(2, 3, 4, 5)
    l_in = InputLayer((None, 3, None, 5))
    specs = [([0], [1], -1), ([0], 60), (-1, [3]), ([0], [1], [2], 5), (2, [1], 2, 10)]
    layers = [ReshapeLayer(l_in, spec) for spec in specs]
    assert [layer.output_shape for layer in layers] == [
        (None, 3, None),
        (None, 60),
        (None, 5),
        (None, 3, None, 5),
        (2, 3, 2, 10),
    ]
    expected = [x.reshape(2, 3, 20), x.reshape(2, 60), x.reshape(-1, 5), x, x.reshape(2, 3, 2, 10)]
    for actual, wanted in zip(evaluate_all(layers, x), expected):
        np.testing.assert_array_equal(actual, wanted)


def test_reshape_refuses_bad_specs():
    l_in = InputLayer((16, 3, 5))
    for spec in [(-2, 15), (-1, -1), ([-1], 15), ([0, 1], 15), (None, 15), (16, [3])]:
        with pytest.raises(ValueError):
            ReshapeLayer(l_in, spec)
    with pytest.raises(ValueError, match="total size mismatches"):
        ReshapeLayer(l_in, (17, -1, 3))
    symbolic = ReshapeLayer(InputLayer((None, 4)), (pt.lscalar("rows"), 2))
    assert symbolic.output_shape == (None, 2)
    with pytest.raises(ValueError, match="cannot be stored"):
        symbolic.get_config()


def test_flatten():
    x = np.arange(120.0).reshape(2, 3, 4, 5)
    layers = [
        FlattenLayer(x.shape),
        FlattenLayer(x.shape, outdim=3),
        FlattenLayer(x.shape, outdim=1),
    ]
    assert [layer.output_shape for layer in layers] == [(2, 60), (2, 3, 20), (120,)]
    assert FlattenLayer((None, 3, None)).output_shape == (None, None)
    for actual, layer in zip(evaluate_all(layers, x), layers):
        np.testing.assert_array_equal(actual, x.reshape(layer.output_shape))
    with pytest.raises(ValueError, match="outdim must be at least 1"):
        FlattenLayer(x.shape, outdim=0)


def test_dimshuffle_reorders_broadcasts_and_drops_size_one_axes():
    x = np.arange(6.0).reshape(2, 1, 3)
    l_in = InputLayer((2, 1, 3))
    shuffles = [DimshuffleLayer(l_in, (2, "x", 0, 1)), DimshuffleLayer(l_in, (0, 2))]
    assert [layer.output_shape for layer in shuffles] == [(3, 1, 2, 1), (2, 3)]
    fn = pytensor.function(
        [l_in.input_var], [layer.get_output_for(l_in.input_var) for layer in shuffles], mode=PY
    )
    a, b = fn(x.astype(l_in.input_var.dtype))
    np.testing.assert_array_equal(a, x.transpose(2, 0, 1)[:, None])
    np.testing.assert_array_equal(b, x[:, 0, :])
    for pattern in [(0, 0, 1, 2), ("q", 0, 1, 2), (0, 1, 2, 3), (0, 1)]:
        with pytest.raises(ValueError):
            DimshuffleLayer(l_in, pattern)


def test_pad_widths_values_and_batch_axes():
    x = np.ones((1, 2, 2, 3))
    layers = [
        PadLayer(x.shape, 1),
        PadLayer(x.shape, ((1, 0), (0, 2)), val=-1),
        PadLayer(x.shape, (1, 2), batch_ndim=1),
    ]
    assert [layer.output_shape for layer in layers] == [(1, 2, 4, 5), (1, 2, 3, 5), (1, 4, 6, 3)]
    a, b, c = evaluate_all(layers, x)
    np.testing.assert_array_equal(a, np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)]))
    np.testing.assert_array_equal(
        b, np.pad(x, [(0, 0), (0, 0), (1, 0), (0, 2)], constant_values=-1)
    )
    # one width per axis: axes without a width stay as they are
    np.testing.assert_array_equal(c, np.pad(x, [(0, 0), (1, 1), (2, 2), (0, 0)]))
    assert PadLayer((None, 3, None, 4), 2).output_shape == (None, 3, None, 8)


def test_slice_by_index_and_slice():
    x = np.arange(24.0).reshape(2, 3, 4)
    layers = [
        SliceLayer(x.shape, 0, axis=1),
        SliceLayer(x.shape, slice(1, None, 2), axis=-1),
        SliceLayer(x.shape, -1, axis=-1),
    ]
    assert [layer.output_shape for layer in layers] == [(2, 4), (2, 3, 2), (2, 3)]
    assert SliceLayer((2, None, 4), slice(0, 2), axis=1).output_shape == (2, None, 4)
    for actual, expected in zip(evaluate_all(layers, x), [x[:, 0], x[..., 1::2], x[..., -1]]):
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize(
    "build",
    [
        lambda l_in: ReshapeLayer(l_in, ([0], -1, [3])),
        lambda l_in: FlattenLayer(l_in, outdim=3),
        lambda l_in: DimshuffleLayer(l_in, (0, 3, "x", 1, 2)),
        lambda l_in: PadLayer(l_in, ((1, 2), 3), val=0.5),
        lambda l_in: SliceLayer(l_in, slice(None, -1, 2), axis=2),
        lambda l_in: SliceLayer(l_in, 1, axis=1),
    ],
)
def test_config_round_trip(build):
    layer = build(InputLayer((None, 3, 4, 5)))
    config = layer.get_config()
    rebuilt = get_layer_class(type(layer).__name__).from_config(layer.input_layer, config)
    assert rebuilt.get_config() == config
    assert rebuilt.output_shape == layer.output_shape
