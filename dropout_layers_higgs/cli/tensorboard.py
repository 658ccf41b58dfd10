"""``train-higgs --log-dir DIR``: the networks' epochs as TensorBoard scalars, as they train.

Each network's per-epoch row (training and validation loss, validation AUC
and smoothed AMS, learning rate, seconds) goes through
:class:`dropout_layers.training.TensorBoard` into an event file of its own:
``DIR`` for a single network, ``DIR/network_000``, ``DIR/network_001``, ...
for the networks of a bag, so that ``tensorboard --logdir DIR`` draws them
side by side while they train. The pipeline asks :func:`network_loggers`
for each network's callbacks where that network trains (in this process, a
worker process or a Ray task), so the callbacks are made there, from a
picklable :func:`functools.partial`.
"""
import functools
import os

from dropout_layers.training import TensorBoard

__all__ = ["network_loggers", "tensorboard_callbacks"]


def network_loggers(log_dir, n_networks, index):
    """Return the callbacks of network ``index``: one TensorBoard logger.

    Parameters
    ----------
    log_dir : str or os.PathLike
    n_networks : int
        1 for a single network (logged to ``log_dir`` itself), else the
        networks of the bag (``log_dir/network_NNN``).
    index : int

    Returns
    -------
    list of TensorBoard
    """
    if n_networks == 1:
        return [TensorBoard(log_dir)]
    return [TensorBoard(os.path.join(log_dir, f"network_{index:03d}"))]


def tensorboard_callbacks(log_dir, n_networks):
    """Return ``callbacks(index)`` for :func:`~dropout_layers_higgs.pipeline.run_pipeline`.

    The first logger is made here, so that a missing ``tensorboardX`` (the
    ``log`` extra) stops the run before anything trains.

    Raises
    ------
    MissingDependencyError
        When ``tensorboardX`` is not installed.
    """
    network_loggers(log_dir, n_networks, 0)
    return functools.partial(network_loggers, os.fspath(log_dir), int(n_networks))
