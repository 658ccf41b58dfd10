"""ONNX export: onnxruntime reproduces the deterministic network and the stored preprocessing."""
import json

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from helpers import REPO, load_script, run_python, run_script

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

import dropout_layers as dl  # noqa: E402
from dropout_layers import nonlinearities as nl  # noqa: E402
from dropout_layers.config import using_floatX  # noqa: E402
from dropout_layers.export.onnx import OPSET, UnsupportedLayerError, to_onnx  # noqa: E402

SCRIPT = REPO / "scripts" / "export_onnx.py"
#: Operators a SOFIE-friendly export may use.
PLAIN_OPS = {"MatMul", "Add", "Mul", "Sub", "Div", "Concat", "Flatten", "Reshape", "Transpose",
             "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "Max", "Min", "Where", "Greater",
             "Equal", "Exp", "Log", "Abs", "Neg", "Cast", "Gather", "Identity", "PRelu"}
#: The standard operators of the convolution and pooling layers.
SPATIAL_OPS = {"Conv", "MaxPool", "AveragePool", "ReduceMean", "ReduceMax", "ReduceMin",
               "ReduceSum"}
#: Largest difference from PyTensor's output: float32 rounding of a few matrix
#: products, or float64 rounding.
TOLERANCE = {"float32": 1e-5, "float64": 1e-10}


def _session(model):
    return onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"])


def _deterministic(outputs, inputs):
    layers = dl.get_all_layers(outputs)
    input_vars = [layer.input_var for layer in layers if isinstance(layer, dl.InputLayer)]
    f = pytensor.function(input_vars, dl.get_output(outputs, deterministic=True))
    result = f(*inputs)
    return result if isinstance(outputs, list) else [result]


def _check(outputs, inputs, dtype, **options):
    model = to_onnx(outputs, **options)
    assert model.opset_import[0].version == OPSET
    assert {node.op_type for node in model.graph.node} <= PLAIN_OPS | SPATIAL_OPS
    feed = {value.name: x for value, x in zip(model.graph.input, inputs)}
    got = _session(model).run(None, feed)
    expected = _deterministic(outputs, inputs)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype == np.dtype(dtype)
        assert a.shape == b.shape
        assert np.max(np.abs(a - b)) <= TOLERANCE[dtype]
    return model


def _mlp(n_in):
    l_in = dl.InputLayer((None, n_in), name="features")
    layer = dl.SwitchDropoutLayer(l_in, p=0.2, name="input_dropout")
    layer = dl.ReLUDenseLayer(layer, 16, name="hidden1")
    layer = dl.SwitchDropoutLayer(layer, p=0.5, name="drop1")
    layer = dl.ReLUDenseLayer(layer, 8, leakiness=0.1, name="hidden2")
    layer = dl.DropoutLayer(layer, p=0.5, name="drop2")
    return dl.DenseLayer(layer, 1, nonlinearity=nl.sigmoid, name="score")


def _nonlinearities(n_in):
    layer = dl.InputLayer((None, n_in))
    for index, function in enumerate([nl.tanh, nl.ScaledTanH(2 / 3, 1.7159), nl.elu, nl.selu,
                                      nl.softplus, nl.very_leaky_rectify, nl.rectify,
                                      nl.linear]):
        layer = dl.DenseLayer(layer, 12, nonlinearity=function, name=f"dense{index}",
                              b=dl.init.Normal(0.5))
    layer = dl.GaussianNoiseLayer(layer, sigma=0.3)
    return dl.DenseLayer(layer, 4, nonlinearity=nl.softmax, name="classes")


def _merges(n_in):
    l_in = dl.InputLayer((None, n_in))
    a = dl.ReLUDenseLayer(dl.GaussianDropoutLayer(l_in, p=0.3), 10, name="a")
    b = dl.DenseLayer(dl.AlphaDropoutLayer(l_in, p=0.1), 10, nonlinearity=nl.selu, name="b")
    c = dl.DropConnectDenseLayer(l_in, 10, p=0.5, nonlinearity=nl.tanh, name="c")
    joined = dl.ConcatLayer([a, b, c], name="joined")
    total = dl.ElemwiseSumLayer([a, b, c], coeffs=[1.0, -0.5, 2.0], name="total")
    product = dl.ElemwiseMergeLayer([a, c], pt.mul, name="product")
    biggest = dl.ElemwiseMergeLayer([total, product, b], pt.maximum, name="biggest")
    smallest = dl.ElemwiseMergeLayer([total, b], pt.minimum, name="smallest")
    difference = dl.ElemwiseMergeLayer([biggest, smallest], pt.sub, name="difference")
    nin = dl.NINLayer(dl.ConcatLayer([joined, difference]), 6, nonlinearity=nl.leaky_rectify)
    return dl.DenseLayer(nin, 1, nonlinearity=None, name="output")


