"""Experiment logging from the fit loop: a CSV file, TensorBoard and MLflow.

Each logger is a :class:`~dropout_layers.training.Callback` that records the
rows of ``trainer.history``, one per epoch, with the history's own column
names (``epoch``, ``train_loss``, ``valid_loss``, ``valid_<metric>``,
``learning_rate``, ``seconds`` and whatever other callbacks add):

* :class:`CSVLogger` rewrites one CSV file after every epoch, atomically,
  so it always holds the whole history (a resumed run's earlier epochs
  included) and a crash never leaves half a row;
* :class:`TensorBoard` writes one scalar per column at step ``epoch``
  through ``tensorboardX``, a small package of the ``log`` extra
  (``pip install "dropout_layers[log]"``);
* :class:`MLflowLogger` logs the same figures to the active MLflow run, or
  to a run it starts, when ``mlflow`` is installed.

The optional packages are imported when a logger is created, so a missing
one is reported before any training, with the command that installs it.
:func:`read_tensorboard_scalars` reads an event directory back.

Examples
--------
>>> import csv, os, tempfile
>>> import numpy as np
>>> import dropout_layers as dl
>>> from dropout_layers.training import CSVLogger, Trainer
>>> network = dl.DenseLayer(dl.InputLayer((None, 2)), 1,
...                         nonlinearity=dl.nonlinearities.sigmoid)
>>> X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], dtype="float32")
>>> y = np.array([1, 0, 1, 0], dtype="float32")
>>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
>>> history = Trainer(network, mode="FAST_COMPILE").fit(
...     X, y, epochs=3, callbacks=[CSVLogger(path)], verbose=False)
>>> rows = list(csv.DictReader(open(path)))
>>> [row["epoch"] for row in rows], list(rows[0])
(['1', '2', '3'], ['epoch', 'train_loss', 'learning_rate', 'seconds'])
"""
import csv
import importlib
import numbers
import os
import struct

from ..errors import DropoutLayersError
from ..files import atomic_path
from .callbacks import Callback

__all__ = ["CSVLogger", "TensorBoard", "MLflowLogger", "MissingDependencyError",
           "read_tensorboard_scalars", "TENSORBOARD_INSTALL_HINT", "MLFLOW_INSTALL_HINT"]

TENSORBOARD_INSTALL_HINT = ('TensorBoard logging needs tensorboardX: install it with '
                            'pip install "dropout_layers[log]" (or pip install tensorboardX)')
MLFLOW_INSTALL_HINT = "MLflowLogger needs mlflow: install it with pip install mlflow"


class MissingDependencyError(DropoutLayersError, ImportError):
    """An optional package that a feature needs is not installed."""


def _require(module, hint):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(hint) from None


def _scalars(record):
    """Return the numeric entries of an epoch row, as floats, without the epoch itself."""
    return {key: float(value) for key, value in record.items()
            if key != "epoch" and isinstance(value, numbers.Real) and not isinstance(value, bool)}


class CSVLogger(Callback):
    """Keep a CSV file of the training history, one row per epoch.

    After every epoch the whole of ``trainer.history`` is written to a
    temporary file beside ``path`` and renamed over it
    (:func:`dropout_layers.files.atomic_path`), so a reader or a crash sees
    the previous complete file or the new one. The columns are the
    history's, in the epoch table's order; a row without a column has an
    empty field; floats are written with ``repr`` and read back exactly.

    Parameters
    ----------
    path : str or path-like
        The CSV file; its directory must exist.

    Attributes
    ----------
    path : str
    rows_written : int
        Rows in the file after the last write.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"CSVLogger: the directory of {self.path} does not exist")
        self.rows_written = 0

    def write(self, history):
        """Write ``history`` to :attr:`path`, replacing the file atomically."""
        keys = history.keys()
        with atomic_path(self.path) as temporary:
            with open(temporary, "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(keys)
                for record in history:
                    writer.writerow(["" if record.get(key) is None else record.get(key)
                                     for key in keys])
        self.rows_written = len(history)

    def on_train_begin(self, trainer):
        """Write the rows of a resumed run's earlier epochs at once."""
        if len(trainer.history):
            self.write(trainer.history)

    def on_epoch_end(self, trainer, epoch, record):
        """Rewrite the file with the new row."""
        self.write(trainer.history)


