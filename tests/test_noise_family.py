"""The dropout family: statistics, shared rates, round trips and MC dropout of every layer.

Tolerances are 5 standard deviations of the statistic under the layer's
own distribution (binomial counts, sample means and variances), and every
stream is seeded, so a failure is a defect, not bad luck.
"""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from noise_family import LAYERS, SCHEDULABLE

import dropout_layers as dl
from dropout_layers.layers.alpha_dropout import SELU_ALPHA, SELU_SCALE, alpha_dropout_affine
from dropout_layers.training import DropoutSchedule, linear_ramp

RNG = np.random.default_rng(0)
ONES = np.ones((200, 500), dtype="float32")


def compile_train(layer, l_in):
    return pytensor.function([l_in.input_var], dl.get_output(layer))


def five_sigma_of_mean(values, expected, sd):
    return abs(np.mean(values, dtype=np.float64) - expected) <= 5 * sd / np.sqrt(np.size(values))


# --------------------------------------------------------------------------- Gaussian noise


def test_gaussian_noise_adds_noise_of_the_given_sigma():
    l_in = dl.InputLayer((None, 500))
    layer = dl.GaussianNoiseLayer(l_in, sigma=0.3, seed=1)
    noise = compile_train(layer, l_in)(ONES).astype(np.float64) - 1
    n = noise.size
    assert five_sigma_of_mean(noise, 0.0, 0.3)
    assert abs(noise.var() - 0.09) <= 5 * 0.09 * np.sqrt(2 / n)
    assert dl.get_output(layer, deterministic=True) is l_in.input_var


def test_gaussian_noise_takes_lasagne_arguments():
    layer = dl.GaussianNoiseLayer((None, 3))
    assert layer.sigma == 0.1
    x = pt.matrix("x")
    assert layer.get_output_for(x, deterministic=True) is x
    assert dl.GaussianNoiseLayer((None, 3), sigma=0).get_output_for(x) is x
    with pytest.raises(ValueError, match="sigma must be in"):
        dl.GaussianNoiseLayer((None, 3), sigma=-1.0)


# --------------------------------------------------------------------------- Gaussian dropout


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gaussian_dropout_noise_has_mean_one_and_dropout_variance(p):
    l_in = dl.InputLayer((None, 500))
    layer = dl.GaussianDropoutLayer(l_in, p=p, seed=2)
    factor = compile_train(layer, l_in)(ONES).astype(np.float64)
    variance = p / (1 - p)
    assert five_sigma_of_mean(factor, 1.0, np.sqrt(variance))
    assert abs(factor.var() - variance) <= 5 * variance * np.sqrt(2 / factor.size)


def test_gaussian_dropout_shares_noise_over_shared_axes():
    l_in = dl.InputLayer((None, 6, 50))
    layer = dl.GaussianDropoutLayer(l_in, p=0.5, shared_axes=(1,), seed=3)
    out = compile_train(layer, l_in)(np.ones((4, 6, 50), dtype="float32"))
    assert np.array_equal(out, np.broadcast_to(out[:, :1], out.shape))
    assert len(np.unique(out)) > 100


# --------------------------------------------------------------------------- alpha dropout


@pytest.mark.parametrize("p", [0.05, 0.1, 0.3])
def test_alpha_dropout_keeps_mean_and_variance_of_a_standard_input(p):
    l_in = dl.InputLayer((None, 500))
    layer = dl.AlphaDropoutLayer(l_in, p=p, seed=4)
    X = RNG.standard_normal((200, 500)).astype("float32")
    out = compile_train(layer, l_in)(X).astype(np.float64)
    a, b = alpha_dropout_affine(p, -SELU_SCALE * SELU_ALPHA)
    dropped = np.isclose(out, a * -SELU_SCALE * SELU_ALPHA + b, rtol=0, atol=1e-6)
    n = out.size
    assert abs(dropped.sum() - n * p) <= 5 * np.sqrt(n * p * (1 - p))
    np.testing.assert_allclose(out[~dropped], a * X[~dropped] + b, rtol=1e-5, atol=1e-6)
    # Mean and variance are those of the input's distribution, N(0, 1), up to sampling error.
    fourth = np.mean(out**4)
    assert abs(out.mean()) <= 5 / np.sqrt(n)
    assert abs(out.var() - 1) <= 5 * np.sqrt((fourth - 1) / n)


