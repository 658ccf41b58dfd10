"""The base classes of all layers."""
from collections import OrderedDict

from ..utils import create_param

__all__ = ["Layer", "MergeLayer"]


def _check_shape(shape, name):
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"layer {name!r}: shape must be a tuple, got {shape!r}") from None
    if any(d is not None and (not isinstance(d, int) or d <= 0) for d in shape):
        raise ValueError(f"layer {name!r}: cannot create a layer with shape {shape}; sizes must be positive or None")
    return shape


class Layer:
    """The base class of layers with one input.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one, or the expected input shape, with
        ``None`` for sizes that are not fixed.
    name : str, optional
        A name for the layer; checkpoints use it to name its parameters.

    Notes
    -----
    Subclasses implement :meth:`get_output_for` and, if the shape changes,
    :meth:`get_output_shape_for`; they add parameters with :meth:`add_param`
    and describe their settings in :meth:`get_config`.
    """

    def __init__(self, incoming, name=None):
        if isinstance(incoming, Layer):
            self.input_shape = incoming.output_shape
            self.input_layer = incoming
        else:
            self.input_shape = _check_shape(incoming, name)
            self.input_layer = None
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        return self.get_output_shape_for(self.input_shape)

    def get_params(self, unwrap_shared=True, **tags):
        """Return the parameters of this layer, filtered by tags.

        ``trainable=True`` keeps only parameters with that tag, and
        ``regularizable=False`` only those without it.
        """
        result = list(self.params.keys())
        only = {t for t, v in tags.items() if v}
        exclude = {t for t, v in tags.items() if not v}
        if only:
            result = [p for p in result if not only - self.params[p]]
        if exclude:
            result = [p for p in result if not self.params[p] & exclude]
        return result

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        return input_shape

    def get_output_for(self, input, deterministic=False, **kwargs):
        """Return the symbolic output for a symbolic input.

        Parameters
        ----------
        input : TensorVariable
        deterministic : bool
            If true, stochastic layers behave as at test time.
        """
        raise NotImplementedError

    def add_param(self, spec, shape, name=None, **tags):
        """Create a parameter and register it with its tags.

        Parameters
        ----------
        spec : shared variable, array, number or callable
            See :func:`dropout_layers.utils.create_param`.
        shape : tuple of int
        name : str, optional
            Prefixed with the layer's name, as in Lasagne.
        **tags
            ``trainable`` and ``regularizable`` default to True.
        """
        if name is not None and self.name is not None:
            name = f"{self.name}.{name}"
        param = create_param(spec, shape, name)
        tags.setdefault("trainable", True)
        tags.setdefault("regularizable", True)
        self.params[param] = {tag for tag, value in tags.items() if value}
        return param

    def get_config(self):
        """Return the layer's settings as a JSON-serialisable dict.

        ``type(layer).from_config(incoming, layer.get_config())`` builds an
        equivalent layer (with freshly initialised parameters).
        """
        return {"name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build a layer from its ``incoming`` layer(s) and :meth:`get_config`."""
        return cls(incoming, **config)

    def __repr__(self):
        name = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__}{name} output_shape={self.output_shape}>"


class MergeLayer(Layer):
    """The base class of layers with several inputs.

    Parameters
    ----------
    incomings : list of Layer or tuple
        The layers feeding into this one, or their expected shapes.
    name : str, optional
    """

    def __init__(self, incomings, name=None):
        incomings = list(incomings)
        self.input_shapes = [
            inc.output_shape if isinstance(inc, Layer) else _check_shape(inc, name) for inc in incomings
        ]
        self.input_layers = [inc if isinstance(inc, Layer) else None for inc in incomings]
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        return self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        raise NotImplementedError

    def get_output_for(self, inputs, deterministic=False, **kwargs):
        """Return the symbolic output for a list of symbolic inputs."""
        raise NotImplementedError
