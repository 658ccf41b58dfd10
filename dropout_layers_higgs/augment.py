"""Free training data from the symmetries of a collision: rotations and reflections.

The protons collide head on, so the physics is the same after a rotation of
the whole event about the beam (every azimuthal angle ``phi`` shifted by the
same amount), after a reflection of the transverse plane (every ``phi``
negated) and after swapping the two beams (every pseudorapidity ``eta``
negated). A network sees raw angles, and on a few thousand events it learns
their noise; :class:`EventBatches` shows it every training event in a
fresh random orientation each epoch, which costs nothing but the transform.

The draws and the order depend on ``(seed, epoch)`` alone, like the batch
order of :mod:`dropout_layers.training.batches`, so a resumed run sees the
same events as the uninterrupted one. Only training events are transformed;
validation, test and new events are scored as they are.
"""
import numpy as np

from .data import KAGGLE_FEATURES, MISSING_VALUE, UCI_FEATURES

__all__ = ["UCI_PHI_HALF_RANGE", "symmetry_columns", "transform_event_frame", "EventBatches"]

#: The UCI file stores each azimuthal angle scaled to [-1.743, 1.743].
UCI_PHI_HALF_RANGE = 1.743


def symmetry_columns(feature_names):
    """Find the azimuthal and pseudorapidity columns, and the range of the angles.

    Parameters
    ----------
    feature_names : sequence of str

    Returns
    -------
    phi, eta : numpy.ndarray of int64
        Columns holding an azimuthal angle, and a signed pseudorapidity
        (derived features such as ``DER_deltaeta_jet_jet`` do not change
        under these symmetries and are left alone).
    half_range : float or None
        Half the period of the angles (pi for the Kaggle schema,
        :data:`UCI_PHI_HALF_RANGE` for UCI); None for another schema, which
        is not transformed.

    Examples
    --------
    >>> phi, eta, half = symmetry_columns(["lepton_pt", "lepton_eta", "lepton_phi"])
    >>> phi.tolist(), eta.tolist(), half
    ([2], [1], 1.743)
    """
    names = [str(name) for name in feature_names]
    phi = np.array([j for j, name in enumerate(names) if name.endswith("_phi")], dtype=np.int64)
    eta = np.array([j for j, name in enumerate(names)
                    if name.endswith("_eta") and not name.startswith("DER_")], dtype=np.int64)
    known = set(names)
    if known <= set(KAGGLE_FEATURES):
        return phi, eta, float(np.pi)
    if known <= set(UCI_FEATURES):
        return phi, eta, UCI_PHI_HALF_RANGE
    return phi, eta, None


def transform_event_frame(X, columns, rng):
    """Rotate, reflect and flip each event (row) of raw features at random.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, n_features)
        Raw features; entries equal to ``MISSING_VALUE`` stay as they are.
    columns : tuple
        :func:`symmetry_columns` of the features.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        A transformed copy, in ``X``'s dtype.
    """
    phi, eta, half = columns
    X = np.array(X, copy=True)
    if half is None:
        return X
    n = len(X)
    shift = rng.uniform(-half, half, n)
    mirror = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    swap_beams = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    for j in phi:
        defined = X[:, j] != MISSING_VALUE
        turned = mirror * X[:, j] + shift
        X[defined, j] = ((turned + half) % (2.0 * half) - half)[defined]
    for j in eta:
        defined = X[:, j] != MISSING_VALUE
        X[defined, j] = (swap_beams * X[:, j])[defined]
    return X


class EventBatches:
    """Mini-batches of training events, epoch by epoch: rotated and reflected, in chunks.

    A batch source for :meth:`dropout_layers.training.Trainer.fit` (it has
    ``__len__`` and ``__call__(epoch)``). Each epoch takes one chunk of at
    most ``options.epoch_events`` events (all of them, for a data set no
    larger), transforms its raw features with :func:`transform_event_frame`
    when ``options.augment_phi`` is set, preprocesses them and yields them
    in a shuffled order. The chunks of a pass cover every event once, so a
    large data set is seen whole every few epochs, and early stopping looks
    at the validation events as often on 250,000 events as on 10,000.

    Parameters
    ----------
    X : numpy.ndarray, shape (n, n_features)
        Raw training features.
    y, weights : numpy.ndarray, shape (n,)
        Targets and loss weights.
    preprocessor : HiggsPreprocessor
        Fitted.
    feature_names : sequence of str
    options : PipelineOptions
        ``batch_size``, ``epoch_events`` and ``augment_phi``.
    seed : int

    Examples
    --------
    >>> from dropout_layers_higgs.options import PipelineOptions
    >>> from dropout_layers_higgs.preprocessing import HiggsPreprocessor
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> prep = HiggsPreprocessor().fit(X, ["a", "b"])
    >>> batches = EventBatches(X, np.ones(10), np.ones(10), prep, ["a", "b"],
    ...                        PipelineOptions(batch_size=2, epoch_events=4), seed=0)
    >>> batches.chunks, len(batches), sum(len(b[0]) for b in batches(1))
    (3, 2, 4)
    """

    def __init__(self, X, y, weights, preprocessor, feature_names, options, seed):
        self.X = X
        self.y = np.asarray(y, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)
        self.preprocessor = preprocessor
        self.feature_names = list(feature_names)
        self.columns = symmetry_columns(self.feature_names) if options.augment_phi else None
        self.batch_size = int(options.batch_size)
        self.chunks = -(-len(X) // int(options.epoch_events))
        self.seed = int(seed)

    @property
    def n_samples(self):
        """Number of training events."""
        return len(self.X)

    def __len__(self):
        """Return the number of batches per epoch (of the largest chunk)."""
        return -(-(-(-self.n_samples // self.chunks)) // self.batch_size)

    def rows(self, epoch):
        """Return the events of epoch ``epoch``, in the order they are visited."""
        passes, chunk = divmod(int(epoch) - 1, self.chunks)
        order = np.random.default_rng([self.seed, passes]).permutation(self.n_samples)
        return np.array_split(order, self.chunks)[chunk]

    def __call__(self, epoch):
        """Return an iterator over epoch ``epoch``'s ``(X, y, weights)`` batches."""
        rows = self.rows(epoch)
        raw = self.X[rows]
        if self.columns is not None:
            raw = transform_event_frame(raw, self.columns,
                                        np.random.default_rng([self.seed, int(epoch), 7]))
        inputs = self.preprocessor.transform(raw, self.feature_names)
        y, weights = self.y[rows], self.weights[rows]
        return ((inputs[start:start + self.batch_size], y[start:start + self.batch_size],
                 weights[start:start + self.batch_size])
                for start in range(0, len(rows), self.batch_size))
