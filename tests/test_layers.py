import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import dropout_layers as dl
from dropout_layers import init, nonlinearities


def build_stack(sizes=(5, 7, 3), dtype="float32"):
    layer = dl.InputLayer((None, sizes[0]))
    for n in sizes[1:-1]:
        layer = dl.ReLUDenseLayer(layer, n)
        layer = dl.SwitchDropoutLayer(layer, 0.5)
    return dl.DenseLayer(layer, sizes[-1], nonlinearity=None)


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
        message = r"input for layer 'x' has 3 dimensions, but the layer expects shape \(None, 4\)"
        with pytest.raises(ValueError, match=message):
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
    got = pytensor.function([x], grad)(values)
    np.testing.assert_allclose(got, reference_grad(values), rtol=1e-6)


def test_rectifier_network_train_step_has_no_float64_tensors():
    l_in = dl.InputLayer((None, 5))
    net = dl.DenseLayer(dl.ReLUDenseLayer(dl.ReLUDenseLayer(l_in, 7), 7), 1)
    loss = dl.get_output(net).mean()
    grads = pytensor.grad(loss, dl.get_all_params(net, trainable=True))
    fn = pytensor.function([l_in.input_var], grads)
    float64 = [str(var) for node in fn.maker.fgraph.toposort() for var in node.outputs
               if getattr(var.type, "dtype", None) == "float64" and var.type.ndim > 0]
    assert float64 == []


class _ShapeOnly:
    """Not a Layer: anything with an ``output_shape`` can feed a layer, as in Lasagne."""

    def __init__(self, shape):
        self.output_shape = shape


class TestIncomingsAndParams:
    def test_any_object_with_output_shape_is_an_incoming(self):
        source = _ShapeOnly((None, 6))
        layer = dl.DenseLayer(source, 2)
        assert layer.input_layer is source and layer.input_shape == (None, 6)
        merged = dl.ConcatLayer([source, _ShapeOnly((None, 3))])
        assert merged.output_shape == (None, 9)
        with pytest.raises(ValueError, match="sizes must be positive"):
            dl.DenseLayer(_ShapeOnly((None, 0)), 2)
        with pytest.raises(TypeError, match="an object with an output_shape"):
            dl.DenseLayer(42, 2)

    def test_input_layer_has_no_incoming(self):
        l_in = dl.InputLayer((None, 2))
        assert not hasattr(l_in, "input_layer")
        assert dl.get_all_layers(l_in) == [l_in]

    def test_symbolic_output_shape_is_refused(self):
        class Symbolic(dl.Layer):
            def get_output_shape_for(self, input_shape):
                return pt.matrix().shape

        with pytest.raises(ValueError, match="symbolic output shape"):
            Symbolic((None, 2)).output_shape

    def test_parameter_expressions_and_unwrap_shared(self):
        log_scale = pytensor.shared(np.zeros((3, 2), dtype="float32"), name="log_scale")
        net = dl.DenseLayer(dl.InputLayer((None, 3)), 2, W=pt.exp(log_scale), nonlinearity=None)
        assert dl.get_all_params(net) == [log_scale, net.b]
        assert dl.get_all_params(net, unwrap_shared=False) == [net.W, net.b]
        assert dl.get_all_params(net, regularizable=True) == [log_scale]
        assert dl.count_params(net) == 3 * 2 + 2
        X = np.ones((1, 3), dtype="float32")
        np.testing.assert_allclose(dl.get_output(net, X).eval(), [[3.0, 3.0]])

    def test_get_params_tags_and_names(self):
        layer = dl.Layer((None, 4), name="L")
        a = layer.add_param(np.zeros(2), (2,), name="a", tag1=True)
        b = layer.add_param(np.zeros(3), (3,), name="b", trainable=False)
        assert a.name == "L.a" and layer.get_params(tag1=True) == [a]
        assert layer.get_params(trainable=False) == [b] and layer.get_params(tag1=False) == [b]


