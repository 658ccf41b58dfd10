"""The Higgs training pipeline: splits, weights, the cut, one network, a bag, and failures."""
import json

import numpy as np
import pytensor
import pytest

from dropout_layers.checkpoint import is_ensemble_file, load_checkpoint, load_ensemble
from dropout_layers.files import to_jsonable, write_json
from dropout_layers_higgs import metrics
from dropout_layers_higgs.data import HiggsData
from dropout_layers_higgs.errors import PipelineError
from dropout_layers_higgs.pipeline import (
    PipelineOptions,
    balanced_weights,
    default_learning_rate,
    member_splits,
    metrics_summary,
    pool_and_test,
    run_pipeline,
    save_result,
    split_events,
    stratified_split,
    training_weights,
)

# --------------------------------------------------------------------------
# Splits and weights
# --------------------------------------------------------------------------


def _open_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    kaggle_set = np.array(["t", "b", "v", "u"])[rng.integers(0, 4, n)]
    return HiggsData(X=rng.normal(size=(n, 2)).astype(np.float32), feature_names=("a", "b"),
                     y=y, weights=np.ones(n), kaggle_set=kaggle_set, kaggle_weight=np.ones(n))


def test_stratified_split_keeps_class_balance_and_is_seeded():
    y = np.array([1] * 30 + [0] * 70)
    kept, held = stratified_split(y, 0.2, seed=3)
    assert np.intersect1d(kept, held).size == 0
    np.testing.assert_array_equal(np.union1d(kept, held), np.arange(100))
    assert (y[held] == 1).sum() == 6 and (y[held] == 0).sum() == 14
    np.testing.assert_array_equal(held, stratified_split(y, 0.2, seed=3)[1])
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
    data = _open_data()
    kaggle_set, y, n = data.kaggle_set, data.y, data.n_events
    train, valid, test = split_events(data, PipelineOptions(valid_fraction=0.25), seed=1)
    assert len(test) == 0  # open data: the leaderboard sets are the held-out data
    np.testing.assert_array_equal(np.union1d(train, valid), np.flatnonzero(kaggle_set == "t"))
    for label in (0, 1):
        in_pool = ((kaggle_set == "t") & (y == label)).sum()
        assert (y[valid] == label).sum() == round(0.25 * in_pool)

    data.kaggle_set = data.kaggle_weight = None
    train, valid, test = split_events(data, PipelineOptions(valid_fraction=0.25), seed=1)
    assert len(np.intersect1d(train, valid)) == len(np.intersect1d(valid, test)) == 0
    np.testing.assert_array_equal(np.union1d(np.union1d(train, valid), test), np.arange(n))
    assert abs(len(test) - 0.2 * n) <= 2 and abs(len(valid) - 0.25 * n) <= 2


def test_bag_splits_hold_every_pool_event_out_once_per_repeat_and_never_a_test_event():
    data = _open_data(seed=2)
    data.kaggle_set = data.kaggle_weight = None
    options = PipelineOptions(folds=4, repeats=2)
    pool, test = pool_and_test(data, options, seed=5)
    splits = member_splits(data, pool, options, seed=5)
    assert len(splits) == 8 and abs(len(test) - 80) <= 2
    for repeat in (0, 1):
        held = np.concatenate([s.valid_index for s in splits if s.repeat == repeat])
        np.testing.assert_array_equal(np.sort(held), pool)
    for split in splits:
        np.testing.assert_array_equal(np.sort(np.concatenate([split.train_index,
                                                              split.valid_index])), pool)
        assert not np.intersect1d(split.train_index, test).size
    # The test events do not depend on how the pool is used.
    np.testing.assert_array_equal(test, pool_and_test(data, PipelineOptions(folds=1), 5)[1])


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
    with pytest.raises(PipelineError, match="no signal events with positive weight"):
        balanced_weights(np.zeros(3, dtype=int))


