"""Export a network, or a checkpoint with its preprocessing, as a standard ONNX model.

:func:`export_onnx` writes the deterministic network: dropout and the other
layers that are the identity at test time are left out, dense, merge and
element-wise layers become ``MatMul``, ``Add``, ``Concat``, ``Relu`` and
their kin (see :mod:`~dropout_layers.export.onnx_layers`). For a checkpoint
that stores a :class:`~dropout_layers.preprocessing.FeaturePipeline`, the
pipeline comes first (see :mod:`~dropout_layers.export.onnx_steps`), so
that the model takes raw events, as
:meth:`Checkpoint.predict <dropout_layers.checkpoint.Checkpoint.predict>`
does, and reproduces its output (to about 1e-6 in float32). An ensemble
file (or :class:`~dropout_layers.Ensemble`) becomes one graph: the shared
preprocessing, every member, and the mean of their outputs.

The graph is built with :mod:`onnx.helper` (``make_node``, ``make_graph``,
``make_model``) and ``numpy_helper.from_array``, at opset :data:`OPSET`
and IR version :data:`IR_VERSION`, checked with :func:`onnx.checker.check_model`
(with shape inference) and written atomically. Its input and output are
named (``"input"`` and ``"output"`` by default) with a symbolic batch
dimension ``"N"``; the model's metadata records the raw and network column
names (``input_columns``, ``network_columns``, as JSON lists) when the
checkpoint has a pipeline.

Examples
--------
>>> import os, tempfile
>>> import numpy as np, onnxruntime
>>> import dropout_layers as dl
>>> l_in = dl.InputLayer((None, 3))
>>> hidden = dl.SwitchDropoutLayer(dl.ReLUDenseLayer(l_in, 8), p=0.5)
>>> network = dl.DenseLayer(hidden, 1, nonlinearity=dl.nonlinearities.sigmoid)
>>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
>>> export_onnx(network, path) == path
True
>>> session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
>>> [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
(['input'], ['output'])
>>> X = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
>>> expected = dl.get_output(network, X, deterministic=True).eval()
>>> bool(np.allclose(session.run(None, {"input": X})[0], expected, atol=1e-6))
True
"""
import dataclasses
import json
import os

import numpy as np
import onnx
from onnx import helper

from .._version import __version__
from ..checkpoint import Checkpoint, is_ensemble_file, load_checkpoint, load_ensemble
from ..ensemble import Ensemble
from ..files import atomic_path
from ..layers import InputLayer, Layer, get_all_layers
from ..preprocessing import FeaturePipeline
from . import onnx_spatial  # noqa: F401  (registers the convolution and pooling conversions)
from .onnx_builder import GraphBuilder, tensor_type
from .onnx_layers import UnsupportedLayerError, convert_layer
from .onnx_steps import convert_pipeline

__all__ = ["export_onnx", "to_onnx", "UnsupportedLayerError", "OPSET", "IR_VERSION"]

#: The ONNX operator set the models use (onnxruntime 1.17 and later, SOFIE).
OPSET = 17
#: The IR version written (that of ONNX 1.12, which introduced opset 17), so
#: that older runtimes read the files too.
IR_VERSION = 8
_RAW_DTYPES = ("float64", "float32")


@dataclasses.dataclass
class _Source:
    """What to export: output layers, the pipeline before them, whether to average them."""

    outputs: list
    pipeline: object = None
    average: bool = False
    unreadable_preprocessing: bool = False


def _pipeline_of(state):
    if state is None or not FeaturePipeline.is_state(state):
        return None
    return FeaturePipeline.from_state(state)


def _source(source, key):
    """Return the :class:`_Source` of a network, checkpoint, ensemble, path or estimator."""
    if isinstance(source, (str, os.PathLike)):
        source = (load_ensemble if is_ensemble_file(source) else load_checkpoint)(source, key=key)
    if isinstance(source, Checkpoint):
        found = _Source(source.network, source.pipeline,
                        unreadable_preprocessing=source.preprocessing is not None
                        and source.pipeline is None)
    elif isinstance(source, Ensemble):
        pipeline = _pipeline_of(source.preprocessing)
        found = _Source(list(source.members), pipeline, average=True,
                        unreadable_preprocessing=source.preprocessing is not None
                        and pipeline is None)
    elif hasattr(source, "to_network") and not isinstance(source, Layer):
        found = _Source(source.to_network())
    else:
        found = _Source(source)
    outputs = found.outputs
    found.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    if not found.outputs or not all(isinstance(layer, Layer) for layer in found.outputs):
        raise TypeError("export_onnx takes a Layer, a list of Layers, a Checkpoint, an Ensemble, "
                        "a checkpoint path or a fitted dropout_layers.sklearn estimator, got "
                        f"{type(source).__name__}")
    return found


