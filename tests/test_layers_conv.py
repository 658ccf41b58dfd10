"""Convolution layers against a direct NumPy loop: every pad and stride mode, groups, dilation,
transposes, gradients, configs and errors.

Value sweeps compile with PyTensor's Python linker (instant to compile, the same graph); one
test per layer family runs under the default Numba linker, forward and backward.
"""

import itertools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode

from dropout_layers.layers import (
    Conv1DLayer,
    Conv2DLayer,
    Conv3DLayer,
    Deconv2DLayer,
    DilatedConv2DLayer,
    InputLayer,
    TransposedConv2DLayer,
    TransposedConv3DLayer,
    get_layer_class,
)
from dropout_layers.layers.conv import BaseConvLayer, conv2d, conv_input_length, conv_output_length
from dropout_layers.nonlinearities import identity, tanh

# No rewrites: the graph as the layers build it, run by NumPy; compiles in a fraction of a second.
PY = Mode(linker="py", optimizer=None)

# PyTensor silences this Numba compile-time notice when it loads its Numba backend, but pytest
# restores the warning filters after collecting, so it is restated for these tests.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*is faster on contiguous arrays:numba.core.errors.NumbaPerformanceWarning"
)


def loop_correlate(x, w, stride, pad, dilation=None, groups=1):
    """Cross-correlation by an explicit loop over output positions (the definition)."""
    n = x.ndim - 2
    dilation = dilation or (1,) * n
    padded = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    extent = [(k - 1) * d + 1 for k, d in zip(w.shape[2:], dilation)]
    out = [(padded.shape[2 + i] - extent[i]) // stride[i] + 1 for i in range(n)]
    f_per_group, c_per_group = w.shape[0] // groups, x.shape[1] // groups
    y = np.zeros((x.shape[0], w.shape[0]) + tuple(out))
    for b, f in itertools.product(range(x.shape[0]), range(w.shape[0])):
        g = f // f_per_group
        channels = slice(g * c_per_group, (g + 1) * c_per_group)
        for o in itertools.product(*(range(s) for s in out)):
            window = tuple(
                slice(o[i] * stride[i], o[i] * stride[i] + extent[i], dilation[i]) for i in range(n)
            )
            y[(b, f) + o] = np.sum(padded[(b, channels) + window] * w[f])
    return y


def loop_transposed(y, w, stride, crop, out_sizes):
    """Transposed convolution by scattering each input element's filter (the definition)."""
    n = y.ndim - 2
    z = np.zeros((y.shape[0], w.shape[1]) + tuple(out_sizes))
    for b, c in itertools.product(range(y.shape[0]), range(y.shape[1])):
        for o in itertools.product(*(range(s) for s in y.shape[2:])):
            for k in itertools.product(*(range(s) for s in w.shape[2:])):
                pos = tuple(o[i] * stride[i] + k[i] - crop[i] for i in range(n))
                if all(0 <= p < s for p, s in zip(pos, out_sizes)):
                    z[(b, slice(None)) + pos] += y[(b, c) + o] * w[(c, slice(None)) + k]
    return z


def pad_amount(pad, filter_size):
    if pad == "full":
        return tuple(k - 1 for k in filter_size)
    if pad == "same":
        return tuple(k // 2 for k in filter_size)
    if pad == "valid":
        return (0,) * len(filter_size)
    return pad if isinstance(pad, tuple) else (pad,) * len(filter_size)


def evaluate(layer, x, mode=PY):
    var = pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
    return pytensor.function([var], layer.get_output_for(var), mode=mode)(x)


def evaluate_all(layers, x):
    """The outputs of several layers for one input, from one compiled function."""
    var = pt.tensor(dtype=x.dtype, shape=(None,) * x.ndim)
    return pytensor.function([var], [layer.get_output_for(var) for layer in layers], mode=PY)(x)


def test_output_and_input_lengths():
    assert [conv_output_length(13, 5, 3, p) for p in ("valid", 0, "full", "same", 2)] == [
        3,
        3,
        6,
        5,
        5,
    ]
    assert conv_output_length(None, 5, 3, "full") is None
    # the smallest input of each output length, and inverting conv_output_length
    assert [conv_input_length(2, 3, 1, "valid"), conv_input_length(6, 4, 1, 2)] == [4, 5]
    assert [conv_input_length(3, 3, 2, "same"), conv_input_length(3, 3, 2, "full")] == [5, 3]
    for length, stride, pad in itertools.product(range(5, 12), (1, 2, 3), (0, 1, 2)):
        out = conv_output_length(length, 3, stride, pad)
        assert (
            conv_input_length(out, 3, stride, pad)
            <= length
            < conv_input_length(out, 3, stride, pad) + stride
        )
    with pytest.raises(ValueError, match="Invalid pad"):
        conv_output_length(13, 5, 3, "bogus")


def test_conv2d_matches_the_loop_for_every_pad_and_stride():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    cases = list(itertools.product(["valid", "full", "same", 1, (2, 0)], [1, 2, (1, 3)]))
    layers = [
        Conv2DLayer((None, 3, 7, 8), 4, 3, stride=stride, pad=pad, W=w, b=b, nonlinearity=None)
        for pad, stride in cases
    ]
    for (pad, stride), layer, actual in zip(cases, layers, evaluate_all(layers, x)):
        strides = stride if isinstance(stride, tuple) else (stride, stride)
        expected = loop_correlate(x, w[:, :, ::-1, ::-1], strides, pad_amount(pad, (3, 3)))
        expected += b[None, :, None, None]
        assert layer.output_shape[2:] == expected.shape[2:], (pad, stride)
        np.testing.assert_allclose(
            actual, expected, rtol=1e-10, atol=1e-12, err_msg=str((pad, stride))
        )


def test_flip_filters_false_is_a_cross_correlation_and_true_a_convolution():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 6, 5)), rng.standard_normal((3, 2, 2, 3))
    corr = Conv2DLayer(x.shape, 3, (2, 3), W=w, b=None, nonlinearity=None, flip_filters=False)
    conv = Conv2DLayer(x.shape, 3, (2, 3), W=w, b=None, nonlinearity=None, flip_filters=True)
    np.testing.assert_allclose(evaluate(corr, x), loop_correlate(x, w, (1, 1), (0, 0)), atol=1e-12)
    np.testing.assert_allclose(
        evaluate(conv, x), loop_correlate(x, w[:, :, ::-1, ::-1], (1, 1), (0, 0)), atol=1e-12
    )


