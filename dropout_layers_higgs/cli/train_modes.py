"""Where a bag trains (executors, a Ray cluster) and the search mode of ``train-higgs``.

A bag's ``folds * repeats`` networks train one after another in this
process, in ``--max-concurrent`` processes, or as Ray tasks (on a local Ray
instance, or on the cluster ``--ray-address`` names). Ray retries a task
whose node was lost, so a run survives a worker node going away, with the
same networks: each one's seed comes from the run's seed and its index.

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
from dropout_layers.threads import usable_cpus

from .. import search
from ..bagging import MEMBER_DIRECTORY
from .common import EXIT_INTERRUPTED

__all__ = ["executor_settings", "bag_banner", "search_hyperparameters", "check_ray_address",
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


def local_processes(args, n_members):
    """Worker processes of the local executor: ``--max-concurrent``, else one per free CPU.

    Each network of a bag trains with ``--threads`` (else
    ``--cpus-per-member``, 1 by default) BLAS threads, so on a machine of
    ``c`` CPUs ``c // threads`` networks train side by side, at most
    ``n_members``: a bag of five trains in about 0.6 of the time on two
    cores, with the same networks. One process means this process; Ray
    (``--executor ray``) schedules its own tasks, so this is 1 there.
    """
    if args.executor != "local":
        return 1
    if args.max_concurrent:
        return args.max_concurrent
    threads = args.threads or args.cpus_per_member
    return max(1, min(n_members, usable_cpus() // threads))


def executor_settings(args, n_members):
    """Return the :class:`~dropout_layers.executors.ExecutorSettings` of the bag options."""
    return ExecutorSettings(executor=args.executor, processes=local_processes(args, n_members),
                            ray_address=args.ray_address, cpus_per_member=args.cpus_per_member,
                            threads_per_member=args.threads, max_concurrent=args.max_concurrent,
                            progress=not args.quiet)


def bag_banner(args, options, run_dir):
    """Say in one line what a bag trains, and where."""
    members = run_dir.path / MEMBER_DIRECTORY
    repeats = f" x {options.repeats} repeats" if options.repeats != 1 else ""
    processes = local_processes(args, options.n_members)
    return (f"training {options.n_members} networks ({options.folds} folds{repeats}) with the "
            f"{args.executor} executor"
            + (f" in {processes} processes" if processes > 1 else "")
            + (f" on {args.ray_address}" if args.ray_address else "")
            + (f"; resuming from {members}" if args.resume == "" else "")
            + (_compile_hint(options) if args.executor == "local" and not args.quiet else ""))


def _compile_hint(options):
    if options.mode == "JAX":
        return "; each process compiles the network with jax (seconds)"
    return "; the first compiles the network (first run only: tens of seconds)"


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
