"""The Higgs training pipeline (dropout_layers_higgs.pipeline) and its reports."""
import json
import sys

import numpy as np
import pytest

from dropout_layers.files import to_jsonable, write_json
from dropout_layers.metrics import roc_auc
from dropout_layers_higgs import metrics, report
from dropout_layers_higgs.data import HiggsData
from dropout_layers_higgs.pipeline import (
    PipelineOptions,
    balanced_weights,
    choose_threshold,
    evaluate_scores,
    smoothed_best_cut,
    split_events,
    stratified_split,
)

# --------------------------------------------------------------------------
# Splits and weights
# --------------------------------------------------------------------------

def test_stratified_split_keeps_class_balance_and_is_seeded():
    y = np.array([1] * 30 + [0] * 70)
    kept, held = stratified_split(y, 0.2, seed=3)
    assert np.intersect1d(kept, held).size == 0
    np.testing.assert_array_equal(np.union1d(kept, held), np.arange(100))
    assert (y[held] == 1).sum() == 6 and (y[held] == 0).sum() == 14
    again_kept, again_held = stratified_split(y, 0.2, seed=3)
    np.testing.assert_array_equal(held, again_held)
    assert not np.array_equal(held, stratified_split(y, 0.2, seed=4)[1])


def test_stratified_split_takes_indices_from_the_given_index():
    y = np.array([0, 1, 0, 1, 0, 1])
    index = np.array([10, 11, 12, 13, 14, 15])
    kept, held = stratified_split(y, 0.34, seed=0, index=index)
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), index)
    # round(0.34 * 3) = 1 event of each class held out.
    assert len(held) == 2 and set(y[held - 10]) == {0, 1}


def test_stratified_split_never_empties_a_class():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    kept, held = stratified_split(y, 0.1, seed=0)
    # 0.1 * 2 signal rounds to 0, but each part needs one of each class.
    assert (y[held] == 1).sum() == 1 and (y[kept] == 1).sum() == 1


def test_split_events_is_disjoint_stratified_and_uses_only_kaggle_training_set():
    rng = np.random.default_rng(0)
    n = 400
    y = (rng.random(n) < 0.3).astype(np.int8)
    kaggle_set = np.array(["t", "b", "v", "u"])[rng.integers(0, 4, n)]
    data = HiggsData(X=rng.normal(size=(n, 2)).astype(np.float32), feature_names=("a", "b"),
                     y=y, weights=np.ones(n), kaggle_set=kaggle_set, kaggle_weight=np.ones(n))
    train, valid, test = split_events(data, PipelineOptions(valid_fraction=0.25), seed=1)
    assert len(test) == 0  # open data: the leaderboard sets are the held-out data
    assert set(kaggle_set[np.concatenate([train, valid])]) == {"t"}
    np.testing.assert_array_equal(np.union1d(train, valid), np.flatnonzero(kaggle_set == "t"))
    for label in (0, 1):
        in_pool = ((kaggle_set == "t") & (y == label)).sum()
        assert (y[valid] == label).sum() == round(0.25 * in_pool)

    data.kaggle_set = data.kaggle_weight = None
    train, valid, test = split_events(data, PipelineOptions(valid_fraction=0.25), seed=1)
    assert len(np.intersect1d(train, valid)) == len(np.intersect1d(valid, test)) == 0
    np.testing.assert_array_equal(np.union1d(np.union1d(train, valid), test), np.arange(n))
    assert abs(len(test) - 0.2 * n) <= 2 and abs(len(valid) - 0.25 * n) <= 2


def test_balanced_weights_equalise_class_totals_and_keep_ratios():
    y = np.array([1, 1, 0, 0, 0])
    weights = np.array([0.001, 0.003, 1.0, 2.0, 5.0])
    out = balanced_weights(y, weights)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[y == 1].sum(), 2.5, rtol=1e-6)
    np.testing.assert_allclose(out[y == 0].sum(), 2.5, rtol=1e-6)
    np.testing.assert_allclose(out, [0.625, 1.875, 0.3125, 0.625, 1.5625], rtol=1e-6)
    # Without physics weights, classes are balanced by counts.
    np.testing.assert_allclose(balanced_weights(y), [1.25, 1.25, 5 / 6, 5 / 6, 5 / 6],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="no signal events"):
        balanced_weights(np.zeros(3, dtype=int))


