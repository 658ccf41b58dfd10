#!/usr/bin/env python
"""Held-out AUC (and AMS) of train-higgs's defaults against gradient boosting, on the same folds.

A 500-row test file cannot tell two models apart (the standard error of an
AUC is about 0.02 there), so this script scores every event of a file
once: it cuts the labelled events into ``--folds`` stratified outer folds,
and for each fold trains on the others both the pipeline with its default
options (:func:`~dropout_layers_higgs.pipeline.run_pipeline`, no test
events of its own) and a gradient-boosted baseline, then scores the fold
with each. The two models see identical training events, so their
difference is paired; ``--split-seeds`` repeats the whole comparison on
other cuts of the data for a spread::

    python scripts/benchmark_quality.py                       # the UCI sample, 3 folds, seed 0
    python scripts/benchmark_quality.py --split-seeds 0 1 2 --json quality.json
    python scripts/benchmark_quality.py --data training.csv --baseline hist
    python scripts/benchmark_quality.py --option hidden=[256,256,256] --option dropout=0.3

The baseline is XGBoost (300 trees of depth 5, learning rate 0.1, -999 as
missing, the issue's reference) when ``xgboost`` is installed, else
scikit-learn's ``HistGradientBoostingClassifier`` (300 iterations, learning
rate 0.1); ``--baseline-option max_depth=4`` changes one of its settings.
Figures: AUC of every fold, and for weighted (Kaggle-format) data the AMS of
the top 15% of each fold's events, each model's mean and the mean paired
difference with its standard error over folds. The default data is the UCI
HIGGS sample in ``../shared/data/uci-higgs-sample`` (both files, 7,500 rows).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from dropout_layers.errors import DropoutLayersError
from dropout_layers.executors import ExecutorSettings
from dropout_layers.metrics import roc_auc
from dropout_layers.threads import usable_cpus
from dropout_layers_higgs.cv import stratified_folds
from dropout_layers_higgs.data import load_higgs
from dropout_layers_higgs.metrics import ams_at_fraction
from dropout_layers_higgs.options import PipelineOptions
from dropout_layers_higgs.pipeline import run_pipeline
from dropout_layers_higgs.splits import is_weighted

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "uci-higgs-sample"
XGBOOST = {"n_estimators": 300, "max_depth": 5, "learning_rate": 0.1, "missing": -999.0}
HIST = {"max_iter": 300, "learning_rate": 0.1}


class UsageError(Exception):
    """Bad input; reported in one line, without a traceback."""


def _assignment(text, flag):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"{flag} takes NAME=VALUE (a JSON value), got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", type=Path,
                        help="labelled Higgs files (default: the UCI sample's two files)")
    parser.add_argument("--folds", type=int, default=3, help="outer folds (default %(default)s)")
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0],
                        help="seeds of the outer folds, one comparison each (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pipeline's training")
    parser.add_argument("--baseline", choices=("auto", "xgboost", "hist", "none"),
                        default="auto", help="auto: xgboost if installed, else hist")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="a PipelineOptions field for the pipeline, e.g. epochs=50")
    parser.add_argument("--baseline-option", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the baseline, e.g. max_depth=4")
    parser.add_argument("--baseline-only", action="store_true",
                        help="train only the baseline (its other settings on the same folds)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.folds < 2:
        raise UsageError(f"--folds must be at least 2, got {args.folds}")
    args.options = dict(_assignment(text, "--option") for text in args.option)
    args.baseline_options = dict(_assignment(text, "--baseline-option")
                                 for text in args.baseline_option)
    if args.data is None:
        args.data = [SAMPLE / "binary.train", SAMPLE / "binary.test"]
    return args


def make_baseline(kind, overrides, seed):
    """Return ``fit_predict(X_train, y_train, X_test) -> scores``, or None for no baseline."""
    if kind in ("auto", "xgboost"):
        try:
            import xgboost
        except ImportError:
            if kind == "xgboost":
                raise UsageError("--baseline xgboost: xgboost is not installed "
                                 "(pip install xgboost)") from None
        else:
            model = xgboost.XGBClassifier(**{**XGBOOST, "random_state": seed, **overrides})
            return "xgboost", model
    if kind == "none":
        return None, None
    from sklearn.ensemble import HistGradientBoostingClassifier
    model = HistGradientBoostingClassifier(**{**HIST, "random_state": seed, **overrides})
    return "hist", model


def _figures(y, scores, weights):
    figures = {"auc": roc_auc(y, scores)}
    if weights is not None:
        figures["ams15"] = ams_at_fraction(scores, y, weights, 0.15)
    return figures


def compare_fold(data, train, test, options, baseline, seed):
    """Train both models on ``train``, score ``test``; figures and seconds of each.

    A bag's networks train in one worker process per CPU, as train-higgs's
    do; ``options`` None trains the baseline only.
    """
    weights = data.weights[test] if is_weighted(data) else None
    row = {}
    if options is not None:
        start = time.perf_counter()
        settings = ExecutorSettings(processes=usable_cpus(), progress=False)
        result = run_pipeline(data.subset(train), options, seed=seed, settings=settings)
        scores = result.predict(data.X[test], data.feature_names)
        row["pipeline"] = {**_figures(data.y[test], scores, weights),
                           "seconds": time.perf_counter() - start}
    name, model = baseline
    if model is not None:
        start = time.perf_counter()
        model.fit(data.X[train], data.y[train])
        scores = model.predict_proba(data.X[test])[:, 1]
        row[name] = {**_figures(data.y[test], scores, weights),
                     "seconds": time.perf_counter() - start}
    return row


def summarise(rows, baseline_name):
    """Mean of each figure per model, and the paired difference pipeline - baseline."""
    summary = {}
    for model in ("pipeline", baseline_name):
        if model in rows[0]:
            summary[model] = {key: float(np.mean([row[model][key] for row in rows]))
                              for key in rows[0][model]}
    if baseline_name in rows[0] and "pipeline" in rows[0]:
        for key in rows[0]["pipeline"]:
            if key == "seconds":
                continue
            diff = np.array([row["pipeline"][key] - row[baseline_name][key] for row in rows])
            spread = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            summary[f"difference_{key}"] = {"mean": float(diff.mean()), "stderr": float(spread)}
    return summary


def run(argv=None):
    try:
        args = parse_args(argv)
        if not args.data[0].is_file():
            raise UsageError(f"{args.data[0]}: no such file (the UCI sample is looked for in "
                             f"{SAMPLE}; name labelled files with --data)")
        data = load_higgs([str(path) for path in args.data])
    except (UsageError, DropoutLayersError, OSError) as error:
        print(f"benchmark_quality: {error}", file=sys.stderr)
        return 2
    options = PipelineOptions(**{"test_fraction": 0.0, "progress": False, "bootstrap": 0,
                                 **args.options})
    baseline = make_baseline(args.baseline, args.baseline_options, args.seed)
    if args.baseline_only:
        if baseline[1] is None:
            print("benchmark_quality: --baseline-only with --baseline none trains nothing",
                  file=sys.stderr)
            return 2
        options = None
    rows = []
    for split_seed in args.split_seeds:
        fold_of = stratified_folds(data.y, args.folds, split_seed)
        for fold in range(args.folds):
            row = compare_fold(data, np.flatnonzero(fold_of != fold),
                               np.flatnonzero(fold_of == fold), options, baseline, args.seed)
            rows.append({"split_seed": split_seed, "fold": fold, **row})
            print(json.dumps(rows[-1]), flush=True)
    summary = summarise(rows, baseline[0])
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"events": data.n_events, "folds": args.folds,
                                         "options": options and options.to_dict(),
                                         "baseline": baseline[0], "rows": rows,
                                         "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(run())
