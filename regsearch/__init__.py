"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

from regsearch import distributed, layers, metrics, regularizers
from regsearch._version import __version__
from regsearch.distributed import run_distributed
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

__all__ = [
    "Objective",
    "RegSearchHyperModel",
    "SearchSpace",
    "__version__",
    "best_model",
    "distributed",
    "hp_regularizer",
    "pareto_front",
    "plot_pareto",
    "layers",
    "metrics",
    "regularizers",
    "results",
    "run_distributed",
]
