"""The parser without optional dependencies: NumPy's C parser over a block.

The single-letter fields (``Label``, ``KaggleSet``) are swapped for digits
in place, found from the end of each line, so that :func:`numpy.loadtxt`
reads the whole block at once, with ``EventId`` as int64 through a
structured dtype. A block holding any byte outside what a valid file can
hold (digits, signs, ``.``, ``e``, the letters of ``nan``/``inf`` and the
codes, the delimiter, spaces and tabs) is not given to NumPy, whose float
parser is more lenient than the :mod:`.validator` grammar; it goes to the
validator, as does every block NumPy refuses.
"""
import io

import numpy as np

from .schema import KAGGLE_SETS
from .values import ParsedBlock

__all__ = ["NumpyEngine"]

# Digit (as an ASCII code) standing in for each letter of the Label and
# KaggleSet columns; 0 marks a byte that is not a valid letter.
_LABEL_CODES = np.zeros(256, dtype=np.uint8)
_LABEL_CODES[[ord("b"), ord("s")]] = [ord("0"), ord("1")]
_SET_CODES = np.zeros(256, dtype=np.uint8)
_SET_CODES[[ord(name) for name in KAGGLE_SETS]] = [ord(str(i)) for i in range(len(KAGGLE_SETS))]
_NUMBER_BYTES = b"0123456789+-.eE \t\nnaNAifIFtyTY"


class NumpyEngine:
    """Parse blocks of one file's lines with :func:`numpy.loadtxt`.

    Parameters
    ----------
    schema : Schema
    delimiter : str
    """

    name = "numpy"

    def __init__(self, schema, delimiter, block_bytes=None):
        self.schema = schema
        self.delimiter = delimiter
        allowed = _NUMBER_BYTES + delimiter.encode()
        if schema.has("Label"):
            allowed += b"sb"
        if schema.has("KaggleSet"):
            allowed += "".join(KAGGLE_SETS).encode()
        self._allowed = np.zeros(256, dtype=bool)
        self._allowed[list(allowed)] = True
        fields = []
        for name in schema.columns:
            kind = schema.kind(name)
            if kind == "feature":
                if name == schema.features[0]:
                    fields.append(("features", np.float64, (len(schema.features),)))
                continue
            fields.append((name, {"id": np.int64, "letter-label": np.int8, "set": np.int8}
                           .get(kind, np.float64)))
        self._dtype = np.dtype(fields)

    def parse(self, block):
        """Return the block's :class:`~.values.ParsedBlock`, or None if NumPy refuses it."""
        buf = np.frombuffer(block, dtype=np.uint8)
        if not self._allowed[buf].all():
            return None
        n_lines = int(np.count_nonzero(buf == ord("\n")))
        if self.schema.has("Label"):
            block = self._encode_letters(buf, n_lines)
            if block is None:
                return None
        try:
            values = np.loadtxt(io.BytesIO(block), delimiter=self.delimiter, dtype=self._dtype,
                                comments=None, ndmin=1)
        except ValueError:
            return None
        if values.shape != (n_lines,):
            return None  # loadtxt skips blank lines
        columns = {name: np.ascontiguousarray(values[name]) for name in self._dtype.names}
        return ParsedBlock(columns)

    def _encode_letters(self, buf, n_lines):
        """Replace the Label (and KaggleSet) letters by digit codes, or return None.

        Label is the last field of a Kaggle training row; Label and KaggleSet
        are the third and second last of an open-data row.
        """
        line_ends = np.flatnonzero(buf == ord("\n"))
        delimiters = np.flatnonzero(buf == ord(self.delimiter))
        if len(line_ends) != n_lines or len(delimiters) < 3:
            return None
        last = np.searchsorted(delimiters, line_ends) - 1
        if self.schema.name == "kaggle-train":
            positions, tables = [line_ends - 1], [_LABEL_CODES]
            ok = buf[line_ends - 2] == ord(self.delimiter)
        else:
            ok = last >= 2
            last = np.maximum(last, 2)
            positions, tables = [], [_LABEL_CODES, _SET_CODES]
            for from_end in (2, 1):  # Label, then KaggleSet
                positions.append(delimiters[last - from_end] + 1)
                ok &= delimiters[last - from_end + 1] == positions[-1] + 1
        codes = [table[buf[position]] for position, table in zip(positions, tables)]
        for code in codes:
            ok &= code != 0
        if not ok.all():
            return None
        encoded = buf.copy()
        for position, code in zip(positions, codes):
            encoded[position] = code
        return encoded.tobytes()
