"""Reporting a Higgs training run: ``metrics.json``, a summary table and plots.

Everything here writes atomically (a temporary file in the target directory,
then :func:`os.replace`), so an interrupted or failed run never leaves a
half-written file where a good one from an earlier run used to be.

The plots need matplotlib (the ``plot`` extra: ``pip install -e ".[plot]"``).
Without it :func:`write_plots` writes nothing and returns a one-line
explanation for the caller to print once; nothing else depends on it.
Figures are drawn with the object-oriented API (:class:`matplotlib.figure.Figure`)
so that no pyplot state or interactive backend is touched.
"""
import os

import numpy as np

from dropout_layers.files import atomic_path
from dropout_layers.metrics import roc_auc, roc_curve

from .metrics import ams_curve

__all__ = [
    "summary_table", "have_matplotlib",
    "write_plots", "plot_loss_curves", "plot_roc", "plot_ams_fraction", "ams_fraction_curve",
    "MATPLOTLIB_MISSING",
]

#: What :func:`write_plots` says when matplotlib is not installed.
MATPLOTLIB_MISSING = ('matplotlib is not installed: no plots written '
                      '(install the plot extra: pip install -e ".[plot]")')


def _format_value(value, digits=4):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def summary_table(metrics):
    """A readable text table of the figures in a ``metrics.json`` dictionary.

    Parameters
    ----------
    metrics : dict
        As written by ``scripts/train_higgs.py``: ``data``, ``validation``,
        optionally ``test`` and ``leaderboard``, ``threshold``,
        ``best_epoch``, ``epochs_run``.

    Returns
    -------
    str
        Several lines, without a trailing newline.
    """
    rows = []
    data = metrics.get("data", {})
    rows.append(("data", f"{data.get('description', data.get('path', '-'))}"))
    rows.append(("events train/valid/test",
                 f"{data.get('n_train', '-')} / {data.get('n_valid', '-')} / "
                 f"{data.get('n_test', '-')}"))
    rows.append(("network", metrics.get("network", "-")))
    rows.append(("best epoch", f"{metrics.get('best_epoch', '-')} of "
                               f"{metrics.get('epochs_run', '-')}"))
    rows.append(("decision threshold", _format_value(metrics.get("threshold"), 6)))
    sections = [("validation", metrics.get("validation")), ("held-out test", metrics.get("test"))]
    header = ("", "AUC", "AMS (valid cut)", "AMS (top 15%)", "selected")
    table = []
    for title, values in sections:
        if not values:
            continue
        table.append((title, _format_value(values.get("auc")),
                      _format_value(values.get("ams_at_threshold")),
                      _format_value(values.get("ams_top15")),
                      _format_value(values.get("selected_fraction"), 3)))
    for board in ("public", "private"):
        value = (metrics.get("leaderboard") or {}).get(board)
        if value is not None:
            table.append((f"{board} leaderboard", "-", _format_value(value), "-", "-"))
    label_width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{label_width}}  {value}" for label, value in rows]
    if table:
        widths = [max(len(str(row[i])) for row in table + [header]) for i in range(len(header))]
        lines.append("")
        lines.append("  ".join(f"{cell:<{widths[i]}}" if i == 0 else f"{cell:>{widths[i]}}"
                               for i, cell in enumerate(header)))
        lines.append("  ".join("-" * width for width in widths))
        for row in table:
            lines.append("  ".join(f"{cell:<{widths[i]}}" if i == 0 else f"{cell:>{widths[i]}}"
                                   for i, cell in enumerate(row)))
    return "\n".join(lines)


def have_matplotlib():
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
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


def _new_figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.8), layout="constrained")
    return figure, figure.add_subplot()


def _save(figure, path):
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)


