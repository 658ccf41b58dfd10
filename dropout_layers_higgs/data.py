"""Readers and writers for the Higgs boson data sets.

Three public releases of the ATLAS/UCI Higgs data are understood:

``kaggle-train`` / ``kaggle-test``
    ``training.csv`` (250,000 events) and ``test.csv`` (550,000 events) of the
    2014 Kaggle Higgs Boson Machine Learning Challenge: a header, then
    ``EventId``, the 30 features of :data:`KAGGLE_FEATURES` and, in the
    training file only, ``Weight`` and ``Label`` (``s`` or ``b``).
``opendata``
    ``atlas-higgs-challenge-2014-v2.csv`` from the CERN Open Data Portal
    (818,238 events): the training columns plus ``KaggleSet`` (``t``
    training, ``b`` public leaderboard, ``v`` private leaderboard, ``u``
    unused) and ``KaggleWeight`` (the weight renormalised within its set).
``uci``
    ``HIGGS.csv`` of the UCI repository (Baldi et al. 2014, 11,000,000 rows):
    no header, the label (1 signal, 0 background) and then the 28 features of
    :data:`UCI_FEATURES`, comma- or tab-separated, no weights.

Any of these may be gzip-compressed; compression is detected from the file's
magic bytes, not its name.

The reader works on blocks of about ``chunk_rows`` lines so that the 11 million row UCI
file never exists as Python objects: the single-character ``s``/``b`` (and
``KaggleSet``) fields are swapped for digits with :meth:`bytes.replace`, which
lets NumPy's C parser (:func:`numpy.loadtxt`) read the whole block at once.
Only when a block fails to parse is it walked line by line, to name the line
and column at fault.
"""
import dataclasses
import gzip
import io
import os
import re
import sys
import zlib

import numpy as np

from dropout_layers.files import atomic_path

from .errors import HiggsDataError

__all__ = [
    "HiggsData", "HiggsDataError", "load_higgs", "write_kaggle_csv", "write_submission",
    "KAGGLE_FEATURES", "UCI_FEATURES", "KAGGLE_TRAIN_COLUMNS", "KAGGLE_TEST_COLUMNS",
    "OPENDATA_COLUMNS", "FORMATS", "KAGGLE_SETS", "MISSING_VALUE",
]

#: Marker for an undefined feature in the Kaggle and open-data files.
MISSING_VALUE = -999.0

#: The 30 features of the Kaggle and open-data files, in file order.
KAGGLE_FEATURES = (
    "DER_mass_MMC", "DER_mass_transverse_met_lep", "DER_mass_vis", "DER_pt_h",
    "DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet", "DER_deltar_tau_lep",
    "DER_pt_tot", "DER_sum_pt", "DER_pt_ratio_lep_tau", "DER_met_phi_centrality",
    "DER_lep_eta_centrality", "PRI_tau_pt", "PRI_tau_eta", "PRI_tau_phi", "PRI_lep_pt",
    "PRI_lep_eta", "PRI_lep_phi", "PRI_met", "PRI_met_phi", "PRI_met_sumet", "PRI_jet_num",
    "PRI_jet_leading_pt", "PRI_jet_leading_eta", "PRI_jet_leading_phi",
    "PRI_jet_subleading_pt", "PRI_jet_subleading_eta", "PRI_jet_subleading_phi",
    "PRI_jet_all_pt",
)

#: The 28 features of the UCI HIGGS file (21 low-level, then 7 high-level).
UCI_FEATURES = (
    "lepton_pt", "lepton_eta", "lepton_phi", "missing_energy_magnitude", "missing_energy_phi",
    "jet1_pt", "jet1_eta", "jet1_phi", "jet1_btag",
    "jet2_pt", "jet2_eta", "jet2_phi", "jet2_btag",
    "jet3_pt", "jet3_eta", "jet3_phi", "jet3_btag",
    "jet4_pt", "jet4_eta", "jet4_phi", "jet4_btag",
    "m_jj", "m_jjj", "m_lv", "m_jlv", "m_bb", "m_wbb", "m_wwbb",
)

KAGGLE_TEST_COLUMNS = ("EventId",) + KAGGLE_FEATURES
KAGGLE_TRAIN_COLUMNS = KAGGLE_TEST_COLUMNS + ("Weight", "Label")
OPENDATA_COLUMNS = KAGGLE_TRAIN_COLUMNS + ("KaggleSet", "KaggleWeight")
UCI_COLUMNS = ("label",) + UCI_FEATURES

