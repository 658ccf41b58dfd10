"""scripts/predict_higgs.py: submissions, UCI scores, MC dropout and bad input.

The checkpoints are written here without training (an untrained network is
as good as any for checking that the script applies the stored
preprocessing and threshold); the expected scores come from
``load_checkpoint`` in this process.
"""
import functools
from pathlib import Path

import numpy as np
import pytest
from dropout_layers_higgs.models.higgs import build_higgs_mlp
from helpers import run_script as run_any_script

import dropout_layers
from dropout_layers.checkpoint import load_checkpoint, save_checkpoint
from dropout_layers.metrics import roc_auc
from dropout_layers_higgs.data import UCI_FEATURES, load_higgs
from dropout_layers_higgs.pipeline import CHECKPOINT_KIND
from dropout_layers_higgs.preprocessing import HiggsPreprocessor

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "predict_higgs.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KAGGLE_TEST = FIXTURES / "kaggle_test_sample.csv"


run_script = functools.partial(run_any_script, SCRIPT)


def write_checkpoint(path, X, feature_names, seed):
    """A checkpoint as train_higgs.py writes it, with a median threshold."""
    preprocessor = HiggsPreprocessor().fit(X, feature_names)
    dropout_layers.set_rng(np.random.RandomState(seed))
    network = build_higgs_mlp(preprocessor.n_outputs, hidden=(8,), p=0.5)
    save_checkpoint(path, network, preprocessing=preprocessor.get_state(),
                    metadata={"kind": CHECKPOINT_KIND, "feature_names": list(feature_names),
                              "threshold": 0.0, "epoch": 1})
    checkpoint = load_checkpoint(path)
    scores = checkpoint.predict(preprocessor.transform(X, feature_names),
                                preprocess=False).reshape(-1)
    # Rewrite with a threshold inside the scores, so both classes occur.
    threshold = float(np.median(scores))
    save_checkpoint(path, network, preprocessing=preprocessor.get_state(),
                    metadata={"kind": CHECKPOINT_KIND, "feature_names": list(feature_names),
                              "threshold": threshold, "epoch": 1})
    return path, scores, threshold


@pytest.fixture(scope="module")
def kaggle_checkpoint(tmp_path_factory):
    data = load_higgs(KAGGLE_TEST)
    path = tmp_path_factory.mktemp("kaggle") / "model.h5"
    return write_checkpoint(path, data.X, data.feature_names, seed=1), data


@pytest.fixture(scope="module")
def uci_file(tmp_path_factory):
    rng = np.random.default_rng(3)
    labels = np.array([0, 1] * 6)
    features = np.round(rng.gamma(2.0, 1.0, size=(12, len(UCI_FEATURES))), 3)
    path = tmp_path_factory.mktemp("uci") / "uci.tsv"
    np.savetxt(path, np.column_stack([labels, features]), fmt="%.3f", delimiter="\t")
    return path


