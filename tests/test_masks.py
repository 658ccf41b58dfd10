"""Behaviour of the keep-masks and noise ops: statistics, keys, streams, shapes, linkers.

Statistical tolerances are 5 binomial (or sampling) standard deviations, and
every graph is seeded, so a failure means a real defect, not bad luck.
"""
import hashlib
import textwrap

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from helpers import REPO, run_python
from pytensor.compile.mode import Mode

from dropout_layers import masks
from dropout_layers.bernoulli_op import BernoulliMask, keep_from_words, quantize_p
from dropout_layers.masks import bernoulli_mask, normal_noise, uniform_noise
from dropout_layers.random import collect_rng_updates, shared_rng
from dropout_layers.rng_key import RNGKey, key_words, mix64

PS = (0.1, 0.5, 0.8)
COLS = 1000
PY = Mode(linker="py")


def p_used(p):
    return quantize_p(p)[2]


def build_masks(seeds, shape_of_n, method=None):
    """One keep-mask per p in PS, each from its own stream; returns (n, rngs, keeps)."""
    n = pt.iscalar("n")
    rngs = [shared_rng(seed) for seed in seeds]
    keeps = [bernoulli_mask(rng, shape_of_n(n), p, method=method)[1] for rng, p in zip(rngs, PS)]
    return n, rngs, keeps


@pytest.fixture(scope="module")
def masks_fn():
    """Default (numba) linker: a fresh batch of masks per call."""
    n, rngs, keeps = build_masks((1, 2, 3), lambda n: (n, COLS))
    fn = pytensor.function([n], keeps)
    return fn, rngs, keeps


# --------------------------------------------------------------------------- quantisation


@pytest.mark.parametrize("p, expected", [
    (0.5, (1, 1, 0.5)),
    (0.25, (1, 2, 0.25)),
    (0.1, (3277, 15, 3277 / 2**15)),       # round(0.1 * 65536) = 6554 = 2 * 3277
    (0.8, (52429, 16, 52429 / 2**16)),     # round(0.8 * 65536) = 52429, odd
    (0.0, (0, 0, 0.0)),
    (1e-6, (0, 0, 0.0)),                   # below half a step: nothing is dropped
    (0.5 / 2**16, (1, 16, 2.0**-16)),      # exactly half a step rounds up
])
def test_quantize_p_rounds_to_sixteen_bits_and_reduces(p, expected):
    assert quantize_p(p) == expected


def test_quantize_p_error_is_at_most_half_a_step():
    grid = np.linspace(0, 0.999, 997)
    assert max(abs(quantize_p(p)[2] - p) for p in grid) <= 2.0**-17


def test_quantize_p_with_32_bit_resolution():
    threshold, bits, used = quantize_p(0.1, resolution=32)
    assert bits <= 32 and used == threshold / 2**bits
    assert abs(used - 0.1) <= 2.0**-33


@pytest.mark.parametrize("p, resolution, error", [
    (1.0, 16, ValueError), (-0.1, 16, ValueError), (1 - 2**-18, 16, ValueError),
    (0.5, 0, ValueError), (0.5, 33, ValueError), (0.5, 16.0, TypeError),
])
def test_quantize_p_rejects_bad_input(p, resolution, error):
    with pytest.raises(error):
        quantize_p(p, resolution)


def test_bad_arguments_are_refused():
    rng = shared_rng(0)
    with pytest.raises(TypeError, match="p must be a float"):
        bernoulli_mask(rng, (3, 4), "0.5")
    with pytest.raises(TypeError, match="scalar"):
        bernoulli_mask(rng, (3, 4), pt.vector("p"))
    with pytest.raises(ValueError, match="unknown mask method"):
        bernoulli_mask(rng, (3, 4), 0.5, method="binomial")
    _, key = masks.rng_key(rng)
    with pytest.raises(TypeError, match="integers"):
        BernoulliMask.from_p(0.5)(key, pt.vector("shape"))
    with pytest.raises(TypeError, match="uint32"):
        BernoulliMask.from_p(0.5)(pt.vector("k", dtype="int64"), (2, 2))
    with pytest.raises(TypeError, match="threshold input"):
        BernoulliMask.from_p(0.5)(key, (2, 2), pt.constant(3))
    with pytest.raises(TypeError, match="rng must be"):
        RNGKey()(pt.vector("not_an_rng"))


# --------------------------------------------------------------------------- the counter hash