# --------------------------------------------------------------------------
# Threshold and figures
# --------------------------------------------------------------------------

def test_choose_threshold_maximises_ams_on_weighted_data():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 1, 0, 1, 0, 0])
    weights = np.array([1.0, 1.0, 100.0, 1.0, 100.0, 100.0])
    threshold = choose_threshold(scores, y, weights)
    # Renormalised: each signal event 230.66..., each background 136999.9...;
    # selecting the top two gives the largest s with b = 0.
    s = metrics.SIGNAL_WEIGHT_TOTAL * 2 / 3
    assert threshold == 0.8
    assert metrics.ams_at_threshold(scores, y, weights, threshold) == pytest.approx(
        metrics.ams(s, 0.0))


def test_smoothed_best_cut_is_a_running_mean_of_the_ams_curve():
    rng = np.random.default_rng(1)
    n = 400
    scores = rng.random(n)
    y = (rng.random(n) < 0.2 + 0.6 * scores).astype(np.int8)
    weights = np.where(y == 1, 0.01, 1.0) * rng.uniform(0.5, 1.5, n)
    thresholds, values = metrics.ams_curve(scores, y, weights)
    # Reference: the mean of the AMS of the top r - 10 ... top r + 9 events,
    # with AMS 0 for fewer than one event (scores are distinct, so rank r
    # is the r-th threshold).
    padded = np.concatenate([np.zeros(20), values, np.full(20, values[-1])])
    reference = [padded[20 + r - 1 - 10:20 + r - 1 + 10].mean() for r in range(1, n + 1)]
    threshold, value = smoothed_best_cut(scores, y, weights, window=0.05)
    assert value == pytest.approx(max(reference), rel=1e-12)
    assert threshold == thresholds[int(np.argmax(reference))]
    # A window of at most one event is the plain maximum.
    assert smoothed_best_cut(scores, y, weights, window=0.001) == metrics.best_threshold(
        scores, y, weights)


def test_smoothing_ignores_a_lucky_pure_signal_corner():
    # 1000 events whose signal share falls with the score, except that the
    # top 5 are all signal: alone they have the largest AMS (no background).
    n = 1000
    scores = np.linspace(1.0, 0.0, n)
    rank = np.arange(n)
    y = ((rank * 7919) % 100 < 60 - 55 * rank / n).astype(np.int8)
    y[:5] = 1
    weights = np.ones(n)
    plain, _ = metrics.best_threshold(scores, y, weights)
    smoothed, _ = smoothed_best_cut(scores, y, weights, window=0.05)
    assert np.mean(scores >= plain) == 0.005
    assert np.mean(scores >= smoothed) > 0.05


def test_choose_threshold_without_weights_maximises_tpr_minus_fpr():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    y = np.array([1, 0, 1, 1, 0, 0])
    # Cuts: 0.9 -> (tpr 1/3, fpr 0); 0.7 -> (2/3, 1/3); 0.6 -> (1, 1/3): J = 2/3, the best.
    assert choose_threshold(scores, y, None, weighted=False) == 0.6


def test_evaluate_scores_matches_the_metric_functions():
    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.4).astype(np.int8)
    scores = rng.random(300) + 0.5 * y
    weights = np.where(y == 1, 0.002, 1.5) * rng.uniform(0.5, 1.5, 300)
    result = evaluate_scores(scores, y, weights, threshold=0.9, top_fraction=0.15)
    assert result["auc"] == roc_auc(y, scores)
    assert result["ams_at_threshold"] == metrics.ams_at_threshold(scores, y, weights, 0.9)
    assert result["ams_top15"] == metrics.ams_at_fraction(scores, y, weights, 0.15)
    assert result["selected_fraction"] == np.mean(scores >= 0.9)
    unweighted = evaluate_scores(scores, y, None, threshold=0.9, weighted=False)
    assert set(unweighted) == {"n_events", "auc", "selected_fraction"}


def test_options_validate_and_round_trip():
    with pytest.raises(ValueError, match="hidden layer sizes must be positive integers, got 8,0"):
        PipelineOptions(hidden=(8, 0))
    with pytest.raises(ValueError, match="valid_fraction"):
        PipelineOptions(valid_fraction=1.0)
    with pytest.raises(ValueError, match="valid_fraction \\+ test_fraction"):
        PipelineOptions(valid_fraction=0.5, test_fraction=0.5)
    options = PipelineOptions(hidden=(16, 8), dropout=0.25, drop_phi=True, test_fraction=0.1)
    record = json.loads(json.dumps(options.to_dict()))
    assert PipelineOptions.from_dict(dict(record, unknown=1)) == options


