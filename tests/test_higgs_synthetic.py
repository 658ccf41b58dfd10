"""The synthetic Higgs generator: schema, physics, reproducibility, file round trip."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dropout_layers.metrics import roc_auc
from dropout_layers_higgs.data import KAGGLE_FEATURES, load_higgs
from dropout_layers_higgs.metrics import BACKGROUND_WEIGHT_TOTAL, SIGNAL_WEIGHT_TOTAL
from dropout_layers_higgs.synthetic import PROCESSES, generate_toy_higgs, write_toy_higgs

REPO = Path(__file__).resolve().parents[1]
N_EVENTS = 20000
COLUMN = {name: j for j, name in enumerate(KAGGLE_FEATURES)}


@pytest.fixture(scope="module")
def toy():
    return generate_toy_higgs(N_EVENTS, seed=11, return_processes=True)


def column(data, name):
    return data.X[:, COLUMN[name]].astype(np.float64)


def five_sigma(n, p=0.5):
    """Five standard deviations of a binomial fraction."""
    return 5.0 * np.sqrt(p * (1 - p) / n)


def test_schema_counts_ids_and_weights(toy):
    data, processes = toy
    assert data.format == "kaggle-train" and data.feature_names == KAGGLE_FEATURES
    assert data.X.shape == (N_EVENTS, 30) and data.X.dtype == np.float32
    np.testing.assert_array_equal(data.event_ids, np.arange(100000, 100000 + N_EVENTS))
    assert int(data.y.sum()) == round(0.34 * N_EVENTS)
    np.testing.assert_array_equal(data.y, processes <= 1)
    assert set(np.unique(processes).tolist()) == set(range(len(PROCESSES)))
    assert data.weights[data.y == 1].sum() == pytest.approx(SIGNAL_WEIGHT_TOTAL, rel=1e-12)
    assert data.weights[data.y == 0].sum() == pytest.approx(BACKGROUND_WEIGHT_TOTAL, rel=1e-12)
    assert (data.weights > 0).all()
    # Signal events are rare in nature: each weighs far less than a background event.
    assert data.weights[data.y == 1].max() < data.weights[data.y == 0].min()


def test_same_seed_same_events_other_seed_other_events():
    a = generate_toy_higgs(500, seed=5)
    b = generate_toy_higgs(500, seed=5)
    c = generate_toy_higgs(500, seed=6)
    for name in ("X", "y", "weights", "event_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.X, c.X)
    assert int(generate_toy_higgs(1000, seed=1, signal_fraction=0.1).y.sum()) == 100


def test_missing_values_follow_jet_multiplicity(toy):
    data, _ = toy
    jet_num = column(data, "PRI_jet_num")
    assert set(np.unique(jet_num).tolist()) == {0.0, 1.0, 2.0, 3.0}
    missing = data.X == -999.0
    leading = [COLUMN[f"PRI_jet_leading_{v}"] for v in ("pt", "eta", "phi")]
    dijet = [COLUMN[name] for name in (
        "DER_deltaeta_jet_jet", "DER_mass_jet_jet", "DER_prodeta_jet_jet",
        "DER_lep_eta_centrality", "PRI_jet_subleading_pt", "PRI_jet_subleading_eta",
        "PRI_jet_subleading_phi")]
    for j in leading:
        np.testing.assert_array_equal(missing[:, j], jet_num == 0)
    for j in dijet:
        np.testing.assert_array_equal(missing[:, j], jet_num < 2)
    others = set(range(30)) - set(leading) - set(dijet) - {COLUMN["DER_mass_MMC"]}
    assert not missing[:, sorted(others)].any()
    mmc_failures = missing[:, COLUMN["DER_mass_MMC"]].mean()
    assert 0.02 < mmc_failures < 0.4


def test_jet_sums_and_derived_features_are_consistent(toy):
    data, _ = toy
    jet_num = column(data, "PRI_jet_num")
    all_pt = column(data, "PRI_jet_all_pt")
    leading, subleading = column(data, "PRI_jet_leading_pt"), column(data, "PRI_jet_subleading_pt")
    assert (all_pt[jet_num == 0] == 0).all()
    np.testing.assert_array_equal(all_pt[jet_num == 1], leading[jet_num == 1])
    two = jet_num == 2
    # Each value is rounded to 1e-3 on its own: sums agree to 1.5e-3.
    assert np.abs(all_pt[two] - leading[two] - subleading[two]).max() <= 1.5e-3 + 1e-9
    assert (all_pt[jet_num == 3] > leading[jet_num == 3] + subleading[jet_num == 3]).all()
    assert (leading[jet_num >= 2] >= subleading[jet_num >= 2]).all()
    sum_pt = column(data, "PRI_tau_pt") + column(data, "PRI_lep_pt") + all_pt
    assert np.abs(column(data, "DER_sum_pt") - sum_pt).max() <= 2e-3 + 1e-9
    ratio = column(data, "PRI_lep_pt") / column(data, "PRI_tau_pt")
    np.testing.assert_allclose(column(data, "DER_pt_ratio_lep_tau"), ratio, atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(column(data, "DER_prodeta_jet_jet")[two],
                               (column(data, "PRI_jet_leading_eta")
                                * column(data, "PRI_jet_subleading_eta"))[two], atol=1e-2)


def test_selection_and_angle_ranges(toy):
    data, _ = toy
    assert column(data, "PRI_tau_pt").min() >= 20 and column(data, "PRI_lep_pt").min() >= 26
    assert np.abs(column(data, "PRI_tau_eta")).max() <= 2.5
    assert np.abs(column(data, "PRI_lep_eta")).max() <= 2.5
    centrality = column(data, "DER_met_phi_centrality")
    assert np.abs(centrality).max() <= np.sqrt(2) + 1e-3
    for name in ("PRI_tau_phi", "PRI_lep_phi", "PRI_met_phi"):
        phi = column(data, name)
        assert np.abs(phi).max() <= 3.1416  # pi, rounded to 1e-3
        # Uniform in azimuth: half the events in each half-turn.
        assert abs((phi > 0).mean() - 0.5) < five_sigma(N_EVENTS)


def test_mass_peaks(toy):
    data, processes = toy
    mmc = column(data, "DER_mass_MMC")
    defined = mmc != -999.0
    # The Higgs MMC mass is smeared symmetrically (in log) around 125 GeV:
    # half the signal events lie below it.
    higgs = mmc[defined & (data.y == 1)]
    assert abs((higgs < 125.0).mean() - 0.5) < five_sigma(len(higgs))
    # Z -> tau tau peaks lower: most of it lies below 125 GeV.
    z = mmc[defined & (processes == PROCESSES.index("Z->tautau"))]
    assert (z < 125.0).mean() > 0.5 + five_sigma(len(z))
    # W + jets shows the Jacobian peak of the transverse mass, ~60-80 GeV;
    # tau pairs have the neutrinos close to the visible decay products.
    transverse_mass = column(data, "DER_mass_transverse_met_lep")
    w = transverse_mass[processes == PROCESSES.index("W+jets")]
    signal = transverse_mass[data.y == 1]
    assert np.median(w) > 40.0 > np.median(signal)


def test_task_is_learnable_but_no_feature_separates_the_classes(toy):
    data, _ = toy
    separation = []
    for j in range(30):
        auc = roc_auc(data.y, data.X[:, j])
        separation.append(max(auc, 1 - auc))
    assert max(separation) < 0.85
    # Closeness of the MMC mass to 125 GeV alone already separates the
    # classes (the AUC's statistical error here is ~0.005).
    mmc = column(data, "DER_mass_MMC")
    closeness = np.where(mmc > 0, -np.abs(np.log(np.maximum(mmc, 1e-3) / 125.0)), -10.0)
    assert roc_auc(data.y, closeness) > 0.65


@pytest.mark.parametrize("name", ["toy.csv", "toy.csv.gz"])
def test_written_file_reads_back_exactly(tmp_path, name):
    written = write_toy_higgs(tmp_path / name, n_events=3000, seed=2)
    assert written.path == str(tmp_path / name)
    loaded = load_higgs(tmp_path / name)
    for field in ("X", "y", "weights", "event_ids"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(written, field))
    np.testing.assert_array_equal(written.X, generate_toy_higgs(3000, seed=2).X)


def test_test_schema_has_no_labels(tmp_path):
    path = tmp_path / "test.csv"
    written = write_toy_higgs(path, n_events=300, seed=4, test=True)
    header = path.read_text().split("\n", 1)[0].split(",")
    assert header[-1] == "PRI_jet_all_pt" and "Weight" not in header
    loaded = load_higgs(path)
    assert loaded.format == "kaggle-test" and loaded.y is None
    np.testing.assert_array_equal(loaded.X, written.X)


def test_argument_checks():
    with pytest.raises(ValueError, match="signal_fraction must be in"):
        generate_toy_higgs(100, signal_fraction=1.0)
    with pytest.raises(ValueError, match="n_events must be at least 2"):
        generate_toy_higgs(1)


def test_script_writes_training_and_test_files(tmp_path):
    script = REPO / "scripts" / "make_toy_higgs.py"
    out = tmp_path / "toy.csv"
    proc = subprocess.run([sys.executable, str(script), "--out", str(out), "--events", "400",
                           "--seed", "3"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        f"wrote 400 events (136 signal) in the Kaggle training.csv schema to {out}")
    np.testing.assert_array_equal(load_higgs(out).X, generate_toy_higgs(400, seed=3).X)

    proc = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "t.csv"),
                           "--events", "50", "--test"], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert load_higgs(tmp_path / "t.csv").format == "kaggle-test"

    proc = subprocess.run([sys.executable, str(script), "--out", str(out), "--events", "1"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "--events must be at least 2" in proc.stderr
