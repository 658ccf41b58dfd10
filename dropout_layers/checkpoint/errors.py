"""Errors raised when a checkpoint cannot be read or does not fit.

Every message is one line that starts with the file's path, so that a
command-line script can print ``str(error)`` alone and exit.
"""

from ..errors import DropoutLayersError

__all__ = [
    "CheckpointError", "CheckpointNotFoundError", "NotACheckpointError", "CorruptCheckpointError",
    "UnsupportedVersionError", "MissingEntryError", "ShapeMismatchError", "UnregisteredLayerError",
    "IncompatibleCheckpointError",
]


class CheckpointError(DropoutLayersError):
    """A checkpoint file cannot be read, or its contents do not fit.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.
    detail : str
        What is wrong, without the path.

    Attributes
    ----------
    path : str
    detail : str
    """

    def __init__(self, path, detail):
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{self.path}: {detail}")


class CheckpointNotFoundError(CheckpointError):
    """The file does not exist."""


class NotACheckpointError(CheckpointError):
    """The file is not HDF5, or an HDF5 file that is not a checkpoint."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, or its bytes changed after it was written."""


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
