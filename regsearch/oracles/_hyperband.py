"""ParetoHyperbandOracle: keras-tuner's Hyperband brackets, promoting by non-dominated sorting."""

from __future__ import annotations

from typing import Any

import keras_tuner

from regsearch._compat.keras_tuner import FirstBrackets, hyperband_brackets
from regsearch._validation import check_int
from regsearch.oracles._parts import logged_sizes, objective_parts, part_values, unqueue_ended
from regsearch.oracles._ranking import TIE_BREAKS, nondominated_order
from regsearch.search import COLLAPSED_EPOCH, Objective

_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
# What keras-tuner's Hyperband adds to a trial's hyperparameters.
_TUNER_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round")


def _check_objective(objective: Any) -> Objective:
    objective = Objective() if objective is None else objective
    if not isinstance(objective, Objective):
        raise TypeError(
            f"Argument `objective` must be a regsearch.Objective (its metric, size and "
            f"max_active_outputs are the parts promotion compares); received {objective!r}. "
            f"For example regsearch.Objective('val_accuracy', size='macs')."
        )
    return objective


def _check_tie_break(tie_break: Any) -> str:
    if tie_break not in TIE_BREAKS:
        raise ValueError(
            f"Argument `tie_break` must be one of {list(TIE_BREAKS)} (how trials on the "
            f"same front are ranked); received {tie_break!r}."
        )
    return str(tie_break)


