"""What decides how the Higgs networks are trained: :class:`PipelineOptions`.

Every default of the training lives here, and only here: the command line
reads its defaults from these fields, so that ``train-higgs --help``, the
Python API and a resumed checkpoint agree. The values are those that won
the measurements recorded in the project's results table (UCI sample,
synthetic Kaggle-schema data of several sizes, several seeds): Adam at
``1e-3`` for every width, a 5-fold bag of dropout networks on small data
(one network on large data, see :func:`default_folds`), training-time
rotations and reflections of the azimuthal angles, and a selection cut
chosen on out-of-fold (or validation) scores.
"""
import dataclasses

from dropout_layers.compilation import BackendError, resolve_backend

from .errors import PipelineError

__all__ = ["PipelineOptions", "UPDATE_RULES", "TRAINING_WEIGHTS", "THRESHOLD_RULES",
           "BAG_MAX_EVENTS", "default_folds", "default_learning_rate"]

#: The update rules :class:`PipelineOptions` accepts.
UPDATE_RULES = ("adam", "nesterov_momentum")
#: How the events are weighted in the training loss (see
#: :func:`~dropout_layers_higgs.splits.training_weights`).
TRAINING_WEIGHTS = ("balanced", "unweighted", "mix")
#: How the selection cut is chosen (see
#: :func:`~dropout_layers_higgs.thresholds.choose_cut`).
THRESHOLD_RULES = ("smoothed", "fraction")

# Nesterov momentum needs a rate that shrinks as the layers widen: a hidden
# unit sums ``width`` inputs, so its step grows with the width. 0.05 suits
# 128 units; 600 units at 0.05 die in the first epoch.
_NESTEROV_RATE_AT_128 = 0.05
_ADAM_RATE = 1e-3
_BAG_FOLDS = 5

#: The most training events for which :func:`default_folds` chooses a bag.
BAG_MAX_EVENTS = 50_000


def default_folds(n_training_events):
    """Return the number of folds a run uses when none is given.

    On small data a bag is worth its cost: every labelled event trains four
    networks of five, the average of five networks has less variance than
    one, and the cut is chosen on out-of-fold scores of all events. On
    large data one network is nearly as good, and five times faster.

    Parameters
    ----------
    n_training_events : int
        Labelled events available for training (the held-out test events
        excluded).

    Returns
    -------
    int
        5 up to :data:`BAG_MAX_EVENTS` events, otherwise 1.

    Examples
    --------
    >>> default_folds(10_000), default_folds(200_000)
    (5, 1)
    """
    return _BAG_FOLDS if n_training_events <= BAG_MAX_EVENTS else 1


def default_learning_rate(update, hidden):
    """Return the learning rate used when :attr:`PipelineOptions.learning_rate` is None.

    Parameters
    ----------
    update : {'adam', 'nesterov_momentum'}
    hidden : sequence of int
        The hidden layer sizes.

    Returns
    -------
    float
        ``1e-3`` for Adam at any width (its steps are normalised per
        parameter); for Nesterov momentum ``0.05 * 128 / max(hidden)``.

    Examples
    --------
    >>> default_learning_rate("adam", (600, 600, 600))
    0.001
    >>> round(default_learning_rate("nesterov_momentum", (640,)), 6)
    0.01
    """
    if update == "adam":
        return _ADAM_RATE
    return _NESTEROV_RATE_AT_128 * 128 / max(int(units) for units in hidden)


