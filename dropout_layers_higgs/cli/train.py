"""Train a dropout network on the Higgs Boson Machine Learning Challenge data.

One command gives a trained network, its AMS on held-out events, an HDF5
checkpoint, plots and a summary::

    python scripts/train_higgs.py                          # built-in synthetic demo
    python scripts/train_higgs.py --data training.csv      # Kaggle training file
    python scripts/train_higgs.py --data atlas-higgs-challenge-2014-v2.csv.gz
    python scripts/train_higgs.py --data HIGGS.csv.gz      # UCI (scored by AUC)
    python scripts/train_higgs.py --data training.csv --hidden 600,600,600 --learning-rate 0.01

The last line trains the challenge winner's network size, which needs the
smaller learning rate. Then ``python scripts/predict_higgs.py
higgs_out/model.h5 test.csv`` writes the Kaggle submission.

Ensembles, as the challenge winner's bag of networks::

    python scripts/train_higgs.py --folds 2 --repeats 2 --executor ray
    python scripts/train_higgs.py --folds 2 --repeats 35 --executor ray --ray-address auto --resume

train ``folds * repeats`` members on repeated stratified K-fold splits, each
early-stopped on its own held-out fold, locally or as Ray tasks (on a local
Ray instance, or on the cluster ``--ray-address`` names). Each member's
checkpoint is written to ``members/`` as it finishes and ``--resume`` trains
only the missing ones; ``ensemble.h5`` holds them all, and ``metrics.json``
the out-of-fold AUC and AMS with their spread across members.

Hyper-parameter search with Ray Tune::

    python scripts/train_higgs.py --search 20 --data training.csv

trains 20 sampled configurations (dropout, layer width, learning rate) on
one split, stops the trailing ones early (ASHA), writes the table of trials
to ``search.json`` and ``search.csv`` and prints the command that trains
the best one.

The built-in default trains a 128-128-128 network for 20 epochs on 100,000
generated events: about 10 s on 2 cores, compilation included.

Outputs in ``--out`` (default ``higgs_out/``): ``model.h5`` (the best
epoch's network with its preprocessing, threshold and metrics), ``metrics.json``,
``loss.png``, ``roc.png``, ``ams.png`` (with matplotlib). Every file is
written to a temporary name and renamed into place, so a run that fails
leaves the previous run's files intact.
"""
import argparse
import functools
import sys
import time
from pathlib import Path

from dropout_layers.files import write_json

from .common import (
    EXIT_INTERRUPTED,
    OneLineParser,
    UsageError,
    check_out_dir,
    fraction,
    limit_blas_threads,
    make_out_dir,
    positive_float,
    positive_int,
    probability,
    run_main,
)

# The built-in demo: events generated in memory, and a network small enough
# that generation, compilation and training take well under 90 s on 2 cores.
SYNTHETIC_EVENTS = 100_000
DEFAULT_EPOCHS_SYNTHETIC = 20
DEFAULT_EPOCHS_DATA = 200
DEFAULT_HIDDEN = "128,128,128"
CHECKPOINT_NAME = "model.h5"
METRICS_NAME = "metrics.json"


def hidden_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 600,600,600, got {text!r}") from None
    if any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"layer sizes must be positive integers, got {text!r}")
    return sizes