def _chosen_pipeline(found, preprocess):
    if preprocess is False:
        return None
    if found.pipeline is None and (preprocess is True or found.unreadable_preprocessing):
        raise UnsupportedLayerError(
            "the checkpoint stores no FeaturePipeline to export" if preprocess is True else
            "the checkpoint's stored preprocessing is not a FeaturePipeline, so it cannot be "
            "exported; pass preprocess=False to export the network alone, which then takes "
            "preprocessed features")
    return found.pipeline


def _dims(shape):
    return ["N" if axis == 0 and size is None else (f"d{axis}" if size is None else int(size))
            for axis, size in enumerate(shape)]


def _names(base, count, layers):
    if count == 1:
        return [base]
    names = [layer.name for layer in layers]
    if all(names) and len(set(names)) == len(names):
        return list(names)
    return [f"{base}_{index}" for index in range(count)]


def _shared_input(builder, input_layers, pipeline, input_name, raw_dtype):
    """One graph input (raw events through the pipeline, or features) for every input layer."""
    shapes = {tuple(layer.shape) for layer in input_layers}
    if len(shapes) != 1:
        raise UnsupportedLayerError(f"the ensemble's members take inputs of different shapes "
                                    f"{sorted(shapes, key=str)}")
    name = builder.reserve(input_name)
    if pipeline is None:
        value = helper.make_tensor_value_info(name, tensor_type(builder.dtype),
                                              _dims(input_layers[0].shape))
        return [value], {layer: name for layer in input_layers}
    value = helper.make_tensor_value_info(name, tensor_type(raw_dtype),
                                          ["N", len(pipeline.input_names)])
    network_dtype = builder.dtype
    builder.dtype = np.dtype(raw_dtype)
    features = convert_pipeline(builder, pipeline, name)
    builder.dtype = network_dtype
    if np.dtype(raw_dtype) != network_dtype:
        features = builder.op("Cast", [features], "network_input", to=tensor_type(network_dtype))
    return [value], {layer: features for layer in input_layers}


def _graph_inputs(builder, input_layers, pipeline, input_name, raw_dtype, shared):
    """Name the graph inputs and map each input layer to its tensor (after preprocessing)."""
    if shared or pipeline is not None:
        if pipeline is not None and not shared and len(input_layers) != 1:
            raise UnsupportedLayerError(f"a feature pipeline feeds one input layer, the network "
                                        f"has {len(input_layers)}")
        return _shared_input(builder, input_layers, pipeline, input_name, raw_dtype)
    names = _names(input_name, len(input_layers), input_layers)
    values = [helper.make_tensor_value_info(builder.reserve(name),
                                            tensor_type(layer.input_var.dtype),
                                            _dims(layer.shape))
              for name, layer in zip(names, input_layers)]
    return values, dict(zip(input_layers, names))


def _average(builder, results):
    """Return the plain mean of the members' outputs, as :meth:`Ensemble.predict` takes it."""
    total = results[0]
    for index, result in enumerate(results[1:], start=1):
        total = builder.op("Add", [total, result], f"ensemble.sum{index}")
    count = builder.constant(np.asarray(float(len(results))), "ensemble.members")
    return [builder.op("Div", [total, count], "ensemble.mean")]


def _convert_network(builder, outputs, tensors):
    for layer in get_all_layers(outputs):
        if layer in tensors:
            continue
        if isinstance(layer, InputLayer):
            raise UnsupportedLayerError(f"input layer {layer.name!r} is not an input of the "
                                        "export")
        incoming = getattr(layer, "input_layers", None) or [layer.input_layer]
        tensors[layer] = convert_layer(builder, layer, [tensors[parent] for parent in incoming])
    return [tensors[layer] for layer in outputs]


