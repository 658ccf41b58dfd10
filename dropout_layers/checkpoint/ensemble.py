"""Ensemble checkpoints: several networks and what they share, in one file.

Layout: the usual root attributes plus ``kind = 'ensemble'``,
``n_members``, ``threshold`` (if set) and ``metadata`` (JSON); the shared
``/preprocessing`` group; and one group per member, ``/members/<i>/``,
laid out like the root of a single-network checkpoint (``architecture``
attribute, ``params/<layer>/<param>`` datasets, ``rng`` streams).
"""
from .format import from_json, to_json
from .load import _read_model
from .read import _python, read_tree
from .save import atomic_save, root_attributes, write_model, write_tree

__all__ = ["save_ensemble", "read_ensemble"]


def save_ensemble(path, ensemble, *, compression=None, weights_dtype=None):
    """Save an :class:`~dropout_layers.ensemble.Ensemble` to one HDF5 file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
    ensemble : Ensemble
        Its members, ``preprocessing`` (an object with ``get_state()`` or a
        dict), ``threshold`` and ``metadata`` are stored.
    compression, weights_dtype
        As for :func:`save_checkpoint`.
    """
    members = list(ensemble.members)
    preprocessing = getattr(ensemble, "preprocessing", None)
    if preprocessing is not None and hasattr(preprocessing, "get_state"):
        preprocessing = preprocessing.get_state()
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
            write_tree(h5file.create_group("preprocessing", track_order=True), preprocessing, "preprocessing")
        members_group = h5file.create_group("members", track_order=True)
        for index, member in enumerate(members):
            # Members keep their dropout streams; the global RNG is not theirs to store.
            write_model(members_group.create_group(str(index)), member, rng="layers",
                        compression=compression, weights_dtype=weights_dtype)

    atomic_save(path, write)


def read_ensemble(path, h5file):
    """Rebuild the :class:`~dropout_layers.ensemble.Ensemble` of an open ensemble file."""
    from ..ensemble import Ensemble
    from .errors import MissingEntryError

    if "members" not in h5file:
        raise MissingEntryError(path, "missing group '/members'")
    members_group = h5file["members"]
    indices = sorted(int(key) for key in members_group)
    checkpoints = [_read_model(path, members_group[str(i)], h5file) for i in indices]
    if len(checkpoints) != int(h5file.attrs.get("n_members", len(checkpoints))):
        raise MissingEntryError(path, f"holds {len(checkpoints)} members but records n_members = "
                                      f"{int(h5file.attrs['n_members'])}")
    preprocessing = read_tree(h5file["preprocessing"]) if "preprocessing" in h5file else None
    metadata = from_json(h5file.attrs["metadata"]) if "metadata" in h5file.attrs else None
    threshold = _python(h5file.attrs["threshold"]) if "threshold" in h5file.attrs else None
    ensemble = Ensemble([c.network for c in checkpoints], preprocessing=preprocessing, threshold=threshold,
                        metadata=metadata)
    ensemble.path = path
    ensemble.attrs = {k: _python(v) for k, v in h5file.attrs.items() if k != "metadata"}
    return ensemble