FORMATS = ("kaggle-train", "kaggle-test", "opendata", "uci")

#: Values of the open-data ``KaggleSet`` column: training, public
#: leaderboard, private leaderboard, unused.
KAGGLE_SETS = ("t", "b", "v", "u")

_COLUMNS = {
    "kaggle-train": KAGGLE_TRAIN_COLUMNS,
    "kaggle-test": KAGGLE_TEST_COLUMNS,
    "opendata": OPENDATA_COLUMNS,
    "uci": UCI_COLUMNS,
}

# A block of this many rows is parsed at once: ~24 MB of Kaggle text (~70 MB
# of UCI text) and ~25 MB of float64, whatever the size of the file.
_DEFAULT_CHUNK_ROWS = 100_000
# Files smaller than this load in about a second: no progress bar.
_PROGRESS_MIN_BYTES = 32 * 2**20
# Digit (as an ASCII code) standing in for each letter of the Label and
# KaggleSet columns; 0 marks a byte that is not a valid letter.
_LABEL_CODES = np.zeros(256, dtype=np.uint8)
_LABEL_CODES[[ord("b"), ord("s")]] = [ord("0"), ord("1")]
_KAGGLE_SET_CODES = np.zeros(256, dtype=np.uint8)
_KAGGLE_SET_CODES[[ord(name) for name in KAGGLE_SETS]] = [ord(str(i)) for i in range(4)]
# What NumPy's float parser accepts (used only to explain a failed block).
_NUMBER = re.compile(
    r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)", re.IGNORECASE
)


