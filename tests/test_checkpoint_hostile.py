"""Hostile and corrupted checkpoints: each refused before harm, with its own one-line error.

Every file here is a small valid checkpoint changed with h5py (or byte by
byte) and, unless the test is about the digest, given a valid header again:
the SHA-256 is a checksum anyone can recompute, so the checks after it must
stand on their own. Each case asserts the error class, a one-line message
that starts with the file's path and names the fault, and for the cases
that claim memory, that loading stays within a few megabytes.
"""
import contextlib
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from checkpoint_helpers import edit, new_file, reseal

import dropout_layers as dl
from dropout_layers import checkpoint as ckpt
from dropout_layers.checkpoint.format import USERBLOCK_SIZE
from dropout_layers.ensemble import Ensemble
from dropout_layers.preprocessing import FeaturePipeline, SelectColumns, Standardize

REPO = Path(__file__).resolve().parents[1]
KEY = b"a key only the writer and the reader know"


def build_mlp(n_in=6, units=8):
    layer = dl.InputLayer((None, n_in), name="input")
    layer = dl.ReLUDenseLayer(layer, units, name="hidden1")
    layer = dl.SwitchDropoutLayer(layer, p=0.5, name="dropout1")
    return dl.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid, name="output")


def pipeline(n_in=6):
    return FeaturePipeline([f"f{i}" for i in range(n_in)],
                           [Standardize(range(n_in), np.zeros(n_in), np.ones(n_in)),
                            SelectColumns(range(n_in))])


@pytest.fixture
def model(tmp_path):
    """A sound checkpoint with metadata, history, optimizer-free state and a pipeline."""
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(path, build_mlp(), metadata={"threshold": 0.5, "note": "x"},
                         history=[{"epoch": 1, "loss": 0.5}], preprocessing=pipeline())
    return path


def assert_refused(path, error, fragment, load=ckpt.load_checkpoint, **kwargs):
    """Check that ``load(path)`` raises ``error``: one line, the path, then ``fragment``."""
    with pytest.raises(error) as info:
        load(path, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, ckpt.CheckpointError)
    assert message.startswith(f"{path}: "), message
    assert fragment in message, message
    assert "\n" not in message and len(message) < len(str(path)) + 450, message
    return message


@contextlib.contextmanager
def allocates_at_most(limit_bytes):
    """Fail if NumPy (and Python) allocate more than ``limit_bytes`` at once inside the block."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit_bytes, f"peak allocation {peak:,} bytes"


def architecture_edit(change):
    """An h5py edit that parses the architecture, applies ``change(arch)``, stores it again."""
    def apply(f):
        architecture = json.loads(f.attrs["architecture"])
        change(architecture)
        f.attrs["architecture"] = json.dumps(architecture)
    return apply


def layer(architecture, name):
    return next(entry for entry in architecture["layers"] if entry["name"] == name)


# --------------------------------------------------------------------------
# 1. The digest is checked first, before any HDF5 call
# --------------------------------------------------------------------------

@pytest.fixture
def no_hdf5(monkeypatch):
    """Make any attempt to open a file with HDF5 fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("HDF5 was asked to open the file")
    monkeypatch.setattr(h5py, "File", refuse)


