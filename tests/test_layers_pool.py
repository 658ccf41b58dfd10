"""Pooling, upscaling and feature-pooling layers against NumPy window loops.

Value sweeps compile with PyTensor's Python linker and no rewrites (the graph as built, run by
NumPy); the gradient test runs under the default Numba linker.
"""

import itertools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

from dropout_layers.layers import (
    FeaturePoolLayer,
    FeatureWTALayer,
    GlobalPoolLayer,
    InputLayer,
    MaxPool1DLayer,
    MaxPool2DLayer,
    Pool1DLayer,
    Pool2DLayer,
    Pool3DLayer,
    SpatialPyramidPoolingLayer,
    Upscale1DLayer,
    Upscale2DLayer,
    Upscale3DLayer,
    get_layer_class,
)
from dropout_layers.layers.pool import pool_2d, pool_output_length

PY = Mode(linker="py", optimizer=None)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*is faster on contiguous arrays:numba.core.errors.NumbaPerformanceWarning"
)


def loop_pool(x, size, stride, pad, ignore_border, mode):
    """Pool by visiting every window (the definition), Theano's partial-window rule included."""
    n = len(size)
    spatial = x.shape[2:]
    if ignore_border:
        counts = [(s + 2 * p - w) // st + 1 for s, w, st, p in zip(spatial, size, stride, pad)]
    else:
        counts = [pool_output_length(s, w, st, 0, False) for s, w, st in zip(spatial, size, stride)]
    out = np.zeros(x.shape[:2] + tuple(counts))
    for o in itertools.product(*(range(c) for c in counts)):
        starts = [o[i] * stride[i] - pad[i] for i in range(n)]
        ends = [min(starts[i] + size[i], spatial[i] + pad[i]) for i in range(n)]
        inside = tuple(slice(max(a, 0), min(b, s)) for a, b, s in zip(starts, ends, spatial))
        region = x[(slice(None), slice(None)) + inside].reshape(x.shape[:2] + (-1,))
        if mode == "max":
            out[(slice(None), slice(None)) + o] = region.max(axis=-1)
        elif mode == "average_exc_pad":
            out[(slice(None), slice(None)) + o] = region.mean(axis=-1)
        else:  # padded elements (zeros) count; the border of ignore_border=False does not
            padded_count = np.prod([b - a for a, b in zip(starts, ends)])
            out[(slice(None), slice(None)) + o] = region.sum(axis=-1) / padded_count
    return out


def evaluate_all(layers, x):
    var = pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
    return pytensor.function([var], [layer.get_output_for(var) for layer in layers], mode=PY)(x)


def test_pool_output_length():
    assert [pool_output_length(10, 3, 2, p, True) for p in (0, 1, 2)] == [4, 5, 6]
    assert [pool_output_length(10, 3, s, 0, False) for s in (1, 2, 3, 4)] == [8, 5, 4, 3]
    assert pool_output_length(None, 3, 2, 0, True) is None
    with pytest.raises(ValueError, match="ignore_border=False needs pad=0"):
        pool_output_length(10, 3, 2, 1, False)


@pytest.mark.parametrize("mode", ["max", "average_inc_pad", "average_exc_pad"])
def test_pool2d_matches_the_window_loop(mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6))
    cases = [
        (size, stride, pad, True)
        for size, stride in itertools.product([(2, 2), (3, 2)], [(1, 1), (2, 3), (3, 2)])
        for pad in [(0, 0), (1, 1), (size[0] - 1, 0)]
    ]
    cases += [
        (size, stride, (0, 0), False)
        for size in [(2, 2), (3, 2)]
        for stride in [(1, 1), (2, 3), (4, 4)]
    ]
    layers = [
        Pool2DLayer(x.shape, size, stride=stride, pad=pad, ignore_border=ib, mode=mode)
        for size, stride, pad, ib in cases
    ]
    for case, layer, actual in zip(cases, layers, evaluate_all(layers, x)):
        expected = loop_pool(x, *case, mode)
        assert layer.output_shape == expected.shape, case
        np.testing.assert_allclose(actual, expected, rtol=1e-12, err_msg=str(case))


