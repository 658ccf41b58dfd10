"""Errors raised when a checkpoint cannot be read, does not fit, or cannot be written.

Every message is one line that starts with the file's path, so that a
command-line script can print ``str(error)`` alone and exit. Every class
derives from :class:`CheckpointError`, which derives from
:class:`dropout_layers.errors.DropoutLayersError`.
"""

from ..errors import DropoutLayersError

__all__ = [
    "CheckpointError", "CheckpointNotFoundError", "NotACheckpointError",
    "UnverifiedCheckpointError", "CorruptCheckpointError", "AuthenticationError",
    "UnsafeCheckpointError", "MalformedCheckpointError", "UnsupportedVersionError",
    "MissingEntryError", "ShapeMismatchError", "UnregisteredLayerError",
    "IncompatibleCheckpointError", "CheckpointWriteError",
]

# Longest message detail; a hostile file must not make an error message huge.
MAX_DETAIL = 400


def _one_line(text):
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 3] + "..."


class CheckpointError(DropoutLayersError):
    """A checkpoint file cannot be read, its contents do not fit, or it cannot be written.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    detail : str
        What is wrong, without the path; folded onto one line and
        shortened to a few hundred characters.

    Attributes
    ----------
    path : str
    detail : str
    """

    def __init__(self, path, detail):
        self.path = str(path)
        self.detail = _one_line(detail)
        super().__init__(f"{self.path}: {self.detail}")

    def __reduce__(self):
        # Rebuilt from (path, detail), so the error survives a trip between processes.
        return type(self), (self.path, self.detail)


class CheckpointNotFoundError(CheckpointError):
    """The file does not exist."""


class NotACheckpointError(CheckpointError):
    """The file is not HDF5, or an HDF5 file that is not a checkpoint."""


class UnverifiedCheckpointError(CheckpointError):
    """The file has no checkpoint header, so its integrity cannot be checked.

    Such a file (an HDF5 file written by other code, or a checkpoint whose
    first 512 bytes were overwritten) is read only with ``verify=False``.
    """


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, or its bytes changed after it was written."""


class AuthenticationError(CheckpointError):
    """A key was given, and the file's HMAC is absent or does not match it."""


class UnsafeCheckpointError(CheckpointError):
    """The file would make the reader reach outside it or allocate what it does not store.

    Links (soft or external), external raw storage, virtual datasets,
    filters other than gzip, lzf, shuffle and fletcher32, and datasets that
    declare more data than they store are refused.
    """


class MalformedCheckpointError(CheckpointError):
    """A stored document or value has the wrong type, range or structure."""


class UnsupportedVersionError(CheckpointError):
    """The file uses a format version that this library cannot read."""


class MissingEntryError(CheckpointError):
    """A dataset, group or attribute the file must hold is absent."""


class ShapeMismatchError(CheckpointError):
    """A stored array's shape differs from the architecture's or the network's."""


class UnregisteredLayerError(CheckpointError):
    """The architecture names a layer class that is not registered."""


class IncompatibleCheckpointError(CheckpointError):
    """A sound checkpoint that does not match the network or the request."""


class CheckpointWriteError(CheckpointError, OSError):
    """The disk filled up (or the quota ran out) while a checkpoint was written.

    The save was abandoned: its temporary file is removed and the file at
    ``path`` is as it was before. An :class:`OSError` too, with ``errno``
    ``ENOSPC`` or ``EDQUOT``, so that code that checks an ``OSError``'s
    ``errno`` for a full disk recognises it.

    Parameters
    ----------
    path : str or os.PathLike
    detail : str
    errno : int
        ``errno.ENOSPC`` or ``errno.EDQUOT``.
    """

    def __init__(self, path, detail, errno):
        super().__init__(path, detail)
        # Only errno: OSError's str() would otherwise replace the one-line message.
        self.errno = errno

    def __reduce__(self):
        return type(self), (self.path, self.detail, self.errno)
