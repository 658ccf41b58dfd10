import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import dropout_layers as dl
from dropout_layers import init, nonlinearities


def build_stack(sizes=(5, 7, 3), dtype="float32"):
    l = dl.InputLayer((None, sizes[0]))
    for n in sizes[1:-1]:
        l = dl.ReLUDenseLayer(l, n)
        l = dl.SwitchDropoutLayer(l, 0.5)
    return dl.DenseLayer(l, sizes[-1], nonlinearity=None)


def relu(x):
    return np.maximum(x, 0)


class TestDeterministicOutput:
    @pytest.mark.parametrize("dtype,tol", [("float64", 0.0), ("float32", 1e-6)])
    def test_relu_stack_matches_numpy(self, dtype, tol):
        dl.set_floatX(dtype)
        try:
            l_in = dl.InputLayer((None, 6))
            h1 = dl.ReLUDenseLayer(l_in, 8, b=init.Normal(0.1))
            d1 = dl.SwitchDropoutLayer(h1, 0.3)
            h2 = dl.ReLUDenseLayer(d1, 4, b=init.Normal(0.1), leakiness=0.1)
            out = dl.get_output(h2, deterministic=True)
            assert out.dtype == dtype
            f = pytensor.function([l_in.input_var], out)
            X = np.random.RandomState(0).randn(10, 6).astype(dtype)
            W1, b1, W2, b2 = dl.get_all_param_values(h2)
            a1 = relu(X @ W1 + b1)
            z2 = a1 @ W2 + b2
            expected = np.maximum(z2, 0.1 * z2)
            got = f(X)
            if tol == 0.0:
                np.testing.assert_array_equal(got, expected)
            else:
                np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
        finally:
            dl.set_floatX("float32")

    def test_dense_num_leading_axes_flattens_trailing(self):
        l_in = dl.InputLayer((None, 2, 3))
        dense = dl.DenseLayer(l_in, 4, nonlinearity=None)
        assert dense.W.get_value().shape == (6, 4)
        assert dense.output_shape == (None, 4)
        X = np.arange(12, dtype="float32").reshape(2, 2, 3)
        got = dl.get_output(dense, X, deterministic=True).eval()
        np.testing.assert_allclose(got, X.reshape(2, 6) @ dense.W.get_value(), rtol=1e-6)
        per_step = dl.DenseLayer(l_in, 4, num_leading_axes=2)
        assert per_step.output_shape == (None, 2, 4)


class TestParams:
    def test_tags_and_counts(self):
        net = build_stack((5, 7, 3))
        params = dl.get_all_params(net)
        assert [p.name for p in params] == [None] * 4 or len(params) == 4
        assert len(dl.get_all_params(net, regularizable=True)) == 2
        assert len(dl.get_all_params(net, trainable=True)) == 4
        assert dl.count_params(net) == 5 * 7 + 7 + 7 * 3 + 3
        relu = dl.get_all_layers(net)[1]
        assert relu.get_params(regularizable=False) == [relu.b]
        assert relu.get_params(regularizable=True) == [relu.W]

    def test_names_prefixed_with_layer(self):
        layer = dl.ReLUDenseLayer((None, 3), 2, name="hidden")
        assert layer.W.name == "hidden.W" and layer.b.name == "hidden.b"

    def test_set_get_round_trip(self):
        net = build_stack()
        values = [v + 1 for v in dl.get_all_param_values(net)]
        dl.set_all_param_values(net, values)
        for got, want in zip(dl.get_all_param_values(net), values):
            np.testing.assert_array_equal(got, want)

    def test_set_values_wrong_count(self):
        net = build_stack()
        with pytest.raises(ValueError, match="got 3 values for 4 parameters"):
            dl.set_all_param_values(net, dl.get_all_param_values(net)[:3])

    def test_set_values_wrong_shape_names_param(self):
        net = dl.ReLUDenseLayer((None, 3), 2, name="h")
        with pytest.raises(ValueError, match=r"'h.W' has shape \(2, 3\), expected \(3, 2\)"):
            dl.set_all_param_values(net, [np.zeros((2, 3)), np.zeros(2)])

    def test_he_normal_default_std(self):
        dl.set_rng(np.random.RandomState(0))
        layer = dl.ReLUDenseLayer((None, 400), 500)
        W = layer.W.get_value()
        # the sample std of 200k normal draws has relative error ~ 1/sqrt(2n) = 0.0016
        np.testing.assert_allclose(W.std(), np.sqrt(2 / 400), rtol=5 * 0.0016)
        assert W.dtype == np.float32

    def test_global_rng_makes_init_reproducible(self):
        dl.set_rng(np.random.RandomState(42))
        a = dl.DenseLayer((None, 4), 3).W.get_value()
        dl.set_rng(np.random.RandomState(42))
        b = dl.DenseLayer((None, 4), 3).W.get_value()
        dl.set_rng(np.random.default_rng(42))
        c = dl.DenseLayer((None, 4), 3).W.get_value()
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


class TestInitializers:
    @pytest.mark.parametrize("initializer,expected_std", [
        (init.GlorotUniform(), np.sqrt(2.0 / (300 + 200))),
        (init.GlorotNormal(), np.sqrt(2.0 / (300 + 200))),
        (init.HeUniform(), np.sqrt(1.0 / 300)),
        (init.HeNormal(gain="relu"), np.sqrt(2.0 / 300)),
        (init.Normal(0.05), 0.05),
        (init.Uniform(std=0.02), 0.02),
    ])
    def test_std(self, initializer, expected_std):
        W = initializer((300, 200))
        assert W.shape == (300, 200)
        # 60k draws: relative error of the std estimate is below 5/sqrt(2n) for any of these
        np.testing.assert_allclose(W.std(), expected_std, rtol=5 / np.sqrt(2 * W.size) * 1.5)

    def test_constant_and_orthogonal(self):
        np.testing.assert_array_equal(init.Constant(0.5)((2, 3)), np.full((2, 3), 0.5))
        Q = init.Orthogonal()((6, 6))
        np.testing.assert_allclose(Q @ Q.T, np.eye(6), atol=1e-6)  # float32 values

    def test_uniform_range(self):
        W = init.Uniform((0.0, 0.5))((1000,))
        assert W.min() >= 0 and W.max() < 0.5


