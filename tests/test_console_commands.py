"""The console commands that ``pip install -e .`` installs run, as the scripts do."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dropout_layers_higgs.data import load_higgs
from dropout_layers_higgs.synthetic import generate_toy_higgs

BIN = Path(sys.executable).parent


def command(name):
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}: pip install -e ."
    return str(path)


def run(name, *args, cwd):
    return subprocess.run([command(name), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_make_toy_higgs_writes_the_file_named_first(tmp_path):
    proc = run("make-toy-higgs", "toy.csv", "--events", "60", "--seed", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote 60 events (")
    assert load_higgs(tmp_path / "toy.csv").n_events == 60


@pytest.mark.parametrize("name, expected", [
    ("train-higgs", "usage: train-higgs [-h] [--data PATH [PATH ...]]"),
    ("predict-higgs", "usage: predict-higgs [-h] [--out FILE]"),
])
def test_help_of_the_commands_names_them(tmp_path, name, expected):
    proc = run(name, "--help", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(expected)


def test_errors_of_the_commands_are_one_line_with_their_name(tmp_path):
    proc = run("predict-higgs", "absent.h5", "absent.csv", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("predict-higgs: error: ") and proc.stderr.count("\n") == 1


def test_signal_and_background_files_split_one_sample(tmp_path):
    for name, only in (("sig.csv", "signal"), ("bg.csv", "background")):
        proc = run("make-toy-higgs", name, "--only", only, "--events", "300", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    both = load_higgs([tmp_path / "sig.csv", tmp_path / "bg.csv"])
    sample = generate_toy_higgs(300)
    assert both.y.tolist() == sorted(sample.y.tolist(), reverse=True)
    order = np.argsort(both.event_ids)
    np.testing.assert_array_equal(both.event_ids[order], sample.event_ids)
    np.testing.assert_array_equal(both.X[order], sample.X)
    np.testing.assert_allclose(both.weights[order], sample.weights, rtol=1e-15)
