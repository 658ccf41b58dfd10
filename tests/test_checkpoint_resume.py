"""Exact resume: a run saved and continued (in a new process) equals the uninterrupted run."""
import json

import h5py
import numpy as np
import pytest
from helpers import run_python

import dropout_layers as dl
from dropout_layers import checkpoint as ckpt
from dropout_layers.training import ModelCheckpoint, Trainer

TRAINER_OPTIONS = {"update": "adam", "learning_rate": 0.01}
FIT_OPTIONS = {"batch_size": 16, "seed": 5, "verbose": False}


def build_network():
    dl.set_rng(np.random.RandomState(11))
    layer = dl.InputLayer((None, 5), name="input")
    layer = dl.SwitchDropoutLayer(layer, p=0.2, name="input_dropout")
    layer = dl.ReLUDenseLayer(layer, 12, name="hidden")
    layer = dl.SwitchDropoutLayer(layer, p=0.5, name="dropout")
    return dl.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid, name="output")


def training_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((70, 5)).astype("float32")
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype("float32")
    return X, y


def file_state(path):
    """Parameters, optimizer state and RNG streams stored in a checkpoint, via h5py."""
    state = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: state.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        state.update({f"rng/{name}": value for name, value in f["rng"].attrs.items()})
        state["history"] = json.loads(f.attrs["history"])
        state["metadata"] = json.loads(f.attrs["metadata"])
    history = state["history"]
    for record in history["records"] if isinstance(history, dict) else history:
        record.pop("seconds", None)
    return state


RESUME_CHILD = r"""
import sys
import numpy as np
import dropout_layers as dl
from dropout_layers.checkpoint import load_checkpoint
from dropout_layers.training import Trainer, save_training_checkpoint

middle, final, data = sys.argv[1:]
arrays = np.load(data)
# No model code here: the network comes from the checkpoint itself.
network = load_checkpoint(middle).network
trainer = Trainer(network, update="adam", learning_rate=0.01)
trainer.fit(arrays["X"], arrays["y"], epochs=4, batch_size=16, seed=5, verbose=False,
            resume_from=middle)
save_training_checkpoint(final, trainer)
assert not any(m == "models" or m.startswith(("models.", "test")) for m in sys.modules)
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A (4 epochs, saving after 2 and 4) and run B (resumed after 2 in a new process)."""
    directory = tmp_path_factory.mktemp("resume")
    X, y = training_data()
    np.savez(directory / "data.npz", X=X, y=y)
    previous = dl.get_rng()
    try:
        trainer = Trainer(build_network(), **TRAINER_OPTIONS)
        saver = ModelCheckpoint(str(directory / "a_epoch{epoch}.h5"), every=2, on_best=False)
        trainer.fit(X, y, epochs=4, callbacks=[saver], **FIT_OPTIONS)
    finally:
        dl.set_rng(previous)
    middle, final_a, final_b = (directory / name
                                for name in ("a_epoch2.h5", "a_epoch4.h5", "b_epoch4.h5"))
    proc = run_python(RESUME_CHILD, str(middle), str(final_b), str(directory / "data.npz"))
    assert proc.returncode == 0, proc.stderr
    return trainer, middle, final_a, final_b


def test_resumed_run_in_new_process_matches_uninterrupted_run(runs):
    trainer, middle, final_a, final_b = runs
    a, b, mid = file_state(final_a), file_state(final_b), file_state(middle)
    assert sorted(a) == sorted(b)
    # The run must have moved between epochs 2 and 4, or the comparison proves nothing.
    assert not np.array_equal(a["params/hidden/W"], mid["params/hidden/W"])
    assert a["rng/dropout"] != mid["rng/dropout"]
    assert a["rng/input_dropout"] != mid["rng/input_dropout"]
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key
        else:
            assert a[key] == b[key], key
    assert a["optimizer/t"] == 4 * 5  # 70 rows in batches of 16: 5 steps per epoch
    records = a["history"]["records"] if isinstance(a["history"], dict) else a["history"]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]


def test_file_matches_the_live_trainer(runs):
    trainer, _, final_a, _ = runs
    state = file_state(final_a)
    for layer in dl.get_all_layers(trainer.network):
        for param in layer.params:
            short = param.name.split(".")[-1]
            np.testing.assert_array_equal(state[f"params/{layer.name}/{short}"], param.get_value())
    for name, value in trainer.optimizer_state.get_values().items():
        np.testing.assert_array_equal(state[f"optimizer/{name}"], value)
    dropout = dl.get_all_layers(trainer.network)[3]
    stored = ckpt.format.decode_rng_state(state["rng/dropout"])
    assert stored == dropout.rng.get_value().bit_generator.state


def test_float16_checkpoint_is_refused_for_resume(runs, tmp_path):
    trainer, middle, _, _ = runs
    half = tmp_path / "half.h5"
    ckpt.save_checkpoint(half, trainer.network, optimizer=trainer.optimizer_state,
                         weights_dtype="float16", history=trainer.history.to_dict(),
                         metadata=trainer.checkpoint_metadata())
    fresh = Trainer(build_network(), **TRAINER_OPTIONS)
    X, y = training_data()
    with pytest.raises(ckpt.IncompatibleCheckpointError, match="cannot resume training exactly"):
        fresh.fit(X, y, epochs=6, resume_from=half, **FIT_OPTIONS)
