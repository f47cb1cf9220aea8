"""From the estimators' ``tuner`` parameter to a keras-tuner oracle and tuner."""

from __future__ import annotations

import copy
from typing import Any

import keras
import keras_tuner
from keras_tuner.oracles import (
    BayesianOptimizationOracle,
    GridSearchOracle,
    HyperbandOracle,
    RandomSearchOracle,
)

from regsearch._compat.keras_tuner import LightBuild
from regsearch._validation import check_choice
from regsearch.oracles import ParetoOracle
from regsearch.search import RegSearchHyperModel, ReportsFailures

TUNERS = ("random", "bayesian", "hyperband", "grid", "pareto")


def make_oracle(
    tuner: str | keras_tuner.Oracle,
    objective: keras_tuner.Objective,
    *,
    max_trials: int,
    epochs: int,
    seed: int | None,
) -> keras_tuner.Oracle:
    """A fresh oracle for one ``fit``.

    A name builds the matching keras-tuner oracle (``"pareto"``: a
    ``regsearch.ParetoOracle``) with ``objective``, ``max_trials``
    (Hyperband: ``max_epochs=epochs``) and ``seed``. An oracle instance is copied,
    never used itself; its objective is replaced by ``objective`` (the caller
    decides which of the two objectives wins).
    """
    if isinstance(tuner, str):
        name = check_choice("tuner", tuner, TUNERS)
        if name == "random":
            return RandomSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
        if name == "bayesian":
            return BayesianOptimizationOracle(objective=objective, max_trials=max_trials, seed=seed)
        if name == "grid":
            return GridSearchOracle(objective=objective, max_trials=max_trials, seed=seed)
        if name == "pareto":
            return ParetoOracle(objective, max_trials, seed=seed)  # type: ignore[arg-type]
        return HyperbandOracle(objective=objective, max_epochs=epochs, factor=3, seed=seed)
    if isinstance(tuner, keras_tuner.Oracle):
        if tuner.trials:
            raise ValueError(
                f"Argument `tuner` is an oracle that has already run {len(tuner.trials)} "
                "trials; pass a freshly constructed oracle (the estimator copies it for "
                "every fit)."
            )
        oracle = copy.deepcopy(tuner)
        oracle.objective = objective
        return oracle
    raise TypeError(
        f"Argument `tuner` must be one of {list(TUNERS)} or a keras_tuner.Oracle (for "
        f"example keras_tuner.oracles.BayesianOptimizationOracle(max_trials=20)); "
        f"received {tuner!r} of type {type(tuner).__name__}."
    )


def user_objective(tuner: str | keras_tuner.Oracle) -> keras_tuner.Objective | None:
    """The objective an oracle given as ``tuner`` was built with, if any."""
    objective = getattr(tuner, "objective", None)
    if (
        isinstance(tuner, keras_tuner.Oracle)
        and isinstance(objective, keras_tuner.Objective)
        and type(objective).__name__ != "DefaultObjective"
    ):
        return objective
    return None


class _Tuner(ReportsFailures, LightBuild, keras_tuner.Tuner):
    """keras-tuner's ``Tuner`` with ``LightBuild`` and ``ReportsFailures``."""


class _HyperbandTuner(ReportsFailures, LightBuild, keras_tuner.Hyperband):
    """keras-tuner's Hyperband tuner (epochs per bracket, warm starts) on a given oracle."""

    def __init__(self, oracle: HyperbandOracle, hypermodel: Any, **kwargs: Any) -> None:
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def make_tuner(
    oracle: keras_tuner.Oracle, hypermodel: Any, *, directory: str, project_name: str
) -> keras_tuner.Tuner:
    """A tuner around ``oracle`` that starts afresh in ``directory/project_name``."""
    cls = _HyperbandTuner if isinstance(oracle, HyperbandOracle) else _Tuner
    return cls(
        oracle=oracle,
        hypermodel=hypermodel,
        directory=directory,
        project_name=project_name,
        overwrite=True,
    )


class RecordingHyperModel(RegSearchHyperModel):
    """A ``RegSearchHyperModel`` that keeps every trial's ``History.history``.

    keras-tuner keeps only each trial's best-epoch metrics; the estimators expose
    the best trial's full per-epoch history as ``history_``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.histories: dict[str, dict[str, list[float]]] = {}

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, *args: Any, **kwargs: Any):
        trial_id = None
        for callback in kwargs.get("callbacks") or []:
            trial = getattr(callback, "trial", None)
            if trial is not None and hasattr(trial, "trial_id"):
                trial_id = trial.trial_id
        history = super().fit(hp, model, *args, **kwargs)
        if trial_id is not None and history is not None:
            self.histories[trial_id] = {
                name: [float(v) for v in values] for name, values in history.history.items()
            }
        return history
