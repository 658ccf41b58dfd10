"""Ensembles: averaging, pooled MC dropout, and the local executor with resume."""
import sys

import numpy as np
import pytensor
import pytest

import dropout_layers as dl
from dropout_layers.ensemble import Ensemble, architecture_signature
from dropout_layers.executors import (
    RAY_INSTALL_HINT,
    ExecutorError,
    ExecutorSettings,
    MemberJob,
    member_seed,
    run_members,
)
from dropout_layers.threads import thread_env
from dropout_layers.uncertainty import predict_mc

N_FEATURES = 5


QUIET = ExecutorSettings(progress=False)


def _member(hidden, p, seed):
    dl.set_rng(np.random.RandomState(seed))
    layer = dl.InputLayer((None, N_FEATURES), name="input")
    layer = dl.ReLUDenseLayer(layer, hidden, name="hidden")
    layer = dl.SwitchDropoutLayer(layer, p=p, name="dropout")
    return dl.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid, name="output")


def _deterministic(network):
    l_in = dl.get_all_layers(network)[0]
    fn = pytensor.function([l_in.input_var], dl.get_output(network, deterministic=True))
    return np.asarray(fn(X_EVENTS), dtype=np.float64)


X_EVENTS = np.random.default_rng(2).normal(size=(30, N_FEATURES)).astype("float32")


@pytest.fixture(scope="module")
def members():
    # Three members of one architecture (one compiled graph) and one wider.
    return [_member(8, 0.5, 1), _member(8, 0.5, 2), _member(8, 0.5, 3), _member(12, 0.5, 4)]


