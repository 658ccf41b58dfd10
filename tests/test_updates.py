"""Tests for dropout_layers.updates: NumPy references, schedules, dtypes, state, RNG."""
import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from numpy.testing import assert_allclose

import dropout_layers as dl
from dropout_layers import updates as U
from dropout_layers.objectives import aggregate, binary_crossentropy
from dropout_layers.random import shared_rng

# The reference checks are about the graphs' arithmetic, which does not
# depend on the backend; FAST_COMPILE builds them in ~0.05 s against ~1-2 s
# for a cold numba compile. The dtype test uses the default (numba) mode.
REFERENCE_MODE = "FAST_COMPILE"

# Convex toy problem: 0.5 * ||A w - y||^2 + 0.5 * sum(D * (M - T)^2).
_toy = np.random.RandomState(42)
A = _toy.randn(4, 3)
Y = _toy.randn(4)
D = _toy.uniform(0.5, 2.0, size=(2, 3))
T = _toy.randn(2, 3)
W0 = _toy.randn(3)
M0 = _toy.randn(2, 3)
PARAM_NAMES = ("w", "M")


def toy_problem(dtype="float64"):
    w = pytensor.shared(W0.astype(dtype), name="w")
    M = pytensor.shared(M0.astype(dtype), name="M")
    a, y, d, t = (pt.constant(v.astype(dtype)) for v in (A, Y, D, T))
    half = pt.constant(np.asarray(0.5, dtype=dtype))
    loss = half * pt.sum(pt.sqr(pt.dot(a, w) - y)) + half * pt.sum(d * pt.sqr(M - t))
    return w, M, loss


def toy_grads(w, M):
    return [A.T @ (A @ w - Y), D * (M - T)]


# NumPy references, written from the published algorithms (and Lasagne's
# documented formulation of each). ``s`` holds one parameter's accumulators,
# ``t`` is the 1-based step number.
def ref_sgd(p, g, s, t, learning_rate):
    return p - learning_rate * g


def ref_momentum(p, g, s, t, learning_rate, momentum=0.9):
    s["velocity"] = momentum * s.get("velocity", 0.0) - learning_rate * g
    return p + s["velocity"]


def ref_nesterov_momentum(p, g, s, t, learning_rate, momentum=0.9):
    s["velocity"] = momentum * s.get("velocity", 0.0) - learning_rate * g
    return p + momentum * s["velocity"] - learning_rate * g


def ref_adagrad(p, g, s, t, learning_rate=1.0, epsilon=1e-6):
    s["accu"] = s.get("accu", 0.0) + g**2
    return p - learning_rate * g / np.sqrt(s["accu"] + epsilon)


def ref_rmsprop(p, g, s, t, learning_rate=1.0, rho=0.9, epsilon=1e-6):
    s["accu"] = rho * s.get("accu", 0.0) + (1 - rho) * g**2
    return p - learning_rate * g / np.sqrt(s["accu"] + epsilon)


def ref_adadelta(p, g, s, t, learning_rate=1.0, rho=0.95, epsilon=1e-6):
    s["accu"] = rho * s.get("accu", 0.0) + (1 - rho) * g**2
    step = g * np.sqrt(s.get("delta_accu", 0.0) + epsilon) / np.sqrt(s["accu"] + epsilon)
    s["delta_accu"] = rho * s.get("delta_accu", 0.0) + (1 - rho) * step**2
    return p - learning_rate * step


