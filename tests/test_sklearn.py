"""End to end: the estimators inside scikit-learn's tools, on real data sets."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import regsearch
from regsearch import RegSearchClassifier, RegSearchRegressor

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


# With Keras's batches of 32, iris's 84 training rows give about 3 Adam steps an
# epoch: after 30 epochs the test accuracy ranged from 0.40 to 0.84 over 16 seeds,
# on TensorFlow and JAX alike, so one seed passed on one backend and failed on the
# other (the two draw different initial weights from a seed). Batches of 8 train
# enough: 0.76 to 0.89 over 10 seeds on each backend here, and cross-validation
# means of 0.68 to 0.88 over 8 seeds below.
def test_pipeline_with_standard_scaler(iris):
    X_train, X_test, y_train, y_test = iris
    pipe = make_pipeline(
        StandardScaler(), RegSearchClassifier(max_trials=1, epochs=30, batch_size=8, seed=0)
    )
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.7
    assert pipe.predict_proba(X_test).shape == (len(X_test), 3)


def test_grid_search_over_the_estimators_own_parameters(iris):
    X_train, _, y_train, _ = iris
    spaces = [regsearch.SearchSpace(kernel=["none"]), regsearch.SearchSpace(kernel=["l2"])]
    search = GridSearchCV(
        make_pipeline(StandardScaler(), RegSearchClassifier(max_trials=1, seed=0)),
        {"regsearchclassifier__epochs": [1, 10], "regsearchclassifier__space": spaces},
        cv=2,
    )
    search.fit(X_train, y_train)
    assert search.best_params_["regsearchclassifier__epochs"] == 10
    assert search.best_params_["regsearchclassifier__space"] in spaces
    best = search.best_estimator_[-1]
    assert best.epochs == 10 and hasattr(best, "model_")
    assert len(search.cv_results_["mean_test_score"]) == 4


def test_parallel_grid_search_fits_keep_their_own_projects_in_directory(iris, tmp_path):
    X_train, _, y_train, _ = iris
    search = GridSearchCV(
        RegSearchClassifier(max_trials=1, epochs=1, seed=0, directory=tmp_path),
        {"batch_size": [32]},
        cv=2,
        n_jobs=2,
        error_score="raise",
    )
    search.fit(X_train, y_train)
    projects = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(projects) == 3  # the two folds, fitted side by side, and the refit
    assert all(p.name.startswith("RegSearchClassifier_") for p in projects)
    assert all((p / "trial_0" / "trial.json").exists() for p in projects)
    assert search.best_estimator_.project_dir_ in {str(p) for p in projects}


def test_cross_val_score(iris):
    X_train, _, y_train, _ = iris
    scores = cross_val_score(
        make_pipeline(
            StandardScaler(), RegSearchClassifier(max_trials=1, epochs=20, batch_size=8, seed=0)
        ),
        X_train,
        y_train,
        cv=3,
    )
    assert scores.shape == (3,) and scores.mean() > 0.6


def test_digits_accuracy_well_above_chance():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, stratify=y, random_state=0
    )
    clf = RegSearchClassifier(max_trials=1, epochs=10, seed=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.85  # chance: 0.1


def test_diabetes_regression_in_a_scaling_pipeline():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = make_pipeline(StandardScaler(), RegSearchRegressor(max_trials=2, epochs=40, seed=0))
    pipe.fit(X_train, y_train)
    assert pipe.score(X_test, y_test) > 0.2
    np.testing.assert_allclose(pipe.predict(X_test).mean(), y_test.mean(), rtol=0.2)