def test_training_weight_rules():
    y = np.array([1, 1, 0, 0, 0])
    weights = np.array([0.001, 0.003, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(training_weights(y, weights, "unweighted"), np.ones(5))
    np.testing.assert_array_equal(training_weights(y, weights, "balanced"),
                                  balanced_weights(y, weights))
    np.testing.assert_allclose(training_weights(y, weights, "mix"),
                               0.5 * balanced_weights(y, weights) + 0.5 * balanced_weights(y),
                               rtol=1e-6)


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------

def test_options_validate_and_round_trip():
    with pytest.raises(PipelineError, match="hidden layer sizes must be positive integers, got "
                                            "8,0"):
        PipelineOptions(hidden=(8, 0))
    with pytest.raises(PipelineError, match="valid_fraction"):
        PipelineOptions(valid_fraction=1.0)
    with pytest.raises(PipelineError, match="valid_fraction \\+ test_fraction"):
        PipelineOptions(folds=1, valid_fraction=0.5, test_fraction=0.5)
    with pytest.raises(PipelineError, match="update must be one of 'adam', 'nesterov_momentum'"):
        PipelineOptions(update="sgd")
    with pytest.raises(PipelineError, match="folds must be a positive integer, got 0"):
        PipelineOptions(folds=0)
    options = PipelineOptions(hidden=(16, 8), dropout=0.25, drop_phi=True, test_fraction=0.1,
                              training_weights="mix")
    record = json.loads(json.dumps(options.to_dict()))
    assert PipelineOptions.from_dict(dict(record, unknown=1)) == options


def test_options_of_older_checkpoints_keep_what_they_were_trained_with():
    old = {"hidden": [128, 128, 128], "learning_rate": 0.05, "momentum": 0.9,
           "balance_classes": False}
    options = PipelineOptions.from_dict(old)
    assert (options.update, options.folds, options.augment_phi) == ("nesterov_momentum", 1,
                                                                    False)
    assert options.training_weights == "unweighted" and options.rate == 0.05


def test_learning_rate_follows_the_rule_and_the_width():
    assert PipelineOptions().rate == default_learning_rate("adam", (256,)) == 1e-3
    wide = PipelineOptions(update="nesterov_momentum", hidden=(600, 600, 600),
                           learning_rate=None)
    assert wide.rate == pytest.approx(0.05 * 128 / 600)
    assert PipelineOptions(learning_rate=0.3).rate == 0.3


def test_write_json_is_atomic_and_strict(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"auc": np.float32(0.5), "curve": np.arange(3), "bad": float("nan")})
    assert json.loads(path.read_text()) == {"auc": 0.5, "curve": [0, 1, 2], "bad": None}
    with pytest.raises(TypeError):
        write_json(path, {"auc": object()})
    assert json.loads(path.read_text())["auc"] == 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


# --------------------------------------------------------------------------
# One network and a bag (each compiles one small network; shared below)
# --------------------------------------------------------------------------

SMALL = dict(hidden=(16,), epochs=5, patience=5, batch_size=64, learning_rate=0.01,
             progress=False, bootstrap=20)


@pytest.fixture(scope="module")
def toy():
    from dropout_layers_higgs.synthetic import generate_toy_higgs

    return generate_toy_higgs(1500, seed=4)


@pytest.fixture(scope="module")
def single(toy):
    # Numba, whose masks give this run a best epoch before the last (the resume test replays
    # the epochs after it); jax_backend_cases.py resumes a run under JAX.
    return run_pipeline(toy, PipelineOptions(folds=1, monitor="ams", backend="numba", **SMALL),
                        seed=3)


@pytest.fixture(scope="module")
def bag(toy):
    return run_pipeline(toy, PipelineOptions(folds=3, **SMALL), seed=2)


def test_single_network_keeps_its_best_epoch_and_cuts_on_validation_events(single, toy):
    from dropout_layers_higgs.thresholds import (
        choose_threshold,
        evaluate_scores,
        smoothed_best_cut,
    )

    member, options = single.member, single.options
    history = member.history
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5]
    amss = [row["valid_ams_smoothed"] for row in history]
    assert member.monitor == "ams" and member.best_epoch == 1 + amss.index(max(amss))
    valid = member.valid_idx
    window = min(options.ams_window, len(valid))
    # The network holds the best epoch's parameters: its figures are that epoch's.
    assert smoothed_best_cut(member.valid_scores, toy.y[valid], toy.weights[valid],
                             window)[1] == history[member.best_epoch - 1]["valid_ams_smoothed"]
    assert single.threshold == choose_threshold(member.valid_scores, toy.y[valid],
                                                toy.weights[valid], window=options.ams_window)
    test = single.test_idx
    assert not np.intersect1d(test, np.union1d(member.train_idx, valid)).size
    assert len(test) + len(valid) + len(member.train_idx) == toy.n_events
    np.testing.assert_array_equal(single.test_scores, member.predict(toy.X[test]))
    expected = evaluate_scores(single.test_scores, toy.y[test], toy.weights[test],
                               single.threshold, bootstrap=20, seed=single.seed)
    assert single.test_metrics == expected


