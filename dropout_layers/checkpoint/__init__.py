"""HDF5 checkpoints: whole networks and their training state in one file.

:func:`save_checkpoint` writes a network's architecture, parameters and,
optionally, optimizer state, RNG states, training history, preprocessing
state and metadata; :func:`load_checkpoint` rebuilds the network from the
file alone; :func:`load_params` loads the weights into a network built in
code; :func:`restore_training_state` continues training bit for bit.

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
before the HDF5 data records the file's size and SHA-256, so truncated or
corrupted files are recognised before HDF5 parses them.
"""
from .ensemble import save_ensemble
from .errors import (
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    IncompatibleCheckpointError,
    MissingEntryError,
    NotACheckpointError,
    ShapeMismatchError,
    UnregisteredLayerError,
    UnsupportedVersionError,
)
from .format import FORMAT, FORMAT_VERSION
from .load import Checkpoint, LoadReport, load_checkpoint, load_params, restore_training_state
from .read import open_checkpoint
from .save import save_checkpoint

__all__ = [
    "save_checkpoint", "load_checkpoint", "load_params", "restore_training_state", "save_ensemble",
    "open_checkpoint", "Checkpoint", "LoadReport", "FORMAT", "FORMAT_VERSION",
    "CheckpointError", "CheckpointNotFoundError", "NotACheckpointError", "CorruptCheckpointError",
    "UnsupportedVersionError", "MissingEntryError", "ShapeMismatchError", "UnregisteredLayerError",
    "IncompatibleCheckpointError",
]
