"""The plots of a run: what each figure draws (artists, labels, data), not its pixels."""
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.ticker import MaxNLocator  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402

from dropout_layers.metrics import roc_curve  # noqa: E402
from dropout_layers_higgs import plots, report  # noqa: E402
from dropout_layers_higgs.metrics import ams_at_fraction, ams_at_threshold  # noqa: E402
from dropout_layers_higgs.plots import ScoredEvents  # noqa: E402


def events(label, n, seed, shift=0.0, weighted=True):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(np.int8)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.8 * y - 0.8 + shift)))
    weights = np.where(y == 1, rng.uniform(0.001, 0.01, n), rng.uniform(0.5, 2.0, n))
    return ScoredEvents(label, scores, y, weights if weighted else None)


TRAIN = events("training", 3000, 1, shift=0.3)
VALID = events("validation", 1000, 2)
TEST = events("held-out test", 1000, 3)


def legend_texts(axes):
    return [text.get_text() for text in axes.get_legend().get_texts()]


def test_overtraining_plot_draws_both_classes_of_both_parts_with_ks_p_values():
    figure = plots.plot_overtraining(TRAIN, TEST, dataset="sig.csv + bg.csv")
    axes, = figure.axes
    assert "Overtraining" in axes.get_title() and "sig.csv + bg.csv" in axes.get_title()
    assert axes.get_xlabel() == "network score"
    expected = {name: ks_2samp(TRAIN.scores[TRAIN.y == label], TEST.scores[TEST.y == label]).pvalue
                for name, label in (("signal", 1), ("background", 0))}
    assert plots.ks_p_values(TRAIN, TEST) == pytest.approx(expected, rel=1e-12)
    assert sorted(legend_texts(axes)) == sorted([
        "signal, training", f"signal, held-out test (KS p = {expected['signal']:.3g})",
        "background, training", f"background, held-out test (KS p = {expected['background']:.3g})"])
    # Training events as filled histograms of unit area, one per class.
    patches = [patch for patch in axes.patches]
    assert len(patches) == 2
    # Held-out events as points with errors: the unit-area histogram of each class.
    containers = axes.containers
    signal_points = [c for c in containers if "signal" in c.get_label() and
                     hasattr(c, "has_yerr")][0]
    y_values = signal_points.lines[0].get_ydata()
    x_values = signal_points.lines[0].get_xdata()
    widths = np.diff(x_values).mean()
    assert np.sum(y_values) * widths == pytest.approx(1.0, rel=1e-6)


def test_overtraining_p_value_is_small_for_scores_learned_by_heart():
    learned = TRAIN._replace(scores=np.where(TRAIN.y == 1, 0.95, 0.05)
                             + 0.01 * np.random.default_rng(0).random(len(TRAIN.y)))
    p_values = plots.ks_p_values(learned, TEST)
    assert p_values["signal"] < 1e-6 and p_values["background"] < 1e-6


def test_rejection_plot_is_log_scale_weighted_and_unweighted_with_the_cut_marked():
    threshold = 0.6
    figure = plots.plot_rejection([VALID, TEST], threshold=threshold, dataset="toy (synthetic)")
    axes, = figure.axes
    assert axes.get_yscale() == "log" and "synthetic" in axes.get_title()
    assert axes.get_xlabel().startswith("signal efficiency")
    assert axes.get_ylabel().startswith("background rejection")
    labels = [line.get_label() for line in axes.get_lines()]
    for part in ("validation", "held-out test"):
        assert any(label.startswith(f"{part}, events (AUC") for label in labels)
        assert any(label.startswith(f"{part}, weighted (AUC") for label in labels)
    # The unweighted curve of the held-out events: 1/fpr against tpr.
    curve = next(line for line in axes.get_lines()
                 if line.get_label().startswith("held-out test, events"))
    fpr, tpr, _ = roc_curve(TEST.y, TEST.scores)
    np.testing.assert_allclose(curve.get_xdata(), tpr[fpr > 0])
    np.testing.assert_allclose(curve.get_ydata(), 1.0 / fpr[fpr > 0])
    # The cut: one marker per curve at the efficiencies of score >= threshold.
    markers = [line for line in axes.get_lines() if line.get_label().startswith("chosen cut")]
    assert len(markers) == 4
    selected = TEST.scores >= threshold
    eps_s = selected[TEST.y == 1].mean()
    eps_b = selected[TEST.y == 0].mean()
    held_out_events = markers[2]
    assert held_out_events.get_xdata()[0] == pytest.approx(eps_s)
    assert held_out_events.get_ydata()[0] == pytest.approx(1.0 / eps_b)