def test_out_of_fold_scores_come_from_the_member_that_never_saw_the_event(bag, toy):
    from dropout_layers_higgs.preprocessing import HiggsPreprocessor
    from dropout_layers_higgs.thresholds import choose_threshold

    run = bag.bag
    ensemble = run.ensemble
    X = HiggsPreprocessor.from_state(ensemble.preprocessing).transform(toy.X[run.pool])
    for i, split in enumerate(run.splits):
        held = split.valid_index
        np.testing.assert_allclose(run.oof_scores[held],
                                   ensemble.predict_member(i, X[held]).reshape(-1), rtol=1e-6)
        # Member i never trained on its fold, nor on a test event.
        assert not np.intersect1d(split.train_index, held).size
    assert not np.intersect1d(run.pool, bag.test_idx).size
    y, w = toy.y[run.pool], toy.weights[run.pool]
    assert bag.threshold == choose_threshold(run.oof_scores, y, w,
                                             window=bag.options.ams_window)
    # The test events are scored by the mean of all members.
    X_test = HiggsPreprocessor.from_state(ensemble.preprocessing).transform(toy.X[bag.test_idx])
    np.testing.assert_allclose(bag.test_scores, ensemble.predict(X_test).reshape(-1), rtol=1e-6)


def test_cross_fitted_cut_of_each_fold_comes_from_the_other_folds(bag, toy):
    from dropout_layers_higgs.thresholds import choose_threshold

    run = bag.bag
    y, w = toy.y[run.pool], toy.weights[run.pool]
    for fold, threshold in enumerate(run.scores["cross_fitted_thresholds"]):
        others = np.concatenate([s.valid_index for s in run.splits if s.fold != fold])
        assert threshold == choose_threshold(run.oof_scores[others], y[others], w[others],
                                             window=bag.options.ams_window)


def test_metrics_present_held_out_figures_with_spreads(bag, single, toy):
    for result in (bag, single):
        summary = json.loads(json.dumps(to_jsonable(
            metrics_summary(result, toy, "toy", synthetic=True, seconds=1.0))))
        assert summary["schema_version"] == 2 and summary["library_version"]
        assert summary["command"] and summary["mode"] == result.kind
        presented = summary["result"]
        assert presented["source"] == "held-out test events" and not presented["optimistic"]
        for key in ("auc", "auc_std", "ams_at_threshold", "ams_at_threshold_std", "ams_top15",
                    "ams_top15_std"):
            assert presented[key] == summary["test"][key]
        assert 0 < presented["ams_top15_std"] and 0 < presented["auc_std"] < 0.1
    assert "validation" in metrics_summary(single, toy, "toy") and \
        metrics_summary(single, toy, "toy")["validation"]["optimistic"] is True


def test_without_test_events_a_bag_presents_cross_fitted_figures(toy):
    options = PipelineOptions(folds=2, test_fraction=0.0, **dict(SMALL, epochs=2))
    result = run_pipeline(toy, options, seed=1)
    assert len(result.test_idx) == 0 and result.test_metrics is None
    presented = metrics_summary(result, toy, "toy")["result"]
    assert presented["source"] == "cross-fitted out-of-fold scores"
    assert not presented["optimistic"] and "slight optimism" in presented["note"]
    cv = result.bag.scores
    assert presented["ams_cross_fitted"] == cv["ams_cross_fitted"]
    assert presented["ams_cross_fitted_std"] > 0