@pytest.mark.parametrize("where", ["superblock", "metadata", "middle", "last byte"])
def test_corruption_is_reported_before_hdf5_parses_the_file(model, no_hdf5, where):
    data = bytearray(model.read_bytes())
    offset = {"superblock": USERBLOCK_SIZE + 9, "metadata": USERBLOCK_SIZE + 200,
              "middle": len(data) // 2, "last byte": len(data) - 1}[where]
    data[offset] ^= 0x5A
    model.write_bytes(bytes(data))
    assert_refused(model, ckpt.CorruptCheckpointError, "corrupted file: its contents changed "
                                                       "after it was written (SHA-256 mismatch)")


def test_truncated_appended_and_damaged_headers_are_refused_before_hdf5(model, no_hdf5):
    data = model.read_bytes()
    model.write_bytes(data[:len(data) - 100])
    assert_refused(model, ckpt.CorruptCheckpointError, "truncated file")
    model.write_bytes(data + b"\0" * 16)
    assert_refused(model, ckpt.CorruptCheckpointError, f"but {len(data)} were written")
    model.write_bytes(data[:40] + b"{not json" + data[49:])
    assert_refused(model, ckpt.CorruptCheckpointError, "corrupted file: its header is damaged")
    header = data[:USERBLOCK_SIZE].split(b"\n")[1]
    bad_size = json.loads(header)
    bad_size["size"] = "many"
    line = json.dumps(bad_size).encode()
    model.write_bytes(data[:26] + line + b"\n" + b"\0" * (USERBLOCK_SIZE - 27 - len(line))
                      + data[USERBLOCK_SIZE:])
    assert_refused(model, ckpt.CorruptCheckpointError,
                   "corrupted file: its header is damaged (size 'many' is not a file size)")


def test_file_without_header_is_refused_unless_the_caller_opts_in(model, tmp_path):
    data = bytearray(model.read_bytes())
    data[:USERBLOCK_SIZE] = b"\0" * USERBLOCK_SIZE
    model.write_bytes(bytes(data))
    assert_refused(model, ckpt.UnverifiedCheckpointError,
                   "without a dropout_layers checkpoint header, so its size and SHA-256 cannot "
                   "be checked; if you trust it, load it with verify=False")
    # The caller vouches for it: every other check still runs, and it loads.
    assert list(ckpt.load_checkpoint(model, verify=False).layers)[-1] == "output"
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.arange(3)
    assert_refused(plain, ckpt.UnverifiedCheckpointError, "verify=False")
    assert_refused(plain, ckpt.NotACheckpointError, "its 'format' attribute is None",
                   verify=False)


# --------------------------------------------------------------------------
# 2. Nothing is read from outside the file
# --------------------------------------------------------------------------

@pytest.fixture
def secret(tmp_path):
    """Another file whose bytes must never come back as weights."""
    path = tmp_path / "secret.bin"
    path.write_bytes(np.arange(48, dtype=np.float32).tobytes())
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["W"] = np.arange(48, dtype=np.float32).reshape(6, 8)
    return path, other


def _replace_weight(f, make):
    del f["params/hidden1/W"]
    make(f, "params/hidden1/W")


@pytest.mark.parametrize("kind, fragment", [
    ("soft link", "'/params/hidden1/W' is a soft link"),
    ("external link", "'/params/hidden1/W' is an external link"),
    ("external storage", "dataset '/params/hidden1/W' keeps its data in an external file"),
    ("virtual dataset", "dataset '/params/hidden1/W' is a virtual dataset"),
])
@pytest.mark.parametrize("verify", [True, False])
def test_links_external_storage_and_virtual_datasets_are_refused(model, secret, kind, fragment,
                                                                 verify):
    raw, other = secret

    def make(f, name):
        if kind == "soft link":
            f["params/output/W_copy"] = np.zeros((6, 8), np.float32)
            f[name] = h5py.SoftLink("/params/output/W_copy")
        elif kind == "external link":
            f[name] = h5py.ExternalLink(str(other), "/W")
        elif kind == "external storage":
            f.create_dataset(name, shape=(6, 8), dtype="float32", external=[(str(raw), 0, 192)])
        else:
            layout = h5py.VirtualLayout(shape=(6, 8), dtype="float32")
            layout[:] = h5py.VirtualSource(str(other), "W", shape=(6, 8))
            f.create_virtual_dataset(name, layout)

    edit(model, lambda f: _replace_weight(f, make))
    assert_refused(model, ckpt.UnsafeCheckpointError, fragment, verify=verify)
    assert_refused(model, ckpt.UnsafeCheckpointError, fragment,
                   load=lambda p, **kw: ckpt.load_params(build_mlp(), p, **kw), verify=verify)


# --------------------------------------------------------------------------
# 3. Nothing is allocated that the file merely claims
# --------------------------------------------------------------------------

def test_config_that_implies_huge_parameters_is_refused_before_building(model):
    edit(model, architecture_edit(lambda a: layer(a, "hidden1")["config"].update(
        num_units=4_000_000)))
    with allocates_at_most(16 << 20):
        assert_refused(model, ckpt.ShapeMismatchError,
                       "layer 'hidden1' (ReLUDenseLayer) rebuilt from its config needs "
                       "parameter 'W' of shape (6, 4000000), but dataset '/params/hidden1/W' has "
                       "shape (6, 8)")


def test_input_shape_that_implies_huge_parameters_is_refused(model):
    edit(model, architecture_edit(lambda a: layer(a, "input")["config"].update(
        shape=[None, 50_000_000])))
    with allocates_at_most(16 << 20):
        assert_refused(model, ckpt.ShapeMismatchError, "needs parameter 'W' of shape (50000000, 8)")


def test_declared_but_unstored_dataset_is_refused_before_reading(model):
    def declare(f):
        del f["params/hidden1/W"]
        f.create_dataset("params/hidden1/W", shape=(33, 200_000_000), dtype="float32")
        architecture = json.loads(f.attrs["architecture"])
        layer(architecture, "hidden1")["params"][0]["shape"] = [33, 200_000_000]
        f.attrs["architecture"] = json.dumps(architecture)

    edit(model, declare)
    assert os.path.getsize(model) < 100_000
    with allocates_at_most(16 << 20):
        assert_refused(model, ckpt.UnsafeCheckpointError,
                       "dataset '/params/hidden1/W' declares shape (33, 200000000) "
                       "(26,400,000,000 bytes) but stores 0 bytes")


def test_chunks_larger_than_their_data_and_unknown_filters_are_refused(model):
    def big_chunk(f):
        f.create_dataset("preprocessing/huge_chunk", data=np.zeros(4), maxshape=(None,),
                         chunks=(1 << 18,))
    edit(model, big_chunk)
    assert_refused(model, ckpt.UnsafeCheckpointError, "has chunks of 2,097,152 bytes for 32 bytes")

    def scale_offset(f):
        del f["preprocessing/huge_chunk"]
        f.create_dataset("preprocessing/scaled", data=np.arange(2000.0), scaleoffset=3)
    edit(model, scale_offset)
    assert_refused(model, ckpt.UnsafeCheckpointError, "uses HDF5 filter 6; a checkpoint may use "
                                                      "only gzip, lzf, shuffle, fletcher32")


def test_stored_shape_that_differs_from_the_declared_one_is_refused(model):
    edit(model, architecture_edit(lambda a: layer(a, "hidden1")["params"][0].update(
        shape=[10 ** 12, 8])))
    assert_refused(model, ckpt.ShapeMismatchError, "dataset '/params/hidden1/W' has shape (6, 8) "
                                                   "but the architecture gives (1000000000000, 8)")


# --------------------------------------------------------------------------
# 4. Malformed documents and values: each its own one-line error
# --------------------------------------------------------------------------

def _set(path, value):
    """An architecture edit that sets the item at ``path`` (keys and indices) to ``value``."""
    def change(architecture):
        target = architecture
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return architecture_edit(change)


MALFORMED_ARCHITECTURES = {
    "class name as a list": (_set(["layers", 1, "class"], ["ReLUDenseLayer"]),
                             "layer 1 ('hidden1'): 'class' must be a string, got "
                             "['ReLUDenseLayer']"),
    "wiring index out of range": (_set(["layers", 2, "incoming"], [99]),
                                  "layer 2 ('dropout1'): input 99 is not an earlier layer"),
    "self-reference": (_set(["layers", 2, "incoming"], [2]),
                       "layer 2 ('dropout1'): takes its input from itself"),
    "forward reference": (_set(["layers", 1, "incoming"], [3]),
                          "layer 1 ('hidden1'): input 3 is not an earlier layer"),
    "boolean index": (_set(["layers", 1, "incoming"], [True]),
                      "input True is neither a layer index nor a shape"),
    "empty layer list": (_set(["layers"], []), "the architecture lists no layers"),
    "outputs out of range": (_set(["outputs"], [7]), "output 7 is not a layer index in 0..3"),
    "non-numeric parameter shape": (_set(["layers", 1, "params", 0, "shape"], [6, "eight"]),
                                    "parameter 'W' shape [6, 'eight'] holds 'eight', not a size"),
    "non-numeric input shape": (_set(["layers", 1, "incoming"], [{"shape": [None, "x"]}]),
                                "input shape [None, 'x'] holds 'x', not a size"),
    "object dtype": (_set(["layers", 1, "params", 0, "dtype"], "object"),
                     "parameter 'W' dtype 'object' is not one of float16"),
    "config as a list": (_set(["layers", 1, "config"], [1, 2]),
                         "'config' must be a dict with string keys"),
    "duplicate names": (_set(["layers", 2, "name"], "hidden1"), "the name 'hidden1' is used twice"),
    "not a dict": (lambda f: f.attrs.__setitem__("architecture", "[1, 2]"),
                   "architecture: the architecture is a list, not a dict"),
    "not JSON": (lambda f: f.attrs.__setitem__("architecture", "{'layers': ["),
                 "attribute 'architecture' of '/': unreadable JSON"),
    "100,000-deep nesting": (lambda f: f.attrs.__setitem__("architecture",
                                                           "[" * 100_000 + "]" * 100_000),
                             "attribute 'architecture' of '/': nested deeper than 64 levels"),
    "500-deep nesting in a config": (_set(["layers", 1, "config", "extra"],
                                          json.loads("[" * 500 + "]" * 500)),
                                     "nested deeper than 64 levels"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_ARCHITECTURES))
def test_malformed_architecture_gives_its_own_one_line_error(model, case):
    change, fragment = MALFORMED_ARCHITECTURES[case]
    edit(model, change)
    assert_refused(model, ckpt.MalformedCheckpointError, fragment)


def _group_for_dataset(f):
    del f["params/hidden1/W"]
    f.create_group("params/hidden1/W")


def _strings_for_weights(f):
    del f["params/hidden1/W"]
    f.create_dataset("params/hidden1/W", data=np.full((6, 8), "x", dtype=object),
                     dtype=h5py.string_dtype())


def _reference_dataset(f):
    f.create_dataset("preprocessing/refs", data=[f["params"].ref], dtype=h5py.ref_dtype)


MALFORMED_VALUES = {
    "a group where a dataset belongs": (_group_for_dataset, ckpt.MalformedCheckpointError,
                                        "'/params/hidden1/W' is a group, expected a dataset"),
    "a dataset where a group belongs": (
        lambda f: (f.__delitem__("params"), f.create_dataset("params", data=[1.0])),
        ckpt.MalformedCheckpointError, "'/params' is a dataset, expected a group"),
    "strings as weights": (_strings_for_weights, ckpt.MalformedCheckpointError,
                           "dataset '/params/hidden1/W' has dtype object, not a number type"),
    "a reference dataset": (_reference_dataset, ckpt.UnsafeCheckpointError,
                            "dataset '/preprocessing/refs' holds references"),
    "original dtype object": (lambda f: f["params/hidden1/W"].attrs.__setitem__("dtype", "object"),
                              ckpt.MalformedCheckpointError,
                              "dataset '/params/hidden1/W': its 'dtype' attribute 'object'"),
    "format_version abc": (lambda f: f.attrs.__setitem__("format_version", "abc"),
                           ckpt.NotACheckpointError, "format_version 'abc' in the root attributes "
                                                     "is not a version number"),
    "metadata 100,000 deep": (lambda f: f.attrs.__setitem__("metadata", "{\"a\":" * 100_000
                                                             + "1" + "}" * 100_000),
                              ckpt.MalformedCheckpointError,
                              "attribute 'metadata' of '/': nested deeper than 64 levels"),
    "weights_dtype as a number": (lambda f: f.attrs.__setitem__("weights_dtype", 3),
                                  ckpt.MalformedCheckpointError,
                                  "attribute 'weights_dtype' of '/' is 3, not a str"),
    "config value of the wrong type": (_set(["layers", 1, "config", "num_units"], "many"),
                                       ckpt.IncompatibleCheckpointError,
                                       "cannot rebuild layer 'hidden1' (ReLUDenseLayer) from its "
                                       "config: ValueError"),
    "unregistered class": (_set(["layers", 1, "class"], "os.system"),
                           ckpt.UnregisteredLayerError, "has class 'os.system'"),
    "header kind disagrees": (None, ckpt.MalformedCheckpointError,
                              "its header says it holds a ensemble but its contents are a model"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_VALUES))
def test_malformed_value_gives_its_own_one_line_error(model, case):
    change, error, fragment = MALFORMED_VALUES[case]
    if change is None:
        reseal(model, kind="ensemble")
        assert_refused(model, error, fragment, load=lambda p: ckpt.load_ensemble(p))
        return
    edit(model, change)
    assert_refused(model, error, fragment)


PIPELINE_CASES = {
    "NaN mean": (lambda f: f["preprocessing/steps/0/mean"].__setitem__(0, np.nan),
                 "preprocessing: feature pipeline step 0 (Standardize): Standardize mean holds "
                 "NaN or infinity"),
    "zero std": (lambda f: f["preprocessing/steps/0/std"].__setitem__(2, 0.0),
                 "Standardize std must be positive, got 0.0"),
    "column out of range": (lambda f: f["preprocessing/steps/1/columns"].__setitem__(0, 60),
                            "SelectColumns: column index out of range for 6 columns"),
    "unknown step": (lambda f: f["preprocessing/steps/1"].attrs.__setitem__("class", "Eval"),
                     "step 1 has unknown class 'Eval'"),
    "input names as a number": (lambda f: f["preprocessing"].attrs.__setitem__("input_names", "5"),
                                "preprocessing: feature pipeline input_names must be a list"),
    "too wide for the network": (None, "its feature pipeline gives 5 columns but the network "
                                       "takes 6"),
}


def _narrower_selection(f):
    del f["preprocessing/steps/1/columns"]
    f["preprocessing/steps/1/columns"] = np.arange(5)
    f["preprocessing"].attrs["output_names"] = json.dumps([f"x{i}" for i in range(5)])


@pytest.mark.parametrize("case", sorted(PIPELINE_CASES))
def test_unsound_preprocessing_is_refused_at_load(tmp_path, case):
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(path, build_mlp(), preprocessing=pipeline())
    change, fragment = PIPELINE_CASES[case]
    edit(path, change or _narrower_selection)
    assert_refused(path, ckpt.MalformedCheckpointError, fragment)


def test_threshold_that_is_not_a_finite_number_is_refused(tmp_path):
    for value, shown in (("abc", "'abc'"), (float("nan"), "nan"), ([0.5], "[0.5]")):
        path = tmp_path / "model.h5"
        ckpt.save_checkpoint(path, build_mlp(), metadata={"threshold": value})
        checkpoint = ckpt.load_checkpoint(path)
        with pytest.raises(ckpt.MalformedCheckpointError,
                           match=f"^{path}: metadata threshold .* is not a finite number$"):
            checkpoint.threshold  # noqa: B018
        assert shown in str(pytest.raises(ckpt.MalformedCheckpointError,
                                          lambda: checkpoint.threshold).value)
    path = tmp_path / "ensemble.h5"
    ckpt.save_ensemble(path, Ensemble([build_mlp(), build_mlp()], threshold=0.5))
    for value in ("abc", np.nan):
        edit(path, lambda f: f.attrs.__setitem__("threshold", value))
        assert_refused(path, ckpt.MalformedCheckpointError, "is not a finite number",
                       load=ckpt.load_ensemble)


def test_malformed_ensemble_layout_is_refused(tmp_path):
    path = tmp_path / "ensemble.h5"
    ckpt.save_ensemble(path, Ensemble([build_mlp(), build_mlp()], threshold=0.5))
    edit(path, lambda f: f.attrs.__setitem__("n_members", 3))
    assert_refused(path, ckpt.MalformedCheckpointError, "'/members' must hold groups 0..2",
                   load=ckpt.load_ensemble)
    edit(path, lambda f: f.attrs.__setitem__("n_members", "two"))
    assert_refused(path, ckpt.MalformedCheckpointError, "n_members 'two' is not a number",
                   load=ckpt.load_ensemble)
    edit(path, lambda f: (f.attrs.__setitem__("n_members", 2),
                          f["members"].move("1", "x")))
    assert_refused(path, ckpt.MalformedCheckpointError, "it holds 0, x", load=ckpt.load_ensemble)


def test_malformed_optimizer_state_is_refused(tmp_path):
    network = build_mlp()
    path = tmp_path / "state.h5"
    state = dl.updates.adam(dl.get_output(network).mean(), dl.get_all_params(network)).state
    ckpt.save_checkpoint(path, network, optimizer=state)
    edit(path, lambda f: f["optimizer"].attrs.__setitem__("names", json.dumps(["../params"])))
    assert_refused(path, ckpt.MalformedCheckpointError, "optimizer state name '../params' is not "
                                                        "a path inside '/optimizer'")
    edit(path, lambda f: f["optimizer"].attrs.__setitem__("names", json.dumps({"t": 1})))
    assert_refused(path, ckpt.MalformedCheckpointError, "is not a list of names")


# --------------------------------------------------------------------------
# 5. Nothing silently wrong: every parameter from the file, no RNG look-ups by name
# --------------------------------------------------------------------------

def test_emptied_params_list_does_not_load_fresh_weights(model):
    edit(model, _set(["layers", 1, "params"], []))
    assert_refused(model, ckpt.MissingEntryError,
                   "layer 'hidden1' (ReLUDenseLayer) needs parameter 'W' of shape (6, 8), which "
                   "the file does not list; every parameter must come from the file")
    edit(model, architecture_edit(lambda a: layer(a, "output")["params"].pop()))
    assert_refused(model, ckpt.MissingEntryError, "needs parameter 'W' of shape (6, 8)")


def test_listed_parameter_the_layer_lacks_is_refused(model):
    def extra(f):
        architecture = json.loads(f.attrs["architecture"])
        layer(architecture, "output")["config"]["b"] = None
        f.attrs["architecture"] = json.dumps(architecture)
    edit(model, extra)
    assert_refused(model, ckpt.IncompatibleCheckpointError,
                   "layer 'output' rebuilt from its config has no parameter 'b'")


@pytest.mark.parametrize("name", ["seed", "RandomState", "__import__", "default_rng"])
def test_rng_bit_generator_names_come_from_an_allow_list(model, name):
    def rename(f):
        state = json.loads(f["rng"].attrs["dropout1"])
        state["bit_generator"] = name
        f["rng"].attrs["dropout1"] = json.dumps(state)
    edit(model, rename)
    before = np.random.get_state(legacy=False)
    assert_refused(model, ckpt.MalformedCheckpointError,
                   f"RNG state of layer 'dropout1': RNG bit generator {name!r} is not one of PCG64")
    after = np.random.get_state(legacy=False)
    np.testing.assert_array_equal(before["state"]["key"], after["state"]["key"])
    assert before["state"]["pos"] == after["state"]["pos"]


def test_rng_state_arrays_are_bounded_and_typed(model):
    def huge_dtype(f):
        state = json.loads(f.attrs["global_rng"])
        state["state"]["state"]["key"]["dtype"] = "V1000000000"
        f.attrs["global_rng"] = json.dumps(state)
    edit(model, huge_dtype)
    assert_refused(model, ckpt.MalformedCheckpointError,
                   "attribute 'global_rng': RNG state array dtype 'V1000000000' is not one of")

    def wrong_state(f):
        state = json.loads(f["rng"].attrs["dropout1"])
        state["state"] = {"state": "1"}
        f["rng"].attrs["dropout1"] = json.dumps(state)
    edit(model, wrong_state)
    assert_refused(model, ckpt.MalformedCheckpointError, "RNG state does not fit PCG64")


# --------------------------------------------------------------------------
# 6. HMAC: tampering, not only corruption
# --------------------------------------------------------------------------

def _set_header_hmac(path, value):
    data = bytearray(path.read_bytes())
    header = json.loads(data[:USERBLOCK_SIZE].split(b"\n")[1])
    header["hmac"] = value
    line = b"dropout_layers.checkpoint\n" + json.dumps(header, sort_keys=True).encode() + b"\n"
    data[:USERBLOCK_SIZE] = line + b"\0" * (USERBLOCK_SIZE - len(line))
    path.write_bytes(bytes(data))


def test_hmac_tells_the_writer_from_anyone_else(tmp_path):
    path = tmp_path / "signed.h5"
    ckpt.save_checkpoint(path, build_mlp(), key=KEY)
    assert list(ckpt.load_checkpoint(path, key=KEY).layers)[-1] == "output"
    assert list(ckpt.load_checkpoint(path).layers)[-1] == "output"   # the SHA-256 still holds
    assert_refused(path, ckpt.AuthenticationError, "HMAC mismatch", key=b"another key")
    # Someone without the key edits the weights and writes a valid SHA-256, keeping the old
    # HMAC or dropping it.
    old_hmac = json.loads(path.read_bytes()[:USERBLOCK_SIZE].split(b"\n")[1])["hmac"]
    edit(path, lambda f: f["params/output/b"].__setitem__(0, 42.0))
    assert ckpt.load_checkpoint(path).network.b.get_value()[0] == 42.0
    assert_refused(path, ckpt.AuthenticationError, "was saved without a key", key=KEY)
    _set_header_hmac(path, old_hmac)
    assert ckpt.load_checkpoint(path).network.b.get_value()[0] == 42.0
    assert_refused(path, ckpt.AuthenticationError, "HMAC mismatch", key=KEY)
    assert_refused(path, ckpt.AuthenticationError, "HMAC mismatch", key=KEY, verify=False)
    # Resealed with the key: accepted.
    reseal(path, key=KEY)
    assert ckpt.load_checkpoint(path, key=KEY.decode()).network.b.get_value()[0] == 42.0


def test_key_refuses_files_saved_without_one(tmp_path, model):
    assert_refused(model, ckpt.AuthenticationError, "was saved without a key", key=KEY)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    assert_refused(plain, ckpt.AuthenticationError, "has no checkpoint header", key=KEY,
                   verify=False)
    path = tmp_path / "ensemble.h5"
    ckpt.save_ensemble(path, Ensemble([build_mlp()]), key=KEY)
    assert len(ckpt.load_ensemble(path, key=KEY)) == 1
    assert_refused(path, ckpt.AuthenticationError, "HMAC mismatch", load=ckpt.load_ensemble,
                   key=b"x")
    with pytest.raises(TypeError, match="key must be non-empty bytes or str"):
        ckpt.save_checkpoint(tmp_path / "x.h5", build_mlp(), key=b"")


# --------------------------------------------------------------------------
# The command line: one line, no traceback
# --------------------------------------------------------------------------

def test_predict_script_prints_one_line_for_a_hostile_checkpoint(tmp_path, secret):
    raw, other = secret
    path = tmp_path / "model.h5"
    new_file(path, lambda f: f.__setitem__("x", h5py.ExternalLink(str(other), "/W")))
    data = tmp_path / "events.csv"
    data.write_text("f0\n1.0\n")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "predict_higgs.py"), str(path),
                           str(data)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr == f"predict_higgs.py: error: {path}: '/x' is an external link; a " \
                          "checkpoint holds only its own objects, so links that point elsewhere " \
                          "are refused\n"


