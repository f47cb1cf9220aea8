"""ParetoHyperband: keras-tuner's Hyperband tuner driven by a ParetoHyperbandOracle."""

from __future__ import annotations

import os
from typing import Any

import keras_tuner

from regsearch._compat.keras_tuner import ContinueFromWeights, LightBuild
from regsearch.oracles._hyperband import ParetoHyperbandOracle
from regsearch.search import Objective, ReportsFailures, SavePenalizedWeights

# The file, in a trial's directory, that holds its weights at its last penalized epoch.
PENALIZED_WEIGHTS = "penalized.weights.h5"


class ParetoHyperband(ReportsFailures, ContinueFromWeights, LightBuild, keras_tuner.Hyperband):
    """A multi-fidelity Pareto search: Hyperband brackets promoting by non-dominated sorting.

    Many configurations train a few epochs; the best ``1 / factor`` of each round,
    ranked by non-dominated sorting of the validation metric and the trimmed size
    (MO-ASHA; see ``ParetoHyperbandOracle``), continue with ``factor`` times more
    epochs, up to ``max_epochs``. The brackets, resume with ``overwrite=False``
    and the distributed chief/worker mode are keras-tuner's ``Hyperband``'s; the
    ``epochs`` given to ``search`` are ignored (each trial trains to its
    ``tuner/epochs``).

    **Continuation.** A promoted trial is a new trial that continues its parent
    (``tuner/trial_id``) from the weights at the parent's last *penalized* epoch
    (``SavePenalizedWeights``, ``penalized.weights.h5`` in the parent's trial
    directory), training epochs ``tuner/initial_epoch`` to ``tuner/epochs`` with
    the penalties on (no penalty warmup: the model has left its plateau). The
    optimizer state starts afresh, as in keras-tuner's Hyperband.

    **Fine-tuning** (``RegSearchHyperModel(finetune_epochs=k)``). Every trial,
    in every round, is measured as a full-fidelity trial is: after its penalized
    epochs it fine-tunes ``k`` epochs (zeros held, penalties off), and those
    epochs are what keras-tuner checkpoints and what the trial's metrics, its
    place on the front and ``best_model`` are. A promoted trial does not continue
    from the fine-tuned weights but from the penalized ones, so no epoch is
    trained twice and no fine-tune carries over into the next round: a
    configuration trained to ``max_epochs`` has had exactly what a
    ``ParetoSearch`` trial with ``epochs=max_epochs`` has (``max_epochs``
    penalized epochs, then ``k`` fine-tune epochs). The fine-tune is paid once
    per round a configuration reaches: it costs ``(tuner/epochs -
    tuner/initial_epoch) + k`` epochs per trial, so with fine-tuning prefer a
    larger ``factor`` (fewer rounds).

    **Reading it.** ``regsearch.results`` lists every trial, low-fidelity ones
    included, with its ``tuner/epochs``, ``tuner/round`` and ``tuner/trial_id``
    columns; ``pareto_front``, ``hypervolume``, ``select`` and ``best_model`` use
    every finished trial, as keras-tuner's own ``get_best_models`` does: each is a
    trained model with its own checkpoint, measured at its own epochs, which
    ``best_model`` loads as it is. A trial trained to fewer epochs is on the front
    only when no longer-trained trial dominates it (filter on
    ``results(tuner)["tuner/epochs"] == max_epochs`` for the full-fidelity
    trials only).

    Args:
        hypermodel: A ``regsearch.RegSearchHyperModel`` (or any HyperModel whose
            trials log the objective's parts).
        objective: The ``regsearch.Objective``; ``None`` is ``Objective()``.
        max_epochs: The epochs of the last round, >= 1.
        factor: The reduction factor between rounds, >= 2.
        hyperband_iterations: How many times the whole set of brackets runs, >= 1.
        tie_break: How trials on the same front are ranked: ``"crowding"`` or
            ``"epsilon_net"``.
        seed: The random seed.
        hyperparameters: As for keras-tuner's tuners.
        tune_new_entries: As for keras-tuner's tuners.
        allow_new_entries: As for keras-tuner's tuners.
        max_retries_per_trial: As for keras-tuner's tuners.
        max_consecutive_failed_trials: As for keras-tuner's tuners.
        **kwargs: ``keras_tuner.Tuner`` arguments (``directory``, ``project_name``,
            ``overwrite``, ...).

    Examples:
        >>> tuner = regsearch.ParetoHyperband(  # doctest: +SKIP
        ...     regsearch.RegSearchHyperModel(model, regsearch.SearchSpace()),
        ...     objective=regsearch.Objective("val_accuracy", size="macs"),
        ...     max_epochs=9, factor=3, directory="runs", project_name="fidelity")
        >>> tuner.search(x, y, validation_split=0.2)  # doctest: +SKIP
        >>> regsearch.pareto_front(tuner, ("val_accuracy", "trimmed_macs"))  # doctest: +SKIP
    """

    def __init__(
        self,
        hypermodel: keras_tuner.HyperModel | None = None,
        objective: Objective | None = None,
        max_epochs: int = 100,
        *,
        factor: int = 3,
        hyperband_iterations: int = 1,
        tie_break: str = "crowding",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        oracle = ParetoHyperbandOracle(
            objective,
            max_epochs,
            factor,
            hyperband_iterations,
            tie_break=tie_break,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # keras_tuner.Hyperband.__init__ builds its own oracle: skip to Tuner's.
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)

    def penalized_weights_path(self, trial_id: str) -> str:
        """Where trial ``trial_id``'s weights at its last penalized epoch are saved."""
        return os.path.join(self.get_trial_dir(trial_id), PENALIZED_WEIGHTS)

    def continuation_weights(self, trial_id: str) -> str | None:
        """The weights a trial promoted from ``trial_id`` starts from (``None``: keras-tuner's)."""
        path = self.penalized_weights_path(trial_id)
        return path if os.path.exists(path) else None

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.append(SavePenalizedWeights(self.penalized_weights_path(trial.trial_id)))
        return super().run_trial(trial, *args, callbacks=callbacks, **kwargs)