def _metadata(model, pipeline):
    props = {"producer": "dropout_layers", "dropout_layers_version": __version__}
    if pipeline is not None:
        props["input_columns"] = json.dumps(list(pipeline.input_names))
        props["network_columns"] = json.dumps(list(pipeline.output_names))
    helper.set_model_props(model, props)


def to_onnx(source, input_name="input", output_name="output", raw_dtype="float64", key=None,
            preprocess=None):
    """Build the ONNX model of a network, checkpoint or ensemble, checked, without writing it.

    Parameters
    ----------
    source : Layer, list of Layer, Checkpoint, Ensemble, str or os.PathLike, or estimator
        The output layer(s) of a network; a :class:`~dropout_layers.Checkpoint`,
        an :class:`~dropout_layers.Ensemble` (the mean of its members, as
        its ``predict``) or the path of either file (a stored feature
        pipeline is exported too); or a fitted
        :class:`~dropout_layers.sklearn.DropoutMLPClassifier` or
        ``DropoutMLPRegressor`` (its :meth:`to_network`).
    input_name, output_name : str
        Names of the graph's input and output. Several input or output
        layers take their layer names when these are unique, else
        ``input_0``, ``input_1``, ... (``output_0``, ...).
    raw_dtype : {'float64', 'float32'}
        With a feature pipeline: the dtype of the raw input and of the
        preprocessing. float64 reproduces the pipeline's own arithmetic;
        float32 suits runtimes that compute in float only (such as SOFIE).
    key : bytes or str, optional
        For a file: the HMAC key it was saved with.
    preprocess : None, bool
        None (default): export the stored feature pipeline if there is one,
        and refuse stored preprocessing that is not a pipeline. True:
        require a pipeline. False: export the network alone.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    UnsupportedLayerError
        Naming the first layer (or nonlinearity, or preprocessing step) that
        has no conversion.
    """
    if raw_dtype not in _RAW_DTYPES:
        raise ValueError(f"raw_dtype must be one of {_RAW_DTYPES}, got {raw_dtype!r}")
    found = _source(source, key)
    pipeline = _chosen_pipeline(found, preprocess)
    outputs = found.outputs
    input_layers = [layer for layer in get_all_layers(outputs) if isinstance(layer, InputLayer)]
    builder = GraphBuilder(input_layers[0].input_var.dtype)
    output_layers = outputs[:1] if found.average else outputs
    output_names = [builder.reserve(name)
                    for name in _names(output_name, len(output_layers), output_layers)]
    inputs, tensors = _graph_inputs(builder, input_layers, pipeline, input_name, raw_dtype,
                                    shared=found.average)
    results = _convert_network(builder, outputs, tensors)
    if found.average:
        results = _average(builder, results)
    graph_outputs = []
    for name, layer, result in zip(output_names, output_layers, results):
        builder.op("Identity", [result], name, output=name)
        graph_outputs.append(helper.make_tensor_value_info(name, tensor_type(builder.dtype),
                                                           _dims(layer.output_shape)))
    return _checked_model(builder, inputs, graph_outputs, pipeline)


def _checked_model(builder, inputs, outputs, pipeline):
    """Assemble the graph and the model, with metadata, and run the ONNX checker."""
    graph = helper.make_graph(builder.nodes, "dropout_layers_network", inputs, outputs,
                              initializer=builder.initializers,
                              doc_string="Deterministic network exported by dropout_layers"
                                         + (" with its preprocessing" if pipeline else ""))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="dropout_layers",
                              producer_version=__version__)
    _metadata(model, pipeline)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(source, path, **options):
    """Write the deterministic network of ``source`` as an ONNX file at ``path``.

    Parameters
    ----------
    source
        A network, checkpoint, checkpoint path or fitted estimator, as for
        :func:`to_onnx`.
    path : str or os.PathLike
        The ``.onnx`` file; written atomically (an existing file is replaced
        only once the new one is complete).
    **options
        ``input_name``, ``output_name``, ``raw_dtype``, ``key``,
        ``preprocess``: see :func:`to_onnx`.

    Returns
    -------
    str
        ``path``.
    """
    model = to_onnx(source, **options)
    path = os.fspath(path)
    with atomic_path(path) as temporary:
        onnx.save_model(model, temporary)
    return path
