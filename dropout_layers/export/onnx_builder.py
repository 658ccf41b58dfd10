"""The nodes, constants and names of one ONNX graph under construction.

:class:`GraphBuilder` is a thin layer over :mod:`onnx.helper`: every
:meth:`~GraphBuilder.op` call appends one ``make_node`` and returns the name
of its output, every :meth:`~GraphBuilder.constant` one initializer made by
``numpy_helper.from_array``, and names are made unique from readable hints
(the layers' names), so that a graph viewer shows where each tensor comes
from.

Examples
--------
>>> import numpy as np
>>> builder = GraphBuilder("float32")
>>> w = builder.constant(np.ones((2, 3)), "dense.W")
>>> builder.op("MatMul", ["input", w], "dense")
'dense'
>>> builder.op("Relu", ["dense"], "dense")
'dense_1'
>>> [node.op_type for node in builder.nodes], builder.initializers[0].data_type
(['MatMul', 'Relu'], 1)
"""
import re

import numpy as np
from onnx import helper, numpy_helper

__all__ = ["GraphBuilder", "tensor_type"]


def tensor_type(dtype):
    """Return the ONNX element type (``TensorProto.FLOAT``, ...) of a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _clean(hint):
    return re.sub(r"[^A-Za-z0-9_.:/-]", "_", str(hint)) or "tensor"


class GraphBuilder:
    """Collects the nodes and initializers of a graph whose float tensors have one dtype.

    Parameters
    ----------
    dtype : str or numpy.dtype
        The float dtype of :meth:`constant` arrays unless told otherwise.

    Attributes
    ----------
    nodes : list of onnx.NodeProto
    initializers : list of onnx.TensorProto
    dtype : numpy.dtype
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.nodes = []
        self.initializers = []
        self._taken = set()

    def reserve(self, name):
        """Claim ``name`` exactly (a graph input or output); refuse one already taken."""
        if name in self._taken:
            raise ValueError(f"the ONNX graph already has a tensor named {name!r}")
        self._taken.add(name)
        return name

    def name(self, hint):
        """Return a new tensor name made from ``hint``."""
        base = _clean(hint)
        candidate, suffix = base, 1
        while candidate in self._taken:
            candidate = f"{base}_{suffix}"
            suffix += 1
        self._taken.add(candidate)
        return candidate

    def constant(self, array, hint, dtype=None):
        """Add ``array`` as an initializer (floats in :attr:`dtype` by default); return its name."""
        array = np.asarray(array)
        if dtype is None and array.dtype.kind == "f":
            dtype = self.dtype
        if dtype is not None:
            array = array.astype(dtype)
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def indices(self, values, hint):
        """Add an int64 vector (column indices, a shape, axes); return its name."""
        return self.constant(np.asarray(values, dtype=np.int64).reshape(-1), hint)

    def op(self, op_type, inputs, hint, output=None, **attributes):
        """Append one node of ``op_type``; return the name of its (only) output.

        Parameters
        ----------
        op_type : str
        inputs : list of str
        hint : str
            Readable base of the output's name.
        output : str, optional
            The exact output name (a graph output), reserved beforehand.
        **attributes
            The node's attributes, as :func:`onnx.helper.make_node` takes them.
        """
        output = self.name(hint) if output is None else output
        self.nodes.append(helper.make_node(op_type, list(inputs), [output],
                                           name=f"{op_type}:{output}", **attributes))
        return output