def test_conv1d_and_conv3d_match_the_loop():
    rng = np.random.default_rng(3)
    x1, w1 = rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 3))
    layer1 = Conv1DLayer(
        x1.shape, 4, 3, stride=2, pad="same", W=w1, b=None, nonlinearity=None, flip_filters=False
    )
    np.testing.assert_allclose(evaluate(layer1, x1), loop_correlate(x1, w1, (2,), (1,)), atol=1e-12)
    x3, w3 = rng.standard_normal((1, 2, 5, 4, 6)), rng.standard_normal((3, 2, 3, 2, 3))
    layer3 = Conv3DLayer(
        x3.shape, 3, (3, 2, 3), pad="full", W=w3, b=None, nonlinearity=None, flip_filters=False
    )
    np.testing.assert_allclose(
        evaluate(layer3, x3), loop_correlate(x3, w3, (1, 1, 1), (2, 1, 2)), atol=1e-12
    )


def test_groups_see_only_their_channels():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 6, 5, 5)), rng.standard_normal((9, 2, 3, 3))
    layer = Conv2DLayer(
        x.shape, 9, 3, num_groups=3, W=w, b=None, nonlinearity=None, flip_filters=False
    )
    assert layer.W.get_value().shape == (9, 2, 3, 3)
    np.testing.assert_allclose(
        evaluate(layer, x), loop_correlate(x, w, (1, 1), (0, 0), groups=3), atol=1e-12
    )


def test_untied_biases_nonlinearity_and_unknown_sizes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 5, 6))
    layer = Conv2DLayer(x.shape, 2, 3, untie_biases=True, nonlinearity=tanh)
    assert layer.b.get_value().shape == (2, 3, 4)
    layer.b.set_value(rng.standard_normal((2, 3, 4)).astype(layer.b.dtype))
    w, b = layer.W.get_value().astype(float), layer.b.get_value().astype(float)
    expected = np.tanh(loop_correlate(x, w[:, :, ::-1, ::-1], (1, 1), (0, 0)) + b[None])
    np.testing.assert_allclose(evaluate(layer, x), expected, rtol=1e-5, atol=1e-6)
    unknown = Conv2DLayer((None, 1, None, None), 2, 3, W=w, b=None, nonlinearity=None)
    assert unknown.output_shape == (None, 2, None, None)
    np.testing.assert_allclose(
        evaluate(unknown, x), loop_correlate(x, w[:, :, ::-1, ::-1], (1, 1), (0, 0)), atol=1e-12
    )


