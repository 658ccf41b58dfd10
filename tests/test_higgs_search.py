"""train_higgs.py --search: Ray Tune trials, the table, search.json, reproducible sampling.

Each search starts a local Ray instance (several seconds) and trains tiny
networks for two epochs on 600 generated events.
"""
import argparse
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray.tune", reason='Ray Tune is not installed (pip install -e ".[ray]")')

from helpers import run_script as run_any_script  # noqa: E402

from dropout_layers_higgs.pipeline import PipelineOptions  # noqa: E402
from dropout_layers_higgs.search import (  # noqa: E402
    DROPOUT_RANGE,
    LEARNING_RATE_RANGE,
    WIDTH_CHOICES,
    TrialResult,
    retrain_command,
    trial_options,
)
from dropout_layers_higgs.synthetic import write_toy_higgs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "scripts" / "train_higgs.py"
TINY = ("--hidden", "8", "--epochs", "2", "--batch-size", "32", "--quiet")


run_script = functools.partial(run_any_script, TRAIN)


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "training.csv"
    write_toy_higgs(path, n_events=600, seed=4)
    return path


def search(toy_file, out, *extra):
    proc = run_script("--data", toy_file, "--out", out, "--search", "3", *TINY, *extra, cwd=out)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads((out / "search.json").read_text())


@pytest.fixture(scope="module")
def search_run(toy_file, tmp_path_factory):
    return search(toy_file, tmp_path_factory.mktemp("search_out"))


def configuration(row):
    return row["dropout"], tuple(row["hidden"]), row["learning_rate"]


def test_three_trials_in_the_search_space_best_first(search_run):
    _, record = search_run
    trials = record["trials"]
    assert record["monitor"] == "auc" and len(trials) == 3
    assert sorted(row["trial"] for row in trials) == [1, 2, 3]
    for row in trials:
        assert DROPOUT_RANGE[0] <= row["dropout"] <= DROPOUT_RANGE[1]
        assert LEARNING_RATE_RANGE[0] <= row["learning_rate"] <= LEARNING_RATE_RANGE[1]
        assert len(row["hidden"]) == 1 and row["hidden"][0] in WIDTH_CHOICES
        assert row["status"] in ("completed", "stopped early")
        assert 1 <= row["epochs_run"] <= 2
    assert len({configuration(row) for row in trials}) == 3
    values = [row["best_valid_auc"] for row in trials]
    assert values == sorted(values, reverse=True)
    assert record["best"] == trials[0] and record["best"]["best_valid_auc"] == max(values)


def test_output_has_the_table_and_the_command_and_nothing_on_stderr(search_run):
    proc, record = search_run
    assert proc.stderr == ""
    assert "Traceback" not in proc.stdout
    assert "rank  trial  dropout  hidden" in proc.stdout and "best valid AUC" in proc.stdout
    best = record["best"]
    assert (f"--hidden {best['hidden'][0]} --dropout {best['dropout']} "
            f"--learning-rate {best['learning_rate']}") in record["command"]
    assert f"next: {record['command']}" in proc.stdout
    assert "--search" not in record["command"]


def test_same_seed_samples_same_configurations(search_run, toy_file, tmp_path):
    _, first = search_run
    _, again = search(toy_file, tmp_path, "--epochs", "1")
    assert (sorted(configuration(row) for row in again["trials"])
            == sorted(configuration(row) for row in first["trials"]))


@pytest.mark.parametrize("extra", [("--folds", "2"), ("--resume", "model.h5")])
def test_search_refuses_folds_and_resume(extra, tmp_path):
    proc = run_script("--search", "3", *extra, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("train_higgs.py: error:")
    assert "--search does not combine with " + extra[0] in proc.stderr


def test_without_ray_the_error_names_the_extra(tmp_path):
    # Runs the script with every import of ray failing, as where it is not installed.
    code = (
        "import runpy, sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'ray':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, NoRay())\n"
        f"sys.argv = [{str(TRAIN)!r}, '--search', '2']\n"
        f"runpy.run_path({str(TRAIN)!r}, run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and 'pip install -e ".[ray]"' in proc.stderr


def test_trial_options_keep_the_layer_count_and_round():
    options = trial_options(PipelineOptions(hidden=(8, 8, 8)),
                            {"dropout": 0.34567, "width": 256, "learning_rate": 0.0312345})
    assert options.hidden == (256, 256, 256)
    assert options.dropout == 0.35 and options.learning_rate == 0.031


def test_retrain_command_repeats_only_given_options():
    parser = argparse.ArgumentParser()
    for name, default in (("--data", None), ("--epochs", None), ("--hidden", (128,)),
                          ("--dropout", 0.5), ("--learning-rate", 0.05), ("--seed", 0),
                          ("--search", None), ("--ray-address", None)):
        parser.add_argument(name, default=default)
    parser.add_argument("--drop-phi", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(["--data", "my data.csv", "--search", "5", "--seed", "3",
                              "--ray-address", "auto", "--drop-phi"])
    trial = TrialResult(trial=1, dropout=0.35, hidden=(256, 256), learning_rate=0.031,
                        epochs_run=5, best_value=3.2, best_epoch=4, status="completed")
    assert retrain_command(parser, args, trial) == (
        "python scripts/train_higgs.py --data 'my data.csv' --hidden 256,256 --dropout 0.35 "
        "--learning-rate 0.031 --seed 3 --drop-phi")
