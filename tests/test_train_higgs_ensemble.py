"""train_higgs.py bags (--folds K --repeats R, local executor) and predict_higgs.py on them."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_script

from dropout_layers.checkpoint import load_ensemble
from dropout_layers_higgs.synthetic import write_toy_higgs

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "scripts" / "train_higgs.py"
PREDICT = REPO / "scripts" / "predict_higgs.py"
TINY = ("--hidden", "8", "--epochs", "2", "--batch-size", "32", "--quiet")


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "training.csv"
    write_toy_higgs(path, n_events=600, seed=4)
    return path


@pytest.fixture(scope="module")
def ensemble_run(toy_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble_out")
    proc = run_script(TRAIN, "--data", toy_file, "--out", out, "--folds", "2", "--repeats", "2",
                      *TINY, cwd=out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_ensemble_run_writes_members_file_and_cv_metrics(ensemble_run):
    out, proc = ensemble_run
    assert proc.stderr == ""
    assert sorted(p.name for p in (out / "members").iterdir()) == [
        f"member_00{i}.h5" for i in range(4)]
    bag = load_ensemble(out / "model.h5")
    assert len(bag.members) == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "bag" and metrics["ensemble"]["n_members"] == 4
    assert metrics["ensemble"]["trained"] == [0, 1, 2, 3]
    assert metrics["threshold"] == bag.threshold and bag.metadata["run_id"] == metrics["run_id"]
    cv = metrics["cross_validation"]
    assert {"auc", "ams_cross_fitted", "ams_top15", "ams_best_oof"} <= set(cv)
    aucs = [member["auc"] for member in metrics["members"]]
    assert metrics["member_spread"]["auc"]["std"] == pytest.approx(np.std(aucs))
    assert "AMS, cut chosen on the other folds" in proc.stdout
    assert f"next: python scripts/predict_higgs.py {out / 'model.h5'} test.csv" in proc.stdout


def test_resume_keeps_finished_members(ensemble_run, toy_file):
    out, _ = ensemble_run
    kept = (out / "members" / "member_000.h5").read_bytes()
    (out / "members" / "member_002.h5").unlink()
    proc = run_script(TRAIN, "--data", toy_file, "--out", out, "--folds", "2", "--repeats", "2",
                      "--resume", *TINY, cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert "(executor local; 1 trained, 3 resumed)" in proc.stdout
    assert (out / "members" / "member_000.h5").read_bytes() == kept
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["ensemble"]["trained"] == [2] and metrics["ensemble"]["resumed"] == [0, 1, 3]


def test_predict_with_mc_writes_std_beside_score(ensemble_run, toy_file):
    out, _ = ensemble_run
    proc = run_script(PREDICT, out / "model.h5", toy_file, "--out", out / "submission.csv",
                      "--mc", "3", cwd=out)
    assert proc.returncode == 0, proc.stderr
    assert "ensemble of 4 members, deterministic; MC dropout, 3 passes each" in proc.stdout
    assert "their class is unstable" in proc.stdout
    with open(out / "submission_mc.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["EventId", "Score", "Std"] and len(rows) == 600
    std = np.array([float(row["Std"]) for row in rows])
    assert np.all(std >= 0) and std.max() > 0  # dropout and members disagree somewhere


@pytest.mark.parametrize("args, message", [
    (("--folds", "1", "--executor", "ray"), "--executor ray needs a bag (--folds 2 or more"),
    (("--folds", "2", "--resume", "model.h5"), "a bag resumes from --out: give --resume without"),
    (("--folds", "1", "--resume"), "--resume without a CHECKPOINT resumes a bag in --out"),
    (("--valid-fraction", "0.3", "--folds", "3"), "--valid-fraction needs --folds 1"),
    (("--folds", "0",), "argument --folds: must be"),
    (("--folds", "2", "--ray-address", "auto"), "--ray-address needs --executor ray"),
])
def test_bad_ensemble_options(tmp_path, args, message):
    proc = run_script(TRAIN, *args, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("train_higgs.py: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "out").exists()


def test_ray_executor_without_ray_says_how_to_install(tmp_path):
    # A stand-in package that fails to import, as when the extra is not installed.
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "__init__.py").write_text('raise ImportError("No module named \'ray\'")\n')
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)}
    proc = run_script(TRAIN, "--folds", "2", "--executor", "ray", "--out", tmp_path / "out",
                      cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert proc.stderr == ('train_higgs.py: error: the ray executor needs Ray: install it with '
                           'pip install -e ".[ray]"\n')
    assert not (tmp_path / "out").exists()
