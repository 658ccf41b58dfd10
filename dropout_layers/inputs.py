"""Checking the data a network is fed: shapes, numbers, finiteness, dtypes and column names.

The fit loop, :meth:`~dropout_layers.training.Trainer.predict`, Monte-Carlo
dropout and ensembles take their inputs through :func:`check_features`,
so that a bad array is refused the same way everywhere, with a one-line
:class:`InputError` naming the argument, the row and the column at fault.

pandas objects are accepted wherever arrays are: a ``DataFrame`` gives its
values and its column names (:func:`as_array`), a ``Series`` its values.
pandas itself is never imported here; an object is a DataFrame only if
pandas is already loaded and says so.

Examples
--------
>>> import numpy as np
>>> import dropout_layers as dl
>>> from dropout_layers.inputs import check_features
>>> layer = dl.InputLayer((None, 2))
>>> check_features([[1, 2], [3, 4]], layer).dtype
dtype('float32')
>>> check_features([[1, 2], [3, float("nan")]], layer)
Traceback (most recent call last):
...
dropout_layers.inputs.InputError: X contains nan at row 1, column 1; remove or impute ...
"""
import sys

import numpy as np

from .errors import DropoutLayersError

__all__ = ["InputError", "as_array", "check_numeric", "check_finite", "cast_exactly",
           "check_feature_names", "check_features", "check_targets", "check_weights"]


class InputError(DropoutLayersError, ValueError):
    """Data that a network cannot take: wrong shape, columns or dtype, non-finite values."""


def _pandas_type(value, name):
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, getattr(pandas, name))


def as_array(data, name="X"):
    """Return the values of ``data`` as a NumPy array, and its column names if it has any.

    Parameters
    ----------
    data : array_like, pandas.DataFrame or pandas.Series
    name : str
        Named in error messages.

    Returns
    -------
    array : numpy.ndarray
    columns : list of str or None
        A DataFrame's column names; ``None`` for anything else.

    Raises
    ------
    InputError
        For a DataFrame column that does not hold numbers (naming it).
    """
    if _pandas_type(data, "DataFrame"):
        columns = [str(column) for column in data.columns]
        for column, dtype in zip(columns, data.dtypes):
            if getattr(dtype, "kind", "O") not in "biuf":
                raise InputError(f"{name} column {column!r} has dtype {dtype}; the network takes "
                                 "numbers only (encode or drop that column)")
        return data.to_numpy(), columns
    if _pandas_type(data, "Series"):
        return data.to_numpy(), None
    return np.asarray(data), None


def _first_bad(mask):
    """Index tuple of the first True of ``mask`` in row-major order."""
    return np.unravel_index(int(np.argmax(mask)), mask.shape)


def _where(index, columns=None):
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2:
        column = f" ({columns[index[1]]!r})" if columns else ""
        return f"row {index[0]}, column {index[1]}{column}"
    return f"index {tuple(int(i) for i in index)}"


def check_numeric(array, name):
    """Refuse arrays of strings, objects and other non-numbers."""
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} must hold numbers, got an array of dtype {array.dtype}")


def check_finite(array, name, columns=None):
    """Refuse NaN and infinities, naming the first one's row (and column)."""
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            index = _first_bad(bad)
            raise InputError(f"{name} contains {array[index]} at {_where(index, columns)}; "
                             "remove or impute non-finite values before training")


def cast_exactly(array, dtype, name, columns=None):
    """Cast once to ``dtype``, refusing finite values that overflow it."""
    if array.dtype == dtype:
        return array
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(dtype)
    if cast.dtype.kind == "f" and array.dtype.kind == "f":
        bad = ~np.isfinite(cast)
        if bad.any():
            index = _first_bad(bad)
            raise InputError(f"{name} holds {array[index].item()!r} at {_where(index, columns)}, "
                             f"which overflows {dtype}")
    return cast


def check_feature_names(columns, expected, name="X"):
    """Refuse columns that differ from the ones a network was trained on.

    Parameters
    ----------
    columns : sequence of str
        The columns given now.
    expected : sequence of str
        The training columns, in their order.
    name : str

    Raises
    ------
    InputError
        Naming the missing, unexpected or reordered columns.
    """
    columns, expected = list(columns), list(expected)
    if columns == expected:
        return
    missing = [column for column in expected if column not in columns]
    if missing:
        raise InputError(f"{name} lacks the training column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(map(repr, missing))}")
    extra = [column for column in columns if column not in expected]
    if extra:
        raise InputError(f"{name} has column{'s' if len(extra) > 1 else ''} "
                         f"{', '.join(map(repr, extra))} that the network was not trained on")
    position = next(i for i, (a, b) in enumerate(zip(columns, expected)) if a != b)
    raise InputError(f"{name} has the training columns in another order (column {position} is "
                     f"{columns[position]!r}, trained on {expected[position]!r}); select them "
                     "in the training order, for example X[trainer.feature_names_in_]")


