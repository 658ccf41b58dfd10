"""HiggsPreprocessor: imputation, indicators, log transform, standardisation, state."""
import h5py
import numpy as np
import pytest
from dropout_layers_higgs.models import build_higgs_mlp

from dropout_layers.checkpoint import load_checkpoint, save_checkpoint
from dropout_layers.preprocessing import FeaturePipeline
from dropout_layers_higgs import preprocessing
from dropout_layers_higgs.data import KAGGLE_FEATURES, UCI_FEATURES
from dropout_layers_higgs.preprocessing import HiggsPreprocessor
from dropout_layers_higgs.synthetic import generate_toy_higgs

MMC = KAGGLE_FEATURES.index("DER_mass_MMC")
JET_NUM = KAGGLE_FEATURES.index("PRI_jet_num")
PHI_COLUMNS = [name for name in KAGGLE_FEATURES
               if name.startswith("PRI_") and name.endswith("_phi")]


@pytest.fixture(scope="module")
def toy():
    return generate_toy_higgs(4000, seed=3)


@pytest.fixture(scope="module")
def fitted(toy):
    return HiggsPreprocessor().fit(toy.X, toy.feature_names)


def test_missing_value_groups_give_one_indicator_each(toy, fitted):
    assert fitted.output_names[:30] == list(KAGGLE_FEATURES)
    assert fitted.output_names[30:] == ["DER_mass_MMC_is_missing",
                                        "DER_deltaeta_jet_jet_is_missing",
                                        "PRI_jet_leading_pt_is_missing"]
    assert fitted.n_outputs == 33
    out = fitted.transform(toy.X, toy.feature_names)
    assert out.dtype == np.float32 and out.shape == (4000, 33)
    jet_num = toy.X[:, JET_NUM]
    np.testing.assert_array_equal(out[:, 30], toy.X[:, MMC] == -999.0)
    np.testing.assert_array_equal(out[:, 31], jet_num < 2)
    np.testing.assert_array_equal(out[:, 32], jet_num < 1)


def test_standardised_on_the_training_data(toy, fitted):
    out = fitted.transform(toy.X).astype(np.float64)
    np.testing.assert_allclose(out[:, :30].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out[:, :30].std(axis=0), 1.0, atol=1e-5)


def test_missing_entries_get_the_median_of_defined_values(toy, fitted):
    out = fitted.transform(toy.X)
    for j in (MMC, KAGGLE_FEATURES.index("PRI_jet_subleading_eta")):
        column = toy.X[:, j].astype(np.float64)
        defined = column[column != -999.0]
        median = np.median(defined)
        assert fitted.impute_values[j] == median
        value = np.log1p(median) if fitted.log_columns[j] else median
        expected = (value - fitted.mean[j]) / fitted.std[j]
        np.testing.assert_allclose(out[column == -999.0, j], expected, rtol=1e-6)


def test_log_transform_chooses_long_tailed_non_negative_columns(toy, fitted):
    logged = {name for name, flag in zip(KAGGLE_FEATURES, fitted.log_columns) if flag}
    # Masses and momenta are long-tailed; angles, pseudorapidities and the
    # jet count are not, and may be negative.
    assert {"DER_mass_MMC", "DER_mass_vis", "PRI_tau_pt", "PRI_met", "PRI_met_sumet"} <= logged
    assert not logged & {"PRI_tau_eta", "PRI_lep_phi", "PRI_jet_num", "DER_met_phi_centrality"}
    for j in np.flatnonzero(fitted.log_columns):
        defined = toy.X[:, j][toy.X[:, j] != -999.0].astype(np.float64)
        assert defined.min() >= 0
        centred = defined - defined.mean()
        assert np.mean(centred ** 3) / np.mean(centred ** 2) ** 1.5 > 1.0
    j = KAGGLE_FEATURES.index("PRI_tau_pt")
    x = toy.X[:5].astype(np.float64)
    expected = (np.log1p(x[:, j]) - fitted.mean[j]) / fitted.std[j]
    np.testing.assert_allclose(fitted.transform(toy.X[:5])[:, j], expected, rtol=1e-6)
    plain = HiggsPreprocessor(log_transform=False).fit(toy.X, toy.feature_names)
    assert not plain.log_columns.any()


