r"""The plots of a Higgs training run, as a physicist reads them.

Four figures answer the usual questions about a classifier:

- :func:`plot_overtraining`: the score distributions of signal and
  background for training and held-out events on one plot, with the
  Kolmogorov-Smirnov p-value of each class (does the network score unseen
  events as it scores the ones it learned from?);
- :func:`plot_rejection`: the ROC as background rejection
  :math:`1/\varepsilon_b` (log scale) against signal efficiency
  :math:`\varepsilon_s`, counting events and weighting them, with the
  chosen cut marked;
- :func:`plot_ams_selection`: the AMS against the fraction of events
  selected, with a bootstrap band over the events and the chosen and
  top-15% cuts marked;
- :func:`plot_loss`: the training and validation loss per epoch, with the
  best epoch marked and whole-number epoch ticks (:func:`plot_bag_loss`
  for the networks of a bag).

Each function returns a :class:`matplotlib.figure.Figure` (built without
pyplot, so no interactive backend or global state is touched) whose title
names the data set; :func:`save_figure` writes it atomically. matplotlib
(the ``plot`` extra) and SciPy (for the Kolmogorov-Smirnov test) are
imported only when a figure is drawn.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = np.repeat([0, 1], 100)
>>> events = ScoredEvents("validation", rng.random(200) * 0.5 + 0.5 * y, y)
>>> figure = plot_rejection([events], threshold=0.5, dataset="toy")
>>> axes = figure.axes[0]
>>> axes.get_yscale(), axes.get_ylabel().startswith("background rejection")
('log', True)
"""
import typing

import numpy as np

from dropout_layers.files import atomic_path
from dropout_layers.metrics import roc_auc, roc_curve

from .metrics import (
    BACKGROUND_WEIGHT_TOTAL,
    SIGNAL_WEIGHT_TOTAL,
    ams,
    ams_at_fraction,
    ams_at_threshold,
)

__all__ = ["ScoredEvents", "plot_overtraining", "plot_rejection", "plot_ams_selection",
           "plot_loss", "plot_bag_loss", "ams_bootstrap_band", "ks_p_values", "save_figure",
           "SCORE_BINS", "BOOTSTRAP_RESAMPLES"]

#: Bins of the score histograms of :func:`plot_overtraining`.
SCORE_BINS = 40
#: Resamples of the events behind the band of :func:`plot_ams_selection`.
BOOTSTRAP_RESAMPLES = 200
# Colours that stay apart for the common forms of colour blindness.
_SIGNAL, _BACKGROUND = "tab:blue", "tab:red"


class ScoredEvents(typing.NamedTuple):
    """Scored events of one part of the data, for the plots.

    Attributes
    ----------
    label : str
        What the events are, for the legend (``'held-out test'``).
    scores : array_like, shape (n,)
    y : array_like of {0, 1}, shape (n,)
    weights : array_like, shape (n,), or None
        Physics weights; None for data without (UCI).
    """

    label: str
    scores: np.ndarray
    y: np.ndarray
    weights: np.ndarray = None


def _figure(title, dataset):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 5.0), layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title if not dataset else f"{title}\n{dataset}", fontsize=11)
    axes.grid(alpha=0.3)
    return figure, axes


def _legend_below(axes, handles, labels):
    # Below the axes, where no curve can hide behind it.
    axes.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2,
                fontsize=9, frameon=False)


def save_figure(figure, path):
    """Write ``figure`` as a PNG at ``path``, atomically (see :mod:`dropout_layers.files`)."""
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")


# --------------------------------------------------------------------------
# Overtraining
# --------------------------------------------------------------------------

def ks_p_values(training, held_out):
    """Two-sample Kolmogorov-Smirnov p-values of the scores, per class.

    Parameters
    ----------
    training, held_out : ScoredEvents

    Returns
    -------
    dict
        ``{'signal': p, 'background': p}``: the probability of a difference
        at least as large between two samples of one distribution. A small
        p-value (below about 0.01) means the network scores its training
        events differently from unseen ones: it has learned them by heart.
    """
    from scipy.stats import ks_2samp

    values = {}
    for name, label in (("signal", 1), ("background", 0)):
        train_scores = np.asarray(training.scores)[np.asarray(training.y) == label]
        held_scores = np.asarray(held_out.scores)[np.asarray(held_out.y) == label]
        values[name] = float(ks_2samp(train_scores, held_scores).pvalue)
    return values


