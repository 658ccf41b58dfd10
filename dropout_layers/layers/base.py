"""The base classes of all layers."""
from collections import OrderedDict

from pytensor.graph.basic import Variable

from ..utils import collect_shared_vars, create_param, int_types

__all__ = ["Layer", "MergeLayer"]


def _check_shape(shape, name):
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"layer {name!r}: shape must be a tuple, got {shape!r}") from None
    if any(d is not None and (not isinstance(d, int_types) or d <= 0) for d in shape):
        raise ValueError(
            f"layer {name!r}: cannot create a layer with shape {shape}; sizes must be positive "
            "integers or None"
        )
    return shape


def _check_incoming_shape(shape, name):
    # Shapes taken from an incoming layer are checked only when they are
    # tuples: Lasagne accepts any object with an ``output_shape`` (mocks too).
    if isinstance(shape, (tuple, list)):
        return _check_shape(shape, name)
    return shape


def _split_incoming(incoming, name):
    """Return ``(input_shape, input_layer)``: a tuple or list is a shape, anything else a layer."""
    if isinstance(incoming, (tuple, list)):
        return _check_shape(incoming, name), None
    try:
        shape = incoming.output_shape
    except AttributeError:
        raise TypeError(
            f"layer {name!r}: incoming must be a layer (an object with an output_shape) or a "
            f"shape tuple, got {type(incoming).__name__}"
        ) from None
    return shape, incoming


def _check_symbolic_shape(layer, shape):
    if isinstance(shape, Variable) or (
        isinstance(shape, (tuple, list)) and any(isinstance(s, Variable) for s in shape)
    ):
        raise ValueError(
            f"{type(layer).__name__} returned a symbolic output shape from its "
            f"get_output_shape_for(): {shape!r}; shapes must be tuples of integers and None"
        )
    return shape


class Layer:
    """The base class of layers with one input.

    Parameters
    ----------
    incoming : Layer or tuple
        The layer feeding into this one (any object with an ``output_shape``),
        or the expected input shape, with ``None`` for sizes that are not
        fixed.
    name : str, optional
        A name for the layer; checkpoints use it to name its parameters.

    Attributes
    ----------
    params : OrderedDict
        Maps each parameter (a shared variable or a parameter expression) to
        its set of tags.
    get_output_kwargs : list of str
        Keyword arguments that :meth:`get_output_for` consumes through
        ``**kwargs``; :func:`~dropout_layers.layers.get_output` counts them as
        used (arguments named in the signature count anyway).

    Notes
    -----
    Subclasses implement :meth:`get_output_for` and, if the shape changes,
    :meth:`get_output_shape_for`; they add parameters with :meth:`add_param`
    and describe their settings in :meth:`get_config`.
    """

    def __init__(self, incoming, name=None):
        shape, self.input_layer = _split_incoming(incoming, name)
        self.input_shape = _check_incoming_shape(shape, name)
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        """The shape of this layer's output, from :meth:`get_output_shape_for`."""
        return _check_symbolic_shape(self, self.get_output_shape_for(self.input_shape))

    def get_params(self, unwrap_shared=True, **tags):
        """Return the parameters of this layer, filtered by tags.

        Parameters
        ----------
        unwrap_shared : bool
            For parameters given as expressions (see
            :func:`~dropout_layers.utils.create_param`), return the shared
            variables inside them (``True``) or the expressions themselves.
        **tags
            ``trainable=True`` keeps only parameters with that tag, and
            ``regularizable=False`` only those without it. Tags filter the
            expressions: every shared variable inside one shares its tags.

        Returns
        -------
        list
            In the order the parameters were added.
        """
        result = list(self.params.keys())
        only = {t for t, v in tags.items() if v}
        exclude = {t for t, v in tags.items() if not v}
        if only:
            result = [p for p in result if not only - self.params[p]]
        if exclude:
            result = [p for p in result if not self.params[p] & exclude]
        return collect_shared_vars(result) if unwrap_shared else result

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        return input_shape

    def get_output_for(self, input, **kwargs):
        """Return the symbolic output for a symbolic input.

        Parameters
        ----------
        input : TensorVariable
        **kwargs
            ``deterministic=True`` asks stochastic layers for their test-time
            behaviour.
        """
        raise NotImplementedError

    def add_param(self, spec, shape, name=None, **tags):
        """Create a parameter and register it with its tags.

        Parameters
        ----------
        spec : shared variable, expression, array, number or callable
            See :func:`dropout_layers.utils.create_param`.
        shape : tuple of int
        name : str, optional
            Prefixed with the layer's name, as in Lasagne; ignored for a given
            variable that already has a name.
        **tags
            ``trainable`` and ``regularizable`` default to True.

        Returns
        -------
        SharedVariable or TensorVariable
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
        split = [_split_incoming(incoming, name) for incoming in incomings]
        self.input_shapes = [_check_incoming_shape(shape, name) for shape, _ in split]
        self.input_layers = [layer for _, layer in split]
        self.name = name
        self.params = OrderedDict()
        self.get_output_kwargs = []

    @property
    def output_shape(self):
        """The shape of this layer's output, from :meth:`get_output_shape_for`."""
        return _check_symbolic_shape(self, self.get_output_shape_for(self.input_shapes))

    def _known_input_shapes(self):
        """Whether every input shape is a tuple, so the shapes can be checked early."""
        return all(isinstance(s, tuple) for s in self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        """Return the output shape for a list of input shapes."""
        raise NotImplementedError

    def get_output_for(self, inputs, **kwargs):
        """Return the symbolic output for a list of symbolic inputs."""
        raise NotImplementedError
