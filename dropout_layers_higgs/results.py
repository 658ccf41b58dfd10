"""What a run reports: the dictionaries behind ``metrics.json``.

:func:`metrics_summary` (a :class:`~dropout_layers_higgs.pipeline.PipelineResult`)
and :func:`ensemble_metrics` (an
:class:`~dropout_layers_higgs.bagging.EnsembleRun`) build them with one
schema (:data:`SCHEMA_VERSION`). Every dictionary records the command line
and the library version (:func:`run_record`), and names the figure a reader
should quote in ``result``: the held-out test events where there are any,
else the cross-fitted out-of-fold figures of a bag, else (a single network
with no test events) the validation figures, flagged ``optimistic``. Every
AUC and AMS of ``result`` and ``test`` carries a bootstrap standard
deviation (``*_std``).

The AMS that early stopping and the cut rule look at is the smoothed one
(``ams_smoothed``); the AMS of the selection itself is ``ams_at_threshold``.
The two are never given the same name.
"""
import platform
import shlex
import sys

from dropout_layers import __version__
from dropout_layers.compilation import backend_of_mode

from .options import PipelineOptions
from .preprocessing import HiggsPreprocessor
from .thresholds import MIN_FITTED_CUT_EVENTS, smoothing_window

__all__ = ["SCHEMA_VERSION", "run_record", "describe_network", "threshold_rule_text",
           "presented_figures", "metrics_summary", "ensemble_metrics", "ensemble_summary_table"]

#: Version of the layout of ``metrics.json``; 2 added ``schema_version``,
#: ``command``, ``library_version``, ``mode``, ``result`` and the ``*_std`` spreads.
SCHEMA_VERSION = 2
_RESULT_FIGURES = ("n_events", "auc", "auc_std", "ams_at_threshold", "ams_at_threshold_std",
                   "ams_top15", "ams_top15_std", "cut_keeps", "selected_fraction")


def run_record(argv=None):
    """Return the command line, library and schema versions that a ``metrics.json`` records.

    Parameters
    ----------
    argv : sequence of str, optional
        The command line; by default ``sys.argv``.

    Returns
    -------
    dict
        ``schema_version``, ``command`` (shell-quoted), ``library_version``
        and ``python``.

    Examples
    --------
    >>> run_record(["train-higgs", "--data", "my file.csv"])["command"]
    "train-higgs --data 'my file.csv'"
    """
    argv = sys.argv if argv is None else argv
    return {"schema_version": SCHEMA_VERSION, "command": shlex.join(str(a) for a in argv),
            "library_version": __version__, "python": platform.python_version()}


def describe_network(n_inputs, options):
    """Describe a network in one line, such as ``33-128-128-1, dropout 0.5``."""
    sizes = "-".join(str(n) for n in (n_inputs, *options.hidden, 1))
    text = f"{sizes}, dropout {options.dropout:g}"
    if options.input_dropout:
        text += f", input dropout {options.input_dropout:g}"
    return text


def threshold_rule_text(options, weighted, bag, n_events):
    """Say in words how the cut was chosen on ``n_events`` scored events."""
    scores = f"the {n_events} out-of-fold scores" if bag else f"the {n_events} validation scores"
    if options.threshold_rule == "fraction":
        return f"the top {options.top_fraction:.0%} of {scores}"
    if n_events < MIN_FITTED_CUT_EVENTS:
        return (f"the top {options.top_fraction:.0%} of {scores} (too few to fit a cut on: "
                f"{MIN_FITTED_CUT_EVENTS} needed)")
    if not weighted:
        return f"maximum TPR - FPR of {scores}"
    window = smoothing_window(options.ams_window, n_events)
    return f"maximum of the AMS curve of {scores}, smoothed over {window} events"


def presented_figures(test, leaderboard, cross_validation=None, validation=None):
    """Pick the figures to present as the result, and say where they come from.

    Parameters
    ----------
    test : dict or None
        Figures of held-out test events.
    leaderboard : dict or None
        Open data: the leaderboard AMS.
    cross_validation : dict, optional
        A bag's out-of-fold figures.
    validation : dict, optional
        A single network's validation figures (they chose the epoch and cut).

    Returns
    -------
    dict
        ``source``, ``optimistic`` (bool), ``note`` and the figures.
    """
    if test:
        figures = {key: test[key] for key in _RESULT_FIGURES if key in test}
        return dict(source="held-out test events", optimistic=False,
                    note="these events chose nothing: not the epochs, not the cut", **figures)
    if leaderboard:
        return dict(source="leaderboard sets", optimistic=False,
                    note="the public and private sets of the challenge, never trained on",
                    **leaderboard)
    if cross_validation:
        figures = {"auc": cross_validation.get("auc"), "auc_std": cross_validation.get("auc_std")}
        for key in ("ams_cross_fitted", "ams_cross_fitted_std", "ams_top15", "ams_top15_std"):
            if key in cross_validation:
                figures[key] = cross_validation[key]
        return dict(source="cross-fitted out-of-fold scores", optimistic=False,
                    note="each event is scored by the network that never trained on it and cut "
                         "where the other folds chose; each network chose its epoch on the "
                         "events it scores, a slight optimism", **figures)
    figures = {key: (validation or {}).get(key) for key in _RESULT_FIGURES
               if key in (validation or {})}
    return dict(source="validation events", optimistic=True,
                note="OPTIMISTIC: these events chose the epoch and the cut; hold out test "
                     "events (test_fraction > 0) for an honest figure", **figures)