def _leading_axes(n_in):
    l_in = dl.InputLayer((None, 3, n_in))
    per_step = dl.DenseLayer(l_in, 5, num_leading_axes=2, name="per_step")
    nin = dl.NINLayer(per_step, 4, untie_biases=True, b=dl.init.Normal(1.0), name="nin")
    return dl.DenseLayer(dl.SwitchDropoutLayer(nin, p=0.5), 2, nonlinearity=nl.sigmoid,
                         name="flat")


def _layer_class(name):
    cls = getattr(dl.layers, name, None)
    if cls is None:
        pytest.skip(f"dropout_layers.layers has no {name} in this tree")
    return cls


def _special(n_in):
    L = _layer_class
    layer = dl.DenseLayer(dl.InputLayer((None, n_in)), 12, nonlinearity=None)
    layer = L("ReshapeLayer")(layer, ([0], 3, 4))
    layer = L("BiasLayer")(layer, b=dl.init.Normal(1.0))
    layer = L("ScaleLayer")(layer, scales=dl.init.Normal(1.0), shared_axes=(0,))
    layer = L("ParametricRectifierLayer")(layer, alpha=dl.init.Uniform((0.1, 0.4)))
    layer = L("NonlinearityLayer")(layer, nonlinearity=nl.tanh)
    layer = L("FlattenLayer")(layer)
    return dl.DenseLayer(layer, 2, nonlinearity=nl.softmax)


def _convolutions(n_in):
    L = _layer_class
    l_in = dl.InputLayer((None, 2, n_in, n_in))
    layer = L("Conv2DLayer")(l_in, 4, 3, pad="same", b=dl.init.Normal(0.5))
    layer = L("MaxPool2DLayer")(layer, 2)
    layer = L("Conv2DLayer")(layer, 4, 2, stride=2, pad="full", untie_biases=True,
                             flip_filters=False, num_groups=2, b=dl.init.Normal(0.5))
    layer = L("BatchNormLayer")(layer)
    rng = np.random.default_rng(5)
    layer.mean.set_value(rng.normal(size=4).astype(layer.mean.dtype))
    layer.inv_std.set_value(rng.uniform(0.5, 2, size=4).astype(layer.inv_std.dtype))
    layer = L("Pool2DLayer")(layer, 2, pad=(1, 1), mode="average_exc_pad")
    layer = L("GlobalPoolLayer")(layer)
    return dl.DenseLayer(layer, 1, nonlinearity=nl.sigmoid)


def _sequences(n_in):
    L = _layer_class
    layer = L("Conv1DLayer")(dl.InputLayer((None, 3, n_in)), 4, 3, nonlinearity=nl.elu)
    layer = L("MaxPool1DLayer")(layer, 3, ignore_border=False)
    layer = L("Pool1DLayer")(layer, 2, stride=1, mode="average_inc_pad")
    return dl.DenseLayer(L("GlobalPoolLayer")(layer, pool_function=pt.max), 1, nonlinearity=None)


