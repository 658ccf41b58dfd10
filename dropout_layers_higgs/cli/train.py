"""Train dropout networks on the Higgs Boson Machine Learning Challenge data.

One command gives a trained bag of networks (on up to 50,000 training
events; one network on more, or with ``--folds 1``), its AUC and AMS on
held-out events, an HDF5 checkpoint, the split of the events, plots and a
summary::

    python scripts/train_higgs.py                          # built-in synthetic demo
    python scripts/train_higgs.py --data training.csv      # Kaggle training file
    python scripts/train_higgs.py --data sig.csv bg.csv    # signal and background files
    python scripts/train_higgs.py --data atlas-higgs-challenge-2014-v2.csv.gz
    python scripts/train_higgs.py --data HIGGS.csv.gz      # UCI (scored by AUC)

Then ``python scripts/predict_higgs.py higgs_out/model.h5 test.csv`` writes
the Kaggle submission, and ``python scripts/predict_higgs.py
higgs_out/model.h5 sig.csv bg.csv --split higgs_out/split.csv`` scores the
held-out events again.

A bag's networks train one after another here, in ``--max-concurrent``
processes or as Ray tasks (``--executor ray``, on a local instance or the
cluster ``--ray-address`` names); each one's checkpoint goes to
``members/`` as it finishes, and ``--resume`` trains only the missing ones.
The hyper-parameter search (``--search N``) lives in
:mod:`dropout_layers_higgs.cli.train_modes`.

Outputs in ``--out`` (default ``higgs_out/``): ``model.h5`` (the bag, or
the best epoch's network, with its preprocessing, cut, metrics and run id),
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

from dropout_layers.compilation import keep_jax_programs
from dropout_layers.files import write_json

from .. import pipeline, report
from ..bagging import MEMBER_DIRECTORY, MemberStore
from ..data import load_higgs
from ..data.sources import expand_paths
from ..member import history_key
from ..splitfile import SPLIT_NAME, write_split
from ..splits import pool_and_test
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
from .tensorboard import tensorboard_callbacks
from .train_args import (
    SYNTHETIC_EVENTS,
    build_parser,
    folds_note,
    implied_folds,
    parse_args,
    pipeline_options,
    settle_folds,
)

__all__ = ["main", "run", "train", "load_training_data", "CHECKPOINT_NAME", "METRICS_NAME"]

CHECKPOINT_NAME = "model.h5"
METRICS_NAME = "metrics.json"


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


def _part(data, label, scores, rows):
    return report.ScoredEvents(label, scores, data.y[rows],
                               None if data.weights is None else data.weights[rows])


def _evaluations(result, data):
    """List the scores that chose the cut, then those of the held-out events."""
    label = "out-of-fold" if result.kind == "bag" else "validation"
    parts = [_part(data, label, result.valid_scores, result.valid_idx)]
    if result.test_scores is not None and len(result.test_idx):
        parts.append(_part(data, "held-out test", result.test_scores, result.test_idx))
    return parts


def _plot_context(result, data, dataset):
    if result.kind == "bag":
        pool = result.bag.pool
        training = _part(data, "training (in-sample)", result.bag.score(data, pool), pool)
        best = [member.best_epoch for member in result.bag.members]
    else:
        member = result.member
        training = _part(data, "training",
                         member.predict(data.X[member.train_idx], data.feature_names),
                         member.train_idx)
        best = member.best_epoch
    monitor = None if result.kind == "bag" else history_key(result.member.monitor)
    return report.PlotContext(dataset=dataset, training=training, best_epoch=best,
                              monitor=monitor)


def _write_plots(run_dir, result, data, dataset):
    histories = result.histories if result.kind == "bag" else result.member.history
    paths, message = report.write_plots(
        run_dir.path, histories, _evaluations(result, data), weighted=result.weighted,
        threshold=result.threshold, top_fraction=result.options.top_fraction,
        context=_plot_context(result, data, dataset))
    for path in paths:
        run_dir.record(path)
    return message


def _parts(result):
    if result.kind == "bag":
        return {"pool": result.pool, "test": result.test_idx}
    return {"train": result.member.train_idx, "valid": result.member.valid_idx,
            "test": result.test_idx}


def _write_outputs(run_dir, result, data, metrics, dataset):
    """Checkpoint first, then the metrics, the split and the plots."""
    checkpoint = run_dir.file(CHECKPOINT_NAME)
    pipeline.save_result(checkpoint, result, metrics)
    run_dir.record(checkpoint)
    write_json(run_dir.record(run_dir.file(METRICS_NAME)), metrics)
    write_split(run_dir.file(SPLIT_NAME), _parts(result), data.event_ids)
    run_dir.record(run_dir.file(SPLIT_NAME))
    return _write_plots(run_dir, result, data, dataset)


def _resume_point(args, data, options):
    if not args.resume:
        return None, options
    resume = pipeline.load_resume_checkpoint(args.resume)
    pipeline.check_resume_compatible(resume, data, args.resume)
    return resume, pipeline.resumed_options(resume, options)


def _fit(args, data, options, run_dir, resume, callbacks):
    """Run the pipeline: one network, or a bag with its members kept in ``members/``."""
    if options.folds == 1:
        return pipeline.run_pipeline(data, options, seed=args.seed, resume=resume,
                                     callbacks=callbacks)
    _say(train_modes.bag_banner(args, options, run_dir))
    store = MemberStore(run_dir.path, resume=args.resume == "")
    return pipeline.run_pipeline(data, options, seed=args.seed,
                                 settings=train_modes.executor_settings(args, options.n_members),
                                 store=store,
                                 callbacks=callbacks)


def train(args, data, dataset, options, run_dir, start):
    """Train as the options say (a bag, or one network), write the files, print the summary."""
    resume, options = _resume_point(args, data, options)
    callbacks = (tensorboard_callbacks(args.log_dir, options.n_members) if args.log_dir
                 else None)
    result = _fit(args, data, options, run_dir, resume, callbacks)
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
    if callbacks:
        _say(f"TensorBoard logs of {options.n_members} network"
             f"{'s' if options.n_members > 1 else ''} in {args.log_dir}: tensorboard --logdir "
             f"{args.log_dir}")
    _say(_next_command(run_dir.prog, run_dir.file(CHECKPOINT_NAME), data))
    return 0


class _FullDiskNote:
    """What a full disk leaves to do: for a bag, resume from the networks kept."""

    def __init__(self, out):
        self.out = out
        self.options = None

    def __str__(self):
        if self.options is None or self.options.folds == 1:
            return ""
        return (f"the finished networks are kept in {self.out / MEMBER_DIRECTORY}: free some "
                "space and add --resume to train only the missing ones")


def _interrupted(prog, out, options):
    if options.folds == 1:
        return (f"{prog}: interrupted before the first epoch ended; nothing written "
                f"({out / CHECKPOINT_NAME} is as it was)")
    return (f"{prog}: interrupted; the finished networks are kept in {out / MEMBER_DIRECTORY} "
            f"and {out / CHECKPOINT_NAME} is as it was: add --resume to train only the missing "
            "ones")


def main(argv=None, prog="train-higgs"):
    """Train as the options say; return the exit status."""
    start = time.perf_counter()
    parser = build_parser(prog)
    args = parse_args(parser, argv)
    options = pipeline_options(args)
    if options.mode == "JAX":
        keep_jax_programs()
    out = check_out_dir(args.out)
    run_dir = RunDirectory(out, prog)
    note = _FullDiskNote(out)
    with reporting_full_disk(out, run_dir.written, note), run_dir:
        train_modes.check_ray_address(args.ray_address)
        data, dataset = load_training_data(args)
        if args.search is not None:
            return train_modes.search_hyperparameters(args, parser, data, dataset, options,
                                                      run_dir, start)
        if implied_folds(args) is None:
            training_events = len(pool_and_test(data, options, args.seed)[0])
            options = settle_folds(args, options, training_events)
            if not args.quiet:
                _say(folds_note(options, training_events))
        note.options = options
        # Networks of a bag trained in this process (--executor local) use the threads a
        # Ray task would get, so that both executors round alike and give equal networks.
        limit_blas_threads(args.threads if options.folds == 1
                           else args.threads or args.cpus_per_member)
        try:
            return train(args, data, dataset, options, run_dir, start)
        except KeyboardInterrupt:
            print(_interrupted(prog, out, options), file=sys.stderr)
            return EXIT_INTERRUPTED


def run(argv=None, prog="train-higgs"):
    """Run :func:`main`, turning expected errors into one line on stderr.

    Returns the exit status: 0, 2 for a bad option, 1 for unusable data,
    checkpoints, a failed run or a full disk, 130 after Ctrl-C before the
    first epoch ended (Ctrl-C later stops training cleanly and the best
    epoch's outputs are written).
    """
    return run_main(functools.partial(main, prog=prog), prog, argv)

