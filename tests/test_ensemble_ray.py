"""K-fold ensembles on a local Ray instance: file, average, resume, same members as local."""
import logging
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers.checkpoint import load_checkpoint, load_ensemble
from dropout_layers.executors import ExecutorSettings, ray_runtime_env
from dropout_layers_higgs.bagging import BaggingPlan, member_path, train_ensemble
from dropout_layers_higgs.pipeline import PipelineOptions, train_member
from dropout_layers_higgs.preprocessing import HiggsPreprocessor
from dropout_layers_higgs.shipping import worker_code
from dropout_layers_higgs.synthetic import generate_toy_higgs, write_toy_higgs

try:
    import ray
except ImportError:  # the optional extra is not installed
    ray = None

pytestmark = pytest.mark.skipif(
    ray is None, reason='Ray is not installed (pip install -e ".[ray]")'
)

REPO = Path(__file__).resolve().parents[1]
# Numba: the local reference trains in this process, and once JAX has run here every fork
# (Ray starts its processes so) warns that JAX is multithreaded.
OPTIONS = PipelineOptions(hidden=(16,), epochs=2, batch_size=64, progress=False,
                          backend="numba")
SEED = 3
PLAN = BaggingPlan(n_folds=2, n_repeats=2, seed=SEED)
RAY = ExecutorSettings(executor="ray", progress=False)


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance with 2 CPUs; yields its address."""
    # The member trainers below live in this test module, which Ray workers
    # cannot import: ship them by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    # Workers import the library and the application from what Ray ships
    # with the job, not from the environment.
    context = ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
                       log_to_driver=False, runtime_env=ray_runtime_env(worker_code()))
    yield context.address_info["address"]
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def data():
    return generate_toy_higgs(1200, seed=1)


def _calls(directory):
    return sorted(p.name for p in Path(directory).iterdir()) if Path(directory).exists() else []


def _log_call(log_dir, seed):
    # One file per call, written by the worker: counts trainings across processes.
    log_dir = Path(log_dir)
    log_dir.mkdir(exist_ok=True)
    (log_dir / f"{seed}-{len(list(log_dir.iterdir()))}").touch()


def _counting_trainer(log_dir):
    def train(data, train_idx, valid_idx, options, seed, preprocessor=None):
        _log_call(log_dir, seed)
        return train_member(data, train_idx, valid_idx, options, seed, preprocessor=preprocessor)
    return train


def _failing_after_two(log_dir):
    def train(data, train_idx, valid_idx, options, seed, preprocessor=None):
        _log_call(log_dir, seed)
        if len(_calls(log_dir)) > 2:
            raise RuntimeError("injected failure after two members")
        return train_member(data, train_idx, valid_idx, options, seed, preprocessor=preprocessor)
    return train


def _params(network):
    return dl.get_all_param_values(network)


@pytest.fixture(scope="module")
def local_run(data, tmp_path_factory):
    """All four members trained in this process: the reference."""
    return train_ensemble(data, OPTIONS, tmp_path_factory.mktemp("local"), PLAN,
                          ExecutorSettings(progress=False))


def test_ray_ensemble_resumes_and_matches_local(ray_cluster, data, local_run, tmp_path):
    out, calls = tmp_path / "out", tmp_path / "calls"

    # The run dies after two members: the two that finished are on disk.
    with pytest.raises(RuntimeError, match="injected failure after two members"):
        train_ensemble(data, OPTIONS, out, PLAN, RAY,
                       train_fn=_failing_after_two(str(calls)))
    finished = sorted(p.name for p in (out / "members").iterdir())
    assert len(finished) == 2, finished
    assert not (out / "ensemble.h5").exists()

    # Resuming trains only the missing members.
    resume_calls = tmp_path / "resume_calls"
    run = train_ensemble(data, OPTIONS, out, PLAN, RAY, resume=True,
                         train_fn=_counting_trainer(str(resume_calls)))
    assert len(_calls(resume_calls)) == 2
    assert sorted(run.trained) == sorted(set(range(4)) - set(run.resumed))
    assert sorted(member_path(out, i).name for i in run.resumed) == finished

    # Every member is in the ensemble file, under /members/<i>/.
    with h5py.File(run.path, "r") as h5file:
        assert h5file.attrs["kind"] == "ensemble" and h5file.attrs["n_members"] == 4
        assert sorted(h5file["members"]) == ["0", "1", "2", "3"]
        assert "preprocessing" in h5file

    # Ray and local give the same members, parameter for parameter.
    for ray_member, local_member in zip(run.members, local_run.members):
        for a, b in zip(_params(ray_member.network), _params(local_member.network)):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(run.oof_scores, local_run.oof_scores)


def test_ensemble_file_predicts_the_member_mean(local_run, data):
    ensemble = load_ensemble(local_run.path)
    assert len(ensemble) == 4 and ensemble.threshold == local_run.scores["threshold"]
    preprocessor = HiggsPreprocessor.from_state(ensemble.preprocessing)
    X = preprocessor.transform(data.X[:300], data.feature_names)
    members = [load_checkpoint(member_path(Path(local_run.path).parent, i)) for i in range(4)]
    expected = np.mean([m.predict(X, preprocess=False).astype(np.float64) for m in members],
                       axis=0)
    np.testing.assert_allclose(ensemble.predict(X, preprocess=False), expected, rtol=0, atol=1e-6)
    # The file's members are the members trained (not just equal-shaped ones).
    for member, trained in zip(ensemble.members, local_run.members):
        for a, b in zip(_params(member), _params(trained.network)):
            np.testing.assert_array_equal(a, b)


def test_script_joins_a_running_cluster(ray_cluster, tmp_path):
    """The README's command, pointed at a cluster with --ray-address."""
    toy = tmp_path / "training.csv"
    write_toy_higgs(toy, n_events=600, seed=4)
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train_higgs.py"), "--data", str(toy),
         "--folds", "2", "--repeats", "2", "--executor", "ray", "--ray-address", ray_cluster,
         "--hidden", "8",
         "--epochs", "2", "--batch-size", "32", "--quiet", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"with the ray executor on {ray_cluster}" in proc.stdout
    assert len(load_ensemble(tmp_path / "out" / "model.h5")) == 4
