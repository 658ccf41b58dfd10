import numpy as np
import pytest
from dropout_layers_higgs.models import build_higgs_mlp, build_seed_network

import dropout_layers as dl


def test_higgs_mlp_structure():
    net = build_higgs_mlp(30, hidden=(600, 600, 600), p=0.5, input_p=0.1)
    layers = dl.get_all_layers(net)
    assert [layer.name for layer in layers] == [
        "input", "input_dropout", "hidden1", "dropout1", "hidden2", "dropout2", "hidden3",
        "dropout3", "output"]
    assert dl.count_params(net) == 30 * 600 + 600 + 2 * (600 * 600 + 600) + 600 + 1
    assert net.output_shape == (None, 1)


def test_seed_network_predicts_probabilities():
    net = build_seed_network(5, hidden_size=16)
    assert [type(layer).__name__ for layer in dl.get_all_layers(net)] == [
        "InputLayer", "ReLUDenseLayer", "SwitchDropoutLayer", "DenseLayer"]
    X = np.random.RandomState(0).randn(7, 5).astype("float32")
    out = dl.get_output(net, X, deterministic=True).eval()
    assert out.shape == (7, 1) and np.all((out > 0) & (out < 1))


@pytest.mark.parametrize("hidden", [(0,), (600, -1), ()])
def test_bad_hidden_sizes_refused(hidden):
    with pytest.raises(ValueError, match="hidden layer sizes must be positive"):
        build_higgs_mlp(30, hidden=hidden)
