"""Writers of the Kaggle schema and of challenge submissions.

Both write to a temporary file beside the destination and move it into place
(:func:`dropout_layers.files.atomic_path`), so a reader never sees half a
file; a name ending in ``.gz`` is gzip-compressed. Numbers are written in
their shortest round-trip form, so :func:`~.load.load_higgs` reads back
exactly what was written.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "submission.csv")
>>> write_submission(path, [350000, 350001], [0.2, 0.9], threshold=0.5)
>>> print(open(path).read(), end="")
EventId,RankOrder,Class
350000,1,b
350001,2,s
"""
import gzip
import os

import numpy as np

from dropout_layers.files import atomic_path

from .schema import KAGGLE_FEATURES, KAGGLE_TEST_COLUMNS, KAGGLE_TRAIN_COLUMNS, UCI_FEATURES

__all__ = ["write_kaggle_csv", "write_submission", "write_uci_csv"]


def write_kaggle_csv(path, event_ids, X, weights=None, labels=None,
                     feature_names=KAGGLE_FEATURES, chunk_rows=65536):
    """Write events in the Kaggle ``training.csv`` or ``test.csv`` schema.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; written to a temporary file in the same directory and
        moved into place, so a reader never sees half a file. A name ending
        in ``.gz`` is gzip-compressed.
    event_ids : array_like of int, shape (n,)
    X : array_like of float, shape (n, 30)
        Values are written in their shortest round-trip form (``repr``), so
        :func:`load_higgs` reads back exactly ``X.astype(float32)``; pass
        float64 values when the float64 values matter (as for weights).
    weights, labels : array_like, shape (n,), or None
        Both (training schema, labels 1/True for signal) or neither (test schema).
    feature_names : sequence of str
        Must be :data:`KAGGLE_FEATURES`; checked so that UCI data is not
        written under Kaggle column names by mistake.
    chunk_rows : int
        Rows formatted at a time.
    """
    path = os.fspath(path)
    if tuple(feature_names) != KAGGLE_FEATURES:
        names = tuple(feature_names)
        raise ValueError(f"{path}: write_kaggle_csv needs the 30 Kaggle features in order, "
                         f"got {len(names)} names starting {names[:2]}")
    if (weights is None) != (labels is None):
        raise ValueError(f"{path}: pass both weights and labels (training schema) or neither "
                         "(test schema)")
    event_ids = np.asarray(event_ids)
    if not np.issubdtype(event_ids.dtype, np.integer):
        raise TypeError(f"{path}: event_ids must be integers, got dtype {event_ids.dtype}")
    X = np.asarray(X)
    n = len(event_ids)
    if X.shape != (n, len(KAGGLE_FEATURES)):
        raise ValueError(f"{path}: X has shape {X.shape}, expected ({n}, {len(KAGGLE_FEATURES)})")
    jet_num_column = KAGGLE_FEATURES.index("PRI_jet_num")
    if not np.isin(X[:, jet_num_column], (0, 1, 2, 3)).all():
        raise ValueError(f"{path}: PRI_jet_num must hold the integers 0..3")
    columns = KAGGLE_TEST_COLUMNS
    if labels is not None:
        weights = np.asarray(weights, dtype=np.float64)
        labels = np.asarray(labels)
        if weights.shape != (n,) or labels.shape != (n,):
            raise ValueError(f"{path}: weights {weights.shape} and labels {labels.shape} must "
                             f"have shape ({n},)")
        columns = KAGGLE_TRAIN_COLUMNS

    def lines(start, stop):
        fields = [_format_numbers(event_ids[start:stop].astype(np.int64))]
        # PRI_jet_num is written as an integer, as in the Kaggle files.
        fields += [_format_numbers(X[start:stop, j].astype(np.int64) if j == jet_num_column
                                   else X[start:stop, j]) for j in range(X.shape[1])]
        if labels is not None:
            fields.append(_format_numbers(weights[start:stop]))
            fields.append(np.where(labels[start:stop].astype(bool), "s", "b"))
        return _join_rows(fields)

    _write_atomically(path, ",".join(columns), lines, n, chunk_rows)


