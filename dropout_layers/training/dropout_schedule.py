"""Anneal dropout rates during training: the :class:`DropoutSchedule` callback."""
import numbers

import numpy as np
from pytensor.compile.sharedvalue import SharedVariable

from ..layers.helper import get_all_layers
from .callbacks import Callback

__all__ = ["DropoutSchedule", "shared_rate_layers"]


def shared_rate_layers(network, attribute="p"):
    """Return the layers of ``network`` whose ``attribute`` (the rate ``p``) is shared."""
    return [layer for layer in get_all_layers(network)
            if isinstance(getattr(layer, attribute, None), SharedVariable)]


class DropoutSchedule(Callback):
    """Set the drop rate of dropout layers from the epoch number before each epoch.

    The layers' ``p`` must be shared variables, given when the network is
    built (``SwitchDropoutLayer(l, p=pytensor.shared(np.float32(0.5)))``);
    every layer of the dropout family accepts one. The compiled functions
    read the new value on their next call; nothing is recompiled.

    Parameters
    ----------
    fn : callable
        ``fn(epoch) -> p`` with ``epoch`` counting from 1; the value must be
        in [0, 1). :func:`~dropout_layers.training.linear_ramp` makes ramps.
    layers : list of Layer, optional
        The layers to schedule; by default every layer of the trainer's
        network with a shared ``p``.

    Raises
    ------
    ValueError
        At the start of training, if no layer has a shared ``p`` (a float
        ``p`` is a constant of the compiled graph and cannot change), or a
        value of ``fn`` is outside [0, 1).

    Notes
    -----
    The value depends on the epoch number only, so a resumed run continues
    the schedule exactly; a checkpoint stores each shared ``p`` by its
    current value and rebuilds it as a shared variable.

    Examples
    --------
    Dropout that starts at 0 and reaches 0.5 at epoch 10 (curriculum
    dropout, Morerio et al. 2017):

    >>> import numpy as np, pytensor
    >>> import dropout_layers as dl
    >>> from dropout_layers.training import DropoutSchedule, linear_ramp
    >>> p = pytensor.shared(np.float32(0.0))
    >>> l_in = dl.InputLayer((None, 4))
    >>> net = dl.DenseLayer(dl.SwitchDropoutLayer(dl.DenseLayer(l_in, 8), p=p), 1,
    ...                     nonlinearity=dl.nonlinearities.sigmoid)
    >>> X = np.random.default_rng(0).standard_normal((64, 4)).astype("float32")
    >>> y = (X[:, 0] > 0).astype("float32")
    >>> schedule = DropoutSchedule(linear_ramp(0.0, 0.5, 10))
    >>> trainer = dl.fit(net, X, y, epochs=3, verbose=False, callbacks=[schedule])
    >>> round(float(p.get_value()), 4)       # epoch 3 of the ramp
    0.1111
    """

    def __init__(self, fn, layers=None):
        if not callable(fn):
            raise TypeError(f"DropoutSchedule needs a callable fn(epoch), got {type(fn).__name__}")
        self.fn = fn
        self.layers = None if layers is None else list(layers)
        self._targets = []

    def on_train_begin(self, trainer):
        """Find the layers to schedule and check that their ``p`` can change."""
        layers = self.layers if self.layers is not None else get_all_layers(trainer.network)
        self._targets = [layer for layer in layers
                         if isinstance(getattr(layer, "p", None), SharedVariable)]
        fixed = [layer for layer in layers if isinstance(getattr(layer, "p", None), numbers.Real)]
        if self.layers is not None and fixed:
            names = ", ".join(repr(layer.name or type(layer).__name__) for layer in fixed)
            raise ValueError(f"DropoutSchedule: layers {names} have a float p, which the compiled "
                             "graph fixes; build them with p=pytensor.shared(np.float32(p0))")
        if not self._targets:
            raise ValueError("DropoutSchedule: no layer has a shared p to schedule; build the "
                             "dropout layers with p=pytensor.shared(np.float32(p0))")

    def on_epoch_begin(self, trainer, epoch):
        """Set every scheduled ``p`` to ``fn(epoch)``."""
        value = self.fn(epoch)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise ValueError(f"DropoutSchedule: fn({epoch}) returned {value!r}; a drop rate "
                             "must be in [0, 1)")
        for layer in self._targets:
            current = layer.p.get_value(borrow=True)
            layer.p.set_value(np.asarray(value, dtype=current.dtype))
