"""Tests for dropout_layers.nonlinearities: values against NumPy, dtypes, configs."""
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from dropout_layers import nonlinearities as N

# Arithmetic checks: the backend does not matter and FAST_COMPILE builds fast.
MODE = "FAST_COMPILE"
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def np_selu(x, scale, scale_neg):
    return scale * np.where(x > 0, x, scale_neg * np.expm1(x))


CASES = [
    (N.linear, lambda x: x),
    (N.identity, lambda x: x),
    (N.rectify, lambda x: np.maximum(x, 0)),
    (N.leaky_rectify, lambda x: np.where(x > 0, x, 0.01 * x)),
    (N.very_leaky_rectify, lambda x: np.where(x > 0, x, x / 3)),
    (N.LeakyRectify(0), lambda x: np.maximum(x, 0)),
    (N.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    (N.selu, lambda x: np_selu(x, SELU_SCALE, SELU_ALPHA)),
    (N.SELU(), lambda x: np.where(x > 0, x, np.expm1(x))),
    (N.SELU(scale=2.0, scale_neg=0.0), lambda x: 2 * np.maximum(x, 0)),
    (N.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (N.tanh, np.tanh),
    (N.ScaledTanH(), np.tanh),
    (N.ScaledTanh(scale_in=2 / 3, scale_out=1.7159), lambda x: 1.7159 * np.tanh(2 * x / 3)),
    (N.softplus, lambda x: np.log1p(np.exp(x))),
    (N.softmax, lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
]


# Ids from names, not reprs: a repr holds an address, which differs between
# the processes of a parallel run, and pytest-xdist needs the same ids in each.
CASE_IDS = [f"{i}-{getattr(fn, '__name__', type(fn).__name__)}" for i, (fn, _) in enumerate(CASES)]


@pytest.mark.parametrize("fn, reference", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_values_and_dtype(fn, reference, dtype):
    x = pt.matrix("x", dtype=dtype)
    out = fn(x)
    assert out.dtype == dtype
    values = np.random.default_rng(0).uniform(-4, 4, size=(5, 6)).astype(dtype)
    rtol = 1e-5 if dtype == "float32" else 1e-12
    got = pytensor.function([x], out, mode=MODE)(values)
    np.testing.assert_allclose(got, reference(values), rtol=rtol, atol=rtol)


def test_selu_keeps_zero_mean_unit_variance():
    # The fixed point of Klambauer et al.: N(0, 1) inputs stay at mean 0, variance 1.
    x = pt.vector("x")
    z = np.random.default_rng(1).standard_normal(400_000)
    out = pytensor.function([x], N.selu(x), mode=MODE)(z)
    # Standard errors of the mean and variance of 4e5 draws: ~0.0016 and ~0.004.
    assert abs(out.mean()) < 0.01 and abs(out.var() - 1) < 0.02


def test_softplus_does_not_overflow():
    x = pt.vector("x", dtype="float32")
    softplus = pytensor.function([x], N.softplus(x), mode=MODE)
    got = softplus(np.array([-200, 0, 200], dtype=np.float32))
    np.testing.assert_allclose(got, [0, np.log(2), 200], rtol=1e-6)


@pytest.mark.parametrize("fn", [
    N.rectify, N.selu, N.softplus, N.linear, N.LeakyRectify(0.2), N.very_leaky_rectify,
    N.SELU(1.5, 0.5), N.ScaledTanH(0.5, 2.27),
])
def test_config_round_trip(fn):
    import json
    spec = json.loads(json.dumps(N.name_of(fn)))
    back = N.get(spec)
    x = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(back(pt.as_tensor(x)).eval(), fn(pt.as_tensor(x)).eval())
    assert type(back) is type(fn)


def test_names_of_shared_instances():
    assert N.name_of(N.selu) == "selu" and N.get("selu") is N.selu
    assert N.name_of(None) == "linear" and N.get("identity") is N.linear
    assert N.name_of(N.ScaledTanh(1, 2)) == {"ScaledTanH": {"scale_in": 1.0, "scale_out": 2.0}}


def test_unknown_descriptions_are_refused():
    with pytest.raises(ValueError, match="unknown nonlinearity 'relu6'"):
        N.get("relu6")
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        N.get({"SELU": {"alpha": 1}})
    with pytest.raises(ValueError, match="cannot be"):
        N.name_of(lambda x: x)
