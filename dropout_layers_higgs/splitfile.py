"""``split.csv``: which events trained, validated and tested a run.

``train_higgs.py`` writes it to ``--out`` so that the held-out events can be
scored again later, by ``predict_higgs.py --split higgs_out/split.csv``, in
a notebook, or by another tool. One line per event that took part, in the
order of the data files::

    Row,EventId,Part
    0,100000,train
    1,100001,test
    2,100002,valid

``Row`` counts the events of the ``--data`` files from 0, in the order they
were given; ``EventId`` (Kaggle and open data only) is the file's own id;
``Part`` is ``train`` and ``valid`` (a single network's training and
validation events), ``pool`` (a bag's events: each trained all networks but
the one that scored it out of fold) or ``test`` (held out from all
training: they chose nothing). Events of no part (the open-data file's
leaderboard sets) are not listed.

Examples
--------
>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "split.csv")
>>> write_split(path, {"train": [0, 2], "valid": [3], "test": [1]}, event_ids=[7, 8, 9, 10])
>>> print(open(path).read(), end="")
Row,EventId,Part
0,7,train
1,8,test
2,9,train
3,10,valid
>>> split = read_split(path)
>>> split.rows_of("test").tolist(), split.event_ids_of("test").tolist()
([1], [8])
"""
import dataclasses

import numpy as np

from dropout_layers.files import atomic_path

from .errors import HiggsDataError

__all__ = ["SPLIT_NAME", "PARTS", "Split", "write_split", "read_split", "part_index"]

#: The file's name in ``--out``.
SPLIT_NAME = "split.csv"
#: The parts: a single network's ``train`` and ``valid``, a bag's ``pool``, and ``test``.
PARTS = ("train", "valid", "pool", "test")
_LINES_PER_WRITE = 100_000