def build_parser(prog="train-higgs"):
    parser = OneLineParser(
        prog=prog,
        description="Train a dropout MLP on Higgs challenge data (Kaggle, CERN open data or "
                    "UCI); without --data, on built-in synthetic events.")
    parser.add_argument("--data", metavar="PATH",
                        help="training data: Kaggle training.csv, the open-data "
                             "atlas-higgs-challenge-2014-v2.csv(.gz) or UCI HIGGS.csv(.gz); "
                             f"default: {SYNTHETIC_EVENTS:,} synthetic events")
    parser.add_argument("--format", choices=("kaggle-train", "opendata", "uci"),
                        help="override the format detected from the first line")
    parser.add_argument("--epochs", type=positive_int,
                        help=f"maximum epochs (default {DEFAULT_EPOCHS_SYNTHETIC} on the "
                             f"built-in data, {DEFAULT_EPOCHS_DATA} with --data)")
    parser.add_argument("--batch-size", type=positive_int, default=128,
                        help="mini-batch size (default %(default)s)")
    parser.add_argument("--hidden", type=hidden_sizes, default=hidden_sizes(DEFAULT_HIDDEN),
                        metavar="N,N,...",
                        help=f"hidden layer sizes (default {DEFAULT_HIDDEN}; the challenge "
                             "winner used 600,600,600)")
    parser.add_argument("--dropout", type=probability, default=0.5,
                        help="dropout after each hidden layer (default %(default)s)")
    parser.add_argument("--input-dropout", type=probability, default=0.0,
                        help="dropout on the inputs (default %(default)s)")
    parser.add_argument("--learning-rate", type=positive_float, default=0.05,
                        help="SGD learning rate (default %(default)s)")
    parser.add_argument("--momentum", type=probability, default=0.9,
                        help="Nesterov momentum (default %(default)s)")
    parser.add_argument("--patience", type=positive_int, default=20,
                        help="stop after this many epochs without a better validation "
                             "score (default %(default)s)")
    parser.add_argument("--valid-fraction", type=fraction, default=0.2,
                        help="share of the labelled events for early stopping and the "
                             "threshold (default %(default)s)")
    parser.add_argument("--test-fraction", type=float, default=None,
                        help="share held out and scored once at the end (default 0.2; 0 for "
                             "the open-data file, whose leaderboard sets are held out)")
    parser.add_argument("--drop-phi", action="store_true",
                        help="leave out the azimuthal angles (*_phi), as the winner did")
    parser.add_argument("--no-log-transform", action="store_true",
                        help="do not log-transform long-tailed positive features")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    parser.add_argument("--out", default="higgs_out", metavar="DIR",
                        help="output directory (default %(default)s)")
    parser.add_argument("--resume", metavar="CHECKPOINT", nargs="?", const="",
                        help="continue training from a checkpoint written by this script; with "
                             "--folds, give no CHECKPOINT: finished members in --out are kept")
    parser.add_argument("--threads", type=positive_int,
                        help="BLAS threads (default 1 unless OPENBLAS_NUM_THREADS or "
                             "OMP_NUM_THREADS is set; more only pays for wide networks on "
                             "idle cores)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or per-epoch lines; only the summary")
    ensemble = parser.add_argument_group(
        "ensembles", "train folds x repeats members on repeated stratified K-fold splits and "
                     "average them; --resume (without a CHECKPOINT) trains only the members "
                     "missing from --out")
    ensemble.add_argument("--folds", type=folds_count, metavar="K",
                          help="folds per repeat (at least 2); turns on ensemble training")
    ensemble.add_argument("--repeats", type=positive_int, default=1, metavar="R",
                          help="repeats of the K-fold split (default %(default)s)")
    ensemble.add_argument("--executor", choices=("local", "ray"), default="local",
                          help="local: members one after another in this process (or in "
                               "--max-concurrent processes); ray: one Ray task per member "
                               "(default %(default)s)")
    ensemble.add_argument("--ray-address", metavar="ADDR",
                          help="Ray cluster to run on (also for --search): 'auto' (the cluster "
                               "of this node), 'HOST:6379' or 'ray://HOST:10001'; default: a "
                               "local Ray instance")
    ensemble.add_argument("--cpus-per-member", type=positive_int, default=1, metavar="N",
                          help="CPUs each Ray task asks for, and BLAS threads per member unless "
                               "--threads says otherwise (default %(default)s)")
    ensemble.add_argument("--max-concurrent", type=positive_int, metavar="N",
                          help="most members training at once (default: as many as the CPUs "
                               "allow with ray, 1 with local)")
    search = parser.add_argument_group(
        "search", "train N sampled configurations of --dropout, the width of the --hidden "
                  "layers and --learning-rate with Ray Tune, stopping poor ones early (ASHA); "
                  "writes search.json and search.csv")
    search.add_argument("--search", type=positive_int, metavar="N",
                        help="number of trials; turns on the hyper-parameter search")
    search.add_argument("--search-max-concurrent", type=positive_int, metavar="N",
                        help="most trials training at once (default: one per CPU)")
    return parser


