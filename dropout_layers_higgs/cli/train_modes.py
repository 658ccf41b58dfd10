"""The other modes of ``train-higgs``: K-fold ensembles (``--folds``) and the search (``--search``).

Ensembles train ``folds * repeats`` members on repeated stratified K-fold
splits, each early-stopped on its own held-out fold, locally or as Ray
tasks (on a local Ray instance, or on the cluster ``--ray-address`` names).
Each member's checkpoint is written to ``members/`` as it finishes and
``--resume`` trains only the missing ones; ``ensemble.h5`` holds them all,
and ``metrics.json`` the out-of-fold AUC and AMS with their spread across
members. Ray retries a member whose node was lost, so a run survives a
worker going away.

The search trains sampled configurations (dropout, layer width, learning
rate) on one split with Ray Tune, stops the trailing ones early (ASHA),
writes the table of trials to ``search.json`` and ``search.csv`` and
prints the command that trains the best one.
"""
import socket
import sys
import time
from urllib.parse import urlsplit

from dropout_layers.executors import ExecutorError, ExecutorSettings
from dropout_layers.files import write_json

from .. import bagging, report, search
from .common import EXIT_INTERRUPTED

__all__ = ["train_ensemble", "search_hyperparameters", "check_ray_address",
           "RAY_CONNECT_TIMEOUT"]

#: Seconds to wait for a Ray cluster's port before calling it unreachable.
RAY_CONNECT_TIMEOUT = 5.0
_RAY_DEFAULT_PORTS = {"ray": 10001, None: 6379}


def _say(text=""):
    print(text, flush=True)


def check_ray_address(address, timeout=RAY_CONNECT_TIMEOUT):
    """Refuse, in one line and within ``timeout`` seconds, a Ray address where nothing answers.

    ``ray.init`` keeps retrying an address where no cluster runs for a
    minute or more; a plain TCP connection to its port says at once.
    ``None`` (a local instance) and ``'auto'`` (the cluster of this node,
    which Ray finds or refuses quickly itself) are not checked.

    Raises
    ------
    ExecutorError
        If the address is malformed or its port does not accept a connection.
    """
    if not address or address == "auto":
        return
    parts = urlsplit(address if "://" in address else f"//{address}")
    try:
        host, port = parts.hostname, parts.port or _RAY_DEFAULT_PORTS.get(parts.scheme or None)
    except ValueError:
        host = port = None
    if not host or not port:
        raise ExecutorError(f"--ray-address {address}: expected 'auto', 'HOST:PORT' or "
                            "'ray://HOST:PORT'")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__.replace("Error", " error").lower()
        raise ExecutorError(f"--ray-address {address}: no Ray cluster answers at {host}:{port} "
                            f"({reason}); start one with ray start --head, or leave "
                            "--ray-address out for a local instance") from None


def _launcher(prog):
    return ("python", "scripts/train_higgs.py") if prog.endswith(".py") else (prog,)


def _predict_hint(prog, path, data):
    launcher = "python scripts/predict_higgs.py" if prog.endswith(".py") else "predict-higgs"
    files = "test.csv --out submission.csv" if data.event_ids is not None else \
        "HIGGS_test.csv --out scores.csv"
    return f"next: {launcher} {path} {files} [--mc 30]"


def _executor_settings(args):
    local_processes = args.max_concurrent or 1 if args.executor == "local" else 1
    return ExecutorSettings(executor=args.executor, processes=local_processes,
                            ray_address=args.ray_address, cpus_per_member=args.cpus_per_member,
                            threads_per_member=args.threads, max_concurrent=args.max_concurrent,
                            progress=not args.quiet)


def _ensemble_plots(run, run_dir, dataset, options):
    evaluations = [report.ScoredEvents("out-of-fold", run.oof_scores, run.labels, run.weights)]
    paths, message = report.write_plots(
        run_dir.path, None, evaluations, weighted=run.weights is not None,
        threshold=run.ensemble.threshold, top_fraction=options.top_fraction,
        context=report.PlotContext(dataset=dataset))
    for path in paths:
        run_dir.record(path)
    return message