def test_alpha_dropout_through_selu_units_stays_normalised():
    # A deep SELU stack with LeCun-normal weights keeps its activations near
    # mean 0 and variance 1 with alpha dropout after every layer.
    dl.set_rng(np.random.RandomState(1))
    l_in = dl.InputLayer((None, 256))
    net = l_in
    for _ in range(6):
        net = dl.DenseLayer(net, 256, W=dl.init.Normal(std=1 / 16),
                            nonlinearity=dl.nonlinearities.selu)
        net = dl.AlphaDropoutLayer(net, p=0.1)
    out = compile_train(net, l_in)(RNG.standard_normal((512, 256)).astype("float32"))
    assert abs(out.mean()) < 0.1 and abs(out.var() - 1) < 0.15


# --------------------------------------------------------------------------- DropConnect


@pytest.mark.parametrize("mask", ["batch", "example"])
def test_dropconnect_drops_weights_at_rate_p_and_keeps_the_expectation(mask):
    n_in, n_out, p = 40, 50, 0.3
    l_in = dl.InputLayer((None, n_in))
    W = RNG.uniform(0.5, 1.5, (n_in, n_out)).astype("float32")
    layer = dl.DropConnectDenseLayer(l_in, n_out, p=p, mask=mask, W=W, b=None, nonlinearity=None,
                                     seed=5)
    f = compile_train(layer, l_in)
    # One-hot inputs read the thinned weights row by row.
    eye = np.tile(np.eye(n_in, dtype="float32"), (3, 1))
    thinned = f(eye).reshape(3, n_in, n_out)
    kept = thinned != 0
    n = kept.size
    assert abs((~kept).sum() - n * p) <= 5 * np.sqrt(n * p * (1 - p))
    np.testing.assert_allclose(thinned[kept], np.broadcast_to(W / (1 - p), thinned.shape)[kept],
                               rtol=1e-6)
    same_mask = np.array_equal(kept[0], kept[1]) and np.array_equal(kept[1], kept[2])
    assert same_mask == (mask == "batch")
    # The mean over calls of x . W_thinned is x . W.
    x = RNG.uniform(0, 1, (4, n_in)).astype("float32")
    draws = np.array([f(x) for _ in range(300)], dtype=np.float64)
    deterministic = x @ W
    sd = np.sqrt(p / (1 - p) * (x.astype(np.float64) ** 2) @ (W.astype(np.float64) ** 2))
    z = (draws.mean(axis=0) - deterministic) / (sd / np.sqrt(len(draws)))
    assert np.abs(z).max() < 5
    np.testing.assert_allclose(dl.get_output(layer, x, deterministic=True).eval(), deterministic,
                               rtol=1e-5)


def test_dropconnect_refuses_bad_settings():
    with pytest.raises(ValueError, match="mask must be one of"):
        dl.DropConnectDenseLayer((None, 3), 2, mask="unit")
    with pytest.raises(ValueError, match="num_leading_axes=1"):
        dl.DropConnectDenseLayer((None, 4, 3), 2, mask="example", num_leading_axes=2)


# --------------------------------------------------------------------------- concrete dropout


def test_concrete_dropout_drops_more_than_half_with_probability_p():
    l_in = dl.InputLayer((None, 500))
    layer = dl.ConcreteDropoutLayer(l_in, init_p=0.3, seed=6)
    p = layer.drop_rate()
    out = compile_train(layer, l_in)(ONES).astype(np.float64)
    # out = (1 - z) / (1 - p), and z > 1/2 exactly when u > 1 - p.
    mostly_dropped = out < 0.5 / (1 - p)
    n = out.size
    assert abs(mostly_dropped.sum() - n * p) <= 5 * np.sqrt(n * p * (1 - p))
    assert out.min() >= 0 and out.max() <= 1 / (1 - p) + 1e-6


