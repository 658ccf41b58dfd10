"""HiggsPreprocessor: imputation, indicators, log transform, standardisation, state."""
import h5py
import numpy as np
import pytest

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
# State


def assert_state_is_storable(state):
    for key, value in state.items():
        if isinstance(value, list):
            assert all(isinstance(v, str) for v in value), key
        else:
            assert isinstance(value, (np.ndarray, str, int, float, bool)), key


@pytest.mark.parametrize("options", [{}, {"drop_phi": True},
                                     {"log_transform": False, "missing_indicators": False}])
def test_state_round_trip(toy, options):
    pre = HiggsPreprocessor(**options).fit(toy.X[:3000], toy.feature_names)
    state = pre.get_state()
    assert_state_is_storable(state)
    restored = HiggsPreprocessor.from_state(state)
    assert restored.output_names == pre.output_names
    np.testing.assert_array_equal(restored.transform(toy.X[3000:]), pre.transform(toy.X[3000:]))


def test_state_round_trip_through_hdf5(tmp_path, toy, fitted):
    path = tmp_path / "state.h5"
    with h5py.File(path, "w") as f:
        group = f.create_group("preprocessor")
        for key, value in fitted.get_state().items():
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


def test_from_state_rejects_incomplete_or_foreign_state(fitted):
    state = fitted.get_state()
    with pytest.raises(ValueError, match="state lacks mean, std"):
        HiggsPreprocessor.from_state({k: v for k, v in state.items() if k not in ("mean", "std")})
    with pytest.raises(ValueError, match="state is of class 'DenseLayer'"):
        HiggsPreprocessor.from_state(dict(state, **{"class": "DenseLayer"}))
    with pytest.raises(ValueError, match=r"mean has shape \(29,\), expected \(30,\)"):
        HiggsPreprocessor.from_state(dict(state, mean=state["mean"][1:]))
    with pytest.raises(ValueError, match="version 2 is not supported"):
        HiggsPreprocessor.from_state(dict(state, version=2))


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
