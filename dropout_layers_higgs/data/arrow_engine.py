"""The fast parser: pyarrow's multithreaded CSV reader over a block of lines.

Each column is converted to its final type as pyarrow parses it:
``EventId`` to int64 (never through float64), ``Label`` to a boolean with
``s`` true and ``b`` false, ``KaggleSet`` to a string matched against
:data:`~.schema.KAGGLE_SETS`, everything else to float64. Quoting, null
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
from .values import ParsedBlock

__all__ = ["ArrowEngine", "arrow_available"]

# Smallest piece of a block that one pyarrow thread parses.
_MIN_TASK_BYTES = 64 << 10


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
        Typical block size; each block is cut into pieces parsed in
        parallel, about two per core.
    """

    name = "arrow"

    def __init__(self, schema, delimiter, block_bytes):
        import pyarrow as pa
        import pyarrow.compute as compute
        import pyarrow.csv as csv

        self._pa, self._csv, self._compute = pa, csv, compute
        self.schema = schema
        types = {name: self._type(schema.kind(name)) for name in schema.columns}
        task_bytes = max(_MIN_TASK_BYTES, block_bytes // (2 * max(pa.cpu_count(), 1)))
        self._read_options = csv.ReadOptions(column_names=list(schema.columns),
                                             block_size=int(task_bytes), use_threads=True)
        self._parse_options = csv.ParseOptions(delimiter=delimiter, quote_char=False,
                                               double_quote=False, escape_char=False,
                                               newlines_in_values=False,
                                               ignore_empty_lines=False)
        self._convert_options = csv.ConvertOptions(
            column_types=types, null_values=[], true_values=["s"], false_values=["b"],
            strings_can_be_null=False, quoted_strings_can_be_null=False)
        self._sets = pa.array(KAGGLE_SETS)

    def _type(self, kind):
        pa = self._pa
        return {"id": pa.int64(), "letter-label": pa.bool_(), "set": pa.string()}.get(
            kind, pa.float64())

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
        # Without CRs, quoting or skipped blank lines, one row is one line.
        n_lines = table.num_rows
        # Parsed as float64 and rounded once to float32, as the validator does;
        # an overflow becomes inf here, and the validator names it.
        features = np.empty((n_lines, len(schema.features)), dtype=np.float32)
        with np.errstate(over="ignore"):
            for j, name in enumerate(schema.features):
                features[:, j] = table.column(name).to_numpy()
        columns = {"features": features}
        for name in schema.columns:
            kind = schema.kind(name)
            if kind == "feature":
                continue
            column = table.column(name)
            if kind == "set":
                column = self._compute.index_in(column, value_set=self._sets)
                if column.null_count:
                    return None
                columns[name] = column.to_numpy().astype(np.int8)
            elif kind == "letter-label":
                columns[name] = column.to_numpy(zero_copy_only=False).astype(np.int8)
            else:
                columns[name] = column.to_numpy()
        return ParsedBlock(columns)