def test_pool1d_and_pool3d_match_the_window_loop():
    rng = np.random.default_rng(1)
    x1, x3 = rng.standard_normal((2, 3, 11)), rng.standard_normal((1, 2, 5, 6, 4))
    layers1 = [
        MaxPool1DLayer(x1.shape, 3, stride=2, pad=1),
        MaxPool1DLayer(x1.shape, 2, ignore_border=False),
        Pool1DLayer(x1.shape, 3, stride=1, pad=2, mode="average_exc_pad"),
    ]
    cases1 = [
        ((3,), (2,), (1,), True, "max"),
        ((2,), (2,), (0,), False, "max"),
        ((3,), (1,), (2,), True, "average_exc_pad"),
    ]
    for layer, actual, case in zip(layers1, evaluate_all(layers1, x1), cases1):
        np.testing.assert_allclose(actual, loop_pool(x1, *case), rtol=1e-12)
    layer3 = Pool3DLayer(
        x3.shape, (2, 3, 2), stride=(1, 2, 2), pad=(1, 0, 1), mode="average_inc_pad"
    )
    (actual,) = evaluate_all([layer3], x3)
    np.testing.assert_allclose(
        actual, loop_pool(x3, (2, 3, 2), (1, 2, 2), (1, 0, 1), True, "average_inc_pad")
    )


def test_unknown_spatial_sizes_give_the_same_pooling():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 7))
    known = MaxPool2DLayer(x.shape, 3, stride=2, ignore_border=False)
    unknown = MaxPool2DLayer((None, 3, None, None), 3, stride=2, ignore_border=False)
    assert unknown.output_shape == (None, 3, None, None)
    a, b = evaluate_all([known, unknown], x)
    np.testing.assert_array_equal(a, b)


def test_max_pool_gradient_goes_to_the_maximum_under_numba():
    x = np.array(
        [
            [
                [
                    [1.0, 5.0, 2.0, 0.0],
                    [3.0, 4.0, 8.0, 7.0],
                    [0.0, 0.0, 1.0, 2.0],
                    [9.0, 1.0, 3.0, 1.0],
                ]
            ]
        ],
        "float32",
    )
    var = pt.tensor4("x", dtype="float32")
    out = MaxPool2DLayer((None, 1, 4, 4), 2).get_output_for(var)
    pooled, grad = pytensor.function([var], [out, pytensor.grad(out.sum(), var)])(x)
    np.testing.assert_array_equal(pooled, [[[[5.0, 8.0], [9.0, 3.0]]]])
    np.testing.assert_array_equal(grad, x == np.kron(pooled[0, 0], np.ones((2, 2))))


def test_upscale_repeat_and_dilate():
    x = np.arange(6.0).reshape(1, 2, 3)
    repeat, dilate = Upscale1DLayer(x.shape, 2), Upscale1DLayer(x.shape, 3, mode="dilate")
    a, b = evaluate_all([repeat, dilate], x)
    np.testing.assert_array_equal(a, np.repeat(x, 2, axis=2))
    expected = np.zeros((1, 2, 9))
    expected[:, :, ::3] = x
    np.testing.assert_array_equal(b, expected)
    x2 = np.arange(4.0).reshape(1, 1, 2, 2)
    (c,) = evaluate_all([Upscale2DLayer(x2.shape, (2, 3))], x2)
    np.testing.assert_array_equal(c, np.kron(x2, np.ones((2, 3))))
    assert Upscale3DLayer((None, 1, 2, None, 3), 2).output_shape == (None, 1, 4, None, 6)
    with pytest.raises(ValueError, match="Scale factor must be >= 1"):
        Upscale2DLayer((1, 1, 2, 2), (2, 0))
    with pytest.raises(ValueError, match="Mode must be either"):
        Upscale2DLayer((1, 1, 2, 2), 2, mode="nearest")


def test_feature_pooling_maxout_winner_take_all_and_global():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 4))
    maxout = FeaturePoolLayer(x.shape, 3)
    mean_pool = FeaturePoolLayer(x.shape, 2, axis=2, pool_function=pt.mean)
    wta = FeatureWTALayer(x.shape, 2)
    global_max = GlobalPoolLayer(x.shape, pool_function=pt.max)
    a, b, c, d = evaluate_all([maxout, mean_pool, wta, global_max], x)
    np.testing.assert_array_equal(a, x.reshape(2, 2, 3, 4).max(axis=2))
    np.testing.assert_allclose(b, x.reshape(2, 6, 2, 2).mean(axis=3))
    groups = x.reshape(2, 3, 2, 4)
    np.testing.assert_array_equal(
        c, (groups * (groups == groups.max(axis=2, keepdims=True))).reshape(x.shape)
    )
    np.testing.assert_array_equal(d, x.max(axis=2))
    assert maxout.output_shape == (2, 2, 4) and global_max.output_shape == (2, 6)
    with pytest.raises(ValueError, match="not a multiple of the pool size"):
        FeaturePoolLayer((2, 5, 4), 2)


