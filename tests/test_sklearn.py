"""The scikit-learn estimators: estimator checks, exact round trips, reuse of compiled graphs."""
import pickle

import numpy as np
import pytensor
import pytest
from helpers import run_python

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from dropout_layers import get_all_layers, get_output, mlp  # noqa: E402
from dropout_layers.metrics import roc_auc  # noqa: E402
from dropout_layers.sklearn import (  # noqa: E402
    DropoutMLPClassifier,
    DropoutMLPRegressor,
    expected_failed_checks,
)


@parametrize_with_checks([DropoutMLPClassifier(), DropoutMLPRegressor()],
                         expected_failed_checks=expected_failed_checks)
def test_estimator_checks(estimator, check):
    check(estimator)


def _blobs(n=400, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, n_features))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def test_import_does_not_import_sklearn():
    proc = run_python("import sys, dropout_layers; print([m for m in sys.modules"
                      " if m.split('.')[0] == 'sklearn'])")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_classifier_learns_a_linear_boundary():
    X, y = _blobs(800)
    model = DropoutMLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                 max_iter=40, random_state=0).fit(X[:400], y[:400])
    # Chance is 0.5 with a binomial standard deviation of 0.025 on 400 rows.
    assert model.score(X[400:], y[400:]) > 0.9
    proba = model.predict_proba(X[400:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # The decision function is the logit of the positive class's probability.
    np.testing.assert_allclose(1 / (1 + np.exp(-model.decision_function(X[400:]))), proba[:, 1],
                               rtol=1e-12)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X[400:])), proba, rtol=1e-12)


def test_string_labels_and_several_classes():
    rng = np.random.RandomState(1)
    X = rng.normal(size=(600, 2))
    names = np.array(["tau", "higgs", "z"])
    y = names[np.argmax(np.column_stack([X[:, 0], X[:, 1], -X[:, 0] - X[:, 1]]), axis=1)]
    model = DropoutMLPClassifier(hidden_layer_sizes=(32,), dropout=0.2, learning_rate_init=0.01,
                                 max_iter=40, random_state=0).fit(X[:400], y[:400])
    assert model.classes_.tolist() == ["higgs", "tau", "z"]
    assert model.decision_function(X[:3]).shape == (3, 3)
    # Chance is 1/3 (standard deviation 0.033 on 200 rows).
    assert model.score(X[400:], y[400:]) > 0.8
    assert set(model.predict(X[400:])) <= set(names)


def test_regressor_fits_a_smooth_function_and_several_targets():
    rng = np.random.RandomState(2)
    X = rng.uniform(-2, 2, size=(600, 2))
    Y = np.column_stack([np.sin(X[:, 0]), X[:, 0] * X[:, 1] / 2])
    model = DropoutMLPRegressor(hidden_layer_sizes=(64,), dropout=0.1, learning_rate_init=0.01,
                                max_iter=80, random_state=0).fit(X[:400], Y[:400])
    assert model.predict(X[400:]).shape == (200, 2)
    assert model.n_outputs_ == 2
    # R^2 of a constant prediction is 0 at best.
    assert model.score(X[400:], Y[400:]) > 0.8
    single = DropoutMLPRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    assert single.fit(X, Y[:, 0]).predict(X[:4]).shape == (4,)


def test_fit_is_reproducible_and_random_state_matters():
    X, y = _blobs()
    first = DropoutMLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=3).fit(X, y)
    again = clone(first).fit(X, y)
    other = clone(first).set_params(random_state=4).fit(X, y)
    for a, b in zip(first.coefs_, again.coefs_):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.coefs_[0], other.coefs_[0])


def test_pickle_keeps_weights_exact_and_rebuilds_the_compiled_functions():
    X, y = _blobs()
    model = DropoutMLPClassifier(hidden_layer_sizes=(8, 4), max_iter=5, random_state=0).fit(X, y)
    expected = model.predict_proba(X)
    blob = pickle.dumps(model)
    mlp.clear_cache()
    restored = pickle.loads(blob)
    for a, b in zip(model.coefs_ + model.intercepts_, restored.coefs_ + restored.intercepts_):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    # Training continues from the pickled optimizer state and RNG streams.
    continued = pickle.loads(blob).partial_fit(X, y)
    model.partial_fit(X, y)
    np.testing.assert_array_equal(continued.coefs_[0], model.coefs_[0])


def test_partial_fit_epochs_equal_fit_epochs():
    X, y = _blobs()
    settings = dict(hidden_layer_sizes=(8,), batch_size=64, random_state=5)
    fitted = DropoutMLPClassifier(max_iter=3, **settings).fit(X, y)
    stepped = DropoutMLPClassifier(**settings)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=[0, 1])
    assert stepped.n_iter_ == fitted.n_iter_ == 3
    assert stepped.loss_curve_ == fitted.loss_curve_
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_refuses_unknown_labels_and_missing_classes():
    X, y = _blobs(40)
    with pytest.raises(ValueError, match="classes must be passed"):
        DropoutMLPClassifier().partial_fit(X, y)
    model = DropoutMLPClassifier(hidden_layer_sizes=(4,)).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels \[7\] not in classes"):
        model.partial_fit(X, np.full(len(X), 7))
    with pytest.raises(ValueError, match="cannot change the network"):
        model.set_params(hidden_layer_sizes=(5,)).partial_fit(X, y)


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = _blobs(400)
    settings = dict(hidden_layer_sizes=(16,), early_stopping=True, validation_fraction=0.25,
                    n_iter_no_change=3, tol=0.0, learning_rate_init=0.05, random_state=0)
    model = DropoutMLPClassifier(max_iter=200, **settings).fit(X, y)
    curve = model.validation_loss_curve_
    assert len(curve) == model.n_iter_ == len(model.loss_curve_)
    assert model.best_epoch_ == 1 + int(np.argmin(curve))
    assert model.n_iter_ == model.best_epoch_ + 3
    # The kept weights are those of the best epoch: a run that stops there has them too.
    short = DropoutMLPClassifier(max_iter=model.best_epoch_, **settings).fit(X, y)
    for a, b in zip(model.coefs_, short.coefs_):
        np.testing.assert_array_equal(a, b)


