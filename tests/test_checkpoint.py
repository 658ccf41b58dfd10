"""HDF5 checkpoints: round trips, plain-h5py layout, atomic writes and bad files."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import h5py
import numpy as np
import pytensor
import pytest
from checkpoint_helpers import edit
from helpers import run_python

import dropout_layers as dl
from dropout_layers import checkpoint as ckpt
from dropout_layers import updates
from dropout_layers.checkpoint import save as ckpt_save
from dropout_layers.ensemble import Ensemble
from dropout_layers.files import TEMPORARY_PATTERN, remove_stale_temporaries
from dropout_layers.layers import Layer
from dropout_layers_higgs.preprocessing import HiggsPreprocessor

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------


def build_mlp(n_in=6, hidden=(8, 8), p=0.5, name_hidden=True):
    """A sigmoid MLP with dropout; hidden layers named or not."""
    layer = dl.InputLayer((None, n_in), name="input")
    for i, units in enumerate(hidden, start=1):
        layer = dl.ReLUDenseLayer(layer, units, name=f"hidden{i}" if name_hidden else None)
        layer = dl.SwitchDropoutLayer(layer, p=p, name=f"dropout{i}" if name_hidden else None)
    return dl.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid, name="output")


def build_dag():
    """Two outputs over a graph with a shared input, a concat and a weighted sum."""
    l_in = dl.InputLayer((None, 5), name="x")
    a = dl.DenseLayer(l_in, 4, name="a")
    b = dl.ReLUDenseLayer(l_in, 3)  # unnamed: stored as re_lu_dense_2
    concat = dl.ConcatLayer([a, b], axis=1)
    side = dl.DenseLayer(l_in, 7, nonlinearity=dl.nonlinearities.tanh, b=None, name="side")
    total = dl.ElemwiseSumLayer([concat, side], coeffs=[1.0, -0.5], name="sum")
    dropped = dl.DropoutLayer(total, p=0.3, name="drop")
    out1 = dl.DenseLayer(dropped, 2, nonlinearity=dl.nonlinearities.softmax, name="probs")
    out2 = dl.DenseLayer(a, 1, nonlinearity=None, name="score")
    return [out1, out2]


def param_values(network):
    return [p.get_value() for p in dl.get_all_params(network)]


def compile_predict(network):
    outputs = network if isinstance(network, list) else [network]
    inputs = [lyr.input_var for lyr in dl.get_all_layers(outputs) if isinstance(lyr, dl.InputLayer)]
    return dl.function(inputs, dl.get_output(outputs, deterministic=True))


@pytest.fixture
def float64():
    previous = dl.get_floatX()
    dl.set_floatX("float64")
    yield
    dl.set_floatX(previous)


@pytest.fixture
def saved_mlp(tmp_path):
    network = build_mlp()
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(
        path, network, metadata={"note": "test"}, history=[{"epoch": 1, "loss": 0.5}]
    )
    return path, network


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------

ROUND_TRIP_CHILD = r"""
import json, sys
import numpy as np
import dropout_layers as dl
from dropout_layers.checkpoint import load_checkpoint

before = dl.get_rng().get_state(legacy=False)
results = {}
for name in sys.argv[1:]:
    expected = np.load(name + ".npz")
    checkpoint = load_checkpoint(name + ".h5")
    inputs = [expected[f"x{i}"] for i in range(len(checkpoint.input_layers))]
    outputs = checkpoint.predict(inputs if len(inputs) > 1 else inputs[0])
    outputs = outputs if isinstance(outputs, list) else [outputs]
    results[name] = {
        "dtypes": [str(o.dtype) for o in outputs],
        "bit_equal": [o.dtype == expected[f"y{i}"].dtype
                      and o.tobytes() == expected[f"y{i}"].tobytes()
                      for i, o in enumerate(outputs)],
        "params_equal": all(np.array_equal(p.get_value(), expected[f"p{i}"])
                            and p.dtype == expected[f"p{i}"].dtype
                            for i, p in enumerate(dl.get_all_params(checkpoint.network))),
        "layers": list(checkpoint.layers),
    }
after = dl.get_rng().get_state(legacy=False)
results["global_rng_untouched"] = bool(np.array_equal(before["state"]["key"],
                                                      after["state"]["key"]))
results["model_code_imported"] = sorted(m for m in sys.modules
                                        if m == "models" or m.startswith(("models.", "test")))
