"""How many threads BLAS, OpenMP and Numba use, here and in worker processes.

OpenBLAS threads spin while they wait for work, so two processes that each
start one thread per core slow each other down many times over. This
module holds the one list of the environment variables that thread pools
read when a process starts (for workers, which must get them in their
environment) and limits the pools of the running process through
`threadpoolctl <https://github.com/joblib/threadpoolctl>`_, which works after
NumPy has been imported.

Examples
--------
>>> from dropout_layers.threads import thread_env
>>> thread_env(2)["OPENBLAS_NUM_THREADS"]
'2'
"""
import os

from threadpoolctl import threadpool_limits

from .checks import check_positive_int

__all__ = ["THREAD_VARIABLES", "thread_env", "threads_from_environment", "limit_threads",
           "usable_cpus"]

#: Variables read by OpenBLAS, MKL, OpenMP runtimes, macOS Accelerate and
#: Numba when a process starts.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")


def thread_env(threads):
    """Environment variables that cap a new process at ``threads`` threads.

    Parameters
    ----------
    threads : int

    Returns
    -------
    dict
        ``{variable: str(threads)}`` for every entry of :data:`THREAD_VARIABLES`.
    """
    threads = check_positive_int(threads, "threads")
    return {name: str(threads) for name in THREAD_VARIABLES}


def threads_from_environment():
    """Return the thread count the user set in the environment, or None.

    Returns
    -------
    int or None
        The first positive integer among :data:`THREAD_VARIABLES`.
    """
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def limit_threads(threads):
    """Limit the BLAS and OpenMP thread pools of this process to ``threads``.

    Parameters
    ----------
    threads : int

    Returns
    -------
    threadpoolctl.threadpool_limits
        Call its ``restore_original_limits()`` to undo the limit.
    """
    return threadpool_limits(limits=check_positive_int(threads, "threads"))


def usable_cpus():
    """Return the number of CPUs this process may run on.

    The CPUs of the process's affinity mask where the system has one (a
    container or ``taskset`` may grant fewer than the machine has), else
    :func:`os.cpu_count`, and at least 1.

    Returns
    -------
    int

    Examples
    --------
    >>> usable_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
