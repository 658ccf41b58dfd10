"""Repeated stratified K-fold splits and out-of-fold scoring."""
import json

import numpy as np
import pytest

from dropout_layers.executors import ExecutorSettings
from dropout_layers.files import to_jsonable
from dropout_layers.metrics import roc_auc
from dropout_layers_higgs.bagging import (
    BaggingPlan,
    EnsembleResumeError,
    ensemble_metrics,
    ensemble_summary_table,
    member_path,
    train_ensemble,
)
from dropout_layers_higgs.cv import (
    member_scores,
    out_of_fold_scores,
    repeated_stratified_splits,
    score_out_of_fold,
    stratified_folds,
)
from dropout_layers_higgs.metrics import SIGNAL_WEIGHT_TOTAL, ams
from dropout_layers_higgs.pipeline import PipelineOptions
from dropout_layers_higgs.synthetic import generate_toy_higgs

QUIET = ExecutorSettings(progress=False)


@pytest.fixture
def labels():
    y = np.zeros(101, dtype=np.int8)
    y[np.random.default_rng(0).choice(101, 34, replace=False)] = 1
    return y


def test_folds_are_stratified_and_seeded(labels):
    folds = stratified_folds(labels, 3, seed=[5, 0])
    for label, total in ((1, 34), (0, 67)):
        counts = np.bincount(folds[labels == label], minlength=3)
        assert counts.sum() == total and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(folds, stratified_folds(labels, 3, seed=[5, 0]))
    assert not np.array_equal(folds, stratified_folds(labels, 3, seed=[5, 1]))


def test_repeated_splits_partition_every_repeat(labels):
    splits = repeated_stratified_splits(labels, n_folds=2, n_repeats=3, seed=7)
    assert [(s.index, s.repeat, s.fold) for s in splits] == [
        (0, 0, 0), (1, 0, 1), (2, 1, 0), (3, 1, 1), (4, 2, 0), (5, 2, 1)]
    for split in splits:
        assert not np.intersect1d(split.train_index, split.valid_index).size
        np.testing.assert_array_equal(np.union1d(split.train_index, split.valid_index),
                                      np.arange(101))
    for repeat in range(3):
        held_out = np.concatenate([s.valid_index for s in splits if s.repeat == repeat])
        np.testing.assert_array_equal(np.sort(held_out), np.arange(101))
    # A repeat's folds do not depend on how many repeats there are.
    fewer = repeated_stratified_splits(labels, n_folds=2, n_repeats=2, seed=7)
    for a, b in zip(fewer, splits):
        np.testing.assert_array_equal(a.valid_index, b.valid_index)
    assert not np.array_equal(splits[0].valid_index, splits[2].valid_index)


def test_bad_split_arguments(labels):
    with pytest.raises(ValueError, match="n_folds must be an integer >= 2, got 1"):
        stratified_folds(labels, 1, seed=0)
    with pytest.raises(ValueError, match="class 1 has only 1 events"):
        stratified_folds(np.array([0, 0, 1]), 2, seed=0)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        stratified_folds(np.array([0, 2, 1, 1]), 2, seed=0)


def test_out_of_fold_scores_average_over_repeats(labels):
    splits = repeated_stratified_splits(labels, 2, 2, seed=1)
    # Member i predicts the constant i for its held-out events.
    predictions = [np.full(len(s.valid_index), float(s.index)) for s in splits]
    oof = out_of_fold_scores(splits, predictions, 101)
    expected = np.zeros(101)
    for split in splits:
        expected[split.valid_index] += split.index / 2
    np.testing.assert_array_equal(oof, expected)
    with pytest.raises(ValueError, match="member 1: 3 held-out predictions for"):
        out_of_fold_scores(splits, [predictions[0], np.zeros(3)] + predictions[2:], 101)
    with pytest.raises(ValueError, match="events are held out by no member"):
        out_of_fold_scores(splits[:1], predictions[:1], 101)