def train_ensemble(args, data, dataset, options, run_dir, start):
    """Train, score and save a K-fold x R ensemble (``--folds``); return the exit status."""
    n_members = args.folds * args.repeats
    members = run_dir.path / bagging.MEMBER_DIRECTORY
    _say(f"training {n_members} members ({args.folds} folds x {args.repeats} repeats) with the "
         f"{args.executor} executor" + (f" on {args.ray_address}" if args.ray_address else "")
         + (f"; resuming from {members}" if args.resume is not None else ""))
    try:
        run = bagging.train_ensemble(
            data, options, run_dir.path, bagging.BaggingPlan(args.folds, args.repeats, args.seed),
            _executor_settings(args), resume=args.resume is not None)
    except KeyboardInterrupt:
        print(f"{run_dir.prog}: interrupted; finished members are kept in {members}: add "
              "--resume to train only the missing ones", file=sys.stderr)
        return EXIT_INTERRUPTED
    run_dir.record(run.path)
    metrics = bagging.ensemble_metrics(run, data, dataset, synthetic=args.data is None,
                                       executor=args.executor,
                                       seconds=time.perf_counter() - start)
    metrics["run_id"] = run_dir.run_id
    write_json(run_dir.record(run_dir.file("metrics.json")), metrics)
    message = _ensemble_plots(run, run_dir, dataset, options)
    if message:
        _say(message)
    _say()
    _say(bagging.ensemble_summary_table(metrics))
    _say()
    _say(f"wrote {', '.join(map(str, run_dir.written))} and {n_members} member checkpoints in "
         f"{members} in {time.perf_counter() - start:.1f} s")
    _say(_predict_hint(run_dir.prog, run.path, data))
    return 0


def _search_banner(args, options):
    return (f"searching {args.search} configurations with Ray Tune and ASHA"
            + (f" on {args.ray_address}" if args.ray_address else "")
            + f": dropout {search.DROPOUT_RANGE[0]}-{search.DROPOUT_RANGE[1]}, "
              f"hidden {len(options.hidden)} x {'/'.join(map(str, search.WIDTH_CHOICES))} units, "
              f"learning rate {search.LEARNING_RATE_RANGE[0]}-{search.LEARNING_RATE_RANGE[1]}")


def _retrain_command(parser, args, best):
    # The data files follow one --data; retrain_command repeats the rest.
    launcher = _launcher(parser.prog) + (("--data", *map(str, args.data)) if args.data else ())
    return search.retrain_command(parser, args, best, launcher,
                                  leave_out=("search", "search_max_concurrent", "ray_address",
                                             "data"))


def search_hyperparameters(args, parser, data, dataset, options, run_dir, start):
    """Run the hyper-parameter search (``--search N``), report its trials; return the status."""
    _say(_search_banner(args, options))
    try:
        result = search.run_search(data, options, args.search, run_dir.path, seed=args.seed,
                                   ray_address=args.ray_address,
                                   max_concurrent=args.search_max_concurrent,
                                   say=None if args.quiet else _say)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no table written (Tune's record of the trials so "
              f"far is in {run_dir.path / search.SEARCH_DIRECTORY})", file=sys.stderr)
        return EXIT_INTERRUPTED
    command = _retrain_command(parser, args, result.best)
    written = search.write_search_files(result, run_dir.path, command=command,
                                        description=dataset)
    best = result.best
    _say()
    _say(search.search_table(result))
    _say()
    _say(f"best: dropout {best.dropout:g}, hidden {','.join(map(str, best.hidden))}, learning "
         f"rate {best.learning_rate:g} (validation {result.monitor.upper()} "
         f"{best.best_value:.4f} at epoch {best.best_epoch})")
    _say(f"wrote {', '.join(str(p) for p in written)} in {time.perf_counter() - start:.1f} s")
    _say(f"next: {command}")
    return 0
