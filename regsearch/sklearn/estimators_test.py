"""RegSearchClassifier / RegSearchRegressor: fitted attributes, parameters, errors, pickle."""

from __future__ import annotations

import copy
import os
import pickle
import tempfile

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_multilabel_classification
from sklearn.exceptions import NotFittedError

import regsearch
from regsearch.sklearn import RegSearchClassifier, RegSearchRegressor
from regsearch.sklearn._base import _split

TINY = {"max_trials": 1, "epochs": 2, "seed": 0}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    return X.astype("float64"), y


def _regression(n=120, n_outputs=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ rng.normal(size=(3, n_outputs)) * 50.0 + 1000.0
    return X, (y[:, 0] if n_outputs == 1 else y)


def test_classifier_fitted_attributes(blobs):
    X, y = blobs
    clf = RegSearchClassifier(max_trials=2, epochs=3, seed=0).fit(X, y)
    assert isinstance(clf.model_, keras.Model)
    assert set(clf.best_params_) >= {"kernel"}
    assert len(clf.results_) == 2
    assert set(clf.results_["status"]) == {"COMPLETED"}
    assert len(clf.pareto_front_) >= 1
    assert isinstance(clf.trim_report_, regsearch.TrimReport)
    assert clf.model_.count_params() <= clf.trim_report_.params_before
    assert len(clf.history_["loss"]) == 3
    assert "val_data_loss" in clf.history_
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 4
    assert not hasattr(clf, "feature_names_in_")
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_feature_names_and_string_labels(blobs):
    X, y = blobs
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = np.array(["cat", "dog"])[(y > 0).astype(int)]
    clf = RegSearchClassifier(**TINY).fit(frame, labels)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog"])
    assert clf.model_.outputs[0].shape[-1] == 1  # binary: one sigmoid output
    assert set(clf.predict(frame)) <= {"cat", "dog"}
    assert clf.predict_proba(frame).shape == (len(X), 2)


def test_trim_false_keeps_the_trained_model(blobs):
    X, y = blobs
    clf = RegSearchClassifier(trim=False, **TINY).fit(X, y)
    assert clf.trim_report_ is None
    assert clf.model_.count_params() == 4 * 16 + 16 + 16 * 3 + 3


def test_fit_changes_no_parameter_dict_or_model(blobs):
    X, y = blobs
    user = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    user.compile(optimizer="adam", loss="categorical_crossentropy")
    weights = [w.copy() for w in user.get_weights()]
    space = regsearch.SearchSpace(kernel=["none", "l2"])
    objective = regsearch.Objective("val_loss", size_weight=0.1)
    fit_kwargs = {"shuffle": True}
    params = dict(space=space, objective=objective, fit_kwargs=fit_kwargs, **TINY)
    clf = RegSearchClassifier(user, **params)
    before = copy.deepcopy({k: v for k, v in clf.get_params().items() if k != "model"})
    clf.fit(X, y)
    after = {k: v for k, v in clf.get_params().items() if k != "model"}
    assert after == before
    assert clf.model is user and clf.space is space and clf.fit_kwargs is fit_kwargs
    assert fit_kwargs == {"shuffle": True}
    for old, new in zip(weights, user.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert user.optimizer.iterations.numpy() == 0  # never trained


def test_callable_model_gets_X_encoded_y_and_model_kwargs(blobs):
    X, y = blobs
    seen = {}

    def build(X, y, units):
        seen.update(shape=y.shape, units=units)
        return keras.Sequential(
            [
                keras.Input((X.shape[1],)),
                keras.layers.Dense(units, activation="relu"),
                keras.layers.Dense(y.shape[1], activation="softmax"),
            ]
        )

    clf = RegSearchClassifier(build, model_kwargs={"units": 5}, **TINY).fit(X, y)
    assert seen == {"shape": (len(X), 3), "units": 5}  # one-hot targets
    assert clf.predict(X).shape == (len(X),)


def test_model_with_wrong_output_width_is_an_error(blobs):
    X, y = blobs
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match=r"has 2 outputs.*3 columns"):
        RegSearchClassifier(model, **TINY).fit(X, y)


def test_oracle_is_copied_never_used(blobs):
    X, y = blobs
    oracle = keras_tuner.oracles.RandomSearchOracle(max_trials=2, seed=3)
    clf = RegSearchClassifier(tuner=oracle, epochs=1, seed=0).fit(X, y)
    assert oracle.trials == {}
    assert len(clf.results_) == 2
    clone(clf).fit(X, y)  # the same oracle serves every fit
    assert oracle.trials == {}


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["bayesian", "hyperband", "grid", "pareto"])
def test_every_tuner_name_runs(blobs, tuner):
    X, y = blobs
    space = regsearch.SearchSpace(kernel=["none", "l2"], strength=(1e-4, 1e-3))
    clf = RegSearchClassifier(tuner=tuner, space=space, max_trials=2, epochs=2, seed=0)
    clf.fit(X, y)
    assert (clf.results_["status"] == "COMPLETED").sum() >= 1
    assert clf.predict(X).shape == (len(X),)