def test_rejection_plot_of_unweighted_data_has_only_event_curves():
    figure = plots.plot_rejection([VALID._replace(weights=None)], threshold=0.5)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert not any("weighted" in label for label in labels)
    assert sum(label.startswith("validation, events") for label in labels) == 1


def test_ams_plot_has_a_bootstrap_band_and_both_cuts():
    threshold = 0.62
    figure = plots.plot_ams_selection([VALID, TEST], threshold=threshold, top_fraction=0.15,
                                      dataset="training.csv", n_resamples=50)
    axes, = figure.axes
    assert axes.get_xlabel() == "fraction of events selected as signal"
    assert axes.get_ylabel() == "AMS" and "training.csv" in axes.get_title()
    texts = legend_texts(axes)
    assert "held-out test, 68% bootstrap band" in texts
    chosen = float(np.mean(TEST.scores >= threshold))
    at_cut = ams_at_threshold(TEST.scores, TEST.y, TEST.weights, threshold)
    top = ams_at_fraction(TEST.scores, TEST.y, TEST.weights, 0.15)
    assert (f"chosen cut: {chosen:.1%} of held-out test selected, AMS {at_cut:.2f}") in texts
    assert f"top 15% selection, AMS {top:.2f}" in texts
    vertical = {line.get_label(): line.get_xdata()[0] for line in axes.get_lines()
                if line.get_label().startswith(("chosen", "top"))}
    assert sorted(vertical.values()) == pytest.approx(sorted([chosen, 0.15]))
    # The central curve is the AMS of the events themselves.
    curve = next(line for line in axes.get_lines() if line.get_label() == "held-out test")
    fractions = curve.get_xdata()
    k = int(np.argmin(np.abs(fractions - 0.15)))
    assert curve.get_ydata()[k] == pytest.approx(
        ams_at_fraction(TEST.scores, TEST.y, TEST.weights, fractions[k]), rel=0.05)
    assert len(axes.collections) == 2  # one band per curve


def test_bootstrap_band_contains_the_curve_and_shrinks_with_more_events():
    fractions = np.array([0.1, 0.15, 0.3])
    small = events("small", 400, 7)
    large = events("large", 6400, 7)
    widths = []
    for sample in (small, large):
        central, low, high = plots.ams_bootstrap_band(sample, fractions, n_resamples=100)
        assert np.all(low <= high)
        assert np.all((low <= central * 1.02) & (central <= high * 1.02))
        widths.append(np.mean(high - low))
    # 16 times the events: the band narrows by about 4; allow a wide margin.
    assert widths[1] < widths[0] / 2
    again = plots.ams_bootstrap_band(small, fractions, n_resamples=100)
    np.testing.assert_array_equal(again[1], plots.ams_bootstrap_band(small, fractions, 100)[1])