def test_drop_phi(toy):
    pre = HiggsPreprocessor(drop_phi=True).fit(toy.X, toy.feature_names)
    assert len(PHI_COLUMNS) == 5
    assert not set(PHI_COLUMNS) & set(pre.output_names)
    assert pre.n_outputs == 25 + 3
    full = HiggsPreprocessor().fit(toy.X, toy.feature_names)
    kept = [full.output_names.index(name) for name in pre.output_names]
    np.testing.assert_array_equal(pre.transform(toy.X), full.transform(toy.X)[:, kept])


def test_without_indicators_still_imputes(toy):
    pre = HiggsPreprocessor(missing_indicators=False).fit(toy.X, toy.feature_names)
    assert pre.output_names == list(KAGGLE_FEATURES)
    out = pre.transform(toy.X)
    assert np.isfinite(out).all() and np.abs(out).max() < 50


def test_data_without_missing_values_has_no_indicators():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.exponential(1.0, (500, 14)), rng.normal(0.0, 1.0, (500, 14))])
    pre = HiggsPreprocessor(drop_phi=True).fit(X.astype(np.float32), UCI_FEATURES)
    dropped = {"lepton_phi", "missing_energy_phi", "jet1_phi", "jet2_phi", "jet3_phi", "jet4_phi"}
    assert pre.output_names == [name for name in UCI_FEATURES if name not in dropped]
    assert (pre.missing_group == -1).all()
    assert np.isfinite(pre.transform(X)).all()


def test_unseen_missing_values_and_negative_log_inputs_are_handled(toy, fitted):
    x = toy.X[:3].copy()
    always_defined = KAGGLE_FEATURES.index("PRI_tau_pt")
    x[0, always_defined] = -999.0
    out = fitted.transform(x)
    median = fitted.impute_values[always_defined]
    expected = (np.log1p(median) - fitted.mean[always_defined]) / fitted.std[always_defined]
    assert out[0, always_defined] == pytest.approx(expected, rel=1e-6)
    x[1, always_defined] = -5.0  # impossible for a pT: clipped to 0 before log1p
    assert fitted.transform(x)[1, always_defined] == pytest.approx(
        -fitted.mean[always_defined] / fitted.std[always_defined], rel=1e-6)


def test_constant_column_is_only_centred():
    X = np.column_stack([np.full(10, 3.0), np.arange(10.0)])
    pre = HiggsPreprocessor().fit(X, ["constant", "ramp"])
    assert pre.std[0] == 1.0
    np.testing.assert_array_equal(pre.transform(np.array([[5.0, 0.0]]))[0, 0], 2.0)


def test_blocks_do_not_change_the_result(toy, fitted, monkeypatch):
    whole = fitted.transform(toy.X)
    monkeypatch.setattr(preprocessing, "_ROWS_PER_BLOCK", 7)
    np.testing.assert_array_equal(fitted.transform(toy.X), whole)


# --------------------------------------------------------------------------
# The transform, against the formula it always had


def reference_transform(pre, X):
    """The transform as HiggsPreprocessor computed it before it became a FeaturePipeline."""
    block = np.asarray(X, dtype=np.float64)
    missing = block == pre.missing_value
    block = np.where(missing, pre.impute_values, block)
    block[:, pre.log_columns] = np.log1p(np.maximum(block[:, pre.log_columns], 0.0))
    block = (block - pre.mean) / pre.std
    n_groups = int(pre.missing_group.max()) + 1
    indicators = [missing[:, pre.missing_group == g].any(axis=1) for g in range(n_groups)]
    return np.column_stack([block[:, pre.kept_columns], *indicators]).astype(np.float32)


@pytest.mark.parametrize("options", [{}, {"drop_phi": True}, {"missing_indicators": False},
                                     {"log_transform": False, "skew_threshold": 0.5}])
def test_transform_is_the_formula_it_always_was(toy, options):
    pre = HiggsPreprocessor(**options).fit(toy.X[:3000], toy.feature_names)
    X = toy.X[3000:].copy()
    X[:5, KAGGLE_FEATURES.index("PRI_tau_pt")] = -999.0   # missing where training never was
    X[5:9, KAGGLE_FEATURES.index("PRI_met")] = -3.0        # negative before log1p
    np.testing.assert_array_equal(pre.transform(X), reference_transform(pre, X))
    np.testing.assert_array_equal(pre.pipeline.transform(X), pre.transform(X))


