import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from helpers import run_python

import dropout_layers as dl

ROWS, COLS = 200, 500  # 100,000 mask elements per draw


def compile_train(layer, l_in):
    return dl.function([l_in.input_var], dl.get_output(layer))


@pytest.fixture(params=[dl.SwitchDropoutLayer, dl.DropoutLayer], ids=["switch", "multiply"])
def layer_class(request):
    return request.param


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_rate_within_five_binomial_sigma(layer_class, p):
    l_in = dl.InputLayer((None, COLS))
    f = compile_train(layer_class(l_in, p=p, seed=3), l_in)
    out = f(np.ones((ROWS, COLS), dtype="float32"))
    n = out.size
    dropped = np.mean(out == 0)
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_kept_values_equal_x_over_retain(layer_class, p):
    l_in = dl.InputLayer((None, COLS))
    f = compile_train(layer_class(l_in, p=p, seed=4), l_in)
    X = np.random.RandomState(0).uniform(0.5, 2.0, (ROWS, COLS)).astype("float32")
    out = f(X)
    kept = out != 0
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[kept], (X * np.float32(1 / (1 - p)))[kept])
    np.testing.assert_array_max_ulp(out[kept], (X / np.float32(1 - p))[kept], maxulp=1)


def test_rescale_false_keeps_values(layer_class):
    l_in = dl.InputLayer((None, 50))
    f = compile_train(layer_class(l_in, p=0.3, rescale=False, seed=5), l_in)
    X = np.random.RandomState(1).uniform(1, 2, (40, 50)).astype("float32")
    out = f(X)
    kept = out != 0
    np.testing.assert_array_equal(out[kept], X[kept])
    assert 0 < kept.mean() < 1


def test_mean_over_draws_matches_deterministic():
    p, draws = 0.5, 400
    l_in = dl.InputLayer((None, 50))
    layer = dl.SwitchDropoutLayer(l_in, p=p, seed=6)
    f = compile_train(layer, l_in)
    X = np.random.RandomState(2).uniform(0.5, 2.0, (20, 50)).astype("float32")
    det = dl.get_output(layer, X, deterministic=True).eval()
    np.testing.assert_array_equal(det, X)
    mean = np.mean([f(X) for _ in range(draws)], axis=0, dtype=np.float64)
    # each output is x/(1-p) with probability 1-p: variance x^2 p/(1-p)
    sigma = X * np.sqrt(p / (1 - p)) / np.sqrt(draws)
    z = (mean - det) / sigma
    assert np.max(np.abs(z)) < 5.5
    assert abs(z.mean()) < 5 / np.sqrt(z.size)


def test_rows_get_their_own_masks():
    l_in = dl.InputLayer((None, 100))
    f = compile_train(dl.SwitchDropoutLayer(l_in, p=0.5, seed=7), l_in)
    mask = f(np.ones((64, 100), dtype="float32")) != 0
    assert len({row.tobytes() for row in mask}) == 64
    # rows are independent: the correlation between consecutive rows is ~N(0, 1/100)
    corr = [np.corrcoef(mask[i], mask[i + 1])[0, 1] for i in range(63)]
    assert abs(np.mean(corr)) < 5 / np.sqrt(100 * 63)


def test_shared_axes_share_the_mask():
    l_in = dl.InputLayer((None, 100))
    layer = dl.SwitchDropoutLayer(l_in, p=0.5, shared_axes=(0,), seed=8)
    mask = compile_train(layer, l_in)(np.ones((16, 100), dtype="float32")) != 0
    assert all(np.array_equal(mask[0], row) for row in mask)
    assert 0 < mask[0].mean() < 1


def test_dropout_channels_shares_over_spatial_axes():
    l_in = dl.InputLayer((None, 8, 5, 5))
    layer = dl.dropout_channels(l_in, p=0.5, seed=9)
    assert layer.shared_axes == (2, 3)
    out = compile_train(layer, l_in)(np.ones((4, 8, 5, 5), dtype="float32"))
    per_channel = out.reshape(4, 8, 25)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))
    assert dl.spatial_dropout is dl.dropout_channels


def test_two_calls_draw_different_masks():
    l_in = dl.InputLayer((None, 100))
    f = compile_train(dl.SwitchDropoutLayer(l_in, p=0.5, seed=10), l_in)
    X = np.ones((8, 100), dtype="float32")
    assert not np.array_equal(f(X), f(X))


def test_same_seed_same_masks_and_global_seed_reproducible():
    X = np.ones((8, 100), dtype="float32")

    def masks(**kwargs):
        l_in = dl.InputLayer((None, 100))
        f = compile_train(dl.SwitchDropoutLayer(l_in, p=0.5, **kwargs), l_in)
        return f(X), f(X)

    a, b = masks(seed=11), masks(seed=11)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    dl.set_rng(np.random.RandomState(99))
    c = masks()
    dl.set_rng(np.random.RandomState(99))
    d = masks()
    np.testing.assert_array_equal(c[1], d[1])
    assert not np.array_equal(a[0], c[0])


SEEDED_RUN = """
import numpy as np, dropout_layers as dl
dl.set_rng(np.random.RandomState(2024))
l_in = dl.InputLayer((None, 64))
layer = dl.SwitchDropoutLayer(dl.ReLUDenseLayer(l_in, 64), p=0.5)
f = dl.function([l_in.input_var], dl.get_output(layer))
X = np.ones((16, 64), dtype='float32')
kept = np.concatenate([(f(X) != 0).ravel(), (f(X) != 0).ravel()])
print(''.join('1' if v else '0' for v in kept))
"""


