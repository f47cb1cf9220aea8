"""scikit-learn estimators that search regularizers for a Keras model inside ``fit``.

``RegSearchClassifier`` and ``RegSearchRegressor`` run a regsearch keras-tuner
search in ``fit`` and keep the best (trimmed) model; they work in ``Pipeline``,
``GridSearchCV``, ``cross_val_score``, ``clone`` and ``pickle``.
"""

from regsearch.sklearn._estimators import RegSearchClassifier, RegSearchRegressor

__all__ = ["RegSearchClassifier", "RegSearchRegressor"]