def folds_count(text):
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


def load_training_data(args, say):
    from dropout_layers_higgs import load_higgs
    from dropout_layers_higgs.synthetic import generate_toy_higgs

    if args.data is None:
        say(f"No --data given: training on {SYNTHETIC_EVENTS:,} SYNTHETIC events generated in "
            "memory (seed 0). For the real challenge, pass --data training.csv (Kaggle) or "
            "--data atlas-higgs-challenge-2014-v2.csv.gz (CERN open data).")
        data = generate_toy_higgs(SYNTHETIC_EVENTS, seed=0)
        return data, f"synthetic Kaggle-schema events ({SYNTHETIC_EVENTS:,}, seed 0)"
    data = load_higgs(args.data, format=args.format, progress=None if not args.quiet else False)
    if data.y is None:
        raise UsageError(f"{args.data}: has no labels ({data.format} format); train on a "
                         "labelled file such as training.csv and pass this one to "
                         "predict_higgs.py")
    return data, f"{args.data} ({data.format}, {data.n_events:,} events)"


def main(argv=None, prog="train-higgs"):
    """Train as the options say; return the exit status."""
    start = time.perf_counter()
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.test_fraction is not None and not 0.0 <= args.test_fraction < 1.0:
        raise UsageError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.test_fraction is not None and args.valid_fraction + args.test_fraction >= 1.0:
        raise UsageError(f"--valid-fraction + --test-fraction must be below 1, got "
                         f"{args.valid_fraction} + {args.test_fraction}")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")
    # Members trained in this process (--executor local) use the threads a Ray
    # task would get, so that both executors round alike and give equal members.
    limit_blas_threads(args.threads if args.folds is None else args.threads or args.cpus_per_member)
    check_search_options(args)
    check_ensemble_options(args)
    out = check_out_dir(args.out)

    def say(text):
        print(text, flush=True)

    # Everything that can be checked is checked before anything is compiled.
    from dropout_layers_higgs import pipeline, report

    resume = None
    if args.resume is not None and args.folds is None:
        resume = pipeline.load_resume_checkpoint(args.resume)
    data, description = load_training_data(args, say)
    if resume is not None:
        pipeline.check_resume_compatible(resume, data, args.resume)

    epochs = args.epochs or (DEFAULT_EPOCHS_SYNTHETIC if args.data is None else DEFAULT_EPOCHS_DATA)
    options = pipeline.PipelineOptions(
        hidden=args.hidden, dropout=args.dropout, input_dropout=args.input_dropout,
        epochs=epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        momentum=args.momentum, patience=args.patience, valid_fraction=args.valid_fraction,
        test_fraction=args.test_fraction, drop_phi=args.drop_phi,
        log_transform=not args.no_log_transform, progress=not args.quiet)
    if resume is not None:
        options = pipeline.resumed_options(resume, options)

    make_out_dir(out)
    if args.search is not None:
        return search_hyperparameters(args, parser, data, description, options, out, say, start)
    if args.folds is not None:
        return train_ensemble(args, prog, data, description, options, out, say, start)
    result = pipeline.run_pipeline(data, options, seed=args.seed, resume=resume)
    metrics = pipeline.metrics_summary(result, data, description, synthetic=args.data is None,
                                       seconds=time.perf_counter() - start)
    checkpoint_path = out / CHECKPOINT_NAME
    pipeline.save_result(checkpoint_path, result, metrics)
    write_json(out / METRICS_NAME, metrics)
    evaluations = [("validation", result.member.valid_scores, data.y[result.member.valid_idx],
                    None if data.weights is None else data.weights[result.member.valid_idx])]
    if result.test_scores is not None:
        evaluations.append(("held-out test", result.test_scores, data.y[result.test_idx],
                            None if data.weights is None else data.weights[result.test_idx]))
    plots, message = report.write_plots(out, result.member.history, evaluations,
                                        weighted=result.weighted,
                                        threshold=result.member.threshold,
                                        top_fraction=options.top_fraction)
    if message:
        say(message)
    say("")
    say(report.summary_table(metrics))
    written = [checkpoint_path, out / METRICS_NAME] + [Path(p) for p in plots]
    say("")
    say(f"wrote {', '.join(str(p) for p in written)} in {time.perf_counter() - start:.1f} s")
    if data.event_ids is not None:
        say(f"next: python scripts/predict_higgs.py {checkpoint_path} test.csv "
            "--out submission.csv")
    else:
        say(f"next: python scripts/predict_higgs.py {checkpoint_path} HIGGS_test.csv "
            "--out scores.csv")
    return 0


