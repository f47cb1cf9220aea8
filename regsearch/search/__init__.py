"""Regularizer search on keras-tuner: space, HyperModel, objective, results, hypervolume.

Also importable from here, but not in ``__all__``: the search's own parts
(``DataLoss``, the penalty-free loss metric, and ``ScoreCallback``, which
``RegSearchHyperModel`` adds to every trial) and helpers shared with regsearch's
other packages (plotting, the command, sklearn, oracles, distributed).
"""

from regsearch.search._calibrate import readable_twice as readable_twice
from regsearch.search._continuation import SavePenalizedWeights
from regsearch.search._data_loss import DataLoss as DataLoss
from regsearch.search._exact_zeros import ExactZeros
from regsearch.search._failures import ReportsFailures as ReportsFailures
from regsearch.search._finetune import HoldZeros
from regsearch.search._grow import GrowRegularizers
from regsearch.search._hypermodel import COLLAPSED_EPOCH as COLLAPSED_EPOCH
from regsearch.search._hypermodel import RegSearchHyperModel
from regsearch.search._hypervolume import hypervolume
from regsearch.search._hypervolume import hypervolume_history as hypervolume_history
from regsearch.search._objective import BUDGET_COLUMNS as BUDGET_COLUMNS
from regsearch.search._objective import SCORE as SCORE
from regsearch.search._objective import SIZE_PARTS as SIZE_PARTS
from regsearch.search._objective import Objective
from regsearch.search._objective import infer_direction as infer_direction
from regsearch.search._progress import TrialProgress
from regsearch.search._results import best_model, pareto_front, results, select
from regsearch.search._results import best_trial as best_trial
from regsearch.search._results import format_table as format_table
from regsearch.search._results import metric_column as metric_column
from regsearch.search._results import trim_compiled as trim_compiled
from regsearch.search._results import within_tolerance as within_tolerance
from regsearch.search._score import ScoreCallback as ScoreCallback
from regsearch.search._space import SearchSpace, hp_regularizer
from regsearch.search._training_state import build_training_state as build_training_state
from regsearch.search._warmup import PenaltyWarmup

__all__ = [
    "ExactZeros",
    "GrowRegularizers",
    "HoldZeros",
    "Objective",
    "PenaltyWarmup",
    "RegSearchHyperModel",
    "SavePenalizedWeights",
    "SearchSpace",
    "TrialProgress",
    "best_model",
    "hp_regularizer",
    "hypervolume",
    "pareto_front",
    "results",
    "select",
]