ARCHITECTURES = {"mlp": (_mlp, (7,)), "nonlinearities": (_nonlinearities, (5,)),
                 "merges": (_merges, (6,)), "leading_axes": (_leading_axes, (3, 4)),
                 "special": (_special, (6,)), "convolutions": (_convolutions, (2, 9, 9)),
                 "sequences": (_sequences, (3, 10))}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_exported_networks_match_the_deterministic_output(architecture, dtype):
    build, feature_shape = ARCHITECTURES[architecture]
    if dtype == "float64" and architecture in ("convolutions", "sequences"):
        pytest.skip("onnxruntime's CPU provider has no float64 Conv kernel")
    with using_floatX(dtype), dl.random.seeded(0):
        network = build(feature_shape[-1])
    X = np.random.default_rng(1).normal(size=(64,) + feature_shape).astype(dtype)
    model = _check(network, [X], dtype)
    if architecture not in ("convolutions", "sequences"):
        assert {node.op_type for node in model.graph.node} <= PLAIN_OPS
    assert [value.name for value in model.graph.input] == ["input"]
    assert [value.name for value in model.graph.output] == ["output"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_dropout_is_left_out():
    with dl.random.seeded(0):
        model = to_onnx(_mlp(7))
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["MatMul", "Add", "Relu", "MatMul", "Add", "LeakyRelu", "MatMul", "Add",
                   "Sigmoid", "Identity"]


def test_several_inputs_and_outputs_take_the_layer_names():
    with dl.random.seeded(0):
        jets = dl.InputLayer((None, 4), name="jets")
        leptons = dl.InputLayer((None, 3), name="leptons")
        merged = dl.ConcatLayer([dl.ReLUDenseLayer(jets, 8), dl.ReLUDenseLayer(leptons, 8)])
        signal = dl.DenseLayer(merged, 1, nonlinearity=nl.sigmoid, name="signal")
        process = dl.DenseLayer(merged, 3, nonlinearity=nl.softmax, name="process")
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(10, 4)).astype("float32"),
              rng.normal(size=(10, 3)).astype("float32")]
    model = _check([signal, process], inputs, "float32")
    assert [v.name for v in model.graph.input] == ["jets", "leptons"]
    assert [v.name for v in model.graph.output] == ["signal", "process"]


def test_unsupported_layers_are_named():
    class Squash(dl.Layer):
        def get_output_for(self, input, **kwargs):
            return input ** 2

    class MyDense(dl.DenseLayer):
        pass

    l_in = dl.InputLayer((None, 3))
    with pytest.raises(UnsupportedLayerError, match=r"layer 'squash' \(Squash\)"):
        to_onnx(dl.DenseLayer(Squash(l_in, name="squash"), 1))
    # A subclass may compute something else: it is not taken for its parent.
    with pytest.raises(UnsupportedLayerError, match=r"layer 'mine' \(MyDense\)"):
        to_onnx(MyDense(l_in, 2, name="mine"))
    with pytest.raises(UnsupportedLayerError, match=r"layer 'odd' \(DenseLayer\): its "
                                                    r"nonlinearity"):
        to_onnx(dl.DenseLayer(l_in, 2, nonlinearity=lambda x: x ** 3, name="odd"))


def _higgs_checkpoint(path, n_events=3000):
    from dropout_layers_higgs.preprocessing import HiggsPreprocessor
    from dropout_layers_higgs.synthetic import generate_toy_higgs

    data = generate_toy_higgs(n_events, seed=3)
    preprocessor = HiggsPreprocessor(drop_phi=True).fit(data.X[:2000], data.feature_names)
    features = preprocessor.transform(data.X[:2000], data.feature_names)
    with dl.random.seeded(0):
        hidden = dl.ReLUDenseLayer(dl.InputLayer((None, features.shape[1]), name="input"), 32)
        network = dl.DenseLayer(dl.SwitchDropoutLayer(hidden, p=0.5), 1, nonlinearity=nl.sigmoid,
                                name="score")
    dl.fit(network, features, data.y[:2000].astype("float32"), epochs=2, learning_rate=0.01,
           verbose=False, mode="FAST_COMPILE")
    dl.save_checkpoint(path, network, preprocessing=preprocessor.get_state())
    return data.X[2000:], list(data.feature_names)


@pytest.mark.parametrize("raw_dtype", ["float64", "float32"])
def test_higgs_checkpoint_reproduces_predict_on_raw_events(tmp_path, raw_dtype):
    path = tmp_path / "model.h5"
    raw, names = _higgs_checkpoint(path)
    assert (raw == -999.0).any()            # the missing-value markers go through the graph
    checkpoint = dl.load_checkpoint(path)
    assert checkpoint.pipeline is not None
    out = dl.export_onnx(path, tmp_path / "model.onnx", raw_dtype=raw_dtype)
    model = onnx.load(out)
    assert {node.op_type for node in model.graph.node} <= PLAIN_OPS
    assert json.loads({p.key: p.value for p in model.metadata_props}["input_columns"]) == names
    session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    got = session.run(["output"], {"input": raw.astype(raw_dtype)})[0]
    expected = checkpoint.predict(raw)
    assert got.shape == expected.shape == (len(raw), 1)
    assert np.max(np.abs(got - expected)) <= 1e-5