def _data_section(data, description, synthetic, counts):
    return {"description": description, "path": data.path, "format": data.format,
            "synthetic": bool(synthetic), "weighted": data.weights is not None,
            "n_events": data.n_events, **counts}


def _bag_sections(bag, executor=None):
    """Return the sections that describe a bag's members and out-of-fold figures."""
    metadata = bag.ensemble.metadata
    by_index = {row["index"]: row for row in bag.scores["members"]}
    members = []
    for member in bag.members:
        row = dict(by_index[member.index])
        row.update(seed=member.seed, best_epoch=member.best_epoch,
                   epochs_run=len(member.history), seconds=member.seconds,
                   resumed=member.index in bag.resumed)
        members.append(row)
    cross_validation = {key: value for key, value in bag.scores.items()
                        if key not in ("members", "member_spread", "threshold")}
    ensemble = {"n_members": len(bag.members), "n_folds": metadata["n_folds"],
                "n_repeats": metadata["n_repeats"], "seed": metadata["seed"],
                "trained": sorted(bag.trained), "resumed": sorted(bag.resumed)}
    if executor is not None:
        ensemble["executor"] = executor
    return {"ensemble": ensemble, "cross_validation": cross_validation,
            "member_spread": bag.scores["member_spread"], "members": members}


def _single_sections(member):
    validation = dict(member.valid_metrics, optimistic=True,
                      note="these events chose the epoch and the cut")
    return {"monitor": member.monitor, "best_epoch": member.best_epoch,
            "epochs_run": len(member.history), "stopped_early": member.stopped_early,
            "interrupted": (member.trainer.history.interrupted
                            if member.trainer is not None else None),
            "validation": validation, "history": member.history}


def metrics_summary(result, data, description, synthetic=False, seconds=None):
    """Build everything ``metrics.json`` holds for a run of the pipeline.

    Parameters
    ----------
    result : PipelineResult
    data : HiggsData
        The data ``result`` was trained on.
    description : str
        Where the data came from, for people.
    synthetic : bool
        Whether the data were generated.
    seconds : float, optional
        Wall time of the whole run so far.

    Returns
    -------
    dict
        :func:`run_record`, ``mode`` (``'bag'`` or ``'single'``), ``data``,
        ``network``, ``backend``, ``inputs``, ``options``, ``seed``, ``threshold``,
        ``threshold_rule``, ``test``, ``leaderboard``, ``result`` (see
        :func:`presented_figures`), ``seconds``; a single network adds
        ``monitor``, ``best_epoch``, ``epochs_run``, ``stopped_early``,
        ``interrupted``, ``validation`` and ``history``; a bag adds
        ``ensemble``, ``cross_validation``, ``member_spread`` and ``members``.
    """
    options = result.options
    bag = result.bag
    preprocessor = (HiggsPreprocessor.from_state(bag.ensemble.preprocessing) if bag is not None
                    else result.member.preprocessor)
    if bag is not None:
        counts = {"n_pool": len(result.pool), "n_test": len(result.test_idx)}
        sections = _bag_sections(bag)
        presented = presented_figures(result.test_metrics, result.leaderboard,
                                      cross_validation=sections["cross_validation"])
        training_seconds = bag.seconds
    else:
        member = result.member
        counts = {"n_train": len(member.train_idx), "n_valid": len(member.valid_idx),
                  "n_test": len(result.test_idx)}
        sections = _single_sections(member)
        presented = presented_figures(result.test_metrics, result.leaderboard,
                                      validation=member.valid_metrics)
        training_seconds = member.seconds
    return {
        **run_record(), "mode": result.kind,
        "data": _data_section(data, description, synthetic, counts),
        "network": describe_network(preprocessor.n_outputs, options),
        "backend": backend_of_mode(options.mode),
        "inputs": preprocessor.output_names, "options": options.to_dict(), "seed": result.seed,
        "threshold": result.threshold,
        "threshold_rule": threshold_rule_text(options, result.weighted, bag is not None,
                                              len(result.valid_idx)),
        **sections, "test": result.test_metrics, "leaderboard": result.leaderboard,
        "result": presented, "seconds": {"training": training_seconds, "total": seconds},
    }


