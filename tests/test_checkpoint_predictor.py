"""load_checkpoint on either kind of file: a Checkpoint or an Ensemble, both Predictors."""

import numpy as np
import pandas as pd
import pytensor
import pytest
from dropout_layers_higgs.models import build_higgs_mlp

import dropout_layers as dl
from dropout_layers import checkpoint as ckpt
from dropout_layers.ensemble import Ensemble
from dropout_layers.inputs import InputError
from dropout_layers.predictor import Predictor
from dropout_layers.preprocessing import (
    FeaturePipeline,
    MissingIndicators,
    PreprocessingError,
    ReplaceValue,
    Standardize,
)
from dropout_layers.uncertainty import predict_mc
from dropout_layers_higgs.preprocessing import HiggsPreprocessor
from dropout_layers_higgs.synthetic import generate_toy_higgs

COLUMNS = ["mass", "pt", "eta"]
KEY = b"a key of the predictor tests"


def raw_pipeline():
    """Three raw columns (mass may be missing, -999) -> four features."""
    return FeaturePipeline(COLUMNS, [
        MissingIndicators(-999.0, [[0]]),
        ReplaceValue(-999.0, [0], [120.0]),
        Standardize([0, 1, 2], [110.0, 40.0, 0.0], [30.0, 15.0, 1.5]),
    ], output_names=COLUMNS + ["mass_missing"])


def raw_rows(n=40, seed=5):
    rng = np.random.default_rng(seed)
    raw = np.column_stack([rng.normal(120, 30, n), rng.exponential(40, n), rng.normal(0, 1.5, n)])
    raw[::4, 0] = -999.0
    return raw


def dropout_member(seed, width=4):
    with dl.random.seeded(seed):
        layer = dl.ReLUDenseLayer(dl.InputLayer((None, width), name="input"), 6, name="hidden")
        layer = dl.SwitchDropoutLayer(layer, p=0.5, name="dropout")
        return dl.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid, name="output")


def deterministic(network, features):
    l_in = dl.get_all_layers(network)[0]
    fn = pytensor.function([l_in.input_var], dl.get_output(network, deterministic=True))
    return np.asarray(fn(np.asarray(features, dtype=l_in.input_var.dtype)), dtype=np.float64)


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    """A bag file of three members saved with its pipeline, the members, and its path."""
    members = [dropout_member(seed) for seed in (1, 2, 3)]
    path = tmp_path_factory.mktemp("bag") / "model.h5"
    ckpt.save_ensemble(path, Ensemble(members, preprocessing=raw_pipeline(), threshold=0.4,
                                      metadata={"n_folds": 3}), key=KEY)
    return path, members


def test_a_bag_file_loads_as_an_ensemble_that_predicts_raw_rows(bag):
    path, members = bag
    model = dl.load_checkpoint(path)
    assert isinstance(model, Ensemble) and isinstance(model, Predictor)
    assert model.path == str(path) and model.attrs["format"] == ckpt.FORMAT
    assert model.threshold == 0.4 and model.metadata == {"n_folds": 3}
    assert model.feature_names == COLUMNS
    raw = raw_rows()
    features = raw_pipeline().transform(raw)
    # The members as trained (not as loaded), fed the preprocessed rows.
    expected = np.mean([deterministic(member, features) for member in members], axis=0)
    scores = model.predict(raw)
    assert scores.shape == (40, 1) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, expected, rtol=0, atol=1e-6)
    # Skipping the pipeline on preprocessed rows gives the same scores. (Other batch
    # sizes may round float32 matrix products differently, hence the tolerance.)
    np.testing.assert_array_equal(model.predict(features, preprocess=False), scores)
    batched = model.predict(raw, batch_size=7, preprocess=True)
    np.testing.assert_array_equal(batched, model.predict(features, batch_size=7,
                                                         preprocess=False))
    np.testing.assert_allclose(batched, scores, rtol=0, atol=1e-6)
    per_member = model.predict_members(raw)
    np.testing.assert_array_equal(per_member, model.predict_members(features, preprocess=False))
    np.testing.assert_allclose(model.predict_member(2, raw), deterministic(members[2], features),
                               rtol=0, atol=1e-6)
    # load_ensemble gives the same model; load_checkpoint checks the key as it does.
    np.testing.assert_array_equal(ckpt.load_ensemble(path).predict(raw), scores)
    np.testing.assert_array_equal(dl.load_checkpoint(path, key=KEY).predict(raw), scores)
    with pytest.raises(ckpt.AuthenticationError, match="HMAC mismatch"):
        dl.load_checkpoint(path, key=b"another key")


def test_preprocessed_rows_are_refused_unless_preprocess_is_false(bag):
    model = dl.load_checkpoint(bag[0])
    features = raw_pipeline().transform(raw_rows())
    with pytest.raises(PreprocessingError, match=r"expected raw inputs of shape \(n, 3\), got "
                                                 r"\(40, 4\)"):
        model.predict(features)
    with pytest.raises(TypeError, match="preprocess must be None, True, False or a callable"):
        model.predict(features, preprocess="no")


