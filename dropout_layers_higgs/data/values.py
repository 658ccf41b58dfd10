"""The checks every parsed block of events passes, whichever parser read it.

A parser (:mod:`.arrow_engine`, :mod:`.numpy_engine` or the careful
:mod:`.validator`) turns a block of lines into a :class:`ParsedBlock`: the
features as float64 and the other columns in their final types.
:func:`find_problem` then checks the values the way the file format says
(finite float32 features, ``PRI_jet_num`` in 0..3, labels 0 or 1,
non-negative finite weights) and casts the features to float32. The same
checks serve :meth:`HiggsData.from_frame <.container.HiggsData.from_frame>`.

Examples
--------
>>> import numpy as np
>>> from dropout_layers_higgs.data.schema import SCHEMAS
>>> block = ParsedBlock({"label": np.array([1.0, 2.0]),
...                      "features": np.ones((2, 28))})
>>> find_problem(block, SCHEMAS["uci"])
Problem(row=1, column=None, text='label must be 0 or 1, found 2')
"""
import dataclasses

import numpy as np

from .schema import show_number

__all__ = ["ParsedBlock", "Problem", "find_problem", "FLOAT32_MAX"]

FLOAT32_MAX = float(np.finfo(np.float32).max)


class ParsedBlock:
    """Columns parsed from consecutive lines.

    Parameters
    ----------
    columns : dict
        ``'features'`` (float64, or float32 rounded from float64, shape
        (n, n_features), in either memory order), and by file column
        name: ``'EventId'`` (int64), ``'Weight'`` and ``'KaggleWeight'``
        (float64), ``'Label'`` (int8, 1 for ``s``), ``'KaggleSet'`` (int8,
        index into :data:`~.schema.KAGGLE_SETS`), ``'label'`` (UCI, float64).
    """

    def __init__(self, columns):
        self.columns = columns
        self.n_rows = len(columns["features"])

    def __getitem__(self, name):
        return self.columns[name]


@dataclasses.dataclass(frozen=True)
class Problem:
    """The first bad value of a block: its row, column name (or None) and what is wrong."""

    row: int
    column: str
    text: str


def find_problem(block, schema):
    """Check ``block``'s values and cast its features to float32.

    Parameters
    ----------
    block : ParsedBlock
        Changed in place when the values pass: ``'features'`` becomes
        float32 and the UCI ``'label'`` becomes an int8 ``'Label'``.
    schema : Schema

    Returns
    -------
    Problem or None
        The bad value with the smallest row (then column), or None.
    """
    candidates = []
    features = block["features"]
    with np.errstate(over="ignore", invalid="ignore"):
        narrow = features.astype(np.float32, copy=False)
    finite = np.isfinite(narrow)
    if not finite.all():
        row, col = (int(i) for i in np.argwhere(~finite)[0])
        value = features[row, col]
        text = (f"{show_number(value)} overflows float32 (largest magnitude {FLOAT32_MAX:.8g})"
                if np.isfinite(value) else f"{value} is not a finite number")
        candidates.append((row, schema.first_feature + col, schema.features[col], text))
    if schema.has("label"):
        label = block["label"]
        row = _first(~np.isin(label, (0.0, 1.0)))
        if row is not None:
            candidates.append((row, 0, None,
                               f"label must be 0 or 1, found {show_number(label[row])}"))
    if "PRI_jet_num" in schema.features:
        jet_num = features[:, schema.features.index("PRI_jet_num")]
        row = _first(~np.isin(jet_num, (0.0, 1.0, 2.0, 3.0)))
        if row is not None:
            candidates.append((row, schema.columns.index("PRI_jet_num"), "PRI_jet_num",
                               f"expected an integer 0..3, found {show_number(jet_num[row])}"))
    for name in ("Weight", "KaggleWeight"):
        if schema.has(name):
            candidates.extend(_weight_problems(block[name], schema.columns.index(name), name))
    if candidates:
        row, _, column, text = min(candidates, key=lambda c: (c[0], c[1]))
        return Problem(row, column, text)
    block.columns["features"] = narrow
    if schema.has("label"):
        block.columns["Label"] = block.columns.pop("label").astype(np.int8)
    return None


def _weight_problems(weight, position, name):
    found = []
    row = _first(~np.isfinite(weight))
    if row is not None:
        found.append((row, position, name, f"{weight[row]} is not a finite number"))
    with np.errstate(invalid="ignore"):
        row = _first(weight < 0)
    if row is not None:
        found.append((row, position, name,
                      f"weights must be non-negative, found {show_number(weight[row])}"))
    return found


def _first(bad):
    return int(np.argmax(bad)) if bad.any() else None
