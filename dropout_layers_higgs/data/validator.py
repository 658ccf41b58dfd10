r"""The careful parser: reads a block line by line and names the first bad field.

The fast parsers (:mod:`.arrow_engine`, :mod:`.numpy_engine`) either read a
block whole or give up on it; then this module reads it again, one field at
a time, with the grammar that defines what the readers accept:

- numbers: ``[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?``, or
  ``nan``, ``inf``, ``infinity`` in any case (refused later as not finite);
  ASCII digits only, so ``١٢٣`` is not a number;
- ``EventId``: ``[+-]?[0-9]+`` within the int64 range, never through float64;
- ``Label``: ``s`` or ``b``; ``KaggleSet``: one of ``t``, ``b``, ``v``, ``u``;
- spaces and tabs around a field are ignored; any other byte is not.

It either returns the block's values or reports the first bad line; it is
linear in the block's size, and the fields it quotes are cut to 40
characters.

Examples
--------
>>> from dropout_layers_higgs.data.schema import SCHEMAS
>>> schema = SCHEMAS["uci"]
>>> good = ",".join(["1"] + ["0.5"] * 28).encode() + b"\n"
>>> block, problem = parse_carefully(good + good.replace(b"0.5", b"\xd9\xa1", 1), schema, ",")
>>> block.n_rows, problem.row, problem.column, problem.text
(1, 1, 'lepton_pt', "non-numeric value '١'")
"""
import re

import numpy as np

from .schema import KAGGLE_SETS, clip
from .values import ParsedBlock, Problem

__all__ = ["parse_carefully", "describe"]

_FLOAT = re.compile(r"[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|nan|inf|infinity)",
                    re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1
_BLANK = " \t"
_LABELS = {"b": 0, "s": 1}
_SET_CODES = {name: code for code, name in enumerate(KAGGLE_SETS)}


def describe(problem, where):
    """One phrase for ``problem`` at ``where`` (e.g. ``'line 5'``).

    >>> describe(Problem(0, "PRI_met", "non-numeric value 'x'"), "line 5")
    "line 5, column PRI_met: non-numeric value 'x'"
    >>> describe(Problem(0, None, "is empty"), "line 5")
    'line 5 is empty'
    """
    if problem.text == "is empty":
        return f"{where} is empty"
    if problem.column is None:
        return f"{where}: {problem.text}"
    return f"{where}, column {problem.column}: {problem.text}"


def parse_carefully(block, schema, delimiter):
    r"""Parse the lines of ``block`` (bytes of whole lines) one field at a time.

    Parameters
    ----------
    block : bytes
        Lines ending in ``\n``.
    schema : Schema
    delimiter : str

    Returns
    -------
    parsed : ParsedBlock
        The values of the lines before the first bad one (all lines when
        none is bad), not yet checked by :func:`~.values.find_problem`.
    problem : Problem or None
        The first line that cannot be parsed; ``row`` counts from 0 at the
        block's first line.
    """
    parsers = [_PARSERS[schema.kind(name)] for name in schema.columns]
    separator = "comma" if delimiter == "," else "tab"
    rows, problem = [], None
    for offset, raw in enumerate(block.split(b"\n")[:-1]):
        line = raw.decode("utf-8", errors="backslashreplace")
        if not line.strip(_BLANK):
            problem = Problem(offset, None, "is empty")
            break
        fields = line.split(delimiter)
        if len(fields) != len(parsers):
            problem = Problem(offset, None, f"expected {len(parsers)} {separator}-separated "
                                            f"fields, found {len(fields)}")
            break
        values = []
        for name, parse, field in zip(schema.columns, parsers, fields):
            value = parse(field.strip(_BLANK))
            if isinstance(value, _Bad):
                problem = Problem(offset, value.column or name, value.text.format(clip(field, 40)))
                break
            values.append(value)
        if problem is not None:
            if problem.column in ("Label", "KaggleSet"):
                problem = Problem(offset, None, f"{problem.column} {problem.text}")
            break
        rows.append(values)
    return _to_block(rows, schema), problem


class _Bad:
    """Why a field was refused; ``{}`` in ``text`` stands for the field, quoted."""

    def __init__(self, text, column=None):
        self.text = text
        self.column = column


def _number(field):
    if _FLOAT.fullmatch(field) is None:
        return _Bad("non-numeric value {!r}")
    return float(field)


def _event_id(field):
    if _INTEGER.fullmatch(field) is None:
        return _Bad("expected an integer in int64 range, found {!r}")
    value = int(field)
    if not _INT64_MIN <= value <= _INT64_MAX:
        return _Bad("expected an integer in int64 range, found {!r}")
    return value


def _label(field):
    code = _LABELS.get(field)
    return _Bad("must be 's' or 'b', found {!r}") if code is None else code


def _kaggle_set(field):
    code = _SET_CODES.get(field)
    return _Bad("must be one of t, b, v, u, found {!r}") if code is None else code


_PARSERS = {"id": _event_id, "feature": _number, "weight": _number, "number-label": _number,
            "letter-label": _label, "set": _kaggle_set}
_DTYPES = {"id": np.int64, "weight": np.float64, "number-label": np.float64,
           "letter-label": np.int8, "set": np.int8}


def _to_block(rows, schema):
    width = len(schema.columns)
    columns = list(zip(*rows)) if rows else [()] * width
    start = schema.first_feature
    stop = start + len(schema.features)
    features = np.array(columns[start:stop], dtype=np.float64).T.reshape(len(rows),
                                                                         len(schema.features))
    parsed = {"features": np.ascontiguousarray(features)}
    for position, name in enumerate(schema.columns):
        kind = schema.kind(name)
        if kind != "feature":
            parsed[name] = np.array(columns[position], dtype=_DTYPES[kind])
    return ParsedBlock(parsed)
