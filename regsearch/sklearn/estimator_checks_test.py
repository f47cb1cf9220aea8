"""scikit-learn's own estimator checks (``parametrize_with_checks``)."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

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


def _expected_failed_checks(estimator: object) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


# One trial of one epoch: enough for every check, and the whole run stays short.
# A seed makes each fit reproducible, so the idempotence checks run too.
@pytest.mark.slow
@parametrize_with_checks(
    [
        RegSearchClassifier(max_trials=1, epochs=1, seed=0),
        RegSearchRegressor(max_trials=1, epochs=1, seed=0),
    ],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
