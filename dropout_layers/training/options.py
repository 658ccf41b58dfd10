"""The less common settings of the fit loop, grouped and checked by name.

:meth:`Trainer.fit <dropout_layers.training.Trainer.fit>` takes the data,
the number of epochs, the batch size, callbacks and metrics as arguments and
everything else as keywords that fill a :class:`FitOptions`;
:class:`Trainer <dropout_layers.training.Trainer>` does the same with
:class:`TrainerSettings`. A misspelt keyword is refused with the closest
valid name, instead of being ignored.

Examples
--------
>>> FitOptions.from_keywords({"seed": 3, "verbose": False})
FitOptions(shuffle=True, seed=3, drop_last=False, verbose=False, resume_from=None)
>>> FitOptions.from_keywords({"sede": 3})
Traceback (most recent call last):
...
dropout_layers.training.options.UnknownOptionError: fit got an unknown keyword 'sede'; did ...
"""
import dataclasses
import difflib
import os
from typing import Any

from ..checks import check_non_negative_int, check_positive_int
from ..errors import DropoutLayersError

__all__ = ["FitOptions", "TrainerSettings", "UnknownOptionError", "unknown_keyword_error"]


class UnknownOptionError(DropoutLayersError, TypeError):
    """A keyword argument that the function does not take."""


def unknown_keyword_error(owner, keyword, valid):
    """Make the error for an unknown ``keyword``, suggesting the closest of ``valid``."""
    close = difflib.get_close_matches(keyword, list(valid), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid keywords: {', '.join(valid)}"
    return UnknownOptionError(f"{owner} got an unknown keyword {keyword!r}{hint}")


class _Keywords:
    """Build a dataclass from keywords, refusing unknown ones by name."""

    owner = ""

    @classmethod
    def names(cls):
        """Return the keywords this group takes, in order."""
        return [field.name for field in dataclasses.fields(cls)]

    @classmethod
    def from_keywords(cls, keywords):
        """Build an instance from keywords; an unknown one raises :class:`UnknownOptionError`."""
        for keyword in keywords:
            if keyword not in cls.names():
                raise unknown_keyword_error(cls.owner, keyword, cls.names())
        return cls(**keywords)


@dataclasses.dataclass
class FitOptions(_Keywords):
    """Keyword settings of :meth:`Trainer.fit <dropout_layers.training.Trainer.fit>`.

    Attributes
    ----------
    shuffle : bool
        Visit the rows in a new order each epoch, derived from
        ``(seed, epoch)``.
    seed : int
        Seed of the shuffling (the masks and initial weights have their
        own, see :func:`dropout_layers.set_rng`).
    drop_last : bool
        Skip each epoch's last batch when it is smaller than ``batch_size``.
    verbose : bool
        Print the compile notice, an epoch table and, on a terminal, a
        progress bar.
    resume_from : str or path-like, optional
        A checkpoint written by
        :class:`~dropout_layers.training.ModelCheckpoint`: restore the
        parameters, optimizer state, RNG streams, learning rate and
        history, then continue with the next epoch.
    """

    owner = "fit"

    shuffle: bool = True
    seed: int = 0
    drop_last: bool = False
    verbose: bool = True
    resume_from: Any = None

    def __post_init__(self):
        self.shuffle = bool(self.shuffle)
        self.seed = check_non_negative_int(self.seed, "seed")
        self.drop_last = bool(self.drop_last)
        self.verbose = bool(self.verbose)
        if self.resume_from is not None:
            self.resume_from = os.fspath(self.resume_from)


@dataclasses.dataclass
class TrainerSettings(_Keywords):
    """Keyword settings of :class:`Trainer <dropout_layers.training.Trainer>`.

    Attributes
    ----------
    input_var : TensorVariable, optional
        The input variable; by default the input layer's own.
    target_var : TensorVariable, optional
        The target variable; by default a floatX vector for a network with
        one output unit, else a floatX tensor of the output's rank.
    eval_batch_size : int
        Rows per call of the evaluation step in validation and prediction.
    compile_notice_after : float or None
        Seconds after which a compilation still under way is announced (with
        ``verbose``): a cached network loads in well under a second and says
        nothing, a first run says that it is compiling. ``None`` never
        announces.
    """

    owner = "Trainer"

    input_var: Any = None
    target_var: Any = None
    eval_batch_size: int = 4096
    compile_notice_after: Any = 1.0

    def __post_init__(self):
        self.eval_batch_size = check_positive_int(self.eval_batch_size, "eval_batch_size")
        if self.compile_notice_after is not None:
            self.compile_notice_after = float(self.compile_notice_after)
            if not self.compile_notice_after >= 0:
                raise ValueError("compile_notice_after must be a non-negative number of seconds "
                                 f"or None, got {self.compile_notice_after!r}")