def test_concrete_dropout_learns_its_rate_from_the_regularised_loss():
    dl.set_rng(np.random.RandomState(2))
    l_in = dl.InputLayer((None, 10))
    concrete = dl.ConcreteDropoutLayer(l_in, init_p=0.1, seed=7)
    net = dl.DenseLayer(concrete, 1, nonlinearity=None)
    target = pt.matrix("target")
    loss = ((dl.get_output(net) - target) ** 2).mean()
    # A large dropout regulariser pulls p towards 1/2 (maximum entropy).
    penalty = dl.concrete_dropout_regularization(net, weight_regularizer=0.0,
                                                 dropout_regularizer=0.1)
    params = dl.get_all_params(net, trainable=True)
    assert concrete.p_logit in params
    assert concrete.p_logit not in dl.get_all_params(net, regularizable=True)
    step = pytensor.function([l_in.input_var, target], loss,
                             updates=dl.updates.adam(loss + penalty, params, learning_rate=0.05))
    X = RNG.standard_normal((64, 10)).astype("float32")
    y = X[:, :1] * 0.5
    for _ in range(60):
        step(X, y)
    assert concrete.drop_rate() > 0.2


def test_concrete_regularizer_matches_the_formula():
    l_in = dl.InputLayer((None, 6))
    concrete = dl.ConcreteDropoutLayer(l_in, init_p=0.25)
    dense = dl.DenseLayer(concrete, 3, W=np.full((6, 3), 0.5, dtype="float32"))
    value = float(dl.concrete_dropout_regularization(dense, 1e-2, 1e-3).eval())
    p = 0.25
    expected = 1e-2 * 18 * 0.25 / (1 - p) + 1e-3 * 6 * (p * np.log(p) + (1 - p) * np.log(1 - p))
    assert value == pytest.approx(expected, rel=1e-5)
    assert float(dl.concrete_dropout_regularization(dl.DenseLayer(l_in, 2)).eval()) == 0.0


# --------------------------------------------------------------------------- every layer


def build(name, seed=None, **kwargs):
    with dl.random.seeded(seed if seed is not None else 0):
        l_in = dl.InputLayer((None, 40))
        layer = LAYERS[name](l_in, **kwargs)
    return l_in, layer


X40 = np.linspace(0.5, 1.5, 16 * 40, dtype="float32").reshape(16, 40)


@pytest.mark.parametrize("name", list(LAYERS))
def test_same_seed_same_noise_and_other_seed_other_noise(name):
    outputs = []
    for seed in (1, 1, 2):
        l_in, layer = build(name, seed)
        outputs.append(compile_train(layer, l_in)(X40))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.array_equal(outputs[0], outputs[2])


@pytest.mark.parametrize("name", SCHEDULABLE)
def test_a_shared_rate_gives_the_constant_rates_output_and_can_change(name):
    value = 0.25
    shared_p = pytensor.shared(np.float32(value))
    l_in, with_shared = build(name, seed=3, p=shared_p)
    _, with_constant = build(name, seed=3, p=float(np.float32(value)))
    f = compile_train(with_shared, l_in)
    g = pytensor.function([l_in.input_var], dl.get_output(with_constant, l_in.input_var))
    np.testing.assert_allclose(f(X40), g(X40), rtol=2e-6, atol=1e-6)
    shared_p.set_value(np.float32(0.0))
    np.testing.assert_allclose(f(X40), dl.get_output(with_shared, X40, deterministic=True).eval(),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(LAYERS))
def test_config_round_trip_rebuilds_an_equal_layer(name):
    l_in, layer = build(name, seed=4)
    config = layer.get_config()
    again = type(layer).from_config(l_in, config)
    assert again.get_config() == config
    assert again.output_shape == layer.output_shape


def test_config_keeps_a_shared_rate_shared():
    shared_p = pytensor.shared(np.float32(0.4))
    layer = dl.SwitchDropoutLayer((None, 5), p=shared_p)
    config = layer.get_config()
    assert config["p"] == pytest.approx(0.4) and config["p_shared"] is True
    again = dl.SwitchDropoutLayer.from_config((None, 5), config)
    assert isinstance(again.p, pytensor.compile.SharedVariable) and again.p is not shared_p
    with pytest.raises(ValueError, match="symbolic expression"):
        dl.SwitchDropoutLayer((None, 5), p=pt.scalar("p")).get_config()


