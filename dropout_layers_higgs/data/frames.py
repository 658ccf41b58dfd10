"""HiggsData to and from pandas DataFrames, with the files' column names.

A frame has the columns of its file format, in file order (see
:mod:`.schema`): ``EventId`` (int64), the features (float32), then
``Weight`` (float64) and ``Label`` (categorical ``'b'``/``'s'``) for the
Kaggle training schema, ``KaggleSet`` (categorical) and ``KaggleWeight`` for
the open data; a UCI frame has ``label`` (int8, 1 for signal) and then its
28 features. A frame of the features alone is accepted too.

:func:`from_frame` refuses a frame whose columns are missing, unexpected,
duplicated or out of order, naming them, and checks every value as the file
readers do; ``Label`` may hold ``'s'``/``'b'`` or 1/0.

Needs the ``pandas`` extra (``pip install 'dropout_layers[pandas]'``).
"""
import numpy as np

from ..errors import HiggsDataError
from .dataset_checks import class_problem, first_duplicate
from .schema import (
    KAGGLE_FEATURES,
    KAGGLE_SETS,
    SCHEMAS,
    UCI_FEATURES,
    Schema,
    clip,
    header_problems,
)
from .validator import describe
from .values import ParsedBlock, find_problem

__all__ = ["to_frame", "from_frame"]

_FEATURES_ONLY = {
    "kaggle": Schema("kaggle features", KAGGLE_FEATURES, KAGGLE_FEATURES),
    "uci": Schema("uci features", UCI_FEATURES, UCI_FEATURES),
}
_LETTER_CODES = {"b": 0, "s": 1, 0: 0, 1: 1}
_SET_CODES = {name: code for code, name in enumerate(KAGGLE_SETS)}


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ImportError("DataFrames need pandas: pip install 'dropout_layers[pandas]'") \
            from None
    return pandas


def _schema_of(data):
    if data.format in SCHEMAS:
        return SCHEMAS[data.format]
    for schema in SCHEMAS.values():
        if schema.features == data.feature_names:
            return schema
    return Schema("features", data.feature_names, data.feature_names)


def to_frame(data, copy=False):
    """Return ``data`` (a HiggsData) as a :class:`pandas.DataFrame`.

    Parameters
    ----------
    data : HiggsData
    copy : bool
        Copy ``X``; by default the frame's feature columns share its memory.

    Returns
    -------
    pandas.DataFrame
        The format's columns (those ``data`` holds), indexed 0..n-1.
    """
    pd = _pandas()
    schema = _schema_of(data)
    frame = pd.DataFrame(data.X, columns=list(data.feature_names), copy=copy)
    values = {
        "EventId": data.event_ids, "Weight": data.weights, "KaggleWeight": data.kaggle_weight,
        "Label": None if data.y is None else pd.Categorical.from_codes(data.y, ["b", "s"]),
        "label": data.y,
        "KaggleSet": None if data.kaggle_set is None
        else pd.Categorical(data.kaggle_set, categories=KAGGLE_SETS),
    }
    before = schema.columns[:schema.first_feature]
    after = schema.columns[schema.first_feature + len(schema.features):]
    for position, name in enumerate(n for n in before if values.get(n) is not None):
        frame.insert(position, name, values[name])
    for name in after:
        if values.get(name) is not None:
            frame[name] = values[name]
    return frame


def _frame_schema(columns, format, name):
    if format is not None and format not in SCHEMAS:
        raise ValueError(f"format must be one of {', '.join(SCHEMAS)} or None, got {format!r}")
    candidates = ([SCHEMAS[format]] if format else list(SCHEMAS.values()))
    candidates += [_FEATURES_ONLY["uci" if c.name == "uci" else "kaggle"] for c in candidates]
    for schema in candidates:
        if list(schema.columns) == columns:
            return schema
    present = set(columns)
    closest = max(candidates, key=lambda s: (len(present & set(s.columns)), -len(s.columns)))
    problems = header_problems(columns, closest.columns)
    raise HiggsDataError(clip(f"{name}: columns do not match the {closest.name} format: "
                              f"{problems}"))


