"""One ONNX conversion per layer type, of the layer's deterministic output.

:func:`convert_layer` writes the nodes of one layer given the tensor names
of its inputs and returns the name of its output. A conversion is looked
up by the layer's class, exactly (a subclass may compute something else
and gets its own conversion or an error). A layer without one whose
deterministic output *is* its input, checked by calling its
``get_output_for`` on a symbolic probe, is left out: the whole dropout
family (:class:`~dropout_layers.layers.SwitchDropoutLayer`, Gaussian and
alpha dropout, Gaussian noise, concrete dropout) and any new layer that
behaves so at test time. Anything else raises :class:`UnsupportedLayerError`
naming the layer.

Every conversion uses the plain operators that ROOT's TMVA SOFIE and
onnxruntime both run: ``MatMul``, ``Add``, ``Mul``, ``Sub``, ``Concat``,
``Flatten``, ``Reshape``, ``Transpose``, ``Relu``, ``LeakyRelu``,
``Sigmoid``, ``Tanh``, ``Softmax``, ``Max``, ``Min``, ``Where``,
``Greater``, ``Exp``, ``Log``, ``Abs``, ``Neg``, ``PRelu``. The ELU, SELU and
softplus nonlinearities are written with ``Where``/``Exp``/``Log`` rather
than ONNX's ``Elu``, ``Selu`` and ``Softplus``, which onnxruntime does not
run in float64.
"""
import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant

from .. import layers as dl_layers
from .. import nonlinearities as nl
from ..errors import DropoutLayersError

__all__ = ["UnsupportedLayerError", "convert_layer", "describe", "supported_layers", "converts",
           "param_value", "hint_of", "broadcast_to_rank", "apply_nonlinearity", "passes_through"]

_CONVERTERS = {}
_MERGE_OPS = {"add": "Add", "mul": "Mul", "maximum": "Max", "minimum": "Min", "sub": "Sub"}


class UnsupportedLayerError(DropoutLayersError, ValueError):
    """A layer (or a nonlinearity, or a setting of a layer) that has no ONNX conversion."""


def describe(layer):
    """Return ``"layer 'name' (ClassName)"`` for messages."""
    name = f"{layer.name!r}" if getattr(layer, "name", None) else "(unnamed)"
    return f"layer {name} ({type(layer).__name__})"


def supported_layers():
    """Return the names of the layer classes with a conversion, sorted."""
    return sorted(_CONVERTERS)


def converts(*class_names):
    """Register the decorated function as the conversion of the named layer classes."""

    def register(function):
        for class_name in class_names:
            _CONVERTERS[class_name] = function
        return function

    return register


def param_value(layer, variable, what):
    """Return a parameter's value: a shared variable's, a constant's, a closed expression's."""
    if isinstance(variable, SharedVariable):
        return np.asarray(variable.get_value(borrow=True))
    if isinstance(variable, Constant):
        return np.asarray(variable.data)
    try:
        return np.asarray(variable.eval())
    except Exception:  # an expression of inputs that the export cannot know
        raise UnsupportedLayerError(f"cannot export {describe(layer)}: its {what} is an "
                                    "expression of other inputs, not a stored value") from None


def hint_of(layer, suffix=""):
    """Return a readable base for the names of a layer's tensors."""
    base = layer.name or type(layer).__name__
    return f"{base}{suffix}"


# ----------------------------------------------------------------------
# Nonlinearities
# ----------------------------------------------------------------------
def _scalar(builder, value, hint):
    return builder.constant(np.asarray(value, dtype=builder.dtype), hint)


