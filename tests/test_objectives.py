"""Tests for dropout_layers.objectives against NumPy references."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose

from dropout_layers import objectives as O

# Arithmetic checks; the backend does not matter and FAST_COMPILE builds fast.
MODE = "FAST_COMPILE"


def compile_fn(inputs, outputs):
    return pytensor.function(inputs, outputs, mode=MODE)


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.RandomState(0)
    p = rng.uniform(0.01, 0.99, size=12)
    t = rng.randint(0, 2, size=12).astype(np.float64)
    z = rng.randn(12) * 3
    w = rng.uniform(0.1, 5.0, size=12)
    return p, t, z, w


def test_binary_crossentropy_matches_numpy(binary_data):
    p, t, z, _ = binary_data
    P, Z, Tgt = pt.vector("p"), pt.vector("z"), pt.vector("t")
    f = compile_fn([P, Z, Tgt], [
        O.binary_crossentropy(P, Tgt),
        O.binary_crossentropy(Z, Tgt, from_logits=True),
        O.binary_crossentropy(P, Tgt, eps=0),
    ])
    from_probs, from_logits, unclipped = f(p, z, t)
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert_allclose(from_probs, expected, rtol=1e-12)
    assert_allclose(unclipped, expected, rtol=1e-12)
    s = np_sigmoid(z)
    assert_allclose(from_logits, -(t * np.log(s) + (1 - t) * np.log(1 - s)), rtol=1e-10)


def test_binary_crossentropy_extremes_float32():
    z = pt.vector("z", dtype="float32")
    p = pt.vector("p", dtype="float32")
    t = pt.vector("t", dtype="float32")
    loss_logits = O.binary_crossentropy(z, t, from_logits=True)
    grad = pytensor.grad(loss_logits.sum(), z)
    loss_probs = O.binary_crossentropy(p, t, eps=1e-7)
    assert loss_logits.dtype == loss_probs.dtype == grad.dtype == "float32"
    f = compile_fn([z, p, t], [loss_logits, grad, loss_probs])
    logits = np.array([100, 100, -100, -100, 0], dtype=np.float32)
    targets = np.array([1, 0, 1, 0, 1], dtype=np.float32)
    probs = np.array([1, 0, 0, 1, 0.5], dtype=np.float32)
    loss, g, clipped = f(logits, probs, targets)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(g))
    assert_allclose(loss, [0, 100, 100, 0, np.log(2)], rtol=1e-6, atol=1e-6)
    assert_allclose(g, [0, 1, -1, 0, -0.5], atol=1e-6)  # sigmoid(z) - t
    # Probabilities at 0 and 1 are clipped: finite, and large when wrong.
    assert np.all(np.isfinite(clipped))
    assert clipped[0] < 1e-6 and clipped[3] > 15 and clipped[2] > 15
    assert clipped[1] < 1e-6


def test_crossentropies_do_not_clip_by_default_as_lasagne():
    p, t = pt.vector("p"), pt.vector("t")
    with np.errstate(divide="ignore"):
        out = compile_fn([p, t], O.binary_crossentropy(p, t))([0.0, 0.5], [1.0, 1.0])
    assert np.isposinf(out[0]) and out[1] == pytest.approx(np.log(2), rel=1e-12)
    P, L = pt.matrix("p"), pt.lvector("l")
    with np.errstate(divide="ignore"):
        out = compile_fn([P, L], O.categorical_crossentropy(P, L))(np.array([[1.0, 0.0]]), [1])
    assert np.isposinf(out[0])


def test_unclipped_crossentropy_of_a_sigmoid_is_exact_when_compiled():
    # PyTensor's stabilising rewrites turn log(sigmoid(z)) into -softplus(-z).
    z, t = pt.vector("z", dtype="float32"), pt.vector("t", dtype="float32")
    loss = O.binary_crossentropy(pt.sigmoid(z), t)
    f = pytensor.function([z, t], [loss, pytensor.grad(loss.sum(), z)])
    out, grad = f(np.array([100, -100, 30], "float32"), np.array([0, 1, 1], "float32"))
    assert_allclose(out, [100, 100, np.log1p(np.exp(-30.0))], rtol=1e-6)
    assert_allclose(grad, [1, -1, -np.exp(-30.0) / (1 + np.exp(-30.0))], rtol=1e-5, atol=1e-12)


def test_binary_crossentropy_clip_value_float64():
    p, t = pt.vector("p"), pt.vector("t")
    f = compile_fn([p, t], O.binary_crossentropy(p, t, eps=1e-4))
    assert_allclose(f([0.0, 1.0], [1.0, 0.0]), [-np.log(1e-4)] * 2, rtol=1e-9)


def test_binary_crossentropy_aligns_column_with_vector():
    pred = pt.matrix("pred")
    t = pt.vector("t")
    loss = O.binary_crossentropy(pred, t)
    assert loss.ndim == 2
    out = compile_fn([pred, t], loss)(np.array([[0.9], [0.2]]), np.array([1.0, 0.0]))
    assert out.shape == (2, 1)
    assert_allclose(out[:, 0], [-np.log(0.9), -np.log(0.8)], rtol=1e-12)


def test_categorical_crossentropy_matches_numpy():
    rng = np.random.RandomState(1)
    logits = rng.randn(6, 4) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.randint(0, 4, size=6)
    onehot = np.eye(4)[labels]
    P, Z, L, H = pt.matrix("p"), pt.matrix("z"), pt.lvector("l"), pt.matrix("h")
    f = compile_fn([P, Z, L, H], [
        O.categorical_crossentropy(P, L),
        O.categorical_crossentropy(P, H),
        O.categorical_crossentropy(Z, L, from_logits=True),
        O.categorical_crossentropy(Z, H, from_logits=True),
    ])
    expected = -np.log(probs[np.arange(6), labels])
    for out in f(probs, logits, labels, onehot):
        assert out.shape == (6,)
        assert_allclose(out, expected, rtol=1e-10)


def test_categorical_crossentropy_extreme_logits_float32():
    z = pt.matrix("z", dtype="float32")
    labels = pt.ivector("labels")
    loss = O.categorical_crossentropy(z, labels, from_logits=True)
    grad = pytensor.grad(loss.sum(), z)
    assert loss.dtype == grad.dtype == "float32"
    logits = np.array([[100, -100, 0], [100, -100, 0], [-100, 100, -100]], dtype=np.float32)
    out, g = compile_fn([z, labels], [loss, grad])(logits, np.array([0, 1, 0], dtype=np.int32))
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(g))
    assert_allclose(out, [0, 200, 200], atol=1e-5)
    # softmax(z) - onehot
    assert_allclose(g, [[0, 0, 0], [1, -1, 0], [-1, 1, 0]], atol=1e-6)


def test_categorical_crossentropy_clips_zero_probability():
    P, L = pt.matrix("p"), pt.lvector("l")
    loss = O.categorical_crossentropy(P, L, eps=1e-7)
    out = compile_fn([P, L], loss)(np.array([[1.0, 0.0]]), [1])
    assert_allclose(out, [-np.log(1e-7)], rtol=1e-9)


def test_categorical_crossentropy_rank_and_dtype_errors():
    mismatch = "rank mismatch between targets \\(3-D\\) and predictions \\(2-D\\)"
    with pytest.raises(TypeError, match=mismatch):
        O.categorical_crossentropy(pt.matrix(), pt.tensor3())
    with pytest.raises(TypeError, match="integer dtype, got float64"):
        O.categorical_crossentropy(pt.matrix(), pt.vector())
    with pytest.raises(ValueError, match="eps must be a number in \\[0, 0.5\\), got 0.7"):
        O.binary_crossentropy(pt.vector(), pt.vector(), eps=0.7)


def test_squared_error_and_hinge_loss():
    rng = np.random.RandomState(2)
    a, b = rng.randn(5), rng.randn(5)
    p = rng.uniform(0.05, 0.95, size=5)
    t = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    A_, B_, P_, T_ = pt.vector(), pt.vector(), pt.vector(), pt.vector()
    f = compile_fn([A_, B_, P_, T_], [
        O.squared_error(A_, B_),
        O.binary_hinge_loss(A_, T_, log_odds=True),
        O.binary_hinge_loss(P_, T_, delta=0.5, log_odds=False),
        O.binary_hinge_loss(A_, 2 * T_ - 1, log_odds=True, binary=False),
    ])
    sq, hinge, hinge_p, hinge_pm = f(a, b, p, t)
    assert_allclose(sq, (a - b) ** 2, rtol=1e-12)
    signs = 2 * t - 1
    assert_allclose(hinge, np.maximum(0, 1 - a * signs), rtol=1e-12)
    assert_allclose(hinge_p, np.maximum(0, 0.5 - np.log(p / (1 - p)) * signs), rtol=1e-12)
    assert_allclose(hinge_pm, hinge, rtol=1e-12)
    with pytest.raises(ValueError, match="log_odds=True .* or log_odds=False"):
        O.binary_hinge_loss(A_, T_)


def test_aggregate_modes_with_weights(binary_data):
    _, _, loss_values, weights = binary_data
    loss_values = np.abs(loss_values)
    loss, w = pt.vector("loss"), pt.vector("w")
    f = compile_fn([loss, w], [
        O.aggregate(loss),
        O.aggregate(loss, mode="sum"),
        O.aggregate(loss, w),
        O.aggregate(loss, w, mode="sum"),
        O.aggregate(loss, w, mode="normalized_sum"),
    ])
    mean, total, w_mean, w_sum, w_norm = f(loss_values, weights)
    assert_allclose(mean, loss_values.mean(), rtol=1e-12)
    assert_allclose(total, loss_values.sum(), rtol=1e-12)
    assert_allclose(w_mean, (loss_values * weights).mean(), rtol=1e-12)
    assert_allclose(w_sum, (loss_values * weights).sum(), rtol=1e-12)
    assert_allclose(w_norm, (loss_values * weights).sum() / weights.sum(), rtol=1e-12)


def test_aggregate_keeps_float32_with_float64_weights(binary_data):
    _, _, loss_values, weights = binary_data
    loss = pt.vector("loss", dtype="float32")
    out = O.aggregate(loss, weights, mode="normalized_sum")  # weights: a float64 NumPy array
    assert out.dtype == "float32"
    value = compile_fn([loss], out)(loss_values.astype(np.float32))
    expected = (loss_values.astype(np.float32) * weights).sum() / weights.sum()
    assert_allclose(value, expected, rtol=1e-5)


def test_aggregate_refuses_bad_modes():
    bad_mode = "mode must be 'mean', 'sum' or 'normalized_sum', got 'average'"
    with pytest.raises(ValueError, match=bad_mode):
        O.aggregate(pt.vector(), mode="average")
    with pytest.raises(ValueError, match="normalized_sum': require weights"):
        O.aggregate(pt.vector(), mode="normalized_sum")


def test_float32_losses_have_no_float64():
    p = pt.vector("p", dtype="float32")
    z = pt.matrix("z", dtype="float32")
    t64 = pt.vector("t64")  # float64 targets are cast, not upcasting the loss
    labels = pt.lvector("labels")
    outputs = [
        O.binary_crossentropy(p, t64),
        O.binary_crossentropy(p, t64, from_logits=True),
        O.categorical_crossentropy(z, labels),
        O.categorical_crossentropy(z, labels, from_logits=True),
        O.squared_error(p, t64),
        O.binary_accuracy(p, t64),
        O.categorical_accuracy(z, labels),
        O.aggregate(O.binary_crossentropy(p, t64), t64, mode="normalized_sum"),
    ]
    assert all(out.dtype == "float32" for out in outputs), [out.dtype for out in outputs]
    f = pytensor.function([p, z, t64, labels], outputs)  # default mode; built, not run
    dtypes = {out.type.dtype for node in f.maker.fgraph.toposort() for out in node.outputs
              if hasattr(out.type, "dtype")}
    # The float64 target input is read and cast right away; nothing computes in float64.
    assert "float64" not in dtypes, dtypes


def test_accuracies_match_numpy():
    rng = np.random.RandomState(3)
    p = rng.uniform(size=10)
    t = rng.randint(0, 2, size=10).astype(np.float64)
    scores = rng.randn(10, 4)
    labels = rng.randint(0, 4, size=10)
    P, T_, S, L = pt.vector(), pt.vector(), pt.matrix(), pt.lvector()
    column = pt.matrix()
    f = compile_fn([P, T_, S, L, column], [
        O.binary_accuracy(P, T_),
        O.binary_accuracy(P, T_, threshold=0.3),
        O.categorical_accuracy(S, L),
        O.categorical_accuracy(S, pt.eye(4)[L]),
        O.categorical_accuracy(S, L, top_k=2),
        O.binary_accuracy(column, T_),
    ])
    acc, acc_03, cat, cat_onehot, top2, col = f(p, t, scores, labels, p[:, None])
    assert_allclose(acc, ((p >= 0.5) == t).astype(float))
    assert_allclose(acc_03, ((p >= 0.3) == t).astype(float))
    assert_allclose(cat, (scores.argmax(axis=1) == labels).astype(float))
    assert_allclose(cat_onehot, cat)
    top2_expected = np.any(np.argsort(scores, axis=1)[:, -2:] == labels[:, None], axis=1)
    assert_allclose(top2, top2_expected.astype(float))
    assert top2.sum() > cat.sum()  # the top-2 case is not trivially the top-1 case
    assert col.shape == (10, 1)
    assert_allclose(col[:, 0], acc)
    with pytest.raises(ValueError, match="top_k must be a positive integer, got 0"):
        O.categorical_accuracy(S, L, top_k=0)
    with pytest.raises(TypeError, match="rank mismatch"):
        O.categorical_accuracy(S, pt.tensor3())


def test_huber_loss_matches_numpy_on_both_sides_of_delta():
    a, b = pt.vector("a"), pt.vector("b")
    pred = np.array([0.0, 0.3, -2.0, 5.0, 1.0])
    target = np.array([0.0, 0.0, 0.0, 1.0, 1.5])
    for delta in (0.5, 1.0, 3.0):
        got = compile_fn([a, b], O.huber_loss(a, b, delta))(pred, target)
        d = np.abs(pred - target)
        expected = np.where(d <= delta, 0.5 * d**2, delta * (d - delta / 2))
        assert_allclose(got, expected, rtol=1e-12)
    p_col, t_vec = pt.matrix("p", shape=(None, 1)), pt.vector("t")
    column = O.huber_loss(p_col, t_vec)  # aligned as a column, not broadcast to (N, N)
    out = compile_fn([p_col, t_vec], column)(np.array([[0.0], [2.0]]), np.array([0.0, 0.0]))
    assert_allclose(out, [[0.0], [1.5]])
    assert O.huber_loss(pt.vector(dtype="float32"), pt.vector()).dtype == "float32"


def test_multiclass_hinge_loss_matches_numpy_for_indices_and_one_hot():
    rng = np.random.RandomState(4)
    scores = rng.randn(6, 4)
    labels = rng.randint(0, 4, size=6)
    P, L, H = pt.matrix("p"), pt.lvector("l"), pt.matrix("h")
    f = compile_fn([P, L, H], [O.multiclass_hinge_loss(P, L),
                               O.multiclass_hinge_loss(P, H, delta=0.5)])
    by_index, by_one_hot = f(scores, labels, np.eye(4)[labels])
    correct = scores[np.arange(6), labels]
    others = np.where(np.eye(4)[labels] > 0, -np.inf, scores).max(axis=1)
    assert_allclose(by_index, np.maximum(0, 1 + others - correct), rtol=1e-12)
    assert_allclose(by_one_hot, np.maximum(0, 0.5 + others - correct), rtol=1e-12)
    with pytest.raises(TypeError, match="rank mismatch"):
        O.multiclass_hinge_loss(pt.vector(), pt.matrix())
