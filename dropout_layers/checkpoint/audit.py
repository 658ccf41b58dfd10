"""Walking an open HDF5 file before reading any data: nothing from outside it, nothing unstored.

HDF5 can make a reader fetch bytes from elsewhere (soft and external links,
external raw storage, virtual datasets) and allocate what a file merely
declares (a dataset whose data was never written reads as zeros of its
declared size). :func:`audit_file` visits every link and object with h5py's
low-level interface, which reads only metadata, and refuses those before any
dataset is read.

Every dataset must store what it declares: without a compression filter its
storage must cover its logical size; with gzip (deflate) or lzf its logical
size may exceed its storage by at most the filter's greatest expansion
(1032 for deflate, about 100 for lzf), so that a file of *n* bytes never
makes the loader allocate more than about 1032 *n* bytes.
"""
import h5py
import numpy as np
from h5py import h5d, h5l, h5o, h5z

from .errors import UnsafeCheckpointError

__all__ = ["audit_file", "FILTER_EXPANSION"]

_FILTER_LZF = 32000
#: Filters a checkpoint may use, with the most a compressor can expand its stored bytes.
FILTER_EXPANSION = {h5z.FILTER_DEFLATE: 1032, _FILTER_LZF: 100, h5z.FILTER_SHUFFLE: None,
                    h5z.FILTER_FLETCHER32: None}
_FILTER_NAMES = {h5z.FILTER_DEFLATE: "gzip", _FILTER_LZF: "lzf", h5z.FILTER_SHUFFLE: "shuffle",
                 h5z.FILTER_FLETCHER32: "fletcher32"}
_LINK_KINDS = {h5l.TYPE_SOFT: "a soft link", h5l.TYPE_EXTERNAL: "an external link"}
# A chunk larger than its dataset is read whole; allow small chunks regardless.
_MIN_CHUNK_BOUND = 1 << 20


def _text(name):
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def _first_problem(visit, callback):
    """Run an h5py visit with ``callback(name, info)`` returning a problem or None.

    Exceptions must not cross h5py's C callbacks, so the first problem (or
    exception) stops the visit and is raised after it.
    """
    problems = []

    def check(name, info):
        try:
            problem = callback(name, info)
        except Exception as exc:  # raised below, once outside HDF5
            problem = exc
        if problem is not None:
            problems.append(problem)
            return True
        return None

    visit(check)
    if problems:
        raise problems[0]


def _check_links(path, h5file):
    def check(name, info):
        if info.type == h5l.TYPE_HARD:
            return None
        kind = _LINK_KINDS.get(info.type, "a user-defined link")
        return UnsafeCheckpointError(
            path, f"'/{_text(name)}' is {kind}; a checkpoint holds only its own objects, so "
                  "links that point elsewhere are refused"
        )

    _first_problem(lambda check: h5file.id.links.visit(check, info=True), check)


def _check_dtype(path, name, dtype):
    if dtype.subdtype is not None or dtype.kind not in "biufSO":
        raise UnsafeCheckpointError(path, f"dataset '/{name}' has dtype {dtype}; a checkpoint "
                                          "stores numbers and strings only")
    if dtype.kind == "O" and h5py.check_string_dtype(dtype) is None:
        raise UnsafeCheckpointError(path, f"dataset '/{name}' holds references or variable-length "
                                          "sequences; a checkpoint stores numbers and strings only")


def _expansion(path, name, dcpl):
    """Return the most the dataset's filters may expand its stored bytes (1 uncompressed)."""
    expansion = 1
    compressors = []
    for index in range(dcpl.get_nfilters()):
        code = dcpl.get_filter(index)[0]
        if code not in FILTER_EXPANSION:
            raise UnsafeCheckpointError(
                path, f"dataset '/{name}' uses HDF5 filter {code}; a checkpoint may use only "
                      f"{', '.join(_FILTER_NAMES.values())}"
            )
        if FILTER_EXPANSION[code] is not None:
            compressors.append(_FILTER_NAMES[code])
            expansion = FILTER_EXPANSION[code]
    if len(compressors) > 1:
        raise UnsafeCheckpointError(path, f"dataset '/{name}' is compressed twice "
                                          f"({' and '.join(compressors)})")
    return expansion


def _check_dataset(path, name, dataset):
    dcpl = dataset.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        raise UnsafeCheckpointError(path, f"dataset '/{name}' is a virtual dataset, which reads "
                                          "other datasets or files; refused")
    if dcpl.get_external_count():
        raise UnsafeCheckpointError(path, f"dataset '/{name}' keeps its data in an external file; "
                                          "a checkpoint's data must be inside it")
    if dataset.shape is None:
        raise UnsafeCheckpointError(path, f"dataset '/{name}' has a null dataspace")
    dtype = dataset.dtype
    _check_dtype(path, name, dtype)
    logical = int(np.prod(dataset.shape, dtype=object)) * dtype.itemsize
    expansion = _expansion(path, name, dcpl)
    stored = dataset.get_storage_size()
    if logical > stored * expansion:
        raise UnsafeCheckpointError(
            path, f"dataset '/{name}' declares shape {dataset.shape} ({logical:,} bytes) but "
                  f"stores {stored:,} bytes; refused before allocating what the file does not hold"
        )
    if layout == h5d.CHUNKED:
        chunk_bytes = int(np.prod(dcpl.get_chunk(), dtype=object)) * dtype.itemsize
        if chunk_bytes > max(logical, _MIN_CHUNK_BOUND):
            raise UnsafeCheckpointError(path, f"dataset '/{name}' has chunks of {chunk_bytes:,} "
                                              f"bytes for {logical:,} bytes of data")


def _check_objects(path, h5file):
    def check(name, info):
        if info.type == h5o.TYPE_DATASET:
            _check_dataset(path, _text(name), h5o.open(h5file.id, name))
            return None
        if info.type != h5o.TYPE_GROUP:
            return UnsafeCheckpointError(path, f"'/{_text(name)}' is a committed datatype or "
                                               "another kind of object that checkpoints do not use")
        return None

    _first_problem(lambda check: h5o.visit(h5file.id, check, info=True), check)


def audit_file(path, h5file):
    """Refuse links, external or virtual storage, unknown filters and unstored data.

    Reads only metadata: call it after opening the file and before reading
    any dataset.

    Parameters
    ----------
    path : str
        For the messages.
    h5file : h5py.File

    Raises
    ------
    UnsafeCheckpointError
        Naming the first object at fault.
    """
    _check_links(path, h5file)
    _check_objects(path, h5file)
