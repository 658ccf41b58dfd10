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
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from .checks import check_positive_int
from .errors import DropoutLayersError
from .random import seeded
from .threads import thread_env

__all__ = ["EXECUTORS", "ExecutorError", "ExecutorSettings", "MemberJob", "RunSummary",
           "member_seed", "run_members", "ray_available", "ray_session", "ray_runtime_env",
           "environment_variables",
           "RAY_INSTALL_HINT"]

#: Accepted values of ``executor``.
EXECUTORS = ("local", "ray")

# What Ray ships to its workers as this library: the package's own directory.
_LIBRARY_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

#: How to get the optional Ray dependency.
RAY_INSTALL_HINT = 'the ray executor needs Ray: install it with pip install -e ".[ray]"'


class ExecutorError(DropoutLayersError, RuntimeError):
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


@dataclass(frozen=True)
class ExecutorSettings:
    """Where and how :func:`run_members` runs the members.

    Attributes
    ----------
    executor : {'local', 'ray'}
    processes : int
        Worker processes of the local executor; 1 trains in this process.
    ray_address : str, optional
        Ray cluster to connect to (``'auto'``, ``'host:6379'`` or
        ``'ray://host:10001'``); by default a local Ray instance is started
        (and shut down afterwards) unless one is already running.
    cpus_per_member : int
        CPUs each Ray task asks for.
    threads_per_member : int, optional
        BLAS, OpenMP and Numba threads of each worker; by default
        ``cpus_per_member``.
    max_concurrent : int, optional
        Most members in flight at once; by default as many as the Ray
        cluster's CPUs allow, or ``processes`` locally.
    code : tuple
        Modules (or directories) that Ray ships to its workers through its
        ``runtime_env`` (``py_modules``), so that workers run the driver's
        code even where it is not installed. This library is always
        shipped; an application adds its own packages.
    progress : bool
        Show a progress bar over the members.
    desc : str
        Label of the progress bar.

    Examples
    --------
    >>> ExecutorSettings(executor="ray", cpus_per_member=2).threads
    2
    >>> ExecutorSettings(executor="dask")
    Traceback (most recent call last):
    ...
    dropout_layers.executors.ExecutorError: unknown executor 'dask'; ...
    """

    executor: str = "local"
    processes: int = 1
    ray_address: Any = None
    cpus_per_member: int = 1
    threads_per_member: Any = None
    max_concurrent: Any = None
    code: tuple = ()
    progress: bool = True
    desc: str = "members"

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise ExecutorError(f"unknown executor {self.executor!r}; expected one of {EXECUTORS}")
        check_positive_int(self.processes, "processes")
        check_positive_int(self.cpus_per_member, "cpus_per_member")
        for name in ("threads_per_member", "max_concurrent"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        object.__setattr__(self, "code", tuple(self.code))

    @property
    def threads(self):
        """BLAS threads per member."""
        return self.threads_per_member or self.cpus_per_member

    @property
    def local_workers(self):
        """Processes the local executor uses at once."""
        return min(self.processes, self.max_concurrent or self.processes)


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
    # Layers created without an explicit seed draw from the global RNG, so
    # seeding it here makes the member a function of its job alone.
    with seeded(job.seed):
        return train_member(shared, job)


@contextmanager
def environment_variables(variables):
    """Set environment variables inside a ``with`` block, restoring them afterwards."""
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


def run_members(train_member, jobs, *, shared=None, settings=None, save_member=None,
                load_member=None, resume=False):
    """Train ensemble members with the executor that ``settings`` chooses.

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
    settings : ExecutorSettings, optional
        The executor and its resources; the local executor in this process
        by default.
    save_member : callable, optional
        ``save_member(job, result)``, called on the driver as each member
        finishes, in completion order.
    load_member : callable, optional
        ``load_member(job) -> result or None``; with ``resume=True`` a
        member for which it returns a result is not trained again.
    resume : bool
        Skip members that ``load_member`` finds.

    Returns
    -------
    RunSummary

    Raises
    ------
    ExecutorError
        For ``'ray'`` without Ray installed, or a Ray cluster that cannot
        be reached.
    Exception
        The first error a member raised, after the members in flight have
        finished and been saved.
    """
    settings = ExecutorSettings() if settings is None else settings
    jobs = _check_jobs(jobs)
    ray = _import_ray() if settings.executor == "ray" else None  # fail before loading anything
    summary = RunSummary(results=[])
    results, pending = _load_finished(jobs, load_member if resume else None, summary)
    bar = _Progress(len(jobs), len(summary.resumed), settings.progress and bool(pending),
                    settings.desc)
    try:
        if pending:
            _dispatch(ray, train_member, shared, pending,
                      _recorder(results, summary, save_member, bar), settings)
    finally:
        bar.close()
    summary.results = [results[job.index] for job in jobs]
    return summary


def _load_finished(jobs, load_member, summary):
    """Return the results ``load_member`` finds, by index, and the jobs still to train."""
    results = {}
    pending = []
    for job in jobs:
        found = load_member(job) if load_member is not None else None
        if found is None:
            pending.append(job)
        else:
            results[job.index] = found
            summary.resumed.append(job.index)
    return results, pending


def _recorder(results, summary, save_member, bar):
    """Return ``finished(job, result)``, which saves, records and counts one member."""

    def finished(job, result):
        if save_member is not None:
            save_member(job, result)
        results[job.index] = result
        summary.trained.append(job.index)
        bar.update()

    return finished


def _dispatch(ray, train_member, shared, jobs, finished, settings):
    """Train ``jobs`` on Ray, in this process or in worker processes."""
    if ray is not None:
        _run_ray(ray, train_member, shared, jobs, finished, settings)
    elif settings.local_workers == 1:
        for job in jobs:
            finished(job, _run_one(train_member, shared, job))
    else:
        _run_processes(train_member, shared, jobs, finished, settings)


def _drain(submit, wait_one, jobs, finished, window):
    """Keep up to ``window`` jobs in flight; hand each result to ``finished``.

    ``submit(job)`` returns a handle; ``wait_one(handles)`` returns the
    finished handles with their outcome, ``(handle, result, error)``.
    After the first error nothing new is submitted, the jobs in flight
    finish (and are saved), and the error is raised.
    """
    queue = list(jobs)
    in_flight = {}
    error = None
    while queue or in_flight:
        while queue and error is None and len(in_flight) < window:
            job = queue.pop(0)
            in_flight[submit(job)] = job
        if not in_flight:
            break
        for handle, result, failure in wait_one(list(in_flight)):
            job = in_flight.pop(handle)
            if failure is not None:
                error = error or failure
            else:
                finished(job, result)
    if error is not None:
        raise error


def _run_processes(train_member, shared, jobs, finished, settings):
    # Worker processes read the thread variables when their BLAS loads,
    # which is before any code of ours runs there, so they must be in the
    # environment they are started with. "spawn" avoids forking a process
    # whose BLAS and Numba thread pools are already running.
    workers = settings.local_workers
    with environment_variables(thread_env(settings.threads)), ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:

        def wait_one(futures):
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            return [(future, *_outcome(future.result)) for future in done]

        _drain(lambda job: pool.submit(_run_one, train_member, shared, job), wait_one, jobs,
               finished, workers)


def _outcome(get, errors=(Exception,), unwrap=None):
    try:
        return get(), None
    except errors as exc:  # keep the error, let the members in flight finish
        return None, unwrap(exc) if unwrap else exc


def ray_runtime_env(code=(), env_vars=None):
    """Build the ``runtime_env`` with which a Ray job runs this library's members.

    :func:`ray_session` passes it to ``ray.init``. Ray ships directories and
    modules only for a whole job, so code that starts Ray itself (a
    notebook, a test) passes this to its own ``ray.init`` for the workers to
    import the driver's code.

    Parameters
    ----------
    code : sequence
        Modules or directories to ship besides this library (``py_modules``).
    env_vars : dict, optional
        Environment variables of every worker.

    Returns
    -------
    dict

    Examples
    --------
    >>> env = ray_runtime_env(env_vars={"OMP_NUM_THREADS": "1"})
    >>> sorted(env), os.path.basename(env["py_modules"][0])
    (['env_vars', 'py_modules'], 'dropout_layers')
    """
    runtime_env = {"py_modules": list(dict.fromkeys((_LIBRARY_DIRECTORY, *code)))}
    if env_vars:
        runtime_env["env_vars"] = dict(env_vars)
    return runtime_env


@contextmanager
def ray_session(address=None, env_vars=None, code=()):
    """Start or join Ray for the block, unless this process is already connected.

    Parameters
    ----------
    address : str, optional
        The cluster (``'auto'``, ``'host:6379'``, ``'ray://host:10001'``);
        by default a local instance is started, and shut down when the
        block ends.
    env_vars : dict, optional
        Environment of every worker of the job (Ray Tune, for one, takes no
        per-trial environment).
    code : sequence
        Modules or directories shipped to the workers (``py_modules``),
        besides this library. A Ray session that this process started
        before keeps its own ``runtime_env`` (see :func:`ray_runtime_env`).

    Yields
    ------
    module
        The ``ray`` module.

    Raises
    ------
    ExecutorError
        If Ray is not installed or the cluster cannot be reached.
    """
    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        # Worker output stays in Ray's log files: the members' progress bars
        # and compiler chatter would interleave unreadably with the driver's
        # bar. Errors still reach the driver as exceptions from ray.get.
        try:
            ray.init(address=address or None, include_dashboard=False,
                     logging_level=logging.ERROR, log_to_driver=False,
                     runtime_env=ray_runtime_env(code, env_vars))
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise ExecutorError(f"cannot start or reach {where}: {message}") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _run_ray(ray, train_member, shared, jobs, finished, settings):
    with ray_session(settings.ray_address, code=settings.code):
        cluster_cpus = int(ray.cluster_resources().get("CPU", 0))
        if cluster_cpus < settings.cpus_per_member:
            raise ExecutorError(f"each member asks for {settings.cpus_per_member} CPUs but the "
                                f"Ray cluster has {cluster_cpus}")
        # Keep only as many members in flight as can run, so that after a
        # failure the ones already running finish and are saved while none
        # are left queued behind them.
        window = settings.max_concurrent or max(1, cluster_cpus // settings.cpus_per_member)
        remote = ray.remote(_run_one).options(
            num_cpus=settings.cpus_per_member,
            runtime_env={"env_vars": thread_env(settings.threads)})
        shared_ref = ray.put(shared)
        train_ref = ray.put(train_member)

        def wait_one(refs):
            ready, _ = ray.wait(refs, num_returns=1)
            return [(ref, *_outcome(lambda: ray.get(ref), (ray.exceptions.RayTaskError,),
                                    _unwrap_ray_error)) for ref in ready]

        _drain(lambda job: remote.remote(train_ref, shared_ref, job), wait_one, jobs, finished,
               window)


def _unwrap_ray_error(exc):
    # RayTaskError wraps the member's own exception; surfacing that keeps
    # the message the same for both executors.
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc
