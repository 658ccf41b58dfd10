"""Which files a ``load_higgs`` argument names: one path, several, globs, directories.

The order of the files is the order in which their events follow each other
in the result: the paths in the order given; a glob pattern or a directory
stands for its matching files sorted by name (code-point order, whatever the
locale). A directory stands for the files in it (not below it) whose names
end in one of :data:`DATA_SUFFIXES`, hidden files excepted. The same file
named twice (by two patterns, or a pattern and its path) is refused.

Examples
--------
>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> for name in ("sig.csv", "bg.csv", "notes.md"):
...     open(os.path.join(folder, name), "w").close()
>>> [os.path.basename(p) for p in expand_paths(folder)]
['bg.csv', 'sig.csv']
>>> [os.path.basename(p) for p in expand_paths([os.path.join(folder, "sig.csv"),
...                                            os.path.join(folder, "b*.csv")])]
['sig.csv', 'bg.csv']
"""
import glob
import os
import re

from ..errors import HiggsDataError
from .schema import clip

__all__ = ["expand_paths", "DATA_SUFFIXES"]

#: Names a directory's data files end with.
DATA_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
_GLOB_MAGIC = re.compile(r"[*?[]")


def expand_paths(paths):
    """Return the data files ``paths`` names, in order, as strings.

    Parameters
    ----------
    paths : str, os.PathLike or sequence of them
        Files, glob patterns (``data/*.csv.gz``) or directories.

    Raises
    ------
    HiggsDataError
        For no paths, a pattern matching nothing, a directory without data
        files, or a file named twice. A path that does not exist is
        returned as it is, for the reader to refuse.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    paths = [os.fsdecode(path) for path in paths]
    if not paths:
        raise HiggsDataError("load_higgs: no data files given")
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(_directory_files(path))
        elif _GLOB_MAGIC.search(path) and not os.path.exists(path):
            matches = sorted(match for match in glob.glob(path) if os.path.isfile(match))
            if not matches:
                raise HiggsDataError(clip(f"{path}: no file matches this pattern"))
            files.extend(matches)
        else:
            files.append(path)
    seen = {}
    for path in files:
        key = os.path.realpath(path)
        if key in seen:
            raise HiggsDataError(clip(f"{path}: named twice (also as {seen[key]}); each file "
                                      "may be read once"))
        seen[key] = path
    return files


def _directory_files(directory):
    names = sorted(name for name in os.listdir(directory)
                   if not name.startswith(".") and name.endswith(DATA_SUFFIXES)
                   and os.path.isfile(os.path.join(directory, name)))
    if not names:
        raise HiggsDataError(clip(f"{directory}: is a directory with no data files (names "
                                  f"ending in {', '.join(DATA_SUFFIXES)})"))
    return [os.path.join(directory, name) for name in names]