def plot_overtraining(training, held_out, dataset=None, bins=SCORE_BINS):
    """Score distributions of training and held-out events, per class, on one plot.

    Training events are drawn as filled histograms, held-out events as
    points with their statistical (Poisson) errors; each is normalised to
    unit area, so that only the shapes are compared. The legend gives the
    Kolmogorov-Smirnov p-value of each class (:func:`ks_p_values`).

    Parameters
    ----------
    training, held_out : ScoredEvents
    dataset : str, optional
        Named in the title.
    bins : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure, axes = _figure("Overtraining check: score distributions", dataset)
    p_values = ks_p_values(training, held_out)
    everything = np.concatenate([np.asarray(training.scores), np.asarray(held_out.scores)])
    low, high = float(everything.min()), float(everything.max())
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    for name, label, colour in (("signal", 1, _SIGNAL), ("background", 0, _BACKGROUND)):
        train_scores = np.asarray(training.scores)[np.asarray(training.y) == label]
        held_scores = np.asarray(held_out.scores)[np.asarray(held_out.y) == label]
        axes.hist(train_scores, bins=edges, density=True, histtype="stepfilled", alpha=0.3,
                  color=colour, label=f"{name}, {training.label}")
        counts, _ = np.histogram(held_scores, bins=edges)
        scale = 1.0 / (max(len(held_scores), 1) * widths)
        axes.errorbar(centres, counts * scale, yerr=np.sqrt(counts) * scale, fmt="o",
                      markersize=3, color=colour,
                      label=f"{name}, {held_out.label} (KS p = {p_values[name]:.3g})")
    axes.set_xlabel("network score")
    axes.set_ylabel("events (normalised to unit area)")
    # Head room for the legend above the distributions.
    axes.set_ylim(0.0, axes.get_ylim()[1] * 1.35)
    axes.legend(loc="upper center", fontsize=9, ncols=2)
    return figure


# --------------------------------------------------------------------------
# ROC as background rejection
# --------------------------------------------------------------------------

def _efficiencies(events, threshold, weighted):
    scores = np.asarray(events.scores, dtype=np.float64)
    y = np.asarray(events.y)
    weights = (np.asarray(events.weights, dtype=np.float64) if weighted
               else np.ones(len(scores)))
    selected = scores >= threshold
    signal = weights[selected & (y == 1)].sum() / weights[y == 1].sum()
    background = weights[selected & (y == 0)].sum() / weights[y == 0].sum()
    return float(signal), float(background)


def plot_rejection(curves, threshold=None, dataset=None):
    r"""ROC curves as background rejection against signal efficiency.

    Parameters
    ----------
    curves : sequence of ScoredEvents
        Each is drawn counting events (solid) and, when it has weights,
        with its physics weights (dashed).
    threshold : float, optional
        The chosen cut (``score >= threshold``), marked on every curve.
    dataset : str, optional
        Named in the title.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Selections without any background (:math:`\varepsilon_b = 0`, infinite
    rejection) are left out. The dotted line is a classifier that guesses,
    :math:`1/\varepsilon_b = 1/\varepsilon_s`.
    """
    figure, axes = _figure("ROC: background rejection against signal efficiency", dataset)
    lowest = np.inf
    for events in curves:
        variants = [(False, "-", "events")]
        if events.weights is not None:
            variants.append((True, "--", "weighted"))
        for weighted, style, kind in variants:
            weights = events.weights if weighted else None
            fpr, tpr, _ = roc_curve(events.y, events.scores, weights)
            keep = fpr > 0
            auc = roc_auc(events.y, events.scores, weights)
            line, = axes.plot(tpr[keep], 1.0 / fpr[keep], linestyle=style,
                              label=f"{events.label}, {kind} (AUC {auc:.4f})")
            lowest = min(lowest, float(np.min(1.0 / fpr[keep])))
            if threshold is not None:
                signal, background = _efficiencies(events, threshold, weighted)
                if background > 0:
                    axes.plot([signal], [1.0 / background], marker="o", linestyle="none",
                              color=line.get_color(), markeredgecolor="black",
                              label=f"chosen cut, {kind}: $\\varepsilon_s$ = {signal:.2f}, "
                                    f"1/$\\varepsilon_b$ = {1.0 / background:.3g}")
    guess = np.linspace(0.01, 1.0, 100)
    axes.plot(guess, 1.0 / guess, color="grey", linestyle=":", label="random guess")
    axes.set_yscale("log")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(bottom=min(1.0, lowest) * 0.8 if np.isfinite(lowest) else 0.8)
    axes.set_xlabel("signal efficiency $\\varepsilon_s$")
    axes.set_ylabel("background rejection $1/\\varepsilon_b$")
    axes.legend(loc="upper right", fontsize=8)
    return figure


# --------------------------------------------------------------------------
# AMS against the selected fraction
# --------------------------------------------------------------------------

def _ams_by_rank(y_sorted, weights_sorted, counts):
    """AMS of selecting the top r events for every r, with events counted ``counts`` times."""
    signal = np.where(y_sorted == 1, weights_sorted * counts, 0.0)
    background = np.where(y_sorted == 1, 0.0, weights_sorted * counts)
    signal_total, background_total = signal.sum(), background.sum()
    s = np.cumsum(signal) * (SIGNAL_WEIGHT_TOTAL / signal_total if signal_total > 0 else 0.0)
    b = np.cumsum(background) * (BACKGROUND_WEIGHT_TOTAL / background_total
                                 if background_total > 0 else 0.0)
    return ams(s, b), np.cumsum(counts) / counts.sum()


def ams_bootstrap_band(events, fractions, n_resamples=BOOTSTRAP_RESAMPLES, seed=0,
                       quantiles=(0.16, 0.84)):
    """Compute the AMS at each selected fraction, and its spread over bootstrap resamples.

    Each resample draws the events with replacement (each class's weights
    then renormalised to the challenge totals, as for every AMS here), keeps
    the ranking of the scores, and reads its AMS curve at ``fractions``.

    Parameters
    ----------
    events : ScoredEvents
        With weights.
    fractions : array_like
        Fractions of the events selected (the highest scores), in (0, 1].
    n_resamples : int
    seed : int
        Seeds the resampling: the band is reproducible.
    quantiles : (float, float)
        Of the resampled AMS at each fraction; the default spans 68%.

    Returns
    -------
    central : numpy.ndarray
        The AMS of the events themselves at each fraction.
    low, high : numpy.ndarray
        The quantiles over the resamples.

    Examples
    --------
    >>> y = np.array([1, 0] * 50)
    >>> events = ScoredEvents("x", np.linspace(1, 0, 100), y, np.ones(100))
    >>> central, low, high = ams_bootstrap_band(events, [0.1, 0.5], n_resamples=20)
    >>> bool(np.all(low <= high))
    True
    """
    scores = np.asarray(events.scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    y_sorted = np.asarray(events.y)[order]
    weights_sorted = np.asarray(events.weights, dtype=np.float64)[order]
    fractions = np.asarray(fractions, dtype=np.float64)
    n = len(scores)
    values, selected = _ams_by_rank(y_sorted, weights_sorted, np.ones(n))
    central = np.interp(fractions, selected, values)
    rng = np.random.default_rng(seed)
    resampled = np.empty((n_resamples, len(fractions)))
    for row in range(n_resamples):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        values, selected = _ams_by_rank(y_sorted, weights_sorted, counts)
        resampled[row] = np.interp(fractions, selected, values)
    low, high = np.quantile(resampled, quantiles, axis=0)
    return central, low, high


def plot_ams_selection(curves, threshold=None, top_fraction=0.15, dataset=None,
                       n_resamples=BOOTSTRAP_RESAMPLES):
    """AMS against the fraction of events selected, with a bootstrap band.

    Parameters
    ----------
    curves : sequence of ScoredEvents
        With physics weights.
    threshold : float, optional
        The chosen cut, marked (dotted) at the fraction it selects on the
        last of ``curves`` (the held-out events), with its AMS there.
    top_fraction : float
        The fixed selection the challenge's winners used, marked (dashed).
    dataset : str, optional
        Named in the title.
    n_resamples : int
        Of :func:`ams_bootstrap_band`; the band spans the 16-84% quantiles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure, axes = _figure("AMS against the selected fraction", dataset)
    chosen = None
    if threshold is not None and curves:
        chosen = float(np.mean(np.asarray(curves[-1].scores) >= threshold))
    right = min(1.0, max(3 * top_fraction, 1.5 * (chosen or 0.0), 0.05))
    n_min = min(len(events.scores) for events in curves) if curves else 1
    fractions = np.linspace(1.0 / max(n_min, 1), right, 200)
    for events in curves:
        central, low, high = ams_bootstrap_band(events, fractions, n_resamples)
        line, = axes.plot(fractions, central, label=events.label)
        axes.fill_between(fractions, low, high, color=line.get_color(), alpha=0.25,
                          label=f"{events.label}, 68% bootstrap band")
    top = ""
    if curves:
        last = curves[-1]
        top = f", AMS {ams_at_fraction(last.scores, last.y, last.weights, top_fraction):.2f}"
    if chosen is not None:
        value = ams_at_threshold(last.scores, last.y, last.weights, threshold)
        axes.axvline(chosen, color="black", linestyle=":",
                     label=f"chosen cut: {chosen:.1%} of {last.label} selected, AMS {value:.2f}")
    axes.axvline(top_fraction, color="grey", linestyle="--",
                 label=f"top {top_fraction:.0%} selection{top}")
    axes.set_xlim(0.0, right)
    axes.set_ylim(bottom=0.0)
    axes.set_xlabel("fraction of events selected as signal")
    axes.set_ylabel("AMS")
    _legend_below(axes, *axes.get_legend_handles_labels())
    return figure


