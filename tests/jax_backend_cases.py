"""The dropout family under ``mode="JAX"`` (PyTensor's route to GPUs), run here on JAX's CPU.

Run by ``tests/test_backend_jax.py`` in a fresh interpreter: JAX starts
threads, after which every ``fork`` of the test process (the subprocess
tests, Ray) would warn of deadlocks. Functions are compiled once per module
where possible: a JAX compilation takes seconds.
"""
import subprocess
import sys
import warnings

import numpy as np
import pytensor
import pytest
from noise_family import LAYERS

import dropout_layers as dl

X = np.linspace(0.5, 1.5, 64 * 40, dtype="float32").reshape(64, 40)
ONES = np.ones((200, 500), dtype="float32")
COPY_WARNING = "will not be used in the compiled JAX graph"


def jax_function(inputs, outputs, **kwargs):
    """Compile with mode="JAX"; PyTensor's one warning (it copies RNG streams) is expected."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = pytensor.function(inputs, outputs, mode="JAX", **kwargs)
    unexpected = [str(w.message) for w in caught if COPY_WARNING not in str(w.message)]
    assert not unexpected, unexpected
    return f


@pytest.fixture(scope="module")
def every_layer():
    with dl.random.seeded(3):
        l_in = dl.InputLayer((None, 40))
        layers = {name: build(l_in) for name, build in LAYERS.items()}
    outputs = [dl.get_output(layer) for layer in layers.values()]
    return l_in, layers, jax_function([l_in.input_var], outputs)


def test_every_layer_runs_and_draws_fresh_noise(every_layer):
    l_in, layers, f = every_layer
    first, second = f(X), f(X)
    for name, a, b in zip(layers, first, second):
        layer = layers[name]
        assert a.dtype == np.float32 and a.shape == (64, layer.output_shape[1]), name
        assert not np.array_equal(a, b), name
        assert np.all(np.isfinite(a)), name


def test_the_layer_streams_are_copied_not_advanced(every_layer):
    # PyTensor's JAX linker gives the compiled function its own copy of each
    # stream: the copy advances on every call, the layer's stream does not.
    _, layers, f = every_layer
    before = [layer.rng.get_value().bit_generator.state for layer in layers.values()]
    f(X)
    assert [layer.rng.get_value().bit_generator.state for layer in layers.values()] == before


@pytest.fixture(scope="module")
def rates():
    p = pytensor.shared(np.float32(0.5))
    l_in = dl.InputLayer((None, 500))
    layers = [dl.SwitchDropoutLayer(l_in, p=0.1, seed=1), dl.DropoutLayer(l_in, p=p, seed=2),
              dl.GaussianNoiseLayer(l_in, sigma=0.3, seed=3)]
    return p, jax_function([l_in.input_var], [dl.get_output(layer) for layer in layers])


@pytest.mark.parametrize("value", [0.5, 0.8])
def test_drop_rates_are_binomial_and_a_shared_p_changes(rates, value):
    p, f = rates
    p.set_value(np.float32(value))
    constant, shared, noise = f(ONES)
    n = ONES.size
    for out, rate in ((constant, 0.1), (shared, value)):
        assert abs((out == 0).sum() - n * rate) <= 5 * np.sqrt(n * rate * (1 - rate))
        np.testing.assert_allclose(out[out != 0], 1 / (1 - rate), rtol=1e-6)
    residual = noise.astype(np.float64) - 1
    assert abs(residual.mean()) <= 5 * 0.3 / np.sqrt(n)
    assert abs(residual.var() - 0.09) <= 5 * 0.09 * np.sqrt(2 / n)


def net_and_data(seed=0):
    with dl.random.seeded(seed):
        l_in = dl.InputLayer((None, 6), name="in")
        hidden = dl.SwitchDropoutLayer(dl.DenseLayer(l_in, 32, name="hidden"), p=0.3, name="drop")
        net = dl.DenseLayer(hidden, 1, nonlinearity=dl.nonlinearities.sigmoid, name="out")
    rng = np.random.default_rng(seed)
    X6 = rng.standard_normal((256, 6)).astype("float32")
    y = (X6[:, 0] + 0.5 * X6[:, 1] > 0).astype("float32")
    return net, X6, y


def test_fit_checkpoint_and_mc_dropout_in_jax_mode(tmp_path):
    net, X6, y = net_and_data()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*" + COPY_WARNING, UserWarning)
        trainer = dl.fit(net, X6, y, epochs=8, batch_size=32, learning_rate=0.05, verbose=False,
                         mode="JAX")
        losses = [record["train_loss"] for record in trainer.history]
        assert losses[-1] < losses[0]
        path = tmp_path / "jax.h5"
        dl.save_checkpoint(path, net)
        rebuilt = dl.load_checkpoint(path).network
        expected = dl.get_output(rebuilt, X6[:20], deterministic=True).eval()
        np.testing.assert_allclose(trainer.predict(X6[:20]).reshape(expected.shape), expected,
                                   rtol=1e-5, atol=1e-7)
        with pytensor.config.change_flags(mode="JAX"):
            mean, std = dl.predict_mc(net, X6[:20], n_samples=10)
    # Fresh masks per sample give a spread; a row the network saturates in float32 may have none.
    assert mean.shape == (20, 1) and np.mean(std > 0) > 0.5


def test_a_stream_seeded_before_compiling_gives_reproducible_masks():
    l_in = dl.InputLayer((None, 40))
    drop = dl.SwitchDropoutLayer(l_in, p=0.5, seed=8)
    sequences = []
    for _ in range(2):
        drop.rng.set_value(np.random.default_rng(21))
        f = jax_function([l_in.input_var], dl.get_output(drop))
        sequences.append([f(X), f(X)])
    for a, b in zip(*sequences):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(*sequences[0])


def test_a_jax_train_step_keeps_every_variable_in_its_declared_dtype(capsys):
    # PyTensor's JAX reduction returned its float64 accumulator, so one step turned every
    # float32 parameter and Adam moment into float64 (and the next call compiled again).
    net, X6, y = net_and_data(1)
    trainer = dl.Trainer(net, learning_rate=0.01, mode="JAX", compile_notice_after=0)
    trainer.fit(X6, y, epochs=1, batch_size=32, verbose=True)
    assert "compiling the network with jax" in capsys.readouterr().out
    shared = trainer._steps.train.get_shared()
    tensors = [v for v in shared if hasattr(v.type, "dtype")]
    assert len(tensors) >= 3 * len(dl.get_all_params(net))
    for variable in tensors:
        assert np.asarray(variable.get_value()).dtype == variable.type.dtype, variable.name
    loss = trainer._steps.train(X6[:32], y[:32], np.ones(32, "float32"))
    assert np.asarray(loss).dtype == np.float32


def test_compile_function_silences_only_the_stream_copy_notice():
    # This file runs with -W error::UserWarning: the notice would fail the compile.
    l_in = dl.InputLayer((None, 40))
    f = dl.compilation.compile_function([l_in.input_var],
                                        dl.get_output(dl.SwitchDropoutLayer(l_in, 0.5, seed=2)),
                                        mode="JAX")
    assert not np.array_equal(f(X), f(X))


def test_a_graph_without_noise_sums_in_its_declared_dtype():
    # The JAX implementations, and the corrected reduction, are registered for every JAX
    # graph, not only for those that draw masks: checked in an interpreter that has
    # compiled nothing else.
    code = """
