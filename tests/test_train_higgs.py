"""scripts/train_higgs.py from the command line: the full flow and every bad input.

Bad inputs fail before anything is compiled, so those runs take about a
second each; the training runs use tiny networks on a few hundred toy events:
a single network (``--folds 1``, resumable) and a bag on signal and background
files (the default).
"""
import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from dropout_layers_higgs.models.higgs import build_higgs_mlp
from helpers import run_script as run_any_script
from helpers import with_field

from dropout_layers.checkpoint import load_checkpoint, load_ensemble, save_checkpoint
from dropout_layers.training.loggers import read_tensorboard_scalars
from dropout_layers_higgs.cli.rundir import LOCK_NAME
from dropout_layers_higgs.data import UCI_FEATURES
from dropout_layers_higgs.pipeline import CHECKPOINT_KIND, PipelineOptions
from dropout_layers_higgs.preprocessing import HiggsPreprocessor
from dropout_layers_higgs.synthetic import write_toy_higgs

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "train_higgs.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TRAINING = FIXTURES / "kaggle_training_sample.csv"


run_script = functools.partial(run_any_script, SCRIPT)


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def toy_training(tmp_path_factory):
    """600 synthetic events: enough for a network to learn something in two epochs."""
    path = tmp_path_factory.mktemp("toy") / "training.csv"
    write_toy_higgs(path, n_events=600, seed=2)
    return path


@pytest.fixture(scope="module")
def previous_run(toy_training, tmp_path_factory):
    """An output directory holding the files of an earlier successful single-network run."""
    out = tmp_path_factory.mktemp("higgs_out")
    proc = run_script("--data", toy_training, "--out", out, "--folds", "1", "--hidden", "8",
                      "--epochs", "2", "--batch-size", "16", "--log-dir", out.parent / "logs",
                      "--quiet", cwd=out)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def snapshot(directory):
    """The files of a run; the lock file names the last run that held the directory."""
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())
            if path.name != LOCK_NAME}