@pytest.mark.parametrize("name", list(LAYERS))
def test_checkpoint_round_trip_restores_outputs_and_stream(name, tmp_path):
    l_in, layer = build(name, seed=5)
    net = dl.DenseLayer(layer, 2, nonlinearity=None, name="out")
    path = tmp_path / "net.h5"
    dl.save_checkpoint(path, net)
    loaded = dl.load_checkpoint(path)
    rebuilt = loaded.network
    new_input = [lay for lay in dl.get_all_layers(rebuilt) if isinstance(lay, dl.InputLayer)][0]
    det = pytensor.function([l_in.input_var], dl.get_output(net, deterministic=True))
    det_loaded = pytensor.function([new_input.input_var],
                                   dl.get_output(rebuilt, deterministic=True))
    np.testing.assert_array_equal(det(X40), det_loaded(X40))
    # Same stream state: the next stochastic pass of both networks is the same.
    stochastic = pytensor.function([l_in.input_var], dl.get_output(net))
    stochastic_loaded = pytensor.function([new_input.input_var], dl.get_output(rebuilt))
    np.testing.assert_array_equal(stochastic(X40), stochastic_loaded(X40))


def test_checkpoint_round_trip_keeps_a_shared_rate_schedulable(tmp_path):
    shared_p = pytensor.shared(np.float32(0.3))
    l_in = dl.InputLayer((None, 4), name="in")
    net = dl.DenseLayer(dl.SwitchDropoutLayer(l_in, p=shared_p, name="drop"), 1, name="out")
    dl.save_checkpoint(tmp_path / "p.h5", net)
    loaded = dl.load_checkpoint(tmp_path / "p.h5")
    drop = loaded.layers["drop"]
    assert isinstance(drop.p, pytensor.compile.SharedVariable)
    assert float(drop.p.get_value()) == pytest.approx(0.3)


@pytest.mark.parametrize("name", list(LAYERS))
def test_predict_mc_works_through_every_layer(name):
    l_in, layer = build(name, seed=6)
    net = dl.DenseLayer(layer, 1, nonlinearity=None)
    mean, std = dl.predict_mc(net, X40, n_samples=40, seed=1)
    again, _ = dl.predict_mc(net, X40, n_samples=40, seed=1)
    np.testing.assert_array_equal(mean, again)
    assert mean.shape == (16, 1) and np.all(std > 0)
    if name not in ("alpha", "concrete"):  # the others keep the expectation
        det = dl.get_output(net, X40, deterministic=True).eval()
        z = (mean - det) / (std / np.sqrt(40))
        assert np.abs(z).max() < 6


@pytest.mark.slow
def test_dropout_schedule_anneals_every_shared_rate():
    p = pytensor.shared(np.float32(0.0))
    l_in = dl.InputLayer((None, 4))
    hidden = dl.GaussianDropoutLayer(dl.DenseLayer(l_in, 8), p=p, seed=1)
    net = dl.DenseLayer(dl.DropoutLayer(hidden, p=p, seed=2), 1,
                        nonlinearity=dl.nonlinearities.sigmoid)
    X = RNG.standard_normal((32, 4)).astype("float32")
    y = (X[:, 0] > 0).astype("float32")
    seen = []

    class Record(dl.training.Callback):
        def on_epoch_end(self, trainer, epoch, record):
            seen.append(float(p.get_value()))

    dl.fit(net, X, y, epochs=4, verbose=False,
           callbacks=[DropoutSchedule(linear_ramp(0.0, 0.6, 4)), Record()])
    np.testing.assert_allclose(seen, [0.0, 0.2, 0.4, 0.6], rtol=1e-6)


@pytest.mark.slow
def test_dropout_schedule_says_what_is_wrong():
    l_in = dl.InputLayer((None, 4))
    fixed = dl.SwitchDropoutLayer(l_in, p=0.5)
    net = dl.DenseLayer(fixed, 1, nonlinearity=dl.nonlinearities.sigmoid)
    X, y = np.zeros((8, 4), "float32"), np.zeros(8, "float32")
    with pytest.raises(ValueError, match="no layer has a shared p"):
        dl.fit(net, X, y, epochs=1, verbose=False, callbacks=[DropoutSchedule(lambda e: 0.1)])
    with pytest.raises(ValueError, match="float p"):
        dl.fit(net, X, y, epochs=1, verbose=False,
               callbacks=[DropoutSchedule(lambda e: 0.1, layers=[fixed])])
    shared = dl.DenseLayer(dl.SwitchDropoutLayer(l_in, p=pytensor.shared(np.float32(0.1))), 1,
                           nonlinearity=dl.nonlinearities.sigmoid)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        dl.fit(shared, X, y, epochs=1, verbose=False, callbacks=[DropoutSchedule(lambda e: 1.0)])
