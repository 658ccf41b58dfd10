"""Argument checks shared by the library: one place for each kind of check.

Each function returns the value in its canonical type (``int``, ``float``)
or raises ``ValueError`` (``TypeError`` for a value of the wrong kind) with
a message that names the argument and the value.

Examples
--------
>>> from dropout_layers.checks import check_positive_int
>>> check_positive_int(3, "epochs")
3
>>> check_positive_int(0, "epochs")
Traceback (most recent call last):
...
ValueError: epochs must be a positive integer, got 0
"""
import numbers

__all__ = ["check_positive_int", "check_non_negative_int", "check_probability",
           "check_fraction"]


def _integer(value, name, kind):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}")
    return int(value)


def check_positive_int(value, name):
    """Return ``value`` as an int, refusing booleans, non-integers and values below 1."""
    checked = _integer(value, name, "positive")
    if checked < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return checked


def check_non_negative_int(value, name):
    """Return ``value`` as an int, refusing booleans, non-integers and negative values."""
    checked = _integer(value, name, "non-negative")
    if checked < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return checked


def check_probability(value, name):
    """Return ``value`` as a float in ``[0, 1)``, the range of a drop probability."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def check_fraction(value, name):
    """Return ``value`` as a float in the open interval ``(0, 1)``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1), got {value!r}")
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return float(value)