def test_full_flow_writes_checkpoint_metrics_and_plots(previous_run):
    out, proc = previous_run
    assert proc.stderr == ""
    names = {path.name for path in out.iterdir()}
    assert {"model.h5", "metrics.json", "split.csv"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["format"] == "kaggle-train" and metrics["data"]["synthetic"] is False
    data = metrics["data"]
    assert data["n_train"] + data["n_valid"] + data["n_test"] == 600
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= 2
    assert [entry["epoch"] for entry in metrics["history"]] == list(
        range(1, metrics["epochs_run"] + 1))
    for key in ("auc", "ams_at_threshold", "ams_top15"):
        assert key in metrics["validation"]
    assert 0.0 < metrics["threshold"] < 1.0  # a sigmoid score
    assert "AMS (valid cut)" in proc.stdout and "best epoch" in proc.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert proc.stdout.count("matplotlib is not installed") == 1
    else:
        assert {"loss.png", "overtraining.png", "roc.png", "ams.png"} <= names


BAD_INPUTS = {
    "missing file": (lambda d, lines: d / "absent.csv", "absent.csv: no such file"),
    "empty file": (lambda d, lines: write(d / "empty.csv", []), "file is empty"),
    "wrong header": (lambda d, lines: write(d / "header.csv", [lines[0].replace("Weight", "W")]
                                            + lines[1:]), "missing columns Weight"),
    "non-numeric value": (
        lambda d, lines: write(d / "text.csv", with_field(lines, 5, "PRI_met", "abc")),
        "line 5, column PRI_met: non-numeric value 'abc'"),
    "bad label": (lambda d, lines: write(d / "label.csv", with_field(lines, 3, "Label", "x")),
                  "line 3: Label must be 's' or 'b'"),
    "one class": (lambda d, lines: write(d / "one.csv", [lines[0]] +
                                         [line for line in lines[1:] if line.endswith(",b")]),
                  "events are background"),
    "nan": (lambda d, lines: write(d / "nan.csv", with_field(lines, 4, "DER_pt_h", "nan")),
            "line 4, column DER_pt_h: nan is not a finite number"),
    "inf": (lambda d, lines: write(d / "inf.csv", with_field(lines, 6, "PRI_tau_pt", "inf")),
            "line 6, column PRI_tau_pt: inf is not a finite number"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_data_gives_one_line_and_keeps_previous_outputs(case, previous_run, tmp_path):
    out, _ = previous_run
    before = snapshot(out)
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path, TRAINING.read_text().splitlines())
    proc = run_script("--data", path, "--out", out, "--hidden", "8", cwd=tmp_path)
    assert proc.returncode != 0
    assert expected in proc.stderr
    assert proc.stderr.startswith("train_higgs.py: error: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert snapshot(out) == before


@pytest.mark.parametrize("hidden", ["8,0", "-4"])
def test_bad_hidden_sizes(hidden, tmp_path):
    proc = run_script("--hidden", hidden, "--out", tmp_path / "out", cwd=tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "argument --hidden: layer sizes must be positive integers" in proc.stderr
    assert repr(hidden) in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def foreign_checkpoint(path):
    """A checkpoint of this script's kind, trained on the 28 UCI features."""
    X = np.random.default_rng(0).normal(size=(50, len(UCI_FEATURES))).astype(np.float32)
    preprocessor = HiggsPreprocessor().fit(X, UCI_FEATURES)
    options = PipelineOptions(hidden=(8,))
    save_checkpoint(path, build_higgs_mlp(preprocessor.n_outputs, hidden=(8,)),
                    metadata={"kind": CHECKPOINT_KIND, "feature_names": list(UCI_FEATURES),
                              "options": options.to_dict(), "seed": 0, "threshold": 0.5,
                              "epoch": 1},
                    preprocessing=preprocessor.get_state())
    return path


def test_resume_from_another_feature_set_is_refused(previous_run, toy_training, tmp_path):
    out, _ = previous_run
    before = snapshot(out)
    checkpoint = foreign_checkpoint(tmp_path / "uci.h5")
    proc = run_script("--data", toy_training, "--resume", checkpoint, "--out", out,
                      cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"train_higgs.py: error: {checkpoint}: cannot resume on ")
    assert "the data lacks lepton_pt" in proc.stderr and "the data has DER_mass_MMC" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert snapshot(out) == before


def test_resume_continues_the_checkpoint(previous_run, toy_training, tmp_path):
    out, _ = previous_run
    first = json.loads((out / "metrics.json").read_text())
    resumed_out = tmp_path / "resumed"
    # --hidden 99 is ignored: the network is the checkpoint's.
    proc = run_script("--data", toy_training, "--resume", out / "model.h5", "--out",
                      resumed_out, "--epochs", "3", "--hidden", "99", "--batch-size", "16",
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"resumed from {out / 'model.h5'} after epoch {first['best_epoch']}" in proc.stdout
    metrics = json.loads((resumed_out / "metrics.json").read_text())
    assert metrics["network"] == first["network"] == "33-8-1, dropout 0.5"
    assert [row["epoch"] for row in metrics["history"]] == list(range(1, 4))
    assert metrics["history"][:first["best_epoch"]] == first["history"][:first["best_epoch"]]


def test_submission_from_the_trained_checkpoint(previous_run, tmp_path):
    out, _ = previous_run
    test_file = FIXTURES / "kaggle_test_sample.csv"
    submission = tmp_path / "submission.csv"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "predict_higgs.py"),
                           str(out / "model.h5"), str(test_file), "--out", str(submission)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = submission.read_text().splitlines()
    assert lines[0] == "EventId,RankOrder,Class"
    rows = [line.split(",") for line in lines[1:]]
    expected_ids = [line.split(",")[0] for line in test_file.read_text().splitlines()[1:]]
    assert [row[0] for row in rows] == expected_ids
    ranks = sorted(int(row[1]) for row in rows)
    assert ranks == list(range(1, len(expected_ids) + 1))
    assert {row[2] for row in rows} <= {"s", "b"}
    # Class s exactly for the top-ranked events: the threshold cuts the ranking.
    by_rank = sorted(rows, key=lambda row: -int(row[1]))
    classes = [row[2] for row in by_rank]
    n_signal = classes.count("s")
    assert classes == ["s"] * n_signal + ["b"] * (len(classes) - n_signal)
    assert f"({n_signal} of {len(rows)} as signal)" in proc.stdout


# --------------------------------------------------------------------------
# The physicist's workflow: signal and background files, a cut, the held-out events
# --------------------------------------------------------------------------

PREDICT = REPO / "scripts" / "predict_higgs.py"


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    """sig.csv and bg.csv: the signal and the background events of one toy file."""
    directory = tmp_path_factory.mktemp("two_files")
    write_toy_higgs(directory / "toy.csv", n_events=1500, seed=6)
    header, *rows = (directory / "toy.csv").read_text().splitlines()
    write(directory / "sig.csv", [header] + [row for row in rows if row.endswith(",s")])
    write(directory / "bg.csv", [header] + [row for row in rows if row.endswith(",b")])
    return directory


@pytest.fixture(scope="module")
def two_file_run(two_files):
    out = two_files / "higgs_out"
    # A bag (the default), of three small networks to keep the test short.
    proc = run_script("--data", "sig.csv", "bg.csv", "--out", out, "--folds", "3", "--hidden",
                      "16", "--epochs", "3", "--batch-size", "32", "--learning-rate", "0.01",
                      "--log-dir", "logs", "--quiet", cwd=two_files)
    assert proc.returncode == 0, proc.stderr
    return out, proc


def file_ids(path):
    return [int(row.split(",")[0]) for row in path.read_text().splitlines()[1:]]


def test_signal_and_background_files_train_as_one_data_set(two_file_run, two_files):
    out, proc = two_file_run
    assert proc.stderr == ""
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["description"].startswith("sig.csv + bg.csv (kaggle-train, 1,500 ")
    split = [row.split(",") for row in (out / "split.csv").read_text().splitlines()]
    assert split[0] == ["Row", "EventId", "Part"]
    # Every event once, in the order of the files, with its own EventId.
    assert [int(row[0]) for row in split[1:]] == list(range(1500))
    ids = file_ids(two_files / "sig.csv") + file_ids(two_files / "bg.csv")
    assert [int(row[1]) for row in split[1:]] == ids
    # The default run is a bag: its pool trained (and scored out of fold) the networks.
    parts = [row[2] for row in split[1:]]
    data = metrics["data"]
    assert metrics["mode"] == "bag" and set(parts) == {"pool", "test"}
    assert (parts.count("pool"), parts.count("test")) == (data["n_pool"], data["n_test"])
    assert load_ensemble(out / "model.h5").metadata["run_id"] == metrics["run_id"]
    assert {"loss.png", "overtraining.png", "roc.png", "ams.png"} <= {p.name for p in
                                                                      out.iterdir()}


def labelled_figures(stdout):
    line = next(line for line in stdout.splitlines() if line.startswith("labelled data"))
    figures = dict(part.rsplit(" ", 1) for part in line.split(": ", 1)[1].split("; "))
    return {name: float(value) for name, value in figures.items()}


def test_held_out_events_from_split_csv_score_as_the_run_reported(two_file_run, two_files):
    out, _ = two_file_run
    proc = run_any_script(PREDICT, out / "model.h5", "sig.csv", "bg.csv", "--split",
                          out / "split.csv", "--out", "held_out.csv", cwd=two_files)
    assert proc.returncode == 0, proc.stderr
    test = json.loads((out / "metrics.json").read_text())["test"]
    assert f"labelled data ({test['n_events']:,} events)" in proc.stdout
    figures = labelled_figures(proc.stdout)
    # Printed to 4 decimals: equal to the reported figures to rounding.
    assert figures["AUC"] == pytest.approx(test["auc"], abs=6e-5)
    assert figures["AMS at the cut"] == pytest.approx(test["ams_at_threshold"], abs=6e-5)
    assert figures["AMS of the top 15%"] == pytest.approx(test["ams_top15"], abs=6e-5)
    assert len((two_files / "held_out.csv").read_text().splitlines()) == 1 + test["n_events"]


@pytest.mark.parametrize("cut, expected", [
    (("--top-fraction", "0.2"), "cut: --top-fraction 0.2 (threshold "),
    (("--threshold", "0.5"), "cut: --threshold 0.5)"),
])
def test_prediction_with_a_chosen_cut_says_which(two_file_run, two_files, cut, expected):
    out, _ = two_file_run
    submission = two_files / f"submission{cut[0]}.csv"
    proc = run_any_script(PREDICT, out / "model.h5", "sig.csv", "bg.csv", *cut, "--out",
                          submission, cwd=two_files)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout.splitlines()[0]
    rows = [row.split(",") for row in submission.read_text().splitlines()[1:]]
    by_rank = [row[2] for row in sorted(rows, key=lambda row: -int(row[1]))]
    n_signal = by_rank.count("s")
    assert by_rank == ["s"] * n_signal + ["b"] * (len(rows) - n_signal)
    if cut[0] == "--top-fraction":
        assert n_signal == 300  # 0.2 of 1,500, no ties among sigmoid scores


# --------------------------------------------------------------------------
# --log-dir: TensorBoard
# --------------------------------------------------------------------------


def assert_logged(log_dir, history):
    scalars = read_tensorboard_scalars(log_dir)
    for key in ("train_loss", "valid_loss", "valid_auc", "learning_rate"):
        steps, values = zip(*scalars[key])
        assert list(steps) == [row["epoch"] for row in history]
        np.testing.assert_allclose(values, [row[key] for row in history], rtol=1e-6)


def test_log_dir_holds_the_epochs_of_a_single_network(previous_run):
    out, proc = previous_run
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert_logged(out.parent / "logs", history)
    assert f"TensorBoard logs of 1 network in {out.parent / 'logs'}" in proc.stdout


def test_log_dir_holds_one_directory_per_network_of_a_bag(two_file_run, two_files):
    out, _ = two_file_run
    logs = two_files / "logs"
    assert sorted(p.name for p in logs.iterdir()) == [f"network_00{i}" for i in range(3)]
    for index in range(3):
        history = load_checkpoint(out / "members" / f"member_00{index}.h5").history
        assert_logged(logs / f"network_00{index}", history)
