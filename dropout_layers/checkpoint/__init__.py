"""HDF5 checkpoints: whole networks and their training state in one file.

:func:`save_checkpoint` writes a network's architecture, parameters and,
optionally, optimizer state, RNG states, training history, preprocessing
and metadata; :func:`load_checkpoint` rebuilds the network from the file
alone and returns a :class:`Checkpoint`, whose :meth:`~Checkpoint.predict`
applies a stored :class:`~dropout_layers.preprocessing.FeaturePipeline` to
raw inputs; :func:`load_params` loads the weights into a network built in
code; :func:`restore_training_state` continues training bit for bit.
:func:`save_ensemble` and :func:`load_ensemble` do the same for an
:class:`~dropout_layers.ensemble.Ensemble`, and :func:`is_ensemble_file`
tells the two kinds of file apart. :func:`load_checkpoint` reads both: it
returns a :class:`Checkpoint` or an :class:`~dropout_layers.ensemble.Ensemble`,
both :class:`~dropout_layers.predictor.Predictor` objects whose ``predict``
scores raw inputs through the stored pipeline (``preprocess=False`` skips
it); :func:`load_ensemble` refuses a single-model file, saying so.

Layout of a file (readable with h5py alone)::

    /                       attrs: format, format_version, library_version,
                            pytensor_version, numpy_version, h5py_version,
                            hdf5_version, created, floatX, weights_dtype,
                            exact_resume, compression, architecture (JSON),
                            metadata (JSON), history (JSON), global_rng (JSON)
    /params/<layer>/<param> one dataset per parameter; attrs dtype,
                            trainable, regularizable, tags, layer_class
    /optimizer/<state name> accumulators (e.g. 0/hidden1.W/velocity) and t;
                            attrs names (JSON, in order), rule, step
    /rng                    attrs <layer>: JSON bit-generator state of each
                            stochastic layer's stream
    /preprocessing/...      arrays as datasets, scalars as attributes

Writes are atomic (temporary file, fsync, rename), and a 512-byte header
before the HDF5 data records the file's kind, size and SHA-256 (and, when
saved with ``key=``, an HMAC-SHA256), so truncated or corrupted files are
recognised before HDF5 parses them.

Loading treats the file as untrusted: the header, size and digest are
checked before any HDF5 call; links, external storage, virtual datasets,
unknown filters and datasets that store less than they declare are refused
before any data is read; every stored document is checked for type, range
and structure; each layer is rebuilt with its parameters taken from the
file, its config's implied shapes compared with the stored ones before
anything is allocated. Every refusal is a :class:`CheckpointError` with one
line naming the file and the fault. A save that fills the disk (or the
quota) raises :class:`CheckpointWriteError`, also an ``OSError`` with
``errno`` ``ENOSPC`` (or ``EDQUOT``), and leaves the file as it was.
"""
from .ensemble import load_ensemble, save_ensemble
from .errors import (
    AuthenticationError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    CorruptCheckpointError,
    IncompatibleCheckpointError,
    MalformedCheckpointError,
    MissingEntryError,
    NotACheckpointError,
    ShapeMismatchError,
    UnregisteredLayerError,
    UnsafeCheckpointError,
    UnsupportedVersionError,
    UnverifiedCheckpointError,
)
from .format import FORMAT, FORMAT_VERSION
from .load import LoadReport, is_ensemble_file, load_checkpoint, load_params, restore_training_state
from .model import Checkpoint
from .read import open_checkpoint
from .save import CheckpointOptions, save_checkpoint

__all__ = [
    "save_checkpoint", "load_checkpoint", "load_params", "restore_training_state",
    "save_ensemble", "load_ensemble", "is_ensemble_file", "open_checkpoint", "Checkpoint",
    "CheckpointOptions", "LoadReport", "FORMAT", "FORMAT_VERSION",
    "CheckpointError", "CheckpointNotFoundError", "NotACheckpointError",
    "UnverifiedCheckpointError", "CorruptCheckpointError", "AuthenticationError",
    "UnsafeCheckpointError", "MalformedCheckpointError", "UnsupportedVersionError",
    "MissingEntryError", "ShapeMismatchError", "UnregisteredLayerError",
    "IncompatibleCheckpointError", "CheckpointWriteError",
]
