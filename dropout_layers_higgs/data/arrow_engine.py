"""The fast parser: pyarrow's CSV reader over a block of lines, one block per core.

Each column is converted to its final type as pyarrow parses it:
``EventId`` to int64 (never through float64), ``Label`` to a boolean with
``s`` true and ``b`` false, ``KaggleSet`` to a dictionary column whose
values must be :data:`~.schema.KAGGLE_SETS`, everything else to float64. Quoting, null
markers and blank-line skipping are off, so a field pyarrow accepts is one
the careful :mod:`.validator` accepts too (the two exceptions, a lone CR
and hexadecimal integers, are kept from pyarrow); any block pyarrow
refuses, or that comes back with another number of rows, goes to the
validator.

Needs the ``pandas`` extra (``pip install dropout_layers[pandas]``), which
brings pyarrow; :mod:`.numpy_engine` reads without it.
"""
import numpy as np

from .schema import KAGGLE_SETS
from .stream import LINE_LIMIT
from .values import ParsedBlock

__all__ = ["ArrowEngine", "arrow_available"]

# Blocks parsed at once are bounded: past a few, more only cost memory.
_MAX_PARALLEL_BLOCKS = 8


def arrow_available():
    """Whether pyarrow can be imported."""
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


class ArrowEngine:
    """Parse blocks of one file's lines with :func:`pyarrow.csv.read_csv`.

    Parameters
    ----------
    schema : Schema
    delimiter : str
    block_bytes : int
        Typical block size. Each block is parsed whole by one thread.

    Attributes
    ----------
    parallel_blocks : int
        Blocks the reader parses at once, in threads: one per core (at
        least 2). pyarrow releases the GIL, so while it parses, the reader
        cuts and stores other blocks.

    Notes
    -----
    One thread per block, rather than pyarrow's own threads within each
    block, because a block of 1-4 MiB is too small to split well: on 2
    cores a 10^5-row file read in 0.097 s instead of 0.128 s, and 10^6 rows
    as fast as before (medians of five reads, the two versions in turn).
    """

    name = "arrow"

    def __init__(self, schema, delimiter, block_bytes):
        import pyarrow as pa
        import pyarrow.csv as csv

        self._pa, self._csv = pa, csv
        self.schema = schema
        types = {name: self._type(schema.kind(name)) for name in schema.columns}
        self.parallel_blocks = min(max(pa.cpu_count(), 2), _MAX_PARALLEL_BLOCKS)
        # Room for a block with its last line in one piece.
        self._read_options = csv.ReadOptions(column_names=list(schema.columns),
                                             block_size=int(2 * block_bytes + LINE_LIMIT),
                                             use_threads=False)
        self._parse_options = csv.ParseOptions(delimiter=delimiter, quote_char=False,
                                               double_quote=False, escape_char=False,
                                               newlines_in_values=False,
                                               ignore_empty_lines=False)
        self._convert_options = csv.ConvertOptions(
            column_types=types, null_values=[], true_values=["s"], false_values=["b"],
            strings_can_be_null=False, quoted_strings_can_be_null=False)

    def _type(self, kind):
        pa = self._pa
        return {"id": pa.int64(), "letter-label": pa.bool_(),
                "set": pa.dictionary(pa.int32(), pa.string())}.get(kind, pa.float64())

    def parse(self, block):
        """Return the block's :class:`~.values.ParsedBlock`, or None if pyarrow refuses it."""
        pa, schema = self._pa, self.schema
        if b"\r" in block or b"x" in block or b"X" in block:
            # pyarrow takes a lone CR for a line break, and reads 0x10 as an
            # integer; the validator refuses both.
            return None
        try:
            table = self._csv.read_csv(pa.py_buffer(block), read_options=self._read_options,
                                       parse_options=self._parse_options,
                                       convert_options=self._convert_options)
        except pa.ArrowException:
            return None
        if any(column.null_count for column in table.columns):
            return None
        # Without CRs, quoting or skipped blank lines, one row is one line.
        n_lines = table.num_rows
        # Parsed as float64 and rounded once to float32, as the validator does;
        # an overflow becomes inf here, and the validator names it.
        # Each column is cast into a row of a (features, events) array, so
        # that the cast reads and writes contiguous memory; the block holds
        # its transpose, and the one copy into the reader's row-major matrix
        # makes the rows contiguous.
        by_column = np.empty((len(schema.features), n_lines), dtype=np.float32)
        with np.errstate(over="ignore"):
            for j, name in enumerate(schema.features):
                start = 0
                for chunk in table.column(name).chunks:
                    by_column[j, start:start + len(chunk)] = _values(chunk, np.float64)
                    start += len(chunk)
        columns = {"features": by_column.T}
        for name in schema.columns:
            kind = schema.kind(name)
            if kind == "feature":
                continue
            column = table.column(name)
            if kind == "set":
                codes = _set_codes(column)
                if codes is None:
                    return None
                columns[name] = codes
            elif kind == "letter-label":
                columns[name] = _joined(column, _bits)
            else:
                dtype = np.int64 if kind == "id" else np.float64
                columns[name] = _joined(column, lambda chunk: _values(chunk, dtype))
        return ParsedBlock(columns)


def _set_codes(column):
    """KaggleSet codes (indices into KAGGLE_SETS) of a dictionary column, or None."""
    parts = []
    for chunk in column.chunks:
        names = chunk.dictionary.to_pylist()
        if not set(names) <= set(KAGGLE_SETS):
            return None
        lookup = np.array([KAGGLE_SETS.index(name) for name in names], dtype=np.int8)
        parts.append(lookup[_values(chunk.indices, np.int32)] if len(names) else
                     np.zeros(len(chunk), np.int8))
    return np.concatenate(parts) if parts else np.zeros(0, np.int8)


def _values(chunk, dtype):
    """View the values of a null-free chunk of fixed-width numbers, without a copy.

    Read from the buffer directly: ``Array.to_numpy`` imports pandas.
    """
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                         offset=chunk.offset * itemsize)


def _bits(chunk):
    """Return a null-free boolean chunk as int8 0/1 values."""
    bits = np.unpackbits(np.frombuffer(chunk.buffers()[1], dtype=np.uint8), bitorder="little")
    return bits[chunk.offset:chunk.offset + len(chunk)].astype(np.int8)


def _joined(column, convert):
    parts = [convert(chunk) for chunk in column.chunks]
    return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)