class TestGraphHelpers:
    def test_get_all_layers_topological_with_merge(self):
        l_in = dl.InputLayer((None, 4))
        a = dl.DenseLayer(l_in, 3, name="a")
        b = dl.DenseLayer(l_in, 2, name="b")
        cat = dl.ConcatLayer([a, b], name="cat")
        layers = dl.get_all_layers(cat)
        assert layers[0] is l_in and layers[-1] is cat and set(layers) == {l_in, a, b, cat}
        assert cat.output_shape == (None, 5)

    def test_get_output_with_dict_and_shape(self):
        l_in = dl.InputLayer((None, 4))
        a = dl.DenseLayer(l_in, 3, nonlinearity=None)
        s = dl.ElemwiseSumLayer([a, a], coeffs=[1.0, -2.0])
        X = np.ones((2, 4), dtype="float32")
        got = dl.get_output(s, {l_in: X}).eval()
        np.testing.assert_allclose(got, -(X @ a.W.get_value()), rtol=1e-6)
        assert dl.get_output_shape(s, (7, 4)) == (7, 3)

    def test_input_of_wrong_rank_is_refused(self):
        l_in = dl.InputLayer((None, 4), name="x")
        net = dl.DenseLayer(l_in, 3)
        with pytest.raises(ValueError, match=r"input for layer 'x' has 3 dimensions, but the layer expects shape \(None, 4\)"):
            dl.get_output(net, pt.tensor3())
        with pytest.raises(ValueError, match="input_var has 1 dimensions"):
            dl.InputLayer((None, 4), input_var=pt.vector())

    def test_bad_shapes_refused(self):
        with pytest.raises(ValueError, match="sizes must be positive"):
            dl.InputLayer((None, 0))
        with pytest.raises(ValueError, match="num_units must be a positive integer"):
            dl.DenseLayer((None, 3), 0)
        with pytest.raises(ValueError, match="requires a fixed input shape"):
            dl.DenseLayer((None, None), 3)


class TestConfig:
    def test_every_layer_round_trips_through_json(self):
        l_in = dl.InputLayer((None, 4), name="in")
        layers = [
            dl.DenseLayer(l_in, 3, nonlinearity=nonlinearities.tanh, b=None, name="d"),
            dl.ReLUDenseLayer(l_in, 5, leakiness=0.2, name="r"),
            dl.SwitchDropoutLayer(l_in, p=0.3, shared_axes=(0,), seed=7, name="s"),
            dl.DropoutLayer(l_in, p=0.2, rescale=False, name="m"),
        ]
        for layer in layers:
            config = json.loads(json.dumps(layer.get_config()))
            clone = dl.get_layer_class(type(layer).__name__).from_config(l_in, config)
            assert type(clone) is type(layer)
            assert clone.get_config() == layer.get_config()
            assert clone.output_shape == layer.output_shape
        assert layers[0].b is None and layers[0].nonlinearity is nonlinearities.tanh
        in_clone = dl.InputLayer.from_config(None, json.loads(json.dumps(l_in.get_config())))
        assert in_clone.shape == (None, 4)

    def test_unknown_nonlinearity_cannot_be_stored(self):
        layer = dl.DenseLayer((None, 3), 2, nonlinearity=lambda x: x * 2)
        with pytest.raises(ValueError, match="cannot be stored"):
            layer.get_config()

    def test_unregistered_layer_error_says_how(self):
        with pytest.raises(KeyError, match="register_layer"):
            dl.get_layer_class("NoSuchLayer")


@pytest.mark.parametrize("name, reference_grad", [
    ("rectify", lambda x: (x > 0).astype(np.float32)),
    ("leaky_rectify", lambda x: np.where(x > 0, 1.0, 0.01).astype(np.float32)),
    ("elu", lambda x: np.where(x > 0, 1.0, np.exp(x)).astype(np.float32)),
])
def test_piecewise_nonlinearity_gradients_stay_float32_and_exact(name, reference_grad):
    x = pt.vector("x", dtype="float32")
    grad = pytensor.grad(getattr(nonlinearities, name)(x).sum(), x)
    assert grad.dtype == "float32"  # no float64 zero from the comparison
    values = np.array([-2.0, -0.5, 0.5, 3.0], dtype=np.float32)
    np.testing.assert_allclose(pytensor.function([x], grad)(values), reference_grad(values), rtol=1e-6)


def test_rectifier_network_train_step_has_no_float64_tensors():
    l_in = dl.InputLayer((None, 5))
    net = dl.DenseLayer(dl.ReLUDenseLayer(dl.ReLUDenseLayer(l_in, 7), 7), 1)
    loss = dl.get_output(net).mean()
    grads = pytensor.grad(loss, dl.get_all_params(net, trainable=True))
    fn = pytensor.function([l_in.input_var], grads)
    float64 = [str(var) for node in fn.maker.fgraph.toposort() for var in node.outputs
               if getattr(var.type, "dtype", None) == "float64" and var.type.ndim > 0]
    assert float64 == []
