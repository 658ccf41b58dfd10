"""pandas in the fit loop, MC dropout and ensembles: DataFrames in, their columns kept, checked."""
import types

import numpy as np
import pytest

import dropout_layers as dl
from dropout_layers.inputs import InputError
from dropout_layers.training import Trainer, fit
from dropout_layers.training import trainer as training_trainer

pd = pytest.importorskip("pandas")

COLUMNS = ["mass", "pt", "eta"]


def _frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)).astype("float32"), columns=COLUMNS)
    y = pd.Series((X["mass"] + X["pt"] > 0).astype("float32"), name="label")
    w = pd.Series(rng.uniform(0.5, 2.0, size=n), name="weight")
    return X, y, w


def _network(seed=0):
    with dl.random.seeded(seed):
        hidden = dl.DenseLayer(dl.InputLayer((None, 3)), 5, name="hidden")
        return dl.DenseLayer(dl.SwitchDropoutLayer(hidden, p=0.5, name="drop"), 1,
                             nonlinearity=dl.nonlinearities.sigmoid, name="out")


@pytest.fixture(scope="module")
def fitted():
    X, y, w = _frame()
    trainer = fit(_network(), X, y, w, valid=(X, y, w), epochs=2, learning_rate=0.05,
                  mode="FAST_COMPILE", verbose=False)
    return trainer, X, y, w


def test_a_frame_trains_exactly_as_its_array(fitted):
    trainer, X, y, w = fitted
    assert list(trainer.feature_names_in_) == COLUMNS
    plain = fit(_network(), X.to_numpy(), y.to_numpy(), w.to_numpy(),
                valid=(X.to_numpy(), y.to_numpy(), w.to_numpy()), epochs=2, learning_rate=0.05,
                mode="FAST_COMPILE", verbose=False)
    assert plain.feature_names_in_ is None
    for key in ("train_loss", "valid_loss"):
        assert trainer.history.column(key) == plain.history.column(key)
    np.testing.assert_array_equal(trainer.predict(X), plain.predict(X.to_numpy()))
    # Arrays are taken as they are, also by a trainer that knows column names.
    np.testing.assert_array_equal(trainer.predict(X.to_numpy()), trainer.predict(X))
    assert trainer.evaluate(X, y, w) == plain.evaluate(X.to_numpy(), y.to_numpy(), w.to_numpy())


@pytest.mark.parametrize("columns, message", [
    (["pt", "mass", "eta"], "X has the training columns in another order (column 0 is 'pt', "
                            "trained on 'mass'); select them in the training order, for example "
                            "X[trainer.feature_names_in_]"),
    (["mass", "eta"], "X lacks the training column 'pt'"),
    (["mass", "pt", "eta", "phi"], "X has column 'phi' that the network was not trained on"),
])
def test_other_columns_are_refused_by_name(fitted, columns, message):
    trainer, X, y, _ = fitted
    frame = X.assign(phi=0.0)[columns]
    with pytest.raises(InputError) as error:
        trainer.predict(frame)
    assert str(error.value) == message
    with pytest.raises(InputError, match="lacks|order|not trained"):
        trainer.evaluate(frame, y)
    with pytest.raises(InputError, match="valid X"):
        trainer.fit(X, y, valid=(frame, y), epochs=3, verbose=False)
    assert trainer.epoch == 2
    # The right columns in the training order are taken again.
    assert trainer.predict(frame.assign(pt=X["pt"], mass=X["mass"])[COLUMNS]).shape == (40, 1)


def test_bad_frame_values_name_the_column(fitted):
    trainer, X, y, _ = fitted
    text = X.assign(pt=X["pt"].astype(str))
    with pytest.raises(InputError, match="X column 'pt' has dtype (object|str); the network "
                                         "takes numbers only"):
        trainer.predict(text)
    holes = X.copy()
    holes.iloc[7, 2] = np.nan
    with pytest.raises(InputError, match=r"X contains nan at row 7, column 2 \('eta'\)"):
        trainer.predict(holes)


def test_feature_names_travel_with_the_checkpoint_metadata(fitted, monkeypatch, tmp_path):
    trainer, X, y, _ = fitted
    metadata = trainer.checkpoint_metadata()
    assert metadata["feature_names_in"] == COLUMNS
    restored = Trainer(_network(seed=4), learning_rate=0.05, mode="FAST_COMPILE")

    def restore(path, network, optimizer=None):
        return types.SimpleNamespace(history=trainer.history.to_dict(), metadata=metadata)

    monkeypatch.setattr(training_trainer, "restore_training_state", restore)
    restored.fit(X.to_numpy(), y, epochs=2, resume_from=str(tmp_path / "run.h5"), verbose=False)
    assert list(restored.feature_names_in_) == COLUMNS
    with pytest.raises(InputError, match="another order"):
        restored.predict(X[COLUMNS[::-1]])


def test_mc_dropout_and_ensembles_take_frames(fitted):
    trainer, X, _, _ = fitted
    network = trainer.network
    mean, std = dl.predict_mc(network, X, n_samples=4, seed=1)
    again = dl.predict_mc(network, X.to_numpy(), n_samples=4, seed=1)
    np.testing.assert_array_equal(mean, again[0])
    np.testing.assert_array_equal(std, again[1])
    ensemble = dl.Ensemble([network, _network(seed=2)])
    np.testing.assert_array_equal(ensemble.predict(X), ensemble.predict(X.to_numpy()))
