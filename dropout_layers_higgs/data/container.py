"""HiggsData: the events of one or several Higgs files, held as NumPy arrays.

Examples
--------
>>> import numpy as np
>>> data = HiggsData(X=np.zeros((3, 2), np.float32), feature_names=("a", "b"),
...                  y=np.array([1, 0, 1], np.int8),
...                  sources=(DataSource("sig.csv", 2, 2), DataSource("bg.csv", 2, 1)))
>>> data.n_events, data.paths, data.locate(2)
(3, ('sig.csv', 'bg.csv'), ('bg.csv', 2))
>>> data.subset([0, 2]).y.tolist()
[1, 1]
"""
import dataclasses

import numpy as np

from . import frames

__all__ = ["HiggsData", "DataSource"]


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A run of consecutive events read from one file.

    Attributes
    ----------
    path : str
    first_line : int
        Line of the file that holds the run's first event (2 after a header).
    n_events : int
    """

    path: str
    first_line: int
    n_events: int


@dataclasses.dataclass(eq=False)
class HiggsData:
    """Events of Higgs data files, held as NumPy arrays.

    Attributes
    ----------
    X : numpy.ndarray, float32, shape (n_events, n_features)
        The features; undefined Kaggle features hold :data:`~.schema.MISSING_VALUE`.
    feature_names : tuple of str
        Name of each column of ``X``.
    y : numpy.ndarray of int8 or None
        1 for signal, 0 for background; None for unlabelled (test) data.
    weights : numpy.ndarray of float64 or None
        The ``Weight`` column (Kaggle training and open data).
    event_ids : numpy.ndarray of int64 or None
        The ``EventId`` column (Kaggle and open data).
    kaggle_set : numpy.ndarray of str (``<U1``) or None
        Open data only: ``'t'``, ``'b'``, ``'v'`` or ``'u'`` per event.
    kaggle_weight : numpy.ndarray of float64 or None
        Open data only: the weight renormalised within its ``kaggle_set``.
    format : str or None
        One of :data:`~.schema.FORMATS`, or None for data made in memory.
    path : str or None
        The file the data came from; several files' paths joined by ``', '``.
    sources : tuple of DataSource
        The files, in the order their events follow each other in the
        arrays; empty for data made in memory or taken by :meth:`subset`.
    """

    X: np.ndarray
    feature_names: tuple
    y: np.ndarray = None
    weights: np.ndarray = None
    event_ids: np.ndarray = None
    kaggle_set: np.ndarray = None
    kaggle_weight: np.ndarray = None
    format: str = None
    path: str = None
    sources: tuple = ()

    def __post_init__(self):
        self.feature_names = tuple(self.feature_names)
        self.sources = tuple(self.sources)
        if self.X.ndim != 2 or self.X.shape[1] != len(self.feature_names):
            raise ValueError(
                f"HiggsData: X has shape {self.X.shape}, expected (n_events, "
                f"{len(self.feature_names)}) to match feature_names"
            )
        for name in ("y", "weights", "event_ids", "kaggle_set", "kaggle_weight"):
            value = getattr(self, name)
            if value is not None and value.shape != (self.X.shape[0],):
                raise ValueError(
                    f"HiggsData: {name} has shape {value.shape}, expected ({self.X.shape[0]},)"
                )
        if self.sources and sum(s.n_events for s in self.sources) != self.X.shape[0]:
            raise ValueError(f"HiggsData: sources hold {sum(s.n_events for s in self.sources)} "
                             f"events, X {self.X.shape[0]}")

    def __len__(self):
        return self.X.shape[0]

    @property
    def n_events(self):
        """Number of events (rows)."""
        return self.X.shape[0]

    @property
    def n_features(self):
        """Number of features (columns of ``X``)."""
        return self.X.shape[1]

    @property
    def paths(self):
        """The files the events came from, in order (empty for data made in memory)."""
        return tuple(source.path for source in self.sources)

    def locate(self, row):
        """Return ``(path, line)``: the file and line that hold event ``row``."""
        row = int(row)
        if not 0 <= row < self.n_events:
            raise IndexError(f"HiggsData: row {row} out of range for {self.n_events} events")
        for source in self.sources:
            if row < source.n_events:
                return source.path, source.first_line + row
            row -= source.n_events
        raise ValueError("HiggsData: no sources to locate events in (data made in memory)")

    def subset(self, index):
        """Return the events selected by ``index`` (a boolean mask or integer indices).

        Weights are copied as they are; renormalising them for the subset is
        the metric's business (see :func:`dropout_layers_higgs.metrics.ams_curve`).
        The subset has no ``sources``: its rows no longer follow the files.
        """
        def take(value):
            return None if value is None else value[index]

        return dataclasses.replace(
            self, X=self.X[index], y=take(self.y), weights=take(self.weights),
            event_ids=take(self.event_ids), kaggle_set=take(self.kaggle_set),
            kaggle_weight=take(self.kaggle_weight), sources=(),
        )

    def to_frame(self, copy=False):
        """Return the events as a :class:`pandas.DataFrame` with the file's column names.

        See :func:`~.frames.to_frame`; needs the ``pandas`` extra.
        """
        return frames.to_frame(self, copy=copy)

    @classmethod
    def from_frame(cls, frame, format=None, name="DataFrame"):
        """Build HiggsData from a :class:`pandas.DataFrame`, checking its columns.

        See :func:`~.frames.from_frame` for the columns accepted; a missing,
        unexpected or reordered column, or a bad value, raises
        :class:`~dropout_layers_higgs.errors.HiggsDataError` naming it.
        """
        return cls(**frames.from_frame(frame, format=format, name=name))
