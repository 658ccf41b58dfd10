"""The base class of every error this library (and its applications) raise on purpose.

Catching :class:`DropoutLayersError` catches all of them and nothing else, so
a command-line tool can print ``str(error)``, a one-line message, and exit
without a traceback, while a genuine bug still shows its traceback.
Subclasses keep a built-in base where one fits (``ValueError``,
``RuntimeError``), so code that catches those keeps working.

Examples
--------
>>> from dropout_layers.errors import DropoutLayersError
>>> from dropout_layers.checkpoint import CheckpointError
>>> issubclass(CheckpointError, DropoutLayersError)
True
"""

__all__ = ["DropoutLayersError"]


class DropoutLayersError(Exception):
    """An expected failure: bad input, an unusable file or setting.

    The message is one line that says what is wrong and, where it can,
    what to do instead.
    """