def _elu_like(builder, x, hint, positive_scale, negative_scale):
    """``where(x > 0, a * x, b * (exp(x) - 1))`` with plain operators."""
    zero = _scalar(builder, 0.0, f"{hint}.zero")
    one = _scalar(builder, 1.0, f"{hint}.one")
    expm1 = builder.op("Sub", [builder.op("Exp", [x], f"{hint}.exp"), one], f"{hint}.expm1")
    positive, negative = x, expm1
    if positive_scale != 1:
        positive = builder.op("Mul", [x, _scalar(builder, positive_scale, f"{hint}.scale")],
                              f"{hint}.positive")
    if negative_scale != 1:
        negative = builder.op("Mul", [expm1, _scalar(builder, negative_scale,
                                                     f"{hint}.scale_neg")], f"{hint}.negative")
    condition = builder.op("Greater", [x, zero], f"{hint}.is_positive")
    return builder.op("Where", [condition, positive, negative], hint)


def _softplus(builder, x, hint):
    """``max(x, 0) + log(1 + exp(-|x|))``, which cannot overflow."""
    one = _scalar(builder, 1.0, f"{hint}.one")
    tail = builder.op("Exp", [builder.op("Neg", [builder.op("Abs", [x], f"{hint}.abs")],
                                         f"{hint}.neg")], f"{hint}.exp")
    log_term = builder.op("Log", [builder.op("Add", [tail, one], f"{hint}.sum")], f"{hint}.log")
    return builder.op("Add", [builder.op("Relu", [x], f"{hint}.relu"), log_term], hint)


def apply_nonlinearity(builder, function, x, hint, layer):
    """Write ``function(x)`` for one of :mod:`dropout_layers.nonlinearities`; return its name."""
    if function is None or function is nl.linear:
        return x
    simple = {nl.rectify: "Relu", nl.sigmoid: "Sigmoid", nl.tanh: "Tanh"}
    for known, op_type in simple.items():
        if function is known:
            return builder.op(op_type, [x], hint)
    if function is nl.softmax:
        return builder.op("Softmax", [x], hint, axis=-1)
    if isinstance(function, nl.LeakyRectify):
        if function.leakiness == 0:
            return builder.op("Relu", [x], hint)
        if builder.dtype == np.float32:
            return builder.op("LeakyRelu", [x], hint, alpha=float(function.leakiness))
        # LeakyRelu's alpha is a 32-bit attribute: 0.01 would become 0.0099999998.
        condition = builder.op("Greater", [x, _scalar(builder, 0.0, f"{hint}.zero")],
                               f"{hint}.is_positive")
        leaked = builder.op("Mul", [x, _scalar(builder, function.leakiness, f"{hint}.leakiness")],
                            f"{hint}.leaked")
        return builder.op("Where", [condition, x, leaked], hint)
    if isinstance(function, nl.ScaledTanH):
        scaled = builder.op("Mul", [x, _scalar(builder, function.scale_in, f"{hint}.scale_in")],
                            f"{hint}.scaled")
        tanh = builder.op("Tanh", [scaled], f"{hint}.tanh")
        return builder.op("Mul", [tanh, _scalar(builder, function.scale_out,
                                                f"{hint}.scale_out")], hint)
    if function is nl.elu:
        return _elu_like(builder, x, hint, 1, 1)
    if isinstance(function, nl.SELU):
        return _elu_like(builder, x, hint, function.scale, function.scale * function.scale_neg)
    if function is nl.softplus:
        return _softplus(builder, x, hint)
    raise UnsupportedLayerError(f"cannot export {describe(layer)}: its nonlinearity "
                                f"{function!r} has no ONNX conversion")


# ----------------------------------------------------------------------
# Dense layers
# ----------------------------------------------------------------------
def _flatten_from(builder, x, rank, leading, hint):
    """Flatten the axes after the first ``leading`` ones, as the dense layers do."""
    if rank <= leading + 1:
        return x
    if leading == 1:
        return builder.op("Flatten", [x], f"{hint}.flat", axis=1)
    shape = builder.indices([0] * leading + [-1], f"{hint}.flat_shape")
    return builder.op("Reshape", [x, shape], f"{hint}.flat")


def _affine(builder, layer, x, W, b, hint):
    out = builder.op("MatMul", [x, builder.constant(W, f"{hint}.W")], f"{hint}.matmul")
    if b is not None:
        out = builder.op("Add", [out, builder.constant(b, f"{hint}.b")], f"{hint}.affine")
    return out


