"""Fresh noise on every call, however a function is compiled (issue 16, the frozen mask).

A Lasagne user compiles ``pytensor.function([x], get_output(net))``, or writes
the updates by hand, and expects new dropout masks on every call. The
layers' streams carry a default update that is the same expression in every
graph built from a layer, so these recipes draw fresh masks, several graphs
of one layer each do, and explicit updates give the very same masks.
"""
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from helpers import run_python
from noise_family import LAYERS

import dropout_layers as dl
from dropout_layers.random import collect_rng_updates

X = np.linspace(0.5, 1.5, 8 * 40, dtype="float32").reshape(8, 40)



@pytest.fixture(params=list(LAYERS))
def network(request):
    with dl.random.seeded(5):
        l_in = dl.InputLayer((None, 40))
        layer = LAYERS[request.param](l_in)
    return l_in, layer


def stream(layer):
    return layer.rng.get_value(borrow=True).bit_generator.state["state"]["state"]


def test_a_plain_function_draws_fresh_noise(network):
    l_in, layer = network
    f = pytensor.function([l_in.input_var], dl.get_output(layer))
    before = stream(layer)
    first, second = f(X), f(X)
    assert not np.array_equal(first, second)
    assert stream(layer) != before


def test_hand_written_updates_still_draw_fresh_masks():
    l_in = dl.InputLayer((None, 40))
    hidden = dl.SwitchDropoutLayer(dl.DenseLayer(l_in, 30), p=0.5, seed=1)
    net = dl.DenseLayer(hidden, 1, nonlinearity=None)
    out = dl.get_output(net)
    params = dl.get_all_params(net, trainable=True)
    lr = np.float32(0.01)
    # What a user writes without this library's update rules: no RNG update.
    updates = [(w, w - lr * g) for w, g in zip(params, pytensor.grad(out.sum(), params))]
    masks = pytensor.function([l_in.input_var], dl.get_output(net.input_layer), updates=updates)
    assert not np.array_equal(masks(X) != 0, masks(X) != 0)


def test_explicit_updates_give_the_same_masks_as_default_ones(network):
    l_in, layer = network
    out = dl.get_output(layer)
    plain = pytensor.function([l_in.input_var], out)
    explicit = pytensor.function([l_in.input_var], out, updates=collect_rng_updates(out))
    wrapped = dl.function([l_in.input_var], out)
    sequences = []
    for f in (plain, explicit, wrapped):
        layer.rng.set_value(np.random.default_rng(42))
        sequences.append([f(X) for _ in range(3)])
    for other in sequences[1:]:
        for a, b in zip(sequences[0], other):
            np.testing.assert_array_equal(a, b)


def test_update_rules_and_plain_functions_share_one_stream():
    l_in = dl.InputLayer((None, 40))
    drop = dl.SwitchDropoutLayer(l_in, p=0.5, seed=2)
    net = dl.DenseLayer(drop, 1, nonlinearity=None)
    loss = dl.get_output(net).mean()
    rule = dl.updates.sgd(loss, dl.get_all_params(net), learning_rate=0.0)
    train = pytensor.function([l_in.input_var], loss, updates=rule)
    masks = pytensor.function([l_in.input_var], dl.get_output(drop))
    drop.rng.set_value(np.random.default_rng(3))
    train(X)
    after_train = masks(X)
    drop.rng.set_value(np.random.default_rng(3))
    masks(X)
    np.testing.assert_array_equal(masks(X), after_train)


def test_several_graphs_of_one_layer_each_draw_fresh_masks():
    l_in = dl.InputLayer((None, 40))
    drop = dl.SwitchDropoutLayer(l_in, p=0.5, seed=4)
    net = dl.DenseLayer(drop, 3, nonlinearity=None)
    target = pt.matrix("t")
    loss = ((dl.get_output(net) - target) ** 2).mean()
    train = pytensor.function([l_in.input_var, target], [loss, dl.get_output(drop)])
    mc = pytensor.function([l_in.input_var], dl.get_output(drop))     # a second graph
    mc_sum = pytensor.function([l_in.input_var], dl.get_output(drop).sum(axis=1))  # and a third
    seen = []
    for _ in range(2):
        seen.append(train(X, np.zeros((8, 3), "float32"))[1] != 0)
        seen.append(mc(X) != 0)
        seen.append(mc_sum(X))
    masks = [m for m in seen if m.ndim == 2]
    assert len({m.tobytes() for m in masks}) == len(masks)
    sums = [s for s in seen if s.ndim == 1]
    assert not np.array_equal(sums[0], sums[1])


def test_calls_of_several_functions_follow_one_reproducible_sequence():
    def run():
        l_in = dl.InputLayer((None, 40))
        drop = dl.DropoutLayer(l_in, p=0.5, seed=9)
        f = pytensor.function([l_in.input_var], dl.get_output(drop))
        g = dl.function([l_in.input_var], dl.get_output(drop) * 2)
        return [f(X), g(X), f(X)]

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_a_layer_used_twice_in_one_graph_draws_one_mask():
    l_in = dl.InputLayer((None, 40))
    drop = dl.SwitchDropoutLayer(l_in, p=0.5, seed=6)
    a, b = dl.get_output(drop), dl.get_output(drop)
    first, second = pytensor.function([l_in.input_var], [a, b])(X)
    np.testing.assert_array_equal(first, second)


def test_the_default_update_is_the_next_state_of_the_stream():
    drop = dl.SwitchDropoutLayer((None, 4), p=0.5, seed=1)
    next_rng, _ = dl.masks.rng_key(drop.rng)
    assert drop.rng.default_update is next_rng
    assert collect_rng_updates(drop.get_output_for(pt.matrix()))[drop.rng] is next_rng


def test_building_layers_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        l_in = dl.InputLayer((None, 40))
        for build in LAYERS.values():
            dl.get_output(build(l_in))


LASAGNE_RECIPE = """
import warnings; warnings.simplefilter('error')
import numpy as np, pytensor
import dropout_layers as dl
l_in = dl.InputLayer((None, 20))
net = dl.dropout(dl.DenseLayer(l_in, 50), p=0.5)
f = pytensor.function([l_in.input_var], dl.get_output(net))
X = np.ones((4, 20), dtype='float32')
print(int(np.array_equal(f(X) != 0, f(X) != 0)))
"""


def test_the_lasagne_recipe_in_a_fresh_interpreter():
    proc = run_python(LASAGNE_RECIPE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0" and proc.stderr == ""
