"""Regularizer search on keras-tuner: space, HyperModel, objective, results, hypervolume."""

from regsearch.search._callback import ScoreCallback
from regsearch.search._data_loss import DataLoss
from regsearch.search._exact_zeros import ExactZeros
from regsearch.search._finetune import HoldZeros
from regsearch.search._hypermodel import RegSearchHyperModel
from regsearch.search._hypervolume import hypervolume
from regsearch.search._objective import Objective
from regsearch.search._progress import TrialProgress
from regsearch.search._results import best_model, pareto_front, results, select
from regsearch.search._space import SearchSpace, hp_regularizer

__all__ = [
    "DataLoss",
    "ExactZeros",
    "HoldZeros",
    "Objective",
    "RegSearchHyperModel",
    "ScoreCallback",
    "SearchSpace",
    "TrialProgress",
    "best_model",
    "hp_regularizer",
    "hypervolume",
    "pareto_front",
    "results",
    "select",
]