def test_ensemble_file_is_the_mean_of_its_members(tmp_path):
    from dropout_layers.preprocessing import FeaturePipeline, Log1p, Standardize

    pipeline = FeaturePipeline(["a", "b", "c"], [Log1p([0]), Standardize([1, 2], [1.0, -2.0],
                                                                        [2.0, 0.5])])
    members = []
    for seed in range(3):
        with dl.random.seeded(seed):
            hidden = dl.SwitchDropoutLayer(dl.ReLUDenseLayer(dl.InputLayer((None, 3)), 8), p=0.5)
            members.append(dl.DenseLayer(hidden, 1, nonlinearity=nl.sigmoid))
    dl.save_ensemble(tmp_path / "ensemble.h5", dl.Ensemble(members,
                                                           preprocessing=pipeline.get_state()))
    model = to_onnx(tmp_path / "ensemble.h5")
    raw = np.random.default_rng(4).uniform(-1, 5, size=(50, 3))
    got = _session(model).run(None, {"input": raw})[0]
    expected = dl.load_ensemble(tmp_path / "ensemble.h5").predict(raw)
    assert got.shape == expected.shape == (50, 1)
    assert np.max(np.abs(got - expected)) <= 1e-6
    assert [node.op_type for node in model.graph.node].count("MatMul") == 6


def test_preprocessing_that_is_no_pipeline_is_refused_unless_left_out(tmp_path):
    with dl.random.seeded(0):
        network = _mlp(7)
    dl.save_checkpoint(tmp_path / "model.h5", network, preprocessing={"scale": np.ones(7)})
    with pytest.raises(UnsupportedLayerError, match="preprocess=False"):
        to_onnx(tmp_path / "model.h5")
    model = to_onnx(tmp_path / "model.h5", preprocess=False)
    assert model.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 7
    with pytest.raises(UnsupportedLayerError, match="no FeaturePipeline"):
        to_onnx(network, preprocess=True)


def test_sklearn_estimator_exports_its_probabilities(tmp_path):
    sklearn = pytest.importorskip("dropout_layers.sklearn")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > X[:, 1]).astype(int)
    model = sklearn.DropoutMLPClassifier(hidden_layer_sizes=(8,), max_iter=5,
                                         random_state=0).fit(X, y)
    session = _session(to_onnx(model))
    got = session.run(None, {"input": X.astype("float32")})[0][:, 0]
    assert np.max(np.abs(got - model.predict_proba(X)[:, 1])) <= 1e-5


def test_import_dropout_layers_does_not_import_onnx():
    proc = run_python("import sys, dropout_layers as dl; print(callable(dl.export_onnx), "
                      "[m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "[]"]


def test_script_exports_a_checkpoint(tmp_path):
    with dl.random.seeded(0):
        network = _mlp(7)
    dl.save_checkpoint(tmp_path / "model.h5", network)
    proc = run_script(SCRIPT, tmp_path / "model.h5", tmp_path / "model.onnx", "--output-name",
                      "score", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and "opset 17" in proc.stdout
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"),
                                           providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["score"]
    X = np.random.default_rng(0).normal(size=(8, 7)).astype("float32")
    expected = dl.load_checkpoint(tmp_path / "model.h5").predict(X)
    assert np.max(np.abs(session.run(None, {"input": X})[0] - expected)) <= 1e-5


def _script_main():
    return load_script(SCRIPT).main


def test_script_errors_are_one_line(tmp_path, capsys):
    main = _script_main()
    (tmp_path / "broken.h5").write_bytes(b"not a checkpoint")
    for source in [tmp_path / "missing.h5", tmp_path / "broken.h5"]:
        assert main([str(source), str(tmp_path / "out.onnx")]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("export_onnx.py: error: ")
        assert str(source) in lines[0]
    assert main([str(tmp_path / "missing.h5"), "out.onnx", "--key-env", "NO_SUCH_VARIABLE"]) == 2
    assert "NO_SUCH_VARIABLE is not set" in capsys.readouterr().err
    assert not (tmp_path / "out.onnx").exists()