import numpy as np, pytensor.tensor as pt
import dropout_layers as dl
x = pt.matrix("x", dtype="float32")
f = dl.compilation.compile_function([x], [x.sum(), x.sum(axis=0)], mode="JAX")
outs = f(np.ones((3, 2), "float32"))
print(*(np.asarray(out).dtype for out in outs), float(outs[0]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["float32", "float32", "6.0"]


def test_a_run_resumed_under_jax_continues_its_masks_bit_for_bit(tmp_path):
    # PyTensor's JAX linker advances copies of the streams; the trainer writes them back
    # after each epoch, so a checkpoint holds the state the next masks come from.
    from dropout_layers.training import ModelCheckpoint, Trainer

    X6 = np.random.default_rng(4).standard_normal((70, 6)).astype("float32")
    y = (X6[:, 0] > 0).astype("float32")
    fit = {"batch_size": 16, "seed": 5, "verbose": False}
    net, _, _ = net_and_data(2)
    saver = ModelCheckpoint(str(tmp_path / "epoch{epoch}.h5"), every=2, on_best=False)
    whole = Trainer(net, learning_rate=0.01, mode="JAX")
    whole.fit(X6, y, epochs=4, callbacks=[saver], **fit)
    resumed = Trainer(dl.load_checkpoint(tmp_path / "epoch2.h5").network, learning_rate=0.01,
                      mode="JAX")
    resumed.fit(X6, y, epochs=4, resume_from=tmp_path / "epoch2.h5", **fit)
    start = dl.load_checkpoint(tmp_path / "epoch2.h5").network
    for a, b, mid in zip(dl.get_all_param_values(whole.network),
                         dl.get_all_param_values(resumed.network), dl.get_all_param_values(start)):
        assert a.tobytes() == b.tobytes()
    assert not np.array_equal(dl.get_all_param_values(whole.network)[0],
                              dl.get_all_param_values(start)[0])
    streams = [dl.get_all_layers(n)[2].rng.get_value().bit_generator.state
               for n in (whole.network, resumed.network, start)]
    assert streams[0] == streams[1] != streams[2]