@dataclasses.dataclass(eq=False)
class HiggsData:
    """Events of one Higgs data file, held as NumPy arrays.

    Attributes
    ----------
    X : numpy.ndarray, float32, shape (n_events, n_features)
        The features; undefined Kaggle features hold :data:`MISSING_VALUE`.
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
        One of :data:`FORMATS`, or None for data made in memory.
    path : str or None
        The file the data came from.
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

    def __post_init__(self):
        self.feature_names = tuple(self.feature_names)
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

    def subset(self, index):
        """Return the events selected by ``index`` (a boolean mask or integer indices).

        Weights are copied as they are; renormalising them for the subset is
        the metric's business (see :func:`dropout_layers_higgs.metrics.ams_curve`).
        """
        def take(value):
            return None if value is None else value[index]

        return dataclasses.replace(
            self, X=self.X[index], y=take(self.y), weights=take(self.weights),
            event_ids=take(self.event_ids), kaggle_set=take(self.kaggle_set),
            kaggle_weight=take(self.kaggle_weight),
        )


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def load_higgs(path, format=None, chunk_rows=_DEFAULT_CHUNK_ROWS, progress=None,
               allow_single_class=False):
    """Load a Kaggle, CERN open-data or UCI Higgs file.

    Parameters
    ----------
    path : str or os.PathLike
        The file, plain or gzip-compressed.
    format : {None, 'kaggle-train', 'kaggle-test', 'opendata', 'uci'}
        The expected format; None detects it from the first line (a header
        starting with ``EventId`` means Kaggle or open data, a numeric row
        means UCI).
    chunk_rows : int
        Approximate number of rows parsed at once; bounds the temporary
        memory, not the result.
    progress : bool or None
        Show a progress bar (by bytes read) on standard error. None shows
        one for files over 32 MiB when standard error is a terminal.
    allow_single_class : bool
        Accept labelled data holding only signal or only background events
        (an error by default: such a file cannot train or score a classifier).

    Returns
    -------
    HiggsData

    Raises
    ------
    HiggsDataError
        If the file is missing, empty or malformed; the message starts with
        the path and names the line and column at fault.
    """
    path = os.fspath(path)
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)} or None, got {format!r}")
    if int(chunk_rows) < 1:
        raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if not os.path.exists(path):
        raise HiggsDataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise HiggsDataError(f"{path}: is a directory, not a data file")
    try:
        with open(path, "rb") as raw:
            return _Reader(path, raw, format, int(chunk_rows), progress,
                           allow_single_class).read()
    except (OSError, EOFError, zlib.error) as exc:
        # Truncated or corrupt gzip streams surface here, mid-file.
        raise HiggsDataError(f"{path}: cannot read file ({exc})") from exc


class _Reader:
    """One pass over one file; the state shared by the block parser."""

    def __init__(self, path, raw, format, chunk_rows, progress, allow_single_class):
        self.path = path
        self.raw = raw
        self.requested_format = format
        self.chunk_rows = chunk_rows
        self.progress = progress
        self.allow_single_class = allow_single_class

    def fail(self, message):
        raise HiggsDataError(f"{self.path}: {message}")

    # -- set-up ----------------------------------------------------------

    def read(self):
        magic = self.raw.read(2)
        self.raw.seek(0)
        stream = self.raw
        if magic == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=self.raw, mode="rb")
        first = stream.readline()
        if not first.strip():
            if first and stream.read(1 << 16).strip():
                self.fail("line 1 is empty; expected a header or a data row")
            self.fail("file is empty")
        first_text = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
        self.format = self._detect_format(first_text)
        self.columns = _COLUMNS[self.format]
        if self.format == "uci":
            # No header: the first line is data, and it tells the delimiter.
            self.delimiter = "\t" if "\t" in first_text else ","
            pending, first_line = first.removeprefix(b"\xef\xbb\xbf"), 1
        else:
            self._check_header(first_text)
            self.delimiter = ","
            pending, first_line = b"", 2
        return self._read_blocks(stream, pending, first_line)

    def _detect_format(self, first_line):
        head = re.split(r"[,\t]", first_line)
        has_header = head[0].strip() == "EventId"
        if self.requested_format is not None:
            if self.requested_format == "uci" and not _NUMBER.fullmatch(head[0].strip()):
                self.fail(
                    f"line 1 starts with {head[0][:40]!r}; a UCI file has no header and "
                    "starts with a numeric label"
                )
            if self.requested_format != "uci" and not has_header:
                self.fail(
                    f"line 1 is not a {self.requested_format} header: it starts with "
                    f"{head[0][:40]!r}, expected 'EventId'"
                )
            return self.requested_format
        if has_header:
            names = {name.strip() for name in head}
            if "KaggleSet" in names or "KaggleWeight" in names:
                return "opendata"
            if "Label" in names or "Weight" in names:
                return "kaggle-train"
            return "kaggle-test"
        if _NUMBER.fullmatch(head[0].strip()):
            return "uci"
        self.fail(
            f"unrecognised first line starting with {first_line[:40]!r}: expected a header "
            "starting with 'EventId' (Kaggle or open data) or a headerless numeric UCI row"
        )

    def _check_header(self, header):
        if "\t" in header and "," not in header:
            self.fail(f"the header is tab-separated; {self.format} files are comma-separated")
        found = [name.strip() for name in header.split(",")]
        expected = list(self.columns)
        if found == expected:
            return
        missing = [name for name in expected if name not in found]
        unexpected = [name for name in found if name not in expected]
        duplicated = sorted({name for name in found if found.count(name) > 1})
        problems = []
        if missing:
            problems.append(f"missing columns {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected columns {', '.join(map(repr, unexpected))}")
        if duplicated:
            problems.append(f"duplicated columns {', '.join(duplicated)}")
        if not problems:
            position = next(i for i, (a, b) in enumerate(zip(found, expected)) if a != b)
            problems.append(
                f"columns out of order: column {position + 1} is {found[position]}, "
                f"expected {expected[position]}"
            )
        self.fail(f"header does not match the {self.format} format: {'; '.join(problems)}")

    # -- the block loop --------------------------------------------------

    def _read_blocks(self, stream, pending, first_line):
        size = os.fstat(self.raw.fileno()).st_size
        bar = _progress_bar(self.path, size, self.progress)
        # Bytes per block from the first row's length (Kaggle rows are ~240
        # bytes, UCI rows ~700); at least 4 KiB so that reads stay sensible.
        sample = pending or stream.peek(1 << 16)
        row_bytes = sample.find(b"\n") + 1 or 256
        block_bytes = max(self.chunk_rows * row_bytes, 4096)
        parts = {key: [] for key in ("X", "y", "weights", "event_ids", "set_codes",
                                     "kaggle_weight")}
        n_rows = 0
        try:
            for block in _blocks(stream, block_bytes, pending):
                n_lines = block.count(b"\n")
                self._parse_block(block, first_line, n_lines, parts)
                first_line += n_lines
                n_rows += n_lines
                bar.update(self.raw.tell() - bar.n)
        finally:
            bar.close()
        if n_rows == 0:
            self.fail("no data rows after the header")
        return self._assemble(parts)

    def _parse_block(self, block, first_line, n_lines, parts):
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        original = block
        if self.format in ("kaggle-train", "opendata"):
            block = self._encode_letters(block, first_line, n_lines)
        try:
            values = np.loadtxt(io.BytesIO(block), delimiter=self.delimiter, dtype=np.float64,
                                comments=None, ndmin=2)
        except ValueError as exc:
            self._explain(original, first_line)
            self.fail(f"lines {first_line}-{first_line + n_lines - 1}: cannot parse ({exc})")
        if values.shape != (n_lines, len(self.columns)):
            # loadtxt skips blank lines and tolerates some ragged input.
            self._explain(original, first_line)
            self.fail(f"lines {first_line}-{first_line + n_lines - 1}: cannot parse")
        self._check_values(values, first_line)
        self._collect(values, parts)

    def _encode_letters(self, block, first_line, n_lines):
        """Replace the one-letter fields (Label, KaggleSet) by digit codes.

        The fields are located from the end of each line: Label is the last
        field of a Kaggle training row, and Label and KaggleSet the third and
        second last of an open-data row.
        """
        buf = np.frombuffer(block, dtype=np.uint8)
        line_ends = np.flatnonzero(buf == ord("\n"))
        ok = np.ones(n_lines, dtype=bool)
        starts = []
        if self.format == "kaggle-train":
            starts.append(line_ends - 1)
            ok &= buf[line_ends - 2] == ord(self.delimiter)
            tables = [_LABEL_CODES]
        else:
            delimiters = np.flatnonzero(buf == ord(self.delimiter))
            if len(delimiters) < 3:
                self._explain(block, first_line)
            last = np.searchsorted(delimiters, line_ends) - 1
            ok &= last >= 2
            last = np.maximum(last, 2)
            for from_end in (2, 1):  # Label, then KaggleSet
                starts.append(delimiters[last - from_end] + 1)
                ok &= delimiters[last - from_end + 1] == starts[-1] + 1
            tables = [_LABEL_CODES, _KAGGLE_SET_CODES]
        codes = [table[buf[start]] for start, table in zip(starts, tables)]
        for code in codes:
            ok &= code != 0
        if not ok.all():
            self._explain(block, first_line)
            self.fail(f"line {first_line + int(np.argmin(ok))}: unreadable Label or KaggleSet")
        encoded = bytearray(block)
        view = np.frombuffer(encoded, dtype=np.uint8)
        for start, code in zip(starts, codes):
            view[start] = code
        return encoded

    # -- validation ------------------------------------------------------

    def _explain(self, block, first_line):
        """Walk a block that failed to parse and raise for its first bad field."""
        text = block.decode("utf-8", errors="replace")
        for offset, line in enumerate(text.split("\n")[:-1]):
            where = f"line {first_line + offset}"
            if not line.strip():
                self.fail(f"{where} is empty")
            fields = line.split(self.delimiter)
            if len(fields) != len(self.columns):
                self.fail(
                    f"{where}: expected {len(self.columns)} "
                    f"{_delimiter_name(self.delimiter)}-separated fields, found {len(fields)}"
                )
            for name, field in zip(self.columns, fields):
                value = field.strip()
                if name == "Label":
                    if value not in ("s", "b"):
                        self.fail(f"{where}: Label must be 's' or 'b', found {field!r}")
                elif name == "KaggleSet":
                    if value not in KAGGLE_SETS:
                        self.fail(f"{where}: KaggleSet must be one of t, b, v, u, found {field!r}")
                elif not _NUMBER.fullmatch(value):
                    self.fail(f"{where}, column {name}: non-numeric value {field!r}")

    def _check_values(self, values, first_line):
        finite = np.isfinite(values)
        if not finite.all():
            row, col = np.argwhere(~finite)[0]
            self.fail(f"line {first_line + row}, column {self.columns[col]}: "
                      f"{values[row, col]} is not a finite number")
        first_bad = self._first_bad_row

        if self.format == "uci":
            row = first_bad(~np.isin(values[:, 0], (0.0, 1.0)))
            if row is not None:
                self.fail(f"line {first_line + row}: label must be 0 or 1, "
                          f"found {_show(values[row, 0])}")
            return
        ids = values[:, 0]
        row = first_bad(ids != np.floor(ids))
        if row is not None:
            self.fail(f"line {first_line + row}, column EventId: expected an integer, "
                      f"found {_show(ids[row])}")
        jet_num = values[:, 1 + KAGGLE_FEATURES.index("PRI_jet_num")]
        row = first_bad(~np.isin(jet_num, (0.0, 1.0, 2.0, 3.0)))
        if row is not None:
            self.fail(f"line {first_line + row}, column PRI_jet_num: expected an integer "
                      f"0..3, found {_show(jet_num[row])}")
        for name in ("Weight", "KaggleWeight"):
            if name in self.columns:
                weight = values[:, self.columns.index(name)]
                row = first_bad(weight < 0)
                if row is not None:
                    self.fail(f"line {first_line + row}, column {name}: weights must be "
                              f"non-negative, found {_show(weight[row])}")

    @staticmethod
    def _first_bad_row(bad):
        return int(np.argmax(bad)) if bad.any() else None

    # -- output ----------------------------------------------------------

    def _collect(self, values, parts):
        index = self.columns.index
        if self.format == "uci":
            parts["X"].append(values[:, 1:].astype(np.float32))
            parts["y"].append(values[:, 0].astype(np.int8))
            return
        parts["event_ids"].append(values[:, 0].astype(np.int64))
        parts["X"].append(values[:, 1:1 + len(KAGGLE_FEATURES)].astype(np.float32))
        if "Label" in self.columns:
            parts["y"].append(values[:, index("Label")].astype(np.int8))
            parts["weights"].append(values[:, index("Weight")].copy())
        if "KaggleSet" in self.columns:
            parts["set_codes"].append(values[:, index("KaggleSet")].astype(np.int8))
            parts["kaggle_weight"].append(values[:, index("KaggleWeight")].copy())

    def _assemble(self, parts):
        def joined(key):
            return np.concatenate(parts[key]) if parts[key] else None

        y = joined("y")
        if y is not None and not self.allow_single_class:
            n_signal = int(y.sum())
            if n_signal in (0, len(y)):
                kind = "signal" if n_signal else "background"
                self.fail(f"all {len(y)} events are {kind}; training needs both signal and background events")
        set_codes = joined("set_codes")
        return HiggsData(
            X=joined("X"),
            feature_names=UCI_FEATURES if self.format == "uci" else KAGGLE_FEATURES,
            y=y, weights=joined("weights"), event_ids=joined("event_ids"),
            kaggle_set=None if set_codes is None else np.asarray(KAGGLE_SETS)[set_codes],
            kaggle_weight=joined("kaggle_weight"), format=self.format, path=self.path,
        )


def _blocks(stream, block_bytes, pending=b""):
    """Yield blocks of whole lines, each ending with a newline.

    Whitespace at the end of the file (trailing blank lines) is dropped; a
    blank line anywhere else stays and is reported by the parser.
    """
    block = pending + stream.read(block_bytes)
    while block:
        if not block.endswith(b"\n"):
            block += stream.readline()
        following = stream.read(block_bytes)
        # Gather whitespace-only reads so that "the end of the file" is known.
        while following and not following.strip():
            more = stream.read(block_bytes)
            if not more:
                break
            following += more
        if not following.strip():
            block = block.rstrip()
            if block:
                yield block + b"\n"
            return
        yield block
        block = following


def _progress_bar(path, total_bytes, progress):
    from tqdm.auto import tqdm

    if progress is None:
        progress = total_bytes >= _PROGRESS_MIN_BYTES and sys.stderr.isatty()
    return tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"reading {os.path.basename(path)}", disable=not progress, leave=False)


def _show(value):
    """Shortest text of a number: 4 rather than 4.0, 100001.5 rather than 100002."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _delimiter_name(delimiter):
    return {",": "comma", "\t": "tab"}[delimiter]


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

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


def _format_numbers(values):
    """Shortest round-trip decimal strings of ``values``, as a NumPy array."""
    string_dtype = getattr(np.dtypes, "StringDType", None)
    if string_dtype is not None:
        return values.astype(string_dtype())
    return np.array([repr(v) for v in values.tolist()], dtype=object)


def _join_rows(fields):
    if hasattr(np, "strings"):
        row = fields[0]
        for field in fields[1:]:
            row = np.strings.add(np.strings.add(row, ","), field.astype(row.dtype))
        return "".join(line + "\n" for line in row.tolist())
    return "".join(",".join(map(str, parts)) + "\n" for parts in zip(*fields))


def _write_atomically(path, header, lines, n_rows, chunk_rows):
    opener = gzip.open if path.endswith(".gz") else open
    with atomic_path(path) as temporary:
        with opener(temporary, "wt", encoding="ascii", newline="\n") as out:
            out.write(header + "\n")
            for start in range(0, n_rows, chunk_rows):
                out.write(lines(start, min(start + chunk_rows, n_rows)))
