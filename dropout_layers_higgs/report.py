"""Reporting a Higgs training run: the summary table and the plots in ``--out``.

:func:`summary_table` turns ``metrics.json`` into the table the command line
prints; :func:`write_plots` draws the figures of
:mod:`dropout_layers_higgs.plots` for a run and writes them atomically (a
temporary file in the target directory, then :func:`os.replace`), so an
interrupted or failed run never leaves a half-written file where a good one
from an earlier run used to be.

The plots need matplotlib (the ``plot`` extra: ``pip install -e ".[plot]"``).
Without it :func:`write_plots` writes nothing and returns a one-line
explanation for the caller to print once; nothing else depends on it.
"""
import dataclasses
import os

import numpy as np

from . import plots
from .metrics import ams_curve
from .plots import ScoredEvents
from .results import ensemble_summary_table

__all__ = [
    "summary_table", "have_matplotlib", "write_plots", "PlotContext", "ScoredEvents",
    "ams_fraction_curve", "MATPLOTLIB_MISSING", "SCIPY_MISSING", "PLOT_NAMES",
]

#: What :func:`write_plots` says when matplotlib is not installed.
MATPLOTLIB_MISSING = ('matplotlib is not installed: no plots written '
                      '(install the plot extra: pip install -e ".[plot]")')

#: What :func:`write_plots` says when SciPy, for the Kolmogorov-Smirnov test, is missing.
SCIPY_MISSING = ('SciPy is not installed: no overtraining.png written (install the plot extra: '
                 'pip install -e ".[plot]")')

#: The file of each plot in ``--out``.
PLOT_NAMES = {"loss": "loss.png", "overtraining": "overtraining.png", "roc": "roc.png",
              "ams": "ams.png"}


def _format_value(value, digits=4):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _with_std(values, key):
    value = _format_value(values.get(key))
    spread = values.get(f"{key}_std")
    return value if spread is None else f"{value} +- {_format_value(spread)}"


def _header_rows(metrics):
    data = metrics.get("data", {})
    rows = [("data", f"{data.get('description', data.get('path', '-'))}"),
            ("events train/valid/test", f"{data.get('n_train', '-')} / "
                                        f"{data.get('n_valid', '-')} / {data.get('n_test', '-')}"),
            ("network", metrics.get("network", "-")),
            ("best epoch", f"{metrics.get('best_epoch', '-')} of "
                           f"{metrics.get('epochs_run', '-')}"),
            ("decision threshold", _format_value(metrics.get("threshold"), 6))]
    result = metrics.get("result")
    if result:
        rows.append(("result", result.get("source", "-")
                     + (" (OPTIMISTIC: they chose the epoch and the cut)"
                        if result.get("optimistic") else "")))
    return rows


def _figure_rows(metrics):
    rows = []
    for title, values in (("validation", metrics.get("validation")),
                          ("held-out test", metrics.get("test"))):
        if values:
            rows.append((title, _with_std(values, "auc"), _with_std(values, "ams_at_threshold"),
                         _with_std(values, "ams_top15"),
                         _format_value(values.get("selected_fraction"), 3)))
    for board in ("public", "private"):
        value = (metrics.get("leaderboard") or {}).get(board)
        if value is not None:
            rows.append((f"{board} leaderboard", "-", _format_value(value), "-", "-"))
    return rows


