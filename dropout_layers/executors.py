"""Run independent ensemble members locally or on a Ray cluster.

Cross-validation folds, bagged members and hyper-parameter trials are
embarrassingly parallel: each member trains on its own split with its own
seed and nothing else. :func:`run_members` runs such members with one of
two executors:

``'local'``
    In this process, one member after another, or in ``processes`` worker
    processes.
``'ray'``
    As Ray tasks, each asking for ``cpus_per_member`` CPUs: on a local Ray
    instance started here, or on the cluster that ``ray_address`` names
    (``'auto'``, ``'host:6379'`` or ``'ray://host:10001'``). Ray is an
    optional dependency: ``pip install -e ".[ray]"``.

Both executors give the same members for the same jobs. A member's seed is
derived from the base seed and the member's index only
(:func:`member_seed`), never from the order in which members happen to run,
and each member gets its own BLAS, OpenMP and Numba thread budget so that
concurrent members do not oversubscribe the cores.

Each finished member is handed to ``save_member`` on the driver as soon as
it arrives, so a crash loses only the members still in flight, and a run
restarted with ``resume=True`` trains only the members that ``load_member``
cannot find.
"""
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from .random import get_rng, set_rng

__all__ = ["EXECUTORS", "ExecutorError", "MemberJob", "RunSummary", "member_seed", "thread_env",
           "run_members", "ray_available", "RAY_INSTALL_HINT"]

#: Accepted values of ``executor``.
EXECUTORS = ("local", "ray")

#: How to get the optional Ray dependency.
RAY_INSTALL_HINT = 'the ray executor needs Ray: install it with pip install -e ".[ray]"'

# Environment variables read by OpenBLAS, MKL, OpenMP runtimes, macOS
# Accelerate and Numba when a worker process starts.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")


class ExecutorError(RuntimeError):
    """An executor cannot run: a missing optional dependency or a bad setting."""


@dataclass(frozen=True)
class MemberJob:
    """One member to train.

    Attributes
    ----------
    index : int
        Position of the member in the ensemble.
    seed : int
        The member's seed, from :func:`member_seed`.
    payload : object
        What the training function needs besides the shared data (for
        example the member's train and validation indices); must pickle.
    """

    index: int
    seed: int
    payload: Any = None


@dataclass
class RunSummary:
    """What :func:`run_members` did.

    Attributes
    ----------
    results : list
        One result per job, in job order.
    trained : list of int
        Indices of the members trained by this run.
    resumed : list of int
        Indices of the members found finished and loaded instead.
    """

    results: list
    trained: list = field(default_factory=list)
    resumed: list = field(default_factory=list)