def test_same_seed_same_masks_in_two_fresh_processes():
    first, second = run_python(SEEDED_RUN), run_python(SEEDED_RUN)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    bits = first.stdout.strip()
    assert len(bits) == 2 * 16 * 64 and bits[: 16 * 64] != bits[16 * 64:]


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_gradient_is_zero_for_dropped_and_scaled_for_kept(layer_class, p):
    l_in = dl.InputLayer((None, 30))
    layer = layer_class(l_in, p=p, seed=12)
    out = dl.get_output(layer)
    upstream = pt.matrix("g", dtype="float32")
    grad = pytensor.grad(pt.sum(out * upstream), l_in.input_var)
    f = dl.function([l_in.input_var, upstream], [out, grad])
    X = np.random.RandomState(3).uniform(0.5, 1.5, (20, 30)).astype("float32")
    G = np.random.RandomState(4).randn(20, 30).astype("float32")
    y, g = f(X, G)
    kept = y != 0
    assert np.all(g[~kept] == 0)
    np.testing.assert_allclose(g[kept], G[kept] / (1 - p), rtol=1e-6)


def test_deterministic_is_identity_and_p_zero_is_identity(layer_class):
    l_in = dl.InputLayer((None, 5))
    x = l_in.input_var
    assert layer_class(l_in, p=0.5).get_output_for(x, deterministic=True) is x
    assert layer_class(l_in, p=0.0).get_output_for(x) is x


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_invalid_p_refused(layer_class, bad):
    with pytest.raises(ValueError, match=r"dropout probability p must be in \[0, 1\), got"):
        layer_class((None, 5), p=bad)


def test_non_numeric_p_refused():
    with pytest.raises(TypeError, match="p must be a float"):
        dl.SwitchDropoutLayer((None, 5), p="0.5")
    with pytest.raises(TypeError, match="scalar"):
        dl.SwitchDropoutLayer((None, 5), p=pt.vector("p"))


# --------------------------------------------------------------------------- Lasagne's arguments


def test_dropout_is_lasagnes_dropout_layer_and_the_shortcuts_build_it():
    assert dl.dropout is dl.DropoutLayer
    assert isinstance(dl.dropout_channels((None, 3, 4, 4)), dl.DropoutLayer)
    assert isinstance(dl.dropout_locations((None, 3, 4, 4)), dl.DropoutLayer)
    assert dl.dropout_channels((10, 20)).shared_axes == ()
    assert dl.dropout_locations((None, 3)).shared_axes == (1,)


@pytest.mark.parametrize("p", [np.float32(0.25), np.float16(0.25), np.array(0.25), 0.25])
def test_numpy_scalar_p_is_a_float(layer_class, p):
    layer = layer_class((None, 10), p=p)
    assert layer.p == 0.25 and type(layer.p) is float
    out = layer.get_output_for(pt.matrix("x", dtype="float32"))
    assert out.dtype == "float32"


def test_integer_input_without_rescale_stays_integer():
    layer = dl.DropoutLayer((None, 200), p=0.5, rescale=False, seed=1)
    x = pt.matrix("x", dtype="int32")
    out = pytensor.function([x], layer.get_output_for(x))(np.full((10, 200), 3, dtype="int32"))
    assert out.dtype == np.int32 and set(np.unique(out)) == {0, 3}


def test_negative_shared_axes_count_from_the_end():
    layer = dl.DropoutLayer((2, 4, 7, 9), shared_axes=(-1, -2), seed=2)
    assert layer.shared_axes == (2, 3)
    out = pytensor.function([], layer.get_output_for(pt.ones((2, 4, 7, 9))))()
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :, :1, :1], out.shape))


def test_symbolic_p_is_read_at_run_time(layer_class):
    p = pt.scalar("p", dtype="float32")
    l_in = dl.InputLayer((None, 500))
    layer = layer_class(l_in, p=p, seed=3)
    f = pytensor.function([l_in.input_var, p], dl.get_output(layer))
    for value in (0.0, 0.2, 0.7):
        out = f(np.ones((200, 500), dtype="float32"), np.float32(value))
        n = out.size
        assert abs((out == 0).sum() - n * value) <= 5 * np.sqrt(n * value * (1 - value) + 1e-12)
        kept = out[out != 0]
        np.testing.assert_allclose(kept, np.float32(1 / (1 - np.float32(value))), rtol=1e-6)


def test_shared_axes_out_of_range_refused():
    with pytest.raises(ValueError, match="shared_axes"):
        dl.SwitchDropoutLayer((None, 5), shared_axes=(2,))


def test_no_float64_in_float32_training_graph(layer_class):
    l_in = dl.InputLayer((None, 10))
    net = dl.DenseLayer(layer_class(dl.ReLUDenseLayer(l_in, 10), p=0.3), 1)
    f = compile_train(net, l_in)
    for node in f.maker.fgraph.toposort():
        for var in node.outputs:
            assert getattr(var.type, "dtype", None) != "float64", node


def test_inf_stays_zero_when_dropped_by_switch():
    l_in = dl.InputLayer((None, 200))
    f = compile_train(dl.SwitchDropoutLayer(l_in, p=0.5, seed=13), l_in)
    out = f(np.full((4, 200), np.inf, dtype="float32"))
    assert np.all((out == 0) | np.isinf(out)) and np.any(out == 0)
