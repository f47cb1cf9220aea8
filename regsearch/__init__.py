"""regsearch: search which regularizers to put on which Keras layers, and how strong.

Candidates are judged by their validation metric, by the size of the model once
near-zero kernel edges and dead filters are trimmed, and by how sparse the
outputs are.
"""

# `import regsearch` imports every public module, which registers every regsearch
# regularizer, constraint, layer and metric with Keras: a saved `.keras` model then
# loads with `keras.saving.load_model` and no `custom_objects`. The one exception is
# the `regsearch` command (`regsearch ...` or `python -m regsearch ...`): there the
# names are imported on first use (PEP 562), so that `regsearch --help` answers
# without importing Keras and TensorFlow.
from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

from regsearch._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; imports_test checks it against _SOURCES
    from regsearch import constraints as constraints
    from regsearch import deploy as deploy
    from regsearch import distributed as distributed
    from regsearch import editing as editing
    from regsearch import layers as layers
    from regsearch import metrics as metrics
    from regsearch import oracles as oracles
    from regsearch import plotting as plotting
    from regsearch import regularizers as regularizers
    from regsearch import search as search
    from regsearch import sklearn as sklearn
    from regsearch import trimming as trimming
    from regsearch._shrink import shrink
    from regsearch.deploy import DeploymentCost, deployment_cost, export
    from regsearch.distributed import run_distributed
    from regsearch.editing import apply
    from regsearch.layers import CrossLayer
    from regsearch.oracles import (
        ParetoHyperband,
        ParetoHyperbandOracle,
        ParetoOracle,
        ParetoSearch,
    )
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

# The one table of the public API: name -> the module it comes from. A subpackage maps
# to itself and is an attribute (`regsearch.regularizers.KernelLength`); every other
# name is what users call, and `__all__` below lists exactly those (it has to be a
# literal for ruff, type checkers and the docs; `imports_test.py` fails when `__all__`
# or the imports above drift from this table). Everything else stays importable from
# its subpackage but is not advertised here.
_SOURCES = {
    # subpackages
    "constraints": "regsearch.constraints",
    "deploy": "regsearch.deploy",
    "distributed": "regsearch.distributed",
    "editing": "regsearch.editing",
    "layers": "regsearch.layers",
    "metrics": "regsearch.metrics",
    "oracles": "regsearch.oracles",
    "plotting": "regsearch.plotting",
    "regularizers": "regsearch.regularizers",
    "search": "regsearch.search",
    "sklearn": "regsearch.sklearn",
    "trimming": "regsearch.trimming",
    # what users call
    "CrossLayer": "regsearch.layers",
    "DeploymentCost": "regsearch.deploy",
    "Objective": "regsearch.search",
    "ParetoHyperband": "regsearch.oracles",
    "ParetoHyperbandOracle": "regsearch.oracles",
    "ParetoOracle": "regsearch.oracles",
    "ParetoSearch": "regsearch.oracles",
    "RegSearchClassifier": "regsearch.sklearn",
    "RegSearchHyperModel": "regsearch.search",
    "RegSearchRegressor": "regsearch.sklearn",
    "SearchSpace": "regsearch.search",
    "TrimReport": "regsearch.trimming",
    "apply": "regsearch.editing",
    "best_model": "regsearch.search",
    "deployment_cost": "regsearch.deploy",
    "export": "regsearch.deploy",
    "hp_regularizer": "regsearch.search",
    "hypervolume": "regsearch.search",
    "pareto_front": "regsearch.search",
    "plot_hypervolume": "regsearch.plotting",
    "plot_pareto": "regsearch.plotting",
    "results": "regsearch.search",
    "run_distributed": "regsearch.distributed",
    "select": "regsearch.search",
    "shrink": "regsearch._shrink",
    "snap_to_zero": "regsearch.trimming",
    "trim": "regsearch.trimming",
    "trimmed_size": "regsearch.trimming",
}

__all__ = [
    "CrossLayer",
    "DeploymentCost",
    "Objective",
    "ParetoHyperband",
    "ParetoHyperbandOracle",
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
    "deployment_cost",
    "export",
    "hp_regularizer",
    "hypervolume",
    "pareto_front",
    "plot_hypervolume",
    "plot_pareto",
    "results",
    "run_distributed",
    "select",
    "shrink",
    "snap_to_zero",
    "trim",
    "trimmed_size",
]


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


def _run_as_command() -> bool:
    """Whether this import is the ``regsearch`` command starting up."""
    program = sys.argv[0] if sys.argv else ""
    # While `python -m regsearch` locates the package, sys.argv[0] is "-m".
    return program == "-m" or os.path.basename(program) == "regsearch"


if not _run_as_command():
    for _name in sorted(set(_SOURCES.values())):
        importlib.import_module(_name)