# --------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------

def test_write_json_is_atomic_and_strict(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"auc": np.float32(0.5), "curve": np.arange(3), "bad": float("nan")})
    assert json.loads(path.read_text()) == {"auc": 0.5, "curve": [0, 1, 2], "bad": None}
    with pytest.raises(TypeError):
        write_json(path, {"auc": object()})
    assert json.loads(path.read_text())["auc"] == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_summary_table_lists_every_figure():
    table = report.summary_table({
        "data": {"description": "toy", "n_train": 6, "n_valid": 2, "n_test": 2},
        "network": "30-8-1", "best_epoch": 2, "epochs_run": 3, "threshold": 0.25,
        "validation": {"auc": 0.75, "ams_at_threshold": 1.5, "ams_top15": 1.25,
                       "selected_fraction": 0.5},
        "test": {"auc": 0.625, "ams_at_threshold": 1.125, "ams_top15": 1.0,
                 "selected_fraction": 0.5},
        "leaderboard": {"public": 3.5, "private": 3.25},
    })
    for text in ("toy", "6 / 2 / 2", "30-8-1", "2 of 3", "0.250000", "0.7500", "1.5000",
                 "1.2500", "0.6250", "1.1250", "public leaderboard", "3.5000", "3.2500"):
        assert text in table
    assert not table.endswith("\n")


def test_ams_fraction_curve_counts_selected_events():
    scores = np.array([0.1, 0.4, 0.4, 0.9])
    y = np.array([0, 1, 0, 1])
    fraction, values = report.ams_fraction_curve(scores, y, np.ones(4))
    np.testing.assert_array_equal(fraction, [0.25, 0.75, 1.0])
    thresholds, expected = metrics.ams_curve(scores, y, np.ones(4))
    np.testing.assert_array_equal(values, expected)