def test_transposed_conv_matches_the_scatter_loop():
    rng = np.random.default_rng(6)
    y, w = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 2, 3, 3))
    cases = list(itertools.product([0, 1, "full", "same"], [1, 2, 3]))
    layers = [
        TransposedConv2DLayer(
            y.shape,
            2,
            3,
            stride=stride,
            crop=crop,
            W=w,
            b=None,
            nonlinearity=None,
            flip_filters=True,
        )
        for crop, stride in cases
    ]
    for (crop, stride), layer, actual in zip(cases, layers, evaluate_all(layers, y)):
        crops = pad_amount(crop, (3, 3))
        sizes = [conv_input_length(s, 3, stride, c) for s, c in zip(y.shape[2:], crops)]
        assert layer.output_shape == (2, 2) + tuple(sizes)
        expected = loop_transposed(y, w, (stride,) * 2, crops, sizes)
        np.testing.assert_allclose(actual, expected, atol=1e-12, err_msg=str((crop, stride)))


def test_transposed_conv_is_the_adjoint_of_the_convolution_and_takes_output_size():
    rng = np.random.default_rng(7)
    conv = Conv2DLayer((2, 3, 9, 8), 4, (3, 2), stride=(2, 3), pad=1, b=None, nonlinearity=None)
    deconv = TransposedConv2DLayer(
        conv,
        3,
        (3, 2),
        stride=(2, 3),
        crop=1,
        W=conv.W,
        b=None,
        nonlinearity=None,
        flip_filters=not conv.flip_filters,
        output_size=(9, 8),
    )
    assert deconv.output_shape == (2, 3, 9, 8)
    z = rng.standard_normal((2, 3, 9, 8)).astype(conv.W.dtype)
    g = rng.standard_normal((2, 4) + conv.output_shape[2:]).astype(conv.W.dtype)
    forward, backward = evaluate(conv, z), evaluate(deconv, g)
    assert backward.shape == z.shape
    np.testing.assert_allclose(np.sum(forward * g), np.sum(z * backward), rtol=1e-4)
    assert Deconv2DLayer is TransposedConv2DLayer


def test_symbolic_output_size():
    rng = np.random.default_rng(8)
    y, w = rng.standard_normal((1, 1, 3, 3)), rng.standard_normal((1, 1, 2, 2))
    size = pytensor.shared(np.array([7, 8]))
    layer = TransposedConv2DLayer(
        y.shape, 1, 2, stride=2, W=w, b=None, nonlinearity=None, flip_filters=True, output_size=size
    )
    assert layer.output_shape == (1, 1, None, None)
    np.testing.assert_allclose(
        evaluate(layer, y), loop_transposed(y, w, (2, 2), (0, 0), (7, 8)), atol=1e-12
    )
    with pytest.raises(ValueError, match="symbolic output_size"):
        layer.get_config()


def test_transposed_conv3d_matches_the_scatter_loop():
    rng = np.random.default_rng(9)
    y, w = rng.standard_normal((1, 2, 2, 3, 2)), rng.standard_normal((2, 1, 2, 2, 3))
    layer = TransposedConv3DLayer(
        y.shape, 1, (2, 2, 3), stride=(2, 1, 2), W=w, b=None, nonlinearity=None, flip_filters=True
    )
    assert layer.output_shape == (1, 1, 4, 4, 5)
    np.testing.assert_allclose(
        evaluate(layer, y), loop_transposed(y, w, (2, 1, 2), (0, 0, 0), (4, 4, 5)), atol=1e-12
    )


@pytest.mark.parametrize("dilation", [1, 2, (3, 1)])
def test_dilated_conv_matches_the_loop(dilation):
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 2, 9, 8)), rng.standard_normal((2, 3, 3, 2))
    layer = DilatedConv2DLayer(
        x.shape, 3, (3, 2), dilation=dilation, W=w, b=None, nonlinearity=None
    )
    dilations = dilation if isinstance(dilation, tuple) else (dilation,) * 2
    expected = loop_correlate(x, w.transpose(1, 0, 2, 3), (1, 1), (0, 0), dilations)
    assert layer.output_shape == expected.shape
    np.testing.assert_allclose(evaluate(layer, x), expected, atol=1e-12)


