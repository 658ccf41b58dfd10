"""Ensemble checkpoints: several networks and what they share, in one file.

Layout: the usual root attributes plus ``kind = 'ensemble'``,
``n_members``, ``threshold`` (if set) and ``metadata`` (JSON); the shared
``/preprocessing`` group; and one group per member, ``/members/<i>/``,
laid out like the root of a single-network checkpoint (``architecture``
attribute, ``params/<layer>/<param>`` datasets, ``rng`` streams). The
header records ``kind: ensemble`` too, so that :func:`is_ensemble_file`
tells such a file without reading it. :func:`load_checkpoint` and
:func:`load_ensemble` both read it (with :func:`read_ensemble`); only the
latter refuses a single-model file.
"""
import os

from ..ensemble import Ensemble
from .errors import IncompatibleCheckpointError, MalformedCheckpointError
from .format import to_json
from .model import check_pipeline_fits, finite_threshold, read_model
from .read import (
    file_kind,
    json_attr,
    open_checkpoint,
    python_value,
    read_preprocessing,
    require,
    root_attributes_of,
)
from .save import (
    CheckpointOptions,
    atomic_save,
    preprocessing_state,
    root_attributes,
    write_model,
    write_tree,
)

__all__ = ["save_ensemble", "load_ensemble", "read_ensemble"]

# Members are numbered 0..n-1; more than this in one file is not an ensemble we wrote.
_MAX_MEMBERS = 10000


def save_ensemble(path, ensemble, **storage):
    """Save an :class:`~dropout_layers.ensemble.Ensemble` to one HDF5 file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    ensemble : Ensemble
        Its members, ``preprocessing`` (a FeaturePipeline, an object with
        ``get_state()`` or a dict), ``threshold`` and ``metadata`` are stored.
    **storage
        ``compression``, ``weights_dtype`` and ``key``, as for
        :func:`save_checkpoint`.
    """
    options = CheckpointOptions.from_keywords(storage, "save_ensemble")
    members = list(ensemble.members)
    preprocessing = getattr(ensemble, "preprocessing", None)
    if preprocessing is not None:
        preprocessing = preprocessing_state(preprocessing, members[0])
    threshold = getattr(ensemble, "threshold", None)
    metadata = getattr(ensemble, "metadata", None)

    def write(h5file):
        for key, value in root_attributes().items():
            h5file.attrs[key] = value
        h5file.attrs["kind"] = "ensemble"
        h5file.attrs["n_members"] = len(members)
        if threshold is not None:
            h5file.attrs["threshold"] = float(threshold)
        if metadata is not None:
            h5file.attrs["metadata"] = to_json(metadata, "ensemble metadata")
        if preprocessing is not None:
            write_tree(h5file.create_group("preprocessing", track_order=True), preprocessing,
                       "preprocessing")
        members_group = h5file.create_group("members", track_order=True)
        for index, member in enumerate(members):
            # Members keep their dropout streams; the global RNG is not theirs to store.
            write_model(members_group.create_group(str(index)), member, rng="layers",
                        options=options)

    atomic_save(path, write, "ensemble", options.key)


def _member_groups(path, h5file):
    members_group = require(path, h5file, "members", "group")
    n_members = python_value(h5file.attrs.get("n_members"))
    if isinstance(n_members, bool) or not isinstance(n_members, int) or not (
            0 < n_members <= _MAX_MEMBERS):
        raise MalformedCheckpointError(path, f"n_members {n_members!r} is not a number of members "
                                             f"in 1..{_MAX_MEMBERS}")
    expected = [str(index) for index in range(n_members)]
    if sorted(members_group, key=lambda name: (len(name), name)) != expected:
        raise MalformedCheckpointError(path, f"'/members' must hold groups 0..{n_members - 1} "
                                             f"(n_members = {n_members}), it holds "
                                             f"{', '.join(list(members_group)[:5]) or 'none'}")
    return [require(path, members_group, name, "group") for name in expected]


def read_ensemble(path, h5file):
    """Rebuild the :class:`~dropout_layers.ensemble.Ensemble` of an open, verified ensemble file.

    Parameters
    ----------
    path : str
        Named in errors.
    h5file : h5py.File
        As :func:`~dropout_layers.checkpoint.open_checkpoint` gives it.

    Returns
    -------
    Ensemble
        See :func:`load_ensemble`.
    """
    attrs = root_attributes_of(h5file)
    checkpoints = [read_model(path, group, attrs) for group in _member_groups(path, h5file)]
    preprocessing, pipeline = read_preprocessing(path, h5file)
    check_pipeline_fits(path, pipeline, checkpoints[0].layers)
    metadata = json_attr(path, h5file, "metadata")
    if not isinstance(metadata, (dict, type(None))):
        raise MalformedCheckpointError(path, "the ensemble's metadata is not a JSON object")
    threshold = finite_threshold(path, python_value(h5file.attrs.get("threshold")), "threshold")
    ensemble = Ensemble([c.network for c in checkpoints], preprocessing=preprocessing,
                        threshold=threshold, metadata=metadata, pipeline=pipeline)
    ensemble.path = path
    ensemble.attrs = {k: v for k, v in attrs.items() if k != "metadata"}
    return ensemble


def load_ensemble(path, verify=True, key=None):
    """Rebuild the :class:`~dropout_layers.ensemble.Ensemble` stored by :func:`save_ensemble`.

    The file is checked as :func:`load_checkpoint` checks a single model,
    member by member. :func:`load_checkpoint` reads an ensemble file too;
    this function also makes sure that the file holds one.

    Parameters
    ----------
    path : str or os.PathLike
    verify : bool
        Check the file's size and SHA-256, and refuse a file without a header.
    key : bytes or str, optional
        Require the HMAC written by ``save_ensemble(..., key=key)``.

    Returns
    -------
    Ensemble
        With ``path`` and ``attrs`` (the root attributes) set, the stored
        preprocessing state as ``preprocessing`` and, when that state is a
        :class:`~dropout_layers.preprocessing.FeaturePipeline`, the pipeline
        as ``pipeline`` (None otherwise), which :meth:`Ensemble.predict
        <dropout_layers.ensemble.Ensemble.predict>` applies to raw inputs
        (``preprocess=False`` skips it).

    Raises
    ------
    CheckpointError
        One line naming the file and the fault; for a single-model file an
        :class:`IncompatibleCheckpointError` that says to use
        :func:`load_checkpoint`.
    """
    path = os.fspath(path)
    with open_checkpoint(path, verify=verify, key=key) as h5file:
        if file_kind(h5file) != "ensemble":
            raise IncompatibleCheckpointError(
                path, "is a single-model checkpoint, not an ensemble; load it with "
                      "dropout_layers.checkpoint.load_checkpoint")
        return read_ensemble(path, h5file)
