"""Upscaling layers, with the names and semantics of ``lasagne.layers.pool``'s ``Upscale*DLayer``.

They are re-exported by :mod:`dropout_layers.layers.pool`, where Lasagne has
them.

Examples
--------
>>> import numpy as np
>>> layer = Upscale2DLayer((1, 1, 2, 2), scale_factor=2)
>>> layer.get_output_for(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])).eval()[0, 0]
array([[1., 1., 2., 2.],
       [1., 1., 2., 2.],
       [3., 3., 4., 4.],
       [3., 3., 4., 4.]])
"""
import pytensor.tensor as pt

from ..utils import as_tuple, int_types
from .base import Layer
from .registry import register_layer

__all__ = ["Upscale1DLayer", "Upscale2DLayer", "Upscale3DLayer"]


def _dilate(x, axis, factor):
    """Put ``factor - 1`` zeros after every element along ``axis``."""
    expanded = pt.expand_dims(x, axis + 1)
    zeros_shape = list(expanded.shape)
    zeros_shape[axis + 1] = factor - 1
    spread = pt.concatenate([expanded, pt.zeros(zeros_shape, dtype=x.dtype)], axis=axis + 1)
    shape = list(x.shape)
    shape[axis] = shape[axis] * factor
    return spread.reshape(shape)


class _UpscaleLayer(Layer):
    """Upscale the ``n`` trailing axes by integer factors."""

    def __init__(self, incoming, scale_factor, mode, n, name):
        super().__init__(incoming, name=name)
        self.scale_factor = as_tuple(scale_factor, n, int_types)
        if any(f < 1 for f in self.scale_factor):
            raise ValueError(f"Scale factor must be >= 1, not {self.scale_factor}")
        if not isinstance(mode, str) or mode not in ("repeat", "dilate"):
            raise ValueError(f"Mode must be either 'repeat' or 'dilate', not {mode!r}")
        self.mode = mode
        self.n = n

    def get_output_shape_for(self, input_shape):
        """Return the output shape for the given input shape."""
        shape = list(input_shape)
        for axis, factor in enumerate(self.scale_factor, start=2):
            if shape[axis] is not None:
                shape[axis] = shape[axis] * factor
        return tuple(shape)

    def get_output_for(self, input, **kwargs):
        """Return the output expression for the given input."""
        upscaled = pt.as_tensor_variable(input)
        for axis in reversed(range(2, self.n + 2)):
            factor = self.scale_factor[axis - 2]
            if factor == 1:
                continue
            if self.mode == "repeat":
                upscaled = pt.repeat(upscaled, factor, axis=axis)
            else:
                upscaled = _dilate(upscaled, axis, factor)
        return upscaled

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"scale_factor": list(self.scale_factor), "mode": self.mode, "name": self.name}


@register_layer
class Upscale1DLayer(_UpscaleLayer):
    """Upscale the trailing axis of ``(batch, channels, length)`` by an integer factor.

    Parameters
    ----------
    incoming : Layer or tuple
    scale_factor : int or 1-tuple, at least 1
    mode : {'repeat', 'dilate'}
        Repeat each element, or put zeros after it.
    name : str, optional

    Examples
    --------
    >>> import numpy as np
    >>> Upscale1DLayer((1, 1, 2), 2, mode="dilate").get_output_for(np.array([[[1.0, 2.0]]])).eval()
    array([[[1., 0., 2., 0.]]])
    """

    def __init__(self, incoming, scale_factor, mode="repeat", name=None):
        super().__init__(incoming, scale_factor, mode, 1, name)


@register_layer
class Upscale2DLayer(_UpscaleLayer):
    """Upscale the two trailing axes of ``(batch, channels, rows, columns)``.

    Parameters are those of :class:`Upscale1DLayer`, with pairs. For
    learned upscaling see :class:`~dropout_layers.layers.TransposedConv2DLayer`.

    Examples
    --------
    >>> Upscale2DLayer((None, 3, 4, 5), scale_factor=(2, 3)).output_shape
    (None, 3, 8, 15)
    """

    def __init__(self, incoming, scale_factor, mode="repeat", name=None):
        super().__init__(incoming, scale_factor, mode, 2, name)


@register_layer
class Upscale3DLayer(_UpscaleLayer):
    """Upscale the three trailing axes of a 5-D input; parameters as :class:`Upscale1DLayer`.

    Examples
    --------
    >>> Upscale3DLayer((None, 3, 2, 2, 2), scale_factor=2).output_shape
    (None, 3, 4, 4, 4)
    """

    def __init__(self, incoming, scale_factor, mode="repeat", name=None):
        super().__init__(incoming, scale_factor, mode, 3, name)