def test_numba_forward_and_gradient_match_the_loop():
    # The default linker, as a user compiles: forward values and dL/dW for L = sum(y * g).
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 2, 6, 6)).astype("float32")
    layer = Conv2DLayer(
        (None, 2, 6, 6), 3, 3, stride=2, pad=1, nonlinearity=None, b=None, flip_filters=False
    )
    var, g_var = pt.tensor4("x", dtype="float32"), pt.tensor4("g", dtype="float32")
    g = rng.standard_normal((3, 3, 3, 3)).astype("float32")
    out = layer.get_output_for(var)
    grad_w, grad_x = pytensor.grad(pt.sum(out * g_var), [layer.W, var])
    y, gw, gx = pytensor.function([var, g_var], [out, grad_w, grad_x])(x, g)
    w = layer.W.get_value().astype(float)
    np.testing.assert_allclose(
        y, loop_correlate(x.astype(float), w, (2, 2), (1, 1)), rtol=1e-4, atol=1e-5
    )
    # dL/dW[f, c, i, j] = sum over b, o of g[b, f, o] * x_padded[b, c, o * stride + (i, j)]
    padded = np.pad(x.astype(float), [(0, 0), (0, 0), (1, 1), (1, 1)])
    expected_gw = np.zeros_like(w)
    for i, j in itertools.product(range(3), range(3)):
        patch = padded[:, :, i : i + 5 : 2, j : j + 5 : 2]
        expected_gw[:, :, i, j] = np.einsum("bfhw,bchw->fc", g, patch)
    np.testing.assert_allclose(gw, expected_gw, rtol=1e-4, atol=1e-4)
    # dL/dx is the transposed convolution of g, cropped by the padding
    expected_gx = loop_transposed(g.astype(float), w, (2, 2), (1, 1), (6, 6))
    np.testing.assert_allclose(gx, expected_gx, rtol=1e-4, atol=1e-4)


def test_functional_conv2d_takes_theano_arguments():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    half = pytensor.function([], conv2d(x, w, border_mode="half", subsample=2), mode=PY)()
    np.testing.assert_allclose(half, loop_correlate(x, w, (2, 2), (1, 1)))
    full = pytensor.function([], conv2d(x, w, border_mode="full", filter_dilation=2), mode=PY)()
    np.testing.assert_allclose(full, loop_correlate(x, w, (1, 1), (2, 2), dilation=(2, 2)))


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="Expected 4 input dimensions"):
        Conv2DLayer((10, 20, 30), 2, 3)
    with pytest.raises(NotImplementedError, match="requires odd filter size"):
        Conv2DLayer((1, 2, 5, 5), 2, 4, pad="same")
    with pytest.raises(TypeError, match="iterable of int"):
        Conv2DLayer((1, 2, 5, 5), 2, 3, pad="bogus")
    with pytest.raises(ValueError, match="evenly divide"):
        Conv2DLayer((1, 3, 5, 5), 2, 3, num_groups=2)
    with pytest.raises(NotImplementedError, match="requires pad=0"):
        DilatedConv2DLayer((1, 2, 9, 9), 2, 3, pad=1)
    with pytest.raises(NotImplementedError, match="requires flip_filters=False"):
        DilatedConv2DLayer((1, 2, 9, 9), 2, 3, flip_filters=True)
    with pytest.raises(NotImplementedError):
        BaseConvLayer((1, 2, 5), 1, 3).convolve(pt.tensor3())


@pytest.mark.parametrize(
    "build",
    [
        lambda l_in: Conv2DLayer(
            l_in,
            4,
            (3, 2),
            stride=(2, 1),
            pad="full",
            untie_biases=True,
            nonlinearity=identity,
            num_groups=2,
        ),
        lambda l_in: TransposedConv2DLayer(
            l_in, 3, 3, stride=2, crop="same", b=None, output_size=(20, 21)
        ),
        lambda l_in: DilatedConv2DLayer(l_in, 2, 3, dilation=(2, 3), flip_filters=False),
    ],
)
def test_config_round_trip(build):
    layer = build(InputLayer((None, 2, 10, 11)))
    config = layer.get_config()
    rebuilt = get_layer_class(type(layer).__name__).from_config(layer.input_layer, config)
    assert rebuilt.get_config() == config
    assert rebuilt.output_shape == layer.output_shape
    assert [p.get_value().shape for p in rebuilt.get_params()] == [
        p.get_value().shape for p in layer.get_params()
    ]


def test_custom_convolution_cannot_be_stored():
    layer = Conv2DLayer(
        (1, 1, 4, 4), 1, 2, convolution=lambda *args, **kwargs: conv2d(*args, **kwargs)
    )
    assert layer.get_output_for(np.ones((1, 1, 4, 4), "float32")).ndim == 4
    with pytest.raises(ValueError, match="default convolution"):
        layer.get_config()