def plot_loss_curves(history, path):
    """Training and validation loss (and the monitored metric) per epoch.

    Parameters
    ----------
    history : list of dict
        One entry per epoch with ``epoch``, ``train_loss`` and optionally
        ``valid_loss`` and ``valid_<metric>`` keys.
    path : str or os.PathLike
        PNG file to write.
    """
    figure, axes = _new_figure()
    epochs = [entry["epoch"] for entry in history]
    for key, label in (("train_loss", "training (with dropout)"),
                       ("valid_loss", "validation")):
        values = [entry.get(key) for entry in history]
        if any(value is not None for value in values):
            axes.plot(epochs, [np.nan if v is None else v for v in values], marker="o",
                      label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel("weighted cross-entropy")
    axes.set_title("Loss")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left")
    metric_keys = [key for key in ("valid_ams", "valid_auc") if
                   any(entry.get(key) is not None for entry in history)]
    if metric_keys:
        key = metric_keys[0]
        twin = axes.twinx()
        twin.plot(epochs, [np.nan if entry.get(key) is None else entry[key] for entry in history],
                  color="tab:green", linestyle="--", marker=".",
                  label=f"validation {key[len('valid_'):].upper()}")
        twin.set_ylabel(key[len("valid_"):].upper())
        twin.legend(loc="upper right")
    _save(figure, path)


def plot_roc(curves, path):
    """ROC curves: signal efficiency against background efficiency.

    Parameters
    ----------
    curves : list of (label, scores, y, weights)
        One curve each; ``weights`` may be None.
    path : str or os.PathLike
    """
    figure, axes = _new_figure()
    for label, scores, y, weights in curves:
        fpr, tpr, _ = roc_curve(y, scores, weights)
        axes.plot(fpr, tpr, label=f"{label} (AUC {roc_auc(y, scores, weights):.4f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    axes.set_xlabel("background efficiency (false positive rate)")
    axes.set_ylabel("signal efficiency (true positive rate)")
    axes.set_title("ROC")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    _save(figure, path)


def plot_ams_fraction(curves, path, top_fraction=0.15):
    """AMS against the fraction of events selected as signal.

    Parameters
    ----------
    curves : list of (label, scores, y, weights, threshold)
        ``threshold`` (or None) marks the chosen cut on that curve.
    path : str or os.PathLike
    top_fraction : float
        Drawn as a vertical line (the winners' ~15% selection).
    """
    figure, axes = _new_figure()
    for label, scores, y, weights, threshold in curves:
        fraction, values = ams_fraction_curve(scores, y, weights)
        line, = axes.plot(fraction, values, label=label)
        if threshold is not None:
            chosen = float(np.mean(np.asarray(scores) >= threshold))
            axes.axvline(chosen, color=line.get_color(), linestyle=":", alpha=0.8)
    axes.axvline(top_fraction, color="grey", linestyle="--", label=f"top {top_fraction:.0%}")
    axes.set_xlim(0, min(1.0, 4 * top_fraction))
    axes.set_xlabel("fraction of events selected as signal")
    axes.set_ylabel("AMS")
    axes.set_title("AMS against selection (dotted: chosen cut)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    _save(figure, path)


def write_plots(out_dir, history, evaluations, weighted=True, threshold=None,
                top_fraction=0.15):
    """Write ``loss.png``, ``roc.png`` and, for weighted data, ``ams.png``.

    Parameters
    ----------
    out_dir : str or os.PathLike
    history : list of dict
        Per-epoch entries (see :func:`plot_loss_curves`).
    evaluations : list of (label, scores, y, weights)
        The data sets to draw, for example validation and held-out test.
        The ROC curves count events (as the AUC of ``metrics.json`` does);
        the weights enter the AMS plot only.
    weighted : bool
        Whether the data carry physics weights, making AMS meaningful.
    threshold : float, optional
        The chosen cut, marked on the AMS plot.
    top_fraction : float

    Returns
    -------
    paths : list of str
        The files written.
    message : str or None
        :data:`MATPLOTLIB_MISSING` when matplotlib is absent (and nothing
        was written), else None.
    """
    if not have_matplotlib():
        return [], MATPLOTLIB_MISSING
    paths = []
    loss_path = os.path.join(out_dir, "loss.png")
    plot_loss_curves(history, loss_path)
    paths.append(loss_path)
    roc_path = os.path.join(out_dir, "roc.png")
    # Unweighted, like the AUC of metrics.json; the AMS plot is the weighted view.
    plot_roc([(label, scores, y, None) for label, scores, y, _ in evaluations], roc_path)
    paths.append(roc_path)
    if weighted:
        ams_path = os.path.join(out_dir, "ams.png")
        plot_ams_fraction([(label, scores, y, weights, threshold)
                           for label, scores, y, weights in evaluations], ams_path,
                          top_fraction)
        paths.append(ams_path)
    return paths, None
