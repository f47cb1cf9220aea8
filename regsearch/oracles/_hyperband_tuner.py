"""ParetoHyperband: keras-tuner's Hyperband tuner driven by a ParetoHyperbandOracle."""

from __future__ import annotations

import os
from typing import Any

import keras_tuner

from regsearch._compat.keras_tuner import ContinueFromWeights, LightBuild
from regsearch._validation import did_you_mean
from regsearch.oracles._hyperband import ParetoHyperbandOracle
from regsearch.search import (
    Objective,
    RegSearchHyperModel,
    ReportsFailures,
    SavePenalizedWeights,
)

# The file, in a trial's directory, that holds its weights at its last penalized epoch.
PENALIZED_WEIGHTS = "penalized.weights.h5"
# When a RegSearchHyperModel(finetune_epochs=k) trial fine-tunes.
FINETUNE_MODES = ("last_round", "every_round")


def _check_finetune(finetune: Any) -> str:
    if not isinstance(finetune, str) or finetune not in FINETUNE_MODES:
        raise ValueError(
            f'Argument `finetune` must be one of {list(FINETUNE_MODES)} ("last_round": '
            f"only a configuration's trial trained to max_epochs fine-tunes; "
            f'"every_round": every trial does); received {finetune!r}.'
            f"{did_you_mean(finetune, FINETUNE_MODES)}"
        )
    return finetune


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

    **Fine-tuning** (``RegSearchHyperModel(finetune_epochs=k)``). With
    ``finetune="last_round"`` (default) a configuration fine-tunes once, in its
    last round: a trial that trains to ``max_epochs`` (its ``tuner/epochs``)
    fine-tunes ``k`` epochs after its penalized ones (zeros held, penalties off),
    and those epochs are what keras-tuner checkpoints and what the trial's
    metrics, its place on the front and ``best_model`` are, as for a
    full-fidelity trial. A trial of an earlier round is not fine-tuned: it is
    measured and checkpointed at its penalized epochs, as with
    ``finetune_epochs=0`` (``best_model(trimmed=True)`` loads and trims that
    penalized model), so promotion compares penalized models with one another.
    With ``finetune="every_round"`` every trial of every round fine-tunes and is
    measured as that fine-tuned model: promotion then compares the models a user
    would get, but the fine-tune is paid once per round a configuration reaches,
    ``(tuner/epochs - tuner/initial_epoch) + k`` epochs per trial. Either way a
    promoted trial continues from its parent's penalized weights, not the
    fine-tuned ones, so no epoch is trained twice and no fine-tune carries over
    into the next round: a configuration trained to ``max_epochs`` has had
    exactly what a ``ParetoSearch`` trial with ``epochs=max_epochs`` has
    (``max_epochs`` penalized epochs, then ``k`` fine-tune epochs). The wall
    time of each setting against ``ParetoSearch``: ``benchmarks/README.md``.

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
        brackets: How many of Hyperband's brackets each iteration runs, from the
            most exploratory one (``None``, default: all; ``1``: successive halving
            of the most exploratory bracket only, as ASHA runs; see
            ``ParetoHyperbandOracle``).
        tie_break: How trials on the same front are ranked: ``"crowding"`` or
            ``"epsilon_net"``.
        finetune: When a ``RegSearchHyperModel`` with ``finetune_epochs`` fine-tunes
            a trial: ``"last_round"`` (default: only trials trained to
            ``max_epochs``) or ``"every_round"`` (every trial). Other hypermodels
            are not affected.
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
        brackets: int | None = None,
        tie_break: str = "crowding",
        finetune: str = "last_round",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        self.finetune = _check_finetune(finetune)
        oracle = ParetoHyperbandOracle(
            objective,
            max_epochs,
            factor,
            hyperband_iterations,
            brackets=brackets,
            tie_break=tie_break,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        # Kept here: a distributed worker's oracle is a client that has no max_epochs.
        self._max_epochs = oracle.max_epochs
        # keras_tuner.Hyperband.__init__ builds its own oracle: skip to Tuner's.
        keras_tuner.Tuner.__init__(self, oracle, hypermodel, **kwargs)

    def penalized_weights_path(self, trial_id: str) -> str:
        """Where trial ``trial_id``'s weights at its last penalized epoch are saved."""
        return os.path.join(self.get_trial_dir(trial_id), PENALIZED_WEIGHTS)

    def continuation_weights(self, trial_id: str) -> str | None:
        """The weights a trial promoted from ``trial_id`` starts from (``None``: keras-tuner's)."""
        path = self.penalized_weights_path(trial_id)
        return path if os.path.exists(path) else None

    def fine_tunes(self, trial: keras_tuner.engine.trial.Trial) -> bool:
        """Whether ``trial`` fine-tunes (with a ``RegSearchHyperModel(finetune_epochs=k)``).

        ``True`` for every trial with ``finetune="every_round"``; with
        ``"last_round"``, for a trial that trains to ``max_epochs`` only.
        """
        if self.finetune == "every_round":
            return True
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        return epochs is None or int(epochs) >= self._max_epochs

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        callbacks = list(kwargs.pop("callbacks", None) or [])
        callbacks.append(SavePenalizedWeights(self.penalized_weights_path(trial.trial_id)))
        if isinstance(self.hypermodel, RegSearchHyperModel):
            kwargs["finetune"] = self.fine_tunes(trial)
        return super().run_trial(trial, *args, callbacks=callbacks, **kwargs)