def test_temporary_directory_is_removed(blobs, tmp_path, monkeypatch):
    X, y = blobs
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    RegSearchClassifier(**TINY).fit(X, y)
    assert os.listdir(tmp_path) == []


def test_given_directory_keeps_the_trials_of_every_fit(blobs, tmp_path):
    X, y = blobs
    clf = RegSearchClassifier(directory=tmp_path, **TINY)
    first = clf.fit(X, y).project_dir_
    second = clf.fit(X, y).project_dir_
    assert first != second
    for project in (first, second):
        assert os.path.dirname(project) == str(tmp_path)
        assert os.path.basename(project).startswith("RegSearchClassifier_")
        assert os.path.exists(os.path.join(project, "trial_0", "trial.json"))
    assert RegSearchClassifier(**TINY).fit(X, y).project_dir_ is None


def test_classifier_validation_split_is_stratified():
    classes = np.repeat([0, 1, 2], [60, 30, 10])
    for seed in range(5):
        train, val = _split(100, 0.2, seed, classes=classes)
        assert sorted(np.concatenate([train, val])) == list(range(100))
        np.testing.assert_array_equal(np.bincount(classes[val]), [12, 6, 2])


def test_validation_split_falls_back_to_random_when_a_class_is_too_small():
    one_sample = np.repeat([0, 1, 2], [60, 39, 1])
    train, val = _split(100, 0.2, 0, classes=one_sample)
    assert len(val) == 20 and len(train) == 80
    many_classes = np.arange(10).repeat(2)  # 4 validation rows for 10 classes
    train, val = _split(20, 0.2, 0, classes=many_classes)
    assert len(val) == 4 and not set(train) & set(val)


def test_fit_trains_as_plain_keras_does_from_the_same_weights(blobs):
    # Given the same initial weights and batches, a fit (split, label encoding, dtype,
    # the penalty, ExactZeros writing the weights after every batch, the score
    # callback, the best-epoch reload) follows plain Keras on every backend. JAX
    # trains on copies of the weights during an epoch, so a weight edit that skipped
    # syncing would show here. TensorFlow and JAX draw different initial weights from
    # one seed; seeded initializers make the two fits comparable.
    X, y = blobs

    def build(X=None, y=None, regularizer=None):
        layers = [(8, "relu", "hidden"), (3, "softmax", "output")]
        return keras.Sequential(
            [keras.Input((4,))]
            + [
                keras.layers.Dense(
                    units,
                    activation,
                    name=name,
                    kernel_initializer=keras.initializers.GlorotUniform(seed),
                    kernel_regularizer=regularizer,
                )
                for seed, (units, activation, name) in enumerate(layers)
            ]
        )

    fit = {"epochs": 3, "batch_size": 32}
    space = regsearch.SearchSpace(kernel=["group_lasso"], strength=(1e-2, 1.01e-2))
    clf = RegSearchClassifier(
        build,
        space=space,
        trim=False,
        penalty_warmup=False,  # penalized from the first batch, as plain Keras is
        seed=0,
        max_trials=1,
        fit_kwargs={"shuffle": False},
        **fit,
    ).fit(X, y)

    train, val = _split(len(X), 0.2, 0, classes=y)
    inputs, onehot = X.astype("float32"), np.eye(3, dtype="float32")[y]
    strength = clf.best_params_["kernel_group_lasso_strength"]
    plain = build(regularizer=regsearch.regularizers.GroupLasso(strength))
    plain.compile("adam", "categorical_crossentropy")
    history = plain.fit(
        inputs[train],
        onehot[train],
        validation_data=(inputs[val], onehot[val]),
        shuffle=False,
        verbose=0,
        **fit,
    ).history
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(clf.history_[name], history[name], rtol=1e-4, err_msg=name)
    expected = keras.ops.convert_to_numpy(plain(inputs))
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-5)