def test_pipeline_steps_are_the_documented_ones(fitted):
    steps = [type(step).__name__ for step in fitted.pipeline.steps]
    assert steps == ["MissingIndicators", "ReplaceValue", "Log1p", "Standardize", "SelectColumns"]
    assert fitted.pipeline.input_names == list(KAGGLE_FEATURES)
    assert fitted.pipeline.output_names == fitted.output_names
    plain = HiggsPreprocessor(missing_indicators=False).fit(np.ones((3, 2)) * [[1], [2], [4]],
                                                             ["a", "b"])
    assert [type(step).__name__ for step in plain.pipeline.steps][0] == "ReplaceValue"


def test_dataframe_columns_are_checked_by_name(toy, fitted):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(toy.X[:50], columns=KAGGLE_FEATURES)
    np.testing.assert_array_equal(fitted.transform(frame), fitted.transform(toy.X[:50]))
    swapped = frame[[KAGGLE_FEATURES[1], KAGGLE_FEATURES[0], *KAGGLE_FEATURES[2:]]]
    with pytest.raises(ValueError, match="column 1 is DER_mass_transverse_met_lep, expected "
                                         "DER_mass_MMC"):
        fitted.transform(swapped)
    with pytest.raises(ValueError, match="missing PRI_met"):
        fitted.transform(frame.drop(columns=["PRI_met"]))


# --------------------------------------------------------------------------
# State


def legacy_state(pre):
    """The state as HiggsPreprocessor.get_state wrote it in checkpoints before version 2."""
    return {
        "class": "HiggsPreprocessor", "version": 1, "log_transform": pre.log_transform,
        "drop_phi": pre.drop_phi, "missing_indicators": pre.missing_indicators,
        "missing_value": pre.missing_value, "skew_threshold": pre.skew_threshold,
        "std_floor": pre.std_floor, "feature_names": list(pre.feature_names),
        "output_names": pre.output_names, "impute_values": pre.impute_values.copy(),
        "log_columns": pre.log_columns.copy(), "mean": pre.mean.copy(), "std": pre.std.copy(),
        "kept_columns": pre.kept_columns.copy(), "missing_group": pre.missing_group.copy(),
    }


@pytest.mark.parametrize("options", [{}, {"drop_phi": True},
                                     {"log_transform": False, "missing_indicators": False}])
def test_state_round_trip(toy, options):
    pre = HiggsPreprocessor(**options).fit(toy.X[:3000], toy.feature_names)
    state = pre.get_state()
    assert FeaturePipeline.is_state(state) and state["class"] == "HiggsPreprocessor"
    assert {key: state[key] for key in options} == options
    for restored in (HiggsPreprocessor.from_state(state),
                     HiggsPreprocessor.from_state(legacy_state(pre))):
        assert restored.output_names == pre.output_names
        assert restored.log_transform == pre.log_transform and restored.drop_phi == pre.drop_phi
        np.testing.assert_array_equal(restored.transform(toy.X[3000:]),
                                      pre.transform(toy.X[3000:]))
    np.testing.assert_array_equal(FeaturePipeline.from_state(state).transform(toy.X[3000:]),
                                  pre.transform(toy.X[3000:]))


def test_checkpoint_predicts_raw_events_with_the_stored_state(tmp_path, toy, fitted):
    network = build_higgs_mlp(fitted.n_outputs, hidden=(8,), p=0.5)
    path = tmp_path / "model.h5"
    save_checkpoint(path, network, preprocessing=fitted.get_state())
    checkpoint = load_checkpoint(path)
    restored = HiggsPreprocessor.from_state(checkpoint.preprocessing)
    np.testing.assert_array_equal(restored.transform(toy.X), fitted.transform(toy.X))
    expected = checkpoint.predict(fitted.transform(toy.X[:200]), preprocess=False)
    np.testing.assert_array_equal(checkpoint.predict(toy.X[:200]), expected)


