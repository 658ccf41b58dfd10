"""``train-higgs --log-dir DIR``: the networks' epochs as TensorBoard scalars.

Each network's per-epoch row (training and validation loss, validation AUC
and smoothed AMS, learning rate, seconds) goes through
:class:`dropout_layers.training.TensorBoard` into an event file of its own:
``DIR`` for a single network, ``DIR/network_000``, ``DIR/network_001``, ...
for the networks of a bag, so that ``tensorboard --logdir DIR`` draws them
side by side. The loggers are created before training starts, so a missing
``tensorboardX`` (the ``log`` extra) stops the run at once, and the rows are
written when the networks have finished: the pipeline trains a bag's
networks in worker processes or on other nodes, where this process has no
callbacks.
"""
import os

from dropout_layers.training import TensorBoard

__all__ = ["tensorboard_loggers", "write_histories"]


def tensorboard_loggers(log_dir, n_networks):
    """Create one :class:`~dropout_layers.training.TensorBoard` logger per network.

    Parameters
    ----------
    log_dir : str or os.PathLike
    n_networks : int
        1 for a single network, else the networks of the bag.

    Returns
    -------
    list of TensorBoard

    Raises
    ------
    MissingDependencyError
        When ``tensorboardX`` is not installed.
    """
    if n_networks == 1:
        return [TensorBoard(log_dir)]
    return [TensorBoard(os.path.join(log_dir, f"network_{index:03d}"))
            for index in range(n_networks)]


def write_histories(loggers, histories):
    """Write each network's history through its logger, one scalar per column and epoch.

    Parameters
    ----------
    loggers : list of TensorBoard
        From :func:`tensorboard_loggers`.
    histories : list of list of dict
        One history per network, in the order of ``loggers``.
    """
    for logger, history in zip(loggers, histories, strict=True):
        logger.on_train_begin(None)
        for record in history:
            logger.on_epoch_end(None, record["epoch"], record)
        logger.on_train_end(None)