print(json.dumps(results))
"""


def _save_case(directory, name, network, X):
    """Save ``network`` and its deterministic outputs for ``X`` for the child process."""
    X = X if isinstance(X, list) else [X]
    outputs = compile_predict(network)(*X)
    ckpt.save_checkpoint(directory / f"{name}.h5", network)
    arrays = {f"x{i}": x for i, x in enumerate(X)}
    arrays.update({f"y{i}": y for i, y in enumerate(outputs)})
    arrays.update({f"p{i}": p for i, p in enumerate(param_values(network))})
    np.savez(directory / f"{name}.npz", **arrays)


def test_round_trip_in_fresh_process_is_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    _save_case(
        tmp_path,
        "mlp32",
        build_mlp(name_hidden=False),
        rng.standard_normal((17, 6)).astype("float32"),
    )
    _save_case(tmp_path, "dag32", build_dag(), rng.standard_normal((9, 5)).astype("float32"))
    previous = dl.get_floatX()
    dl.set_floatX("float64")
    try:
        _save_case(tmp_path, "mlp64", build_mlp(), rng.standard_normal((17, 6)))
    finally:
        dl.set_floatX(previous)

    proc = run_python(ROUND_TRIP_CHILD, "mlp32", "dag32", "mlp64", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["mlp32"]["dtypes"] == ["float32"]
    assert results["mlp64"]["dtypes"] == ["float64"]
    assert results["dag32"]["dtypes"] == ["float32", "float32"]
    for name in ("mlp32", "mlp64", "dag32"):
        assert all(results[name]["bit_equal"]), name
        assert results[name]["params_equal"], name
    assert results["mlp32"]["layers"] == [
        "input",
        "re_lu_dense_1",
        "switch_dropout_2",
        "re_lu_dense_3",
        "switch_dropout_4",
        "output",
    ]
    assert results["global_rng_untouched"]
    assert results["model_code_imported"] == []


def test_dag_wiring_and_outputs_are_rebuilt(tmp_path):
    network = build_dag()
    path = tmp_path / "dag.h5"
    ckpt.save_checkpoint(path, network)
    loaded = ckpt.load_checkpoint(path)

    assert isinstance(loaded.network, list) and [lyr.name for lyr in loaded.network] == [
        "probs",
        "score",
    ]
    original_layers = dl.get_all_layers(network)
    rebuilt_layers = list(loaded.layers.values())
    assert [type(lyr) for lyr in rebuilt_layers] == [type(lyr) for lyr in original_layers]
    assert [lyr.output_shape for lyr in rebuilt_layers] == [
        lyr.output_shape for lyr in original_layers]
    layers = loaded.layers
    # The input is shared by three layers, and "a" feeds both the concat and an output.
    assert layers["a"].input_layer is layers["x"] and layers["side"].input_layer is layers["x"]
    assert layers["concat_3"].input_layers == [layers["a"], layers["re_lu_dense_2"]]
    assert layers["score"].input_layer is layers["a"]
    assert layers["sum"].coeffs == [1.0, -0.5] and layers["side"].b is None
    for original, rebuilt in zip(param_values(network), param_values(loaded.network)):
        np.testing.assert_array_equal(original, rebuilt)


def test_loading_keeps_global_rng_and_floatx(saved_mlp, float64):
    path, _ = saved_mlp
    state = dl.get_rng().get_state(legacy=False)
    loaded = ckpt.load_checkpoint(path)
    assert dl.get_floatX() == "float64"
    assert np.array_equal(
        dl.get_rng().get_state(legacy=False)["state"]["key"], state["state"]["key"]
    )
    # The network is rebuilt as it was saved, in float32.
    assert loaded.input_var.dtype == "float32"
    assert all(p.dtype == "float32" for p in dl.get_all_params(loaded.network))


@dl.register_layer
class CheckpointTestScaleLayer(Layer):
    """Multiplies by a learned per-feature scale plus a fixed offset."""

    def __init__(self, incoming, offset=0.0, name=None):
        super().__init__(incoming, name=name)
        self.offset = offset
        self.scale = self.add_param(
            dl.init.Constant(1.0), (self.input_shape[1],), name="scale", regularizable=False
        )

    def get_output_for(self, input, deterministic=False, **kwargs):
        return input * self.scale + self.offset

    def get_config(self):
        return {"offset": self.offset, "name": self.name}


class CheckpointTestUnregisteredLayer(CheckpointTestScaleLayer):
    pass


def test_custom_registered_layer_round_trip(tmp_path):
    l_in = dl.InputLayer((None, 3), name="input")
    network = CheckpointTestScaleLayer(l_in, offset=0.25, name="scaled")
    network.scale.set_value(np.array([0.5, -2.0, 3.0], dtype="float32"))
    path = tmp_path / "custom.h5"
    ckpt.save_checkpoint(path, network)

    loaded = ckpt.load_checkpoint(path)
    assert type(loaded.network) is CheckpointTestScaleLayer and loaded.network.offset == 0.25
    np.testing.assert_array_equal(loaded.network.scale.get_value(), [0.5, -2.0, 3.0])
    assert loaded.network.params[loaded.network.scale] == {"trainable"}
    X = np.arange(6, dtype="float32").reshape(2, 3)
    expected = X * np.float32([0.5, -2.0, 3.0]) + np.float32(0.25)
    np.testing.assert_array_equal(loaded.predict(X), expected)


def test_unregistered_layer_error_names_class_and_how_to_register(tmp_path):
    l_in = dl.InputLayer((None, 3), name="input")
    path = tmp_path / "unregistered.h5"
    ckpt.save_checkpoint(path, CheckpointTestUnregisteredLayer(l_in, name="odd"))
    with pytest.raises(ckpt.UnregisteredLayerError) as info:
        ckpt.load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: layer 'odd' has class 'CheckpointTestUnregisteredLayer'")
    assert "@dropout_layers.register_layer" in message and __name__ in message
    # The weights are still usable in code that defines the class.
    assert ckpt.load_params(CheckpointTestUnregisteredLayer(l_in, name="odd"), path).missing == []


# --------------------------------------------------------------------------
# The layout, as plain h5py sees it
# --------------------------------------------------------------------------


def test_file_is_readable_with_h5py_alone(tmp_path):
    network = build_mlp()
    state = updates.adam(
        dl.get_output(network).mean(), dl.get_all_params(network, trainable=True)
    ).state
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(
        path,
        network,
        optimizer=state,
        metadata={"run": "a"},
        history={"loss": [1.0, 0.5]},
        preprocessing={
            "mean": np.arange(6.0),
            "std": np.ones(6, "float32"),
            "log": True,
            "names": ["a", "b"],
            "version": 2,
            "kind": "standard",
        },
    )
    hidden1 = dl.get_all_layers(network)[1]

    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["params/hidden1/W"][()], hidden1.W.get_value())
        assert f["params/hidden1/W"].dtype == np.float32
        assert (
            f["params/hidden1/W"].attrs["trainable"]
            and f["params/hidden1/W"].attrs["regularizable"]
        )
        assert not f["params/hidden1/b"].attrs["regularizable"]
        assert f["params/hidden1"].attrs["layer_class"] == "ReLUDenseLayer"
        assert f.attrs["format"] == "dropout_layers.checkpoint" and f.attrs["format_version"] == 1
        assert f.attrs["library_version"] == dl.__version__

        assert f.attrs["pytensor_version"] == pytensor.__version__
        assert (
            f.attrs["numpy_version"] == np.__version__
            and f.attrs["h5py_version"] == h5py.__version__
        )
        assert f.attrs["floatX"] == "float32"
        assert (
            datetime.now().astimezone() - datetime.fromisoformat(f.attrs["created"])
        ).total_seconds() < 600
        architecture = json.loads(f.attrs["architecture"])
        assert [entry["name"] for entry in architecture["layers"]] == [
            "input",
            "hidden1",
            "dropout1",
            "hidden2",
            "dropout2",
            "output",
        ]
        assert architecture["layers"][1]["incoming"] == [0] and architecture["outputs"] == [5]
        assert json.loads(f.attrs["metadata"]) == {"run": "a"}
        assert json.loads(f.attrs["history"]) == {"loss": [1.0, 0.5]}
        assert sorted(f["rng"].attrs) == ["dropout1", "dropout2"]
        assert json.loads(f["rng"].attrs["dropout1"])["bit_generator"] == "PCG64"
        assert json.loads(f.attrs["global_rng"])["kind"] == "RandomState"
        assert f["optimizer/t"][()] == 0 and f["optimizer"].attrs["step"] == 0
        assert json.loads(f["optimizer"].attrs["names"]) == state.names()
        assert f["optimizer/0/hidden1.W/m"].shape == (6, 8)
        np.testing.assert_array_equal(f["preprocessing/mean"][()], np.arange(6.0))
        assert f["preprocessing"].attrs["log"] and f["preprocessing"].attrs["kind"] == "standard"


def test_unnamed_layers_get_stable_names_and_duplicates_are_refused(tmp_path):
    network = build_mlp(hidden=(4,), name_hidden=False)
    path = tmp_path / "auto.h5"
    ckpt.save_checkpoint(path, network)
    with h5py.File(path, "r") as f:
        assert list(f["params"]) == ["re_lu_dense_1", "output"]
    # The same code names the same layers alike, so load_params matches them.
    again = build_mlp(hidden=(4,), name_hidden=False)
    assert ckpt.load_params(again, path).loaded == [
        "re_lu_dense_1/W",
        "re_lu_dense_1/b",
        "output/W",
        "output/b",
    ]

    l_in = dl.InputLayer((None, 2), name="input")
    clash = dl.DenseLayer(dl.DenseLayer(l_in, 3, name="dense"), 1, name="dense")
    with pytest.raises(ValueError, match="layers 1 and 2 are both named 'dense'"):
        ckpt.save_checkpoint(tmp_path / "clash.h5", clash)
    assert not (tmp_path / "clash.h5").exists()


def test_optimizer_and_rng_states_round_trip(tmp_path):
    network = build_mlp()
    params = dl.get_all_params(network, trainable=True)
    rule = updates.adam(dl.get_output(network).mean(), params)
    rng = np.random.default_rng(3)
    values = {
        name: rng.standard_normal(v.shape).astype(v.dtype)
        for name, v in rule.state.get_values().items()
    }
    values["t"] = np.asarray(41, dtype=values["t"].dtype)  # the step count, in the rule's dtype
    rule.state.set_values(values)
    dropout1 = dl.get_all_layers(network)[2]
    stream = np.random.default_rng(99)
    stream.random(5)  # a state mid-stream, with the PCG64 128-bit integers
    dropout1.rng.set_value(stream)
    dl.set_rng(np.random.Generator(np.random.PCG64(7)))
    dl.get_rng().standard_normal(3)
    global_state = dl.get_rng().bit_generator.state
    path = tmp_path / "state.h5"
    ckpt.save_checkpoint(path, network, optimizer=rule)

    loaded = ckpt.load_checkpoint(path)
    assert list(loaded.optimizer_state) == rule.state.names()
    for name, value in values.items():
        assert loaded.optimizer_state[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded.optimizer_state[name], value)
    assert (
        loaded.layers["dropout1"].rng.get_value().bit_generator.state == stream.bit_generator.state
    )
    assert loaded.global_rng_state == {"kind": "Generator", "state": global_state}

    # Restore everything into a fresh network and rule built in code.
    dl.set_rng(np.random.RandomState(0))
    fresh = build_mlp()
    fresh_rule = updates.adam(dl.get_output(fresh).mean(), dl.get_all_params(fresh, trainable=True))
    restored = ckpt.restore_training_state(path, fresh, fresh_rule)
    for name, value in values.items():
        np.testing.assert_array_equal(fresh_rule.state[name].get_value(), value)
    for a, b in zip(param_values(network), param_values(fresh)):
        np.testing.assert_array_equal(a, b)
    assert (
        dl.get_all_layers(fresh)[2].rng.get_value().bit_generator.state
        == stream.bit_generator.state
    )
    assert (
        isinstance(dl.get_rng(), np.random.Generator)
        and dl.get_rng().bit_generator.state == global_state
    )
    assert restored.network is fresh and restored.exact_resume


def test_global_random_state_is_restored_in_place(saved_mlp):
    path, network = saved_mlp
    saved = ckpt.load_checkpoint(path).global_rng_state
    current = dl.get_rng()
    current.standard_normal(100)
    ckpt.restore_training_state(path, network)
    assert dl.get_rng() is current
    state = current.get_state(legacy=False)
    np.testing.assert_array_equal(state["state"]["key"], saved["state"]["state"]["key"])
    assert state["state"]["pos"] == saved["state"]["state"]["pos"]


def test_restore_rng_rewinds_layer_streams_and_global_rng(saved_mlp):
    path, network = saved_mlp
    stored_stream = dl.get_all_layers(network)[2].rng.get_value().bit_generator.state
    loaded = ckpt.load_checkpoint(path)
    stream = loaded.layers["dropout1"].rng
    assert stream.get_value().bit_generator.state == stored_stream
    stream.set_value(np.random.default_rng(123))
    dl.set_rng(np.random.RandomState(5))
    loaded.restore_rng(global_rng=False)
    assert stream.get_value().bit_generator.state == stored_stream
    assert (
        dl.get_rng().get_state(legacy=False)["state"]["key"][0]
        == np.random.RandomState(5).get_state()[1][0]
    )
    loaded.restore_rng()
    np.testing.assert_array_equal(
        dl.get_rng().get_state(legacy=False)["state"]["key"],
        loaded.global_rng_state["state"]["state"]["key"],
    )


def test_preprocessing_round_trip(tmp_path):
    preprocessing = {
        "mean": np.array([1.5, -2.0]),
        "counts": np.array([3, 4], dtype="int32"),
        "mask": np.array([True, False]),
        "names": np.array(["pt", "eta"]),
        "columns": ["pt", "eta"],
        "threshold": 0.25,
        "epochs": 3,
        "log": False,
        "kind": "standard",
        "missing": None,
        "nested": {"floor": np.float32(1e-6), "keep": [0, 1]},
    }
    path = tmp_path / "pre.h5"
    ckpt.save_checkpoint(path, build_mlp(), preprocessing=preprocessing)
    loaded = ckpt.load_checkpoint(path).preprocessing
    assert set(loaded) == set(preprocessing)
    for key in ("mean", "counts", "mask", "names"):
        assert loaded[key].dtype == preprocessing[key].dtype
        np.testing.assert_array_equal(loaded[key], preprocessing[key])
    for key in ("columns", "threshold", "epochs", "log", "kind", "missing"):
        assert loaded[key] == preprocessing[key] and type(loaded[key]) is type(preprocessing[key])
    assert loaded["nested"]["keep"] == [0, 1]
    assert (
        loaded["nested"]["floor"] == np.float32(1e-6)
        and loaded["nested"]["floor"].dtype == np.float32
    )


def test_higgs_preprocessor_state_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = np.abs(rng.standard_normal((50, 3))) * [1.0, 10.0, 100.0]
    X[::7, 1] = -999.0
    preprocessor = HiggsPreprocessor().fit(X, ["DER_mass_MMC", "PRI_tau_pt", "PRI_jet_leading_pt"])
    path = tmp_path / "higgs.h5"
    ckpt.save_checkpoint(
        path, build_mlp(n_in=len(preprocessor.output_names)), preprocessing=preprocessor
    )
    restored = HiggsPreprocessor.from_state(ckpt.load_checkpoint(path).preprocessing)
    np.testing.assert_array_equal(restored.transform(X), preprocessor.transform(X))


def test_compression_options_keep_values(tmp_path):
    network = build_mlp(hidden=(40, 40))
    sizes = {}
    for compression in (None, "gzip", "lzf"):
        path = tmp_path / f"{compression}.h5"
        ckpt.save_checkpoint(path, network, compression=compression)
        with h5py.File(path, "r") as f:
            assert f["params/hidden2/W"].compression == compression
            assert f.attrs["compression"] == (compression or "none")
        for a, b in zip(param_values(network), param_values(ckpt.load_checkpoint(path).network)):
            np.testing.assert_array_equal(a, b)
        sizes[compression] = path.stat().st_size
    with pytest.raises(ValueError, match="compression must be one of"):
        ckpt.save_checkpoint(tmp_path / "x.h5", network, compression="zstd")


def test_float16_weights(tmp_path):
    network = build_mlp()
    path = tmp_path / "half.h5"
    ckpt.save_checkpoint(path, network, weights_dtype="float16")
    with h5py.File(path, "r") as f:
        assert f["params/hidden1/W"].dtype == np.float16
        assert f["params/hidden1/W"].attrs["dtype"] == "float32"
        assert f.attrs["weights_dtype"] == "float16" and not f.attrs["exact_resume"]
    loaded = ckpt.load_checkpoint(path)
    assert not loaded.exact_resume
    for original, rebuilt in zip(param_values(network), param_values(loaded.network)):
        assert rebuilt.dtype == np.float32
        np.testing.assert_array_equal(rebuilt, original.astype(np.float16).astype(np.float32))
        # float16 keeps 11 significant bits: relative error at most 2**-11 in the normal range.
        normal = np.abs(original) > np.finfo(np.float16).tiny
        assert np.all(np.abs(rebuilt - original)[normal] <= np.abs(original[normal]) * 2.0**-11)

    with pytest.raises(
        ckpt.IncompatibleCheckpointError,
        match="float16 weights, which cannot resume training exactly; pass allow_inexact=True",
    ):
        ckpt.restore_training_state(path, network)
    with pytest.warns(RuntimeWarning, match="resuming from rounded weights"):
        ckpt.restore_training_state(path, network, allow_inexact=True)

    dl.get_all_layers(network)[1].W.set_value(np.full((6, 8), 7e4, dtype="float32"))
    with pytest.raises(ValueError, match=r"/params/hidden1/W: values up to 70000 overflow float16"):
        ckpt.save_checkpoint(tmp_path / "overflow.h5", network, weights_dtype="float16")


def test_load_params_strict_and_lenient(saved_mlp):
    path, network = saved_mlp
    same = build_mlp()
    report = ckpt.load_params(same, path)
    assert report.missing == [] and report.unexpected == [] and len(report.loaded) == 6
    for a, b in zip(param_values(network), param_values(same)):
        np.testing.assert_array_equal(a, b)

    bigger = build_mlp(hidden=(8, 8, 8))
    with pytest.raises(
        ckpt.IncompatibleCheckpointError,
        match=r"missing from the file \['hidden3/W', 'hidden3/b'\], not in the network \[\]",
    ):
        ckpt.load_params(bigger, path)
    before = param_values(bigger)
    report = ckpt.load_params(bigger, path, strict=False)
    assert (
        report.missing == ["hidden3/W", "hidden3/b"]
        and report.unexpected == []
        and len(report.loaded) == 6
    )
    np.testing.assert_array_equal(dl.get_all_layers(bigger)[5].W.get_value(), before[4])
    # The output layer now takes 8 inputs from hidden3 and matched too.
    np.testing.assert_array_equal(bigger.W.get_value(), network.W.get_value())

    wider = build_mlp(hidden=(9, 8))
    with pytest.raises(
        ckpt.ShapeMismatchError,
        match=r"dataset '/params/hidden1/W' has shape \(6, 8\) but the network's parameter has "
        r"shape \(6, 9\)",
    ):
        ckpt.load_params(wider, path)
    untouched = param_values(wider)
    report = ckpt.load_params(wider, path, strict=False)
    assert report.mismatched == ["hidden1/W", "hidden1/b", "hidden2/W"]
    np.testing.assert_array_equal(dl.get_all_layers(wider)[1].W.get_value(), untouched[0])
    np.testing.assert_array_equal(wider.W.get_value(), network.W.get_value())


def test_ensemble_round_trip(tmp_path):
    members = [build_mlp(), build_mlp()]
    ensemble = Ensemble(
        members, preprocessing={"mean": np.arange(6.0)}, threshold=0.3, metadata={"folds": 2}
    )
    path = tmp_path / "ensemble.h5"
    ckpt.save_ensemble(path, ensemble)
    assert ckpt.is_ensemble_file(path)
    loaded = ckpt.load_ensemble(path)
    assert isinstance(loaded, Ensemble) and len(loaded) == 2
    assert loaded.threshold == 0.3 and loaded.metadata == {"folds": 2}
    np.testing.assert_array_equal(loaded.preprocessing["mean"], np.arange(6.0))
    for original, rebuilt in zip(members, loaded.members):
        for a, b in zip(param_values(original), param_values(rebuilt)):
            np.testing.assert_array_equal(a, b)
        assert (
            dl.get_all_layers(rebuilt)[2].rng.get_value().bit_generator.state
            == dl.get_all_layers(original)[2].rng.get_value().bit_generator.state
        )


# --------------------------------------------------------------------------
# Safe writes
# --------------------------------------------------------------------------


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _temp_files(directory):
    return sorted(p.name for p in Path(directory).iterdir() if TEMPORARY_PATTERN.match(p.name))


def test_injected_failure_leaves_old_file_and_no_temp_file(saved_mlp, monkeypatch):
    path, network = saved_mlp
    before = _digest(path)
    written = []

    create_dataset = ckpt_save._create_dataset

    def fail_after_first_dataset(*args):
        written.append(create_dataset(*args).name)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ckpt_save, "_create_dataset", fail_after_first_dataset)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ckpt.save_checkpoint(path, build_mlp(hidden=(30, 30)))
    assert written == ["/params/hidden1/W"]
    assert _digest(path) == before and _temp_files(path.parent) == []
    assert ckpt.load_checkpoint(path).metadata == {"note": "test"}


def test_successful_overwrite_is_complete_and_keeps_file_mode(saved_mlp):
    path, _ = saved_mlp
    os.chmod(path, 0o640)
    network = build_mlp(hidden=(3,))
    ckpt.save_checkpoint(path, network)
    assert _temp_files(path.parent) == [] and (path.stat().st_mode & 0o777) == 0o640
    assert list(ckpt.load_checkpoint(path).layers) == ["input", "hidden1", "dropout1", "output"]


KILLED_CHILD = r"""
import sys, time
from pathlib import Path
import numpy as np
import dropout_layers as dl
from dropout_layers.checkpoint import save as ckpt_save

