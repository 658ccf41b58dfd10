"""Batch normalisation (batch statistics, running averages, flags), LRN and standardisation."""

import itertools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

from dropout_layers.layers import (
    BatchNormLayer,
    Conv2DLayer,
    DenseLayer,
    InputLayer,
    LocalResponseNormalization2DLayer,
    NonlinearityLayer,
    StandardizationLayer,
    batch_norm,
    get_all_layers,
    get_all_params,
    get_layer_class,
    get_output,
    instance_norm,
    layer_norm,
)
from dropout_layers.nonlinearities import identity, rectify
from dropout_layers.updates import sgd

PY = Mode(linker="py", optimizer=None)

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*is faster on contiguous arrays:numba.core.errors.NumbaPerformanceWarning"
)


def batch_stats(x, axes, epsilon):
    return x.mean(axis=axes), 1 / np.sqrt(x.var(axis=axes) + epsilon)


def test_training_uses_batch_statistics_and_moves_the_running_averages():
    # A plain pytensor.function (default linker), as Lasagne users compile it.
    rng = np.random.default_rng(0)
    l_in = InputLayer((None, 3, 4))
    beta, gamma = rng.standard_normal(3).astype("float32"), rng.standard_normal(3).astype("float32")
    layer = BatchNormLayer(l_in, alpha=0.25, beta=beta, gamma=gamma)
    train = pytensor.function([l_in.input_var], get_output(layer))
    test = pytensor.function([l_in.input_var], get_output(layer, deterministic=True))
    batches = [
        (rng.standard_normal((8, 3, 4)) * np.array([1.0, 2.0, 3.0])[None, :, None] + 5).astype(
            "float32"
        )
        for _ in range(2)
    ]
    mean, inv_std = np.zeros(3), np.ones(3)
    for x in batches:
        batch_mean, batch_inv_std = batch_stats(x.astype(float), (0, 2), 1e-4)
        expected = (
            (x - batch_mean[None, :, None]) * batch_inv_std[None, :, None] * gamma[None, :, None]
        )
        np.testing.assert_allclose(train(x), expected + beta[None, :, None], rtol=1e-4, atol=1e-4)
        mean = 0.75 * mean + 0.25 * batch_mean
        inv_std = 0.75 * inv_std + 0.25 * batch_inv_std
        np.testing.assert_allclose(layer.mean.get_value(), mean, rtol=1e-5)
        np.testing.assert_allclose(layer.inv_std.get_value(), inv_std, rtol=1e-5)
    # deterministic: the stored averages normalise, and stay where they are
    x = batches[0]
    expected = (x - mean[None, :, None]) * inv_std[None, :, None] * gamma[None, :, None] + beta[
        None, :, None
    ]
    np.testing.assert_allclose(test(x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.mean.get_value(), mean, rtol=1e-5)


def test_use_and_update_flags_override_deterministic():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 4)) + 3
    stored_mean, stored_inv = rng.standard_normal(4), rng.random(4) + 0.5
    batch_mean, batch_inv = batch_stats(x, (0,), 1e-4)
    for deterministic, use, update in itertools.product(
        [False, True], [None, False, True], [None, False, True]
    ):
        layer = BatchNormLayer(
            (10, 4), alpha=0.5, mean=stored_mean, inv_std=stored_inv, beta=None, gamma=None
        )
        kwargs = {"deterministic": deterministic}
        if use is not None:
            kwargs["batch_norm_use_averages"] = use
        if update is not None:
            kwargs["batch_norm_update_averages"] = update
        out = pytensor.function([], layer.get_output_for(pt.constant(x), **kwargs), mode=PY)()
        uses = deterministic if use is None else use
        updates = (not deterministic) if update is None else update
        mean, inv = (stored_mean, stored_inv) if uses else (batch_mean, batch_inv)
        np.testing.assert_allclose(out, (x - mean) * inv, rtol=1e-10, err_msg=str(kwargs))
        wanted = 0.5 * stored_mean + 0.5 * batch_mean if updates else stored_mean
        np.testing.assert_allclose(layer.mean.get_value(), wanted, rtol=1e-10, err_msg=str(kwargs))