class TensorBoard(Callback):
    """Log every epoch's figures as TensorBoard scalars, through ``tensorboardX``.

    Each numeric column of the epoch row (``train_loss``, ``valid_loss``,
    ``valid_auc``, ``learning_rate``, ``seconds``, ...) becomes a scalar of
    that tag at step ``epoch``, written and flushed at the end of the epoch.
    ``tensorboard --logdir DIR`` shows them.

    Parameters
    ----------
    log_dir : str or path-like
        Directory of the event files (created if missing). Give each run
        its own, or a subdirectory per run of one directory, to compare
        runs.

    Raises
    ------
    MissingDependencyError
        When ``tensorboardX`` is not installed.
    """

    def __init__(self, log_dir):
        self._tensorboardX = _require("tensorboardX", TENSORBOARD_INSTALL_HINT)
        self.log_dir = os.fspath(log_dir)
        self.writer = None

    def on_train_begin(self, trainer):
        """Open the event file."""
        if self.writer is None:
            self.writer = self._tensorboardX.SummaryWriter(self.log_dir)

    def on_epoch_end(self, trainer, epoch, record):
        """Write the row's scalars at step ``epoch`` and flush them to disk."""
        for tag, value in _scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=epoch)
        self.writer.flush()

    def on_train_end(self, trainer):
        """Close the event file (a later ``fit`` opens a new one in the same directory)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class MLflowLogger(Callback):
    """Log every epoch's figures to MLflow, when ``mlflow`` is installed.

    Parameters
    ----------
    run_name : str, optional
        Name of the run this logger starts when no MLflow run is active;
        inside ``with mlflow.start_run():`` the active run is used and left
        open.
    params : dict, optional
        Hyper-parameters to log once, at the start of training.

    Raises
    ------
    MissingDependencyError
        When ``mlflow`` is not installed.

    Notes
    -----
    Metrics are logged with ``mlflow.log_metrics(row, step=epoch)``. A run
    this logger started is ended in ``on_train_end``, with status
    ``KILLED`` when Ctrl-C stopped training and ``FINISHED`` otherwise; an
    exception that escapes the fit loop leaves it to MLflow (or the
    enclosing ``with``) to end.
    """

    def __init__(self, run_name=None, params=None):
        self._mlflow = _require("mlflow", MLFLOW_INSTALL_HINT)
        self.run_name = run_name
        self.params = dict(params or {})
        self._started = False

    def on_train_begin(self, trainer):
        """Start a run if none is active, and log the parameters."""
        if self._mlflow.active_run() is None:
            self._mlflow.start_run(run_name=self.run_name)
            self._started = True
        if self.params:
            self._mlflow.log_params(self.params)

    def on_epoch_end(self, trainer, epoch, record):
        """Log the row's figures at step ``epoch``."""
        self._mlflow.log_metrics(_scalars(record), step=epoch)

    def on_train_end(self, trainer):
        """End the run this logger started."""
        if self._started:
            interrupted = trainer.history.interrupted is not None
            self._mlflow.end_run(status="KILLED" if interrupted else "FINISHED")
            self._started = False


def _event_files(path):
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such TensorBoard event file or directory")
    return [os.path.join(path, name) for name in sorted(os.listdir(path))
            if "tfevents" in name and os.path.isfile(os.path.join(path, name))]


def _records(path, masked_crc32c):
    """Yield the data of each complete record of a TFRecord file, checking both checksums."""
    with open(path, "rb") as stream:
        while True:
            offset = stream.tell()
            header = stream.read(12)
            if len(header) < 12:
                return  # the end, or a record the writer had not finished
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != length_crc:
                raise ValueError(f"{path}: corrupt record length at byte {offset}")
            data = stream.read(length)
            footer = stream.read(4)
            if len(data) < length or len(footer) < 4:
                return
            if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise ValueError(f"{path}: corrupt record data at byte {offset}")
            yield data


def read_tensorboard_scalars(path):
    """Read the scalars of TensorBoard event files back.

    The files are TFRecord streams of ``Event`` protocol buffers; each
    record's length and data checksums are verified, and a last record cut
    short (a writer that was killed) is left out.

    Parameters
    ----------
    path : str or path-like
        An event file, or a directory whose ``*tfevents*`` files are read in
        name order (not its subdirectories).

    Returns
    -------
    dict
        ``{tag: [(step, value), ...]}`` in the order written.

    Raises
    ------
    MissingDependencyError
        When ``tensorboardX`` (which holds the protocol buffers) is not
        installed.
    ValueError
        For a record whose checksum does not match, naming file and byte.
    """
    event_pb2 = _require("tensorboardX.proto.event_pb2", TENSORBOARD_INSTALL_HINT)
    masked_crc32c = _require("tensorboardX.record_writer", TENSORBOARD_INSTALL_HINT).masked_crc32c
    scalars = {}
    for file in _event_files(os.fspath(path)):
        for data in _records(file, masked_crc32c):
            event = event_pb2.Event.FromString(data)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append((int(event.step),
                                                              float(value.simple_value)))
    return scalars
