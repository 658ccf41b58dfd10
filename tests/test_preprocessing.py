"""FeaturePipeline: the steps' arithmetic, the stored state, checkpoints that predict raw inputs."""
import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers import checkpoint as ckpt
from dropout_layers.preprocessing import (
    FeaturePipeline,
    Log1p,
    MissingIndicators,
    PreprocessingError,
    ReplaceValue,
    SelectColumns,
    Standardize,
)

NAMES = ["mass", "pt", "phi"]


def example_pipeline():
    return FeaturePipeline(NAMES, [
        MissingIndicators(-999.0, [[0], [1, 2]]),
        ReplaceValue(-999.0, [0, 1, 2], [125.0, 30.0, 0.0]),
        Log1p([1]),
        Standardize([0, 1], [100.0, 3.0], [25.0, 0.5]),
        SelectColumns([0, 1, 3, 4]),
    ], output_names=["mass", "log_pt", "mass_missing", "pt_phi_missing"])


RAW = np.array([[150.0, 19.0, 0.5], [-999.0, -999.0, 1.0], [75.0, -4.0, -999.0]])


def expected_transform(X):
    """The documented steps, written out for the example pipeline."""
    X = np.asarray(X, dtype=np.float64)
    missing_mass = X[:, 0] == -999.0
    missing_jet = (X[:, 1] == -999.0) | (X[:, 2] == -999.0)
    mass = np.where(missing_mass, 125.0, X[:, 0])
    pt = np.log1p(np.maximum(np.where(X[:, 1] == -999.0, 30.0, X[:, 1]), 0.0))
    return np.column_stack([(mass - 100.0) / 25.0, (pt - 3.0) / 0.5, missing_mass,
                            missing_jet]).astype(np.float32)


def test_steps_compute_what_their_documentation_says():
    pipeline = example_pipeline()
    out = pipeline.transform(RAW)
    assert out.dtype == np.float32 and out.flags.c_contiguous and pipeline.n_outputs == 4
    np.testing.assert_array_equal(out, expected_transform(RAW))
    np.testing.assert_array_equal(out[:, 2:], [[0, 0], [1, 1], [0, 1]])
    # Negative values clip to zero before log1p: log1p(0) = 0, standardised (0 - 3) / 0.5.
    assert out[2, 1] == -6.0
    np.testing.assert_array_equal(RAW, [[150.0, 19.0, 0.5], [-999.0, -999.0, 1.0],
                                        [75.0, -4.0, -999.0]])  # the input is not changed


def test_state_round_trip_is_exact_and_storable_in_a_checkpoint(tmp_path):
    pipeline = example_pipeline()
    restored = FeaturePipeline.from_state(pipeline.get_state())
    assert restored.input_names == NAMES and restored.output_names == pipeline.output_names
    np.testing.assert_array_equal(restored.transform(RAW), pipeline.transform(RAW))
    network = dl.DenseLayer(dl.InputLayer((None, 4), name="input"), 1, name="output")
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(path, network, preprocessing=pipeline)
    loaded = ckpt.load_checkpoint(path)
    assert isinstance(loaded.pipeline, FeaturePipeline)
    assert [type(step).__name__ for step in loaded.pipeline.steps] == [
        "MissingIndicators", "ReplaceValue", "Log1p", "Standardize", "SelectColumns"]
    np.testing.assert_array_equal(loaded.pipeline.transform(RAW), pipeline.transform(RAW))


@pytest.mark.parametrize("make, message", [
    (lambda: Standardize([0], [np.nan], [1.0]), "Standardize mean holds NaN"),
    (lambda: Standardize([0], [0.0], [0.0]), "Standardize std must be positive, got 0.0"),
    (lambda: Standardize([0], [0.0, 1.0], [1.0]), r"mean has shape \(2,\), expected \(1,\)"),
    (lambda: ReplaceValue("abc", [0], [1.0]), "ReplaceValue marker must be a number, got 'abc'"),
    (lambda: ReplaceValue(float("inf"), [0], [1.0]), "marker must be finite"),
    (lambda: Log1p([0.5]), "column indices must be a 1-d list of integers"),
    (lambda: MissingIndicators(-999.0, [[]]), "every group needs at least one column"),
    (lambda: FeaturePipeline(NAMES, [SelectColumns([3])]), "column index out of range for 3"),
    (lambda: FeaturePipeline(["a", "a"], []), "input names contain duplicates"),
    (lambda: FeaturePipeline(NAMES, [], output_names=["a"]), "1 output names for 3 output"),
])
def test_unsound_steps_are_refused_when_made(make, message):
    with pytest.raises(PreprocessingError, match=message):
        make()


def test_stored_state_is_checked_value_by_value():
    state = example_pipeline().get_state()

    def with_step(index, **changes):
        steps = {key: dict(step) for key, step in state["steps"].items()}
        steps[str(index)].update(changes)
        return dict(state, steps=steps)

    cases = [
        ({**state, "format": "other"}, "not a stored feature pipeline"),
        ({**state, "version": 2}, "version 2 is not supported"),
        ({**state, "version": True}, "version True is not supported"),
        ({k: v for k, v in state.items() if k != "steps"}, "lacks 'steps'"),
        ({**state, "steps": [1]}, "'steps' must be a mapping"),
        ({**state, "steps": {"0": state["steps"]["0"], "2": state["steps"]["1"]}},
         "numbered 0, 1, 2"),
        ({**state, "input_names": "mass"}, "input_names must be a list of names"),
        ({**state, "dtype": "object"}, "dtype must be float32 or float64"),
        (with_step(0, **{"class": "Eval"}), "step 0 has unknown class 'Eval'"),
        (with_step(0, groups=5), r"step 0 \(MissingIndicators\): "),
        (with_step(0, groups=[[float("inf")]]), r"step 0 \(MissingIndicators\): "),
        (with_step(3, std=np.array([1.0, np.nan])), "Standardize std holds NaN"),
        (with_step(3, unexpected=1), "unexpected keyword argument 'unexpected'"),
        (with_step(4, columns=np.array([0, 1, 3, 9])), "SelectColumns: column index out of range"),
    ]
    for bad, message in cases:
        with pytest.raises(PreprocessingError, match=message):
            FeaturePipeline.from_state(bad)


