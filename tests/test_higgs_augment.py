"""Rotations and reflections of the events, and the batches of each epoch (augment.py)."""
import numpy as np
import pytest

from dropout_layers_higgs.augment import EventBatches, symmetry_columns, transform_event_frame
from dropout_layers_higgs.data import KAGGLE_FEATURES, MISSING_VALUE, UCI_FEATURES
from dropout_layers_higgs.options import PipelineOptions
from dropout_layers_higgs.preprocessing import HiggsPreprocessor
from dropout_layers_higgs.synthetic import generate_toy_higgs


def test_the_angle_columns_of_both_schemas():
    phi, eta, half = symmetry_columns(KAGGLE_FEATURES)
    assert [KAGGLE_FEATURES[j] for j in phi] == [
        "PRI_tau_phi", "PRI_lep_phi", "PRI_met_phi", "PRI_jet_leading_phi",
        "PRI_jet_subleading_phi"]
    assert [KAGGLE_FEATURES[j] for j in eta] == [
        "PRI_tau_eta", "PRI_lep_eta", "PRI_jet_leading_eta", "PRI_jet_subleading_eta"]
    assert half == np.pi
    phi, eta, half = symmetry_columns(UCI_FEATURES)
    assert len(phi) == 6 and len(eta) == 5 and half == 1.743
    assert symmetry_columns(["x_phi", "y"])[2] is None


@pytest.fixture(scope="module")
def toy():
    return generate_toy_higgs(4000, seed=3)


def _wrap(angle):
    return (angle + np.pi) % (2 * np.pi) - np.pi


def test_a_transformed_event_is_the_same_event_seen_from_elsewhere(toy):
    columns = symmetry_columns(toy.feature_names)
    phi, eta, _ = columns
    X = toy.X.astype(np.float64)
    turned = transform_event_frame(X, columns, np.random.default_rng(0))
    others = np.setdiff1d(np.arange(X.shape[1]), np.concatenate([phi, eta]))
    np.testing.assert_array_equal(turned[:, others], X[:, others])
    np.testing.assert_array_equal(turned == MISSING_VALUE, X == MISSING_VALUE)
    # Angles between objects keep their size (a reflection flips their sign).
    tau, lep, met = phi[0], phi[1], phi[2]
    for a, b in ((tau, lep), (tau, met)):
        np.testing.assert_allclose(np.abs(_wrap(turned[:, a] - turned[:, b])),
                                   np.abs(_wrap(X[:, a] - X[:, b])), atol=1e-9)
    # Every pseudorapidity of an event flips together, or none does.
    defined = (X[:, eta[1]] != MISSING_VALUE) & (X[:, eta[0]] != 0) & (X[:, eta[1]] != 0)
    same = np.sign(turned[defined, eta[0]] * X[defined, eta[0]]) == \
        np.sign(turned[defined, eta[1]] * X[defined, eta[1]])
    assert same.all()
    # The new angle of the tau is uniform: about half of 4000 events in
    # [0, pi), within four binomial standard deviations (4 * sqrt(1000) ~ 126).
    assert abs(np.sum(turned[:, tau] >= 0) - 2000) < 126
    assert np.all(np.abs(turned[:, phi][turned[:, phi] != MISSING_VALUE]) <= np.pi)


def test_epochs_are_stateless_and_each_pass_of_chunks_covers_every_event_once(toy):
    X, y = toy.X[:1000], toy.y[:1000]
    preprocessor = HiggsPreprocessor().fit(X, toy.feature_names)
    options = PipelineOptions(batch_size=64, epoch_events=300)
    batches = EventBatches(X, y, np.ones(1000), preprocessor, toy.feature_names, options, 4)
    assert batches.chunks == 4 and len(batches) == 4
    for first in (1, 5):
        seen = np.concatenate([batches.rows(epoch) for epoch in range(first, first + 4)])
        np.testing.assert_array_equal(np.sort(seen), np.arange(1000))
    assert not np.array_equal(batches.rows(1), batches.rows(5))
    again = EventBatches(X, y, np.ones(1000), preprocessor, toy.feature_names, options, 4)
    for a, b in zip(batches(3), again(3)):
        for part_a, part_b in zip(a, b):
            np.testing.assert_array_equal(part_a, part_b)
    # The batches hold the chunk's events, rotated: targets match row for row.
    rows = batches.rows(3)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches(3)]), y[rows])
