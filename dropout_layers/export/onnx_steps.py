"""One ONNX conversion per :mod:`dropout_layers.preprocessing` step.

Each step works on the whole matrix with constants of the matrix's width,
so that the graph has a handful of nodes whatever the number of columns,
and uses only plain operators (``Equal``, ``Where``, ``Cast``, ``MatMul``,
``Min``, ``Max``, ``Add``, ``Log``, ``Sub``, ``Div``, ``Gather``,
``Concat``):

:class:`~dropout_layers.preprocessing.MissingIndicators`
    ``min(cast(x == marker) @ G, 1)`` with ``G`` the 0/1 matrix of column
    ``j`` in group ``k``: the count of missing columns of each group, capped
    at one, appended with ``Concat``.
:class:`~dropout_layers.preprocessing.ReplaceValue`
    ``where(x == m, v, x)`` where row vector ``m`` holds the marker in the
    replaced columns and NaN elsewhere (NaN equals nothing), and ``v`` the
    values.
:class:`~dropout_layers.preprocessing.Log1p`
    ``where(c, log(max(x, 0) + 1), x)`` with ``c`` true in the logged columns.
:class:`~dropout_layers.preprocessing.Standardize`
    ``(x - mean) / std`` with mean 0 and std 1 in the other columns, which
    leaves them exactly as they were.
:class:`~dropout_layers.preprocessing.SelectColumns`
    ``Gather`` along axis 1.

In float64 these are the steps' own NumPy operations, except ``log(1 + y)``
for ``log1p(y)``, which differ by under 1e-16 in absolute value.
"""
import numpy as np

from .. import preprocessing as pre
from .onnx_builder import tensor_type
from .onnx_layers import UnsupportedLayerError

__all__ = ["convert_pipeline"]


def _row(builder, n_columns, columns, values, fill, hint):
    row = np.full((1, n_columns), fill, dtype=np.float64)
    row[0, np.asarray(columns, dtype=np.int64)] = values
    return builder.constant(row, hint)


def _mask(builder, n_columns, columns, hint):
    row = np.zeros((1, n_columns), dtype=bool)
    row[0, np.asarray(columns, dtype=np.int64)] = True
    return builder.constant(row, hint)


def _missing_indicators(builder, step, x, n_columns, hint):
    if not step.groups:
        return x
    marker = builder.constant(np.asarray(step.marker), f"{hint}.marker")
    is_missing = builder.op("Cast", [builder.op("Equal", [x, marker], f"{hint}.equal")],
                            f"{hint}.is_missing", to=tensor_type(builder.dtype))
    membership = np.zeros((n_columns, len(step.groups)))
    for group_index, group in enumerate(step.groups):
        membership[group, group_index] = 1.0
    counts = builder.op("MatMul", [is_missing, builder.constant(membership, f"{hint}.groups")],
                        f"{hint}.counts")
    one = builder.constant(np.asarray(1.0), f"{hint}.one")
    indicators = builder.op("Min", [counts, one], f"{hint}.indicators")
    return builder.op("Concat", [x, indicators], hint, axis=1)


def _replace_value(builder, step, x, n_columns, hint):
    markers = _row(builder, n_columns, step.columns, step.marker, np.nan, f"{hint}.markers")
    values = _row(builder, n_columns, step.columns, step.values, 0.0, f"{hint}.values")
    found = builder.op("Equal", [x, markers], f"{hint}.found")
    return builder.op("Where", [found, values, x], hint)


def _log1p(builder, step, x, n_columns, hint):
    zero = builder.constant(np.asarray(0.0), f"{hint}.zero")
    one = builder.constant(np.asarray(1.0), f"{hint}.one")
    clipped = builder.op("Max", [x, zero], f"{hint}.clipped")
    logged = builder.op("Log", [builder.op("Add", [clipped, one], f"{hint}.plus_one")],
                        f"{hint}.log")
    return builder.op("Where", [_mask(builder, n_columns, step.columns, f"{hint}.columns"),
                                logged, x], hint)


def _standardize(builder, step, x, n_columns, hint):
    mean = _row(builder, n_columns, step.columns, step.mean, 0.0, f"{hint}.mean")
    std = _row(builder, n_columns, step.columns, step.std, 1.0, f"{hint}.std")
    return builder.op("Div", [builder.op("Sub", [x, mean], f"{hint}.centred"), std], hint)


def _select_columns(builder, step, x, n_columns, hint):
    return builder.op("Gather", [x, builder.indices(step.columns, f"{hint}.columns")], hint,
                      axis=1)


_CONVERSIONS = {pre.MissingIndicators: _missing_indicators, pre.ReplaceValue: _replace_value,
                pre.Log1p: _log1p, pre.Standardize: _standardize,
                pre.SelectColumns: _select_columns}


def convert_pipeline(builder, pipeline, x):
    """Write every step of ``pipeline`` on the raw matrix ``x``; return the result's name.

    The steps compute in ``builder.dtype``; the result is not cast.

    Raises
    ------
    UnsupportedLayerError
        For a step type without a conversion (a registered custom step).
    """
    n_columns = len(pipeline.input_names)
    for index, step in enumerate(pipeline.steps):
        conversion = _CONVERSIONS.get(type(step))
        if conversion is None:
            raise UnsupportedLayerError(f"cannot export preprocessing step {index} "
                                        f"({type(step).__name__}) to ONNX: no conversion")
        x = conversion(builder, step, x, n_columns, f"preprocessing.{index}."
                                                   f"{type(step).__name__}")
        n_columns = step.n_outputs(n_columns)
    return x

