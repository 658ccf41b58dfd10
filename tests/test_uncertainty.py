"""Monte-Carlo dropout: convergence, exact zeros, memory-flat batching."""
import numpy as np
import pytensor
import pytest

import dropout_layers as dl
from dropout_layers.uncertainty import (
    Moments,
    mc_moments,
    predict_mc,
    reseeded_streams,
    stochastic_function,
)

N_FEATURES = 6
HIDDEN = 64


def _network(p, layer=dl.SwitchDropoutLayer, seed=5):
    dl.set_rng(np.random.RandomState(seed))
    l_in = dl.InputLayer((None, N_FEATURES), name="input")
    hidden = dl.ReLUDenseLayer(l_in, HIDDEN, name="hidden")
    dropped = layer(hidden, p=p, name="dropout")
    # A linear output: the expected stochastic pass then equals the
    # deterministic prediction exactly (inverted dropout is unbiased).
    return dl.DenseLayer(dropped, 1, nonlinearity=None, name="output")


def _deterministic(network):
    l_in = dl.get_all_layers(network)[0]
    fn = pytensor.function([l_in.input_var], dl.get_output(network, deterministic=True))
    return lambda X: np.asarray(fn(X), dtype=np.float64)


@pytest.fixture(scope="module")
def net():
    return _network(0.5)


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(11).normal(size=(40, N_FEATURES)).astype("float32")


def test_mean_converges_to_deterministic_prediction(net, X):
    expected = _deterministic(net)(X)
    _, sigma = predict_mc(net, X, n_samples=400, seed=1)
    assert sigma.max() > 0.05  # dropout does make the passes differ
    for n_samples, seed in ((25, 2), (400, 3)):
        mean, _ = predict_mc(net, X, n_samples=n_samples, seed=seed)
        # The mean of n independent passes has standard error sigma/sqrt(n);
        # 5 standard errors (plus float32 rounding) per event.
        tolerance = 5 * sigma / np.sqrt(n_samples) + 1e-5
        assert np.all(np.abs(mean - expected) <= tolerance), (
            n_samples, np.abs(mean - expected) / tolerance)


@pytest.mark.parametrize("layer", [dl.SwitchDropoutLayer, dl.DropoutLayer])
def test_std_is_exactly_zero_without_dropout(layer, X):
    network = _network(0.0, layer=layer)
    mean, std = predict_mc(network, X, n_samples=5, batch_size=16)
    assert np.all(std == 0.0)
    np.testing.assert_array_equal(mean, _deterministic(network)(X))


@pytest.mark.parametrize("batch_size", [7, 40])
def test_batched_moments_equal_those_of_the_stored_passes(net, X, batch_size):
    n_samples = 12
    mean, std = predict_mc(net, X, n_samples=n_samples, batch_size=batch_size, seed=4)
    # Reference: the same calls (pass by pass, batch by batch, from the same
    # seeded streams), every pass stored, and NumPy's two-pass moments.
    fn = stochastic_function(net)
    with reseeded_streams(fn, 4):
        passes = np.stack([
            np.concatenate([np.asarray(fn(X[start:start + batch_size]), dtype=np.float64)
                            for start in range(0, len(X), batch_size)])
            for _ in range(n_samples)])
    np.testing.assert_allclose(mean, passes.mean(axis=0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(std, passes.std(axis=0), rtol=0, atol=1e-12)
    assert np.abs(passes - passes[0]).max() > 0.01  # the passes did draw different masks


def test_seed_leaves_the_network_streams_alone(net, X):
    stream = net.input_layer.rng
    before = stream.get_value().bit_generator.state
    first = predict_mc(net, X[:5], n_samples=3, seed=8)
    second = predict_mc(net, X[:5], n_samples=3, seed=8)
    assert stream.get_value().bit_generator.state == before
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # Without a seed the network's own stream is used and advanced.
    unseeded = predict_mc(net, X[:5], n_samples=3)
    assert stream.get_value().bit_generator.state != before
    assert not np.array_equal(unseeded[0], first[0])


def test_welford_and_merge_match_numpy():
    rng = np.random.default_rng(3)
    # Large offset, small spread: where a naive sum of squares loses digits.
    samples = 1e6 + rng.normal(size=(9, 13, 2))
    calls = iter(samples)
    moments = mc_moments(lambda batch: next(calls)[:len(batch)], np.zeros((13, 1)), n_samples=9,
                         batch_size=13)
    np.testing.assert_allclose(moments.mean, samples.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(moments.var, samples.var(axis=0), rtol=1e-9)

    def moments_of(part):
        return Moments(len(part), part.mean(axis=0), ((part - part.mean(axis=0)) ** 2).sum(axis=0))

    merged = moments_of(samples[:4]).merge(moments_of(samples[4:]))
    assert merged.count == 9
    np.testing.assert_allclose(merged.mean, samples.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(merged.std, samples.std(axis=0), rtol=1e-9)


def test_bad_arguments(net, X):
    with pytest.raises(ValueError, match=r"X has shape \(40, 5\).*expects 6 along axis 1"):
        predict_mc(net, X[:, :5])
    with pytest.raises(ValueError, match="n_samples must be a positive integer, got 0"):
        predict_mc(net, X, n_samples=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got -1"):
        predict_mc(net, X, batch_size=-1)
    holes = X.copy()
    holes[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains nan at row 3, column 2"):
        predict_mc(net, holes)
    with pytest.raises(ValueError, match="X holds no events"):
        mc_moments(lambda batch: batch, X[:0], n_samples=2)