def test_raw_inputs_are_checked():
    pipeline = example_pipeline()
    with pytest.raises(PreprocessingError, match=r"expected raw inputs of shape \(n, 3\), got "
                                                 r"\(3, 2\)"):
        pipeline.transform(RAW[:, :2])
    X = RAW.copy()
    X[1, 1] = np.nan
    with pytest.raises(PreprocessingError, match="raw inputs hold nan in row 1, column pt"):
        pipeline.transform(X)
    with pytest.raises(PreprocessingError, match="raw inputs must be numbers"):
        pipeline.transform(np.array([["a", "b", "c"]]))


# --------------------------------------------------------------------------
# Checkpoint.predict from raw inputs


@pytest.fixture
def saved(tmp_path):
    network = dl.DenseLayer(dl.InputLayer((None, 4), name="input"), 1, name="output",
                            nonlinearity=dl.nonlinearities.sigmoid)
    path = tmp_path / "model.h5"
    ckpt.save_checkpoint(path, network, preprocessing=example_pipeline())
    return ckpt.load_checkpoint(path)


def test_predict_applies_the_stored_pipeline_to_raw_inputs(saved):
    features = example_pipeline().transform(RAW)
    expected = saved.predict(features, preprocess=False)
    np.testing.assert_array_equal(saved.predict(RAW), expected)
    np.testing.assert_array_equal(saved.predict(RAW, preprocess=True), expected)
    np.testing.assert_array_equal(saved.predict(RAW, batch_size=2), expected)
    # Already-transformed inputs passed without preprocess=False are refused, not re-transformed.
    with pytest.raises(PreprocessingError, match=r"expected raw inputs of shape \(n, 3\), got "
                                                 r"\(3, 4\)"):
        saved.predict(features)


def test_predict_checks_a_dataframe_by_column_name(saved):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(RAW, columns=NAMES)
    np.testing.assert_array_equal(saved.predict(frame), saved.predict(RAW))
    with pytest.raises(PreprocessingError, match="column 1 is 'pt', expected 'mass' \\(the same "
                                                 "columns in another order\\)"):
        saved.predict(frame[["pt", "mass", "phi"]])
    with pytest.raises(PreprocessingError, match="missing phi"):
        saved.predict(frame[["mass", "pt"]])
    with pytest.raises(PreprocessingError, match="unexpected extra"):
        saved.predict(frame.assign(extra=1.0))


def test_predict_without_a_pipeline(tmp_path):
    network = dl.DenseLayer(dl.InputLayer((None, 2), name="input"), 1, name="output")
    path = tmp_path / "plain.h5"
    ckpt.save_checkpoint(path, network, preprocessing={"mean": np.zeros(2)})
    loaded = ckpt.load_checkpoint(path)
    assert loaded.pipeline is None
    X = np.ones((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(loaded.predict(X), loaded.predict(X, preprocess=False))
    np.testing.assert_array_equal(loaded.predict(X, preprocess=lambda x: 2 * x),
                                  loaded.predict(2 * X))
    with pytest.raises(ckpt.IncompatibleCheckpointError, match="stores no feature pipeline"):
        loaded.predict(X, preprocess=True)
    with pytest.raises(ValueError, match=r"input for layer 'input' has shape \(3, 3\), expected "
                                         r"\(None, 2\)"):
        loaded.predict(np.ones((3, 3)))


def test_a_loaded_ensemble_carries_its_pipeline(tmp_path):
    members = [dl.DenseLayer(dl.InputLayer((None, 4), name="input"), 1, name="output")
               for _ in range(2)]
    path = tmp_path / "bag.h5"
    ckpt.save_ensemble(path, dl.Ensemble(members, preprocessing=example_pipeline()))
    bag = ckpt.load_ensemble(path)
    assert FeaturePipeline.is_state(bag.preprocessing)
    features = example_pipeline().transform(RAW)
    np.testing.assert_array_equal(bag.pipeline.transform(RAW), features)
    np.testing.assert_array_equal(bag.predict(RAW), bag.predict(features, preprocess=False))
    with pytest.raises(ValueError, match="the feature pipeline gives 4 columns"):
        ckpt.save_ensemble(tmp_path / "x.h5", dl.Ensemble(
            [dl.DenseLayer(dl.InputLayer((None, 5), name="input"), 1, name="output")],
            preprocessing=example_pipeline()))


def test_save_refuses_a_pipeline_that_does_not_fit_the_network(tmp_path):
    network = dl.DenseLayer(dl.InputLayer((None, 5), name="input"), 1, name="output")
    with pytest.raises(ValueError, match="the feature pipeline gives 4 columns but the network's "
                                         r"input is \[\(None, 5\)\]"):
        ckpt.save_checkpoint(tmp_path / "x.h5", network, preprocessing=example_pipeline())
    assert not (tmp_path / "x.h5").exists()
