r"""Writing files so that a crash never leaves half a file where a good one was.

:func:`atomic_path` is the one way this library (and its applications)
replace a file: the data go to a temporary file in the same directory, which
is flushed to disk and then renamed over the target in one step, after which
the directory entry is flushed too. A reader sees the old file or the new
one, never a mixture, whatever happens in between: an exception, Ctrl-C, a
full disk or ``kill -9``.

Temporary names have the form ``.<stem>.<pid>.<token>.tmp<suffix>``: hidden,
recognisable, carrying the writer's process id (so that a later run can
tell a live writer's file from the leftover of a killed one, see
:func:`remove_stale_temporaries`) and the target's suffix (so that writers
that choose a format by suffix, such as matplotlib, still work).

Examples
--------
>>> import os, tempfile
>>> from dropout_layers.files import atomic_path, write_json
>>> directory = tempfile.mkdtemp()
>>> target = os.path.join(directory, "notes.txt")
>>> with atomic_path(target) as temporary:
...     with open(temporary, "w") as out:
...         _ = out.write("hello")
>>> open(target).read()
'hello'
>>> write_json(os.path.join(directory, "m.json"), {"auc": float("nan")})
>>> open(os.path.join(directory, "m.json")).read()
'{\n  "auc": null\n}\n'
"""
import contextlib
import errno
import json
import math
import os
import re
import secrets

import numpy as np

__all__ = ["atomic_path", "write_text", "write_json", "to_jsonable", "temporary_name",
           "remove_stale_temporaries", "TEMPORARY_PATTERN",
           "disk_full_errno"]

#: Names of the temporary files of :func:`atomic_path`; group ``pid`` is the writer's.
TEMPORARY_PATTERN = re.compile(r"\.(?P<stem>.+)\.(?P<pid>[0-9]+)\.[0-9a-f]{8}\.tmp(?P<suffix>.*)\Z")


def temporary_name(path):
    """Return a new temporary file name beside ``path`` (the file is not created)."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    stem, suffix = os.path.splitext(name)
    return os.path.join(directory, f".{stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")


def _new_file_mode(path):
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_path(path, directory=False):
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # platforms that cannot open directories (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """Give a temporary path beside ``path``; move it onto ``path`` when the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The final file name. Its directory must exist.

    Yields
    ------
    str
        The temporary name to write to. When the block ends without an
        exception, the file is fsynced, given the mode ``path`` has (or the
        umask's default for a new file), renamed onto ``path``, and the
        directory is fsynced. If the block raises, the temporary file is
        removed and ``path`` is left as it was.

    Raises
    ------
    FileNotFoundError
        If the directory of ``path`` does not exist.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{path}: directory {directory} does not exist")
    temporary = temporary_name(path)
    try:
        yield temporary
        _fsync_path(temporary)
        os.chmod(temporary, _new_file_mode(path))
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
    _fsync_path(directory, directory=True)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(text)


def to_jsonable(value, keep_nonfinite=False):
    """Convert NumPy values (recursively) to plain Python for :mod:`json`.

    Parameters
    ----------
    value : object
        Dicts, lists, tuples, NumPy arrays and scalars, objects with a
        ``to_dict()`` method, and JSON's own types.
    keep_nonfinite : bool
        Keep NaN and infinities as floats; by default they become ``None``,
        so that the result is strict JSON that every reader accepts.

    Returns
    -------
    object
        Built of dict (with str keys), list, str, int, float, bool and None.

    Raises
    ------
    TypeError
        For a value of another type, naming the type.
    """
    if isinstance(value, dict):
        return {str(key): to_jsonable(item, keep_nonfinite) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item, keep_nonfinite) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), keep_nonfinite)
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), keep_nonfinite)
    if isinstance(value, float):
        return value if keep_nonfinite or math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict(), keep_nonfinite)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path, data):
    """Write ``data`` as indented, strict JSON (see :func:`to_jsonable`), atomically."""
    write_text(path, json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n")


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(directory):
    """Remove the temporary files of :func:`atomic_path` whose writer is gone.

    A process killed in the middle of a write leaves its temporary file
    behind (never a partial target). Files of writers that are still
    running, and every file not named like a temporary of this module, are
    left alone.

    Parameters
    ----------
    directory : str or os.PathLike

    Returns
    -------
    list of str
        The paths removed.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = TEMPORARY_PATTERN.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        if _process_alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(entry.path)
            removed.append(entry.path)
    return removed


# A full disk, or a full quota.
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def disk_full_errno(exc):
    """Return ``ENOSPC`` or ``EDQUOT`` if ``exc`` says the disk or quota is full, else None.

    An :class:`OSError` carries ``errno``; HDF5 reports a write that failed
    while closing a file as a :class:`RuntimeError` (through h5py) whose
    text holds the system's ``errno = 28`` and its message, and nothing
    else to go by.

    Examples
    --------
    >>> disk_full_errno(OSError(errno.ENOSPC, "No space left on device")) == errno.ENOSPC
    True
    >>> disk_full_errno(RuntimeError("file write failed: errno = 28, error message = "
    ...                              "'No space left on device'")) == errno.ENOSPC
    True
    >>> disk_full_errno(OSError(errno.EACCES, "Permission denied")) is None
    True
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno if exc.errno in _DISK_FULL_ERRNOS else None
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    text = str(exc)
    for code in _DISK_FULL_ERRNOS:
        if f"errno = {code}," in text:
            return code
    return errno.ENOSPC if os.strerror(errno.ENOSPC) in text else None