def check_ensemble_options(args):
    """Refuse option combinations of ensemble training before anything is loaded."""
    if args.folds is None:
        given = [name for name, value in (("--executor ray", args.executor == "ray"),
                                          ("--ray-address",
                                           args.ray_address and args.search is None),
                                          ("--max-concurrent", args.max_concurrent),
                                          ("--repeats", args.repeats != 1)) if value]
        if given:
            raise UsageError(f"{given[0]} needs --folds K (ensemble training)")
        if args.resume == "":
            raise UsageError("--resume needs a CHECKPOINT (or --folds K to resume an ensemble in "
                             "--out)")
        return
    if args.resume:
        raise UsageError(f"with --folds, --resume takes no CHECKPOINT (got {args.resume}): it "
                         "keeps the finished members in --out")
    if args.test_fraction is not None:
        raise UsageError("--test-fraction does not apply with --folds: every event is held out "
                         "by some members, and the out-of-fold scores are the estimate")
    if args.ray_address and args.executor != "ray":
        raise UsageError("--ray-address needs --executor ray")
    if args.executor == "ray":
        from dropout_layers.executors import RAY_INSTALL_HINT, ray_available

        if not ray_available():
            raise UsageError(RAY_INSTALL_HINT)


def check_search_options(args):
    """Refuse option combinations of the hyper-parameter search before anything is loaded."""
    if args.search is None:
        if args.search_max_concurrent is not None:
            raise UsageError("--search-max-concurrent needs --search N")
        return
    for option, given in (("--folds", args.folds is not None),
                          ("--resume", args.resume is not None)):
        if given:
            raise UsageError(f"--search does not combine with {option}: search first, then "
                             "train the printed configuration")
    from dropout_layers_higgs.search import TUNE_INSTALL_HINT, tune_available

    if not tune_available():
        raise UsageError(TUNE_INSTALL_HINT)


def search_hyperparameters(args, parser, data, description, options, out, say, start):
    """Run the hyper-parameter search (``--search N``) and report its trials."""
    from dropout_layers_higgs import search

    say(f"searching {args.search} configurations with Ray Tune and ASHA"
        + (f" on {args.ray_address}" if args.ray_address else "")
        + f": dropout {search.DROPOUT_RANGE[0]}-{search.DROPOUT_RANGE[1]}, "
          f"hidden {len(options.hidden)} x {'/'.join(map(str, search.WIDTH_CHOICES))} units, "
          f"learning rate {search.LEARNING_RATE_RANGE[0]}-{search.LEARNING_RATE_RANGE[1]}")
    try:
        result = search.run_search(data, options, args.search, out, seed=args.seed,
                                   ray_address=args.ray_address,
                                   max_concurrent=args.search_max_concurrent,
                                   say=None if args.quiet else say)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no table written (Tune's record of the trials so "
              f"far is in {out / search.SEARCH_DIRECTORY})", file=sys.stderr)
        return EXIT_INTERRUPTED
    launcher = (("python", "scripts/train_higgs.py") if parser.prog.endswith(".py")
                else (parser.prog,))
    command = search.retrain_command(parser, args, result.best, launcher)
    written = search.write_search_files(result, out, command=command, description=description)
    say("")
    say(search.search_table(result))
    best = result.best
    say("")
    say(f"best: dropout {best.dropout:g}, hidden {','.join(map(str, best.hidden))}, learning "
        f"rate {best.learning_rate:g} (validation {result.monitor.upper()} "
        f"{best.best_value:.4f} at epoch {best.best_epoch})")
    say(f"wrote {', '.join(str(p) for p in written)} in {time.perf_counter() - start:.1f} s")
    say(f"next: {command}")
    return 0


