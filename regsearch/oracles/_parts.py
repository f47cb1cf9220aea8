"""What both Pareto oracles read from a trial: its objective parts, and what a reload fixes."""

from __future__ import annotations

import math

import keras_tuner

from regsearch._compat.keras_tuner import retry_queue
from regsearch.search import BUDGET_COLUMNS, Objective

_ENDED = (
    keras_tuner.engine.trial.TrialStatus.COMPLETED,
    keras_tuner.engine.trial.TrialStatus.FAILED,
)


def objective_parts(objective: Objective) -> list[tuple[str, str]]:
    """The parts of ``objective``'s front: ``(logged metric, "min" or "max")``, in order."""
    parts = [
        (objective.metric, objective.metric_direction),
        (objective.size_column, "min"),
    ]
    if objective.measures_outputs:
        parts.append(("active_outputs", "min"))
    return parts


def logged_value(trial: keras_tuner.engine.trial.Trial, name: str) -> float | None:
    """The finite value ``trial`` logged as ``name`` at its best epoch, or ``None``."""
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def logged_sizes(trial: keras_tuner.engine.trial.Trial) -> dict[str, float | None]:
    """The sizes a budget can limit, as ``trial`` logged them at its best epoch."""
    return {column: logged_value(trial, column) for column in BUDGET_COLUMNS.values()}


def part_values(objective: Objective, trial: keras_tuner.engine.trial.Trial) -> list[float] | str:
    """The trial's objective parts, or why they cannot be read (missing or not finite)."""
    values = []
    for name, _ in objective_parts(objective):
        key = objective.logged_metric if name == objective.metric else name
        key = key if trial.metrics.exists(key) else name
        value = trial.metrics.get_last_value(key) if trial.metrics.exists(key) else None
        if value is None or not math.isfinite(float(value)):
            return f"objective part {name!r} of trial {trial.trial_id} is {value}"
        values.append(float(value))
    return values


def unqueue_ended(oracle: keras_tuner.Oracle) -> None:
    """After keras-tuner's reload: a trial whose ``trial.json`` says it ended is not run
    again (``end_trial`` saves the trial before ``oracle.json``, so a kill between the
    two left it listed as running)."""
    queue = retry_queue(oracle)
    for trial_id, trial in oracle.trials.items():
        if trial.status in _ENDED and trial_id in queue:
            queue.remove(trial_id)
            if trial_id not in oracle.end_order:
                oracle.end_order.append(trial_id)