def test_perfect_scores_select_all_signal(labels):
    splits = repeated_stratified_splits(labels, 2, 1, seed=3)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=101)
    # Every signal event scores 1, every background event below 0.1.
    scores = np.where(labels == 1, 1.0, np.random.default_rng(2).uniform(0, 0.1, size=101))
    result = score_out_of_fold(scores, labels, weights, splits)
    # Every fold's threshold is 1 (the other folds' best cut), so the
    # selection is all signal and nothing else: AMS(s = signal total, b = 0).
    assert result["ams_cross_fitted"] == pytest.approx(ams(SIGNAL_WEIGHT_TOTAL, 0.0), rel=1e-12)
    assert result["cross_fitted_thresholds"] == [1.0, 1.0]
    assert result["auc"] == 1.0 and result["auc_weighted"] == 1.0
    assert result["ams_best_oof"] == pytest.approx(ams(SIGNAL_WEIGHT_TOTAL, 0.0), rel=1e-12)
    assert result["selected_fraction"] == pytest.approx(34 / 101)
    # Without weights (UCI data) only the AUC.
    assert score_out_of_fold(scores, labels, None, splits) == {"auc": 1.0}


def test_member_spread(labels):
    splits = repeated_stratified_splits(labels, 2, 2, seed=4)
    rng = np.random.default_rng(5)
    predictions = [labels[s.valid_index] * 0.3 + rng.uniform(size=len(s.valid_index))
                   for s in splits]
    scores = member_scores(splits, predictions, labels, np.ones(101))
    aucs = [roc_auc(labels[s.valid_index], p) for s, p in zip(splits, predictions)]
    assert [row["auc"] for row in scores["members"]] == aucs
    assert scores["spread"]["auc"] == {"mean": np.mean(aucs), "std": np.std(aucs)}
    assert set(scores["spread"]) == {"auc", "ams_top15", "ams_best"}


# --- training a K-fold ensemble (local executor) ----------------------------

def test_local_ensemble_resume_and_mismatched_settings(tmp_path):
    data = generate_toy_higgs(600, seed=2)
    options = PipelineOptions(hidden=(8,), epochs=1, batch_size=64, progress=False)
    first = train_ensemble(data, options, tmp_path, BaggingPlan(2, 1, 5), QUIET)
    assert first.trained == [0, 1] and member_path(tmp_path, 1).exists()
    assert set(first.scores) >= {"auc", "ams_cross_fitted", "ams_top15", "ams_best_oof",
                                 "threshold", "member_spread"}

    again = train_ensemble(data, options, tmp_path, BaggingPlan(2, 1, 5), QUIET, resume=True)
    assert again.trained == [] and again.resumed == [0, 1]
    np.testing.assert_array_equal(again.oof_scores, first.oof_scores)
    # The held-out test events trained no member, and the metrics present them.
    assert len(first.test_idx) == 120 and not np.intersect1d(first.test_idx, first.pool).size
    metrics = json.loads(json.dumps(to_jsonable(ensemble_metrics(again, data, "toy"))))
    assert metrics["result"]["source"] == "held-out test events"
    assert metrics["ensemble"]["resumed"] == [0, 1] and metrics["test"]["n_events"] == 120
    table = ensemble_summary_table(metrics)
    assert "held-out test (120 events): AUC" in table and "+-" in table

    with pytest.raises(EnsembleResumeError, match=r"member_000\.h5: cannot resume, this member "
                                                  r"was trained with a different base_seed "
                                                  r"\(5 instead of 6\)"):
        train_ensemble(data, options, tmp_path, BaggingPlan(2, 1, 6), QUIET, resume=True)


def test_resume_refuses_a_member_file_copied_over_another(tmp_path):
    import shutil

    data = generate_toy_higgs(600, seed=3)
    options = PipelineOptions(hidden=(8,), epochs=1, batch_size=64, progress=False, bootstrap=0)
    plan = BaggingPlan(3, 1, 2)
    train_ensemble(data, options, tmp_path, plan, QUIET)
    shutil.copyfile(member_path(tmp_path, 0), member_path(tmp_path, 1))
    with pytest.raises(EnsembleResumeError, match=r"member_001\.h5: cannot resume, the file is "
                                                  r"not member 1 of this plan \(member_index 0 "
                                                  r"instead of 1, fold 0 instead of 1, "
                                                  r"member_seed \d+ instead of \d+\); it was "
                                                  r"copied or renamed"):
        train_ensemble(data, options, tmp_path, plan, QUIET, resume=True)
    # Without the copy, the same files resume.
    member_path(tmp_path, 1).unlink()
    again = train_ensemble(data, options, tmp_path, plan, QUIET, resume=True)
    assert again.resumed == [0, 2] and again.trained == [1]