def member_seed(base_seed, index):
    """Derive a member's seed from the run's seed and the member's index.

    Uses :class:`numpy.random.SeedSequence`, so the seeds of different
    members are statistically independent even for neighbouring indices,
    and a member's seed does not depend on which other members exist or in
    what order they run.

    Parameters
    ----------
    base_seed : int
    index : int

    Returns
    -------
    int
        A seed in ``[0, 2**31)``.
    """
    for name, value in (("base_seed", base_seed), ("index", index)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    state = np.random.SeedSequence([int(base_seed), int(index)]).generate_state(1, np.uint32)[0]
    return int(state >> np.uint32(1))


def thread_env(threads):
    """Environment variables that cap a worker's BLAS, OpenMP and Numba threads.

    Parameters
    ----------
    threads : int

    Returns
    -------
    dict
    """
    if isinstance(threads, bool) or not isinstance(threads, Integral) or threads < 1:
        raise ValueError(f"threads per member must be a positive integer, got {threads!r}")
    return {name: str(int(threads)) for name in _THREAD_VARIABLES}


def ray_available():
    """Return True when Ray can be imported."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(RAY_INSTALL_HINT) from None
    return ray


def _run_one(train_member, shared, job):
    """Train one member with its seed as the global RNG; runs in the worker."""
    previous = get_rng()
    # Layers created without an explicit seed draw from the global RNG, so
    # setting it here makes the member a function of its job alone.
    set_rng(np.random.RandomState(job.seed))
    try:
        return train_member(shared, job)
    finally:
        set_rng(previous)


@contextmanager
def _environment(variables):
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Progress:
    def __init__(self, total, done, enabled, desc):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, desc=desc, unit="member")

    def update(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _check_jobs(jobs):
    jobs = list(jobs)
    indices = [job.index for job in jobs]
    if len(set(indices)) != len(indices):
        raise ValueError(f"member indices must be unique, got {indices}")
    return jobs


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def run_members(train_member, jobs, *, shared=None, executor="local", save_member=None,
                load_member=None, resume=False, processes=1, ray_address=None, cpus_per_member=1,
                threads_per_member=None, max_concurrent=None, progress=True, desc="members"):
    """Train ensemble members with the chosen executor.

    Parameters
    ----------
    train_member : callable
        ``train_member(shared, job) -> result``; a module-level function
        (it is pickled for worker processes and Ray). It runs with the
        global RNG seeded from ``job.seed``. Under Ray, ``shared`` arrives
        read-only (zero-copy from the object store): do not modify it.
    jobs : sequence of MemberJob
    shared : object
        Data every member needs (for example the training set), sent to
        each worker once rather than once per member.
    executor : {'local', 'ray'}
    save_member : callable, optional
        ``save_member(job, result)``, called on the driver as each member
        finishes, in completion order.
    load_member : callable, optional
        ``load_member(job) -> result or None``; with ``resume=True`` a
        member for which it returns a result is not trained again.
    resume : bool
        Skip members that ``load_member`` finds.
    processes : int
        Worker processes of the local executor; 1 trains in this process.
    ray_address : str, optional
        Ray cluster to connect to; by default a local Ray instance is
        started (and shut down afterwards) unless one is already running.
    cpus_per_member : int
        CPUs each Ray task asks for.
    threads_per_member : int, optional
        BLAS/OpenMP/Numba threads of each worker; by default
        ``cpus_per_member``.
    max_concurrent : int, optional
        Most members in flight at once; by default as many as the Ray
        cluster's CPUs allow, or ``processes`` locally.
    progress : bool
        Show a progress bar over the members.
    desc : str
        Label of the progress bar.

    Returns
    -------
    RunSummary

    Raises
    ------
    ExecutorError
        For an unknown executor, or ``'ray'`` without Ray installed.
    Exception
        The first error a member raised, after the members in flight have
        finished and been saved.
    """
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    jobs = _check_jobs(jobs)
    processes = _check_positive(processes, "processes")
    cpus_per_member = _check_positive(cpus_per_member, "cpus_per_member")
    threads = _check_positive(threads_per_member or cpus_per_member, "threads_per_member")
    if max_concurrent is not None:
        max_concurrent = _check_positive(max_concurrent, "max_concurrent")
    if executor == "ray":
        ray = _import_ray()  # fail before loading anything

    results = {}
    summary = RunSummary(results=[])
    pending = []
    for job in jobs:
        found = load_member(job) if (resume and load_member is not None) else None
        if found is None:
            pending.append(job)
        else:
            results[job.index] = found
            summary.resumed.append(job.index)

    def finished(job, result):
        if save_member is not None:
            save_member(job, result)
        results[job.index] = result
        summary.trained.append(job.index)

    bar = _Progress(len(jobs), len(summary.resumed), progress and bool(pending), desc)
    try:
        if not pending:
            pass
        elif executor == "ray":
            _run_ray(ray, train_member, shared, pending, finished, bar, ray_address, cpus_per_member,
                     threads, max_concurrent)
        elif min(processes, max_concurrent or processes) == 1:
            for job in pending:
                finished(job, _run_one(train_member, shared, job))
                bar.update()
        else:
            _run_processes(train_member, shared, pending, finished, bar,
                           min(processes, max_concurrent or processes), threads)
    finally:
        bar.close()
    summary.results = [results[job.index] for job in jobs]
    return summary


def _run_processes(train_member, shared, jobs, finished, bar, processes, threads):
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # Worker processes read the thread variables when their BLAS loads,
    # which is before any code of ours runs there, so they must be in the
    # environment they are started with. "spawn" avoids forking a process
    # whose BLAS and Numba thread pools are already running.
    with _environment(thread_env(threads)), ProcessPoolExecutor(
            max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        queue = list(jobs)
        in_flight = {}
        error = None
        while queue or in_flight:
            while queue and error is None and len(in_flight) < processes:
                job = queue.pop(0)
                in_flight[pool.submit(_run_one, train_member, shared, job)] = job
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                job = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # keep the first error, let the others finish
                    error = error or exc
                    continue
                finished(job, result)
                bar.update()
        if error is not None:
            raise error


def _ray_init(ray, address, env_vars=None):
    """Start or join Ray unless already connected; return True if we started it.

    ``env_vars`` go into the runtime environment of every worker of the job,
    on a cluster too (Ray Tune takes no per-trial environment).
    """
    if ray.is_initialized():
        return False
    variables = dict(env_vars or {})
    if not address:
        # Workers of a local instance import the very code the driver runs,
        # even from a checkout that is not installed. Cluster nodes need the
        # package installed (see the README).
        variables["PYTHONPATH"] = _code_search_path()
    runtime_env = {"env_vars": variables} if variables else None
    # Worker output stays in Ray's log files: the members' progress bars and
    # compiler chatter would interleave unreadably with the driver's bar.
    # Errors still reach the driver as exceptions from ray.get.
    try:
        ray.init(address=address or None, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False, runtime_env=runtime_env)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        message = " ".join(str(exc).split()) or type(exc).__name__
        raise ExecutorError(f"cannot start or reach {where}: {message}") from None
    return True


def _code_search_path():
    """PYTHONPATH that finds this library (and its sibling packages) first."""
    root = str(Path(__file__).resolve().parents[1])
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([root, existing] if existing else [root])


def _run_ray(ray, train_member, shared, jobs, finished, bar, address, cpus_per_member, threads,
             max_concurrent):
    started = _ray_init(ray, address)
    try:
        cluster_cpus = int(ray.cluster_resources().get("CPU", 0))
        if cluster_cpus < cpus_per_member:
            raise ExecutorError(
                f"each member asks for {cpus_per_member} CPUs but the Ray cluster has {cluster_cpus}"
            )
        # Keep only as many members in flight as can run, so that after a
        # failure the ones already running finish and are saved while none
        # are left queued behind them.
        window = max_concurrent or max(1, cluster_cpus // cpus_per_member)
        remote = ray.remote(_run_one).options(
            num_cpus=cpus_per_member,
            runtime_env={"env_vars": thread_env(threads)},
        )
        shared_ref = ray.put(shared)
        train_ref = ray.put(train_member)
        queue = list(jobs)
        in_flight = {}
        error = None
        while queue or in_flight:
            while queue and error is None and len(in_flight) < window:
                job = queue.pop(0)
                in_flight[remote.remote(train_ref, shared_ref, job)] = job
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                job = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    error = error or _unwrap_ray_error(exc)
                    continue
                finished(job, result)
                bar.update()
        if error is not None:
            raise error
    finally:
        if started:
            ray.shutdown()


def _unwrap_ray_error(exc):
    # RayTaskError wraps the member's own exception; surfacing that keeps
    # the message the same for both executors.
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
