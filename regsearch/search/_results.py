"""Reading a finished (or running) search: results table, Pareto front, best model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner

from regsearch._validation import did_you_mean
from regsearch.search._failures import failure_reason
from regsearch.search._hypermodel import RegSearchHyperModel
from regsearch.search._objective import SIZE_PARTS, infer_direction
from regsearch.trimming import trim


def _check_tuner(tuner: Any) -> keras_tuner.Tuner:
    if not isinstance(tuner, keras_tuner.Tuner):
        raise TypeError(
            f"Argument `tuner` must be a keras_tuner Tuner (RandomSearch, "
            f"BayesianOptimization, Hyperband, GridSearch, ...); received {tuner!r}."
        )
    return tuner


def _rows(tuner: keras_tuner.Tuner) -> list[dict[str, Any]]:
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        row: dict[str, Any] = {"trial_id": trial_id, "status": trial.status}
        row.update(trial.hyperparameters.values)
        for name, history in trial.metrics.metrics.items():
            value = history.get_last_value()
            row[name] = None if value is None else float(value)
        row["message"] = failure_reason(trial.message)
        rows.append(row)
    return rows


def results(tuner: keras_tuner.Tuner) -> Any:
    """One row per trial: id, status, hyperparameters, every objective part, score, failure.

    The metric values are those of the trial's best epoch (the one keras-tuner
    checkpointed), so a row describes the model ``best_model`` would load.

    Args:
        tuner: A keras-tuner tuner whose hypermodel is a ``RegSearchHyperModel``.

    Returns:
        A ``pandas.DataFrame`` when pandas is installed, else a list of dicts.

    Example:
        >>> table = regsearch.results(tuner)  # doctest: +SKIP
        >>> table.sort_values("score").head()  # doctest: +SKIP
    """
    return _table(_rows(_check_tuner(tuner)))


def _table(rows: list[dict[str, Any]]) -> Any:
    """Rows as a DataFrame (columns in first-seen order) when pandas is installed."""
    try:
        import pandas as pd
    except ImportError:  # pandas is optional
        return rows
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns and key != "message")
    return pd.DataFrame(rows, columns=[*(columns or ["trial_id", "status"]), "message"])


def metric_column(name: str, rows: list[dict[str, Any]]) -> str:
    """The results column that holds ``name``: ``val_loss`` is read from
    ``val_data_loss`` (the loss without penalties) where the trials logged it."""
    data_key = name.replace("loss", "data_loss") if name in ("val_loss", "loss") else name
    return data_key if any(row.get(data_key) is not None for row in rows) else name


def _direction(name: str) -> str:
    direction = infer_direction(name)
    if direction is None:
        raise ValueError(
            f"Cannot tell whether {name!r} is minimized or maximized; use a loss, an "
            f"accuracy-like metric, or one of {sorted(SIZE_PARTS)}."
        )
    return direction


def objective_keys(
    objectives: Sequence[str], rows: list[dict[str, Any]]
) -> list[tuple[str, float]]:
    """``(results column, sign)`` per objective; the sign makes every objective minimized."""
    if isinstance(objectives, str) or len(objectives) < 2:
        raise ValueError(
            f"Argument `objectives` must name at least two metrics; received {objectives!r}."
        )
    keys = []
    for name in objectives:
        key = metric_column(name, rows)
        available = sorted({k for row in rows for k, v in row.items() if isinstance(v, float)})
        if rows and not any(row.get(key) is not None for row in rows):
            raise ValueError(
                f"Objective {name!r} was not logged by any finished trial; available: "
                f"{available}.{did_you_mean(name, available)}"
            )
        keys.append((key, 1.0 if _direction(key) == "min" else -1.0))
    return keys


def front_points(row: dict[str, Any], keys: list[tuple[str, float]]) -> tuple[float, ...]:
    """A results row as a point to minimize; a missing or NaN value is +inf."""
    values = []
    for key, sign in keys:
        value = row.get(key)
        values.append(math.inf if value is None or math.isnan(value) else sign * value)
    return tuple(values)


def pareto_front(
    tuner: keras_tuner.Tuner,
    objectives: Sequence[str] = ("val_loss", "trimmed_params"),
) -> Any:
    """The finished trials that no other finished trial beats on every objective.

    ``"val_loss"`` means the data loss (``val_data_loss``) where it was logged,
    as in ``regsearch.Objective``. Directions are inferred (losses and sizes are
    minimized, accuracy-like metrics maximized).

    Args:
        tuner: The tuner of a regsearch search.
        objectives: Two or more metric names from the results table.

    Returns:
        The front's rows, sorted by the first objective, in the same form as
        :func:`results` (a DataFrame or a list of dicts).
    """
    tuner = _check_tuner(tuner)
    rows = [row for row in _rows(tuner) if row["status"] == "COMPLETED"]
    keys = objective_keys(objectives, rows)

    def point(row: dict[str, Any]) -> tuple[float, ...]:
        return front_points(row, keys)

    points = [(point(row), row) for row in rows]
    front = [
        row
        for p, row in points
        if not any(
            all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p))
            for q, _ in points
        )
    ]
    front.sort(key=lambda row: point(row))
    return _table(front)


def _regsearch_hypermodel(tuner: keras_tuner.Tuner) -> Any:
    hypermodel = tuner.hypermodel
    if not isinstance(hypermodel, RegSearchHyperModel):
        raise TypeError(
            "This tuner's hypermodel is not a regsearch.RegSearchHyperModel; "
            f"received {type(hypermodel).__name__}."
        )
    return hypermodel


def best_model(
    tuner: keras_tuner.Tuner,
    trimmed: bool = True,
    *,
    trial_id: str | None = None,
) -> keras.Model:
    """Load the best trial's model at its best epoch, trimmed by default.

    Args:
        tuner: The tuner of a regsearch search.
        trimmed: Return the model that ``regsearch.trim`` builds (stock Keras
            layers, no regularizers; compiled with the search's loss and
            metrics) instead of the trained model.
        trial_id: Load this trial instead of the best one (for example a trial
            picked from :func:`pareto_front`).

    Returns:
        A compiled Keras model.

    Raises:
        RuntimeError: when no trial finished; the message quotes why they failed.
    """
    tuner = _check_tuner(tuner)
    hypermodel = _regsearch_hypermodel(tuner)
    trials = tuner.oracle.trials
    if trial_id is None:
        # keras-tuner pads the best trials with unfinished ones when too few finished.
        best = [t for t in tuner.oracle.get_best_trials(1) if t.status == "COMPLETED"]
        if not best:
            reasons = sorted(
                {
                    reason
                    for trial in trials.values()
                    if (reason := failure_reason(trial.message)) is not None
                }
            )
            raise RuntimeError(
                f"No trial of this search finished ({len(trials)} trials). "
                + (f"Reasons: {'; '.join(reasons)}" if reasons else "")
            )
        trial = best[0]
    else:
        if trial_id not in trials:
            raise ValueError(
                f"Argument `trial_id`: no trial {trial_id!r}; trials: {sorted(trials)}."
                f"{did_you_mean(trial_id, list(trials))}"
            )
        trial = trials[trial_id]
        if trial.status != "COMPLETED":
            raise ValueError(
                f"Trial {trial_id!r} did not finish (status {trial.status}); pick a "
                f"COMPLETED trial."
            )
    with warnings.catch_warnings():
        # keras-tuner's checkpoints carry optimizer slots a fresh model lacks.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.load_model(trial)
    if not trimmed:
        return model
    return trim_compiled(hypermodel, model)[0]


def trim_compiled(hypermodel: Any, model: keras.Model) -> tuple[keras.Model, Any]:
    """``regsearch.trim`` with the search's threshold, compiled as the search compiled.

    Returns:
        ``(trimmed_model, TrimReport)``.
    """
    trimmed_model, report = trim(
        model, hypermodel.trim_threshold, relative=hypermodel.relative_threshold
    )
    trimmed_model.compile(**hypermodel._compile_kwargs(model))
    return trimmed_model, report
