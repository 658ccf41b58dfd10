"""The input layer: where a network's data enters."""
from collections import OrderedDict

import pytensor.tensor as pt

from ..config import get_floatX
from .base import Layer, _check_shape
from .registry import register_layer

__all__ = ["InputLayer"]


@register_layer
class InputLayer(Layer):
    """A layer holding a symbolic input variable.

    Parameters
    ----------
    shape : tuple of int or None
        Shape of the input; ``None`` marks sizes that vary, typically the
        batch size.
    input_var : TensorVariable, optional
        The variable to use; by default a new tensor of the right rank and
        of dtype :func:`dropout_layers.config.get_floatX` is created.
    name : str, optional

    Notes
    -----
    Sizes of 1 in ``shape`` make the input variable broadcastable along
    those axes, as in Lasagne. An input layer has no ``input_layer``: graph
    walks end here.

    Examples
    --------
    >>> l_in = InputLayer((None, 3), name="x")
    >>> l_in.input_var.name, l_in.output_shape
    ('x.input', (None, 3))
    """

    def __init__(self, shape, input_var=None, name=None):
        self.shape = _check_shape(shape, name)
        ndim = len(self.shape)
        if input_var is None:
            var_name = f"{name}.input" if name is not None else "input"
            input_var = pt.tensor(name=var_name, dtype=get_floatX(), shape=self.shape)
        elif input_var.ndim != ndim:
            raise ValueError(
                f"InputLayer {name!r}: input_var has {input_var.ndim} dimensions but shape "
                f"{self.shape} has {ndim}"
            )
        self.input_var = input_var
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        """The shape given to the constructor."""
        return self.shape

    def get_config(self):
        """Return the shape and name."""
        return {"shape": list(self.shape), "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from :meth:`get_config` (``incoming`` is ignored)."""
        config = dict(config)
        return cls(tuple(config.pop("shape")), **config)