def write_submission(path, event_ids, scores, threshold):
    """Write a Kaggle Higgs challenge submission file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; written to a temporary file in the same directory and
        moved into place with :func:`os.replace`.
    event_ids : array_like of int, shape (n,)
        Unique event identifiers.
    scores : array_like of float, shape (n,)
        Classifier outputs, larger meaning more signal-like.
    threshold : float
        Events with ``score >= threshold`` are classified ``s``.

    Notes
    -----
    The file has the columns ``EventId,RankOrder,Class``. ``RankOrder`` is a
    permutation of 1..n with n the most signal-like event; tied scores are
    ranked in the order the events are given.
    """
    path = os.fspath(path)
    event_ids = np.asarray(event_ids)
    scores = np.asarray(scores, dtype=np.float64)
    if event_ids.ndim != 1 or scores.shape != event_ids.shape:
        raise ValueError(f"{path}: event_ids {event_ids.shape} and scores {scores.shape} must "
                         "be 1-d of the same length")
    if len(event_ids) == 0:
        raise ValueError(f"{path}: no events to write")
    if not np.issubdtype(event_ids.dtype, np.integer):
        raise TypeError(f"{path}: event_ids must be integers, got dtype {event_ids.dtype}")
    if len(np.unique(event_ids)) != len(event_ids):
        raise ValueError(f"{path}: event_ids are not unique")
    if not np.isfinite(scores).all():
        row = int(np.argmax(~np.isfinite(scores)))
        raise ValueError(f"{path}: score of EventId {event_ids[row]} is {scores[row]}")
    if not np.isfinite(threshold):
        raise ValueError(f"{path}: threshold must be finite, got {threshold}")
    rank = np.empty(len(scores), dtype=np.int64)
    rank[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    label = np.where(scores >= threshold, "s", "b")

    def lines(start, stop):
        return _join_rows([_format_numbers(event_ids[start:stop].astype(np.int64)),
                           _format_numbers(rank[start:stop]), label[start:stop]])

    _write_atomically(path, "EventId,RankOrder,Class", lines, len(scores), 262144)


def write_uci_csv(path, X, y, delimiter=",", chunk_rows=65536):
    """Write events in the UCI ``HIGGS.csv`` format: no header, the label, then 28 features.

    Parameters
    ----------
    path : str or os.PathLike
        Destination, written atomically; ``.gz`` for a compressed file.
    X : array_like of float, shape (n, 28)
        Written in shortest round-trip form, so :func:`~.load.load_higgs`
        reads back ``X.astype(float32)`` exactly.
    y : array_like of {0, 1}, shape (n,)
    delimiter : str
        The field separator: a comma or a tab character.
    chunk_rows : int
        Rows formatted at a time.
    """
    path = os.fspath(path)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != len(UCI_FEATURES) or y.shape != (len(X),):
        raise ValueError(f"{path}: X {X.shape} and y {y.shape} must have shapes (n, "
                         f"{len(UCI_FEATURES)}) and (n,)")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{path}: labels must be 0 or 1")
    if delimiter not in (",", "\t"):
        raise ValueError(f"{path}: delimiter must be ',' or a tab, got {delimiter!r}")
    labels = y.astype(np.int64)

    def lines(start, stop):
        fields = [_format_numbers(labels[start:stop])]
        # As float64, so that reading (float64, then rounded once to float32)
        # gives back X.astype(float32) exactly.
        fields += [_format_numbers(X[start:stop, j].astype(np.float64))
                   for j in range(X.shape[1])]
        return _join_rows(fields, delimiter)

    _write_atomically(path, None, lines, len(X), chunk_rows)


def _format_numbers(values):
    """Shortest round-trip decimal strings of ``values``, as a NumPy array."""
    string_dtype = getattr(np.dtypes, "StringDType", None)
    if string_dtype is not None:
        return values.astype(string_dtype())
    return np.array([repr(v) for v in values.tolist()], dtype=object)


def _join_rows(fields, delimiter=","):
    if hasattr(np, "strings"):
        row = fields[0]
        for field in fields[1:]:
            row = np.strings.add(np.strings.add(row, delimiter), field.astype(row.dtype))
        return "".join(line + "\n" for line in row.tolist())
    return "".join(delimiter.join(map(str, parts)) + "\n" for parts in zip(*fields))


def _write_atomically(path, header, lines, n_rows, chunk_rows):
    opener = gzip.open if path.endswith(".gz") else open
    with atomic_path(path) as temporary:
        with opener(temporary, "wt", encoding="ascii", newline="\n") as out:
            if header is not None:
                out.write(header + "\n")
            for start in range(0, n_rows, chunk_rows):
                out.write(lines(start, min(start + chunk_rows, n_rows)))