def executor_settings(args, local_processes):
    """The :class:`~dropout_layers.executors.ExecutorSettings` the ensemble options give."""
    from dropout_layers.executors import ExecutorSettings

    return ExecutorSettings(executor=args.executor, processes=local_processes,
                            ray_address=args.ray_address, cpus_per_member=args.cpus_per_member,
                            threads_per_member=args.threads, max_concurrent=args.max_concurrent,
                            progress=not args.quiet)


def train_ensemble(args, prog, data, description, options, out, say, start):
    """Train, score and save a K-fold x R ensemble (``--folds``)."""
    from dropout_layers_higgs import bagging, report

    n_members = args.folds * args.repeats
    say(f"training {n_members} members ({args.folds} folds x {args.repeats} repeats) with the "
        f"{args.executor} executor" + (f" on {args.ray_address}" if args.ray_address else "")
        + (f"; resuming from {out / bagging.MEMBER_DIRECTORY}" if args.resume is not None else ""))
    local_processes = args.max_concurrent or 1 if args.executor == "local" else 1
    try:
        run = bagging.train_ensemble(
            data, options, out, bagging.BaggingPlan(args.folds, args.repeats, args.seed),
            executor_settings(args, local_processes), resume=args.resume is not None)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished members are kept in "
              f"{out / bagging.MEMBER_DIRECTORY}: add --resume to train only the missing ones",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    metrics = bagging.ensemble_metrics(run, data, description, synthetic=args.data is None,
                                       executor=args.executor,
                                       seconds=time.perf_counter() - start)
    write_json(out / METRICS_NAME, metrics)
    written = [run.path, out / METRICS_NAME]
    if report.have_matplotlib():
        evaluations = [("out-of-fold", run.oof_scores, run.labels, run.weights)]
        report.plot_roc(evaluations, out / "roc.png")
        written.append(out / "roc.png")
        if run.weights is not None:
            report.plot_ams_fraction([evaluations[0] + (run.ensemble.threshold,)], out / "ams.png",
                                     options.top_fraction)
            written.append(out / "ams.png")
    else:
        say(report.MATPLOTLIB_MISSING)
    say("")
    say(bagging.ensemble_summary_table(metrics))
    say("")
    say(f"wrote {', '.join(str(p) for p in written)} and {n_members} member checkpoints in "
        f"{out / bagging.MEMBER_DIRECTORY} in {time.perf_counter() - start:.1f} s")
    say(f"next: python scripts/predict_higgs.py {run.path} "
        f"{'test.csv --out submission.csv' if data.event_ids is not None else 'HIGGS_test.csv --out scores.csv'}"
        " [--mc 30]")
    return 0


def run(argv=None, prog="train-higgs"):
    """Run :func:`main`, turning expected errors into one line on stderr.

    Returns the exit status: 0, 2 for a bad option, 1 for unusable data or
    checkpoints, 130 after Ctrl-C during loading or compilation (Ctrl-C
    during training stops it cleanly and the outputs are still written).
    """
    return run_main(functools.partial(main, prog=prog), prog, argv)