def test_write_plots_writes_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.4).astype(np.int8)
    scores = rng.random(200) + 0.3 * y
    weights = np.where(y == 1, 0.01, 1.0)
    history = [{"epoch": 1, "train_loss": 0.7, "valid_loss": 0.69, "valid_ams": 1.0},
               {"epoch": 2, "train_loss": 0.6, "valid_loss": 0.65, "valid_ams": 1.2}]
    paths, message = report.write_plots(tmp_path, history, [("validation", scores, y, weights)],
                                        weighted=True, threshold=0.8)
    assert message is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ams.png", "loss.png", "roc.png"]
    for path in paths:
        with open(path, "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_write_plots_without_matplotlib_writes_nothing_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    paths, message = report.write_plots(tmp_path, [], [], weighted=True)
    assert paths == [] and message == report.MATPLOTLIB_MISSING
    assert "pip install" in message and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Training one member (compiles one small network; shared by the tests below)
# --------------------------------------------------------------------------

OPTIONS = dict(hidden=(16,), epochs=5, patience=5, batch_size=64, learning_rate=0.2,
               progress=False)


@pytest.fixture(scope="module")
def toy():
    from dropout_layers_higgs.synthetic import generate_toy_higgs

    return generate_toy_higgs(1500, seed=4)


@pytest.fixture(scope="module")
def trained(toy):
    from dropout_layers_higgs.pipeline import run_pipeline

    return run_pipeline(toy, PipelineOptions(**OPTIONS), seed=2)


def test_member_keeps_the_best_epoch_of_the_validation_ams(trained, toy):
    member = trained.member
    history = member.history
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    amss = [row["valid_ams"] for row in history]
    assert member.monitor == "ams" and member.best_epoch == 1 + amss.index(max(amss))
    # The network holds the best epoch's parameters: its validation figures
    # are that epoch's, recomputed from the returned scores.
    best = history[member.best_epoch - 1]
    valid = member.valid_idx
    assert smoothed_best_cut(member.valid_scores, toy.y[valid], toy.weights[valid])[1] == \
        best["valid_ams"]
    assert member.valid_metrics["auc"] == best["valid_auc"]


def test_threshold_is_chosen_on_validation_and_applied_to_held_out_events(trained, toy):
    member = trained.member
    valid = member.valid_idx
    assert member.threshold == choose_threshold(member.valid_scores, toy.y[valid],
                                                toy.weights[valid])
    test = trained.test_idx
    assert len(np.intersect1d(test, np.union1d(member.train_idx, valid))) == 0
    assert len(test) + len(valid) + len(member.train_idx) == toy.n_events
    np.testing.assert_array_equal(trained.test_scores, member.predict(toy.X[test]))
    assert trained.test_metrics == evaluate_scores(trained.test_scores, toy.y[test],
                                                   toy.weights[test], member.threshold)


def test_preprocessing_is_fitted_on_the_training_events_only(trained, toy):
    from dropout_layers_higgs.preprocessing import HiggsPreprocessor

    member = trained.member
    expected = HiggsPreprocessor().fit(toy.X[member.train_idx], toy.feature_names)
    np.testing.assert_array_equal(member.preprocessor.mean, expected.mean)
    np.testing.assert_array_equal(member.preprocessor.std, expected.std)


def test_metrics_summary_is_json_and_consistent(trained, toy):
    from dropout_layers_higgs.pipeline import metrics_summary

    summary = json.loads(json.dumps(to_jsonable(
        metrics_summary(trained, toy, "toy", synthetic=True, seconds=1.0))))
    assert summary["data"]["n_train"] + summary["data"]["n_valid"] + summary["data"][
        "n_test"] == 1500
    assert summary["network"] == "33-16-1, dropout 0.5"
    assert summary["best_epoch"] == trained.member.best_epoch
    assert summary["threshold"] == trained.member.threshold
    assert len(summary["history"]) == 5 and summary["leaderboard"] is None


def test_checkpoint_predicts_alone_and_resumes_exactly(trained, toy, tmp_path):
    from dropout_layers.checkpoint import load_checkpoint
    from dropout_layers_higgs.pipeline import (
        load_resume_checkpoint,
        metrics_summary,
        resumed_options,
        run_pipeline,
        save_result,
    )
    from dropout_layers_higgs.preprocessing import HiggsPreprocessor

    member = trained.member
    # The test needs epochs after the best one to replay.
    assert member.best_epoch < 5
    path = tmp_path / "model.h5"
    save_result(path, trained, metrics_summary(trained, toy, "toy"))

    checkpoint = load_checkpoint(path)
    assert checkpoint.metadata["threshold"] == member.threshold
    preprocessor = HiggsPreprocessor.from_state(checkpoint.preprocessing)
    X = toy.X[trained.test_idx]
    np.testing.assert_array_equal(
        checkpoint.predict(preprocessor.transform(X, toy.feature_names),
                           preprocess=False).reshape(-1),
        trained.test_scores.astype(np.float32))

    # Resuming from the best epoch's checkpoint replays the epochs after it
    # exactly: same split and seed (the seed given here is ignored), same
    # optimizer state, dropout streams and batches.
    resume = load_resume_checkpoint(path)
    options = resumed_options(resume, PipelineOptions(**dict(OPTIONS, hidden=(99,))))
    assert options.hidden == (16,)
    resumed = run_pipeline(toy, options, seed=7, resume=resume)
    np.testing.assert_array_equal(resumed.member.valid_idx, member.valid_idx)

    def without_time(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert without_time(resumed.member.history) == without_time(member.history)
    assert resumed.member.best_epoch == member.best_epoch


def test_open_data_trains_on_the_kaggle_training_set_and_reports_the_leaderboards():
    from pathlib import Path

    from dropout_layers_higgs.data import load_higgs
    from dropout_layers_higgs.pipeline import run_pipeline

    data = load_higgs(Path(__file__).resolve().parent / "fixtures" / "opendata_sample.csv")
    result = run_pipeline(data, PipelineOptions(hidden=(4,), epochs=1, batch_size=4,
                                                progress=False), seed=0)
    member = result.member
    in_pool = np.union1d(member.train_idx, member.valid_idx)
    np.testing.assert_array_equal(in_pool, np.flatnonzero(data.kaggle_set == "t"))
    assert len(result.test_idx) == 0 and result.test_metrics is None
    scores = member.predict(data.X)
    expected = metrics.leaderboard_ams(data, scores, member.threshold)
    assert result.leaderboard == pytest.approx(expected, rel=1e-12)
    assert set(result.leaderboard) == {"public", "private"}
