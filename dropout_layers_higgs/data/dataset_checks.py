"""Checks of a whole data set, made once every event is read.

A block-by-block parser cannot see these: an EventId repeated between two
blocks or two files, a file with one class only, or weights that are zero
for a whole class (the AMS and the class-balanced training weights divide by
each class's total weight).

Examples
--------
>>> import numpy as np
>>> first_duplicate(np.array([7, 3, 9, 3, 7]))
(1, 3)
>>> print(class_problem(np.array([1, 0, 1], np.int8), np.array([0.0, 2.0, 0.0])))
all 2 signal events have weight zero (column Weight); training and the AMS need a positive
signal weight
"""
import numpy as np

__all__ = ["first_duplicate", "class_problem"]


def first_duplicate(ids):
    """Return ``(earlier, later)`` rows of the first repeated value, or None.

    "First" is by the later row: the earliest row that repeats an id seen
    before, paired with that id's first row. Sorts once: O(n log n).
    """
    if len(ids) < 2:
        return None
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if not len(repeats):
        return None
    position = repeats[np.argmin(order[repeats])]
    later = int(order[position])
    earlier = int(order[np.searchsorted(ordered, ordered[position], side="left")])
    return earlier, later


def class_problem(y, weights, allow_single_class=False):
    """Describe why labels ``y`` and ``weights`` cannot train a classifier, or return None.

    Parameters
    ----------
    y : numpy.ndarray of {0, 1}
    weights : numpy.ndarray or None
    allow_single_class : bool
        Accept a class without events or without weight (for scoring, not
        training); all weights zero is refused even so.
    """
    n_signal = int(y.sum())
    if not allow_single_class and n_signal in (0, len(y)):
        kind = "signal" if n_signal else "background"
        return (f"all {len(y)} events are {kind}; training needs both signal and background "
                "events")
    if weights is None:
        return None
    if not (weights > 0).any():
        return (f"all {len(y)} weights are zero (column Weight); training and the AMS need "
                "positive weights")
    if allow_single_class:
        return None
    for label, kind in ((1, "signal"), (0, "background")):
        in_class = weights[y == label]
        if not (in_class > 0).any():
            return (f"all {len(in_class)} {kind} events have weight zero (column Weight); "
                    f"training and the AMS need a positive {kind} weight")
    return None