def test_key_words_are_splitmix64_seeded_with_the_key():
    # SplitMix64 (Steele et al. 2014) written out with Python integers.
    def splitmix64(seed, n):
        out, state = [], seed
        for _ in range(n):
            state = (state + 0x9E3779B97F4A7C15) % 2**64
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
            out.append(z ^ (z >> 31))
        return out

    key = np.array([0x89ABCDEF, 0x01234567], dtype=np.uint32)
    assert key_words(key, 5).tolist() == splitmix64(0x0123456789ABCDEF, 5)
    assert mix64(np.uint64(0)) == 0


def test_keep_from_words_follows_the_bit_layout():
    words = np.array([0b1011, 2**64 - 1], dtype=np.uint64)
    keep = keep_from_words(words, 70, 1, 1)
    assert keep[:4].tolist() == [True, True, False, True]
    assert not keep[4:64].any() and keep[64:].all()
    # Two-bit chunks: 0b11, 0b10, 0b00 against threshold 2 (p = 1/2 on two bits).
    chunks = keep_from_words(np.array([0b001011], dtype=np.uint64), 3, 2, 2)
    assert chunks.tolist() == [True, True, False]


# --------------------------------------------------------------------------- statistics


def test_keep_rate_within_five_sigma(masks_fn):
    fn, _, _ = masks_fn
    rows = 200
    for p, keep in zip(PS, fn(rows)):
        assert keep.dtype == bool and keep.shape == (rows, COLS)
        n_elements = keep.size
        q = 1 - p_used(p)
        sigma = np.sqrt(n_elements * q * (1 - q))
        assert abs(keep.sum() - n_elements * q) <= 5 * sigma, p


def test_rows_are_independent(masks_fn):
    fn, _, _ = masks_fn
    rows = 100
    for p, keep in zip(PS, fn(rows)):
        assert len({row.tobytes() for row in keep}) == rows
        corr = np.corrcoef(keep.astype(float))
        off_diagonal = corr[~np.eye(rows, dtype=bool)]
        # Under independence each correlation has mean ~0 and variance ~1/COLS.
        n_pairs = rows * (rows - 1) // 2
        assert abs(off_diagonal.mean()) <= 5 / np.sqrt(COLS * n_pairs), p
        adjacent = np.array([corr[i, i + 1] for i in range(rows - 1)])
        assert abs(adjacent.mean()) <= 5 / np.sqrt(COLS * (rows - 1)), p
        assert abs(np.mean(off_diagonal**2) * COLS - 1) <= 0.1, p


def test_neighbouring_elements_are_independent(masks_fn):
    # Neighbours share a 64-bit word (64, 4 or 4 chunks for p = 0.5, 0.1, 0.8);
    # their chunks must still be independent.
    fn, _, _ = masks_fn
    for p, keep in zip(PS, fn(200)):
        flat = keep.ravel().astype(float)
        for lag in (1, 2, 3, 4, 64):
            r = np.corrcoef(flat[:-lag], flat[lag:])[0, 1]
            assert abs(r) <= 5 / np.sqrt(flat.size), (p, lag)


def test_consecutive_calls_are_independent(masks_fn):
    fn, _, _ = masks_fn
    first, second = fn(100), fn(100)
    for p, a, b in zip(PS, first, second):
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(r) <= 5 / np.sqrt(a.size), p


def test_uniform_method_keep_rate():
    _, keep = bernoulli_mask(shared_rng(7), (300, 300), 0.3, method="uniform")
    value = pytensor.function([], keep)()
    sigma = np.sqrt(value.size * 0.3 * 0.7)
    assert abs(value.sum() - value.size * 0.7) <= 5 * sigma


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_noise_is_uniform_on_its_grid(dtype):
    _, u = uniform_noise(shared_rng(8), (400, 500), dtype)
    value = pytensor.function([], u)()
    assert value.dtype == dtype and value.min() >= 0 and value.max() < 1
    step = 2.0**-24 if dtype == "float32" else 2.0**-53
    np.testing.assert_array_equal(np.floor(value / step) * step, value)
    n = value.size
    assert abs(value.mean() - 0.5) <= 5 * np.sqrt(1 / 12 / n)
    # Ten equal bins: each count is binomial(n, 1/10).
    counts = np.bincount(np.minimum((value * 10).astype(int), 9).ravel(), minlength=10)
    assert np.all(np.abs(counts - n / 10) <= 5 * np.sqrt(n * 0.1 * 0.9))