@converts("DenseLayer", "ReLUDenseLayer", "DropConnectDenseLayer")
def _dense(builder, layer, inputs):
    hint = hint_of(layer)
    x = _flatten_from(builder, inputs[0], len(layer.input_shape), layer.num_leading_axes, hint)
    b = None if layer.b is None else param_value(layer, layer.b, "b")
    out = _affine(builder, layer, x, param_value(layer, layer.W, "W"), b, hint)
    return apply_nonlinearity(builder, layer.nonlinearity, out, hint, layer)


@converts("NINLayer")
def _nin(builder, layer, inputs):
    hint = hint_of(layer)
    rank = len(layer.input_shape)
    W = param_value(layer, layer.W, "W")
    b = None if layer.b is None else param_value(layer, layer.b, "b")
    if rank == 2:
        return apply_nonlinearity(builder, layer.nonlinearity,
                                  _affine(builder, layer, inputs[0], W, b, hint), hint, layer)
    # Channels last, a matrix product over them, channels back to axis 1.
    last = builder.op("Transpose", [inputs[0]], f"{hint}.channels_last",
                      perm=[0, *range(2, rank), 1])
    if b is not None and layer.untie_biases:
        b = np.moveaxis(b, 0, -1)
    out = _affine(builder, layer, last, W, b, hint)
    out = builder.op("Transpose", [out], f"{hint}.channels_first",
                     perm=[0, rank - 1, *range(1, rank - 1)])
    return apply_nonlinearity(builder, layer.nonlinearity, out, hint, layer)


# ----------------------------------------------------------------------
# Merge layers
# ----------------------------------------------------------------------
def _check_no_cropping(layer):
    cropping = getattr(layer, "cropping", None)
    if cropping is not None and any(c is not None for c in cropping):
        shapes = {tuple(shape) for shape in layer.input_shapes}
        if len(shapes) > 1:
            raise UnsupportedLayerError(f"cannot export {describe(layer)}: cropping inputs of "
                                        "different shapes has no ONNX conversion here")


@converts("ConcatLayer")
def _concat(builder, layer, inputs):
    _check_no_cropping(layer)
    return builder.op("Concat", inputs, hint_of(layer), axis=int(layer.axis))


def _fold(builder, op_type, inputs, hint):
    out = inputs[0]
    for index, x in enumerate(inputs[1:], start=1):
        out = builder.op(op_type, [out, x], hint if index == len(inputs) - 1 else f"{hint}.{index}")
    return out


@converts("ElemwiseSumLayer")
def _elemwise_sum(builder, layer, inputs):
    _check_no_cropping(layer)
    hint = hint_of(layer)
    scaled = []
    for index, (x, coeff) in enumerate(zip(inputs, layer.coeffs)):
        if coeff != 1:
            x = builder.op("Mul", [x, _scalar(builder, coeff, f"{hint}.coeff{index}")],
                           f"{hint}.scaled{index}")
        scaled.append(x)
    return _fold(builder, "Add", scaled, hint) if len(scaled) > 1 else builder.op(
        "Identity", scaled, hint)


@converts("ElemwiseMergeLayer")
def _elemwise_merge(builder, layer, inputs):
    _check_no_cropping(layer)
    for name, op_type in _MERGE_OPS.items():
        if layer.merge_function is getattr(pt, name):
            return _fold(builder, op_type, inputs, hint_of(layer))
    raise UnsupportedLayerError(f"cannot export {describe(layer)}: merge_function "
                                f"{layer.merge_function!r} has no ONNX conversion")


# ----------------------------------------------------------------------
# Element-wise layers with a parameter shared over some axes
# ----------------------------------------------------------------------
@converts("NonlinearityLayer")
def _nonlinearity(builder, layer, inputs):
    out = apply_nonlinearity(builder, layer.nonlinearity, inputs[0], hint_of(layer), layer)
    return out if out != inputs[0] else builder.op("Identity", inputs, hint_of(layer))


