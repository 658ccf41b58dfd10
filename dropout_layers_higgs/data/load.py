r"""load_higgs: read one or several Higgs files into one HiggsData (or DataFrame).

Examples
--------
>>> import os, tempfile
>>> from dropout_layers_higgs.data.schema import KAGGLE_TRAIN_COLUMNS
>>> folder = tempfile.mkdtemp()
>>> row = ["0"] * 30 + ["1.5"]
>>> for name, first_id, label in (("sig.csv", 1, "s"), ("bg.csv", 3, "b")):
...     with open(os.path.join(folder, name), "w") as out:
...         _ = out.write(",".join(KAGGLE_TRAIN_COLUMNS) + "\n")
...         for event in (first_id, first_id + 1):
...             _ = out.write(",".join([str(event)] + row + [label]) + "\n")
>>> data = load_higgs([os.path.join(folder, "sig.csv"), os.path.join(folder, "bg.csv")])
>>> data.event_ids.tolist(), data.y.tolist(), [os.path.basename(p) for p in data.paths]
([1, 2, 3, 4], [1, 1, 0, 0], ['sig.csv', 'bg.csv'])
"""
import os
import zlib

import numpy as np

from dropout_layers.checks import check_positive_int

from ..errors import HiggsDataError
from .accumulate import Accumulator
from .container import DataSource, HiggsData
from .dataset_checks import class_problem, first_duplicate
from .reader import FileReader, ReadOptions, resolve_engine
from .schema import FORMATS, KAGGLE_SETS, clip
from .sources import expand_paths

__all__ = ["load_higgs"]


def load_higgs(path, format=None, chunk_rows=None, progress=None, allow_single_class=False,
               engine="auto", as_frame=False):
    """Load Kaggle, CERN open-data or UCI Higgs files.

    Parameters
    ----------
    path : str, os.PathLike, or a sequence of them
        A file (plain or gzip-compressed), a glob pattern, a directory (its
        files ending in ``.csv``, ``.csv.gz``, ``.tsv``, ``.txt``, ...), or
        a list of these, e.g. ``["sig.csv", "bg.csv"]``. The files must have
        the same columns; their events follow each other in the order given,
        a pattern's or directory's files in name order (see
        :mod:`~dropout_layers_higgs.data.sources`), with their EventIds kept.
    format : {None, 'kaggle-train', 'kaggle-test', 'opendata', 'uci'}
        The expected format; None detects it from the first line (a header
        starting with ``EventId`` means Kaggle or open data, a numeric row
        means UCI).
    chunk_rows : int or None
        Rows parsed at once; None sizes blocks from the file (1-4 MiB of
        text). Bounds the temporary memory, not the result.
    progress : bool or None
        Show a progress bar (by bytes read) on standard error. None shows
        one for files over 32 MiB when standard error is a terminal.
    allow_single_class : bool
        Accept labelled data in which one class has no events or no weight
        (an error by default: such data cannot train a classifier).
    engine : {'auto', 'arrow', 'numpy', 'python'}
        The parser: pyarrow's multithreaded reader (``'auto'`` when pyarrow
        is installed), NumPy's, or the careful validator alone. All give the
        same arrays and the same errors.
    as_frame : bool
        Return a :class:`pandas.DataFrame` (see :meth:`HiggsData.to_frame`).

    Returns
    -------
    HiggsData or pandas.DataFrame

    Raises
    ------
    HiggsDataError
        If a file is missing, empty or malformed, the files' columns differ,
        an EventId repeats, or the labels or weights cannot train; one line,
        starting with the path and naming the line and column at fault.
    """
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} or None, got {format!r}")
    if chunk_rows is not None:
        chunk_rows = check_positive_int(chunk_rows, "chunk_rows")
    options = ReadOptions(format, resolve_engine(engine), chunk_rows, progress)
    data = _read_files(expand_paths(path), options)
    _check_whole(data, allow_single_class)
    return data.to_frame() if as_frame else data


def _read_files(paths, options):
    first, sink, sources = None, None, []
    for path in paths:
        if not os.path.exists(path):
            raise HiggsDataError(clip(f"{path}: no such file"))
        try:
            with open(path, "rb") as raw:
                reader = FileReader(path, raw, options)
                if first is None:
                    first = reader
                    names = ["features"] + [c for c in reader.schema.columns
                                            if reader.schema.kind(c) != "feature"]
                    names = ["Label" if c == "label" else c for c in names]
                    sink = Accumulator(names, len(reader.schema.features), 0)
                elif reader.schema is not first.schema:
                    reader.fail(f"has the {reader.schema.name} columns but {first.path} has the "
                                f"{first.schema.name} columns; all files must have the same "
                                "columns")
                n_events = reader.read_into(sink)
        except (OSError, EOFError, zlib.error) as exc:
            # Truncated or corrupt gzip streams surface here, mid-file.
            raise HiggsDataError(clip(f"{path}: cannot read file ({exc})")) from exc
        sources.append(DataSource(path, reader.first_data_line, n_events))
    arrays = sink.finish()
    set_codes = arrays.get("KaggleSet")
    return HiggsData(
        X=arrays["features"], feature_names=first.schema.features, y=arrays.get("Label"),
        weights=arrays.get("Weight"), event_ids=arrays.get("EventId"),
        kaggle_set=None if set_codes is None else np.asarray(KAGGLE_SETS)[set_codes],
        kaggle_weight=arrays.get("KaggleWeight"), format=first.schema.name,
        path=", ".join(paths), sources=sources,
    )


def _check_whole(data, allow_single_class):
    if data.event_ids is not None:
        pair = first_duplicate(data.event_ids)
        if pair is not None:
            (first_path, first_line), (path, line) = data.locate(pair[0]), data.locate(pair[1])
            where = (f"lines {first_line} and {line}" if path == first_path
                     else f"line {line} and on line {first_line} of {first_path}")
            raise HiggsDataError(clip(f"{path}: EventId {data.event_ids[pair[1]]} appears "
                                      f"twice, on {where}"))
    if data.y is not None:
        problem = class_problem(data.y, data.weights, allow_single_class)
        if problem:
            raise HiggsDataError(clip(f"{data.path}: {problem}"))