l_in = dl.InputLayer((None, 4000), name="input")
network = dl.DenseLayer(dl.DenseLayer(l_in, 4000, name="big"), 1, name="output")
marker = Path(sys.argv[2])

create_dataset = ckpt_save._create_dataset

def stall(*args):
    marker.write_text(create_dataset(*args).name)
    time.sleep(120)

ckpt_save._create_dataset = stall
ckpt_save.save_checkpoint(sys.argv[1], network)
"""


def test_kill_during_save_leaves_previous_checkpoint(saved_mlp, tmp_path):
    path, _ = saved_mlp
    before = _digest(path)
    marker = tmp_path / "writing"
    with subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(path), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd="/",
    ) as child:
        try:
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert child.poll() is None, child.stderr.read().decode()
                assert time.monotonic() < deadline, "the child never started writing"
                time.sleep(0.05)
            # The child has written the 4000x4000 weights and stalls before the rest.
            assert marker.read_text() == "/params/big/W"
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    assert child.returncode == -signal.SIGKILL
    assert _digest(path) == before
    assert ckpt.load_checkpoint(path).metadata == {"note": "test"}
    # Only the killed save's temporary file is left, under a hidden name.
    leftovers = _temp_files(path.parent)
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.") and ".tmp" in leftovers[0]
    assert (path.parent / leftovers[0]).stat().st_size > 4000 * 4000 * 4
    # Its writer is gone, so a later run may remove it; the checkpoint stays.
    assert remove_stale_temporaries(path.parent) == [str(path.parent / leftovers[0])]
    assert _temp_files(path.parent) == [] and _digest(path) == before


# --------------------------------------------------------------------------
# Bad files
# --------------------------------------------------------------------------


def _replace_with_wrong_shape(f):
    del f["params/hidden1/W"]
    f["params/hidden1/W"] = np.zeros((6, 5), dtype="float32")


def _plain_hdf5(path):
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)


BAD_FILES = {
    "missing": (None, ckpt.CheckpointNotFoundError, "no such file"),
    "text": (
        lambda p: p.write_text("epoch,loss\n1,0.5\n"),
        ckpt.NotACheckpointError,
        "not an HDF5 file",
    ),
    "empty": (
        lambda p: p.write_bytes(b""),
        ckpt.NotACheckpointError,
        "empty file, not an HDF5 checkpoint",
    ),
    "plain_hdf5": (
        _plain_hdf5,
        ckpt.UnverifiedCheckpointError,
        "an HDF5 file without a dropout_layers checkpoint header, so its size and SHA-256 "
        "cannot be checked; if you trust it, load it with verify=False",
    ),
    "truncated": (
        lambda p: os.truncate(p, p.stat().st_size // 2),
        ckpt.CorruptCheckpointError,
        "truncated file: ",
    ),
    "flipped": (None, ckpt.CorruptCheckpointError, "corrupted file"),
    "newer_attr": (
        lambda p: edit(p, lambda f: f.attrs.__setitem__("format_version", 2)),
        ckpt.UnsupportedVersionError,
        "checkpoint format version 2 is newer than this library reads (version 1); upgrade",
    ),
    "missing_dataset": (
        lambda p: edit(p, lambda f: f.__delitem__("params/hidden2/b")),
        ckpt.MissingEntryError,
        "missing dataset '/params/hidden2/b'",
    ),
    "wrong_shape": (
        lambda p: edit(p, _replace_with_wrong_shape),
        ckpt.ShapeMismatchError,
        "dataset '/params/hidden1/W' has shape (6, 5) but the architecture gives (6, 8)",
    ),
}


def _flip_middle(path):
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    path.write_bytes(bytes(data))


def _make_bad(tmp_path, kind):
    path = tmp_path / f"{kind}.h5"
    if kind == "missing":
        return path
    if kind in ("text", "empty", "plain_hdf5"):
        BAD_FILES[kind][0](path)
        return path
    ckpt.save_checkpoint(path, build_mlp())
    if kind == "flipped":
        _flip_middle(path)
    else:
        BAD_FILES[kind][0](path)
    return path


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_gives_its_own_one_line_message(tmp_path, kind):
    path = _make_bad(tmp_path, kind)
    _, error, text = BAD_FILES[kind]
    for load in (ckpt.load_checkpoint, lambda p: ckpt.restore_training_state(p, build_mlp())):
        with pytest.raises(error) as info:
            load(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and text in message, message
        assert "\n" not in message
        assert isinstance(info.value, ckpt.CheckpointError) and info.value.path == str(path)


def test_newer_version_in_header_is_reported_before_reading(saved_mlp):
    path, _ = saved_mlp
    with open(path, "r+b") as raw:
        block = raw.read(512)
        raw.seek(0)
        raw.write(block.replace(b'"format_version": 1', b'"format_version": 7'))
    with pytest.raises(
        ckpt.UnsupportedVersionError,
        match="format version 7 is newer than this library reads "
        r"\(version 1\)",
    ):
        ckpt.load_checkpoint(path)


def test_edited_weights_fail_the_digest_unless_unverified(saved_mlp):
    path, network = saved_mlp
    with h5py.File(path, "r+") as f:  # edited without a new header
        f["params/output/b"][0] = 42.0
    with pytest.raises(ckpt.CorruptCheckpointError, match="SHA-256 mismatch.*verify=False"):
        ckpt.load_checkpoint(path)
    assert ckpt.load_checkpoint(path, verify=False).network.b.get_value()[0] == 42.0


def test_inspect_script_prints_layout_and_one_line_errors(saved_mlp, tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import inspect_checkpoint
    finally:
        sys.path.remove(str(REPO / "scripts"))
    path, _ = saved_mlp
    assert inspect_checkpoint.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "format_version: 1" in out and "W: float32 (6, 8)" in out and 'note: "test"' in out
    assert "hidden1          ReLUDenseLayer       <- input" in out

    for kind in ("missing", "text", "truncated", "newer_attr", "wrong_shape"):
        bad = _make_bad(tmp_path, kind)
        assert inspect_checkpoint.main([str(bad)]) == 2, kind
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith(f"inspect_checkpoint.py: error: {bad}: ")

    # As a command: nothing but the line on stderr, exit status 2.
    truncated = _make_bad(tmp_path, "truncated")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "inspect_checkpoint.py"), str(truncated)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"inspect_checkpoint.py: error: {truncated}: truncated file: ")
    assert proc.stderr.count("\n") == 1


# --------------------------------------------------------------------------
# What each loader reads, storage options, older files
# --------------------------------------------------------------------------


def test_load_checkpoint_reads_both_kinds_and_the_others_name_the_right_loader(tmp_path,
                                                                               saved_mlp):
    model, _ = saved_mlp
    ensemble = tmp_path / "ensemble.h5"
    ckpt.save_ensemble(ensemble, Ensemble([build_mlp()]))
    assert not ckpt.is_ensemble_file(model) and ckpt.is_ensemble_file(ensemble)
    assert type(ckpt.load_checkpoint(model)) is ckpt.Checkpoint
    assert type(ckpt.load_checkpoint(ensemble)) is Ensemble
    assert type(ckpt.load_ensemble(ensemble)) is Ensemble
    for load in (lambda p: ckpt.load_params(build_mlp(), p),
                 lambda p: ckpt.restore_training_state(p, build_mlp())):
        with pytest.raises(ckpt.IncompatibleCheckpointError,
                           match=f"^{ensemble}: is an ensemble file .*; load it with "
                                 "dropout_layers.checkpoint.load_ensemble$"):
            load(ensemble)
    with pytest.raises(ckpt.IncompatibleCheckpointError,
                       match="is a single-model checkpoint, not an ensemble; load it with "
                             "dropout_layers.checkpoint.load_checkpoint"):
        ckpt.load_ensemble(model)


def test_storage_options_are_keywords_of_one_dataclass(tmp_path):
    network = build_mlp()
    with pytest.raises(TypeError, match="save_checkpoint\\(\\) got an unexpected keyword argument "
                                        "'compresion' \\(the storage options are compression, "
                                        "weights_dtype, key\\)"):
        ckpt.save_checkpoint(tmp_path / "x.h5", network, compresion="gzip")
    options = ckpt.CheckpointOptions(compression="lzf", weights_dtype=np.float16, key="k")
    assert options == ckpt.CheckpointOptions("lzf", "float16", b"k")
    with pytest.raises(ValueError, match="weights_dtype must be None or 'float16'"):
        ckpt.CheckpointOptions(weights_dtype="float64")
    assert not (tmp_path / "x.h5").exists()


def test_history_keeps_nan_and_files_of_earlier_releases_load(tmp_path):
    path = tmp_path / "old.h5"
    ckpt.save_checkpoint(path, build_mlp(), history=[{"epoch": 1, "loss": float("nan")}])
    assert np.isnan(ckpt.load_checkpoint(path).history[0]["loss"])
    # Earlier releases wrote a header without "kind".
    data = bytearray(path.read_bytes())
    lines = bytes(data[:512]).split(b"\n")
    header = json.loads(lines[1])
    del header["kind"]
    block = lines[0] + b"\n" + json.dumps(header, sort_keys=True).encode() + b"\n"
    data[:512] = block + b"\0" * (512 - len(block))
    path.write_bytes(bytes(data))
    assert not ckpt.is_ensemble_file(path)
    assert list(ckpt.load_checkpoint(path).layers)[-1] == "output"
