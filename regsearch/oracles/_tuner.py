"""ParetoSearch: keras-tuner's Tuner driven by a ParetoOracle."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner
import optuna

from regsearch._compat.keras_tuner import LightBuild
from regsearch.oracles._oracle import ParetoOracle
from regsearch.search import Objective, ReportsFailures


class ParetoSearch(ReportsFailures, LightBuild, keras_tuner.Tuner):
    """A keras-tuner tuner that searches for the Pareto front of accuracy and size.

    ``RandomSearch`` / ``BayesianOptimization`` minimize the single weighted
    ``score``; ``ParetoSearch`` asks an Optuna multi-objective sampler (see
    ``ParetoOracle``) for each trial, so its trials spread along the front
    of the validation metric against the trimmed size (and active outputs).
    Everything else is keras-tuner's: ``search``, checkpoints, ``overwrite=False``
    resume, distributed chief/worker, ``get_best_models`` (ranked by ``score``).
    A search where every trial failed ends with one error quoting the reasons
    (``ReportsFailures``); models are built without keras-tuner's forced garbage
    collections (``LightBuild``).

    Args:
        hypermodel: A ``regsearch.RegSearchHyperModel`` (or any HyperModel whose
            trials log the objective's parts).
        objective: The ``regsearch.Objective``; ``None`` is ``Objective()``.
        max_trials: The number of trials.
        sampler: ``"tpe"``, ``"nsga2"``, ``"gp"``, ``"random"`` or an Optuna sampler.
        seed: The sampler's random seed.
        hyperparameters: As for keras-tuner's tuners.
        tune_new_entries: As for keras-tuner's tuners.
        allow_new_entries: As for keras-tuner's tuners.
        max_retries_per_trial: As for keras-tuner's tuners.
        max_consecutive_failed_trials: As for keras-tuner's tuners.
        start_from_defaults: Run the first trial at the hyperparameters' defaults
            (see ``ParetoOracle``).
        distinct_choices: Run each combination of the discrete hyperparameters
            (widths, kernel sizes, regularizer choices; not the strengths) once
            while the sampler can find an untried one (see ``ParetoOracle``).
        initial_trials: Hyperparameter values to run first, one dict per trial
            (see ``ParetoOracle``).
        warm_start_from: An earlier search of the same space (its tuner or its
            project directory) whose finished trials seed the sampler's history,
            without being run again or appearing in this tuner's results (see
            ``ParetoOracle``).
        **kwargs: ``keras_tuner.Tuner`` arguments (``directory``, ``project_name``,
            ``overwrite``, ``executions_per_trial``, ...).

    Examples:
        >>> tuner = regsearch.ParetoSearch(  # doctest: +SKIP
        ...     regsearch.RegSearchHyperModel(model, regsearch.SearchSpace()),
        ...     objective=regsearch.Objective("val_accuracy", size="macs"),
        ...     max_trials=16, directory="runs", project_name="front")
        >>> tuner.search(x, y, validation_split=0.2, epochs=10)  # doctest: +SKIP
        >>> regsearch.pareto_front(tuner, ("val_accuracy", "trimmed_macs"))  # doctest: +SKIP

        Under a hard budget, learning from that search (nothing is run again):

        >>> budgeted = regsearch.ParetoSearch(  # doctest: +SKIP
        ...     tuner.hypermodel,
        ...     objective=regsearch.Objective("val_accuracy", size="macs",
        ...                                   max_trimmed_macs=20_000),
        ...     max_trials=8, warm_start_from=tuner, directory="runs",
        ...     project_name="front_budget")
    """

    def __init__(
        self,
        hypermodel: keras_tuner.HyperModel | None = None,
        objective: Objective | None = None,
        max_trials: int = 10,
        *,
        sampler: str | optuna.samplers.BaseSampler = "tpe",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        start_from_defaults: bool = False,
        distinct_choices: bool = False,
        initial_trials: Sequence[Mapping[str, Any]] = (),
        warm_start_from: keras_tuner.Tuner | str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.seed = seed
        oracle = ParetoOracle(
            objective,
            max_trials,
            sampler=sampler,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            start_from_defaults=start_from_defaults,
            distinct_choices=distinct_choices,
            initial_trials=initial_trials,
            warm_start_from=warm_start_from,
        )
        super().__init__(oracle, hypermodel, **kwargs)
