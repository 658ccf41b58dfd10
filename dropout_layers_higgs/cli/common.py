"""What the command-line tools share: one-line argument errors, value types, the exit codes.

Expected failures (bad options, unusable files, a failed run) end in one
``<prog>: error: <message>`` line on stderr and a non-zero exit status, never
a traceback: :func:`run_main` turns every
:class:`~dropout_layers.errors.DropoutLayersError` into that line.
"""
import argparse
import contextlib
import os
import sys
from pathlib import Path

from dropout_layers.checks import check_fraction, check_positive_int, check_probability
from dropout_layers.errors import DropoutLayersError
from dropout_layers.files import disk_full_errno
from dropout_layers.threads import limit_threads, threads_from_environment

from ..errors import HiggsError, UsageError

__all__ = ["OneLineParser", "UsageError", "DiskFullError", "positive_int", "positive_float",
           "probability", "fraction", "limit_blas_threads", "check_out_dir", "make_out_dir",
           "describe_files", "is_disk_full", "reporting_full_disk", "run_main", "EXIT_USAGE",
           "EXIT_FAILURE", "EXIT_INTERRUPTED"]

#: Exit status of a bad option.
EXIT_USAGE = 2
#: Exit status of unusable data, checkpoints or a failed run.
EXIT_FAILURE = 1
#: Exit status after Ctrl-C.
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (a :class:`UsageError`), not a usage block."""

    def error(self, message):
        """Raise :class:`UsageError` instead of printing the usage and exiting."""
        raise UsageError(f"{message} (see --help)")


def _argument_type(parse, check):
    def convert(text):
        try:
            return check(parse(text), "value")
        except (TypeError, ValueError) as exc:
            message = str(exc).replace("value must be", "must be")
            raise argparse.ArgumentTypeError(message if "must" in message else
                                             f"invalid value {text!r}") from None
    return convert


#: argparse types, built on the library's checks.
positive_int = _argument_type(int, check_positive_int)
probability = _argument_type(float, check_probability)
fraction = _argument_type(float, check_fraction)


def positive_float(text):
    """Argparse type: a float above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def limit_blas_threads(threads):
    """Limit this process's BLAS threads: ``threads``, else the environment's, else 1.

    One thread is the default: the default networks' matrices are too small
    to gain from more, and OpenBLAS threads that wait for each other on busy
    cores slow training down tenfold or more.

    Returns
    -------
    int
        The limit applied.
    """
    threads = threads or threads_from_environment() or 1
    limit_threads(threads)
    return threads


def check_out_dir(path, option="--out"):
    """Refuse an unusable output directory early; it is created only when work starts."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option} {path} exists and is not a directory")
    existing = next(parent for parent in (out, *out.absolute().parents) if parent.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise UsageError(f"{option} {path}: {existing} is not a writable directory")
    return out


def make_out_dir(out, option="--out"):
    """Create the output directory, or raise a one-line :class:`UsageError`."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {out}: cannot create directory ({exc.strerror})") from None


class DiskFullError(HiggsError):
    """The disk filled up while writing; the files written before it are kept."""


def describe_files(paths, limit=3):
    """Name a list of files shortly: ``sig.csv + bg.csv``, or ``a.csv + 4 more``.

    Examples
    --------
    >>> describe_files(["data/sig.csv", "data/bg.csv"])
    'sig.csv + bg.csv'
    >>> describe_files([f"part{i}.csv" for i in range(5)])
    'part0.csv + 4 more'
    """
    names = [Path(path).name for path in paths]
    if len(names) <= limit:
        return " + ".join(names)
    return f"{names[0]} + {len(names) - 1} more"


def is_disk_full(exc):
    """Whether an error says the disk (or the user's quota) is full (:func:`disk_full_errno`).

    Examples
    --------
    >>> import errno
    >>> is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    True
    >>> is_disk_full(RuntimeError("Disable slist on flush dest failure failed (file write "
    ...                           "failed: errno = 28, error message = 'No space left on device')"))
    True
    >>> is_disk_full(OSError(errno.EACCES, "Permission denied"))
    False
    """
    return disk_full_errno(exc) is not None


@contextlib.contextmanager
def reporting_full_disk(directory, written=(), note=None):
    """Turn a full disk inside the block into one :class:`DiskFullError` line.

    Parameters
    ----------
    directory : str or os.PathLike
        Where the block writes; named in the message.
    written : list, optional
        The files the block has completed so far (it may append to it), named
        in the message as kept.
    note : object, optional
        Its ``str``, when not empty, is added to the message, for example
        what to do next (read when the disk fills, so it may change).
    """
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if not is_disk_full(exc):
            raise
        kept = [Path(path).name for path in written]
        note = "" if note is None else str(note)
        raise DiskFullError(f"no space left on {directory}"
                            + (f"; kept {', '.join(kept)}" if kept else "")
                            + (f"; {note}" if note else "")) from None


def run_main(main, prog, argv=None, interrupted="interrupted; nothing written"):
    """Run ``main(argv)`` and turn expected failures into one line and an exit status.

    Returns
    -------
    int
        ``main``'s status; :data:`EXIT_USAGE` for a bad option,
        :data:`EXIT_FAILURE` for any other
        :class:`~dropout_layers.errors.DropoutLayersError`, and
        :data:`EXIT_INTERRUPTED` after Ctrl-C.
    """
    try:
        return main(argv)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DropoutLayersError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