def test_normal_noise_moments():
    _, z = normal_noise(shared_rng(9), (500, 400), "float32")
    value = pytensor.function([], z)().astype(np.float64)
    n = value.size
    assert value.dtype == np.float64 and np.isfinite(value).all()
    assert abs(value.mean()) <= 5 / np.sqrt(n)
    assert abs(value.var() - 1) <= 5 * np.sqrt(2 / n)
    assert abs(np.mean(value > 1.0) - 0.158655) <= 5 * np.sqrt(0.158655 * 0.841345 / n)


def test_substreams_are_independent_and_same_substream_repeats():
    rng = shared_rng(10)
    _, a = bernoulli_mask(rng, (200, 500), 0.5, substream=0)
    _, b = bernoulli_mask(rng, (200, 500), 0.5, substream=1)
    _, again = bernoulli_mask(rng, (200, 500), 0.5, substream=0)
    first, second, third = pytensor.function([], [a, b, again])()
    np.testing.assert_array_equal(first, third)
    r = np.corrcoef(first.ravel(), second.ravel())[0, 1]
    assert abs(r) <= 5 / np.sqrt(first.size)


# --------------------------------------------------------------------------- symbolic p


@pytest.mark.parametrize("value", [0.1, 0.5, 0.8, 0.3])
def test_symbolic_p_draws_the_masks_of_the_same_constant(value):
    p = pytensor.shared(np.float32(value))
    for mode in (None, PY):
        variable, constant = shared_rng(11), shared_rng(11)
        _, keep_var = bernoulli_mask(variable, (64, 300), p)
        _, keep_const = bernoulli_mask(constant, (64, 300), float(np.float32(value)))
        f = pytensor.function([], [keep_var, keep_const], mode=mode)
        for _ in range(2):
            a, b = f()
            np.testing.assert_array_equal(a, b)
    assert isinstance(keep_var.owner.op, BernoulliMask) and keep_var.owner.op.drop_threshold is None


def test_symbolic_p_changes_between_calls_and_is_clipped():
    p = pytensor.shared(np.float32(0.0))
    _, keep = bernoulli_mask(shared_rng(12), (100, 100), p)
    f = pytensor.function([], keep)
    assert f().all()
    p.set_value(np.float32(0.25))
    n = 100 * 100
    assert abs((~f()).sum() - n * 0.25) <= 5 * np.sqrt(n * 0.25 * 0.75)
    p.set_value(np.float32(1.0))
    assert not f().any()
    p.set_value(np.float32(-0.5))
    assert f().all()


# --------------------------------------------------------------------------- streams


def test_each_call_draws_fresh_masks_and_advances_the_stream(masks_fn):
    fn, rngs, _ = masks_fn
    states = [rng.get_value(borrow=True).bit_generator.state["state"]["state"] for rng in rngs]
    first, second = fn(50), fn(50)
    for a, b in zip(first, second):
        assert not np.array_equal(a, b)
    new_states = [rng.get_value(borrow=True).bit_generator.state["state"]["state"] for rng in rngs]
    assert all(s != t for s, t in zip(states, new_states))


def test_one_call_takes_one_word_whatever_it_draws():
    # The next state does not depend on the mask's size: that is what lets
    # one default update serve every graph.
    rng = shared_rng(13)
    _, small = bernoulli_mask(rng, (2, 3), 0.5)
    _, big = bernoulli_mask(rng, (300, 300), 0.1)
    for keep in (small, big):
        rng.set_value(np.random.default_rng(13))
        pytensor.function([], keep)()
        reference = np.random.default_rng(13)
        reference.integers(0, 2**64, dtype=np.uint64)
        assert rng.get_value().bit_generator.state == reference.bit_generator.state


def test_an_update_to_itself_freezes_the_stream():
    # The opt-out: an explicit update wins over the default one.
    rng = shared_rng(5)
    _, keep = bernoulli_mask(rng, (20, 30), 0.5)
    fn = pytensor.function([], keep, updates={rng: rng})
    state = rng.get_value(borrow=True).bit_generator.state
    assert np.array_equal(fn(), fn())
    assert rng.get_value(borrow=True).bit_generator.state == state