# --------------------------------------------------------------------------
# A structural fuzzer: random values anywhere in the stored documents
# --------------------------------------------------------------------------

_FUZZ_VALUES = [None, True, False, -1, 0, 3, 10 ** 20, 1.5, float("nan"), "x", "", [], {}, [0, 0],
                {"shape": ["a"]}, {"dtype": "<u8", "data": [1]}, [[[[1]]]], "ReLUDenseLayer"]


def _nodes(value, path=()):
    """Every (path, value) inside a JSON document, the root included."""
    yield path, value
    children = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, child in children:
        yield from _nodes(child, path + (key,))


def _mutated(document, rng):
    document = json.loads(json.dumps(document))
    nodes = [path for path, _ in _nodes(document) if path]
    path = nodes[rng.integers(len(nodes))]
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[path[-1]]
    else:
        parent[path[-1]] = _FUZZ_VALUES[rng.integers(len(_FUZZ_VALUES))]
    return document


def test_fuzzed_documents_load_or_give_one_line_errors(tmp_path):
    source = tmp_path / "source.h5"
    ckpt.save_checkpoint(source, build_mlp(), metadata={"threshold": 0.5},
                         history=[{"epoch": 1}], preprocessing=pipeline())
    with h5py.File(source, "r") as f:
        documents = {("/", "architecture"): json.loads(f.attrs["architecture"]),
                     ("/", "global_rng"): json.loads(f.attrs["global_rng"]),
                     ("/rng", "dropout1"): json.loads(f["rng"].attrs["dropout1"])}
    rng = np.random.default_rng(2024)
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(150):
        (group, name), document = list(documents.items())[trial % len(documents)]
        path = tmp_path / f"fuzz{trial}.h5"
        path.write_bytes(source.read_bytes())
        text = json.dumps(_mutated(document, rng))
        edit(path, lambda f: f[group].attrs.__setitem__(name, text))
        try:
            ckpt.load_checkpoint(path)
            outcomes["loaded"] += 1
        except ckpt.CheckpointError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message, (text, message)
            outcomes["refused"] += 1
        path.unlink()
    # Most mutations break something; a few (a changed seed, a dropped optional key) do not.
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 0, outcomes