def test_classifier_fits_when_a_class_has_one_sample(blobs):
    X, y = blobs
    y = y.copy()
    y[y == 2] = 1
    y[0] = 2  # a single sample of class 2: no stratified split exists
    clf = RegSearchClassifier(**TINY).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


@pytest.mark.parametrize("make", [RegSearchClassifier, RegSearchRegressor])
def test_clone_keeps_every_parameter(make):
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(max_trials=3)
    est = make(
        space=regsearch.SearchSpace(kernel=["l1"]),
        objective=regsearch.Objective("val_loss", size_weight=0.5),
        tuner=oracle,
        max_trials=7,
        epochs=3,
        batch_size=16,
        validation_split=0.3,
        trim=False,
        seed=4,
        directory="runs",
        verbose=1,
        model_kwargs={"hidden_units": [4]},
        fit_kwargs={"shuffle": False},
    )
    cloned = clone(est)
    original, copied = est.get_params(), cloned.get_params()
    assert copied.keys() == original.keys()
    for name, value in original.items():
        if name == "tuner":
            assert type(copied[name]) is type(value) and copied[name] is not value
            assert copied[name].max_trials == 3
        else:
            assert copied[name] == value, name


def test_pickle_round_trip_predicts_the_same(blobs):
    X, y = blobs
    clf = RegSearchClassifier(**TINY).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.model_ is not clf.model_
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), clf.predict(X))
    assert "model_" not in clf.__getstate__()  # stored as .keras bytes

    X, y = _regression(n_outputs=2)
    reg = RegSearchRegressor(**TINY).fit(X, y)
    restored = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(restored.predict(X), reg.predict(X))


@pytest.mark.slow
def test_regressor_restores_the_target_scale():
    X, y = _regression()
    # Batches of 8: with 32 (3 steps an epoch) R^2 ranged from -0.44 to 0.81 over 6
    # seeds on either backend; with 8, from 0.75 to 0.99.
    reg = RegSearchRegressor(max_trials=1, epochs=30, batch_size=8, seed=0).fit(X, y)
    pred = reg.predict(X)
    assert pred.shape == (len(X),) and pred.dtype == np.float64
    assert abs(pred.mean() - y.mean()) < 0.5 * y.std()  # not around 0: scale restored
    assert reg.score(X, y) > 0.5


def test_regressor_multi_output():
    X, y = _regression(n_outputs=2)
    reg = RegSearchRegressor(**TINY).fit(X, y)
    assert reg.model_.outputs[0].shape[-1] == 2
    assert reg.predict(X).shape == (len(X), 2)


