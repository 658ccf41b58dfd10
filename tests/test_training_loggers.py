"""Experiment logging: CSV files and TensorBoard event files written and read back, MLflow calls."""
import csv
import os
import sys
import types

import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers.metrics import roc_auc
from dropout_layers.training import (
    Callback,
    CSVLogger,
    MissingDependencyError,
    MLflowLogger,
    TensorBoard,
    Trainer,
)
from dropout_layers.training.loggers import read_tensorboard_scalars


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype("float32")
    y = (X[:, 0] - X[:, 1] > 0).astype("float32")
    return X, y


@pytest.fixture(scope="module")
def compiled():
    """One trainer for the module (FAST_COMPILE: nothing to compile), and its initial state."""
    with dl.random.seeded(0):
        hidden = dl.DenseLayer(dl.InputLayer((None, 3)), 6, name="hidden")
        network = dl.DenseLayer(dl.SwitchDropoutLayer(hidden, p=0.5, name="drop"), 1,
                                nonlinearity=dl.nonlinearities.sigmoid, name="out")
    trainer = Trainer(network, learning_rate=0.05, mode="FAST_COMPILE")
    return trainer, trainer.get_param_values()


@pytest.fixture
def trainer(compiled):
    trainer, initial = compiled
    trainer.set_param_values(initial)
    trainer.history = dl.training.History()
    trainer.epoch = 0
    return trainer


class AddsAColumn(Callback):
    """A callback that adds its own key to the epoch rows from epoch 2 on."""

    def on_epoch_end(self, trainer, epoch, record):
        if epoch >= 2:
            record["extra"] = epoch * 0.5


def test_csv_log_holds_every_epoch_and_reads_back_exactly(trainer, tmp_path):
    X, y = _data()
    path = tmp_path / "history.csv"
    logger = CSVLogger(path)
    trainer.fit(X, y, valid=(X, y), epochs=3, metrics={"auc": roc_auc}, verbose=False,
                callbacks=[AddsAColumn(), logger])
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    history = trainer.history
    assert list(rows[0]) == history.keys() == ["epoch", "train_loss", "valid_loss", "valid_auc",
                                               "extra", "learning_rate", "seconds"]
    assert len(rows) == 3 and logger.rows_written == 3
    for row, record in zip(rows, history):
        for key in history.keys():
            if key in record:
                assert float(row[key]) == record[key], key  # repr round-trips floats
            else:
                assert row[key] == ""
    # Written atomically: only the log itself is left in the directory.
    assert sorted(os.listdir(tmp_path)) == ["history.csv"]

    # A later fit call continues the same history, and so the same file.
    trainer.fit(X, y, valid=(X, y), epochs=5, metrics={"auc": roc_auc}, verbose=False,
                callbacks=[logger])
    with open(path, newline="") as stream:
        assert [row["epoch"] for row in csv.DictReader(stream)] == ["1", "2", "3", "4", "5"]


def test_csv_logger_needs_an_existing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="the directory of .*missing.* does not exist"):
        CSVLogger(tmp_path / "missing" / "history.csv")


def test_tensorboard_event_file_reads_back_the_history(trainer, tmp_path):
    X, y = _data()
    log_dir = tmp_path / "tb"
    trainer.fit(X, y, valid=(X, y), epochs=4, metrics={"auc": roc_auc}, verbose=False,
                callbacks=[TensorBoard(log_dir)])
    files = [name for name in os.listdir(log_dir) if "tfevents" in name]
    assert len(files) == 1
    scalars = read_tensorboard_scalars(log_dir)
    history = trainer.history
    assert set(scalars) == {"train_loss", "valid_loss", "valid_auc", "learning_rate", "seconds"}
    for tag, points in scalars.items():
        assert [step for step, _ in points] == [1, 2, 3, 4]
        # TensorBoard stores float32 scalars.
        assert [value for _, value in points] == [float(np.float32(v))
                                                  for v in history.column(tag)], tag


def test_tensorboard_reader_checks_each_record(trainer, tmp_path):
    X, y = _data()
    trainer.fit(X, y, epochs=2, verbose=False, callbacks=[TensorBoard(tmp_path)])
    (name,) = [name for name in os.listdir(tmp_path) if "tfevents" in name]
    path = tmp_path / name
    data = path.read_bytes()
    # One event per scalar, epoch by epoch; the last written is epoch 2's "seconds".
    complete = read_tensorboard_scalars(path)
    assert [step for step, _ in complete["seconds"]] == [1, 2]
    # A writer killed mid-record: the complete records are still read.
    path.write_bytes(data[:-3])
    truncated = read_tensorboard_scalars(path)
    assert [step for step, _ in truncated["seconds"]] == [1]
    assert truncated["train_loss"] == complete["train_loss"]
    # A flipped byte in the last record's data fails its checksum.
    corrupt = bytearray(data)
    corrupt[-5] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match=r"corrupt record data at byte \d+"):
        read_tensorboard_scalars(path)


def test_tensorboard_without_tensorboardx_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import raises ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "dropout_layers\[log\]"'):
        TensorBoard("runs")
    assert issubclass(MissingDependencyError, (ImportError, dl.errors.DropoutLayersError))


class FakeMlflow(types.ModuleType):
    """Stands in for mlflow: records the calls the logger makes."""

    def __init__(self, active=False):
        super().__init__("mlflow")
        self.calls = []
        self.active = active

    def active_run(self):
        return object() if self.active else None

    def start_run(self, run_name=None):
        self.calls.append(("start_run", run_name))
        self.active = True

    def log_params(self, params):
        self.calls.append(("log_params", dict(params)))

    def log_metrics(self, metrics, step=None):
        self.calls.append(("log_metrics", step, dict(metrics)))

    def end_run(self, status="FINISHED"):
        self.calls.append(("end_run", status))
        self.active = False


def test_mlflow_logger_starts_logs_and_ends_a_run(trainer, monkeypatch):
    mlflow = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    X, y = _data()
    trainer.fit(X, y, valid=(X, y), epochs=2, verbose=False,
                callbacks=[MLflowLogger(run_name="demo", params={"dropout": 0.5})])
    assert mlflow.calls[:2] == [("start_run", "demo"), ("log_params", {"dropout": 0.5})]
    logged = mlflow.calls[2:4]
    for (call, step, metrics), record in zip(logged, trainer.history):
        assert call == "log_metrics" and step == record["epoch"]
        assert metrics == {key: value for key, value in record.items() if key != "epoch"}
    assert mlflow.calls[4:] == [("end_run", "FINISHED")]


def test_mlflow_logger_leaves_an_active_run_open(trainer, monkeypatch):
    mlflow = FakeMlflow(active=True)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    X, y = _data()
    trainer.fit(X, y, epochs=1, verbose=False, callbacks=[MLflowLogger()])
    assert [call[0] for call in mlflow.calls] == ["log_metrics"]


def test_mlflow_logger_without_mlflow_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingDependencyError, match="MLflowLogger needs mlflow: install it with "
                                                     "pip install mlflow"):
        MLflowLogger()
