"""Tests for dropout_layers.utils and the float dtype rules of dropout_layers.config."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from helpers import run_python

from dropout_layers import config, init, utils


class TestFloatX:
    def test_casts_to_the_library_dtype(self):
        assert utils.floatX([1, 2]).dtype == np.float32
        already = np.zeros(3, dtype=np.float32)
        assert utils.floatX(already) is already

    def test_set_floatX_and_forgetting_it(self):
        with config.using_floatX("float64"):
            assert utils.floatX([1]).dtype == np.float64
            assert init.Constant(1.0)((2,)).dtype == np.float64
        assert config.get_floatX() == "float32"
        config.set_floatX("float16")
        try:
            assert config.get_floatX() == "float16"
        finally:
            config.set_floatX(None)
        with pytest.raises(ValueError, match="floatX must be one of"):
            config.set_floatX("int32")

    def test_assigned_pytensor_floatx_is_followed(self):
        previous = pytensor.config.floatX
        pytensor.config.floatX = "float16"
        try:
            assert config.get_floatX() == "float16"
            with config.using_floatX("float32"):  # an explicit choice wins
                assert config.get_floatX() == "float32"
        finally:
            pytensor.config.floatX = previous
        assert config.get_floatX() == "float32"

    @pytest.mark.parametrize("flag, expected", [("float64", "float64"), ("float32", "float32")])
    def test_pytensor_flags_are_followed(self, flag, expected):
        # The flag must be set before PyTensor is imported: a fresh interpreter.
        proc = run_python(
            f"import os; os.environ['PYTENSOR_FLAGS'] = 'floatX={flag}'; "
            "import dropout_layers as dl; l = dl.DenseLayer((None, 2), 3); "
            "print(dl.get_floatX(), l.W.dtype, dl.InputLayer((None, 2)).input_var.dtype)"
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [expected] * 3

    def test_unset_pytensor_default_gives_float32(self):
        proc = run_python("import os; os.environ.pop('PYTENSOR_FLAGS', None); "
                          "import pytensor, dropout_layers as dl; "
                          "print(pytensor.config.floatX, dl.get_floatX())")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["float64", "float32"]


class TestSmallHelpers:
    def test_int_types(self):
        for value in (3, np.int8(3), np.int64(3), np.prod(np.zeros((2, 3)).shape)):
            assert isinstance(value, utils.int_types)
        assert not isinstance(3.0, utils.int_types)

    def test_as_tuple(self):
        assert utils.as_tuple(2, 3) == (2, 2, 2)
        assert utils.as_tuple([1, 2], 2, int) == (1, 2)
        with pytest.raises(ValueError, match="with length 3, got"):
            utils.as_tuple([1, 2], 3)
        with pytest.raises(TypeError, match="iterable of int or float, got"):
            utils.as_tuple("ab", 2, (int, float))
        with pytest.raises(TypeError, match="iterable of int, got"):
            utils.as_tuple(1.5, 2, utils.int_types)

    def test_unique_keeps_first_appearances(self):
        a, b = object(), object()
        assert utils.unique([b, a, b, a]) == [b, a]

    def test_inspect_kwargs(self):
        def f(a, b=1, *args, c, d=2, **kw):
            return 0
        assert utils.inspect_kwargs(f) == ["b", "d"]

    def test_shared_empty(self):
        var = utils.shared_empty(2, dtype="int32")
        assert var.get_value().shape == (1, 1) and var.dtype == "int32"
        assert utils.shared_empty(4).dtype == "float32"

    def test_as_theano_expression_is_the_pytensor_one(self):
        assert utils.as_theano_expression is utils.as_pytensor_expression
        x = pt.matrix()
        assert utils.as_pytensor_expression(x) is x
        np.testing.assert_array_equal(utils.as_pytensor_expression(np.eye(2)).eval(), np.eye(2))
        with pytest.raises(TypeError, match="not a PyTensor expression"):
            utils.as_pytensor_expression({"a": 1})

    def test_one_hot(self):
        labels = np.array([2, 0, 3, 2])
        got = utils.one_hot(labels).eval()
        assert got.shape == (4, 4) and got.dtype == np.float32
        np.testing.assert_array_equal(got, np.eye(4)[labels])
        assert utils.one_hot(pt.as_tensor(labels), 6).eval().shape == (4, 6)


class TestCollectSharedVars:
    def test_order_is_a_left_to_right_depth_first_walk(self):
        x, y, z = (pytensor.shared(np.float64(1), name=n) for n in "xyz")
        assert utils.collect_shared_vars([z, x, z, y]) == [z, x, y]
        assert utils.collect_shared_vars((y * x) + z) == [y, x, z]
        assert utils.collect_shared_vars(x - (z + y)) == [x, z, y]
        assert utils.collect_shared_vars([pt.exp(y), pt.matrix() * x]) == [y, x]
        assert utils.collect_shared_vars(pt.vector() * 2) == []


class TestComputeNorms:
    def test_default_axes_by_rank(self):
        rng = np.random.default_rng(0)
        w2, w4, b = rng.normal(size=(4, 3)), rng.normal(size=(2, 3, 4, 5)), rng.normal(size=6)
        np.testing.assert_allclose(utils.compute_norms(w2), np.sqrt((w2**2).sum(axis=0)))
        np.testing.assert_allclose(utils.compute_norms(w4), np.sqrt((w4**2).sum(axis=(1, 2, 3))))
        np.testing.assert_allclose(utils.compute_norms(b), np.abs(b))
        np.testing.assert_allclose(utils.compute_norms(w4, norm_axes=(0, 3)),
                                   np.sqrt((w4**2).sum(axis=(0, 3))))

    def test_symbolic_matches_numpy_and_keeps_dtype(self):
        w = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
        norms = utils.compute_norms(pytensor.shared(w))
        assert norms.dtype == "float32"
        np.testing.assert_allclose(norms.eval(), utils.compute_norms(w), rtol=1e-6)

    def test_refusals(self):
        with pytest.raises(RuntimeError, match="Unsupported type list"):
            utils.compute_norms([1.0, 2.0])
        with pytest.raises(ValueError, match="Unsupported tensor dimensionality 6"):
            utils.compute_norms(np.zeros((1,) * 6))


class TestCreateParam:
    def test_arrays_keep_their_dtype_and_size_one_axes_broadcast(self):
        for dtype in ("float64", "int16", "float32"):
            param = utils.create_param(np.ones((1, 3, 1), dtype=dtype), (1, 3, 1), name="p")
            assert param.dtype == dtype and param.name == "p"
            assert param.broadcastable == (True, False, True)

    def test_initializers_give_the_library_dtype(self):
        param = utils.create_param(init.Normal(), (3, 1))
        assert param.dtype == "float32" and param.broadcastable == (False, True)

    def test_numbers_make_scalars_only(self):
        assert utils.create_param(2.5, ()).get_value() == 2.5
        assert utils.create_param(np.int32(4), ()).dtype == "int32"
        with pytest.raises(ValueError, match=r"has shape \(\), expected \(3,\)"):
            utils.create_param(0.0, (3,))

    def test_scalar_returning_initializer_is_refused(self):
        with pytest.raises(ValueError, match=r"has shape \(\), expected \(2, 2\)"):
            utils.create_param(lambda shape: np.array(0.5), (2, 2))

    def test_shared_variables_and_expressions_pass_through(self):
        shared = pytensor.shared(np.zeros((2, 3)))
        assert utils.create_param(shared, (2, 3), name="W") is shared and shared.name == "W"
        named = pytensor.shared(np.zeros(2), name="mine")
        assert utils.create_param(named, (2,), name="b").name == "mine"
        log_sigma = pytensor.shared(np.zeros(4))
        expression = utils.create_param(lambda shape: pt.exp(log_sigma), (4,))
        assert expression.owner is not None and utils.collect_shared_vars(expression) == [log_sigma]

    def test_refusals(self):
        with pytest.raises(ValueError, match="sizes must be positive"):
            utils.create_param(np.zeros, (0, 2))
        with pytest.raises(ValueError, match="has 2 dimensions, expected 3"):
            utils.create_param(pytensor.shared(np.zeros((2, 3))), (2, 3, 1))
        with pytest.raises(ValueError, match=r"has shape \(2, 3\), expected \(3, 2\)"):
            utils.create_param(pytensor.shared(np.zeros((2, 3))), (3, 2))
        with pytest.raises(TypeError, match="returned by the initializer is a str"):
            utils.create_param(lambda shape: "zeros", (2,))
        with pytest.raises(TypeError, match="given value is a dict"):
            utils.create_param({}, (2,))


def test_unroll_scan_matches_a_python_loop():
    a = pt.scalar("a")
    count, halves = utils.unroll_scan(
        lambda step, c, h, a: (c + step, h / a), pt.arange(4), [0.0, 1.0], [a], 4
    )
    f = pytensor.function([a], [count, halves])
    got_count, got_halves = f(2.0)
    np.testing.assert_allclose(got_count, [0, 1, 3, 6])
    np.testing.assert_allclose(got_halves, [0.5, 0.25, 0.125, 0.0625])
    backwards = utils.unroll_scan(lambda s, c: c * 10 + s, pt.arange(3), [0.0], [], 3,
                                  go_backwards=True)
    np.testing.assert_allclose(backwards[0].eval(), [2, 21, 210])
