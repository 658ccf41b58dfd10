"""The checks made before HDF5 sees a file: existence, header, size, SHA-256 and HMAC.

HDF5 does not checksum raw data and can misbehave on damaged metadata, so a
checkpoint's bytes are verified against its header before any HDF5 call.
The SHA-256 detects corruption (a bad disk, a truncated copy, an edit); it
does not detect tampering, since whoever changes the file can rewrite the
digest too. An HMAC-SHA256 under a key that only the writer and the reader
know does: :func:`check_file` checks it when given the key.

The file is read twice, once here and once by HDF5; a file that changes in
between is not detected, so load files from a directory that only you can
write to.
"""
import hmac
import os

from .errors import (
    AuthenticationError,
    CheckpointError,
    CheckpointNotFoundError,
    CorruptCheckpointError,
    NotACheckpointError,
    UnsupportedVersionError,
    UnverifiedCheckpointError,
)
from .format import FORMAT, FORMAT_VERSION, USERBLOCK_SIZE, Digests, unpack_header

__all__ = ["check_file", "check_version", "read_header"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_version(path, version, where):
    """Refuse a format version that is not a positive integer or is newer than this library's."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise NotACheckpointError(path, f"format_version {version!r} in the {where} is not a "
                                        "version number")
    if version > FORMAT_VERSION:
        raise UnsupportedVersionError(
            path, f"checkpoint format version {version} is newer than this library reads "
                  f"(version {FORMAT_VERSION}); upgrade dropout_layers to load it"
        )


def _open(path):
    if not os.path.exists(path):
        raise CheckpointNotFoundError(path, "no such file")
    if os.path.isdir(path):
        raise NotACheckpointError(path, "is a directory, not a checkpoint file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CheckpointError(path, f"cannot read the file ({exc.strerror})") from None


def _has_hdf5_signature(raw, size):
    """Whether HDF5's signature is where HDF5 looks for it: byte 0, 512, 1024, 2048, ..."""
    offset = 0
    while offset + len(_HDF5_SIGNATURE) <= size:
        raw.seek(offset)
        if raw.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def _headerless(path, raw, size, block, verify, key):
    if block.startswith(FORMAT.encode("ascii")):
        raise CorruptCheckpointError(path, "corrupted file: its header is damaged")
    if size == 0:
        raise NotACheckpointError(path, "empty file, not an HDF5 checkpoint")
    if not _has_hdf5_signature(raw, size):
        raise NotACheckpointError(path, "not an HDF5 file")
    if key is not None:
        raise AuthenticationError(path, "has no checkpoint header, so no HMAC to check the key "
                                        "against; it cannot be authenticated")
    if verify:
        raise UnverifiedCheckpointError(
            path, "an HDF5 file without a dropout_layers checkpoint header, so its size and "
                  "SHA-256 cannot be checked; if you trust it, load it with verify=False"
        )


def read_header(path):
    """Return the header of the file at ``path``, or None if it has none (no full check).

    Raises
    ------
    CheckpointNotFoundError, NotACheckpointError, CorruptCheckpointError
    """
    with _open(path) as raw:
        try:
            return unpack_header(raw.read(USERBLOCK_SIZE))
        except ValueError as exc:
            raise CorruptCheckpointError(path, f"corrupted file: its header is damaged "
                                               f"({exc})") from None


def _check_digests(path, raw, header, verify, key):
    digests = Digests(key).read(raw)
    if verify and digests.sha256.hexdigest() != header["sha256"]:
        raise CorruptCheckpointError(
            path, "corrupted file: its contents changed after it was written (SHA-256 mismatch); "
                  "if you edited it on purpose, load it with verify=False"
        )
    if key is None:
        return
    if "hmac" not in header:
        raise AuthenticationError(path, "was saved without a key (its header holds no HMAC), so "
                                        "it cannot be authenticated")
    if not hmac.compare_digest(digests.hmac.hexdigest(), header["hmac"]):
        raise AuthenticationError(path, "HMAC mismatch: the file was not saved with this key, or "
                                        "it was changed after it was saved")


def check_file(path, verify=True, key=None):
    """Check a checkpoint file without HDF5: header, size, SHA-256 and, with ``key``, HMAC.

    Parameters
    ----------
    path : str
    verify : bool
        Check the SHA-256, and refuse a file without a header. ``False``
        accepts a file edited after it was written, or an HDF5 file written
        by other code.
    key : bytes or str, optional
        Require an HMAC made with this key (whatever ``verify`` says).

    Returns
    -------
    dict or None
        The header (see :func:`~dropout_layers.checkpoint.format.unpack_header`),
        or None for a file without one (only with ``verify=False``).

    Raises
    ------
    CheckpointError
        Each fault with its own subclass and a one-line message.
    """
    with _open(path) as raw:
        size = raw.seek(0, os.SEEK_END)
        raw.seek(0)
        block = raw.read(USERBLOCK_SIZE)
        try:
            header = unpack_header(block)
        except ValueError as exc:
            raise CorruptCheckpointError(path, f"corrupted file: its header is damaged "
                                               f"({exc})") from None
        if header is None:
            _headerless(path, raw, size, block, verify, key)
            return None
        check_version(path, header["format_version"], "file header")
        if size < header["size"]:
            raise CorruptCheckpointError(path, f"truncated file: {size} bytes of the "
                                               f"{header['size']} written (an interrupted copy?)")
        if verify and size > header["size"]:
            raise CorruptCheckpointError(path, f"corrupted file: {size} bytes, but "
                                               f"{header['size']} were written")
        if verify or key is not None:
            _check_digests(path, raw, header, verify, key)
    return header
