"""Tests for dropout_layers.training: batches, history, callbacks, the fit loop.

That every update rule lowers the loss of a small network is tested in
tests/test_updates.py; here the rules are only driven through the Trainer.

Compilation dominates the run time, so two trainers are shared by the whole
module: one with dropout (default numba mode) and one deterministic network
(FAST_COMPILE) for the NumPy loss references. Tests put them back to a
recorded starting state with ``reset``.
"""
import copy
import json
import os
import re
import signal
import sys
import threading
import time
import types

import numpy as np
import pytensor
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import dropout_layers as dl
from dropout_layers import nonlinearities
from dropout_layers.objectives import aggregate, squared_error
from dropout_layers.training import (
    BatchIterator,
    Callback,
    EarlyStopping,
    History,
    LearningRateSchedule,
    ModelCheckpoint,
    ParamSchedule,
    Trainer,
    UnknownOptionError,
    batch_indices,
    epoch_permutation,
    fit,
    iterate_minibatches,
    linear_ramp,
)
from dropout_layers.training import callbacks as training_callbacks
from dropout_layers.training import trainer as training_trainer
from dropout_layers.training.steps import CompileNotice, estimate_compile_seconds


# ----------------------------------------------------------------------
# Data, networks and shared trainers
# ----------------------------------------------------------------------
def separable_set(n_per_class=20, seed=3):
    rng = np.random.RandomState(seed)
    X = np.concatenate([rng.randn(n_per_class, 2) + 2.0, rng.randn(n_per_class, 2) - 2.0])
    y = np.concatenate([np.ones(n_per_class), np.zeros(n_per_class)])
    return X, y


def build_network(dropout, seed=0):
    dl.set_rng(np.random.RandomState(seed))
    l_in = dl.InputLayer((None, 2))
    layer = dl.DenseLayer(l_in, 8, nonlinearity=nonlinearities.tanh, name="hidden")
    if dropout:
        layer = dl.SwitchDropoutLayer(layer, p=0.5, seed=seed + 1, name="drop")
    return dl.DenseLayer(layer, 1, nonlinearity=nonlinearities.sigmoid, name="out")


def rng_streams(network):
    return [layer.rng for layer in dl.get_all_layers(network) if hasattr(layer, "rng")]


def snapshot(trainer):
    """Everything a checkpoint would hold, as copies."""
    return {
        "params": trainer.get_param_values(),
        "optimizer": trainer.optimizer_state.get_values(),
        "rngs": [copy.deepcopy(rng.get_value()) for rng in rng_streams(trainer.network)],
        "learning_rate": trainer.learning_rate.get_value(),
        "history": trainer.history.to_dict(),
        "epoch": trainer.epoch,
    }


def reset(trainer, state):
    trainer.set_param_values(state["params"])
    trainer.optimizer_state.set_values(state["optimizer"])
    for rng, value in zip(rng_streams(trainer.network), state["rngs"]):
        rng.set_value(copy.deepcopy(value))
    trainer.learning_rate.set_value(state["learning_rate"])
    trainer.history = History.from_dict(state["history"])
    trainer.epoch = state["epoch"]


@pytest.fixture(scope="module")
def dropout_trainer():
    trainer = Trainer(build_network(dropout=True), learning_rate=0.05)
    return trainer, snapshot(trainer)


@pytest.fixture
def trainer(dropout_trainer):
    trainer, initial = dropout_trainer
    reset(trainer, initial)
    return trainer


@pytest.fixture(scope="module")
def plain_trainer_and_state():
    trainer = Trainer(build_network(dropout=False), update="sgd", learning_rate=0.0,
                      mode="FAST_COMPILE")
    return trainer, snapshot(trainer)


@pytest.fixture
def plain_trainer(plain_trainer_and_state):
    trainer, initial = plain_trainer_and_state
    reset(trainer, initial)
    return trainer


class Recorder(Callback):
    """Records hook calls and parameter values."""

    def __init__(self, variable=None):
        self.batches, self.epoch_values, self.batch_values, self.variable_values = [], {}, {}, {}
        self.variable = variable
        self.calls = []

    def on_train_begin(self, trainer):
        self.calls.append("train_begin")

    def on_batch_end(self, trainer, epoch, batch, loss):
        self.batches.append((epoch, batch))
        self.batch_values[(epoch, batch)] = trainer.get_param_values()

    def on_epoch_end(self, trainer, epoch, record):
        self.epoch_values[epoch] = trainer.get_param_values()
        if self.variable is not None:
            self.variable_values[epoch] = float(self.variable.get_value())

    def on_train_end(self, trainer):
        self.calls.append("train_end")


def scripted_metric(values):
    """A validation metric returning ``values`` one epoch after another."""
    remaining = list(values)

    def metric(y_true, scores, weights):
        return remaining.pop(0)

    return metric