def test_dataframes_are_matched_by_column_name(bag):
    model = dl.load_checkpoint(bag[0])
    raw = raw_rows()
    frame = pd.DataFrame(raw, columns=COLUMNS)
    np.testing.assert_array_equal(model.predict(frame), model.predict(raw))
    refusals = [
        (frame[["pt", "mass", "eta"]], "column 1 is 'pt', expected 'mass' (the same columns in "
                                       "another order)"),
        (frame[["mass", "eta"]], "missing pt"),
        (frame.assign(phi=0.0), "unexpected phi"),
    ]
    for bad, fragment in refusals:
        with pytest.raises(PreprocessingError) as refused:
            model.predict(bad)
        assert fragment in str(refused.value) and "\n" not in str(refused.value)
    # Preprocessed rows in a DataFrame are matched against the pipeline's output names.
    features = pd.DataFrame(raw_pipeline().transform(raw), columns=COLUMNS + ["mass_missing"])
    np.testing.assert_array_equal(model.predict(features, preprocess=False), model.predict(raw))
    with pytest.raises(InputError, match="X lacks the training column 'mass_missing'"):
        model.predict(features.drop(columns="mass_missing"), preprocess=False)


def test_mc_dropout_of_a_loaded_bag_applies_the_pipeline(bag):
    model = dl.load_checkpoint(bag[0])
    raw = raw_rows()
    features = raw_pipeline().transform(raw)
    mean, std = model.predict_mc(raw, n_samples=5, seed=11)
    again = model.predict_mc(features, n_samples=5, seed=11, preprocess=False)
    np.testing.assert_array_equal(mean, again[0])
    np.testing.assert_array_equal(std, again[1])
    assert mean.shape == (40, 1) and np.all(std > 0)


def test_a_higgs_bag_predicts_raw_events_by_column_name(tmp_path):
    toy = generate_toy_higgs(600, seed=2)
    fitted = HiggsPreprocessor().fit(toy.X, toy.feature_names)
    members = [build_higgs_mlp(fitted.n_outputs, hidden=(8,), p=0.5, rng=np.random.default_rng(s))
               for s in (0, 1)]
    path = tmp_path / "model.h5"
    ckpt.save_ensemble(path, Ensemble(members, preprocessing=fitted.get_state(), threshold=0.5))
    model = dl.load_checkpoint(path)
    assert model.feature_names == list(toy.feature_names) and len(model.feature_names) == 30
    features = fitted.transform(toy.X[:100])
    expected = np.mean([deterministic(member, features) for member in members], axis=0)
    events = pd.DataFrame(toy.X[:100], columns=toy.feature_names)
    np.testing.assert_allclose(model.predict(events), expected, rtol=0, atol=1e-6)
    swapped = events[[toy.feature_names[1], toy.feature_names[0]] + list(toy.feature_names[2:])]
    with pytest.raises(PreprocessingError, match=f"column 1 is '{toy.feature_names[1]}', "
                                                 f"expected '{toy.feature_names[0]}'"):
        model.predict(swapped)


def test_a_single_network_still_loads_as_a_checkpoint(tmp_path):
    network = dropout_member(7)
    path = tmp_path / "one.h5"
    ckpt.save_checkpoint(path, network, preprocessing=raw_pipeline(), metadata={"threshold": 0.6})
    model = dl.load_checkpoint(path)
    assert type(model) is ckpt.Checkpoint and isinstance(model, Predictor)
    assert model.threshold == 0.6 and model.feature_names == COLUMNS
    raw = raw_rows()
    features = raw_pipeline().transform(raw)
    scores = model.predict(raw)
    assert scores.dtype == network.W.dtype  # the network's own outputs, not a float64 mean
    np.testing.assert_array_equal(scores, model.predict(features, preprocess=False))
    np.testing.assert_array_equal(scores, deterministic(network, features).astype(scores.dtype))
    mean, std = model.predict_mc(pd.DataFrame(raw, columns=COLUMNS), n_samples=4, seed=3)
    expected = predict_mc(model.network, features, n_samples=4, seed=3)
    np.testing.assert_array_equal(mean, expected[0])
    np.testing.assert_array_equal(std, expected[1])
    with pytest.raises(ckpt.IncompatibleCheckpointError,
                       match="is a single-model checkpoint, not an ensemble"):
        ckpt.load_ensemble(path)


def test_predict_mc_of_a_checkpoint_needs_one_output(tmp_path):
    l_in = dl.InputLayer((None, 3), name="x")
    path = tmp_path / "two.h5"
    ckpt.save_checkpoint(path, [dl.DenseLayer(l_in, 1, name="a"), dl.DenseLayer(l_in, 2, name="b")])
    model = dl.load_checkpoint(path)
    with pytest.raises(ckpt.IncompatibleCheckpointError,
                       match="predict_mc needs a network with one input and one output layer"):
        model.predict_mc(np.ones((2, 3)))
    assert [out.shape for out in model.predict(np.ones((2, 3)))] == [(2, 1), (2, 2)]


def test_an_ensemble_built_in_code_takes_a_pipeline_or_features():
    members = [dropout_member(seed) for seed in (4, 5)]
    raw = raw_rows()
    features = raw_pipeline().transform(raw)
    plain = Ensemble(members)
    assert plain.pipeline is None and plain.feature_names is None and plain.path is None
    with pytest.raises(PreprocessingError, match="^this Ensemble: has no feature pipeline to "
                                                 r"apply \(preprocess=True\)$"):
        plain.predict(features, preprocess=True)
    with_pipeline = Ensemble(members, pipeline=raw_pipeline())
    np.testing.assert_array_equal(with_pipeline.predict(raw), plain.predict(features))
    with pytest.raises(TypeError, match="pipeline must be a FeaturePipeline, got dict"):
        Ensemble(members, pipeline=raw_pipeline().get_state())
    narrow = FeaturePipeline(COLUMNS, [])
    with pytest.raises(ValueError, match=r"the feature pipeline gives 3 columns but the members' "
                                         r"input is \(None, 4\)"):
        Ensemble(members, pipeline=narrow)