def test_same_seed_same_masks_in_two_fresh_processes():
    code = textwrap.dedent(f"""
        import hashlib, sys
        sys.path.insert(0, {str(REPO)!r})
        import pytensor, pytensor.tensor as pt
        from dropout_layers.masks import bernoulli_mask
        from dropout_layers.random import shared_rng
        n = pt.iscalar("n")
        keeps = [bernoulli_mask(shared_rng(2024 + i), (n, 50), p)[1]
                 for i, p in enumerate((0.5, 0.3))]
        fn = pytensor.function([n], keeps)
        digest = hashlib.sha256()
        for _ in range(2):
            for keep in fn(40):
                digest.update(keep.tobytes())
        print(digest.hexdigest())
    """)
    digests = []
    for _ in range(2):
        proc = run_python(code)
        assert proc.returncode == 0, proc.stderr
        digests.append(proc.stdout.strip().splitlines()[-1])
    assert digests[0] == digests[1]
    # The same streams drawn here, by the NumPy implementations, give the same bits.
    n = pt.iscalar("n")
    keeps = [bernoulli_mask(shared_rng(2024 + i), (n, 50), p)[1] for i, p in enumerate((0.5, 0.3))]
    fn = pytensor.function([n], keeps, mode=PY)
    digest = hashlib.sha256()
    for _ in range(2):
        for keep in fn(40):
            digest.update(keep.tobytes())
    assert digest.hexdigest() == digests[0]


# --------------------------------------------------------------------------- shapes


def test_symbolic_batch_size(masks_fn):
    fn, _, keeps = masks_fn
    assert all(keep.type.shape == (None, COLS) for keep in keeps)
    for rows in (0, 1, 3, 65):
        assert all(keep.shape == (rows, COLS) for keep in fn(rows))


def test_size_one_dimensions_broadcast():
    x = pt.tensor3("x")
    _, keep = bernoulli_mask(shared_rng(9), (x.shape[0], 1, x.shape[2]), 0.5)
    assert keep.type.shape[1] == 1 and keep.type.broadcastable == (False, True, False)
    out = pt.switch(keep, x, pt.zeros((), dtype=x.dtype))
    value = pytensor.function([x], out, mode=PY)(np.ones((8, 5, 64), dtype=x.dtype))
    assert value.shape == (8, 5, 64)
    assert all(np.array_equal(value[:, 0], value[:, j]) for j in range(5))
    assert 0 < value.mean() < 1


def test_shape_given_as_symbolic_vector():
    x = pt.matrix("x")
    _, keep = bernoulli_mask(shared_rng(4), x.shape, 0.25)
    assert pytensor.function([x], keep, mode=PY)(np.zeros((6, 7), dtype=x.dtype)).shape == (6, 7)


def test_gradient_flows_through_the_switch_only():
    x = pt.matrix("x")
    _, keep = bernoulli_mask(shared_rng(3), x.shape, 0.5)
    out = pt.switch(keep, x, pt.zeros((), dtype=x.dtype))
    grad = pytensor.grad(out.sum(), x)
    mask, g = pytensor.function([x], [keep, grad], mode=PY)(np.ones((4, 16), dtype=x.dtype))
    np.testing.assert_array_equal(g, mask.astype(g.dtype))


# --------------------------------------------------------------------------- linkers


@pytest.mark.parametrize("mode", [
    Mode(linker="py"),
    Mode(linker="cvm"),
    Mode(linker="py", optimizer=None),  # no rewrites: the key op copies the generator
], ids=["py", "cvm", "py-unoptimized"])
def test_linkers_agree_with_numba(mode):
    def first_two_calls(mode):
        n, rngs, keeps = build_masks((11, 12, 13), lambda n: (n, 130))
        x = pt.matrix("x")
        draws = keeps + [uniform_noise(rngs[0], x.shape, "float32", substream=1)[1],
                         uniform_noise(rngs[1], x.shape, "float64", substream=1)[1]]
        fn = pytensor.function([n, x], draws, updates=collect_rng_updates(draws), mode=mode)
        return fn(7, np.zeros((3, 9))) + fn(5, np.zeros((2, 4)))

    expected = first_two_calls(None)
    got = first_two_calls(mode)
    assert len(got) == len(expected) == 10
    for a, b in zip(expected, got):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_default_method_context_restores():
    assert masks.get_default_method() == "bits"
    with masks.default_method("uniform"):
        assert masks.get_default_method() == "uniform"
        _, keep = bernoulli_mask(shared_rng(0), (2, 2), 0.5)
        assert not isinstance(keep.owner.op, BernoulliMask)
    assert masks.get_default_method() == "bits"
    with pytest.raises(ValueError):
        masks.set_default_method("fast")
