"""Helpers for the checkpoint tests: edit a file with h5py and give it a valid header again.

A writer that knows the format can always compute a valid SHA-256 (it is a
checksum, not a signature), so hostile files are tested with a correct
header: the checks after the digest must refuse them on their own.
"""
import os

import h5py

from dropout_layers.checkpoint.format import USERBLOCK_SIZE, Digests, pack_header, unpack_header


def reseal(path, key=None, kind=None):
    """Rewrite the header of the file at ``path`` for its current bytes."""
    with open(path, "r+b") as raw:
        try:
            header = unpack_header(raw.read(USERBLOCK_SIZE)) or {}
        except ValueError:
            header = {}
        size = raw.seek(0, os.SEEK_END)
        block = pack_header(size, Digests(key).read(raw), kind or header.get("kind") or "model")
        raw.seek(0)
        raw.write(block)


def edit(path, change, key=None):
    """Apply ``change(h5file)`` to a checkpoint with h5py, then reseal it."""
    # At least the format's library version, so that large attributes go to dense
    # storage; newer where a feature needs it (virtual datasets).
    with h5py.File(path, "r+", libver=("v108", "latest")) as h5file:
        change(h5file)
    reseal(path, key)


def new_file(path, fill, kind="model"):
    """Write an HDF5 file with a checkpoint's user block, filled by ``fill(h5file)``, sealed."""
    with h5py.File(path, "w", userblock_size=USERBLOCK_SIZE, libver=("v108", "v108")) as h5file:
        fill(h5file)
    reseal(path, kind=kind)
