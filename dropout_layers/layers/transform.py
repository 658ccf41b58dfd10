"""Spatial transformer layers (Jaderberg et al. 2015), as ``lasagne.layers.special`` has them.

A localization network predicts, for each example, a transformation of
the sampling grid; the input is then sampled at the transformed points by
bilinear interpolation. :class:`TransformerLayer` uses an affine map (six
numbers per example), :class:`TPSTransformerLayer` a thin plate spline
through a grid of control points (two offsets per control point). Both are
re-exported by :mod:`dropout_layers.layers.special`.

Points are in normalised coordinates: -1 and 1 are the centres of the first
and last pixels along an axis.

Examples
--------
>>> import numpy as np
>>> from dropout_layers.layers import InputLayer, TransformerLayer
>>> l_in = InputLayer((2, 1, 4, 4))
>>> l_theta = InputLayer((2, 6))
>>> layer = TransformerLayer(l_in, l_theta, downsample_factor=2)
>>> layer.output_shape
(2, 1, 2, 2)
>>> image = np.arange(32, dtype="float32").reshape(2, 1, 4, 4)
>>> identity = np.tile(np.array([1, 0, 0, 0, 1, 0], "float32"), (2, 1))
>>> layer.get_output_for([image, identity]).eval()[0, 0]
array([[ 0.,  3.],
       [12., 15.]], dtype=float32)
"""
import numpy as np
import pytensor.tensor as pt

from ..config import get_floatX
from ..utils import as_tuple
from .base import MergeLayer
from .registry import register_layer

__all__ = ["TransformerLayer", "TPSTransformerLayer"]

BORDER_MODES = ("nearest", "mirror", "wrap")


def _check_border_mode(border_mode):
    if border_mode not in BORDER_MODES:
        raise ValueError(
            f"border_mode must be one of 'nearest', 'mirror', 'wrap', got {border_mode!r}"
        )
    return border_mode


def _check_image_input(shape):
    if len(shape) != 4:
        raise ValueError(
            "The input network must have a 4-dimensional output shape: (batch_size, "
            f"num_input_channels, input_rows, input_columns), got {shape}"
        )