# --------------------------------------------------------------------------
# Loss curves
# --------------------------------------------------------------------------

def plot_loss(history, best_epoch=None, dataset=None, monitor=None):
    """Training and validation loss per epoch, with the best epoch marked.

    Parameters
    ----------
    history : list of dict
        One entry per epoch with ``epoch``, ``train_loss`` and optionally
        ``valid_loss`` and validation figures such as ``valid_auc``.
    best_epoch : int, optional
        The epoch whose network was kept.
    dataset : str, optional
        Named in the title.
    monitor : str, optional
        The key of the validation figure that chose the best epoch, drawn on
        a second axis; by default the first of ``valid_auc``,
        ``valid_ams_smoothed`` and ``valid_ams`` in the history.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The epoch axis has whole-number ticks and spans half an epoch either
    side, so a run stopped in its first epoch draws one point without a
    singular axis (and without matplotlib's warning about it).
    """
    from matplotlib.ticker import MaxNLocator

    figure, axes = _figure("Loss per epoch", dataset)
    epochs = [int(entry["epoch"]) for entry in history]
    for key, label, marker in (("train_loss", "training (dropout on)", "o"),
                               ("valid_loss", "validation", "s")):
        values = [entry.get(key) for entry in history]
        if any(value is not None for value in values):
            axes.plot(epochs, [np.nan if value is None else value for value in values],
                      marker=marker, label=label)
    if best_epoch:
        axes.axvline(best_epoch, color="black", linestyle=":",
                     label=f"best epoch ({best_epoch}), kept")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.set_xlim(min(epochs, default=1) - 0.5, max(epochs, default=1) + 0.5)
    axes.set_xlabel("epoch")
    axes.set_ylabel("weighted cross-entropy")
    handles, labels = axes.get_legend_handles_labels()
    monitored = [key for key in (monitor, "valid_auc", "valid_ams_smoothed", "valid_ams")
                 if key and any(entry.get(key) is not None for entry in history)]
    if monitored:
        key = monitored[0]
        name = key[len("valid_"):].replace("_smoothed", "").upper() + (
            " (smoothed)" if key.endswith("_smoothed") else "")
        twin = axes.twinx()
        twin.plot(epochs, [np.nan if entry.get(key) is None else entry[key]
                           for entry in history],
                  color="tab:green", linestyle="--", marker=".", label=f"validation {name}")
        twin.set_ylabel(f"validation {name}")
        extra_handles, extra_labels = twin.get_legend_handles_labels()
        handles, labels = handles + extra_handles, labels + extra_labels
    _legend_below(axes, handles, labels)
    return figure