def _fail(name, problem):
    raise HiggsDataError(clip(f"{name}: {describe(problem, f'row {problem.row}')}"))


def _codes(series, mapping, column, name, expected):
    codes = series.astype(object).map(mapping)
    bad = codes.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        found = clip(repr(series.iloc[row]), 40)
        raise HiggsDataError(clip(f"{name}: row {row}, column {column}: expected {expected}, "
                                  f"found {found}"))
    return codes.to_numpy(dtype=np.int8)


def _numbers(pd, series, column, name, dtype=np.float64):
    kind = pd.api.types
    if (not kind.is_numeric_dtype(series) or kind.is_bool_dtype(series)
            or (dtype is np.int64 and not kind.is_integer_dtype(series))):
        wanted = "integers" if dtype is np.int64 else "numbers"
        raise HiggsDataError(clip(f"{name}: column {column} has dtype {series.dtype}, "
                                  f"expected {wanted}"))
    if series.isna().any():
        row = int(np.argmax(series.isna().to_numpy()))
        raise HiggsDataError(clip(f"{name}: row {row}, column {column}: missing value"))
    if dtype is np.int64 and series.max() > np.iinfo(np.int64).max:
        raise HiggsDataError(clip(f"{name}: column {column}: values beyond the int64 range"))
    return series.to_numpy(dtype=dtype)


def from_frame(frame, format=None, name="DataFrame", allow_single_class=False):
    """Check a :class:`pandas.DataFrame` and return HiggsData's fields as a dict.

    Parameters
    ----------
    frame : pandas.DataFrame
        The columns of one format in file order, or the features alone.
    format : str or None
        The format expected; None accepts any.
    name : str
        Starts every error message.
    allow_single_class : bool
        As for :func:`~.load.load_higgs`.

    Returns
    -------
    dict
        Keyword arguments of :class:`~.container.HiggsData`.
    """
    pd = _pandas()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    schema = _frame_schema([str(c) for c in frame.columns], format, name)
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    for column in schema.features:
        _numbers(pd, frame[column], column, name)
    columns = {"features": frame[list(schema.features)].to_numpy(dtype=np.float64)}
    for column in schema.columns:
        kind = schema.kind(column)
        if kind == "letter-label":
            columns[column] = _codes(frame[column], _LETTER_CODES, column, name, "'s' or 'b'")
        elif kind == "set":
            columns[column] = _codes(frame[column], _SET_CODES, column, name, "t, b, v or u")
        elif kind == "id":
            columns[column] = _numbers(pd, frame[column], column, name, np.int64)
        elif kind != "feature":
            columns[column] = _numbers(pd, frame[column], column, name)
    block = ParsedBlock(columns)
    problem = find_problem(block, schema)
    if problem is not None:
        _fail(name, problem)
    fields = _fields(block, schema)
    _check_whole(fields, name, allow_single_class)
    return fields


def _fields(block, schema):
    set_codes = block.columns.get("KaggleSet")
    return dict(
        X=block["features"], feature_names=schema.features, y=block.columns.get("Label"),
        weights=block.columns.get("Weight"), event_ids=block.columns.get("EventId"),
        kaggle_set=None if set_codes is None else np.asarray(KAGGLE_SETS)[set_codes],
        kaggle_weight=block.columns.get("KaggleWeight"),
        format=schema.name if schema.name in SCHEMAS else None,
    )


def _check_whole(fields, name, allow_single_class):
    if fields["event_ids"] is not None:
        pair = first_duplicate(fields["event_ids"])
        if pair is not None:
            raise HiggsDataError(f"{name}: EventId {fields['event_ids'][pair[0]]} is on rows "
                                 f"{pair[0]} and {pair[1]}")
    if fields["y"] is not None:
        problem = class_problem(fields["y"], fields["weights"], allow_single_class)
        if problem:
            raise HiggsDataError(f"{name}: {problem}")
