"""Train a dropout network on the Higgs Boson Machine Learning Challenge data.

One command gives a trained network, its AMS on held-out events, an HDF5
checkpoint, the split of the events, plots and a summary::

    python scripts/train_higgs.py                          # built-in synthetic demo
    python scripts/train_higgs.py --data training.csv      # Kaggle training file
    python scripts/train_higgs.py --data sig.csv bg.csv    # signal and background files
    python scripts/train_higgs.py --data atlas-higgs-challenge-2014-v2.csv.gz
    python scripts/train_higgs.py --data HIGGS.csv.gz      # UCI (scored by AUC)

Then ``python scripts/predict_higgs.py higgs_out/model.h5 test.csv`` writes
the Kaggle submission, and ``python scripts/predict_higgs.py
higgs_out/model.h5 sig.csv bg.csv --split higgs_out/split.csv`` scores the
held-out events again.

Ensembles (``--folds K --repeats R``, locally or on Ray) and the
hyper-parameter search (``--search N``) live in
:mod:`dropout_layers_higgs.cli.train_modes`.

Outputs in ``--out`` (default ``higgs_out/``): ``model.h5`` (the best
epoch's network with its preprocessing, threshold, metrics and run id),
``metrics.json`` (with the same run id), ``split.csv``, and with matplotlib
``loss.png``, ``overtraining.png``, ``roc.png`` and ``ams.png``. Every file
is written to a temporary name and renamed into place, the checkpoint
first: a run that fails (a diverged network, Ctrl-C in the first epoch, a
full disk) leaves the previous run's files intact, or keeps the checkpoint
it wrote before the disk filled up. One run at a time holds ``--out``.
"""
import functools
import sys
import time

from dropout_layers.files import write_json

from .. import pipeline, report
from ..data import load_higgs
from ..data.sources import expand_paths
from ..splitfile import SPLIT_NAME, write_split
from ..synthetic import generate_toy_higgs
from . import train_modes
from .common import (
    EXIT_INTERRUPTED,
    UsageError,
    check_out_dir,
    describe_files,
    limit_blas_threads,
    reporting_full_disk,
    run_main,
)
from .rundir import RunDirectory
from .train_args import SYNTHETIC_EVENTS, build_parser, parse_args, pipeline_options

__all__ = ["main", "run", "load_training_data", "CHECKPOINT_NAME", "METRICS_NAME",
           "COMPILE_NOTICE"]

CHECKPOINT_NAME = "model.h5"
METRICS_NAME = "metrics.json"
#: Printed before the network is compiled: the first run waits for numba.
COMPILE_NOTICE = "compiling the network, first run only; about {seconds} s"
#: The first compilation's wall time on 2 cores, as the README reports it.
FIRST_COMPILE_SECONDS = 60


def _say(text=""):
    print(text, flush=True)


def load_training_data(args, say=_say):
    """Load the labelled events of ``--data`` (or make the built-in synthetic ones).

    Returns
    -------
    data : HiggsData
    name : str
        For the summary and the plots' titles: the files, or "synthetic".
    """
    if args.data is None:
        say(f"No --data given: training on {SYNTHETIC_EVENTS:,} SYNTHETIC events generated in "
            "memory (seed 0). For the real challenge, pass --data training.csv (Kaggle), "
            "--data sig.csv bg.csv, or --data atlas-higgs-challenge-2014-v2.csv.gz (CERN open "
            "data).")
        data = generate_toy_higgs(SYNTHETIC_EVENTS, seed=0)
        return data, f"synthetic Kaggle-schema events ({SYNTHETIC_EVENTS:,}, seed 0)"
    paths = expand_paths(args.data)
    data = load_higgs(paths, format=args.format, progress=None if not args.quiet else False)
    name = describe_files(paths)
    if data.y is None:
        raise UsageError(f"{name}: has no labels ({data.format} format); train on a labelled "
                         "file such as training.csv and pass this one to predict_higgs.py")
    return data, f"{name} ({data.format}, {data.n_events:,} events)"


def _next_command(prog, checkpoint, data):
    predict = "predict_higgs.py" if prog.endswith(".py") else "predict-higgs"
    launcher = f"python scripts/{predict}" if prog.endswith(".py") else predict
    if data.event_ids is not None:
        return f"next: {launcher} {checkpoint} test.csv --out submission.csv"
    return f"next: {launcher} {checkpoint} HIGGS_test.csv --out scores.csv"


def _check_trained(result):
    """Refuse a run that Ctrl-C stopped before one epoch was complete."""
    trainer = result.member.trainer
    interrupted = trainer is not None and trainer.history.interrupted is not None
    if interrupted and not result.member.history:
        raise KeyboardInterrupt


