"""Mini-batches for the fit loop: which rows go into which batch, and when.

Shuffling is derived from ``(seed, epoch)`` alone: epoch ``k`` of a run
seeded with ``seed`` always visits the rows in the order
``numpy.random.default_rng([seed, k]).permutation(n)``. A run resumed from a
checkpoint at epoch ``k`` therefore sees exactly the batches the
uninterrupted run would have seen, without any iterator state in the
checkpoint, and the order of one epoch does not depend on how many epochs
came before it.
"""
import numpy as np

from ..checks import check_non_negative_int, check_positive_int

__all__ = ["epoch_permutation", "batch_indices", "iterate_minibatches", "BatchIterator"]


def epoch_permutation(n, seed, epoch):
    """Return the order in which epoch ``epoch`` of a run seeded with ``seed`` visits ``n`` rows.

    Parameters
    ----------
    n : int
        Number of rows.
    seed : int
        Seed of the run (non-negative).
    epoch : int
        Epoch number (non-negative; the fit loop counts from 1).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        A permutation of ``range(n)``.
    """
    seed = check_non_negative_int(seed, "seed")
    epoch = check_non_negative_int(epoch, "epoch")
    return np.random.default_rng([seed, epoch]).permutation(int(n))


def batch_indices(n, batch_size, shuffle=False, seed=0, epoch=0, drop_last=False):
    """Split ``n`` rows into batches of row indices.

    Parameters
    ----------
    n : int
        Number of rows.
    batch_size : int
        Rows per batch. A batch size larger than ``n`` gives one batch of
        all rows.
    shuffle : bool
        Visit the rows in the order of :func:`epoch_permutation`; otherwise
        in order.
    seed, epoch : int
        Select the permutation when shuffling.
    drop_last : bool
        Leave out the last batch when it has fewer than ``batch_size`` rows.
        By default it is kept, so every row is visited once per epoch.

    Returns
    -------
    list of numpy.ndarray of int64

    Raises
    ------
    ValueError
        If ``batch_size`` is not a positive integer, or ``drop_last`` leaves
        no batch at all.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    order = epoch_permutation(n, seed, epoch) if shuffle else np.arange(int(n), dtype=np.int64)
    stop = n - n % batch_size if drop_last else n
    if stop == 0 and n > 0:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {n} rows and drop_last=True: "
            "no batch is left; lower batch_size or keep the last batch"
        )
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


def iterate_minibatches(*arrays, batch_size=128, shuffle=False, seed=0, epoch=0, drop_last=False):
    """Yield matching mini-batches of several arrays, as in the Lasagne tutorials.

    Parameters
    ----------
    *arrays : array_like
        Arrays with the same number of rows (first axis), for example
        inputs, targets and sample weights. ``None`` entries are passed
        through as ``None``.
    batch_size, shuffle, seed, epoch, drop_last
        As for :func:`batch_indices`.

    Yields
    ------
    tuple
        One slice of each array, in the order given.

    Raises
    ------
    ValueError
        If no array is given or the arrays differ in length.
    """
    present = [np.asarray(a) if a is not None else None for a in arrays]
    lengths = [len(a) for a in present if a is not None]
    if not lengths:
        raise ValueError("iterate_minibatches needs at least one array")
    if len(set(lengths)) > 1:
        raise ValueError(f"iterate_minibatches: the arrays have different lengths {lengths}")
    for index in batch_indices(lengths[0], batch_size, shuffle, seed, epoch, drop_last):
        if not shuffle:
            # In order: basic slices are views, no copy of the rows.
            index = slice(int(index[0]), int(index[-1]) + 1)
        yield tuple(a[index] if a is not None else None for a in present)


class BatchIterator:
    """Mini-batches of inputs, targets and sample weights, epoch by epoch.

    The fit loop calls ``batches(epoch)`` once per epoch (epochs count from
    1) and uses ``len(batches)`` for its progress bar. Any object with the
    same two methods may be passed to :meth:`Trainer.fit` instead, for
    example one that reads batches from disk; its ``__call__`` must return an
    iterable of ``(inputs, targets)`` or ``(inputs, targets, weights)``
    tuples and, for reproducible resumes, depend on ``epoch`` only.

    Parameters
    ----------
    X : numpy.ndarray
        Inputs, one row per example.
    y : numpy.ndarray, optional
        Targets, one row per example.
    weights : numpy.ndarray, optional
        Sample weights, one per example.
    batch_size : int
    shuffle : bool
        Reshuffle every epoch, with :func:`epoch_permutation`.
    seed : int
    drop_last : bool
        As for :func:`batch_indices`.
    """

    def __init__(self, X, y=None, weights=None, batch_size=128, shuffle=True, seed=0,
                 drop_last=False):
        self.X, self.y, self.weights = X, y, weights
        n = len(X)
        for name, array in (("y", y), ("weights", weights)):
            if array is not None and len(array) != n:
                raise ValueError(f"{name} has {len(array)} rows but X has {n}")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.drop_last = bool(drop_last)
        # Raises now, not in the first epoch, if drop_last leaves nothing.
        batch_indices(n, self.batch_size, drop_last=self.drop_last)

    @property
    def n_samples(self):
        """Number of rows."""
        return len(self.X)

    def __len__(self):
        """Return the number of batches per epoch."""
        n, size = self.n_samples, self.batch_size
        return n // size if self.drop_last else -(-n // size)

    def __call__(self, epoch):
        """Return an iterator over epoch ``epoch``'s ``(X, y, weights)`` batches."""
        return iterate_minibatches(self.X, self.y, self.weights, batch_size=self.batch_size,
                                   shuffle=self.shuffle, seed=self.seed, epoch=epoch,
                                   drop_last=self.drop_last)

    def __repr__(self):
        return (f"BatchIterator(n_samples={self.n_samples}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")