def ensemble_metrics(run, data, description, synthetic=False, executor="local", seconds=None):
    """Build everything ``metrics.json`` holds for an ensemble run, JSON-friendly.

    Parameters
    ----------
    run : EnsembleRun
    data : HiggsData
        The data the ensemble was trained on.
    description : str
        Where the data came from, for people.
    synthetic : bool
    executor : str
    seconds : float, optional
        Wall time of the whole run so far.

    Returns
    -------
    dict
        :func:`run_record`, ``mode`` (``'bag'``), ``data``, ``ensemble``
        (members, folds, repeats, seed, executor, trained and resumed
        members, path), ``network``, ``backend``, ``inputs``, ``options``,
        ``threshold``, ``threshold_rule``, ``cross_validation`` (the
        out-of-fold figures), ``member_spread``, ``members`` (each member's
        held-out figures, best epoch and training time), ``test``,
        ``leaderboard``, ``result`` and ``seconds``.
    """
    metadata = run.ensemble.metadata
    options = PipelineOptions.from_dict(metadata["options"])
    preprocessor = HiggsPreprocessor.from_state(run.ensemble.preprocessing)
    sections = _bag_sections(run, executor)
    sections["ensemble"]["path"] = str(run.path)
    leaderboard = metadata.get("leaderboard")
    return {
        **run_record(), "mode": "bag",
        "data": _data_section(data, description, synthetic,
                              {"n_pool": len(run.pool), "n_test": len(run.test_idx)}),
        "network": describe_network(preprocessor.n_outputs, options),
        "backend": backend_of_mode(options.mode),
        "inputs": preprocessor.output_names, "options": metadata["options"],
        "threshold": run.threshold,
        "threshold_rule": threshold_rule_text(options, run.weights is not None, True,
                                              len(run.pool)),
        **sections, "test": run.test_metrics, "leaderboard": leaderboard,
        "result": presented_figures(run.test_metrics, leaderboard,
                                    cross_validation=sections["cross_validation"]),
        "seconds": {"members": run.seconds, "total": seconds},
    }


def _cell(value, digits=4):
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _with_spread(value, spread):
    return _cell(value) if spread is None else f"{_cell(value)} +- {_cell(spread)}"


def _header_lines(metrics):
    ensemble, cv = metrics["ensemble"], metrics["cross_validation"]
    executor = ensemble.get("executor", "local")
    rows = [
        ("data", metrics["data"]["description"]),
        ("ensemble", f"{ensemble['n_members']} members = {ensemble['n_folds']} folds x "
                     f"{ensemble['n_repeats']} repeats (executor {executor}; "
                     f"{len(ensemble['trained'])} trained, {len(ensemble['resumed'])} resumed)"),
        ("network", metrics["network"]),
        ("decision threshold", f"{_cell(metrics['threshold'], 6)} ({metrics['threshold_rule']}; "
                               f"selects {_cell(cv.get('selected_fraction'), 3)})"),
        ("result", f"{metrics['result']['source']}"
                   + (" (OPTIMISTIC)" if metrics["result"]["optimistic"] else "")),
    ]
    width = max(len(label) for label, _ in rows)
    return [f"{label:<{width}}  {value}" for label, value in rows]


def ensemble_summary_table(metrics):
    """Lay out :func:`ensemble_metrics` (or a bag's :func:`metrics_summary`) as text.

    Returns
    -------
    str
        Several lines, without a trailing newline.
    """
    cv, spread, test = metrics["cross_validation"], metrics["member_spread"], metrics["test"]
    lines = _header_lines(metrics)
    lines += ["", "out-of-fold (each event scored by the members that never saw it):"]
    figures = [("AUC", _with_spread(cv.get("auc"), cv.get("auc_std")), spread.get("auc"))]
    if "ams_cross_fitted" in cv:
        figures += [("AMS, cut chosen on the other folds",
                     _with_spread(cv["ams_cross_fitted"], cv.get("ams_cross_fitted_std")), None),
                    ("AMS, top 15%", _with_spread(cv["ams_top15"], cv.get("ams_top15_std")),
                     spread.get("ams_top15")),
                    ("AMS, best cut on these scores (optimistic)", _cell(cv["ams_best_oof"]),
                     spread.get("ams_best"))]
    if test:
        figures += [(f"held-out test ({test['n_events']} events): AUC",
                     _with_spread(test["auc"], test.get("auc_std")), None)]
        if "ams_at_threshold" in test:
            figures += [("held-out test: AMS at the cut",
                         _with_spread(test["ams_at_threshold"], test.get("ams_at_threshold_std")),
                         None),
                        ("held-out test: AMS, top 15%",
                         _with_spread(test["ams_top15"], test.get("ams_top15_std")), None)]
    label_width = max(len(name) for name, _, _ in figures)
    value_width = max(8, *(len(value) for _, value, _ in figures))
    lines.append(f"  {'':<{label_width}}  {'ensemble':>{value_width}}  "
                 f"{'members: mean +- std':>22}")
    for name, value, member in figures:
        member_text = "-" if member is None else f"{member['mean']:.4f} +- {member['std']:.4f}"
        lines.append(f"  {name:<{label_width}}  {value:>{value_width}}  {member_text:>22}")
    for board, value in (metrics.get("leaderboard") or {}).items():
        lines.append(f"  {board + ' leaderboard AMS':<{label_width}}  "
                     f"{_cell(value):>{value_width}}")
    return "\n".join(lines)