def check_features(X, input_layer, name="X", feature_names=None, allow_empty=False, dtype=None):
    """Check inputs against a network's input layer and cast them to its dtype.

    Parameters
    ----------
    X : array_like or pandas.DataFrame
        One row per example.
    input_layer : InputLayer
        Gives the expected shape (``None`` for any size) and dtype.
    name : str
        Named in error messages.
    feature_names : sequence of str, optional
        The training columns; a DataFrame must have exactly these, in this
        order (a plain array is taken as it is).
    allow_empty : bool
        Accept zero rows.
    dtype : str, optional
        The dtype to cast to; by default the input variable's.

    Returns
    -------
    numpy.ndarray
        In ``dtype``; ``X`` itself when nothing needed to
        change.

    Raises
    ------
    InputError
        For non-numbers, a shape the layer does not take, no rows, NaN or
        infinity, values that overflow the dtype, or other columns.
    """
    array, columns = as_array(X, name)
    if columns is not None and feature_names is not None:
        check_feature_names(columns, feature_names, name)
    check_numeric(array, name)
    expected = tuple(input_layer.shape)
    if array.ndim != len(expected):
        raise InputError(f"{name} has shape {array.shape} but the network's input layer expects "
                         f"shape {expected} (None: any size)")
    for axis, (size, given) in enumerate(zip(expected, array.shape)):
        if size is not None and size != given:
            raise InputError(f"{name} has shape {array.shape} but the network's input layer "
                             f"expects {size} along axis {axis} (shape {expected})")
    if len(array) == 0 and not allow_empty:
        raise InputError(f"{name} has no rows")
    check_finite(array, name, columns)
    return cast_exactly(array, dtype or input_layer.input_var.dtype, name, columns)


def check_targets(y, n_rows, target_var, name="y", x_name="X"):
    """Check targets against the rows of the inputs and a target variable; cast to its dtype.

    Parameters
    ----------
    y : array_like or pandas.Series or pandas.DataFrame
        One target per row; a column ``(N, 1)`` is taken as a vector when
        the target variable is one.
    n_rows : int
        Rows of the inputs.
    target_var : TensorVariable
        Gives the number of dimensions and the dtype.
    name, x_name : str
        Named in error messages.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    InputError
    """
    y, _ = as_array(y, name)
    check_numeric(y, name)
    if y.ndim == 0 or len(y) != n_rows:
        rows = "a scalar" if y.ndim == 0 else f"{len(y)} rows"
        raise InputError(f"{name} has {rows} but {x_name} has {n_rows}")
    ndim = target_var.ndim
    if ndim == 1 and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != ndim:
        raise InputError(f"{name} has shape {y.shape} but the target variable has {ndim} "
                         f"dimension{'s' if ndim != 1 else ''}")
    check_finite(y, name)
    return cast_exactly(y, target_var.dtype, name)


def check_weights(weights, n_rows, dtype, name="weights", x_name="X"):
    """Check sample weights: one finite, non-negative number per row, not all zero.

    Parameters
    ----------
    weights : array_like or pandas.Series, optional
    n_rows : int
    dtype : str
        The dtype to cast to.
    name, x_name : str
        Named in error messages.

    Returns
    -------
    numpy.ndarray or None
        ``None`` when ``weights`` is.

    Raises
    ------
    InputError
    """
    if weights is None:
        return None
    weights, _ = as_array(weights, name)
    check_numeric(weights, name)
    if weights.ndim != 1:
        raise InputError(f"{name} must be a vector of one weight per row, got shape "
                         f"{weights.shape}")
    if len(weights) != n_rows:
        raise InputError(f"{name} has {len(weights)} rows but {x_name} has {n_rows}")
    check_finite(weights, name)
    negative = weights < 0
    if negative.any():
        row = int(np.argmax(negative))
        raise InputError(f"{name} has a negative value {weights[row]} at row {row}; "
                         "weights must be >= 0")
    if not weights.any():
        raise InputError(f"{name} are all zero")
    return cast_exactly(weights, dtype, name)