def test_bag_checkpoint_predicts_the_test_scores_and_does_not_resume(bag, toy, tmp_path):
    from dropout_layers_higgs.preprocessing import HiggsPreprocessor
    from dropout_layers_higgs.resume import BAG_CHECKPOINT_KIND, load_resume_checkpoint

    path = tmp_path / "model.h5"
    save_result(path, bag, metrics_summary(bag, toy, "toy"))
    assert is_ensemble_file(path)
    ensemble = load_ensemble(path)
    assert ensemble.metadata["kind"] == BAG_CHECKPOINT_KIND
    assert ensemble.threshold == bag.threshold
    X = HiggsPreprocessor.from_state(ensemble.preprocessing).transform(toy.X[bag.test_idx])
    np.testing.assert_allclose(ensemble.predict(X, preprocess=False).reshape(-1), bag.test_scores,
                               rtol=1e-6)
    with pytest.raises(PipelineError, match="holds a bag of networks"):
        load_resume_checkpoint(path)


def test_single_checkpoint_predicts_alone_and_resumes_exactly(single, toy, tmp_path):
    from dropout_layers_higgs.pipeline import load_resume_checkpoint, resumed_options

    member = single.member
    # The test needs epochs after the best one to replay.
    assert member.best_epoch < 5
    path = tmp_path / "model.h5"
    save_result(path, single, metrics_summary(single, toy, "toy"))
    checkpoint = load_checkpoint(path)
    assert checkpoint.metadata["threshold"] == single.threshold
    # Exactly the run's scores when compiled by the run's backend (backends round apart).
    with pytensor.config.change_flags(mode=single.options.mode or pytensor.config.mode):
        predicted = checkpoint.predict(toy.X[single.test_idx]).reshape(-1)
    np.testing.assert_array_equal(predicted, single.test_scores.astype(np.float32))
    # Resuming from the best epoch's checkpoint replays the epochs after it
    # exactly: same split and seed (the seed given here is ignored), same
    # optimizer state, dropout streams, batches and rotations.
    resume = load_resume_checkpoint(path)
    options = resumed_options(resume, PipelineOptions(**dict(SMALL, hidden=(99,),
                                                              backend="numba")))
    assert options.hidden == (16,) and options.folds == 1 and options.augment_phi
    resumed = run_pipeline(toy, options, seed=7, resume=resume)
    np.testing.assert_array_equal(resumed.member.valid_idx, member.valid_idx)

    def without_time(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert without_time(resumed.member.history) == without_time(member.history)
    assert resumed.member.best_epoch == member.best_epoch


# --------------------------------------------------------------------------
# Failed runs raise before anything is saved
# --------------------------------------------------------------------------

def test_a_diverging_run_fails_and_says_to_lower_the_learning_rate(toy):
    options = PipelineOptions(folds=1, update="nesterov_momentum", learning_rate=1e4,
                              **{k: v for k, v in SMALL.items() if k != "learning_rate"})
    with pytest.raises(PipelineError, match=r"^training failed: .*lower --learning-rate "
                                            r"\(now 10000\) by 3-10x"):
        run_pipeline(toy, options, seed=0)


def test_a_run_that_learns_nothing_fails(toy):
    # Labels that carry no information: the validation AUC stays at chance.
    rng = np.random.default_rng(0)
    shuffled = HiggsData(X=toy.X, feature_names=toy.feature_names,
                         y=rng.permutation(toy.y), weights=toy.weights)
    options = PipelineOptions(folds=1, **dict(SMALL, epochs=12, patience=12, hidden=(4,)))
    with pytest.raises(PipelineError, match="valid_auc stays near chance"):
        run_pipeline(shuffled, options, seed=0)


def test_open_data_trains_on_the_kaggle_training_set_and_reports_the_leaderboards():
    from pathlib import Path

    from dropout_layers_higgs.data import load_higgs

    data = load_higgs(Path(__file__).resolve().parent / "fixtures" / "opendata_sample.csv")
    result = run_pipeline(data, PipelineOptions(folds=1, hidden=(4,), epochs=1, batch_size=4,
                                                progress=False), seed=0)
    member = result.member
    in_pool = np.union1d(member.train_idx, member.valid_idx)
    np.testing.assert_array_equal(in_pool, np.flatnonzero(data.kaggle_set == "t"))
    assert len(result.test_idx) == 0 and result.test_metrics is None
    scores = member.predict(data.X)
    expected = metrics.leaderboard_ams(data, scores, member.threshold)
    assert result.leaderboard == pytest.approx(expected, rel=1e-12)
    presented = metrics_summary(result, data, "open data")["result"]
    assert presented["source"] == "leaderboard sets" and not presented["optimistic"]