def assert_params_equal(actual, expected):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert_array_equal(a, e)


def params_differ(a, b):
    return any(not np.array_equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------
def test_epoch_permutation_covers_every_row_once_and_is_reproducible():
    first = epoch_permutation(50, seed=7, epoch=3)
    assert_array_equal(np.sort(first), np.arange(50))
    # Reproducible from (seed, epoch) alone, whatever was drawn before.
    np.random.default_rng(0).random(1000)
    assert_array_equal(epoch_permutation(50, seed=7, epoch=3), first)
    assert_array_equal(first, np.random.default_rng([7, 3]).permutation(50))
    assert not np.array_equal(epoch_permutation(50, seed=7, epoch=4), first)
    assert not np.array_equal(epoch_permutation(50, seed=8, epoch=3), first)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        epoch_permutation(5, seed=-1, epoch=1)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_indices_keep_the_partial_last_batch(shuffle):
    batches = batch_indices(10, 4, shuffle=shuffle, seed=1, epoch=2)
    assert [len(b) for b in batches] == [4, 4, 2]
    covered = np.concatenate(batches)
    assert_array_equal(np.sort(covered), np.arange(10))
    expected = epoch_permutation(10, 1, 2) if shuffle else np.arange(10)
    assert_array_equal(covered, expected)
    dropped = batch_indices(10, 4, shuffle=shuffle, seed=1, epoch=2, drop_last=True)
    assert [len(b) for b in dropped] == [4, 4]
    assert_array_equal(np.concatenate(dropped), expected[:8])


def test_batch_larger_than_the_data_is_one_batch():
    batches = batch_indices(5, 128, shuffle=True, seed=0, epoch=1)
    assert len(batches) == 1
    assert_array_equal(np.sort(batches[0]), np.arange(5))
    assert len(BatchIterator(np.zeros((5, 2)), batch_size=128)) == 1
    with pytest.raises(ValueError,
                       match="batch_size 128 is larger than the 5 rows and drop_last=True"):
        BatchIterator(np.zeros((5, 2)), batch_size=128, drop_last=True)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        batch_indices(5, 0)


def test_iterate_minibatches_keeps_rows_together():
    X = np.arange(22).reshape(11, 2).astype(float)
    y = np.arange(11) * 10
    w = np.arange(11) / 10
    rows = []
    for batch_X, batch_y, none, batch_w in iterate_minibatches(X, y, None, w, batch_size=3,
                                                               shuffle=True, seed=5, epoch=1):
        assert none is None
        assert_array_equal(batch_y, batch_X[:, 0] * 5)
        assert_allclose(batch_w, batch_X[:, 0] / 20)
        rows.extend(batch_y // 10)
    assert_array_equal(rows, epoch_permutation(11, 5, 1))
    with pytest.raises(ValueError, match=r"different lengths \[11, 10\]"):
        list(iterate_minibatches(X, y[:10]))


def test_batch_iterator_reshuffles_each_epoch():
    X = np.arange(12).reshape(12, 1)
    batches = BatchIterator(X, X[:, 0], batch_size=5, seed=3)
    assert len(batches) == 3 and batches.n_samples == 12
    orders = {epoch: np.concatenate([b[1] for b in batches(epoch)]) for epoch in (1, 2)}
    assert_array_equal(orders[1], epoch_permutation(12, 3, 1))
    assert_array_equal(orders[2], epoch_permutation(12, 3, 2))
    assert_array_equal(np.concatenate([b[1] for b in batches(1)]), orders[1])
    with pytest.raises(ValueError, match="weights has 11 rows but X has 12"):
        BatchIterator(X, X[:, 0], np.ones(11))


# ----------------------------------------------------------------------
# History
# ----------------------------------------------------------------------
def test_history_round_trips_through_json():
    history = History()
    history.append({"epoch": np.int64(1), "train_loss": np.float32(0.5), "valid_loss": 0.25,
                    "valid_auc": np.float64(0.75), "learning_rate": 0.01, "seconds": 1.5})
    history.append({"epoch": 2, "train_loss": 0.4, "valid_loss": 0.2, "valid_auc": 0.8,
                    "learning_rate": 0.005, "seconds": 1.25})
    history.interrupted = {"epoch": 3, "batches_done": 2, "batches_total": 4}
    data = json.loads(json.dumps(history.to_dict()))
    again = History.from_dict(data)
    assert again.records == history.records
    assert again.interrupted == history.interrupted
    assert type(again[0]["epoch"]) is int and type(again[0]["train_loss"]) is float
    assert again.best("valid_auc", "max")["epoch"] == 2
    assert again.best("valid_loss", "min")["epoch"] == 2
    assert again.column("learning_rate") == [0.01, 0.005]
    assert History.from_dict(data["records"]).records == history.records


def test_history_table_lists_every_epoch():
    history = History([{"epoch": 1, "train_loss": 0.5, "valid_loss": 0.25, "valid_auc": 0.75,
                        "learning_rate": 0.01, "seconds": 1.5}])
    assert history.keys() == ["epoch", "train_loss", "valid_loss", "valid_auc", "learning_rate",
                              "seconds"]
    lines = history.format_table().splitlines()
    assert lines[0].split() == history.keys()
    assert lines[2].split() == ["1", "0.50000", "0.25000", "0.75000", "0.01", "1.50"]
    history.interrupted = {"epoch": 2, "batches_done": 1, "batches_total": 3}
    assert history.format_table().splitlines()[-1] == (
        "interrupted in epoch 2 after batch 1 of 3 (that epoch has no row)")


def test_history_refuses_rows_without_epoch():
    with pytest.raises(ValueError, match="needs an integer 'epoch' entry"):
        History([{"train_loss": 1.0}])
    with pytest.raises(ValueError, match="expects a dict with a 'records' list"):
        History.from_dict({"epochs": []})


# ----------------------------------------------------------------------
# Bad input, refused before training starts
# ----------------------------------------------------------------------
def _with_value(X, row, column, value):
    X = X.copy()
    X[row, column] = value
    return X


BAD_INPUTS = {
    "short targets": (lambda X, y: dict(X=X, y=y[:-1]), "y has 39 rows but X has 40"),
    "nan": (lambda X, y: dict(X=_with_value(X, 17, 1, np.nan), y=y),
            "X contains nan at row 17, column 1"),
    "inf": (lambda X, y: dict(X=_with_value(X, 3, 0, -np.inf), y=y),
            "X contains -inf at row 3, column 0"),
    "float32 overflow": (lambda X, y: dict(X=_with_value(X, 5, 1, 1e39), y=y),
                         "X holds 1e\\+39 at row 5, column 1, which overflows float32"),
    "rank": (lambda X, y: dict(X=X[:, :, None], y=y),
             r"X has shape \(40, 2, 1\) but the network's input layer expects shape \(None, 2\)"),
    "features": (lambda X, y: dict(X=np.hstack([X, X]), y=y),
                 r"X has shape \(40, 4\) but the network's input layer expects 2 along axis 1 "
                 r"\(shape \(None, 2\)\)"),
    "nan target": (lambda X, y: dict(X=X, y=np.where(np.arange(40) == 9, np.nan, y)),
                   "y contains nan at row 9"),
    "short weights": (lambda X, y: dict(X=X, y=y, weights=np.ones(41)),
                      "weights has 41 rows but X has 40"),
    "negative weight": (lambda X, y: dict(X=X, y=y,
                                          weights=np.where(np.arange(40) == 4, -0.5, 1.0)),
                        "weights has a negative value -0.5 at row 4; weights must be >= 0"),
    "zero weights": (lambda X, y: dict(X=X, y=y, weights=np.zeros(40)), "weights are all zero"),
    "valid targets": (lambda X, y: dict(X=X, y=y, valid=(X, y[:30])),
                      "valid y has 30 rows but valid X has 40"),
    "valid nan": (lambda X, y: dict(X=X, y=y, valid=(_with_value(X, 2, 0, np.nan), y)),
                  "valid X contains nan at row 2, column 0"),
    "valid weights": (lambda X, y: dict(X=X, y=y, valid=(X, y, -np.ones(40))),
                      "valid weights has a negative value -1.0 at row 0"),
    "metrics without valid": (lambda X, y: dict(X=X, y=y, metrics={"auc": lambda *a: 0.5}),
                              "metrics are computed on the validation set"),
    "text": (lambda X, y: dict(X=X.astype(str), y=y),
             "X must hold numbers, got an array of dtype <U"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_before_training(trainer, case):
    X, y = separable_set()
    make_kwargs, message = BAD_INPUTS[case]
    before = trainer.get_param_values()
    recorder = Recorder()
    with pytest.raises((ValueError, TypeError), match=message):
        trainer.fit(epochs=1, callbacks=[recorder], verbose=False, **make_kwargs(X, y))
    assert recorder.calls == [] and trainer.epoch == 0
    assert_params_equal(trainer.get_param_values(), before)


def test_trainer_construction_errors():
    network = build_network(dropout=False)
    with pytest.raises(ValueError, match="unknown update rule 'adamw'; expected one of"):
        Trainer(network, update="adamw")
    with pytest.raises(ValueError, match="'nesterov_momentum' has no default learning rate"):
        Trainer(network, update="nesterov_momentum")
    with pytest.raises(ValueError, match="not in update_kwargs"):
        Trainer(network, update_kwargs={"learning_rate": 0.1})
    wide = dl.DenseLayer(network, 3)
    with pytest.raises(ValueError, match=r"needs one output unit, but the network's output "
                                         r"shape is "
                                         r"\(None, 3\); pass loss="):
        Trainer(wide)


def test_default_learning_rates_come_from_the_rule():
    network = build_network(dropout=False)
    assert Trainer(network).learning_rate.get_value() == np.float32(0.001)
    trainer = Trainer(network, update="adadelta")
    assert trainer.learning_rate.get_value() == np.float32(1.0)
    assert trainer.learning_rate.dtype == "float32"
    assert trainer.optimizer_state.names() == [
        f"{i}/{param}/{slot}" for i, param in enumerate(["hidden.W", "hidden.b", "out.W", "out.b"])
        for slot in ("accu", "delta_accu")]


# ----------------------------------------------------------------------
# The fit loop
# ----------------------------------------------------------------------
def test_fit_lowers_the_loss_and_records_history(trainer):
    X, y = separable_set()
    history = trainer.fit(X, y, valid=(X, y), epochs=15, batch_size=10, verbose=False)
    assert history is trainer.history and trainer.epoch == 15
    assert history.column("epoch") == list(range(1, 16))
    assert history.keys() == ["epoch", "train_loss", "valid_loss", "learning_rate", "seconds"]
    assert history.column("learning_rate") == [0.05] * 15
    losses = history.column("valid_loss")
    assert losses[-1] < 0.5 * losses[0], losses
    scores = trainer.predict(X)
    assert scores.shape == (40, 1) and scores.dtype == np.float32
    assert np.mean((scores[:, 0] > 0.5) == y) == 1.0


def test_fit_continues_epoch_numbers_across_calls(trainer):
    X, y = separable_set()
    trainer.fit(X, y, epochs=2, verbose=False)
    trainer.fit(X, y, epochs=3, verbose=False)
    assert trainer.history.column("epoch") == [1, 2, 3]
    recorder = Recorder()
    trainer.fit(X, y, epochs=3, callbacks=[recorder], verbose=False)
    assert trainer.epoch == 3 and recorder.batches == []
    assert recorder.calls == ["train_begin", "train_end"]


def test_no_float64_in_the_train_step(trainer):
    X, y = separable_set()
    trainer.fit(X.astype(np.float64), y.astype(np.int64), epochs=1, verbose=False)
    dtypes = {var.type.dtype for var in trainer.train_function.maker.fgraph.variables
              if hasattr(var.type, "dtype")}
    assert "float64" not in dtypes, dtypes
    assert "float32" in dtypes
    assert {p.dtype for p in trainer.get_param_values()} == {np.dtype("float32")}


def test_batch_larger_than_the_data_in_fit(trainer):
    X, y = separable_set()
    recorder = Recorder()
    trainer.fit(X, y, epochs=2, batch_size=1000, callbacks=[recorder], verbose=False)
    assert recorder.batches == [(1, 1), (2, 1)]


def test_dropout_masks_change_between_steps_inside_fit(trainer):
    X, y = separable_set()
    trainer.learning_rate.set_value(np.float32(0.0))
    before = trainer.get_param_values()
    history = trainer.fit(X, y, valid=(X, y), epochs=4, batch_size=40, shuffle=False, verbose=False)
    # Frozen parameters, the same single batch: only the masks change the loss.
    assert_params_equal(trainer.get_param_values(), before)
    train_losses = history.column("train_loss")
    assert len(set(train_losses)) == 4, train_losses
    # The deterministic pass does not depend on the masks.
    assert len(set(history.column("valid_loss"))) == 1


def numpy_outputs(params, X):
    W1, b1, W2, b2 = [p.astype(np.float64) for p in params]
    hidden = np.tanh(X @ W1 + b1)
    return 1.0 / (1.0 + np.exp(-(hidden @ W2 + b2)))[:, 0]


def numpy_weighted_bce(p, y, w, eps=1e-7):
    p = np.clip(p, eps, 1 - eps)
    losses = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    return np.sum(w * losses) / np.sum(w)


def test_weighted_losses_equal_the_numpy_reference(plain_trainer):
    X, y = separable_set()
    weights = np.random.RandomState(0).uniform(0.0, 3.0, size=40)
    weights[:10] = 0.0  # the first batch below has no weight at all and is skipped
    X_valid, y_valid = X[::-1] + 0.5, y[::-1]
    expected_train = numpy_weighted_bce(numpy_outputs(plain_trainer.get_param_values(), X), y,
                                        weights)
    valid_weights = weights[::-1] + 0.25
    expected_valid = numpy_weighted_bce(numpy_outputs(plain_trainer.get_param_values(), X_valid),
                                        y_valid, valid_weights)
    plain_trainer.eval_batch_size = 7  # several eval batches, the last one partial
    try:
        history = plain_trainer.fit(X, y, weights, valid=(X_valid, y_valid, valid_weights),
                                    epochs=1,
                                    batch_size=10, shuffle=False, verbose=False)
        evaluated = plain_trainer.evaluate(X_valid, y_valid, valid_weights)["loss"]
    finally:
        plain_trainer.eval_batch_size = 4096
    assert_allclose(history[0]["train_loss"], expected_train, rtol=1e-5)
    assert_allclose(history[0]["valid_loss"], expected_valid, rtol=1e-5)
    assert_allclose(evaluated, expected_valid, rtol=1e-5)
    # Without weights the loss is the plain mean.
    assert_allclose(plain_trainer.evaluate(X, y)["loss"],
                    numpy_weighted_bce(numpy_outputs(plain_trainer.get_param_values(), X), y,
                                       np.ones(40)), rtol=1e-5)


def test_metrics_get_float64_scores_and_the_valid_weights(trainer):
    X, y = separable_set()
    seen = []

    def metric(y_true, scores, weights):
        seen.append((y_true, scores, weights))
        return np.float32(0.25)

    valid_weights = np.linspace(1.0, 2.0, 40)
    history = trainer.fit(X, y, valid=(X, y, valid_weights), epochs=1, metrics={"m": metric},
                          verbose=False)
    y_true, scores, weights = seen[0]
    assert scores.shape == (40,) and scores.dtype == np.float64
    assert_allclose(scores, trainer.predict(X)[:, 0])
    assert_array_equal(y_true, y)
    assert_allclose(weights, valid_weights, rtol=1e-7)
    assert history[0]["valid_m"] == 0.25


def test_batch_iterator_as_input(trainer):
    X, y = separable_set()

    def batches(epoch):
        yield X[:20], y[:20]
        yield X[20:], y[20:], np.ones(20)

    recorder = Recorder()
    trainer.fit(batches, epochs=2, callbacks=[recorder], verbose=False)
    assert recorder.batches == [(1, 1), (1, 2), (2, 1), (2, 2)]

    def bad_batches(epoch):
        yield X[:20], y[:20]
        yield _with_value(X[20:], 4, 1, np.nan), y[20:]

    with pytest.raises(ValueError, match="batch 2 X contains nan at row 4, column 1"):
        trainer.fit(bad_batches, epochs=3, verbose=False)


def test_progress_and_epoch_table_when_verbose(trainer, capsys):
    X, y = separable_set()
    trainer.fit(X, y, valid=(X, y), epochs=2, batch_size=10, verbose=True)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "training on 40 rows, 4 batches of 10, validating on 40 rows"
    assert lines[1].split() == ["epoch", "train_loss", "valid_loss", "learning_rate", "seconds"]
    assert [line.split()[0] for line in lines[3:]] == ["1", "2"]
    assert err == ""  # the progress bar stays quiet when stderr is not a terminal
    trainer.fit(X, y, epochs=3, verbose=False)
    assert capsys.readouterr() == ("", "")


# ----------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------
def test_early_stopping_stops_and_restores_the_best_epoch(trainer):
    X, y = separable_set()
    recorder = Recorder()
    stopper = EarlyStopping("score", mode="max", patience=2)
    history = trainer.fit(X, y, valid=(X, y), epochs=10, batch_size=10, verbose=False,
                          metrics={"score": scripted_metric([0.5, 0.9, 0.7, 0.85, 0.95, 0.99])},
                          callbacks=[recorder, stopper])
    assert history.column("epoch") == [1, 2, 3, 4]
    assert history.column("valid_score") == [0.5, 0.9, 0.7, 0.85]
    assert (stopper.best_epoch, stopper.best_value, stopper.stopped_epoch) == (2, 0.9, 4)
    assert params_differ(recorder.epoch_values[4], recorder.epoch_values[2])
    assert_params_equal(trainer.get_param_values(), recorder.epoch_values[2])


def test_early_stopping_restores_the_best_epoch_after_the_last_epoch(trainer):
    X, y = separable_set()
    recorder = Recorder()
    stopper = EarlyStopping("fake", mode="min", patience=5)
    trainer.fit(X, y, valid=(X, y), epochs=3, verbose=False,
                metrics={"fake": scripted_metric([0.3, 0.2, 0.4])}, callbacks=[recorder, stopper])
    assert trainer.epoch == 3 and stopper.stopped_epoch is None and stopper.best_epoch == 2
    assert params_differ(recorder.epoch_values[3], recorder.epoch_values[2])
    assert_params_equal(trainer.get_param_values(), recorder.epoch_values[2])


def test_early_stopping_names_the_missing_column(trainer):
    X, y = separable_set()
    with pytest.raises(ValueError, match=r"EarlyStopping monitors 'auc', which is not in the "
                                         r"epoch row "
                                         r"\(columns: \['epoch', 'train_loss', 'learning_rate', "
                                         r"'seconds'\]\); pass valid="):
        trainer.fit(X, y, epochs=1, callbacks=[EarlyStopping("auc")], verbose=False)
    with pytest.raises(ValueError, match="patience must be a positive integer, got 0"):
        EarlyStopping(patience=0)


def test_schedules_set_values_before_each_epoch(trainer):
    X, y = separable_set()
    momentum = pytensor.shared(np.float32(0.0), name="momentum")
    recorder = Recorder(variable=momentum)
    history = trainer.fit(X, y, epochs=4, verbose=False, callbacks=[
        LearningRateSchedule(lambda epoch: 0.1 / epoch),
        ParamSchedule(momentum, linear_ramp(0.5, 0.99, 3)),
        recorder,
    ])
    assert history.column("learning_rate") == [float(str(np.float32(0.1 / e))) for e in range(1, 5)]
    assert_allclose([recorder.variable_values[e] for e in range(1, 5)], [0.5, 0.745, 0.99, 0.99],
                    rtol=1e-6)
    assert momentum.get_value().dtype == np.float32


def test_linear_ramp():
    ramp = linear_ramp(0.5, 0.99, 50)
    assert ramp(1) == 0.5 and ramp(50) == 0.99 and ramp(80) == 0.99
    assert_allclose(ramp(25.5), 0.745)
    assert linear_ramp(0.1, 0.2, 1)(1) == 0.2


def test_model_checkpoint_every_and_on_best(trainer, tmp_path):
    X, y = separable_set()
    saved = []
    checkpoint = ModelCheckpoint(str(tmp_path / "e{epoch:02d}.h5"), every=3, on_best=True,
                                 monitor="score", mode="max",
                                 save_fn=lambda path, t: saved.append((path, t.epoch,
                                                                       t.history.last)))
    trainer.fit(X, y, valid=(X, y), epochs=6, verbose=False, callbacks=[checkpoint],
                metrics={"score": scripted_metric([0.1, 0.3, 0.2, 0.2, 0.4, 0.1])})
    assert [epoch for _, epoch, _ in saved] == [1, 2, 3, 5, 6]
    assert saved[0][0] == str(tmp_path / "e01.h5")
    assert all(record["epoch"] == epoch for _, epoch, record in saved)
    assert checkpoint.saved == [(e, str(tmp_path / f"e{e:02d}.h5")) for e in (1, 2, 3, 5, 6)]


class FakeCheckpointModule(types.ModuleType):
    """Stands in for dropout_layers.checkpoint: keeps 'files' in memory."""

    def __init__(self):
        super().__init__("dropout_layers.checkpoint")
        self.files = {}

    def save_checkpoint(self, path, network, *, optimizer=None, history=None, metadata=None):
        self.files[path] = {
            "params": dl.get_all_param_values(network),
            "optimizer": optimizer.get_values(),
            "rngs": [copy.deepcopy(rng.get_value()) for rng in rng_streams(network)],
            "history": json.loads(json.dumps(history)),
            "metadata": json.loads(json.dumps(metadata)),
        }

    def restore_training_state(self, path, network, optimizer=None):
        saved = self.files[path]
        dl.set_all_param_values(network, saved["params"])
        optimizer.set_values(saved["optimizer"])
        for rng, value in zip(rng_streams(network), saved["rngs"]):
            rng.set_value(copy.deepcopy(value))
        return types.SimpleNamespace(history=saved["history"], metadata=saved["metadata"])


@pytest.fixture
def fake_checkpoint(monkeypatch):
    module = FakeCheckpointModule()
    monkeypatch.setattr(training_callbacks, "save_checkpoint", module.save_checkpoint)
    monkeypatch.setattr(training_trainer, "restore_training_state", module.restore_training_state)
    return module


def test_resume_continues_exactly(dropout_trainer, fake_checkpoint):
    trainer, initial = dropout_trainer
    X, y = separable_set()
    kwargs = dict(valid=(X, y), batch_size=16, seed=11, verbose=False)

    reset(trainer, initial)
    trainer.fit(X, y, epochs=2, callbacks=[ModelCheckpoint("run.h5", every=2, on_best=False)],
                **kwargs)
    trainer.fit(X, y, epochs=4, **kwargs)
    straight = snapshot(trainer)
    saved = fake_checkpoint.files["run.h5"]
    assert saved["metadata"] == {"epoch": 2, "learning_rate": 0.05, "seed": 11}
    assert [r["epoch"] for r in saved["history"]["records"]] == [1, 2]
    assert len(saved["optimizer"]) == 9  # m and v of four parameters, and t

    # Scramble everything the checkpoint holds, then resume from it.
    reset(trainer, initial)
    trainer.fit(X, y, epochs=1, seed=99, verbose=False)
    trainer.learning_rate.set_value(np.float32(0.5))
    trainer.fit(X, y, epochs=4, resume_from="run.h5", **kwargs)
    resumed = snapshot(trainer)
    assert_params_equal(resumed["params"], straight["params"])
    for name, value in straight["optimizer"].items():
        assert_array_equal(resumed["optimizer"][name], value)
    assert resumed["rngs"][0].bit_generator.state == straight["rngs"][0].bit_generator.state
    for key in ("epoch", "train_loss", "valid_loss", "learning_rate"):
        assert trainer.history.column(key) == History.from_dict(straight["history"]).column(key)


def test_default_checkpoint_callback_saves_the_training_state(trainer, fake_checkpoint):
    X, y = separable_set()
    trainer.fit(X, y, valid=(X, y), epochs=2, verbose=False,
                callbacks=[ModelCheckpoint("best.h5", monitor="valid_loss")])
    saved = fake_checkpoint.files["best.h5"]
    assert saved["metadata"]["epoch"] == 2
    assert_params_equal(saved["params"], trainer.get_param_values())


def test_resume_from_a_real_checkpoint_file(dropout_trainer, tmp_path):
    """ModelCheckpoint + resume_from through dropout_layers.checkpoint's HDF5 files."""
    pytest.importorskip("h5py")
    trainer, initial = dropout_trainer
    X, y = separable_set()
    reset(trainer, initial)
    path = tmp_path / "epoch{epoch}.h5"
    trainer.fit(X, y, epochs=2, batch_size=16, seed=5, verbose=False,
                callbacks=[ModelCheckpoint(path, every=2, on_best=False)])
    trainer.fit(X, y, epochs=4, batch_size=16, seed=5, verbose=False)
    straight = trainer.get_param_values()

    # A network built in code again, with other initial weights and streams.
    other = Trainer(build_network(dropout=True, seed=42), learning_rate=0.05)
    assert params_differ(other.get_param_values(), initial["params"])
    other.fit(X, y, epochs=4, batch_size=16, seed=5, verbose=False,
              resume_from=tmp_path / "epoch2.h5")
    assert other.history.column("epoch") == [1, 2, 3, 4]
    assert other.history.column("train_loss") == trainer.history.column("train_loss")
    assert_params_equal(other.get_param_values(), straight)


# ----------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------
class InterruptAt(Callback):
    """Sends SIGINT to this process after the given batches, as Ctrl-C would."""

    def __init__(self, *at):
        self.at = set(at)

    def on_batch_end(self, trainer, epoch, batch, loss):
        if (epoch, batch) in self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_after_the_current_batch_and_keeps_the_best(trainer, capsys):
    X, y = separable_set()
    handler = signal.getsignal(signal.SIGINT)
    recorder = Recorder()
    history = trainer.fit(X, y, valid=(X, y), epochs=10, batch_size=10, verbose=True,
                          metrics={"score": scripted_metric([0.5, 0.9, 0.7])},
                          callbacks=[recorder, InterruptAt((4, 2)),
                                     EarlyStopping("score", mode="max", patience=5)])
    assert signal.getsignal(signal.SIGINT) is handler
    assert recorder.batches[-1] == (4, 2) and len(recorder.batches) == 3 * 4 + 2
    assert history.interrupted == {"epoch": 4, "batches_done": 2, "batches_total": 4}
    assert history.column("epoch") == [1, 2, 3] and trainer.epoch == 3
    assert recorder.calls == ["train_begin", "train_end"]
    assert params_differ(recorder.batch_values[(4, 2)], recorder.epoch_values[2])
    assert_params_equal(trainer.get_param_values(), recorder.epoch_values[2])
    out = capsys.readouterr().out
    assert "interrupted in epoch 4 after batch 2 of 4 (that epoch has no row)" in out
    assert "restored the parameters of epoch 2 (valid_score 0.9)" in out


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_second_ctrl_c_aborts(trainer):
    X, y = separable_set()
    handler = signal.getsignal(signal.SIGINT)
    recorder = Recorder()

    class InterruptTwice(Callback):
        def on_batch_end(self, trainer, epoch, batch, loss):
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X, y, epochs=2, batch_size=10, callbacks=[recorder, InterruptTwice()],
                    verbose=False)
    assert signal.getsignal(signal.SIGINT) is handler
    assert recorder.batches == [(1, 1)]


# ----------------------------------------------------------------------
# The functional interface and custom losses
# ----------------------------------------------------------------------
def test_functional_fit_with_a_custom_loss_and_regularization():
    X, y = separable_set()
    network = build_network(dropout=False)

    def squared_loss(predictions, targets, weights):
        return aggregate(squared_error(predictions[:, 0], targets), weights, mode="normalized_sum")

    penalties = []

    def penalty(net):
        term = dl.regularization.regularize_network_params(net, dl.regularization.l2)
        penalties.append(term)
        return 1e-3 * term

    trainer = fit(network, X, y, valid=(X, y), epochs=5, batch_size=10, loss=squared_loss,
                  update="nesterov_momentum", learning_rate=0.1, regularization=penalty,
                  mode="FAST_COMPILE", verbose=False)
    assert isinstance(trainer, Trainer) and len(penalties) == 1
    losses = trainer.history.column("valid_loss")
    assert losses[-1] < losses[0]
    # The recorded loss is the data term only.
    predictions = trainer.predict(X)[:, 0].astype(np.float64)
    assert_allclose(losses[-1], np.mean((predictions - y) ** 2), rtol=1e-5)


# ----------------------------------------------------------------------
# Keywords, compiling ahead of epoch 1, the compile notice
# ----------------------------------------------------------------------
def test_unknown_keywords_are_refused_with_the_closest_name(trainer):
    X, y = separable_set()
    with pytest.raises(UnknownOptionError, match="fit got an unknown keyword 'verbos'; did you "
                                                 "mean 'verbose'?"):
        trainer.fit(X, y, epochs=1, verbos=False)
    with pytest.raises(UnknownOptionError, match="Trainer got an unknown keyword "
                                                 "'eval_bath_size'; did you mean "
                                                 "'eval_batch_size'"):
        Trainer(trainer.network, eval_bath_size=7)
    with pytest.raises(UnknownOptionError, match="fit got an unknown keyword 'learnin_rate'; "
                                                 "did you mean 'learning_rate'"):
        fit(trainer.network, X, y, learnin_rate=0.1)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -2"):
        trainer.fit(X, y, epochs=1, seed=-2, verbose=False)
    assert issubclass(UnknownOptionError, (TypeError, dl.errors.DropoutLayersError))
    assert trainer.epoch == 0


def test_compiling_ahead_leaves_every_shared_variable_as_it_was():
    X, y = separable_set()
    trainer = Trainer(build_network(dropout=True, seed=3), learning_rate=0.05,
                      mode="FAST_COMPILE")
    before = snapshot(trainer)
    assert trainer.compile((X[:8].astype("float32"), y[:8].astype("float32"),
                            np.ones(8, dtype="float32")),
                           (X[:1].astype("float32"), y[:1].astype("float32"),
                            np.ones(1, dtype="float32"))) == ["train", "evaluate"]
    after = snapshot(trainer)
    assert_params_equal(after["params"], before["params"])
    for name, value in before["optimizer"].items():
        assert_array_equal(after["optimizer"][name], value)
    assert after["rngs"][0].bit_generator.state == before["rngs"][0].bit_generator.state
    assert trainer.compile((X[:8], y[:8], np.ones(8))) == []  # compiled once


class CompileHooks(Callback):
    def __init__(self):
        self.calls = []

    def on_compile_begin(self, trainer, estimate):
        self.calls.append(("begin", estimate))

    def on_compile_end(self, trainer, seconds):
        self.calls.append(("end", seconds))

    def on_train_begin(self, trainer):
        self.calls.append(("train_begin",))


def test_first_fit_announces_compiling_then_starts_the_epochs(capsys):
    X, y = separable_set()
    trainer = Trainer(build_network(dropout=True, seed=3), learning_rate=0.05,
                      compile_notice_after=0)
    hooks = CompileHooks()
    trainer.fit(X, y, valid=(X, y), epochs=1, batch_size=10, callbacks=[hooks], verbose=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "training on 40 rows, 4 batches of 10, validating on 40 rows"
    assert lines[1].startswith("compiling the network (first run only: later runs load it from "
                               "the cache; about ")
    assert re.fullmatch(r"compiled in \d+\.\d s", lines[2])
    assert lines[3].split()[:2] == ["epoch", "train_loss"]
    (begin, estimate), (end, seconds), (train_begin,) = hooks.calls
    assert (begin, end, train_begin) == ("begin", "end", "train_begin")
    assert estimate > 0 and seconds >= 0
    # Compiled once per trainer: the next fit call starts training at once.
    hooks.calls.clear()
    trainer.fit(X, y, epochs=2, callbacks=[hooks], verbose=True)
    assert hooks.calls == [("train_begin",)]
    assert "compiling" not in capsys.readouterr().out


def test_compile_notice_only_speaks_after_its_delay():
    said = []
    with CompileNotice(said.append, "slow", delay=60):
        pass
    with CompileNotice(said.append, "never", delay=None):
        time.sleep(0.05)
    assert said == []
    spoken = threading.Event()

    def say(message):
        said.append(message)
        spoken.set()

    with CompileNotice(say, lambda: "still compiling", delay=0.01) as notice:
        assert spoken.wait(30)
    assert notice.announced and said[0] == "still compiling"
    assert re.fullmatch(r"compiled in \d+\.\d s", said[1])


def test_compile_estimate_is_for_numba_only(trainer):
    assert estimate_compile_seconds([trainer.train_function]) > 0
    plain = Trainer(build_network(dropout=False), mode="FAST_COMPILE")
    assert estimate_compile_seconds([plain.train_function]) is None
