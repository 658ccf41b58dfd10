"""Layers that merge several inputs."""
import pytensor.tensor as pt

from .base import MergeLayer
from .registry import register_layer

__all__ = ["ConcatLayer", "ElemwiseSumLayer"]


@register_layer
class ConcatLayer(MergeLayer):
    """Concatenate the inputs along ``axis``.

    Parameters
    ----------
    incomings : list of Layer or tuple
    axis : int
    name : str, optional
    """

    def __init__(self, incomings, axis=1, name=None):
        super().__init__(incomings, name=name)
        self.axis = axis
        self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        ranks = {len(s) for s in input_shapes}
        if len(ranks) != 1:
            raise ValueError(f"ConcatLayer {self.name!r}: inputs have different ranks: {input_shapes}")
        axis = self.axis % len(input_shapes[0])
        out = []
        for dim, sizes in enumerate(zip(*input_shapes)):
            if dim == axis:
                out.append(None if any(s is None for s in sizes) else sum(sizes))
                continue
            known = {s for s in sizes if s is not None}
            if len(known) > 1:
                raise ValueError(f"ConcatLayer {self.name!r}: input shapes {input_shapes} differ on axis {dim}")
            out.append(known.pop() if known else None)
        return tuple(out)

    def get_output_for(self, inputs, deterministic=False, **kwargs):
        return pt.concatenate(inputs, axis=self.axis)

    def get_config(self):
        return {"axis": self.axis, "name": self.name}


@register_layer
class ElemwiseSumLayer(MergeLayer):
    """Sum the inputs element-wise, each multiplied by its coefficient.

    Parameters
    ----------
    incomings : list of Layer or tuple
    coeffs : float or list of float
    name : str, optional
    """

    def __init__(self, incomings, coeffs=1.0, name=None):
        super().__init__(incomings, name=name)
        n = len(self.input_shapes)
        self.coeffs = [float(c) for c in coeffs] if isinstance(coeffs, (list, tuple)) else [float(coeffs)] * n
        if len(self.coeffs) != n:
            raise ValueError(f"ElemwiseSumLayer {name!r}: {len(self.coeffs)} coeffs for {n} inputs")
        self.get_output_shape_for(self.input_shapes)

    def get_output_shape_for(self, input_shapes):
        out = []
        for sizes in zip(*input_shapes):
            known = {s for s in sizes if s is not None}
            if len(known) > 1:
                raise ValueError(f"ElemwiseSumLayer {self.name!r}: input shapes differ: {input_shapes}")
            out.append(known.pop() if known else None)
        if len({len(s) for s in input_shapes}) != 1:
            raise ValueError(f"ElemwiseSumLayer {self.name!r}: inputs have different ranks: {input_shapes}")
        return tuple(out)

    def get_output_for(self, inputs, deterministic=False, **kwargs):
        total = None
        for coeff, x in zip(self.coeffs, inputs):
            term = x if coeff == 1.0 else pt.constant(coeff, dtype=x.dtype) * x
            total = term if total is None else total + term
        return total

    def get_config(self):
        return {"coeffs": self.coeffs, "name": self.name}
