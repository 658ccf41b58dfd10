"""ONNX conversions of the convolution, pooling and normalisation layers.

Importing this module registers them with
:func:`~dropout_layers.export.onnx_layers.convert_layer`:

* ``Conv1DLayer``, ``Conv2DLayer``, ``Conv3DLayer`` (the default
  convolution): ``Conv``, with the kernel flipped for ``flip_filters=True``
  (a true convolution; ONNX's ``Conv`` is a cross-correlation), the
  padding of ``'valid'``, ``'full'``, ``'same'`` or integers, strides and
  groups; untied biases are an ``Add``;
* ``Pool1DLayer`` to ``Pool3DLayer`` and the ``MaxPool*`` layers:
  ``MaxPool`` and ``AveragePool`` (``count_include_pad`` for
  ``'average_inc_pad'``); ``ignore_border=False`` only for max pooling and
  where ONNX's ``ceil_mode`` gives the layer's output size;
* ``GlobalPoolLayer`` with a mean, max, min or sum: ``Reshape`` and the
  matching ``Reduce*``;
* ``BatchNormLayer``: ``(x - mean) * (gamma * inv_std) + beta`` with the
  stored averages, as the layer computes it at test time.
"""
import math

import pytensor.tensor as pt

from .onnx_layers import (
    UnsupportedLayerError,
    apply_nonlinearity,
    broadcast_to_rank,
    converts,
    describe,
    hint_of,
    param_value,
)

__all__ = []


def _conv_pads(layer):
    if layer.pad == "full":
        pads = [k - 1 for k in layer.filter_size]
    elif layer.pad == "same":
        pads = [k // 2 for k in layer.filter_size]
    else:
        pads = [int(p) for p in layer.pad]
    return pads + pads


@converts("Conv1DLayer", "Conv2DLayer", "Conv3DLayer")
def _conv(builder, layer, inputs):
    try:
        layer.get_config()
    except ValueError:  # a custom convolution function, which a config cannot name
        raise UnsupportedLayerError(f"cannot export {describe(layer)}: it convolves with "
                                    f"{layer.convolution!r}, not the default") from None
    hint = hint_of(layer)
    W = param_value(layer, layer.W, "W")
    if layer.flip_filters:
        W = W[(slice(None), slice(None)) + (slice(None, None, -1),) * layer.n]
    arguments = [inputs[0], builder.constant(W, f"{hint}.W")]
    b = None if layer.b is None else param_value(layer, layer.b, "b")
    if b is not None and not layer.untie_biases:
        arguments.append(builder.constant(b, f"{hint}.b"))
    out = builder.op("Conv", arguments, f"{hint}.conv", kernel_shape=list(layer.filter_size),
                     strides=list(layer.stride), pads=_conv_pads(layer),
                     group=int(layer.num_groups))
    if b is not None and layer.untie_biases:
        out = builder.op("Add", [out, builder.constant(b[None], f"{hint}.b")], f"{hint}.biased")
    return apply_nonlinearity(builder, layer.nonlinearity, out, hint, layer)


def _ceil_mode_sizes(layer):
    return tuple(None if size is None else math.ceil((size - window) / stride) + 1
                 for size, window, stride in zip(layer.input_shape[2:], layer.pool_size,
                                                 layer.stride))


@converts("Pool1DLayer", "Pool2DLayer", "Pool3DLayer", "MaxPool1DLayer", "MaxPool2DLayer",
           "MaxPool3DLayer")
def _pool(builder, layer, inputs):
    attributes = {"kernel_shape": list(layer.pool_size), "strides": list(layer.stride),
                  "pads": [int(p) for p in layer.pad] * 2}
    if not layer.ignore_border:
        if layer.mode != "max" or _ceil_mode_sizes(layer) != tuple(layer.output_shape[2:]):
            raise UnsupportedLayerError(
                f"cannot export {describe(layer)}: ignore_border=False has an ONNX conversion "
                "only for max pooling of known sizes where ceil_mode gives the same output")
        attributes["ceil_mode"] = 1
    if layer.mode == "max":
        return builder.op("MaxPool", inputs, hint_of(layer), **attributes)
    include = 1 if layer.mode == "average_inc_pad" else 0
    return builder.op("AveragePool", inputs, hint_of(layer), count_include_pad=include,
                      **attributes)


_REDUCTIONS = {"max": "ReduceMax", "min": "ReduceMin", "mean": "ReduceMean", "sum": "ReduceSum"}


@converts("GlobalPoolLayer")
def _global_pool(builder, layer, inputs):
    hint = hint_of(layer)
    for name, op_type in _REDUCTIONS.items():
        if layer.pool_function is getattr(pt, name):
            break
    else:
        raise UnsupportedLayerError(f"cannot export {describe(layer)}: pool_function "
                                    f"{layer.pool_function!r} has no ONNX conversion")
    flat = builder.op("Reshape", [inputs[0], builder.indices([0, 0, -1], f"{hint}.shape")],
                      f"{hint}.flat")
    if op_type == "ReduceSum":  # axes became an input of ReduceSum at opset 13
        return builder.op(op_type, [flat, builder.indices([2], f"{hint}.axes")], hint,
                          keepdims=0)
    return builder.op(op_type, [flat], hint, axes=[2], keepdims=0)


@converts("BatchNormLayer")
def _batch_norm(builder, layer, inputs):
    hint = hint_of(layer)
    dtype = builder.dtype

    def stored(name):
        variable = getattr(layer, name)
        return None if variable is None else param_value(layer, variable, name).astype(dtype)

    mean, inv_std, gamma, beta = (stored(name) for name in ("mean", "inv_std", "gamma", "beta"))
    # The layer multiplies by gamma * inv_std, rounded once in its dtype: so does this.
    scale = inv_std if gamma is None else (gamma * inv_std).astype(dtype)
    axes = layer.axes
    centred = builder.op("Sub", [inputs[0], builder.constant(broadcast_to_rank(layer, mean, axes),
                                                             f"{hint}.mean")], f"{hint}.centred")
    out = builder.op("Mul", [centred, builder.constant(broadcast_to_rank(layer, scale, axes),
                                                       f"{hint}.scale")],
                     f"{hint}.scaled" if beta is not None else hint)
    if beta is None:
        return out
    return builder.op("Add", [out, builder.constant(broadcast_to_rank(layer, beta, axes),
                                                    f"{hint}.beta")], hint)