def test_predict_is_the_mean_of_member_predictions(members):
    ensemble = Ensemble(members, threshold=0.7)
    expected = np.mean([_deterministic(m) for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(X_EVENTS, batch_size=7), expected, rtol=0,
                               atol=1e-6)
    per_member = ensemble.predict_members(X_EVENTS)
    assert per_member.shape == (4, 30, 1)
    for member, prediction in zip(members, per_member):
        np.testing.assert_allclose(prediction, _deterministic(member), rtol=0, atol=1e-6)
    assert ensemble.threshold == 0.7 and len(ensemble) == 4
    assert len(ensemble._graphs) == 2  # one compiled function per architecture


def test_signature_separates_architectures(members):
    assert architecture_signature(members[0]) == architecture_signature(members[1])
    assert architecture_signature(members[0]) != architecture_signature(members[3])
    assert architecture_signature(members[0]) != architecture_signature(_member(8, 0.25, 1))


def test_pooled_mc_is_member_mc_merged(members):
    ensemble = Ensemble(members[:2])
    mean, std = ensemble.predict_mc(X_EVENTS, n_samples=6, seed=9)
    again = ensemble.predict_mc(X_EVENTS, n_samples=6, seed=9)
    np.testing.assert_array_equal(mean, again[0])
    np.testing.assert_array_equal(std, again[1])
    # Pooling 2 x 6 passes: the mean of the member means; the variance is the
    # mean of member variances plus the variance of the member means.
    stats = [predict_mc(m, X_EVENTS, n_samples=6, seed=[9, i]) for i, m in enumerate(members[:2])]
    # Member 1 ran through member 0's graph with its own seed: the same masks.
    member_means = np.stack([s[0] for s in stats])
    member_vars = np.stack([s[1] ** 2 for s in stats])
    np.testing.assert_allclose(mean, member_means.mean(axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(std ** 2, member_vars.mean(axis=0) + member_means.var(axis=0),
                               rtol=0, atol=1e-6)


def test_pooled_std_without_dropout_is_member_disagreement():
    members = [_member(8, 0.0, seed) for seed in (5, 6, 7)]
    mean, std = Ensemble(members).predict_mc(X_EVENTS, n_samples=4)
    predictions = np.stack([_deterministic(m) for m in members])
    np.testing.assert_allclose(mean, predictions.mean(axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(std, predictions.std(axis=0), rtol=0, atol=1e-6)


def test_ensemble_rejects_bad_members(members):
    with pytest.raises(ValueError, match="at least one member"):
        Ensemble([])
    with pytest.raises(TypeError, match="ensemble member 1 is a str, not a Layer"):
        Ensemble([members[0], "member.h5"])
    with pytest.raises(ValueError, match=r"X has shape \(30, 4\)"):
        Ensemble(members).predict(X_EVENTS[:, :4])


# --- executors -------------------------------------------------------------

def _record_seed(calls, job):
    # A stand-in for training: the result is a function of the job alone.
    calls.append(job.index)
    return {"index": job.index, "seed": job.seed, "draw": float(dl.get_rng().uniform())}


class _Store:
    """An in-memory checkpoint directory."""

    def __init__(self):
        self.saved = {}

    def save(self, job, result):
        self.saved[job.index] = result

    def load(self, job):
        return self.saved.get(job.index)


def test_member_seed_depends_on_base_seed_and_index_only():
    seeds = [member_seed(42, i) for i in range(50)]
    assert len(set(seeds)) == 50 and all(0 <= s < 2**31 for s in seeds)
    assert member_seed(42, 3) == seeds[3]
    assert member_seed(43, 3) != seeds[3]
    with pytest.raises(ValueError, match="index must be a non-negative integer, got -1"):
        member_seed(42, -1)


def test_local_resume_trains_only_missing_members():
    jobs = [MemberJob(i, member_seed(0, i)) for i in range(4)]
    store, calls = _Store(), []

    def fail_after_two(shared, job):
        if job.index >= 2:
            raise RuntimeError(f"injected failure in member {job.index}")
        return _record_seed(calls, job)

    with pytest.raises(RuntimeError, match="injected failure in member 2"):
        run_members(fail_after_two, jobs, settings=QUIET, save_member=store.save)
    assert sorted(store.saved) == [0, 1] and calls == [0, 1]

    summary = run_members(lambda shared, job: _record_seed(calls, job), jobs, settings=QUIET,
                          save_member=store.save, load_member=store.load, resume=True)
    assert calls == [0, 1, 2, 3]  # members 0 and 1 were not trained again
    assert summary.resumed == [0, 1] and summary.trained == [2, 3]
    assert [r["index"] for r in summary.results] == [0, 1, 2, 3]

    # Every member's randomness comes from its own seed: a fresh run in
    # another order gives the same results.
    fresh = run_members(lambda shared, job: _record_seed([], job), jobs[::-1], settings=QUIET)
    assert fresh.results[::-1] == summary.results


def test_resume_with_everything_done_trains_nothing():
    jobs = [MemberJob(i, member_seed(0, i)) for i in range(3)]
    store = _Store()
    run_members(lambda shared, job: _record_seed([], job), jobs, settings=QUIET,
                save_member=store.save)
    calls = []
    summary = run_members(lambda shared, job: _record_seed(calls, job), jobs, settings=QUIET,
                          load_member=store.load, resume=True)
    assert calls == [] and summary.trained == [] and summary.resumed == [0, 1, 2]


def test_ray_executor_without_ray_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ExecutorError) as info:
        run_members(lambda shared, job: None, [MemberJob(0, 1)],
                    settings=ExecutorSettings(executor="ray", progress=False))
    assert str(info.value) == RAY_INSTALL_HINT
    assert 'pip install -e ".[ray]"' in str(info.value)


def test_bad_executor_settings():
    with pytest.raises(ExecutorError, match="unknown executor 'dask'"):
        ExecutorSettings(executor="dask")
    with pytest.raises(ValueError, match="cpus_per_member must be a positive integer, got 0"):
        ExecutorSettings(cpus_per_member=0)
    with pytest.raises(ValueError, match="max_concurrent must be a positive integer, got True"):
        ExecutorSettings(max_concurrent=True)
    with pytest.raises(ValueError, match="member indices must be unique"):
        run_members(lambda shared, job: None, [MemberJob(0, 1), MemberJob(0, 2)])
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        thread_env(0)
    assert thread_env(2)["OPENBLAS_NUM_THREADS"] == "2"
    assert thread_env(2)["NUMBA_NUM_THREADS"] == "2"
