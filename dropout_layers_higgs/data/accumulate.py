"""Arrays that grow in place as blocks of events arrive.

The reader cannot know how many events a file holds before it has read it
(a gzip stream hides its size), and collecting blocks to join them at the
end would hold every value twice. :class:`Accumulator` instead writes each
block into preallocated arrays and grows them with :meth:`numpy.ndarray.resize`,
which reallocates in place (``mremap`` for large arrays on Linux), so the
feature matrix exists once and reading peaks near one float32 matrix plus
one block. NumPy zero-fills what it adds, so the reader reserves what the
first block predicts (about 2% over) rather than a generous bound.

Examples
--------
>>> import numpy as np
>>> from dropout_layers_higgs.data.values import ParsedBlock
>>> sink = Accumulator(["features", "Label"], n_features=2, capacity=1)
>>> for n in (2, 3):
...     sink.append(ParsedBlock({"features": np.ones((n, 2), np.float32),
...                              "Label": np.zeros(n, np.int8)}))
>>> arrays = sink.finish()
>>> arrays["features"].shape, arrays["Label"].shape
((5, 2), (5,))
"""
import numpy as np

__all__ = ["Accumulator"]

_DTYPES = {"features": np.float32, "EventId": np.int64, "Weight": np.float64,
           "KaggleWeight": np.float64, "Label": np.int8, "KaggleSet": np.int8}


class Accumulator:
    """Preallocated, growing arrays for the columns ``names``.

    Parameters
    ----------
    names : sequence of str
        ``'features'`` and the other columns kept (keys of a
        :class:`~.values.ParsedBlock` after checking).
    n_features : int
    capacity : int
        Rows to reserve at first; an estimate, grown by a quarter when passed.
    """

    def __init__(self, names, n_features, capacity):
        capacity = max(int(capacity), 1)
        self.n_rows = 0
        self._arrays = {}
        for name in names:
            shape = (capacity, n_features) if name == "features" else (capacity,)
            self._arrays[name] = np.empty(shape, dtype=_DTYPES[name])

    @property
    def capacity(self):
        """Rows that fit without growing."""
        return len(self._arrays["features"])

    def _resize(self, rows):
        for array in self._arrays.values():
            # Nothing else refers to these arrays, so they may move.
            array.resize((rows,) + array.shape[1:], refcheck=False)

    def reserve(self, rows):
        """Make room for ``rows`` more rows (an estimate: unused room costs nothing)."""
        if self.n_rows + rows > self.capacity:
            if self.n_rows == 0:  # fresh arrays: untouched until written, not zero-filled
                self._arrays = {name: np.empty((int(rows),) + array.shape[1:], array.dtype)
                                for name, array in self._arrays.items()}
            else:
                self._resize(self.n_rows + int(rows))

    def append(self, block):
        """Copy a checked :class:`~.values.ParsedBlock` after the rows held."""
        stop = self.n_rows + block.n_rows
        if stop > self.capacity:
            self._resize(max(stop, self.capacity + self.capacity // 4))
        for name, array in self._arrays.items():
            array[self.n_rows:stop] = block[name]
        self.n_rows = stop

    def finish(self):
        """Trim to the rows held and return the arrays by name; the accumulator is spent."""
        self._resize(self.n_rows)
        arrays, self._arrays = self._arrays, {}
        return arrays
