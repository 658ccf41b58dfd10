"""Behaviour of the Bernoulli keep-masks: statistics, streams, shapes, linkers.

Statistical tolerances are 5 binomial (or sampling) standard deviations, and
every graph is seeded, so a failure means a real defect, not bad luck.
"""
import textwrap

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from helpers import REPO, run_python
from pytensor.compile.mode import Mode

from dropout_layers import masks
from dropout_layers.bernoulli_op import BernoulliMask, quantize_p
from dropout_layers.masks import bernoulli_mask
from dropout_layers.random import collect_rng_updates, shared_rng

PS = (0.1, 0.5, 0.8)
COLS = 1000


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
    """Default (numba) linker, RNG updates applied: a fresh batch of masks per call."""
    n, rngs, keeps = build_masks((1, 2, 3), lambda n: (n, COLS))
    fn = pytensor.function([n], keeps, updates=collect_rng_updates(keeps))
    return fn, rngs, keeps


# --------------------------------------------------------------------------- quantisation


@pytest.mark.parametrize("p, expected", [
    (0.5, (1, 1, 0.5)),
    (0.25, (1, 2, 0.25)),
    (0.1, (3277, 15, 3277 / 2**15)),       # round(0.1 * 65536) = 6554 = 2 * 3277
    (0.8, (52429, 16, 52429 / 2**16)),     # round(0.8 * 65536) = 52429, odd
    (0.0, (0, 0, 0.0)),
    (1e-6, (0, 0, 0.0)),                   # below half a step: nothing is dropped
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


def test_bits_method_needs_a_numeric_p():
    rng = shared_rng(0)
    with pytest.raises(TypeError, match="method='uniform'"):
        bernoulli_mask(rng, (3, 4), pt.scalar("p"))
    with pytest.raises(TypeError):
        bernoulli_mask(rng, (3, 4), "0.5")
    with pytest.raises(ValueError, match="unknown mask method"):
        bernoulli_mask(rng, (3, 4), 0.5, method="binomial")


def test_mask_shape_must_be_integer():
    with pytest.raises(TypeError, match="integers"):
        BernoulliMask.from_p(0.5).make_node(shared_rng(0), pt.vector("shape"))


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


def test_uniform_method_keep_rate():
    rng = shared_rng(7)
    _, keep = bernoulli_mask(rng, (300, 300), 0.3, method="uniform")
    value = pytensor.function([], keep, updates=collect_rng_updates(keep), mode=Mode(linker="py"))()
    sigma = np.sqrt(value.size * 0.3 * 0.7)
    assert abs(value.sum() - value.size * 0.7) <= 5 * sigma


# --------------------------------------------------------------------------- streams


def test_each_call_draws_fresh_masks(masks_fn):
    fn, rngs, _ = masks_fn
    states = [rng.get_value(borrow=True).bit_generator.state["state"]["state"] for rng in rngs]
    first, second = fn(50), fn(50)
    for a, b in zip(first, second):
        assert not np.array_equal(a, b)
    new_states = [rng.get_value(borrow=True).bit_generator.state["state"]["state"] for rng in rngs]
    assert all(s != t for s, t in zip(states, new_states))


def test_without_updates_the_stream_is_not_advanced():
    # The op may advance the generator in place only where the function
    # updates it; otherwise PyTensor must keep the shared state intact.
    rng = shared_rng(5)
    _, keep = bernoulli_mask(rng, (20, 30), 0.5)
    fn = pytensor.function([], keep)
    state = rng.get_value(borrow=True).bit_generator.state
    assert np.array_equal(fn(), fn())
    assert rng.get_value(borrow=True).bit_generator.state == state


def test_same_seed_same_masks_in_two_fresh_processes():
    code = textwrap.dedent(f"""
        import hashlib, sys
        sys.path.insert(0, {str(REPO)!r})
        import pytensor.tensor as pt
        from dropout_layers.masks import bernoulli_mask
        from dropout_layers.random import function, shared_rng
        n = pt.iscalar("n")
        keeps = [bernoulli_mask(shared_rng(2024 + i), (n, 50), p)[1] for i, p in enumerate((0.5, 0.3))]
        fn = function([n], keeps)
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
    # The same stream drawn here, by the NumPy fallback, gives the same bits.
    n = pt.iscalar("n")
    keeps = [bernoulli_mask(shared_rng(2024 + i), (n, 50), p)[1] for i, p in enumerate((0.5, 0.3))]
    fn = pytensor.function([n], keeps, updates=collect_rng_updates(keeps), mode=Mode(linker="py"))
    import hashlib

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
    rng = shared_rng(9)
    _, keep = bernoulli_mask(rng, (x.shape[0], 1, x.shape[2]), 0.5)
    assert keep.type.shape[1] == 1 and keep.type.broadcastable == (False, True, False)
    out = pt.switch(keep, x, pt.zeros((), dtype=x.dtype))
    fn = pytensor.function([x], out, updates=collect_rng_updates(out), mode=Mode(linker="py"))
    value = fn(np.ones((8, 5, 64), dtype=x.dtype))
    assert value.shape == (8, 5, 64)
    assert all(np.array_equal(value[:, 0], value[:, j]) for j in range(5))
    assert 0 < value.mean() < 1


def test_shape_given_as_symbolic_vector():
    x = pt.matrix("x")
    _, keep = bernoulli_mask(shared_rng(4), x.shape, 0.25)
    fn = pytensor.function([x], keep, mode=Mode(linker="py"))
    assert fn(np.zeros((6, 7), dtype=x.dtype)).shape == (6, 7)


def test_gradient_flows_through_the_switch_only():
    x = pt.matrix("x")
    _, keep = bernoulli_mask(shared_rng(3), x.shape, 0.5)
    out = pt.switch(keep, x, pt.zeros((), dtype=x.dtype))
    grad = pytensor.grad(out.sum(), x)
    fn = pytensor.function([x], [keep, grad], mode=Mode(linker="py"))
    mask, g = fn(np.ones((4, 16), dtype=x.dtype))
    np.testing.assert_array_equal(g, mask.astype(g.dtype))


# --------------------------------------------------------------------------- linkers


@pytest.mark.parametrize("mode", [
    Mode(linker="py"),
    Mode(linker="cvm"),
    Mode(linker="py", optimizer=None),  # no rewrites: the Op copies the generator
], ids=["py", "cvm", "py-unoptimized"])
def test_linkers_agree_with_numba(mode, masks_fn):
    def first_two_calls(mode):
        n, rngs, keeps = build_masks((11, 12, 13), lambda n: (n, 130))
        fn = pytensor.function([n], keeps, updates=collect_rng_updates(keeps), mode=mode)
        return fn(7) + fn(5)

    expected = first_two_calls(None)
    got = first_two_calls(mode)
    assert len(got) == len(expected) == 6
    for a, b in zip(expected, got):
        assert a.dtype == b.dtype == bool
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
