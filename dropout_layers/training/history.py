"""The record of a training run: one row of figures per epoch.

A row is a plain dict, for example::

    {"epoch": 3, "train_loss": 0.512, "valid_loss": 0.498, "valid_auc": 0.81,
     "learning_rate": 0.001, "seconds": 1.7}

``train_loss`` is measured with dropout active, averaged over the epoch's
batches while the parameters change; ``valid_loss`` and the ``valid_*``
metrics are measured deterministically on the validation set at the end of
the epoch. Callbacks may add their own keys.

:meth:`History.to_dict` gives a JSON-serialisable dict (this is what
checkpoints store) and :meth:`History.from_dict` reads it back;
:meth:`History.format_table` prints the nolearn-style epoch table.
"""
import math
import numbers

import numpy as np

__all__ = ["History"]

#: Columns in the order the table shows them; other keys follow, sorted.
_LEADING = ("epoch", "train_loss", "valid_loss")
_TRAILING = ("learning_rate", "seconds")


def _plain(value):
    """Turn NumPy scalars and 0-d arrays into JSON-friendly Python scalars."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _format_value(key, value, width):
    if value is None:
        text = "-"
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        text = str(value)
    elif isinstance(value, numbers.Integral):
        text = str(value)
    elif math.isnan(value) or math.isinf(value):
        text = str(value)
    elif key == "seconds":
        text = f"{value:.2f}"
    elif key == "learning_rate":
        text = f"{value:.3g}"
    else:
        text = f"{value:.5f}"
    return text.rjust(width)


class History:
    """Per-epoch figures of a training run.

    Parameters
    ----------
    records : iterable of dict, optional
        Rows, each with an ``"epoch"`` entry.
    interrupted : dict or None
        Set by the fit loop when Ctrl-C stopped training:
        ``{"epoch": e, "batches_done": b, "batches_total": n}`` (the epoch
        that was cut short, which has no row) or, when the signal came
        after the last batch, the completed epoch with ``b == n``.

    Attributes
    ----------
    records : list of dict
    interrupted : dict or None
    """

    def __init__(self, records=(), interrupted=None):
        self.records = []
        for record in records:
            self.append(record)
        self.interrupted = None if interrupted is None else dict(interrupted)

    def append(self, record):
        """Add one epoch's row (copied, with NumPy scalars made plain).

        Raises
        ------
        ValueError
            If the row has no integer ``"epoch"`` entry.
        """
        record = {str(key): _plain(value) for key, value in dict(record).items()}
        epoch = record.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
            raise ValueError(f"a history row needs an integer 'epoch' entry, got {record!r}")
        self.records.append(record)
        return record

    def __len__(self):
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, index):
        return self.records[index]

    @property
    def last(self):
        """The last row, or ``None`` for an empty history."""
        return self.records[-1] if self.records else None

    def keys(self):
        """All keys of all rows, in table order."""
        seen = []
        for record in self.records:
            seen.extend(key for key in record if key not in seen)
        leading = [key for key in _LEADING if key in seen]
        trailing = [key for key in _TRAILING if key in seen]
        middle = [key for key in seen if key not in leading and key not in trailing]
        valid = sorted(key for key in middle if key.startswith("valid_"))
        others = sorted(key for key in middle if not key.startswith("valid_"))
        return leading + valid + others + trailing

    def column(self, key):
        """Return the values of ``key`` over the epochs (``None`` where a row lacks it)."""
        return [record.get(key) for record in self.records]

    def best(self, monitor, mode="min"):
        """Return the row with the best value of ``monitor``; the first one on ties.

        Parameters
        ----------
        monitor : str
            A key of the rows, for example ``"valid_loss"``.
        mode : {'min', 'max'}

        Returns
        -------
        dict or None
            ``None`` when no row has a finite value of ``monitor``.
        """
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        best = None
        for record in self.records:
            value = record.get(monitor)
            if value is None or not np.isfinite(value):
                continue
            if best is None or (value < best[monitor] if mode == "min" else value > best[monitor]):
                best = record
        return best

    def to_dict(self):
        """Return a JSON-serialisable copy: ``{"records": [...], "interrupted": ...}``."""
        return {"records": [dict(record) for record in self.records],
                "interrupted": None if self.interrupted is None else dict(self.interrupted)}

    @classmethod
    def from_dict(cls, data):
        """Rebuild a history from :meth:`to_dict`'s output.

        A plain list of rows is accepted too.

        Raises
        ------
        ValueError
            If ``data`` is neither.
        """
        if isinstance(data, (list, tuple)):
            return cls(data)
        if not isinstance(data, dict) or "records" not in data:
            raise ValueError(
                "History.from_dict expects a dict with a 'records' list (from History.to_dict) "
                f"or a list of rows, got {type(data).__name__}"
            )
        return cls(data["records"], interrupted=data.get("interrupted"))

    def _widths(self, keys):
        return {key: max(len(key), 9) for key in keys}

    def format_header(self, keys=None):
        """Format the table's header line and rule, for ``keys`` (default: :meth:`keys`)."""
        keys = self.keys() if keys is None else list(keys)
        widths = self._widths(keys)
        header = "  ".join(key.rjust(widths[key]) for key in keys)
        return header + "\n" + "  ".join("-" * widths[key] for key in keys)

    def format_row(self, record, keys=None):
        """One row of the table."""
        keys = self.keys() if keys is None else list(keys)
        widths = self._widths(keys)
        return "  ".join(_format_value(key, record.get(key), widths[key]) for key in keys)

    def format_table(self, keys=None):
        """Format the whole table: header, rule and one line per epoch."""
        keys = self.keys() if keys is None else list(keys)
        lines = [self.format_header(keys)]
        lines.extend(self.format_row(record, keys) for record in self.records)
        if self.interrupted is not None:
            lines.append(_interrupted_note(self.interrupted))
        return "\n".join(lines)

    def __repr__(self):
        return f"History({len(self.records)} epochs{', interrupted' if self.interrupted else ''})"


def _interrupted_note(info):
    done, total = info.get("batches_done"), info.get("batches_total")
    if done is not None and done == total:
        return f"interrupted after epoch {info.get('epoch')}"
    return (f"interrupted in epoch {info.get('epoch')} after batch {done} of {total} "
            "(that epoch has no row)")