def test_legacy_state_round_trip_through_hdf5(tmp_path, toy, fitted):
    path = tmp_path / "state.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("preprocessor")
        for key, value in legacy_state(fitted).items():
            if isinstance(value, np.ndarray):
                group.create_dataset(key, data=value)
            else:
                group.attrs[key] = value
    with h5py.File(path, "r") as f:
        group = f["preprocessor"]
        state = {key: group[key][()] for key in group}
        state.update(group.attrs)
    restored = HiggsPreprocessor.from_state(state)
    assert restored.feature_names == list(KAGGLE_FEATURES)
    np.testing.assert_array_equal(restored.transform(toy.X), fitted.transform(toy.X))


def _with_step(state, index, **changes):
    steps = {key: dict(step) for key, step in state["steps"].items()}
    steps[str(index)].update(changes)
    return dict(state, steps=steps)


def test_from_state_rejects_incomplete_foreign_or_unsound_state(fitted):
    state = fitted.get_state()
    legacy = legacy_state(fitted)
    cases = [
        ({k: v for k, v in legacy.items() if k not in ("mean", "std")}, "state lacks mean, std"),
        (dict(state, **{"class": "DenseLayer"}), "state is of class 'DenseLayer'"),
        (dict(legacy, mean=legacy["mean"][1:]), r"mean has shape \(29,\) and dtype float64"),
        (dict(legacy, version=2), "version 2 is not supported"),
        (dict(state, preprocessor_version=3), "version 3 is not supported"),
        (dict(state, log_transform="yes"), "must be true or false"),
        (dict(state, std_floor=float("nan")), "std_floor must be finite"),
        (dict(legacy, feature_names=5), "feature_names must be a list of names"),
        (_with_step(state, 3, mean=np.full(30, np.nan)), "Standardize mean holds NaN"),
        (_with_step(state, 3, std=np.zeros(30)), "Standardize std must be positive"),
        (dict(state, steps={str(i): state["steps"][key] for i, key in enumerate("0134")}),
         "are not those of a HiggsPreprocessor"),
        (_with_step(state, 1, marker=-1.0), "with the stored missing_value"),
        (_with_step(state, 4, columns=np.r_[0:30, 32, 31, 30]), "not one that a HiggsPreprocessor"),
        (dict(legacy, missing_group=np.full(30, 5)), "missing_group must number groups"),
        (dict(legacy, mean=np.full(30, np.nan)), "Standardize mean holds NaN"),
        (dict(legacy, std=np.zeros(30)), "Standardize std must be positive"),
        (dict(legacy, kept_columns=np.array([0, 99])), "kept_columns out of range"),
        ("not a dict", "state is a str, not a dict"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            HiggsPreprocessor.from_state(bad)


# --------------------------------------------------------------------------
# Misuse


def test_other_feature_names_are_refused(toy, fitted):
    with pytest.raises(ValueError, match="features differ from the 30 it was fitted on: "
                                         "missing DER_mass_MMC; unexpected DER_mass_mmc"):
        fitted.transform(toy.X, ["DER_mass_mmc"] + list(KAGGLE_FEATURES[1:]))
    swapped = list(KAGGLE_FEATURES)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with pytest.raises(ValueError, match="column 1 is DER_mass_transverse_met_lep, expected "
                                         "DER_mass_MMC"):
        fitted.transform(toy.X, swapped)
    with pytest.raises(ValueError, match="missing DER_mass_MMC.*unexpected lepton_pt"):
        fitted.check_feature_names(UCI_FEATURES)


def test_bad_input(toy, fitted):
    with pytest.raises(ValueError, match=r"X has shape \(4000, 29\), expected \(n_events, 30\)"):
        fitted.transform(toy.X[:, 1:])
    x = toy.X[:10].copy()
    x[4, 2] = np.nan
    with pytest.raises(ValueError, match="row 4, column DER_mass_vis is nan"):
        fitted.transform(x)
    with pytest.raises(ValueError, match="row 4, column DER_mass_vis is nan"):
        HiggsPreprocessor().fit(x, KAGGLE_FEATURES)
    with pytest.raises(ValueError, match="to match feature_names"):
        HiggsPreprocessor().fit(toy.X, KAGGLE_FEATURES[:-1])
    with pytest.raises(RuntimeError, match="not fitted"):
        HiggsPreprocessor().transform(toy.X)
