"""scikit-learn's own estimator checks (``parametrize_with_checks``)."""

from __future__ import annotations

import keras
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from regsearch.search import SearchSpace
from regsearch.sklearn import RegSearchClassifier, RegSearchRegressor

# Checks that fail only because training is stochastic or runs in float32. Keras's
# own keras.wrappers.SKLearnClassifier test needs 8 entries; every entry here
# names its reason.
_STOCHASTIC_WEIGHTS = (
    "training is minibatch SGD: a sample of weight 2 is not the same gradient "
    "steps as the sample repeated twice (and the validation split differs)"
)
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "RegSearchClassifier": {
        "check_sample_weight_equivalence_on_dense_data": _STOCHASTIC_WEIGHTS,
    },
    "RegSearchRegressor": {
        "check_sample_weight_equivalence_on_dense_data": _STOCHASTIC_WEIGHTS,
    },
}


# A backend limit, not the estimator's: regression predictions are compared exactly.
_ROW_ROUNDING = (
    "a CPU matrix product (XLA on JAX, oneDNN on TensorFlow) can round a row differently "
    "by its position in the batch (about 2e-7 relative, seen on both), so reordered rows "
    "may predict values that differ in the last float32 bits; the check runs and may pass"
)


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    expected = dict(EXPECTED_FAILED_CHECKS[type(estimator).__name__])
    expected["check_methods_sample_order_invariance"] = _ROW_ROUNDING
    return expected


class SgdMlp:
    """A small MLP compiled with SGD (cheaper to trace than Adam's update).

    A class with a fixed repr, so that the check ids do not hold an address.
    """

    def __call__(self, X, y):
        model = keras.Sequential(
            [
                keras.Input((X.shape[1],)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(y.shape[1]),
            ]
        )
        model.compile(optimizer="sgd", loss="mse")
        return model

    def __repr__(self) -> str:
        return "SgdMlp()"


# One trial of one epoch over a one-choice space (keras-tuner builds the model
# once more per conditional choice to declare the space): enough for every check,
# and the whole run stays short. A seed makes each fit reproducible, so the
# idempotence checks run too. The classifier uses the default model and a
# validation split; the regressor a model function and the training loss.
_SPACE = SearchSpace(kernel=["l2"], strength=(1e-4, 1e-3))


@pytest.mark.slow
@parametrize_with_checks(
    [
        RegSearchClassifier(space=_SPACE, max_trials=1, epochs=1, seed=0),
        RegSearchRegressor(
            SgdMlp(), space=_SPACE, max_trials=1, epochs=1, validation_split=0.0, seed=0
        ),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