def ref_adam(p, g, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    # Kingma & Ba, section 2: bias corrections folded into the step size.
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g**2
    alpha_t = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return p - alpha_t * s["m"] / (np.sqrt(s["v"]) + epsilon)


def ref_adamax(p, g, s, t, learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-8):
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["u"] = np.maximum(beta2 * s.get("u", 0.0), np.abs(g))
    return p - learning_rate / (1 - beta1**t) * s["m"] / (s["u"] + epsilon)


def ref_amsgrad(p, g, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g**2
    s["v_hat"] = np.maximum(s.get("v_hat", 0.0), s["v"])
    alpha_t = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return p - alpha_t * s["m"] / (np.sqrt(s["v_hat"]) + epsilon)


# rule name -> (NumPy reference, keyword arguments for 5 visible steps)
RULES = {
    "sgd": (ref_sgd, {"learning_rate": 0.05}),
    "momentum": (ref_momentum, {"learning_rate": 0.05, "momentum": 0.8}),
    "nesterov_momentum": (ref_nesterov_momentum, {"learning_rate": 0.05}),
    "adagrad": (ref_adagrad, {"learning_rate": 0.5}),
    "rmsprop": (ref_rmsprop, {"learning_rate": 0.05}),
    "adadelta": (ref_adadelta, {}),
    "adam": (ref_adam, {"learning_rate": 0.05}),
    "adamax": (ref_adamax, {"learning_rate": 0.05}),
    # beta2=0.5 lets v shrink as the gradient does, so the max in v_hat acts.
    "amsgrad": (ref_amsgrad, {"learning_rate": 0.05, "beta2": 0.5}),
}
HAS_COUNTER = {"adam", "adamax", "amsgrad"}


def run_reference(reference, kwargs, n_steps, schedule=None):
    """Trajectory of (params, states) over ``n_steps`` NumPy steps."""
    params, states = [W0.copy(), M0.copy()], [{}, {}]
    trajectory = []
    for t in range(1, n_steps + 1):
        step_kwargs = dict(kwargs, **(schedule(t) if schedule else {}))
        grads = toy_grads(*params)
        params = [reference(p, g, s, t, **step_kwargs) for p, g, s in zip(params, grads, states)]
        trajectory.append(([p.copy() for p in params], [dict(s) for s in states]))
    return trajectory


@pytest.mark.parametrize("name", list(RULES))
def test_rule_matches_numpy_reference(name):
    reference, kwargs = RULES[name]
    w, M, loss = toy_problem()
    updates = getattr(U, name)(loss, [w, M], **kwargs)
    step = pytensor.function([], loss, updates=updates, mode=REFERENCE_MODE)
    for expected_params, expected_states in run_reference(reference, kwargs, 5):
        step()
        assert_allclose(w.get_value(), expected_params[0], rtol=1e-6, atol=1e-12)
        assert_allclose(M.get_value(), expected_params[1], rtol=1e-6, atol=1e-12)
    # Parameters must actually move, or the comparison proves little.
    assert np.abs(w.get_value() - W0).max() > 1e-3

    values = updates.state.get_values()
    expected_names = [
        f"{i}/{PARAM_NAMES[i]}/{slot}" for i, state in enumerate(expected_states) for slot in state
    ]
    if name in HAS_COUNTER:
        expected_names.append("t")
        # A float counter, as Lasagne's: every updated variable has a float dtype.
        assert values["t"] == 5 and values["t"].dtype == np.float32
    assert sorted(values) == sorted(expected_names)
    for i, state in enumerate(expected_states):
        for slot, expected in state.items():
            assert_allclose(values[f"{i}/{PARAM_NAMES[i]}/{slot}"], expected, rtol=1e-6, atol=1e-12)


def test_amsgrad_reference_exercises_the_running_max():
    _, kwargs = RULES["amsgrad"]
    _, states = run_reference(ref_amsgrad, kwargs, 5)[-1]
    assert any(np.any(s["v_hat"] > s["v"]) for s in states)


def test_defaults_match_lasagne():
    expected = {
        "sgd": {},
        "momentum": {"momentum": 0.9},
        "nesterov_momentum": {"momentum": 0.9},
        "adagrad": {"learning_rate": 1.0, "epsilon": 1e-6},
        "rmsprop": {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6},
        "adadelta": {"learning_rate": 1.0, "rho": 0.95, "epsilon": 1e-6},
        "adam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        "adamax": {"learning_rate": 0.002, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
        "amsgrad": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    }
    for name, defaults in expected.items():
        parameters = inspect.signature(getattr(U, name)).parameters
        assert list(parameters)[:2] == ["loss_or_grads", "params"]
        found = {k: p.default for k, p in parameters.items() if p.default is not p.empty}
        assert found == defaults, name


# Shared-variable hyper-parameters: values exact in float32, changed each step.
SCHEDULES = {
    "sgd": ("learning_rate", {"learning_rate": 0.25}, [0.25, 0.125, 0.0625, 0.03125, 0.015625]),
    "momentum": ("momentum", {"learning_rate": 0.03125}, [0.5, 0.625, 0.75, 0.875, 0.9375]),
    "adam": ("learning_rate", {"learning_rate": 0.125}, [0.125, 0.0625, 0.25, 0.03125, 0.5]),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_shared_hyperparameter_schedule(name):
    hyper, fixed, values = SCHEDULES[name]
    reference, _ = RULES[name]
    # float32 shared variable driving float64 parameters: cast, not refused.
    variable = pytensor.shared(np.float32(values[0]), name=hyper)
    w, M, loss = toy_problem()
    kwargs = dict(fixed, **{hyper: variable})
    step = pytensor.function([], loss, updates=getattr(U, name)(loss, [w, M], **kwargs),
                             mode=REFERENCE_MODE)
    schedule = lambda t: {hyper: values[t - 1]}  # noqa: E731
    with_schedule = run_reference(reference, fixed, 5, schedule)
    without_schedule = run_reference(reference, dict(fixed, **{hyper: values[0]}), 5)
    for t, (expected_params, _) in enumerate(with_schedule, start=1):
        variable.set_value(np.float32(values[t - 1]))
        step()
        assert_allclose(w.get_value(), expected_params[0], rtol=1e-6, atol=1e-12)
        assert_allclose(M.get_value(), expected_params[1], rtol=1e-6, atol=1e-12)
    # The schedule makes a difference the test can see.
    assert np.abs(with_schedule[-1][0][0] - without_schedule[-1][0][0]).max() > 1e-4


def build_classifier(seed):
    dl.set_rng(np.random.RandomState(seed))
    l_in = dl.InputLayer((None, 2))
    l_hid = dl.DenseLayer(l_in, 8, nonlinearity=dl.nonlinearities.tanh)
    l_out = dl.DenseLayer(l_hid, 1, nonlinearity=dl.nonlinearities.sigmoid)
    return l_in, l_out


def separable_set(dtype="float32"):
    rng = np.random.RandomState(3)
    X = np.concatenate([rng.randn(20, 2) + 2.0, rng.randn(20, 2) - 2.0]).astype(dtype)
    y = np.concatenate([np.ones(20), np.zeros(20)]).astype(dtype)
    return X, y


TRAIN_SETTINGS = {
    "sgd": {"learning_rate": 0.5},
    "momentum": {"learning_rate": 0.1},
    "nesterov_momentum": {"learning_rate": 0.1},
    "adagrad": {"learning_rate": 0.1},
    "rmsprop": {"learning_rate": 0.01},
    "adadelta": {},
    "adam": {"learning_rate": 0.02},
    "adamax": {"learning_rate": 0.02},
    "amsgrad": {"learning_rate": 0.02},
}


def classifier_loss(l_in, l_out, target):
    prediction = dl.get_output(l_out)[:, 0]
    return aggregate(binary_crossentropy(prediction, target))


@pytest.mark.parametrize("name", list(TRAIN_SETTINGS))
def test_rule_lowers_network_loss(name):
    X, y = separable_set()
    l_in, l_out = build_classifier(seed=0)
    target = pt.vector("target", dtype="float32")
    loss = classifier_loss(l_in, l_out, target)
    params = dl.get_all_params(l_out, trainable=True)
    updates = getattr(U, name)(loss, params, **TRAIN_SETTINGS[name])
    step = pytensor.function([l_in.input_var, target], loss, updates=updates, mode=REFERENCE_MODE)
    losses = [float(step(X, y)) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_float32_params_stay_float32():
    """All rules on float32 networks: no float64 anywhere in the compiled graph."""
    X, y = separable_set()
    target = pt.vector("target", dtype="float32")
    # A float64 shared hyper-parameter must be cast down, not upcast the step.
    lr64 = pytensor.shared(np.float64(0.01), name="lr64")
    inputs, losses, all_updates, all_params = [], [], {}, []
    for seed, name in enumerate(TRAIN_SETTINGS):
        l_in, l_out = build_classifier(seed)
        loss = classifier_loss(l_in, l_out, target)
        params = dl.get_all_params(l_out, trainable=True)
        kwargs = {"learning_rate": lr64} if name == "adam" else TRAIN_SETTINGS[name]
        updates = getattr(U, name)(loss, params, **kwargs)
        for var, new in updates.items():
            assert new.dtype == var.dtype, (name, var)
        all_updates.update(updates)
        inputs.append(l_in.input_var)
        losses.append(loss)
        all_params.extend(params)
    # The default mode rewrites the graph when the function is built; numba
    # only compiles it on the first call, which this check does not need.
    optimized = pytensor.function(inputs + [target], losses, updates=all_updates)
    dtypes = {out.type.dtype for node in optimized.maker.fgraph.toposort() for out in node.outputs
              if hasattr(out.type, "dtype")}
    assert "float64" not in dtypes, dtypes

    step = pytensor.function(inputs + [target], losses, updates=all_updates, mode=REFERENCE_MODE)
    before = [p.get_value() for p in all_params]
    out = step(*([X] * len(inputs)), y)
    assert all(value.dtype == np.float32 for value in out)
    for p, old in zip(all_params, before):
        assert p.get_value().dtype == np.float32
        assert not np.array_equal(p.get_value(), old), p.name


def test_float64_params_stay_float64():
    w, M, loss = toy_problem("float64")
    updates = U.adam(loss, [w, M], learning_rate=pytensor.shared(np.float32(0.01)))
    assert updates[w].dtype == "float64" and updates[M].dtype == "float64"


# Optimizer state ---------------------------------------------------------

@pytest.fixture(scope="module")
def amsgrad_toy():
    w, M, loss = toy_problem()
    updates = U.amsgrad(loss, [w, M], learning_rate=0.05, beta2=0.5)
    step = pytensor.function([], loss, updates=updates, mode=REFERENCE_MODE)
    return w, M, updates, step


def test_state_round_trip_restores_identical_steps(amsgrad_toy):
    w, M, updates, step = amsgrad_toy
    for _ in range(3):
        step()
    saved_state = updates.state.get_values()
    saved_params = [w.get_value(), M.get_value()]

    def two_more_steps():
        step()
        step()
        return [w.get_value(), M.get_value()], updates.state.get_values()

    params_a, state_a = two_more_steps()
    # get_values gives copies: stepping did not change what was saved.
    assert saved_state["t"] == 3

    w.set_value(saved_params[0])
    M.set_value(saved_params[1])
    updates.state.set_values(saved_state)
    params_b, state_b = two_more_steps()
    for a, b in zip(params_a, params_b):
        np.testing.assert_array_equal(a, b)
    for key in state_a:
        np.testing.assert_array_equal(state_a[key], state_b[key])

    # Restoring the parameters alone gives other steps: the state matters.
    w.set_value(saved_params[0])
    M.set_value(saved_params[1])
    params_c, _ = two_more_steps()
    assert not np.allclose(params_a[0], params_c[0])


def test_state_set_values_refuses_mismatches(amsgrad_toy):
    _, _, updates, _ = amsgrad_toy
    state = updates.state
    good = state.get_values()

    missing = dict(good)
    del missing["1/M/v_hat"]
    with pytest.raises(ValueError, match=r"missing \['1/M/v_hat'\]"):
        state.set_values(missing)

    unexpected = dict(good, **{"2/b/m": np.zeros(3)})
    with pytest.raises(ValueError, match=r"unexpected \['2/b/m'\]"):
        state.set_values(unexpected)

    wrong_shape = dict(good, **{"0/w/m": np.zeros(4)})
    with pytest.raises(ValueError, match=r"'0/w/m' has shape \(3,\), got a value of shape \(4,\)"):
        state.set_values(wrong_shape)

    wrong_kind = dict(good, t=np.asarray(2 + 1j))
    with pytest.raises(TypeError, match=r"'t' has dtype float32"):
        state.set_values(wrong_kind)

    # A refused call changes nothing.
    after = state.get_values()
    for key in good:
        np.testing.assert_array_equal(after[key], good[key])


def test_state_names_are_stable_across_builds():
    w, M, loss = toy_problem()
    first = U.adam(loss, [w, M]).state.names()
    second = U.adam(loss, [w, M]).state.names()
    assert first == second == ["0/w/m", "0/w/v", "1/M/m", "1/M/v", "t"]


def test_unnamed_param_and_state_variables():
    p = pytensor.shared(np.zeros(2))
    updates = U.rmsprop(pt.sum(pt.sqr(p - 1.0)), [p])
    assert updates.state.names() == ["0/param/accu"]
    accu = updates.state["0/param/accu"]
    assert accu in updates and accu.name == "0/param/accu"
    assert updates.state.variables == {"0/param/accu": accu}


def test_apply_momentum_combines_state_and_keeps_input():
    w, M, loss = toy_problem()
    base = U.adagrad(loss, [w, M])
    combined = U.apply_momentum(base, momentum=0.5)
    assert combined.state.names() == [
        "0/w/accu", "1/M/accu", "0/w/velocity", "1/M/velocity"
    ]
    assert base.state.names() == ["0/w/accu", "1/M/accu"]
    assert combined.params == [w, M]
    assert base[w] is not combined[w]
    assert isinstance(combined, U.Updates)
    # momentum() on sgd: the velocities are the whole state.
    assert U.momentum(loss, [w, M], 0.1).state.names() == ["0/w/velocity", "1/M/velocity"]


def test_apply_nesterov_momentum_on_plain_dict():
    w, M, loss = toy_problem()
    plain = dict(U.sgd(loss, [w, M], 0.1))
    result = U.apply_nesterov_momentum(plain)
    assert result.state.names() == ["0/w/velocity", "1/M/velocity"]


# RNG updates ---------------------------------------------------------------

def _noisy_loss():
    w = pytensor.shared(np.zeros(5), name="w")
    rng = shared_rng(0)
    _, noise = pt.random.uniform(size=(5,), rng=rng, return_next_rng=True)
    return w, rng, noise, pt.sum(pt.sqr(w - noise))


@pytest.mark.parametrize("as_grads", [False, True], ids=["loss", "grads"])
def test_updates_carry_rng_updates(as_grads):
    w, rng, noise, loss = _noisy_loss()
    loss_or_grads = pytensor.grad(loss, [w]) if as_grads else loss
    updates = U.adam(loss_or_grads, [w])
    assert rng in updates
    f = pytensor.function([], noise, updates=updates, mode=REFERENCE_MODE)
    first, second = f(), f()
    assert not np.array_equal(first, second)


def test_deterministic_loss_has_no_rng_updates():
    w, M, loss = toy_problem()
    assert list(U.sgd(loss, [w, M], 0.1)) == [w, M]


def test_momentum_skips_rng_keys_of_plain_dicts():
    w, rng, _, loss = _noisy_loss()
    plain = dict(U.sgd(loss, [w], 0.1))
    result = U.apply_momentum(plain)
    assert result.state.names() == ["0/w/velocity"]
    assert result[rng] is plain[rng]


# Argument checks -----------------------------------------------------------

def test_get_or_compute_grads_checks_arguments():
    w, M, loss = toy_problem()
    with pytest.raises(ValueError, match=r"params\[1\] is .* TensorVariable"):
        U.get_or_compute_grads(loss, [w, w * 2])
    with pytest.raises(ValueError, match="got 1 gradient expressions for 2 parameters"):
        U.get_or_compute_grads([w], [w, M])
    with pytest.raises(ValueError, match=r"params\[1\] \(w\) is listed twice"):
        U.sgd(loss, [w, w], 0.1)
    message = "learning_rate must be a number or a PyTensor variable, got str"
    with pytest.raises(TypeError, match=message):
        U.sgd(loss, [w], "0.1")


def test_updates_copy_keeps_state():
    w, M, loss = toy_problem()
    updates = U.adam(loss, [w, M])
    copied = updates.copy()
    assert isinstance(copied, U.Updates)
    assert copied.state.names() == updates.state.names()
    assert copied.params == [w, M]


# Constraints ---------------------------------------------------------------

def np_norm_constraint(x, max_norm, axes, epsilon=1e-7):
    norms = np.sqrt(np.sum(x**2, axis=axes, keepdims=True))
    return x * np.clip(norms, 0, max_norm) / (epsilon + norms)


def test_norm_constraints_match_numpy():
    rng = np.random.RandomState(5)
    matrix = rng.randn(6, 4) * np.array([0.1, 1.0, 3.0, 10.0])  # some columns inside the ball
    tensor4 = rng.randn(3, 2, 2, 2)
    vector = rng.randn(5)
    m_var, t_var, v_var = pt.matrix("m"), pt.tensor4("t4"), pt.vector("v")
    g32 = [pt.matrix("g1", dtype="float32"), pt.vector("g2", dtype="float32")]
    scaled, norm = U.total_norm_constraint(g32, max_norm=2.0, return_norm=True)
    outputs = [
        U.norm_constraint(m_var, 2.0),
        U.norm_constraint(m_var, 2.0, norm_axes=(1,)),
        U.norm_constraint(t_var, 1.5),
        U.norm_constraint(v_var, 1.0, norm_axes=(0,)),
        *scaled, norm,
        *U.total_norm_constraint([m_var, v_var], max_norm=1e3),
    ]
    assert [o.dtype for o in scaled] == ["float32", "float32"] and norm.dtype == "float32"
    f = pytensor.function([m_var, t_var, v_var] + g32, outputs, mode=REFERENCE_MODE)
    g1, g2 = matrix.astype("float32"), vector.astype("float32")
    cols, rows, t4, vec, s1, s2, total, big_m, big_v = f(matrix, tensor4, vector, g1, g2)

    assert_allclose(cols, np_norm_constraint(matrix, 2.0, (0,)), rtol=1e-12)
    assert np.sqrt((cols**2).sum(axis=0)).max() <= 2.0
    assert_allclose(cols[:, 0], matrix[:, 0], rtol=1e-6)  # inside: untouched up to epsilon
    assert_allclose(rows, np_norm_constraint(matrix, 2.0, (1,)), rtol=1e-12)
    assert_allclose(t4, np_norm_constraint(tensor4, 1.5, (1, 2, 3)), rtol=1e-12)
    assert_allclose(vec, np_norm_constraint(vector, 1.0, (0,)), rtol=1e-12)

    expected_norm = np.sqrt((g1.astype(np.float64) ** 2).sum() + (g2.astype(np.float64) ** 2).sum())
    assert_allclose(total, expected_norm, rtol=1e-6)
    factor = 2.0 / (1e-7 + expected_norm)
    assert_allclose(s1, g1 * factor, rtol=1e-6)
    assert_allclose(s2, g2 * factor, rtol=1e-6)
    s1_64, s2_64 = s1.astype(np.float64), s2.astype(np.float64)
    assert_allclose(np.sqrt((s1_64**2).sum() + (s2_64**2).sum()),
                    2.0, rtol=1e-6)
    assert_allclose(big_m, matrix, rtol=1e-7)  # within the limit: unchanged up to epsilon
    assert_allclose(big_v, vector, rtol=1e-7)


def test_norm_constraint_refuses_ambiguous_axes():
    with pytest.raises(ValueError, match="dimensionality 1; specify norm_axes"):
        U.norm_constraint(pt.vector(), 1.0)
    with pytest.raises(ValueError, match=r"norm_axes \(2,\) out of range for a 2-D tensor"):
        U.norm_constraint(pt.matrix(), 1.0, norm_axes=(2,))
    with pytest.raises(ValueError, match="at least one tensor"):
        U.total_norm_constraint([], 1.0)


def test_documented_recipe_draws_fresh_dropout_masks():
    """``updates = adam(loss, params); pytensor.function(..., updates=updates)``."""
    X, y = separable_set()
    l_in = dl.InputLayer((None, 2))
    l_hid = dl.DenseLayer(l_in, 16, nonlinearity=dl.nonlinearities.tanh)
    l_drop = dl.SwitchDropoutLayer(l_hid, p=0.5)
    l_out = dl.DenseLayer(l_drop, 1, nonlinearity=dl.nonlinearities.sigmoid)
    target = pt.vector("target", dtype="float32")
    loss = classifier_loss(l_in, l_out, target)
    params = dl.get_all_params(l_out, trainable=True)
    # A zero learning rate freezes the parameters: only the masks can change the loss.
    updates = U.adam(loss, params, learning_rate=0.0)
    train = pytensor.function([l_in.input_var, target], loss, updates=updates, mode=REFERENCE_MODE)
    before = [p.get_value() for p in params]
    losses = [float(train(X, y)) for _ in range(3)]
    for p, old in zip(params, before):
        np.testing.assert_array_equal(p.get_value(), old)
    assert len(set(losses)) == 3, losses
