"""The output directory of a training run: one run at a time, no leftovers, a run id.

:class:`RunDirectory` holds ``--out`` for the length of a run:

- it takes a lock file (``.train-higgs.lock``, an ``fcntl`` lock held while
  the process lives, so that a killed run never leaves a stale lock) and
  refuses a second run on the same directory, naming the first one's
  process id;
- it removes the temporary files that killed runs of this library left
  behind (:func:`dropout_layers.files.remove_stale_temporaries`);
- it gives the run an id, which goes into both ``model.h5``'s metadata and
  ``metrics.json``: a pair whose ids differ was not written by one run (a
  kill between the two writes);
- it counts the files written, so that a full disk can name what was kept.
"""
import datetime
import os
import uuid
from pathlib import Path

from dropout_layers.files import remove_stale_temporaries

from ..errors import HiggsError
from .common import make_out_dir

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not serialised there
    fcntl = None

__all__ = ["RunDirectory", "OutputInUseError", "LOCK_NAME", "new_run_id"]

#: The lock file in ``--out``.
LOCK_NAME = ".train-higgs.lock"


class OutputInUseError(HiggsError):
    """Another run holds the output directory."""


def new_run_id():
    """Return a new run id: the UTC start time and a random part, ``20260101T120000Z-1a2b3c4d``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


class RunDirectory:
    """``--out`` held by one run: locked, cleaned of stale temporaries, with a run id.

    Parameters
    ----------
    path : str or os.PathLike
        The output directory; created when the run starts.
    prog : str
        The command, recorded in the lock file for the message another run
        gets.

    Attributes
    ----------
    path : pathlib.Path
    run_id : str
        See :func:`new_run_id`.
    removed : list of str
        Stale temporary files removed at the start.
    written : list of pathlib.Path
        The files this run has completed, in order (see :meth:`record`).

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "higgs_out"
    >>> with RunDirectory(out, "train-higgs") as first:
    ...     try:
    ...         RunDirectory(out, "train-higgs").__enter__()
    ...     except OutputInUseError as exc:
    ...         print(f"in use by another run: PID {os.getpid()} (train-higgs" in str(exc))
    True
    """

    def __init__(self, path, prog):
        self.path = Path(path)
        self.prog = prog
        self.run_id = new_run_id()
        self.removed = []
        self.written = []
        self._fd = None

    def __enter__(self):
        make_out_dir(self.path)
        self._lock()
        self.removed = remove_stale_temporaries(self.path)
        return self

    def __exit__(self, *exc_info):
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
        return False

    def _lock(self):
        if fcntl is None:
            return
        lock_path = self.path / LOCK_NAME
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 400).decode("utf-8", errors="replace").strip()
            os.close(fd)
            raise OutputInUseError(
                f"{self.path} is in use by another run: {holder or 'PID unknown'}; wait for it "
                "to finish or choose another --out") from None
        started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.write(fd, f"PID {os.getpid()} ({self.prog}, started {started})\n".encode())
        self._fd = fd

    def file(self, name):
        """Return the path of ``name`` in the directory."""
        return self.path / name

    def record(self, path):
        """Note that ``path`` was written completely."""
        self.written.append(Path(path))
        return path