_FUZZ_ARRAYS = [lambda: np.arange(3), lambda: "x", lambda: 7, lambda: np.float64("nan"),
                lambda: np.zeros((2, 2), "f4"), lambda: b"\xff\xfe", lambda: True,
                lambda: np.array([b"a", b"b"]), lambda: -1, lambda: np.array([1 + 2j]),
                lambda: "ensemble", lambda: np.zeros(0)]


def _fuzz_objects(rng, names, attributes):
    """An h5py edit: two random replacements of attributes, datasets or groups."""
    def change(f):
        for kind in rng.integers(4, size=2):
            value = _FUZZ_ARRAYS[rng.integers(len(_FUZZ_ARRAYS))]()
            if kind == 0:
                owner, name = attributes[rng.integers(len(attributes))]
                if owner in f:
                    f[owner].attrs[name] = value
                continue
            name = names[rng.integers(len(names))]
            if name not in f:
                continue
            del f[name]
            if kind == 2:
                f[name] = value
            elif kind == 3:
                f.create_group(name)
    return change


@pytest.fixture
def numpy_global_state():
    """Restore NumPy's global generator, which restore_training_state sets (as Lasagne's does)."""
    state = np.random.get_state()
    yield
    np.random.set_state(state)


def test_fuzzed_objects_and_attributes_load_or_give_one_line_errors(tmp_path, numpy_global_state):
    network = build_mlp()
    rule = dl.updates.adam(dl.get_output(network).mean(), dl.get_all_params(network))
    source = tmp_path / "source.h5"
    ckpt.save_checkpoint(source, network, optimizer=rule.state, metadata={"threshold": 0.5},
                         history=[{"epoch": 1}], preprocessing=pipeline())
    names = []
    with h5py.File(source, "r") as f:
        f.visit(names.append)
        attributes = [(owner, name) for owner in ["/", *names] for name in f[owner].attrs]
    rng = np.random.default_rng(13)
    refused = 0
    for trial in range(120):
        path = tmp_path / f"fuzz{trial}.h5"
        path.write_bytes(source.read_bytes())
        edit(path, _fuzz_objects(rng, names, attributes))
        try:
            checkpoint = ckpt.load_checkpoint(path)
            checkpoint.predict(np.zeros((2, 6)))
            assert checkpoint.threshold is None or np.isfinite(checkpoint.threshold)
            ckpt.restore_training_state(path, network, rule)
        except ckpt.CheckpointError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message, message
            refused += 1
        path.unlink()
    assert refused > 60, refused