def test_kaggle_submission_ranks_and_classifies_by_the_stored_threshold(kaggle_checkpoint,
                                                                         tmp_path):
    (path, scores, threshold), data = kaggle_checkpoint
    out = tmp_path / "submission.csv"
    proc = run_script(path, KAGGLE_TEST, "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "deterministic" in proc.stdout
    lines = out.read_text().splitlines()
    assert lines[0] == "EventId,RankOrder,Class" and len(lines) == 1 + data.n_events
    rows = [line.split(",") for line in lines[1:]]
    np.testing.assert_array_equal([int(row[0]) for row in rows], data.event_ids)
    ranks = np.array([int(row[1]) for row in rows])
    expected_ranks = np.empty(len(scores), dtype=int)
    expected_ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    np.testing.assert_array_equal(ranks, expected_ranks)
    assert [row[2] for row in rows] == ["s" if s >= threshold else "b" for s in scores]
    assert {row[2] for row in rows} == {"s", "b"}


def test_default_output_name_and_mc_dropout_file(kaggle_checkpoint, tmp_path):
    (path, scores, threshold), data = kaggle_checkpoint
    proc = run_script(path, KAGGLE_TEST, "--mc", "4", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "submission.csv").exists() and "MC dropout, 4 passes" in proc.stdout
    mc = np.loadtxt(tmp_path / "submission_mc.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "submission_mc.csv").read_text().startswith("EventId,Score,Std\n")
    np.testing.assert_array_equal(mc[:, 0], data.event_ids)
    # Dropout 0.5 on 8 units: the passes differ, so every spread is positive
    # and the mean of 4 passes is not the deterministic score.
    assert (mc[:, 2] > 0).all() and (mc[:, 1] >= 0).all() and (mc[:, 1] <= 1).all()
    assert not np.allclose(mc[:, 1], scores)


def test_uci_scores_file_and_auc(uci_file, tmp_path):
    data = load_higgs(uci_file)
    path, scores, _ = write_checkpoint(tmp_path / "uci.h5", data.X, data.feature_names, seed=2)
    proc = run_script(path, uci_file, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = np.loadtxt(tmp_path / "scores.csv", delimiter=",", skiprows=1)
    assert (tmp_path / "scores.csv").read_text().startswith("Row,Score\n")
    np.testing.assert_array_equal(table[:, 0], np.arange(12))
    np.testing.assert_allclose(table[:, 1], scores, rtol=1e-6)
    assert f"AUC {roc_auc(data.y, scores):.4f}" in proc.stdout


def test_bad_inputs_give_one_line(kaggle_checkpoint, uci_file, tmp_path):
    (path, _, _), _ = kaggle_checkpoint
    plain = tmp_path / "plain.h5"
    save_checkpoint(plain, build_higgs_mlp(4, hidden=(2,)))
    cases = [
        ((tmp_path / "absent.h5", KAGGLE_TEST), "absent.h5"),
        ((path, uci_file), "does not match"),
        ((plain, KAGGLE_TEST), "has no preprocessing state"),
        ((path, tmp_path / "absent.csv"), "absent.csv: no such file"),
    ]
    for args, expected in cases:
        proc = run_script(*args, cwd=tmp_path)
        assert proc.returncode != 0, args
        assert proc.stderr.startswith("predict_higgs.py: error: ") and expected in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "submission.csv").exists()


def test_split_scores_only_the_listed_part(kaggle_checkpoint, tmp_path):
    (path, scores, threshold), data = kaggle_checkpoint
    chosen = [1, 3, 4]
    lines = ["Row,EventId,Part"] + [
        f"{row},{event_id},{'test' if row in chosen else 'pool'}"
        for row, event_id in enumerate(data.event_ids)]
    (tmp_path / "split.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "held_out.csv"
    proc = run_script(path, KAGGLE_TEST, "--split", tmp_path / "split.csv", "--out", out,
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    assert [int(row[0]) for row in rows] == data.event_ids[chosen].tolist()
    assert [row[2] for row in rows] == ["s" if scores[i] >= threshold else "b" for i in chosen]
    assert f"({sum(scores[i] >= threshold for i in chosen)} of 3 as signal)" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (("--part", "valid"), "--part needs --split SPLIT_CSV"),
    (("--top-fraction", "0"), "argument --top-fraction: must be"),
    (("--threshold", "nan"), "argument --threshold: must be a finite number, got 'nan'"),
    (("--threshold", "0.5", "--top-fraction", "0.1"), "not allowed with argument"),
    (("--split", "absent.csv"), "absent.csv: cannot read"),
])
def test_bad_cut_and_split_options_give_one_line(kaggle_checkpoint, tmp_path, args, message):
    (path, _, _), _ = kaggle_checkpoint
    proc = run_script(path, KAGGLE_TEST, *args, cwd=tmp_path)
    assert proc.returncode in (1, 2)
    assert proc.stderr.startswith("predict_higgs.py: error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "submission.csv").exists()
