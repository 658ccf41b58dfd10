"""The errors of the Higgs application, all one-line messages.

Every class derives from :class:`dropout_layers.errors.DropoutLayersError`,
so the command-line tools catch the library's errors and these with one
``except`` and print the message alone.
"""
from dropout_layers.errors import DropoutLayersError

__all__ = ["HiggsError", "HiggsDataError", "PipelineError", "EnsembleResumeError", "SearchError",
           "UsageError"]


class HiggsError(DropoutLayersError):
    """The base class of the application's errors."""


class HiggsDataError(HiggsError, ValueError):
    """A Higgs data file is missing, malformed or inconsistent.

    The message is one line and starts with the path of the file.
    """


class PipelineError(HiggsError, ValueError):
    """The data or a checkpoint cannot be used for training as asked.

    The message is one line naming the file and the problem.
    """


class EnsembleResumeError(HiggsError, ValueError):
    """A member checkpoint found on resume belongs to a different run."""


class SearchError(HiggsError, RuntimeError):
    """The search could not run or no trial finished."""


class UsageError(HiggsError):
    """A bad command-line option or combination of options."""