def test_loss_plot_marks_the_best_epoch_with_integer_ticks():
    history = [{"epoch": e, "train_loss": 0.7 - 0.02 * e, "valid_loss": 0.65 - 0.01 * e,
                "valid_ams": 1.0 + 0.1 * e} for e in range(1, 8)]
    figure = plots.plot_loss(history, best_epoch=5, dataset="synthetic events")
    axes, twin = figure.axes
    locator = axes.xaxis.get_major_locator()
    assert isinstance(locator, MaxNLocator) and locator._integer
    figure.canvas.draw()
    ticks = [tick for tick in axes.get_xticks() if axes.get_xlim()[0] <= tick <= axes.get_xlim()[1]]
    assert all(float(tick).is_integer() for tick in ticks)
    lines = {line.get_label(): line for line in axes.get_lines()}
    assert list(lines["training (dropout on)"].get_ydata()) == [h["train_loss"] for h in history]
    assert list(lines["validation"].get_xdata()) == list(range(1, 8))
    assert lines["best epoch (5), kept"].get_xdata()[0] == 5
    assert twin.get_ylabel() == "validation AMS"
    assert "Loss" in axes.get_title() and "synthetic" in axes.get_title()


def test_loss_plot_of_a_run_stopped_in_its_first_epoch_gives_no_warning(tmp_path):
    history = [{"epoch": 1, "train_loss": 0.69, "valid_loss": 0.68, "valid_auc": 0.61}]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = plots.plot_loss(history, best_epoch=1)
        plots.save_figure(figure, tmp_path / "loss.png")
    axes = figure.axes[0]
    assert axes.get_xlim() == (0.5, 1.5)
    visible = [tick for tick in axes.get_xticks() if 0.5 <= tick <= 1.5]
    assert visible == [1.0]


def test_write_plots_writes_the_four_files_with_the_data_set_name(tmp_path):
    history = [{"epoch": 1, "train_loss": 0.7, "valid_loss": 0.69, "valid_ams": 1.0},
               {"epoch": 2, "train_loss": 0.6, "valid_loss": 0.65, "valid_ams": 1.2}]
    context = report.PlotContext(dataset="synthetic events", training=TRAIN, best_epoch=2,
                                 n_resamples=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths, message = report.write_plots(tmp_path, history, [VALID, TEST], weighted=True,
                                            threshold=0.6, context=context)
    assert message is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ams.png", "loss.png", "overtraining.png", "roc.png"]
    for path in paths:
        with open(path, "rb") as png:
            assert png.read(8) == b"\x89PNG\r\n\x1a\n"


def test_write_plots_without_weights_leaves_out_the_ams(tmp_path):
    unweighted = [VALID._replace(weights=None)]
    paths, _ = report.write_plots(tmp_path, None, unweighted, weighted=False, threshold=0.5)
    assert [p.split("/")[-1] for p in paths] == ["roc.png"]


def test_bag_loss_plot_draws_every_network_and_its_best_epoch():
    histories = [[{"epoch": e, "train_loss": 0.7 - 0.01 * e - 0.001 * k,
                   "valid_loss": 0.6 + 0.002 * (e - 3 - k) ** 2} for e in range(1, 6 + k)]
                 for k in range(3)]
    figure = plots.plot_bag_loss(histories, best_epochs=[3, 4, 5], dataset="toy")
    axes, = figure.axes
    assert "3 networks" in axes.get_title()
    lines = axes.get_lines()
    validation = [line for line in lines if line.get_color() == "tab:orange"]
    assert [list(line.get_xdata()) for line in validation] == [
        list(range(1, 6 + k)) for k in range(3)]
    best = [(line.get_xdata()[0], line.get_ydata()[0]) for line in lines
            if line.get_marker() == "o"]
    assert best == [(3 + k, pytest.approx(0.6)) for k in range(3)]
    assert axes.get_xlim() == (0.5, 7.5) and axes.xaxis.get_major_locator()._integer
    assert legend_texts(axes) == ["training (dropout on)",
                                  "validation (each network's held-out fold)",
                                  "best epoch of each network, kept"]


def test_without_scipy_the_overtraining_plot_is_left_out_and_said_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    context = report.PlotContext(training=TRAIN, n_resamples=10)
    paths, message = report.write_plots(tmp_path, None, [TEST], threshold=0.6, context=context)
    assert message == report.SCIPY_MISSING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ams.png", "roc.png"]