def plot_bag_loss(histories, best_epochs=None, dataset=None):
    """Training and validation loss per epoch of every network of a bag.

    Parameters
    ----------
    histories : list of list of dict
        One history per network (see :func:`plot_loss`); each network's
        validation events are its held-out fold.
    best_epochs : list of int, optional
        The epoch each network kept, marked on its validation curve.
    dataset : str, optional
        Named in the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator

    figure, axes = _figure(f"Loss per epoch of the {len(histories)} networks", dataset)
    best_epochs = list(best_epochs or [None] * len(histories))
    for index, (history, best) in enumerate(zip(histories, best_epochs)):
        epochs = [int(entry["epoch"]) for entry in history]
        first = index == 0
        axes.plot(epochs, [entry.get("train_loss", np.nan) for entry in history],
                  color="tab:blue", alpha=0.6, linewidth=1,
                  label="training (dropout on)" if first else None)
        valid = [np.nan if entry.get("valid_loss") is None else entry["valid_loss"]
                 for entry in history]
        axes.plot(epochs, valid, color="tab:orange", alpha=0.8, linewidth=1,
                  label="validation (each network's held-out fold)" if first else None)
        if best in epochs:
            axes.plot([best], [valid[epochs.index(best)]], marker="o", color="black",
                      linestyle="none", label="best epoch of each network, kept" if first
                      else None)
    every = [int(entry["epoch"]) for history in histories for entry in history] or [1]
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.set_xlim(min(every) - 0.5, max(every) + 0.5)
    axes.set_xlabel("epoch")
    axes.set_ylabel("weighted cross-entropy")
    _legend_below(axes, *axes.get_legend_handles_labels())
    return figure