@pytest.mark.slow
def test_multilabel_with_top_k_keeps_at_most_k_labels():
    X, y = make_multilabel_classification(
        n_samples=150, n_features=6, n_classes=5, n_labels=3, random_state=0
    )
    assert (y.sum(axis=1) > 1).mean() > 0.5  # most rows have several labels
    space = regsearch.SearchSpace(kernel=["none"], top_k=[1])
    clf = RegSearchClassifier(space=space, max_trials=1, epochs=20, seed=0).fit(X, y)
    assert clf.best_params_["top_k"] == 1
    assert any(isinstance(layer, regsearch.layers.TopK) for layer in clf.model_.layers)
    pred = clf.predict(X)
    assert pred.shape == y.shape and pred.dtype == y.dtype
    assert pred.sum(axis=1).max() <= 1
    assert pred.sum() > 0
    proba = clf.predict_proba(X)
    assert proba.shape == y.shape and ((proba > 0).sum(axis=1) <= 1).all()

    free = RegSearchClassifier(space=regsearch.SearchSpace(kernel=["none"]), **TINY).fit(X, y)
    assert free.predict_proba(X).shape == y.shape


def test_zero_weight_samples_are_left_out(blobs):
    X, y = blobs
    weights = np.ones(len(y))
    plain = RegSearchClassifier(**TINY).fit(X, y)
    weighted = RegSearchClassifier(**TINY).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(plain.predict_proba(X), weighted.predict_proba(X))
    with pytest.raises(ValueError, match="only one class"):
        RegSearchClassifier(**TINY).fit(X, y, sample_weight=(y == 0).astype(float))
    with pytest.raises(ValueError, match="non-zero"):
        RegSearchClassifier(**TINY).fit(X, y, sample_weight=np.zeros(len(y)))


@pytest.mark.parametrize(
    ("X_change", "message"),
    [
        (lambda X: np.where(X > 1.5, np.nan, X), "Input X contains NaN"),
        (lambda X: np.where(X > 1.5, np.inf, X), "Input X contains infinity"),
        (lambda X: X[:, 0], "Expected 2D array, got 1D array"),
        (lambda X: X + 1j, "Complex data not supported"),
    ],
)
@pytest.mark.parametrize("make", [RegSearchClassifier, RegSearchRegressor])
def test_bad_X_gets_sklearn_errors(blobs, make, X_change, message):
    X, y = blobs
    with pytest.raises(ValueError, match=message):
        make(**TINY).fit(X_change(X), y)


def test_predict_errors(blobs):
    X, y = blobs
    clf = RegSearchClassifier(**TINY)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(NotFittedError):
        RegSearchRegressor().predict(X)
    clf.fit(X, y)
    with pytest.raises(
        ValueError, match="X has 3 features, but RegSearchClassifier is expecting 4"
    ):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict_proba(np.full_like(X, np.nan))


def test_classifier_rejects_continuous_and_one_class_targets(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Unknown label type"):
        RegSearchClassifier(**TINY).fit(X, y + 0.5)
    with pytest.raises(ValueError, match="only one class"):
        RegSearchClassifier(**TINY).fit(X, np.zeros(len(X)))


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"tuner": "rnadom"}, ValueError, "Did you mean 'random'"),
        ({"tuner": 3}, TypeError, "keras_tuner.Oracle"),
        ({"max_trials": 0}, ValueError, "max_trials"),
        ({"validation_split": 1.0}, ValueError, "validation_split"),
        ({"fit_kwargs": {"epochs": 3}}, ValueError, r"Use \['epochs'\]"),
        ({"space": {"kernel": ["l1"]}}, TypeError, "regsearch.SearchSpace"),
        ({"model_kwargs": {"units": 3}}, ValueError, "hidden_units"),
        (
            {"validation_split": 0.0, "objective": regsearch.Objective("val_loss")},
            ValueError,
            "validation_split > 0",
        ),
    ],
)
def test_bad_parameters_fail_at_fit(blobs, params, error, message):
    X, y = blobs
    est = RegSearchClassifier(**params)  # __init__ only stores
    with pytest.raises(error, match=message):
        est.fit(X, y)


def test_used_oracle_is_rejected(blobs, tmp_path):
    X, y = blobs
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="loss", max_trials=1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    tuner = keras_tuner.Tuner(oracle=oracle, hypermodel=lambda hp: model, directory=tmp_path)
    tuner.search(X, y.astype("float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="already run 1 trials"):
        RegSearchClassifier(tuner=oracle, epochs=1).fit(X, y)