def test_sample_weights_scale_free_and_shift_the_probabilities():
    rng = np.random.RandomState(6)
    X = rng.normal(size=(1000, 3))
    y = rng.randint(0, 2, size=1000)     # labels independent of X
    weights = np.where(y == 1, 9.0, 1.0)
    settings = dict(hidden_layer_sizes=(8,), dropout=0.0, max_iter=30, learning_rate_init=0.01,
                    random_state=0)
    model = DropoutMLPClassifier(**settings).fit(X, y, sample_weight=weights)
    scaled = DropoutMLPClassifier(**settings).fit(X, y, sample_weight=4 * weights)
    # The loss is sum(w * l) / sum(w): a power-of-two scale changes nothing, bit for bit.
    np.testing.assert_array_equal(model.coefs_[0], scaled.coefs_[0])
    # With uninformative X the weighted optimum is 9q / (9q + 1 - q) for the class
    # frequency q; its sampling spread is 0.006, the tolerance allows for the fit's.
    q = y.mean()
    expected = 9 * q / (9 * q + 1 - q)
    assert abs(model.predict_proba(X)[:, 1].mean() - expected) < 0.05


def test_one_compiled_graph_per_architecture(monkeypatch):
    X, y = _blobs(100, n_features=5)
    DropoutMLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0).fit(X, y).predict(X)
    compiled = []
    original = pytensor.function

    def counting(*args, **kwargs):
        compiled.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(pytensor, "function", counting)
    a = DropoutMLPClassifier(hidden_layer_sizes=(6,), dropout=0.3, learning_rate_init=0.01,
                             max_iter=2, random_state=1).fit(X, y)
    expected = a.predict_proba(X)
    b = DropoutMLPClassifier(hidden_layer_sizes=(6,), dropout=0.7, max_iter=2,
                             random_state=2).fit(X[::-1], 1 - y[::-1])
    assert compiled == []
    # Each estimator keeps its own weights although both trained the same compiled network.
    np.testing.assert_array_equal(a.predict_proba(X), expected)
    assert not np.array_equal(b.coefs_[0], a.coefs_[0])


def test_dataframe_column_names():
    pandas = pytest.importorskip("pandas")
    X, y = _blobs(100)
    frame = pandas.DataFrame(X, columns=["pt", "eta", "phi", "mass"])
    model = DropoutMLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(frame, y)
    assert model.feature_names_in_.tolist() == ["pt", "eta", "phi", "mass"]
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["eta", "pt", "phi", "mass"]])


def test_bad_parameters_are_refused_at_fit():
    X, y = _blobs(20)
    for name, value, message in [("dropout", 1.0, "dropout must be in"),
                                 ("solver", "lbfgs", "solver must be one of"),
                                 ("hidden_layer_sizes", (4, 0), "positive integer"),
                                 ("learning_rate_init", 0.0, "must be > 0"),
                                 ("batch_size", "big", "batch_size must be")]:
        model = DropoutMLPClassifier(**{name: value})     # __init__ checks nothing
        with pytest.raises(ValueError, match=message):
            model.fit(X, y)


def test_divergence_is_an_error():
    X, y = _blobs(100)
    model = DropoutMLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e6,
                                max_iter=20, random_state=0)
    with pytest.raises(RuntimeError, match="diverged"):
        model.fit(X * 1e3, y * 1e3)


def test_to_network_outputs_the_probabilities():
    X, y = _blobs(100)
    model = DropoutMLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    network = model.to_network()
    f = pytensor.function([get_all_layers(network)[0].input_var],
                          get_output(network, deterministic=True))
    np.testing.assert_allclose(f(X.astype("float32"))[:, 0], model.predict_proba(X)[:, 1],
                               rtol=1e-5, atol=1e-6)


def test_pipeline_with_a_scaler():
    X, y = _blobs(400)
    X = X * [1.0, 1e3, 1e-3, 10.0]
    model = make_pipeline(StandardScaler(), DropoutMLPClassifier(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=30, random_state=0))
    assert model.fit(X[:300], y[:300]).score(X[300:], y[300:]) > 0.85


def _uci_rows(path, n_rows):
    data = np.loadtxt(path / "binary.train", delimiter="\t", max_rows=n_rows)
    return data[:, 1:], data[:, 0].astype(int)


@pytest.mark.slow
def test_grid_search_over_dropout_and_width_on_the_uci_sample(uci_sample_dir):
    X, y = _uci_rows(uci_sample_dir, 2400)
    X_search, X_test, y_search, y_test = train_test_split(X, y, test_size=600, random_state=0,
                                                          stratify=y)
    pipeline = make_pipeline(StandardScaler(), DropoutMLPClassifier(
        learning_rate_init=0.003, max_iter=15, random_state=0))
    grid = {"dropoutmlpclassifier__dropout": [0.0, 0.5],
            "dropoutmlpclassifier__hidden_layer_sizes": [(16,), (64,)]}
    search = GridSearchCV(pipeline, grid, scoring="roc_auc", cv=3).fit(X_search, y_search)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # Scored on rows the search never saw; a guess has AUC 0.5 with a standard
    # deviation of about 0.024 on 600 rows.
    test_auc = roc_auc(y_test, search.predict_proba(X_test)[:, 1])
    assert test_auc > 0.6
