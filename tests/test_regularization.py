"""Tests for dropout_layers.regularization against NumPy references."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose

import dropout_layers as dl
from dropout_layers import init
from dropout_layers.regularization import (
    apply_penalty,
    l1,
    l2,
    regularize_layer_params,
    regularize_layer_params_weighted,
    regularize_network_params,
)

MODE = "FAST_COMPILE"


def evaluate(outputs, inputs=(), values=()):
    return pytensor.function(list(inputs), outputs, mode=MODE)(*values)


def test_l1_l2_and_apply_penalty_match_numpy():
    rng = np.random.RandomState(0)
    a, b = rng.randn(3, 4), rng.randn(5)
    A, B = pt.matrix("a"), pt.vector("b")
    outs = evaluate(
        [l1(A), l2(A), apply_penalty(A, l2), apply_penalty([A, B], l1)],
        [A, B], [a, b],
    )
    assert_allclose(outs[0], np.abs(a).sum(), rtol=1e-12)
    assert_allclose(outs[1], (a**2).sum(), rtol=1e-12)  # sum of squares: no 1/2, no root
    assert_allclose(outs[2], (a**2).sum(), rtol=1e-12)
    assert_allclose(outs[3], np.abs(a).sum() + np.abs(b).sum(), rtol=1e-12)
    # Python's sum of no terms, as in Lasagne: adding it to a loss changes nothing.
    assert apply_penalty([], l2) == 0 and isinstance(apply_penalty([], l2), int)


def test_apply_penalty_passes_kwargs():
    def scaled_l2(x, scale):
        return scale * l2(x)

    a = np.arange(4.0)
    out = evaluate(apply_penalty([pt.as_tensor_variable(a)], scaled_l2, scale=3.0))
    assert_allclose(out, 3.0 * (a**2).sum())


@pytest.fixture
def network():
    l_in = dl.InputLayer((None, 4))
    l_hid1 = dl.DenseLayer(l_in, 5, b=init.Normal(1.0), name="hid1")
    l_hid2 = dl.ReLUDenseLayer(l_hid1, 3, b=init.Normal(1.0), name="hid2")
    l_out = dl.DenseLayer(l_hid2, 1, b=init.Normal(1.0), name="out")
    return l_hid1, l_hid2, l_out


def test_regularize_network_params_excludes_biases(network):
    l_hid1, l_hid2, l_out = network
    weights = [layer.W.get_value() for layer in network]
    biases = [layer.b.get_value() for layer in network]
    assert all(np.abs(b).sum() > 0 for b in biases)  # biases would change the sums
    l2_net, l1_net, l2_all = evaluate([
        regularize_network_params(l_out, l2),
        regularize_network_params(l_out, l1),
        regularize_network_params(l_out, l2, tags={}),
    ])
    assert_allclose(l2_net, sum((w.astype(np.float64) ** 2).sum() for w in weights), rtol=1e-6)
    assert_allclose(l1_net, sum(np.abs(w.astype(np.float64)).sum() for w in weights), rtol=1e-6)
    everything = weights + biases
    assert_allclose(l2_all, sum((p.astype(np.float64) ** 2).sum() for p in everything), rtol=1e-6)


def test_layer_penalties_and_higgs_recipe(network):
    l_hid1, l_hid2, l_out = network
    w1 = l_hid1.W.get_value().astype(np.float64)
    w2 = l_hid2.W.get_value().astype(np.float64)
    # The Higgs winner's recipe: L1 5e-6 and L2 5e-5 on the input weights only.
    higgs = (regularize_layer_params_weighted({l_hid1: 5e-6}, l1)
             + regularize_layer_params_weighted({l_hid1: 5e-5}, l2))
    single = regularize_layer_params(l_hid1, l2)
    several = regularize_layer_params([l_hid1, l_hid2], l1)
    weighted = regularize_layer_params_weighted({l_hid1: 0.5, l_hid2: 2.0}, l2)
    outputs = [higgs, single, several, weighted]
    # Python-float coefficients do not upcast a float32 network.
    assert [o.dtype for o in outputs] == ["float32"] * 4
    higgs_v, single_v, several_v, weighted_v = evaluate(outputs)
    assert_allclose(higgs_v, 5e-6 * np.abs(w1).sum() + 5e-5 * (w1**2).sum(), rtol=1e-5)
    assert_allclose(single_v, (w1**2).sum(), rtol=1e-6)
    assert_allclose(several_v, np.abs(w1).sum() + np.abs(w2).sum(), rtol=1e-6)
    assert_allclose(weighted_v, 0.5 * (w1**2).sum() + 2.0 * (w2**2).sum(), rtol=1e-6)


def test_weighted_needs_a_dict(network):
    with pytest.raises(TypeError, match="dict mapping layers to coefficients, got list"):
        regularize_layer_params_weighted([network[0]], l2)
