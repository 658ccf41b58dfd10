"""benchmark_dropout.py --mode: the comparison on another PyTensor backend (never timed here)."""
import json

import pytest
from helpers import REPO, run_script

SCRIPT = REPO / "scripts" / "benchmark_dropout.py"


@pytest.mark.slow
def test_dropout_benchmark_runs_on_jax(tmp_path):
    pytest.importorskip("jax")
    proc = run_script(SCRIPT, "--hidden", "32,32", "--rows", "1024", "--epochs", "1",
                      "--chunks", "1", "--warmup-batches", "1", "--predict-rows", "256",
                      "--mc-passes", "2", "--no-torch", "--variants", "none,switch+bits",
                      "--mode", "jax", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["config"]["mode"] == "JAX"
    assert set(report["variants"]) == {"none", "switch+bits"}
    assert report["variants"]["switch+bits"]["mc_predict_samples_per_s"] > 0
    assert "PyTensor mode JAX" in proc.stdout


def test_dropout_benchmark_refuses_an_unknown_mode(tmp_path):
    proc = run_script(SCRIPT, "--no-torch", "--mode", "tpu", cwd=tmp_path)
    assert proc.returncode != 0
    assert "TPU" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_dropout_benchmark_with_a_shared_p(tmp_path):
    proc = run_script(SCRIPT, "--hidden", "32,32", "--rows", "1024", "--epochs", "1",
                      "--chunks", "1", "--warmup-batches", "1", "--predict-rows", "256",
                      "--mc-passes", "2", "--no-torch", "--variants", "switch+bits,switch+uniform",
                      "--shared-p", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["config"]["shared_p"] is True
    assert report["ratios"]["bits_vs_uniform_switch"] > 0