def broadcast_to_rank(layer, value, shared_axes):
    """Return ``value`` reshaped to the layer input's rank, size 1 along ``shared_axes``."""
    sizes = iter(value.shape)
    rank = len(layer.input_shape)
    return value.reshape([1 if axis in shared_axes else next(sizes) for axis in range(rank)])


@converts("BiasLayer")
def _bias(builder, layer, inputs):
    if layer.b is None:
        return inputs[0]
    b = broadcast_to_rank(layer, param_value(layer, layer.b, "b"), layer.shared_axes)
    hint = hint_of(layer)
    return builder.op("Add", [inputs[0], builder.constant(b, f"{hint}.b")], hint)


@converts("ScaleLayer")
def _scale(builder, layer, inputs):
    scales = broadcast_to_rank(layer, param_value(layer, layer.scales, "scales"),
                               layer.shared_axes)
    return builder.op("Mul", [inputs[0], builder.constant(scales, f"{hint_of(layer)}.scales")],
                      hint_of(layer))


@converts("ParametricRectifierLayer")
def _prelu(builder, layer, inputs):
    alpha = broadcast_to_rank(layer, param_value(layer, layer.alpha, "alpha"), layer.shared_axes)
    return builder.op("PRelu", [inputs[0], builder.constant(alpha, f"{hint_of(layer)}.alpha")],
                      hint_of(layer))


# ----------------------------------------------------------------------
# Shape layers
# ----------------------------------------------------------------------
@converts("FlattenLayer")
def _flatten(builder, layer, inputs):
    rank = len(layer.input_shape)
    if layer.outdim == rank:
        return builder.op("Identity", inputs, hint_of(layer))
    if layer.outdim == 2:
        return builder.op("Flatten", inputs, hint_of(layer), axis=1)
    shape = builder.indices([0] * (layer.outdim - 1) + [-1], f"{hint_of(layer)}.shape")
    return builder.op("Reshape", [inputs[0], shape], hint_of(layer))


@converts("ReshapeLayer")
def _reshape(builder, layer, inputs):
    target = []
    for position, size in enumerate(layer.shape):
        if isinstance(size, list):
            # [i] keeps input axis i, which ONNX's 0 does only at the same position.
            if size != [position]:
                raise UnsupportedLayerError(f"cannot export {describe(layer)}: shape entry "
                                            f"{size} takes an input axis from another position")
            target.append(0)
        else:
            target.append(int(size))
    shape = builder.indices(target, f"{hint_of(layer)}.shape")
    return builder.op("Reshape", [inputs[0], shape], hint_of(layer))


# ----------------------------------------------------------------------
def passes_through(layer, dtype):
    """Whether the deterministic output of a one-input ``layer`` is its input itself."""
    if isinstance(layer, dl_layers.MergeLayer) or not hasattr(layer, "input_shape"):
        return False
    probe = pt.tensor(dtype=str(dtype), shape=(None,) * len(layer.input_shape))
    try:
        return layer.get_output_for(probe, deterministic=True) is probe
    except Exception:  # a layer that cannot take a probe of unknown shape is converted or refused
        return False


def convert_layer(builder, layer, inputs):
    """Write the nodes of ``layer`` on the tensors ``inputs``; return its output's name.

    Raises
    ------
    UnsupportedLayerError
        For a layer type (or a setting) without a conversion, naming the layer.
    """
    cls = type(layer)
    converter = _CONVERTERS.get(cls.__name__)
    if converter is not None and getattr(dl_layers, cls.__name__, None) is cls:
        return converter(builder, layer, inputs)
    if passes_through(layer, builder.dtype):
        return inputs[0]
    raise UnsupportedLayerError(
        f"cannot export {describe(layer)} to ONNX: no conversion for {cls.__name__} (supported: "
        f"{', '.join(supported_layers())}, and layers that are the identity at test time)")
