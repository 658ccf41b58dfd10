"""Nonlinearity, bias, scale, standardize, expression, inverse, rectifier and transformer layers."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

from dropout_layers.layers import (
    BiasLayer,
    DenseLayer,
    ExpressionLayer,
    InputLayer,
    InverseLayer,
    MaxPool2DLayer,
    NonlinearityLayer,
    ParametricRectifierLayer,
    RandomizedRectifierLayer,
    ScaleLayer,
    TPSTransformerLayer,
    TransformerLayer,
    get_all_params,
    get_layer_class,
    get_output,
    prelu,
    rrelu,
    standardize,
)
from dropout_layers.nonlinearities import identity, tanh

PY = Mode(linker="py", optimizer=None)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*is faster on contiguous arrays:numba.core.errors.NumbaPerformanceWarning"
)


def evaluate_all(layers, x):
    var = pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
    return pytensor.function([var], [layer.get_output_for(var) for layer in layers], mode=PY)(x)


def test_nonlinearity_bias_and_scale_share_over_axes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4))
    layers = [
        NonlinearityLayer(x.shape, tanh),
        NonlinearityLayer(x.shape, None),
        BiasLayer(x.shape, b=np.arange(3.0)),
        BiasLayer(x.shape, b=np.arange(12.0).reshape(3, 4), shared_axes=0),
        ScaleLayer(x.shape, scales=np.arange(2.0), shared_axes=(1, 2)),
    ]
    assert layers[1].nonlinearity is identity
    assert layers[2].b.get_value().shape == (3,) and layers[4].scales.get_value().shape == (2,)
    expected = [
        np.tanh(x),
        x,
        x + np.arange(3.0)[None, :, None],
        x + np.arange(12.0).reshape(1, 3, 4),
        x * np.arange(2.0)[:, None, None],
    ]
    for actual, wanted in zip(evaluate_all(layers, x), expected):
        np.testing.assert_allclose(actual, wanted)
    assert BiasLayer(x.shape, b=None).get_output_for(x) is x
    assert BiasLayer((None, 3)).get_params(regularizable=False) != []
    with pytest.raises(ValueError, match="needs specified input sizes"):
        ScaleLayer((None, 3, None), shared_axes=0)


def test_standardize_subtracts_offset_divides_by_scale_and_is_not_trained():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((200, 5)) * 3 + 2
    layer = standardize(InputLayer((None, 5)), data.mean(axis=0), data.std(axis=0), shared_axes=0)
    assert len(get_all_params(layer)) == 2 and get_all_params(layer, trainable=True) == []
    (out,) = evaluate_all([layer.input_layer], data)
    (out,) = evaluate_all([layer], out)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, rtol=1e-5)
    # the frozen tags survive a config round trip
    rebuilt = type(layer).from_config(layer.input_layer, layer.get_config())
    assert rebuilt.get_params(trainable=True) == []


def test_expression_layer_shapes():
    l_in = InputLayer((None, 4, 5))
    mean = ExpressionLayer(l_in, lambda X: X.mean(-1), output_shape="auto")
    fixed = ExpressionLayer(l_in, lambda X: X.sum(), output_shape=())
    called = ExpressionLayer(
        l_in, lambda X: X[:, :2], output_shape=lambda shape: (shape[0], 2, shape[2])
    )
    assert (
        mean.output_shape == (None, 4)
        and fixed.output_shape == ()
        and called.output_shape == (None, 2, 5)
    )
    assert ExpressionLayer(l_in, lambda X: X * 2).output_shape == (None, 4, 5)
    x = np.arange(40.0).reshape(2, 4, 5)
    a, b, c = evaluate_all([mean, fixed, called], x)
    np.testing.assert_array_equal(a, x.mean(-1))
    assert b == x.sum()
    np.testing.assert_array_equal(c, x[:, :2])
    with pytest.raises(ValueError, match="cannot hold"):
        mean.get_config()


def test_inverse_layer_transposes_dense_and_unpools_max_pooling():
    rng = np.random.default_rng(2)
    l_in = InputLayer((3, 4))
    dense = DenseLayer(l_in, 2, b=None, nonlinearity=None)
    inverse = InverseLayer(dense, dense)
    assert inverse.output_shape == (3, 4)
    x = rng.standard_normal((3, 4)).astype(l_in.input_var.dtype)
    out = pytensor.function([l_in.input_var], get_output(inverse), mode=PY)(x)
    W = dense.W.get_value()
    np.testing.assert_allclose(out, x @ W @ W.T, rtol=1e-5)
    l_img = InputLayer((1, 1, 2, 2))
    pool = MaxPool2DLayer(l_img, 2)
    unpool = InverseLayer(pool, pool)
    img = np.array([[[[1.0, 4.0], [2.0, 3.0]]]], dtype=l_img.input_var.dtype)
    out = pytensor.function([l_img.input_var], get_output(unpool), mode=PY)(img)
    np.testing.assert_array_equal(out, [[[[0.0, 4.0], [0.0, 0.0]]]])
    rebuilt = InverseLayer.from_config([pool, pool, l_img], inverse.get_config())
    assert rebuilt.output_shape == (1, 1, 2, 2)


def test_parametric_rectifier_values_and_prelu():
    x = np.array([[-2.0, -1.0, 3.0], [4.0, -0.5, 0.0]])
    layer = ParametricRectifierLayer(x.shape, alpha=np.array([0.1, 0.2, 0.3]))
    one = ParametricRectifierLayer(x.shape, alpha=np.array(0.5), shared_axes="all")
    a, b = evaluate_all([layer, one], x)
    np.testing.assert_allclose(a, np.where(x > 0, x, x * np.array([0.1, 0.2, 0.3])))
    np.testing.assert_allclose(b, np.where(x > 0, x, x * 0.5))
    assert layer.get_params(regularizable=True) == []
    dense = DenseLayer(InputLayer((None, 3)), 4, nonlinearity=tanh)
    stacked = prelu(dense)
    assert dense.nonlinearity is identity and stacked.alpha.get_value().shape == (4,)


def test_randomized_rectifier_slopes_are_in_range_fresh_per_call_and_reproducible():
    # Default (numba) linker and a plain pytensor.function, as Lasagne users compile.
    l_in = InputLayer((None, 3, 40))
    layer = RandomizedRectifierLayer(l_in, lower=0.2, upper=0.6, seed=7)
    train = pytensor.function([l_in.input_var], get_output(layer))
    test = pytensor.function([l_in.input_var], get_output(layer, deterministic=True))
    x = -np.ones((50, 3, 40), dtype=l_in.input_var.dtype)
    first, second = -train(x), -train(x)
    # shared over the batch and the last axis ('auto'): one slope per channel
    assert np.all(first == first[:1, :, :1]) and first.shape == x.shape
    assert np.all((first >= 0.2) & (first <= 0.6))
    assert not np.array_equal(first, second)  # a fresh draw on every call
    np.testing.assert_allclose(test(x), -0.4 * np.ones_like(x), rtol=1e-6)
    # every element its own slope: their mean and variance are those of U(0.2, 0.6)
    own = RandomizedRectifierLayer(l_in, lower=0.2, upper=0.6, shared_axes=(), seed=3)
    slopes = -pytensor.function([l_in.input_var], get_output(own))(x)
    n = slopes.size  # 6000 draws: the mean is within 5 standard errors of 0.4
    assert abs(slopes.mean() - 0.4) < 5 * np.sqrt(0.4**2 / 12 / n)
    again = RandomizedRectifierLayer(l_in, lower=0.2, upper=0.6, seed=7)
    np.testing.assert_array_equal(-pytensor.function([l_in.input_var], get_output(again))(x), first)
    stacked = rrelu(DenseLayer(l_in, 5))
    assert (stacked.lower, stacked.upper) == (0.3, 0.8)
    with pytest.raises(ValueError, match="higher than lower bound"):
        RandomizedRectifierLayer(l_in, lower=0.9, upper=0.1)


def test_transformer_identity_and_shift():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 6, 5)).astype("float32")
    l_in, l_theta = InputLayer((None, 3, 6, 5)), InputLayer((None, 6))
    layer = TransformerLayer(l_in, l_theta)
    half = TransformerLayer(l_in, l_theta, downsample_factor=(2, 1))
    assert half.output_shape == (None, 3, 3, 5)
    theta = np.tile(np.array([1, 0, 0, 0, 1, 0], "float32"), (2, 1))
    fn = pytensor.function([l_in.input_var, l_theta.input_var], get_output([layer, half]), mode=PY)
    same, coarse = fn(x, theta)
    np.testing.assert_allclose(same, x, atol=1e-5)
    np.testing.assert_allclose(coarse[:, :, 0], x[:, :, 0], atol=1e-5)  # row -1 is row 0
    np.testing.assert_allclose(coarse[:, :, -1], x[:, :, -1], atol=1e-5)  # row 1 is the last
    # a shift by one pixel to the right (2 / (width - 1) in normalised units), nearest border
    shift = np.tile(np.array([1, 0, 2 / 4, 0, 1, 0], "float32"), (2, 1))
    shifted = fn(x, shift)[0]
    np.testing.assert_allclose(shifted[..., :-1], x[..., 1:], atol=1e-5)
    np.testing.assert_allclose(shifted[..., -1], x[..., -1], atol=1e-5)
    with pytest.raises(ValueError, match="border_mode"):
        TransformerLayer(l_in, l_theta, border_mode="reflect")


def test_thin_plate_spline_identity_with_and_without_precomputed_grid():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 6, 6)).astype("float32")
    offsets = np.zeros((2, 32), "float32")
    l_offsets = InputLayer((None, 32))
    pre = TPSTransformerLayer(InputLayer((None, 1, 6, 6)), l_offsets)
    graph = TPSTransformerLayer(InputLayer((None, 1, None, 6)), l_offsets)
    assert pre.precompute_grid and not graph.precompute_grid
    for layer in (pre, graph):
        out = layer.get_output_for([x, offsets]).eval(mode=PY)
        np.testing.assert_allclose(out, x, atol=1e-4)
    moved = rng.standard_normal((2, 32)).astype("float32") * 0.1
    np.testing.assert_allclose(
        pre.get_output_for([x, moved]).eval(mode=PY),
        graph.get_output_for([x, moved]).eval(mode=PY),
        atol=1e-4,
    )
    with pytest.raises(ValueError, match="perfect square"):
        TPSTransformerLayer(InputLayer((None, 1, 6, 6)), InputLayer((None, 34)), control_points=17)


@pytest.mark.parametrize(
    "build",
    [
        lambda l_in: NonlinearityLayer(l_in, tanh),
        lambda l_in: BiasLayer(l_in, shared_axes=(0, 2)),
        lambda l_in: BiasLayer(l_in, b=None),
        lambda l_in: ScaleLayer(l_in),
        lambda l_in: ParametricRectifierLayer(l_in, shared_axes="all"),
        lambda l_in: RandomizedRectifierLayer(l_in, 0.1, 0.2, shared_axes=1, seed=3),
        lambda l_in: TPSTransformerLayer(l_in, InputLayer((None, 8)), control_points=4),
    ],
)
def test_config_round_trip(build):
    layer = build(InputLayer((None, 3, 4, 5)))
    config = layer.get_config()
    incoming = layer.input_layers if hasattr(layer, "input_layers") else layer.input_layer
    rebuilt = get_layer_class(type(layer).__name__).from_config(incoming, config)
    assert rebuilt.get_config() == config
    assert rebuilt.output_shape == layer.output_shape
