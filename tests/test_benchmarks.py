"""The benchmark scripts run and report consistent figures.

Never timed here: speed is the scripts' job.
"""
import json
import os

import pytest
from helpers import REPO, load_script, run_script

SCRIPTS = REPO / "scripts"
# 30-600-600-600-1: weights and biases of each dense layer.
MLP_PARAMS = (30 * 600 + 600) + 2 * (600 * 600 + 600) + (600 + 1)


def test_checkpoint_benchmark_reports_sizes_that_follow_the_storage(tmp_path):
    proc = run_script(SCRIPTS / "benchmark_checkpoint.py", "--repeats", "1", "--json", "out.json",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["n_params"] == MLP_PARAMS
    size = {(row["content"], row["storage"]): row["bytes"] for row in report["results"]}
    raw = 4 * MLP_PARAMS
    assert raw < size["network", "none"] < 1.02 * raw  # float32 values plus a small layout
    assert 0.49 < size["network", "float16"] / size["network", "none"] < 0.52
    assert size["network", "gzip"] < size["network", "none"]
    # Nesterov keeps one velocity per parameter, so the training state doubles the weights.
    assert size["training", "none"] > 2 * raw


def test_dropout_benchmark_reports_every_variant_and_the_flop_count(tmp_path):
    proc = run_script(SCRIPTS / "benchmark_dropout.py", "--rows", "2048", "--epochs", "2",
                      "--chunks", "2",
                      "--warmup-batches", "1", "--predict-rows", "512", "--no-torch",
                      "--variants", "none,switch+bits,multiply+bits", "--json", "out.json",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["train_flop_per_sample"] == 6 * (30 * 600 + 2 * 600 * 600 + 600)
    assert set(report["variants"]) == {"none", "switch+bits", "multiply+bits"}
    for name, row in report["variants"].items():
        assert len(row["epoch_samples_per_s"]) == 2 and min(row["epoch_samples_per_s"]) > 0, name
        assert row["predict_samples_per_s"] > 0
        assert (row["mc_predict_samples_per_s"] is None) == (name == "none")
    assert report["variants"]["none"]["vs_no_dropout"] == 1.0
    assert report["ratios"]["fastest_dropout_variant"] in {"switch+bits", "multiply+bits"}
    assert "| switch+bits |" in proc.stdout
    # The printed goals state the targets the JSON records, beside the measured ratios.
    assert report["targets"]["none_vs_sgemm_bound"] == 0.90
    goal = next(line for line in proc.stdout.splitlines() if line.startswith("goal 3,"))
    assert goal.endswith(f"{report['ratios']['none_vs_sgemm_bound']:.2f}  (target >= 0.90)")


def test_dropout_benchmark_refuses_an_unknown_variant(tmp_path):
    proc = run_script(SCRIPTS / "benchmark_dropout.py", "--no-torch", "--variants", "none,shuffle",
                      cwd=tmp_path)
    assert proc.returncode != 0
    assert "shuffle" in proc.stderr and "Traceback" not in proc.stderr


def test_scale_benchmark_reports_every_size(tmp_path):
    proc = run_script(SCRIPTS / "benchmark_scale.py", "--rows", "300", "1000", "--compare",
                      "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert [row["rows"] for row in report["results"]] == [300, 1000]
    for row in report["results"]:
        assert row["read_s"] > 0 and row["epoch_s"] > 0 and row["pandas_read_s"] > 0
        assert row["peak_read_over_matrix"] > 0 and row["file_bytes"] > 300 * 29 * 2
    assert "| 1,000 |" in proc.stdout
    assert not any(tmp_path.glob("uci_*"))  # the files are removed


def test_scale_benchmark_peak_is_the_reading_interpreters_own(tmp_path):
    """A child inherits its parent's ru_maxrss across exec; the benchmark must not report it."""
    import numpy as np

    benchmark_scale = load_script(SCRIPTS / "benchmark_scale.py")
    path = tmp_path / "uci.csv"
    benchmark_scale.write_file(path, 200)
    parent_peak = np.ones(400 * 2**20 // 8)  # this process now peaks 400 MiB higher
    result = benchmark_scale.measure(path, "load_higgs", False)
    del parent_peak
    # 200 rows take a few MB; anything near 400 MiB is the parent's peak.
    assert 0 <= result["peak_read"] - result["rss_before"] < 100 * 2**20


@pytest.mark.slow
def test_startup_benchmark_times_a_cold_and_a_warm_run_on_fresh_caches(tmp_path):
    proc = run_script(SCRIPTS / "make_toy_higgs.py", "--events", "1500", "toy.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # FAST_COMPILE: nothing to compile, so the test stays quick; cold and warm runs are alike.
    # 32 units for 5 epochs separate the classes (8 units for 1 epoch do not, and the run fails).
    proc = run_script(SCRIPTS / "benchmark_startup.py", "--json", "startup.json", "--keep", "work",
                      "--env", "PYTENSOR_FLAGS=mode=FAST_COMPILE", "--",
                      "--data", "toy.csv", "--epochs", "5", "--hidden", "32", "--quiet",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "startup.json").read_text())
    assert report["env"] == ["PYTENSOR_FLAGS=mode=FAST_COMPILE"]
    assert isinstance(report["busy"], bool)
    (only,) = report["rounds"]
    for kind in ("cold", "warm"):
        assert only[kind]["wall_s"] > 0 and only[kind]["cpu_s"] > 0
    assert "| 1 |" in proc.stdout and "compile share" in proc.stdout
    # Both runs used the round's own cache directory and wrote the model to its own --out.
    assert (tmp_path / "work" / "round1" / "cache" / "pytensor").is_dir()
    assert (tmp_path / "work" / "round1" / "out" / "model.h5").is_file()


def test_startup_benchmark_wants_train_arguments_after_the_separator(tmp_path):
    proc = run_script(SCRIPTS / "benchmark_startup.py", "--epochs", "1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "put train_higgs.py's arguments after --" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_quality_benchmark_scores_every_event_once_with_both_models(tmp_path):
    proc = run_script(SCRIPTS / "make_toy_higgs.py", "--events", "1500", "toy.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "PYTENSOR_FLAGS": "mode=FAST_COMPILE"}
    proc = run_script(SCRIPTS / "benchmark_quality.py", "--data", "toy.csv", "--folds", "2",
                      "--baseline", "hist", "--option", "folds=2", "--option", "epochs=5",
                      "--option", "hidden=[32]", "--json", "quality.json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "quality.json").read_text())
    assert report["events"] == 1500 and report["options"]["hidden"] == [32]
    assert [(row["split_seed"], row["fold"]) for row in report["rows"]] == [(0, 0), (0, 1)]
    for row in report["rows"]:
        for model in ("pipeline", "hist"):
            assert 0.5 < row[model]["auc"] <= 1 and row[model]["ams15"] > 0
    summary = report["summary"]
    differences = [row["pipeline"]["auc"] - row["hist"]["auc"] for row in report["rows"]]
    assert summary["difference_auc"]["mean"] == pytest.approx(sum(differences) / 2)


def test_quality_benchmark_refuses_a_malformed_option(tmp_path):
    proc = run_script(SCRIPTS / "benchmark_quality.py", "--data", "x.csv", "--option", "epochs",
                      cwd=tmp_path)
    assert proc.returncode == 2
    assert "--option takes NAME=VALUE" in proc.stderr and "Traceback" not in proc.stderr