@dataclasses.dataclass
class PipelineOptions:
    """Everything that decides how the networks of a run are trained.

    Attributes
    ----------
    hidden : tuple of int
        Units per hidden layer.
    dropout : float
        Dropout probability after each hidden layer.
    input_dropout : float
        Dropout probability on the inputs.
    leakiness : float
        Slope of the rectifiers below zero.
    epochs : int
        Maximum number of epochs.
    epoch_events : int
        Training events per epoch at most: a larger training set is cut
        into equal chunks, one an epoch, so that early stopping (and its
        ``patience``) looks at the validation events after as much training
        on 250,000 events as on 10,000.
    batch_size : int
    update : {'adam', 'nesterov_momentum'}
        The update rule.
    learning_rate : float or None
        1e-3 suits Adam at every width. None: :func:`default_learning_rate`
        of ``update`` and ``hidden`` (Adam 1e-3; Nesterov momentum 0.05 at
        128 units, scaled down in proportion to the widest layer: 0.0107 at
        600; at 0.05 a 600-unit network dies in its first epoch).
    momentum : float
        Of Nesterov momentum (Adam ignores it).
    patience : int
        Epochs without a better validation score before a network stops.
    folds : int
        Networks of the bag, each trained on all labelled events but one
        fold and early-stopped on that fold; 1 trains a single network on a
        train / validation split (``valid_fraction``).
    repeats : int
        Repeats of the K-fold split (``folds * repeats`` networks).
    valid_fraction : float
        Single network only: share of the labelled events held out for
        early stopping and for choosing the cut.
    test_fraction : float or None
        Share held out from all training, scored once at the end with the
        chosen cut; None means 0.2, except for the open-data file, whose
        leaderboard sets already serve as held-out events (0).
    drop_phi, log_transform, missing_indicators : bool
        Passed to :class:`~dropout_layers_higgs.preprocessing.HiggsPreprocessor`.
    augment_phi : bool
        Rotate every training event about the beam by a random angle and
        reflect it at random, a fresh draw each epoch: the physics does not
        change, so this is free data (see :mod:`~dropout_layers_higgs.augment`).
    monitor : {None, 'ams', 'auc'}
        The validation figure for early stopping; None: AUC (steadier than
        the AMS on small validation sets).
    training_weights : {'balanced', 'unweighted', 'mix'}
        Loss weights: physics weights rescaled so that each class sums to
        the same total, every event alike, or the mean of both.
    threshold_rule : {'smoothed', 'fraction'}
        ``'smoothed'``: the maximum of the AMS curve of the out-of-fold (or
        validation) scores after a running mean over ``ams_window`` events;
        ``'fraction'``: select the top ``top_fraction``.
    ams_window : int
        Width of that running mean, in events.
    top_fraction : float
        The fixed selection fraction (0.15, as the winners), always reported.
    bootstrap : int
        Bootstrap replicates for the uncertainty of the AMS (0: none).
    progress : bool
        Show a progress bar per epoch and a line per epoch.
    backend : {'auto', 'numba', 'jax', 'pytorch'}
        The PyTensor backend that compiles the networks
        (:func:`dropout_layers.compilation.resolve_backend`); ``'auto'``
        takes JAX where it is installed: it compiles the default network
        in about 2 s where numba takes 20-30 s on a first run, and trains
        it faster too.
    """

    hidden: tuple = (128, 128, 128)
    dropout: float = 0.5
    input_dropout: float = 0.0
    leakiness: float = 0.0
    epochs: int = 400
    epoch_events: int = 50_000
    batch_size: int = 128
    update: str = "adam"
    learning_rate: float = _ADAM_RATE
    momentum: float = 0.9
    patience: int = 40
    folds: int = _BAG_FOLDS
    repeats: int = 1
    valid_fraction: float = 0.2
    test_fraction: float = None
    drop_phi: bool = False
    log_transform: bool = True
    missing_indicators: bool = True
    augment_phi: bool = True
    monitor: str = None
    training_weights: str = "balanced"
    threshold_rule: str = "smoothed"
    ams_window: int = 1000
    top_fraction: float = 0.15
    bootstrap: int = 200
    progress: bool = True
    backend: str = "auto"

    def __post_init__(self):
        try:
            self.hidden = tuple(int(units) for units in self.hidden)
        except (TypeError, ValueError):
            raise PipelineError(f"hidden layer sizes must be integers, got {self.hidden!r}") \
                from None
        if not self.hidden or any(units <= 0 for units in self.hidden):
            raise PipelineError(f"hidden layer sizes must be positive integers, got "
                                f"{','.join(map(str, self.hidden)) or 'none'}")
        self._check_ranges()
        self._check_choices()
        self._check_fractions()
        self.mode  # noqa: B018  (an unknown or missing backend fails here, not after loading)

    def _check_ranges(self):
        for name in ("dropout", "input_dropout", "momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise PipelineError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("epochs", "epoch_events", "batch_size", "patience", "folds", "repeats",
                     "ams_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise PipelineError(f"{name} must be a positive integer, got {value}")
        if isinstance(self.bootstrap, bool) or int(self.bootstrap) != self.bootstrap \
                or self.bootstrap < 0:
            raise PipelineError(f"bootstrap must be a non-negative integer, got {self.bootstrap}")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise PipelineError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.leakiness < 0:
            raise PipelineError(f"leakiness must be non-negative, got {self.leakiness}")

    def _check_choices(self):
        for name, choices in (("update", UPDATE_RULES), ("training_weights", TRAINING_WEIGHTS),
                              ("threshold_rule", THRESHOLD_RULES),
                              ("monitor", (None, "ams", "auc"))):
            if getattr(self, name) not in choices:
                listed = ", ".join(repr(choice) for choice in choices)
                raise PipelineError(f"{name} must be one of {listed}, got "
                                    f"{getattr(self, name)!r}")

    @property
    def mode(self):
        """The PyTensor mode of :attr:`backend`, or None for PyTensor's default."""
        try:
            return resolve_backend(self.backend)
        except BackendError as exc:
            raise PipelineError(str(exc)) from None

    def _check_fractions(self):
        if not 0.0 < self.valid_fraction < 1.0:
            raise PipelineError(f"valid_fraction must be in (0, 1), got {self.valid_fraction}")
        if self.test_fraction is not None and not 0.0 <= self.test_fraction < 1.0:
            raise PipelineError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if (self.folds == 1 and self.test_fraction is not None
                and self.valid_fraction + self.test_fraction >= 1.0):
            raise PipelineError(f"valid_fraction + test_fraction must be below 1, got "
                                f"{self.valid_fraction} + {self.test_fraction}")
        if not 0.0 < self.top_fraction <= 1.0:
            raise PipelineError(f"top_fraction must be in (0, 1], got {self.top_fraction}")

    @property
    def rate(self):
        """The learning rate in use: ``learning_rate`` or :func:`default_learning_rate`."""
        if self.learning_rate is not None:
            return float(self.learning_rate)
        return default_learning_rate(self.update, self.hidden)

    @property
    def n_members(self):
        """Networks a run trains: ``folds * repeats``, or 1 for a single network."""
        return 1 if self.folds == 1 else self.folds * self.repeats

    def to_dict(self):
        """Return the options as a JSON-friendly dict (``hidden`` as a list)."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values

    @classmethod
    def from_dict(cls, values):
        """Rebuild from :meth:`to_dict` output, ignoring unknown keys.

        Options of checkpoints written before a field existed take the
        values those checkpoints were trained with: ``balance_classes``
        becomes ``training_weights``, and an older file trained with
        Nesterov momentum, one network and no augmentation.
        """
        values = dict(values)
        if "balance_classes" in values and "training_weights" not in values:
            values["training_weights"] = "balanced" if values["balance_classes"] else "unweighted"
        if "update" not in values:
            values.update(update="nesterov_momentum", folds=1, augment_phi=False)
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})