def _downsampled_shape(shape, factors):
    sizes = (None if s is None else int(s // f) for s, f in zip(shape[2:], factors))
    return tuple(shape[:2]) + tuple(sizes)


def _linspace(start, stop, num):
    """``num`` evenly spaced values from ``start`` to ``stop``, for a symbolic ``num``."""
    dtype = get_floatX()
    num = pt.cast(num, dtype)
    step = (stop - start) / (num - 1)
    return pt.arange(num, dtype=dtype) * step + pt.constant(start, dtype=dtype)


def _meshgrid(height, width):
    """Return the sampling grid ``(3, height * width)``: rows x, y and 1, pixels in C order."""
    ones_column = pt.ones((height, 1), dtype=get_floatX())
    ones_row = pt.ones((1, width), dtype=get_floatX())
    x = pt.dot(ones_column, _linspace(-1.0, 1.0, width).dimshuffle("x", 0))
    y = pt.dot(_linspace(-1.0, 1.0, height).dimshuffle(0, "x"), ones_row)
    x, y = x.reshape((1, -1)), y.reshape((1, -1))
    return pt.concatenate([x, y, pt.ones_like(x)], axis=0)


def _border_index(coord, size, border_mode):
    """Return integer pixel indices for float coordinates, folded in by ``border_mode``."""
    if border_mode == "nearest":
        folded = pt.clip(coord, 0, size - 1)
    elif border_mode == "mirror":
        period = 2 * (size - 1)
        folded = pt.minimum(coord % period, -coord % period)
    else:
        folded = pt.mod(coord, size)
    return pt.cast(folded, "int64")


def _interpolate(image, x, y, border_mode):
    """Sample ``image`` (batch, rows, columns, channels) bilinearly at points ``x``, ``y``.

    ``x`` and ``y`` hold every example's points one after the other, the
    same number per example.
    """
    batch, height, width, channels = image.shape
    height_f, width_f = pt.cast(height, image.dtype), pt.cast(width, image.dtype)
    x = (x + 1) / 2 * (width_f - 1)
    y = (y + 1) / 2 * (height_f - 1)
    x0, y0 = pt.floor(x), pt.floor(y)
    x1, y1 = x0 + 1, y0 + 1
    columns = [_border_index(c, width_f, border_mode) for c in (x0, x1)]
    rows = [_border_index(r, height_f, border_mode) for r in (y0, y1)]
    points_per_example = x.shape[0] // batch
    base = pt.repeat(pt.arange(batch, dtype="int64") * height * width, points_per_example)
    pixels = image.reshape((-1, channels))
    total = None
    for row, row_weight in ((rows[0], y1 - y), (rows[1], y - y0)):
        for column, column_weight in ((columns[0], x1 - x), (columns[1], x - x0)):
            weight = (row_weight * column_weight).dimshuffle(0, "x")
            term = weight * pixels[base + row * width + column]
            total = term if total is None else total + term
    return total


def _sample(input, x, y, out_height, out_width, border_mode):
    """Sample ``input`` (batch, channels, rows, columns) at points into an output grid."""
    batch, channels = input.shape[0], input.shape[1]
    sampled = _interpolate(input.dimshuffle(0, 2, 3, 1), x, y, border_mode)
    return sampled.reshape((batch, out_height, out_width, channels)).dimshuffle(0, 3, 1, 2)


@register_layer
class TransformerLayer(MergeLayer):
    """Spatial transformer with an affine map per example [1]_.

    Parameters
    ----------
    incoming : Layer or tuple
        ``(batch, channels, rows, columns)``.
    localization_network : Layer or tuple
        ``(batch, 6)``: the rows of each example's 2x3 matrix mapping output
        grid points ``(x, y, 1)`` to input points. Its linear output should
        start at the identity ``[1, 0, 0, 0, 1, 0]``.
    downsample_factor : float or pair of float
        Output size is the input size divided by this (rounded down); below
        1 upsamples.
    border_mode : {'nearest', 'mirror', 'wrap'}
        Points outside the input take the nearest border pixel, are mirrored
        back, or wrap around.
    name : str, optional

    References
    ----------
    .. [1] Jaderberg, Simonyan, Zisserman and Kavukcuoglu (2015): Spatial
       transformer networks. NIPS.
    """

    def __init__(self, incoming, localization_network, downsample_factor=1,
                 border_mode="nearest", name=None):
        super().__init__([incoming, localization_network], name=name)
        self.downsample_factor = as_tuple(downsample_factor, 2)
        self.border_mode = _check_border_mode(border_mode)
        input_shape, loc_shape = self.input_shapes
        if len(loc_shape) != 2 or loc_shape[-1] != 6:
            raise ValueError(
                f"The localization network must have output shape: (batch_size, 6), got {loc_shape}"
            )
        _check_image_input(input_shape)

    def get_output_shape_for(self, input_shapes):
        """Return the output shape for the given input shape."""
        return _downsampled_shape(input_shapes[0], self.downsample_factor)

    def get_output_for(self, inputs, **kwargs):
        """Return the output expression for the given input."""
        input, theta = (pt.as_tensor_variable(v) for v in inputs)
        out_height = pt.cast(input.shape[2] // self.downsample_factor[0], "int64")
        out_width = pt.cast(input.shape[3] // self.downsample_factor[1], "int64")
        points = pt.dot(theta.reshape((-1, 2, 3)), _meshgrid(out_height, out_width))
        return _sample(input, points[:, 0].flatten(), points[:, 1].flatten(), out_height, out_width,
                       self.border_mode)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"downsample_factor": [float(f) for f in self.downsample_factor],
                "border_mode": self.border_mode, "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its input and localization network and :meth:`get_config`."""
        return cls(*incoming, **config)


def _radial_basis(squared_distance):
    """Return the thin plate spline kernel ``r^2 log r^2``, 0 at ``r = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = squared_distance * np.log(squared_distance)
    return np.where(squared_distance > 0, values, 0.0)


def _control_points(num_control_points):
    """Return a square grid of control points over [-1, 1]^2, as ``(2, n)``."""
    side = int(round(np.sqrt(num_control_points)))
    x, y = np.meshgrid(np.linspace(-1, 1, side), np.linspace(-1, 1, side))
    return np.vstack([x.ravel(), y.ravel()]).astype(get_floatX())


def _inverse_system(source):
    """Inverse of the thin plate spline system matrix for the ``(2, n)`` control points [2]_."""
    n = source.shape[1]
    system = np.zeros((n + 3, n + 3), dtype=get_floatX())
    system[0, 3:] = 1
    system[1:3, 3:] = source
    system[3:, 0] = 1
    system[3:, 1:3] = source.T
    squared = ((source[:, :, None] - source[:, None, :]) ** 2).sum(axis=0)
    system[3:, 3:] = _radial_basis(squared)
    return np.linalg.inv(system)


def _basis_rows(points, source, xp):
    """``[1; x; y; U(|p - c_j|^2) for each control point c_j]`` for points ``(..., 2, m)``."""
    differences = points[..., None, :, :] - source.T[:, :, None]
    squared = (differences ** 2).sum(axis=-2)
    if xp is np:
        distances = _radial_basis(squared)
    else:
        tiny = pt.constant(np.finfo(squared.dtype).tiny, dtype=squared.dtype)
        distances = pt.switch(squared > 0, squared * pt.log(pt.maximum(squared, tiny)), 0)
    ones = xp.ones_like(points[..., :1, :])
    return xp.concatenate([ones, points, distances], axis=-2)


@register_layer
class TPSTransformerLayer(MergeLayer):
    """Spatial transformer with a thin plate spline per example [1]_ [2]_.

    Parameters
    ----------
    incoming : Layer or tuple
        ``(batch, channels, rows, columns)``.
    localization_network : Layer or tuple
        ``(batch, 2 * control_points)``: x offsets then y offsets of the
        control points' destinations; zeros give the identity.
    downsample_factor : float or pair of float
        As for :class:`TransformerLayer`.
    control_points : int
        A perfect square: the points form a regular grid.
    precompute_grid : 'auto' or bool
        Compute the spline basis of the output grid once, at construction
        (needs known input sizes; 'auto' does so when they are known).
    border_mode : {'nearest', 'mirror', 'wrap'}
    name : str, optional

    Notes
    -----
    Without a precomputed grid the spline basis is computed in the graph
    with the same kernel ``r^2 log r^2``, so both settings give the same
    output (Lasagne's graph version drops the kernel terms).

    Examples
    --------
    >>> import numpy as np
    >>> layer = TPSTransformerLayer((2, 1, 6, 6), (2, 8), control_points=4)
    >>> image = np.arange(72, dtype="float32").reshape(2, 1, 6, 6)
    >>> moved = layer.get_output_for([image, np.zeros((2, 8), "float32")]).eval()
    >>> bool(np.allclose(moved, image, atol=1e-3))  # zero offsets: the identity
    True

    References
    ----------
    .. [1] Jaderberg, Simonyan, Zisserman and Kavukcuoglu (2015): Spatial
       transformer networks. NIPS.
    .. [2] Bookstein (1989): Principal warps: thin-plate splines and the
       decomposition of deformations. IEEE TPAMI 11(6).
    """

    def __init__(self, incoming, localization_network, downsample_factor=1, control_points=16,
                 precompute_grid="auto", border_mode="nearest", name=None):
        super().__init__([incoming, localization_network], name=name)
        self.border_mode = _check_border_mode(border_mode)
        self.downsample_factor = as_tuple(downsample_factor, 2)
        self.control_points = control_points
        input_shape, loc_shape = self.input_shapes
        if len(loc_shape) != 2 or loc_shape[-1] != 2 * control_points:
            raise ValueError("The localization network must have output shape: (batch_size, "
                             f"2*control_points), got {loc_shape}")
        if round(np.sqrt(control_points)) ** 2 != control_points:
            raise ValueError(
                f"The number of control points must be a perfect square, got {control_points}"
            )
        _check_image_input(input_shape)
        known = all(s is not None for s in input_shape[2:])
        if precompute_grid == "auto":
            precompute_grid = known
        elif precompute_grid and not known:
            raise ValueError(
                "Grid can only be precomputed if the input height and width are pre-specified."
            )
        self.precompute_grid = bool(precompute_grid)
        self.source_points = _control_points(control_points)
        self.inverse_system = _inverse_system(self.source_points)
        self.right_mat = self._precomputed_basis(input_shape) if self.precompute_grid else None

    def _precomputed_basis(self, input_shape):
        height, width = (int(s // f) for s, f in zip(input_shape[2:], self.downsample_factor))
        x, y = np.meshgrid(np.linspace(-1, 1, width), np.linspace(-1, 1, height))
        grid = np.vstack([x.ravel(), y.ravel()]).astype(get_floatX())
        return _basis_rows(grid, self.source_points, np).astype(get_floatX())

    def get_output_shape_for(self, input_shapes):
        """Return the output shape for the given input shape."""
        return _downsampled_shape(input_shapes[0], self.downsample_factor)

    def get_output_for(self, inputs, **kwargs):
        """Return the output expression for the given input."""
        input, offsets = (pt.as_tensor_variable(v) for v in inputs)
        batch = input.shape[0]
        n = self.control_points
        destinations = pt.constant(self.source_points) + offsets.reshape((batch, 2, n))
        coefficients = pt.dot(destinations, pt.constant(self.inverse_system[:, 3:].T))
        out_height = pt.cast(input.shape[2] // self.downsample_factor[0], "int64")
        out_width = pt.cast(input.shape[3] // self.downsample_factor[1], "int64")
        if self.precompute_grid:
            points = pt.dot(coefficients, pt.constant(self.right_mat))
        else:
            grid = _meshgrid(out_height, out_width)[:2]
            basis = _basis_rows(grid, pt.constant(self.source_points), pt)
            points = pt.dot(coefficients, pt.cast(basis, coefficients.dtype))
        return _sample(input, points[:, 0].flatten(), points[:, 1].flatten(), out_height, out_width,
                       self.border_mode)

    def get_config(self):
        """Return the settings as a JSON-serialisable dict."""
        return {"downsample_factor": [float(f) for f in self.downsample_factor],
                "control_points": int(self.control_points), "precompute_grid": self.precompute_grid,
                "border_mode": self.border_mode, "name": self.name}

    @classmethod
    def from_config(cls, incoming, config):
        """Build the layer from its input and localization network and :meth:`get_config`."""
        return cls(*incoming, **config)