class ParetoHyperbandOracle(FirstBrackets, keras_tuner.oracles.HyperbandOracle):
    """keras-tuner's Hyperband, promoting by non-dominated sorting (MO-ASHA) instead of score.

    The brackets, epochs and round sizes are keras-tuner's ``HyperbandOracle``'s:
    each bracket starts many configurations with few epochs and continues the
    best ``1 / factor`` of each round with ``factor`` times more epochs, up to
    ``max_epochs``; a promoted trial is a new keras-tuner trial whose
    hyperparameters hold ``tuner/trial_id`` (the trial it continues),
    ``tuner/initial_epoch`` and ``tuner/epochs``. What differs is who is
    promoted: keras-tuner takes the lowest weighted ``score``; this oracle ranks
    the finished candidates of the round by non-dominated sorting of the
    objective parts, as MO-ASHA (Schmucker et al., 2021) does: the Pareto front
    of (validation metric, trimmed size[, active outputs]) first, then the front
    of the rest, and so on; on one front, by crowding distance (the ends of the
    front, then the most isolated) or, with ``tie_break="epsilon_net"``, the
    best validation metric first, then each time the trial farthest from those
    already ranked. So the promoted trials spread along the front, and a small
    model with a fair accuracy continues as well as an accurate large one.
    Trials over a size budget of the objective (``max_params``, ``max_trimmed_macs``,
    ...) rank after every trial within budget, the least over first; trials that
    collapsed (a layer emptied), or lack a part, rank last: they are continued only
    when too few others finished to fill the next round.

    New configurations (the first round of each bracket) are drawn at random, as
    keras-tuner's Hyperband and MO-ASHA draw them: a model-based sampler would
    be fit to objective values measured after different numbers of epochs.

    **Brackets.** keras-tuner's Hyperband runs, per iteration, brackets from the
    most exploratory one (the most configurations, ``ceil(max_epochs / factor **
    s)`` epochs each in their first round, ``s`` the bracket's number) down to
    bracket 0, whose configurations all train ``max_epochs`` and which spends the
    most epochs. ``brackets=k`` runs only the ``k`` most exploratory brackets of
    each iteration (``brackets=1``: successive halving of the one most exploratory
    bracket, as ASHA and MO-ASHA usually run); ``None`` runs them all.
    ``total_brackets()`` is their number.

    keras-tuner scores each trial by ``score`` as usual (``get_best_trials``,
    ``regsearch.best_model``); its state (brackets included) is in
    ``oracle.json``, so ``overwrite=False`` resumes a killed search, and in a
    distributed search the oracle lives on the chief.

    Args:
        objective: The ``regsearch.Objective``; ``None`` is ``Objective()``.
        max_epochs: The epochs of the last round (a configuration trained to the
            end), >= 1.
        factor: The reduction factor between rounds, >= 2.
        hyperband_iterations: How many times the whole set of brackets runs, >= 1.
        brackets: How many brackets each iteration runs, from the most exploratory
            one: ``None`` (default) for all of them, or an integer from 1 to
            ``total_brackets()``.
        tie_break: ``"crowding"`` or ``"epsilon_net"``.
        seed: The random seed.
        hyperparameters: As for keras-tuner's oracles.
        allow_new_entries: As for keras-tuner's oracles.
        tune_new_entries: As for keras-tuner's oracles.
        max_retries_per_trial: As for keras-tuner's oracles.
        max_consecutive_failed_trials: As for keras-tuner's oracles.

    Examples:
        >>> import regsearch
        >>> oracle = regsearch.ParetoHyperbandOracle(
        ...     regsearch.Objective("val_accuracy", size="macs"), max_epochs=9, factor=3)
        >>> oracle.objective_parts
        [('val_accuracy', 'max'), ('trimmed_macs', 'min')]
    """

    def __init__(
        self,
        objective: Objective | None = None,
        max_epochs: int = 100,
        factor: int = 3,
        hyperband_iterations: int = 1,
        *,
        brackets: int | None = None,
        tie_break: str = "crowding",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        allow_new_entries: bool = True,
        tune_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
    ) -> None:
        objective = _check_objective(objective)
        max_epochs = check_int("max_epochs", max_epochs, minimum=1)
        factor = check_int("factor", factor, minimum=2)
        hyperband_iterations = check_int("hyperband_iterations", hyperband_iterations, minimum=1)
        self.tie_break = _check_tie_break(tie_break)
        super().__init__(
            objective=objective,
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            seed=seed,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.brackets_per_iteration = self._check_brackets(brackets)

    def _check_brackets(self, brackets: Any) -> int | None:
        if brackets is None:
            return None
        brackets = check_int("brackets", brackets, minimum=1)
        total = self.total_brackets()
        if brackets > total:
            raise ValueError(
                f"Argument `brackets` must be None (all) or at most {total}, the brackets "
                f"Hyperband runs per iteration with max_epochs={self.max_epochs} and "
                f"factor={self.factor}; received {brackets!r}."
            )
        return brackets

    @property
    def objective_parts(self) -> list[tuple[str, str]]:
        """The parts promotion compares: ``(logged metric, "min" or "max")``, in order."""
        return objective_parts(self.objective)

    def _point(self, trial: keras_tuner.engine.trial.Trial) -> tuple[float, ...] | None:
        """The trial's parts to minimize (maximized ones negated); ``None`` ranks it last."""
        if trial.status != _COMPLETED or trial.metrics.exists(COLLAPSED_EPOCH):
            return None
        values = part_values(self.objective, trial)
        if isinstance(values, str):
            return None
        parts = self.objective_parts
        return tuple(-v if direction == "max" else v for v, (_, direction) in zip(values, parts))

    def _budget_excess(self, trial: keras_tuner.engine.trial.Trial) -> float:
        """The largest relative excess over the objective's size budgets (``<= 0``: within)."""
        if not self.objective.budgets:
            return 0.0
        return max(self.objective.budget_excess(logged_sizes(trial)).values())

    def promotion_order(
        self, trials: list[keras_tuner.engine.trial.Trial]
    ) -> list[keras_tuner.engine.trial.Trial]:
        """``trials`` best first, as this oracle promotes them (see the class docstring).

        With size budgets (``Objective(max_params=...)`` and the like), the trials
        within every budget come first, ranked by the fronts; then the trials over a
        budget, least over first; then those that collapsed or lack a part.
        """
        points = [self._point(t) for t in trials]
        excess = [self._budget_excess(t) for t in trials]
        within = [i for i, p in enumerate(points) if p is not None and excess[i] <= 0]
        over = sorted(
            (i for i, p in enumerate(points) if p is not None and excess[i] > 0),
            key=lambda i: excess[i],
        )
        rest = [i for i, p in enumerate(points) if p is None]
        order = nondominated_order([points[i] for i in within], tie_break=self.tie_break)
        return [trials[within[j]] for j in order] + [trials[i] for i in [*over, *rest]]

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        result = super().populate_space(trial_id)
        values = result.get("values") or {}
        if result.get("status") == _RUNNING and values.get("tuner/trial_id") is not None:
            result["values"] = self._promote_by_front(trial_id, values)
        return result

    def _promote_by_front(self, trial_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Swap keras-tuner's pick (best score) for the best by non-dominated sorting.

        ``HyperbandOracle.populate_space`` has just decided to promote one of a
        round's finished trials and recorded it as ``{"past_id", "id": trial_id}``;
        the candidates are the same whoever is picked, so only the pick changes.
        """
        round_num = int(values["tuner/round"])
        for bracket in hyperband_brackets(self):
            rounds = bracket["rounds"]
            last = rounds[round_num][-1:] if round_num < len(rounds) else []
            if last and last[0]["id"] == trial_id:
                break
        else:  # not found: keep keras-tuner's pick
            return values
        entries = rounds[round_num]
        chosen = {entry["past_id"] for entry in entries[:-1]}
        candidates = [
            self.trials[entry["id"]]
            for entry in rounds[round_num - 1]
            if entry["id"] not in chosen
            and entry["id"] in self.trials
            and self.trials[entry["id"]].status == _COMPLETED
        ]
        if not candidates:
            return values
        pick = self.promotion_order(candidates)[0]
        entries[-1]["past_id"] = pick.trial_id
        promoted = dict(pick.hyperparameters.values)
        promoted.update({key: values[key] for key in _TUNER_KEYS if key in values})
        promoted["tuner/trial_id"] = pick.trial_id
        return promoted

    def reload(self) -> None:
        """Reload keras-tuner's state (brackets included).

        Besides keras-tuner's own reload, a trial whose ``trial.json`` says it
        ended is not queued to run again (``end_trial`` saves the trial before
        ``oracle.json``, so a kill between the two left it listed as running).
        """
        super().reload()
        unqueue_ended(self)

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        state["brackets_per_iteration"] = self.brackets_per_iteration
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        # As keras-tuner's max_epochs and factor: the saved schedule wins on resume.
        self.brackets_per_iteration = state.get(
            "brackets_per_iteration", self.brackets_per_iteration
        )

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments."""
        return {
            "objective": self.objective.get_config(),
            "max_epochs": self.max_epochs,
            "factor": self.factor,
            "hyperband_iterations": self.hyperband_iterations,
            "brackets": self.brackets_per_iteration,
            "tie_break": self.tie_break,
            "seed": self.seed,
            "allow_new_entries": self.allow_new_entries,
            "tune_new_entries": self.tune_new_entries,
            "max_retries_per_trial": self.max_retries_per_trial,
            "max_consecutive_failed_trials": self.max_consecutive_failed_trials,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ParetoHyperbandOracle:
        config = dict(config)
        config["objective"] = Objective.from_config(config["objective"])
        return cls(**config)