def test_running_averages_update_alongside_explicit_updates():
    # Lasagne's recipe: updates from an update rule; the averages' default updates still apply.
    rng = np.random.default_rng(2)
    l_in = InputLayer((None, 5))
    l_out = batch_norm(DenseLayer(l_in, 3))
    loss = get_output(l_out).mean()
    params = get_all_params(l_out, trainable=True)
    step = pytensor.function([l_in.input_var], loss, updates=sgd(loss, params, 0.1), mode=PY)
    bn = l_out.input_layer
    x = rng.standard_normal((16, 5)).astype("float32")
    hidden = x @ l_out.input_layer.input_layer.W.get_value()
    step(x)
    np.testing.assert_allclose(bn.mean.get_value(), 0.1 * hidden.mean(axis=0), rtol=1e-4, atol=1e-6)
    assert [p.name for p in bn.get_params(batch_norm_stat=True)] == ["mean", "inv_std"]
    assert set(bn.get_params(trainable=False)) == {bn.mean, bn.inv_std}


def test_batch_norm_convenience_steals_nonlinearity_and_bias():
    dense = DenseLayer(InputLayer((None, 4)), 3, nonlinearity=rectify, name="hidden")
    stack = batch_norm(dense)
    assert [type(layer).__name__ for layer in get_all_layers(stack)] == [
        "InputLayer",
        "DenseLayer",
        "BatchNormLayer",
        "NonlinearityLayer",
    ]
    assert dense.nonlinearity is identity and dense.b is None and stack.nonlinearity is rectify
    assert (stack.name, stack.input_layer.name) == ("hidden_bn_nonlin", "hidden_bn")
    linear = batch_norm(DenseLayer(InputLayer((None, 4)), 3, nonlinearity=None, b=None), name="bn")
    assert isinstance(linear, NonlinearityLayer) and linear.input_layer.name == "bn"
    conv = batch_norm(Conv2DLayer(InputLayer((None, 2, 5, 5)), 4, 3, nonlinearity=None))
    assert conv.input_layer.beta.get_value().shape == (4,)
    with pytest.raises(ValueError, match="needs specified input sizes"):
        BatchNormLayer((None, None, 3))


def test_local_response_normalization_matches_the_channel_loop():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 3, 2))
    layer = LocalResponseNormalization2DLayer((None, 7, 3, 2), alpha=1.5, k=2, beta=0.75, n=5)
    out = pytensor.function([], layer.get_output_for(x), mode=PY)()
    expected = np.empty_like(x)
    for c in range(7):
        neighbours = x[:, max(0, c - 2) : c + 3]
        expected[:, c] = x[:, c] / (2 + 1.5 * (neighbours**2).sum(axis=1)) ** 0.75
    np.testing.assert_allclose(out, expected, rtol=1e-10)
    with pytest.raises(NotImplementedError):
        LocalResponseNormalization2DLayer((None, 7, 3, 2), n=4)


@pytest.mark.parametrize(
    "axes, numpy_axes",
    [("auto", (2, 3)), ("spatial", (2, 3)), ("features", (1, 2, 3)), (1, (1,))],
)
def test_standardization_layer(axes, numpy_axes):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 6)) * 2 + 1
    layer = StandardizationLayer(x.shape, axes=axes)
    out = pytensor.function([], layer.get_output_for(x), mode=PY)()
    mean, var = x.mean(axis=numpy_axes, keepdims=True), x.var(axis=numpy_axes, keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-4), rtol=1e-10)
    assert StandardizationLayer((3, 4)).axes == (1,)


def test_instance_and_layer_norm_stacks():
    conv = Conv2DLayer(InputLayer((None, 2, 5, 5)), 3, 3, name="c")
    stack = instance_norm(conv, learn_scale=False)
    assert [type(layer).__name__ for layer in get_all_layers(stack)][2:] == [
        "StandardizationLayer",
        "BiasLayer",
        "NonlinearityLayer",
    ]
    assert stack.name == "c_in_nonlin" and conv.b is None
    # a linear layer's identity counts as a nonlinearity, as in Lasagne
    stack = layer_norm(DenseLayer(InputLayer((None, 4)), 3, nonlinearity=None))
    assert [type(layer).__name__ for layer in get_all_layers(stack)][2:] == [
        "StandardizationLayer",
        "ScaleLayer",
        "BiasLayer",
        "NonlinearityLayer",
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda l_in: BatchNormLayer(l_in, axes=(0, 2, 3), epsilon=1e-3, alpha=0.2, beta=None),
        lambda l_in: LocalResponseNormalization2DLayer(l_in, alpha=1e-3, k=1, beta=0.5, n=3),
        lambda l_in: StandardizationLayer(l_in, axes="features"),
    ],
)
def test_config_round_trip(build):
    layer = build(InputLayer((None, 3, 4, 5)))
    config = layer.get_config()
    rebuilt = get_layer_class(type(layer).__name__).from_config(layer.input_layer, config)
    assert rebuilt.get_config() == config
    assert [p.name for p in rebuilt.get_params()] == [p.name for p in layer.get_params()]