class TestUnusedKwargs:
    def net(self):
        return dl.DropoutLayer(dl.DenseLayer(dl.InputLayer((None, 3)), 2), 0.5)

    def test_misspelt_deterministic_warns_with_the_right_name(self):
        with pytest.warns(dl.UnusedKwargsWarning, match=r"determinstic \(perhaps you meant "
                                                        r"deterministic\)"):
            dl.get_output(self.net(), determinstic=True)

    def test_unrelated_name_warns_without_a_suggestion(self):
        with pytest.warns(dl.UnusedKwargsWarning, match=r"no layer uses: zzz$"):
            dl.get_output(self.net(), zzz=1)

    def test_names_a_layer_accepts_do_not_warn(self, recwarn):
        class Scaled(dl.Layer):
            def get_output_for(self, input, factor=1.0, **kwargs):
                return input * factor

        class TakesKwargs(dl.Layer):
            def __init__(self, incoming):
                super().__init__(incoming)
                self.get_output_kwargs = ["shift"]

            def get_output_for(self, input, **kwargs):
                return input + kwargs.get("shift", 0)

        net = TakesKwargs(Scaled(dl.InputLayer((None, 2))))
        out = dl.get_output(net, np.ones((1, 2), "float32"), factor=3.0, shift=1.0,
                            deterministic=True)
        np.testing.assert_allclose(out.eval(), [[4.0, 4.0]])
        assert not [w for w in recwarn if issubclass(w.category, dl.UnusedKwargsWarning)]

    def test_can_be_made_an_error(self):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error", dl.UnusedKwargsWarning)
            with pytest.raises(dl.UnusedKwargsWarning):
                dl.get_output(self.net(), determinstic=True)


class TestGetOutputInputs:
    def test_layer_built_from_a_shape_takes_its_input_under_none(self):
        layer = dl.DenseLayer((None, 2), 3, nonlinearity=None)
        x = pt.matrix("x")
        out = dl.get_output(layer, {None: x})
        value = np.ones((1, 2))
        np.testing.assert_allclose(out.eval({x: value}), value @ layer.W.get_value())
        with pytest.raises(ValueError, match="built from a shape"):
            dl.get_output(layer)

    def test_dict_keys_must_be_layers(self):
        with pytest.raises(TypeError, match="keys of the inputs dict must be layers"):
            dl.get_output(dl.InputLayer((None, 2)), {"x": np.ones((1, 2))})

    def test_arrays_for_an_input_layer_take_its_dtype(self):
        l_in = dl.InputLayer((None, 2))
        assert dl.get_output(l_in, [[1, 2]]).dtype == "float32"

    def test_output_shape_with_shapes_dict_and_none(self):
        layer = dl.DenseLayer((None, 2), 3)
        assert dl.get_output_shape(layer, {None: (5, 2)}) == (5, 3)
        assert dl.get_output_shape(layer, {}) == (None, 3)


def np_nin(X, W, b, untie):
    out = np.einsum("bc...,cu->bu...", X, W)
    if b is not None:
        out = out + (b[None] if untie else b.reshape((1, -1) + (1,) * (X.ndim - 2)))
    return out


class TestNINLayer:
    @pytest.mark.parametrize("untie", [False, True])
    def test_matches_numpy(self, untie):
        layer = dl.NINLayer(dl.InputLayer((None, 3, 4, 5)), 6, untie_biases=untie,
                            b=init.Normal(1.0), nonlinearity=None)
        assert layer.b.get_value().shape == ((6, 4, 5) if untie else (6,))
        X = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
        got = dl.get_output(layer, X).eval()
        assert got.shape == layer.get_output_shape_for(X.shape) == (2, 6, 4, 5)
        expected = np_nin(X, layer.W.get_value(), layer.b.get_value(), untie)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_config_round_trip_and_refusals(self):
        layer = dl.NINLayer((None, 3, 7), 2, untie_biases=True, b=None, name="nin",
                            nonlinearity=nonlinearities.elu)
        config = json.loads(json.dumps(layer.get_config()))
        clone = dl.NINLayer.from_config((None, 3, 7), config)
        assert clone.get_config() == config and clone.b is None
        with pytest.raises(ValueError, match="fixed number of channels"):
            dl.NINLayer((None, None, 4), 2)


