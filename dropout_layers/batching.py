"""Running a compiled function over the rows of large inputs, one batch at a time.

:func:`predict_in_batches` is the one loop that prediction, evaluation,
ensembles and Monte-Carlo dropout use to keep memory flat: it calls a
function on consecutive row slices of its inputs and concatenates what the
function returns.

Examples
--------
>>> import numpy as np
>>> from dropout_layers.batching import predict_in_batches
>>> X = np.arange(10.0).reshape(5, 2)
>>> predict_in_batches(lambda x: x.sum(axis=1), [X], batch_size=2)
array([ 1.,  5.,  9., 13., 17.])
"""
import numpy as np

from .checks import check_positive_int

__all__ = ["batch_slices", "predict_in_batches"]


def batch_slices(n_rows, batch_size=None):
    """Consecutive row slices covering ``range(n_rows)``, each at most ``batch_size`` long.

    Parameters
    ----------
    n_rows : int
    batch_size : int, optional
        None gives one slice of all rows.

    Returns
    -------
    list of slice
        Empty for ``n_rows == 0``.
    """
    if batch_size is None:
        return [slice(0, n_rows)] if n_rows else []
    batch_size = check_positive_int(batch_size, "batch_size")
    return [slice(start, min(start + batch_size, n_rows)) for start in range(0, n_rows, batch_size)]


def predict_in_batches(fn, inputs, batch_size=None):
    """Call ``fn(*batch)`` on row slices of ``inputs`` and concatenate its outputs.

    Parameters
    ----------
    fn : callable
        Takes one array per input, returns an array or a list or tuple of
        arrays, each with one row per input row.
    inputs : sequence of numpy.ndarray
        Arrays with equal first dimensions.
    batch_size : int, optional
        Rows per call; all rows in one call by default.

    Returns
    -------
    numpy.ndarray or list of numpy.ndarray
        Like ``fn``'s return value, for all rows.

    Raises
    ------
    ValueError
        If the inputs disagree on their number of rows.
    """
    inputs = list(inputs)
    n_rows = {len(array) for array in inputs}
    if len(n_rows) != 1:
        raise ValueError(
            f"predict_in_batches: inputs have different numbers of rows {sorted(n_rows)}"
        )
    (n,) = n_rows
    # No rows still make one call, so that the outputs have their shapes.
    slices = batch_slices(n, batch_size) or [slice(0, 0)]
    parts = [fn(*(array[rows] for array in inputs)) for rows in slices]
    if isinstance(parts[0], (list, tuple)):
        return [np.concatenate(chunks) for chunks in zip(*parts)]
    return np.concatenate(parts)