def _evaluations(result, data):
    member = result.member
    parts = [("validation", member.valid_scores, member.valid_idx)]
    if result.test_scores is not None and len(result.test_idx):
        parts.append(("held-out test", result.test_scores, result.test_idx))
    return [report.ScoredEvents(label, scores, data.y[index],
                                None if data.weights is None else data.weights[index])
            for label, scores, index in parts]


def _write_plots(run_dir, result, data, dataset, options):
    member = result.member
    training = report.ScoredEvents(
        "training", member.predict(data.X[member.train_idx], data.feature_names),
        data.y[member.train_idx],
        None if data.weights is None else data.weights[member.train_idx])
    context = report.PlotContext(dataset=dataset, training=training,
                                 best_epoch=member.best_epoch)
    paths, message = report.write_plots(run_dir.path, member.history, _evaluations(result, data),
                                        weighted=result.weighted, threshold=member.threshold,
                                        top_fraction=options.top_fraction, context=context)
    for path in paths:
        run_dir.record(path)
    return message


def _write_outputs(run_dir, result, data, metrics, dataset):
    """Checkpoint first, then the metrics, the split and the plots."""
    checkpoint = run_dir.file(CHECKPOINT_NAME)
    pipeline.save_result(checkpoint, result, metrics)
    run_dir.record(checkpoint)
    write_json(run_dir.record(run_dir.file(METRICS_NAME)), metrics)
    parts = {"train": result.member.train_idx, "valid": result.member.valid_idx,
             "test": result.test_idx}
    write_split(run_dir.file(SPLIT_NAME), parts, data.event_ids)
    run_dir.record(run_dir.file(SPLIT_NAME))
    return _write_plots(run_dir, result, data, dataset, result.member.options)


def train_single(args, data, dataset, options, run_dir, start):
    """Train one network (the default mode), write its files and print the summary."""
    resume = None
    if args.resume is not None:
        resume = pipeline.load_resume_checkpoint(args.resume)
        pipeline.check_resume_compatible(resume, data, args.resume)
        options = pipeline.resumed_options(resume, options)
    if options.progress:
        _say(COMPILE_NOTICE.format(seconds=FIRST_COMPILE_SECONDS))
    result = pipeline.run_pipeline(data, options, seed=args.seed, resume=resume)
    _check_trained(result)
    metrics = pipeline.metrics_summary(result, data, dataset, synthetic=args.data is None,
                                       seconds=time.perf_counter() - start)
    metrics["run_id"] = run_dir.run_id
    message = _write_outputs(run_dir, result, data, metrics, dataset)
    if message:
        _say(message)
    _say()
    _say(report.summary_table(metrics))
    _say()
    _say(f"wrote {', '.join(map(str, run_dir.written))} in {time.perf_counter() - start:.1f} s")
    _say(_next_command(run_dir.prog, run_dir.file(CHECKPOINT_NAME), data))
    return 0


def main(argv=None, prog="train-higgs"):
    """Train as the options say; return the exit status."""
    start = time.perf_counter()
    parser = build_parser(prog)
    args = parse_args(parser, argv)
    # Members trained in this process (--executor local) use the threads a Ray
    # task would get, so that both executors round alike and give equal members.
    limit_blas_threads(args.threads if args.folds is None
                       else args.threads or args.cpus_per_member)
    out = check_out_dir(args.out)
    options = pipeline_options(args)
    run_dir = RunDirectory(out, prog)
    with reporting_full_disk(out, run_dir.written), run_dir:
        train_modes.check_ray_address(args.ray_address)
        data, dataset = load_training_data(args)
        if args.search is not None:
            return train_modes.search_hyperparameters(args, parser, data, dataset, options,
                                                      run_dir, start)
        if args.folds is not None:
            return train_modes.train_ensemble(args, data, dataset, options, run_dir, start)
        try:
            return train_single(args, data, dataset, options, run_dir, start)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted before the first epoch ended; nothing written "
                  f"({out / CHECKPOINT_NAME} is as it was)", file=sys.stderr)
            return EXIT_INTERRUPTED


def run(argv=None, prog="train-higgs"):
    """Run :func:`main`, turning expected errors into one line on stderr.

    Returns the exit status: 0, 2 for a bad option, 1 for unusable data,
    checkpoints, a failed run or a full disk, 130 after Ctrl-C before the
    first epoch ended (Ctrl-C later stops training cleanly and the best
    epoch's outputs are written).
    """
    return run_main(functools.partial(main, prog=prog), prog, argv)

