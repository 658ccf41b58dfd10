"""The code that Ray ships to its workers for this application.

Ray's ``runtime_env`` ships a package as the directory it lives in. An
installed application holds its model definitions in
``dropout_layers_higgs/models``; an editable install (``pip install -e .``)
maps them from the repository's ``models/`` folder instead, so the package
directory alone would arrive without them. :func:`worker_code` then ships a
copy of the package as it is installed, assembled once per process.
"""
import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from . import models

__all__ = ["worker_code"]

_PACKAGE = Path(__file__).resolve().parent
_MODELS = Path(models.__file__).resolve().parent
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


@functools.lru_cache(maxsize=None)
def worker_code():
    """Directories for :class:`~dropout_layers.executors.ExecutorSettings` ``code``.

    Returns
    -------
    tuple of str
        The application package's directory, with its models inside.
    """
    if _MODELS.parent == _PACKAGE:
        return (str(_PACKAGE),)
    staging = Path(tempfile.mkdtemp(prefix="dropout_layers_higgs-code-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    package = staging / _PACKAGE.name
    shutil.copytree(_PACKAGE, package, ignore=_IGNORE)
    shutil.copytree(_MODELS, package / _MODELS.name, ignore=_IGNORE, dirs_exist_ok=True)
    return (str(package),)
