"""The dropout family under ``mode="PYTORCH"``; skipped without torch (the ``torch`` extra).

PyTorch compiles each function with ``torch.compile`` (seconds), so the
functions are few and shared by module fixtures.
"""
import warnings

import numpy as np
import pytensor
import pytest

import dropout_layers as dl

torch = pytest.importorskip(
    "torch", reason='PyTorch is not installed: pip install -e ".[torch]" (CPU build, ~750 MB; '
    "CI leaves it out because PyPI's Linux wheel brings the CUDA libraries)")

X = np.linspace(0.5, 1.5, 64 * 40, dtype="float32").reshape(64, 40)
ONES = np.ones((200, 500), dtype="float32")


def quiet(fn, *args, **kwargs):
    """Run ``fn`` hiding two warnings that are torch's and PyTensor's, not this library's.

    Torch deprecates ``torch.jit.script_method``, which it uses itself on
    import, and warns once when PyTensor's PyTorch backend hands it a
    read-only NumPy constant.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*torch.jit.script_method", DeprecationWarning)
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def layers_and_functions():
    p = pytensor.shared(np.float32(0.3))
    l_in = dl.InputLayer((None, 40))
    layers = [dl.SwitchDropoutLayer(l_in, p=0.5, seed=1),
              dl.GaussianNoiseLayer(l_in, sigma=0.2, seed=2),
              dl.DropConnectDenseLayer(l_in, 30, p=0.25, seed=3),
              dl.DropoutLayer(l_in, p=p, seed=4)]
    outputs = [dl.get_output(layer) for layer in layers]
    torch_fn = quiet(pytensor.function, [l_in.input_var], outputs, mode="PYTORCH")
    numba_fn = pytensor.function([l_in.input_var], outputs)
    return p, layers, torch_fn, numba_fn


def test_fresh_masks_and_the_layer_streams_advance(layers_and_functions):
    _, layers, torch_fn, _ = layers_and_functions
    before = [layer.rng.get_value().bit_generator.state for layer in layers]
    first, second = quiet(torch_fn, X), quiet(torch_fn, X)
    for a, b in zip(first, second):
        assert a.dtype == np.float32 and not np.array_equal(a, b)
    after = [layer.rng.get_value().bit_generator.state for layer in layers]
    assert all(x != y for x, y in zip(before, after))


def test_pytorch_draws_the_masks_of_numba(layers_and_functions):
    _, layers, torch_fn, numba_fn = layers_and_functions
    results = []
    for fn in (torch_fn, numba_fn):
        for seed, layer in enumerate(layers):
            layer.rng.set_value(np.random.default_rng(100 + seed))
        results.append(quiet(fn, X))
    (switch_t, noise_t, connect_t, _), (switch_n, noise_n, connect_n, _) = results
    np.testing.assert_array_equal(switch_t, switch_n)
    np.testing.assert_array_equal(connect_t != 0, connect_n != 0)
    np.testing.assert_allclose(connect_t, connect_n, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(noise_t, noise_n, rtol=1e-6, atol=1e-6)


def test_a_shared_p_is_read_on_every_call(layers_and_functions):
    p, _, torch_fn, _ = layers_and_functions
    for value in (0.0, 0.6):
        p.set_value(np.float32(value))
        out = quiet(torch_fn, X)[3]
        n = out.size
        assert abs((out == 0).sum() - n * value) <= 5 * np.sqrt(n * value * (1 - value))


@pytest.mark.slow
def test_fit_checkpoint_and_mc_dropout_in_pytorch_mode(tmp_path):
    with dl.random.seeded(0):
        l_in = dl.InputLayer((None, 6), name="in")
        hidden = dl.SwitchDropoutLayer(dl.DenseLayer(l_in, 16, name="hidden"), p=0.3, name="drop")
        net = dl.DenseLayer(hidden, 1, nonlinearity=dl.nonlinearities.sigmoid, name="out")
    X6 = np.random.default_rng(1).standard_normal((128, 6)).astype("float32")
    y = (X6[:, 0] > 0).astype("float32")
    # Adam, fit's default, needs a power (beta ** t) that PyTensor's PyTorch
    # backend cannot convert yet; Nesterov momentum needs none.
    trainer = quiet(dl.fit, net, X6, y, epochs=4, batch_size=32, update="nesterov_momentum",
                    learning_rate=0.05, verbose=False, mode="PYTORCH")
    losses = [record["train_loss"] for record in trainer.history]
    assert losses[-1] < losses[0]
    dl.save_checkpoint(tmp_path / "torch.h5", net)
    rebuilt = dl.load_checkpoint(tmp_path / "torch.h5").network
    for a, b in zip(dl.get_all_param_values(net), dl.get_all_param_values(rebuilt)):
        np.testing.assert_array_equal(a, b)
    assert (dl.get_all_layers(rebuilt)[2].rng.get_value().bit_generator.state
            == hidden.rng.get_value().bit_generator.state)
    with pytensor.config.change_flags(mode="PYTORCH"):
        mean, std = quiet(dl.predict_mc, net, X6[:8], n_samples=5, seed=3)
    assert mean.shape == (8, 1) and np.all(std > 0)
