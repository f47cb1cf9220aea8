"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

# The public names are imported on first use (PEP 562), so that the ``regsearch``
# command answers ``--help`` without importing Keras and TensorFlow; an import
# like ``from regsearch import SearchSpace`` works as usual.
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from regsearch._version import __version__

if TYPE_CHECKING:
    from regsearch import (
        constraints,
        distributed,
        layers,
        metrics,
        oracles,
        regularizers,
        trimming,
    )
    from regsearch._apply import apply
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
        select,
    )
    from regsearch.sklearn import RegSearchClassifier, RegSearchRegressor
    from regsearch.trimming import TrimReport, snap_to_zero, trim, trimmed_size

# Public name -> the module it comes from (a subpackage's own name maps to itself).
_SOURCES = {
    "CrossLayer": "regsearch.layers",
    "Objective": "regsearch.search",
    "ParetoOracle": "regsearch.oracles",
    "ParetoSearch": "regsearch.oracles",
    "RegSearchClassifier": "regsearch.sklearn",
    "RegSearchHyperModel": "regsearch.search",
    "RegSearchRegressor": "regsearch.sklearn",
    "SearchSpace": "regsearch.search",
    "TrimReport": "regsearch.trimming",
    "apply": "regsearch._apply",
    "best_model": "regsearch.search",
    "constraints": "regsearch.constraints",
    "distributed": "regsearch.distributed",
    "hp_regularizer": "regsearch.search",
    "hypervolume": "regsearch.search",
    "layers": "regsearch.layers",
    "metrics": "regsearch.metrics",
    "oracles": "regsearch.oracles",
    "pareto_front": "regsearch.search",
    "plot_hypervolume": "regsearch.plotting",
    "plot_pareto": "regsearch.plotting",
    "plotting": "regsearch.plotting",
    "regularizers": "regsearch.regularizers",
    "results": "regsearch.search",
    "run_distributed": "regsearch.distributed",
    "select": "regsearch.search",
    "search": "regsearch.search",
    "sklearn": "regsearch.sklearn",
    "snap_to_zero": "regsearch.trimming",
    "trim": "regsearch.trimming",
    "trimmed_size": "regsearch.trimming",
    "trimming": "regsearch.trimming",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'regsearch' has no attribute {name!r}")
    module = importlib.import_module(source)
    value = module if source == f"regsearch.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCES})


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
    "select",
    "snap_to_zero",
    "trim",
    "trimmed_size",
    "trimming",
]
