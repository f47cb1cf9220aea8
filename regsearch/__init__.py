"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

from regsearch import constraints, distributed, layers, metrics, oracles, regularizers, trimming
from regsearch._apply import apply
from regsearch._version import __version__
from regsearch.distributed import run_distributed
from regsearch.layers import CrossLayer
from regsearch.oracles import ParetoOracle, ParetoSearch
from regsearch.plotting import plot_hypervolume, plot_pareto
from regsearch.search import (
    Objective,
    RegSearchHyperModel,
    SearchSpace,
    best_model,
    hp_regularizer,
    hypervolume,
    pareto_front,
    results,
)
from regsearch.sklearn import RegSearchClassifier, RegSearchRegressor
from regsearch.trimming import TrimReport, snap_to_zero, trim, trimmed_size

__all__ = [
    "CrossLayer",
    "Objective",
    "ParetoOracle",
    "ParetoSearch",
    "RegSearchClassifier",
    "RegSearchHyperModel",
    "RegSearchRegressor",
    "SearchSpace",
    "TrimReport",
    "__version__",
    "apply",
    "best_model",
    "constraints",
    "distributed",
    "hp_regularizer",
    "hypervolume",
    "layers",
    "metrics",
    "oracles",
    "pareto_front",
    "plot_hypervolume",
    "plot_pareto",
    "regularizers",
    "results",
    "run_distributed",
    "snap_to_zero",
    "trim",
    "trimmed_size",
    "trimming",
]