class TestMergeLayers:
    def test_autocrop_matches_numpy_slicing(self):
        rng = np.random.default_rng(1)
        a, b = rng.normal(size=(4, 6, 5)), rng.normal(size=(3, 2, 9))
        cropping = ["upper", "center", "lower"]
        got = dl.autocrop([pytensor.shared(a), pytensor.shared(b)], cropping)
        np.testing.assert_array_equal(got[0].eval(), a[1:, 2:4, :5])
        np.testing.assert_array_equal(got[1].eval(), b[:, :, :5])
        assert dl.autocrop_array_shapes([a.shape, b.shape], cropping) == [(3, 2, 5)] * 2
        assert dl.autocrop_array_shapes([(None, 6), (3, 2)], ["lower"]) == [(None, 6), (None, 2)]
        with pytest.raises(ValueError, match="unknown crop mode 'middle'"):
            dl.autocrop_array_shapes([(1,), (2,)], ["middle"])
        with pytest.raises(ValueError, match="same number of dimensions"):
            dl.autocrop_array_shapes([(1,), (2, 3)], ["lower"])

    def test_concat_with_cropping_never_crops_its_axis(self):
        layer = dl.ConcatLayer([(None, 3, 8), (None, 2, 6)], axis=1,
                               cropping=["lower", "lower", "center"])
        assert layer.cropping == ["lower", None, "center"]
        assert layer.output_shape == (None, 5, 6)
        rng = np.random.default_rng(2)
        a, b = rng.normal(size=(2, 3, 8)), rng.normal(size=(4, 2, 6))
        got = layer.get_output_for([pytensor.shared(a), pytensor.shared(b)]).eval()
        np.testing.assert_array_equal(got, np.concatenate([a[:, :, 1:7], b[:2]], axis=1))

    def test_shape_mismatches_are_refused(self):
        with pytest.raises(ValueError, match="same except in the concatenation axis"):
            dl.ConcatLayer([(None, 3, 8), (None, 2, 6)], axis=1)
        with pytest.raises(ValueError, match="input shapes differ"):
            dl.ElemwiseSumLayer([(None, 3), (None, 4)])
        with pytest.raises(ValueError, match="got 3 coeffs for 2 incomings"):
            dl.ElemwiseSumLayer([(None, 3), (None, 3)], coeffs=[1, 2, 3])

    def test_elemwise_merge_and_sum(self):
        rng = np.random.default_rng(3)
        a, b, c = (rng.normal(size=(2, 3)).astype("float32") for _ in range(3))
        inputs = [pytensor.shared(v) for v in (a, b, c)]
        maximum = dl.ElemwiseMergeLayer([(2, 3)] * 3, merge_function=pt.maximum)
        np.testing.assert_array_equal(maximum.get_output_for(inputs).eval(),
                                      np.maximum(np.maximum(a, b), c))
        summed = dl.ElemwiseSumLayer([(2, 3)] * 3, coeffs=[0.5, -1, 2])
        out = summed.get_output_for(inputs)
        assert out.dtype == "float32"  # the coefficients do not upcast
        np.testing.assert_allclose(out.eval(), 0.5 * a - b + 2 * c, rtol=1e-6)
        integers = [pytensor.shared(np.array([1, 2])), pytensor.shared(np.array([3, 4]))]
        diff = dl.ElemwiseSumLayer([(2,), (2,)], coeffs=[2, -1]).get_output_for(integers)
        np.testing.assert_array_equal(diff.eval(), [-1, 0])

    def test_merge_configs_round_trip(self):
        layers = [
            dl.ConcatLayer([(None, 3), (None, 2)], cropping=["lower", None], name="c"),
            dl.ElemwiseMergeLayer([(None, 3), (None, 3)], pt.mul, name="m"),
            dl.ElemwiseSumLayer([(None, 3), (None, 3)], coeffs=[1, -0.5], name="s"),
        ]
        for layer in layers:
            config = json.loads(json.dumps(layer.get_config()))
            incomings = [(None, 3), (None, 3)] if layer.name != "c" else [(None, 3), (None, 2)]
            clone = dl.get_layer_class(type(layer).__name__).from_config(incomings, config)
            assert clone.get_config() == config
        assert dl.ElemwiseMergeLayer.from_config(
            [(2,), (2,)], {"merge_function": "mul", "cropping": None, "name": None}
        ).merge_function is pt.mul
        with pytest.raises(ValueError, match="cannot be stored"):
            dl.ElemwiseMergeLayer([(2,), (2,)], lambda a, b: a - b).get_config()
