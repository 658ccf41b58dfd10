"""Tests for dropout_layers.init: explicit rng=, the global RNG, fans, c01b, Sparse."""
import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers import init

ALL_RANDOM = [
    init.Normal, init.Uniform, init.GlorotNormal, init.GlorotUniform, init.HeNormal,
    init.HeUniform, init.Sparse, init.Orthogonal,
]


@pytest.mark.parametrize("cls", ALL_RANDOM)
def test_explicit_rng_is_used_and_global_state_untouched(cls):
    before = dl.get_rng().get_state()[1].copy()
    first = cls(rng=np.random.default_rng(11))((20, 30))
    again = cls(rng=np.random.default_rng(11))((20, 30))
    other = cls(rng=np.random.RandomState(12))((20, 30))
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.float32 and first.shape == (20, 30)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(dl.get_rng().get_state()[1], before)


@pytest.mark.parametrize("cls", ALL_RANDOM)
def test_numpy_global_seed_seeds_the_default_rng(cls):
    with dl.random.seeded(np.random):  # the default: NumPy's global generator
        np.random.seed(3)
        first = cls()((10, 12))
        np.random.seed(3)
        again = cls()((10, 12))
    np.testing.assert_array_equal(first, again)


def test_default_global_rng_is_numpy_module_in_a_fresh_interpreter():
    from helpers import run_python
    proc = run_python("import numpy as np, dropout_layers as dl; print(dl.get_rng() is np.random)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_set_rng_accepts_the_numpy_module_and_refuses_others():
    with dl.random.seeded(5):
        dl.set_rng(np.random)
        assert dl.get_rng() is np.random
    with pytest.raises(TypeError, match="RandomState or Generator"):
        dl.set_rng(42)


@pytest.mark.parametrize("cls", [init.Normal, init.Uniform, init.Constant])
def test_any_rank_for_elementwise_initializers(cls):
    for shape in ((), (7,), (2, 3, 4)):
        assert cls()(shape).shape == shape


@pytest.mark.parametrize("cls", [init.GlorotNormal, init.HeUniform, init.Orthogonal, init.Sparse])
def test_fan_based_initializers_refuse_vectors(cls):
    with pytest.raises(init.InitializerShapeError, match="got \\(5,\\)") as caught:
        cls()((5,))
    # Lasagne raises RuntimeError here; ours is also a ValueError.
    assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, ValueError)


# Reference standard deviations: (initializer, shape, expected std). For c01b
# the layout is (in, rows, cols, out): Glorot uses fans in=shape[0] and
# out=shape[3] times the 2x3 receptive field, He the product of the first three.
STD_CASES = [
    (init.GlorotNormal(), (40, 60, 3), np.sqrt(2.0 / ((40 + 60) * 3))),
    (init.GlorotNormal(c01b=True), (40, 2, 3, 60), np.sqrt(2.0 / ((40 + 60) * 6))),
    (init.GlorotUniform(gain="relu", c01b=True), (40, 2, 3, 60),
     np.sqrt(2.0) * np.sqrt(2.0 / ((40 + 60) * 6))),
    (init.HeNormal(c01b=True), (40, 2, 3, 60), np.sqrt(1.0 / (40 * 6))),
    (init.HeUniform(gain=3.0), (30, 20, 2, 2), 3.0 * np.sqrt(1.0 / (20 * 4))),
]


@pytest.mark.parametrize("initializer, shape, expected", STD_CASES)
def test_fan_scaled_std(initializer, shape, expected):
    initializer.rng = np.random.default_rng(0)
    W = initializer(shape)
    # The std of n draws has a relative standard error of about 1/sqrt(2n).
    assert W.std() == pytest.approx(expected, rel=5 / np.sqrt(2 * W.size))


def test_c01b_needs_four_dimensions():
    with pytest.raises(init.InitializerShapeError, match="c01b=True needs a 4-D shape"):
        init.HeNormal(c01b=True)((10, 10, 10))


def test_draws_equal_the_base_distribution_with_the_same_rng():
    W = init.GlorotNormal(rng=np.random.default_rng(4))((30, 50))
    std = np.sqrt(2.0 / 80)
    expected = np.random.default_rng(4).normal(0.0, std, size=(30, 50)).astype(np.float32)
    np.testing.assert_array_equal(W, expected)


def test_sparse_has_exact_count_per_column():
    W = init.Sparse(sparsity=0.25, std=1.0, rng=np.random.default_rng(2))((12, 9))
    np.testing.assert_array_equal((W != 0).sum(axis=0), np.full(9, 3))
    with pytest.raises(init.InitializerShapeError, match="needs a 2-D shape"):
        init.Sparse()((3, 3, 3))


def test_orthogonal_with_gain_over_flattened_trailing_axes():
    Q = init.Orthogonal(gain="relu", rng=np.random.default_rng(3))((6, 2, 5))
    flat = Q.reshape(6, 10).astype(np.float64)
    np.testing.assert_allclose(flat @ flat.T, 2.0 * np.eye(6), atol=1e-5)


def test_configs_leave_the_rng_out():
    assert init.Normal(0.1, rng=np.random.default_rng(0)).get_config() == {"std": 0.1, "mean": 0.0}
    assert init.HeNormal(gain="relu", c01b=True).get_config() == {"gain": "relu", "c01b": True}
    assert repr(init.Sparse(0.5)) == "Sparse(sparsity=0.5, std=0.01)"


def test_layers_take_initializers_with_their_own_rng():
    a = dl.DenseLayer((None, 4), 3, W=init.GlorotUniform(rng=np.random.default_rng(9)))
    b = dl.DenseLayer((None, 4), 3, W=init.GlorotUniform(rng=np.random.default_rng(9)))
    np.testing.assert_array_equal(a.W.get_value(), b.W.get_value())