def write_split(path, parts, event_ids=None):
    """Write the events of each part to ``path`` (atomically), in row order.

    Parameters
    ----------
    path : str or os.PathLike
    parts : dict
        ``{part: row numbers}`` for parts among :data:`PARTS`; disjoint.
    event_ids : array_like of int, optional
        The events' ids, indexed by row number.

    Raises
    ------
    ValueError
        For an unknown part or a row in two parts.
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"write_split: unknown parts {unknown}; expected {PARTS}")
    rows = np.concatenate([np.asarray(parts[name], dtype=np.int64) for name in parts] or
                          [np.zeros(0, np.int64)])
    codes = np.concatenate([np.full(len(parts[name]), PARTS.index(name)) for name in parts] or
                           [np.zeros(0, np.int64)])
    order = np.argsort(rows, kind="stable")
    rows, codes = rows[order], codes[order]
    if len(rows) > 1 and np.any(rows[1:] == rows[:-1]):
        raise ValueError("write_split: a row is in two parts")
    ids = None if event_ids is None else np.asarray(event_ids, dtype=np.int64)[rows]
    header = "Row,EventId,Part" if ids is not None else "Row,Part"
    with atomic_path(path) as temporary, open(temporary, "w", encoding="ascii") as out:
        out.write(header + "\n")
        for start in range(0, len(rows), _LINES_PER_WRITE):
            stop = start + _LINES_PER_WRITE
            columns = [rows[start:stop].astype(str)]
            if ids is not None:
                columns.append(ids[start:stop].astype(str))
            columns.append(np.asarray(PARTS)[codes[start:stop]])
            out.write("".join(",".join(fields) + "\n" for fields in zip(*columns)))


@dataclasses.dataclass
class Split:
    """The contents of a ``split.csv``.

    Attributes
    ----------
    path : str
    rows : numpy.ndarray of int64
    event_ids : numpy.ndarray of int64 or None
    parts : numpy.ndarray of str
    """

    path: str
    rows: np.ndarray
    event_ids: np.ndarray
    parts: np.ndarray

    def rows_of(self, part):
        """Return the row numbers of ``part``."""
        return self.rows[self.parts == part]

    def event_ids_of(self, part):
        """Return the event ids of ``part`` (None for a file without them)."""
        return None if self.event_ids is None else self.event_ids[self.parts == part]


def _parse_line(path, number, line, n_fields):
    fields = line.rstrip("\r\n").split(",")
    if len(fields) != n_fields:
        raise HiggsDataError(f"{path}: line {number}: expected {n_fields} fields, found "
                             f"{len(fields)}")
    if fields[-1] not in PARTS:
        raise HiggsDataError(f"{path}: line {number}: part {fields[-1][:40]!r} is not one of "
                             f"{', '.join(PARTS)}")
    numbers = []
    for name, text in zip(("Row", "EventId"), fields[:-1]):
        if not (text.isascii() and text.isdigit()):
            raise HiggsDataError(f"{path}: line {number}, column {name}: {text[:40]!r} is not "
                                 "a non-negative integer")
        numbers.append(int(text))
    return numbers, fields[-1]


def read_split(path):
    """Read a ``split.csv`` written by :func:`write_split`.

    Returns
    -------
    Split

    Raises
    ------
    HiggsDataError
        If the file is missing or malformed, naming the line at fault.
    """
    try:
        with open(path, encoding="ascii", errors="replace") as lines:
            header = lines.readline().rstrip("\r\n")
            if header not in ("Row,EventId,Part", "Row,Part"):
                raise HiggsDataError(f"{path}: line 1 is {header[:60]!r}; expected the header "
                                     "Row,EventId,Part or Row,Part of a split.csv")
            n_fields = header.count(",") + 1
            parsed = [_parse_line(path, number, line, n_fields)
                      for number, line in enumerate(lines, start=2) if line.strip()]
    except OSError as exc:
        raise HiggsDataError(f"{path}: cannot read ({exc.strerror})") from None
    numbers = np.array([values for values, _ in parsed], dtype=np.int64).reshape(-1, n_fields - 1)
    parts = np.array([part for _, part in parsed], dtype="<U5")
    if len(np.unique(numbers[:, 0])) != len(numbers):
        raise HiggsDataError(f"{path}: a Row is listed twice")
    return Split(str(path), numbers[:, 0], numbers[:, 1] if n_fields == 3 else None, parts)


def part_index(split, part, n_events, event_ids=None):
    """Find the events of ``part`` in data of ``n_events`` events, checked against the data.

    Events are matched by ``EventId`` when both the split and the data have
    ids (so that the files may come in another order), else by row.

    Parameters
    ----------
    split : Split
    part : str
        One of :data:`PARTS`.
    n_events : int
        Events in the data.
    event_ids : numpy.ndarray, optional
        The data's ids.

    Returns
    -------
    numpy.ndarray of int64
        Positions in the data, in the split's order.

    Raises
    ------
    HiggsDataError
        If the part is empty, or names events that the data lack.
    """
    rows = split.rows_of(part)
    if len(rows) == 0:
        raise HiggsDataError(f"{split.path}: has no events in part {part!r}")
    wanted = split.event_ids_of(part)
    if wanted is not None and event_ids is not None:
        order = np.argsort(event_ids, kind="stable")
        positions = np.searchsorted(event_ids[order], wanted).clip(0, len(order) - 1)
        found = event_ids[order][positions] == wanted
        if not found.all():
            raise HiggsDataError(f"{split.path}: EventId {wanted[~found][0]} of part {part!r} "
                                 f"is not in the data ({(~found).sum():,} of {len(wanted):,} "
                                 "missing)")
        return order[positions].astype(np.int64)
    if rows.max() >= n_events:
        raise HiggsDataError(f"{split.path}: part {part!r} lists row {rows.max()}, but the data "
                             f"hold {n_events:,} events; give the --data files of the run, in "
                             "its order")
    return rows.astype(np.int64)
