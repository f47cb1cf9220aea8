"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

from regsearch import layers, metrics, regularizers
from regsearch._version import __version__
from regsearch.plotting import plot_pareto
from regsearch.search import (
    Objective,
    RegSearchHyperModel,
    SearchSpace,
    best_model,
    hp_regularizer,
    pareto_front,
    results,
)
from regsearch.sklearn import RegSearchClassifier, RegSearchRegressor

__all__ = [
    "Objective",
    "RegSearchClassifier",
    "RegSearchHyperModel",
    "RegSearchRegressor",
    "SearchSpace",
    "__version__",
    "best_model",
    "hp_regularizer",
    "pareto_front",
    "plot_pareto",
    "layers",
    "metrics",
    "regularizers",
    "results",
]