def _aligned(rows):
    """Lay out ``rows`` in columns, the first left-aligned, with a rule under the first row."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(f"{cell:<{widths[i]}}" if i == 0 else f"{cell:>{widths[i]}}"
                       for i, cell in enumerate(row)) for row in rows]
    return [lines[0], "  ".join("-" * width for width in widths), *lines[1:]]


def summary_table(metrics):
    """Format the figures in a ``metrics.json`` dictionary.

    Parameters
    ----------
    metrics : dict
        As written by ``train-higgs``: for a bag (``mode`` ``'bag'``) the
        table of :func:`~dropout_layers_higgs.results.ensemble_summary_table`;
        for one network ``data``, ``validation``, optionally ``test``,
        ``leaderboard`` and ``result``, ``threshold``, ``best_epoch``,
        ``epochs_run``, with the bootstrap spreads (``*_std``) where present.

    Returns
    -------
    str
        Several lines, without a trailing newline.
    """
    if metrics.get("mode") == "bag":
        return ensemble_summary_table(metrics)
    rows = _header_rows(metrics)
    label_width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{label_width}}  {value}" for label, value in rows]
    table = _figure_rows(metrics)
    if table:
        header = ("", "AUC", "AMS (valid cut)", "AMS (top 15%)", "selected")
        lines += ["", *_aligned([header, *table])]
    return "\n".join(lines)


def have_matplotlib():
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _have_scipy():
    try:
        import scipy.stats  # noqa: F401
    except ImportError:
        return False
    return True


def ams_fraction_curve(scores, y, weights, renormalise=True):
    """AMS against the fraction of events selected, for every distinct cut.

    Parameters
    ----------
    scores, y, weights, renormalise
        As for :func:`dropout_layers_higgs.metrics.ams_curve`.

    Returns
    -------
    fraction : numpy.ndarray
        Fraction of the events with ``scores >= threshold``, increasing.
    values : numpy.ndarray
        The AMS of that selection.
    """
    thresholds, values = ams_curve(scores, y, weights, renormalise=renormalise)
    ascending = np.sort(np.asarray(scores, dtype=np.float64))
    selected = len(ascending) - np.searchsorted(ascending, thresholds, side="left")
    return selected / len(ascending), values


def _plot_history(history, context):
    if isinstance(history[0], dict):
        return plots.plot_loss(history, context.best_epoch, context.dataset, context.monitor)
    return plots.plot_bag_loss(history, context.best_epoch, context.dataset)


@dataclasses.dataclass
class PlotContext:
    """What the plots of :func:`write_plots` show besides the scored events.

    Attributes
    ----------
    dataset : str, optional
        The data set's name, in every title (say "synthetic" for generated
        events).
    training : ScoredEvents, optional
        The training events, scored by the final network: with it,
        ``overtraining.png`` compares them with the held-out events.
    best_epoch : int or list of int, optional
        Marked on ``loss.png``: the epoch kept, or one per network of a bag.
    n_resamples : int
        Bootstrap resamples behind the band of ``ams.png``.
    monitor : str, optional
        The history key that chose a single network's best epoch
        (``valid_auc``), drawn beside its loss.
    """

    dataset: str = None
    training: ScoredEvents = None
    best_epoch: int = None
    n_resamples: int = plots.BOOTSTRAP_RESAMPLES
    monitor: str = None


def write_plots(out_dir, history, evaluations, weighted=True, threshold=None,
                top_fraction=0.15, context=None):
    """Write the plots of a run into ``out_dir``; see :data:`PLOT_NAMES`.

    Parameters
    ----------
    out_dir : str or os.PathLike
    history : list of dict, list of list of dict, or None
        Per-epoch entries (see :func:`~dropout_layers_higgs.plots.plot_loss`),
        or one such list per network of a bag; ``loss.png`` is written when
        there are any.
    evaluations : list of ScoredEvents or (label, scores, y, weights) tuples
        The scored events to draw, held-out ones last (for example
        validation, then held-out test).
    weighted : bool
        Whether the data carry physics weights, making the AMS (``ams.png``)
        and the weighted ROC meaningful.
    threshold : float, optional
        The chosen cut, marked on the ROC and AMS plots.
    top_fraction : float
        The fixed selection marked on the AMS plot.
    context : PlotContext, optional
        The data set's name, the training events (for
        ``overtraining.png``) and the best epoch.

    Returns
    -------
    paths : list of str
        The files written.
    message : str or None
        :data:`MATPLOTLIB_MISSING` when matplotlib is absent (and nothing
        was written), :data:`SCIPY_MISSING` when only the overtraining
        plot was left out, else None.

    Raises
    ------
    OSError
        If a file cannot be written (the files already written stay).
    """
    if not have_matplotlib():
        return [], MATPLOTLIB_MISSING
    context = context or PlotContext()
    evaluations = [ScoredEvents(*events) for events in evaluations]
    if not weighted:
        evaluations = [events._replace(weights=None) for events in evaluations]
    figures, message = [], None
    if history:
        figures.append(("loss", lambda: _plot_history(history, context)))
    if context.training is not None and evaluations and not _have_scipy():
        message = SCIPY_MISSING
    elif context.training is not None and evaluations:
        figures.append(("overtraining", lambda: plots.plot_overtraining(
            context.training, evaluations[-1], context.dataset)))
    if evaluations:
        figures.append(("roc", lambda: plots.plot_rejection(evaluations, threshold,
                                                            context.dataset)))
    if weighted and evaluations:
        figures.append(("ams", lambda: plots.plot_ams_selection(
            evaluations, threshold, top_fraction, context.dataset, context.n_resamples)))
    paths = []
    for name, draw in figures:
        path = os.path.join(out_dir, PLOT_NAMES[name])
        plots.save_figure(draw(), path)
        paths.append(path)
    return paths, message