def regions(size, n):
    return [(int(np.floor(i * size / n)), int(np.ceil((i + 1) * size / n))) for i in range(n)]


def test_spatial_pyramid_pooling_both_implementations():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 9, 7))
    fast = SpatialPyramidPoolingLayer(x.shape, pool_dims=[3, 1])
    kaiming = SpatialPyramidPoolingLayer(
        (None, 3, None, None), pool_dims=[3, 1], implementation="kaiming"
    )
    kaiming_mean = SpatialPyramidPoolingLayer(
        x.shape, pool_dims=[2], mode="average_exc_pad", implementation="kaiming"
    )
    a, b, c = evaluate_all([fast, kaiming, kaiming_mean], x)
    assert fast.output_shape == (2, 3, 10) and kaiming.output_shape == (None, 3, 10)
    # 'fast': windows ceil(size / n) at strides floor(size / n)
    level3 = loop_pool(x, (3, 3), (3, 2), (0, 0), True, "max").reshape(2, 3, -1)
    np.testing.assert_array_equal(
        a, np.concatenate([level3, x.reshape(2, 3, -1).max(axis=2, keepdims=True)], axis=2)
    )
    expected = [
        x[:, :, r0:r1, c0:c1].max(axis=(2, 3))
        for r0, r1 in regions(9, 3)
        for c0, c1 in regions(7, 3)
    ] + [x.max(axis=(2, 3))]
    np.testing.assert_array_equal(b, np.stack(expected, axis=2))
    expected = [
        x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
        for r0, r1 in regions(9, 2)
        for c0, c1 in regions(7, 2)
    ]
    np.testing.assert_allclose(c, np.stack(expected, axis=2))


def test_pool_2d_takes_symbolic_windows():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    window = pt.lvector("window")
    out = pool_2d(x, ws=window, stride=window, ignore_border=True, pad=None)
    result = pytensor.function([window], out, mode=PY)(np.array([2, 2]))
    np.testing.assert_array_equal(result, [[[[5.0, 7.0], [13.0, 15.0]]]])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="Expected 4 input dimensions"):
        MaxPool2DLayer((10, 20, 30), 2)
    with pytest.raises(ValueError, match="mode must be one of"):
        Pool2DLayer((1, 1, 4, 4), 2, mode="median")
    with pytest.raises(ValueError, match="needs ignore_border=True"):
        Pool2DLayer((1, 1, 4, 4), 2, pad=1, ignore_border=False)
    with pytest.raises(ValueError, match="smaller than pool_size"):
        Pool2DLayer((1, 1, 4, 4), 2, pad=2)
    with pytest.raises(ValueError, match="Mode must be either 'max'"):
        SpatialPyramidPoolingLayer((1, 1, 4, 4), mode="other")


@pytest.mark.parametrize(
    "build",
    [
        lambda l_in: Pool2DLayer(l_in, (3, 2), stride=(1, 2), pad=(1, 0), mode="average_inc_pad"),
        lambda l_in: MaxPool2DLayer(l_in, 3, ignore_border=False),
        lambda l_in: Upscale2DLayer(l_in, (2, 3), mode="dilate"),
        lambda l_in: FeaturePoolLayer(l_in, 2, pool_function=pt.mean),
        lambda l_in: GlobalPoolLayer(l_in),
        lambda l_in: SpatialPyramidPoolingLayer(l_in, [2, 1], implementation="kaiming"),
        lambda l_in: FeatureWTALayer(l_in, 2, axis=1),
    ],
)
def test_config_round_trip(build):
    layer = build(InputLayer((None, 4, 9, 8)))
    config = layer.get_config()
    rebuilt = get_layer_class(type(layer).__name__).from_config(layer.input_layer, config)
    assert rebuilt.get_config() == config
    assert rebuilt.output_shape == layer.output_shape


def test_unknown_pool_function_cannot_be_stored():
    layer = GlobalPoolLayer((1, 2, 3, 3), pool_function=lambda x, axis: x.sum(axis=axis) * 2)
    with pytest.raises(ValueError, match="which a config cannot hold"):
        layer.get_config()
