"""Reading a finished (or running) search: results table, Pareto front, best model."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import keras_tuner
import pandas as pd
from keras_tuner.engine.trial import Trial

from regsearch._validation import check_bool, check_float, check_int, did_you_mean
from regsearch.search._failures import failure_reason
from regsearch.search._hypermodel import COLLAPSED_EPOCH, RegSearchHyperModel
from regsearch.search._objective import (
    BUDGET_COLUMNS,
    SIZE_COLUMNS,
    SIZE_PARTS,
    Objective,
    infer_direction,
)
from regsearch.search._score import Collapse
from regsearch.trimming import EmptiedLayerError, TrimReport, trim

# The ``status`` in ``results`` of a trial whose penalties emptied a layer.
COLLAPSED = "COLLAPSED"

# The size columns `select` compares, by the names it accepts: an Objective's `size`
# or the column's own name.
_SIZE_COLUMNS = {**SIZE_COLUMNS, **{column: column for column in SIZE_COLUMNS.values()}}


def _check_tuner(tuner: Any) -> keras_tuner.Tuner:
    if not isinstance(tuner, keras_tuner.Tuner):
        raise TypeError(
            f"Argument `tuner` must be a keras_tuner Tuner (RandomSearch, "
            f"BayesianOptimization, Hyperband, GridSearch, ...); received {tuner!r}."
        )
    return tuner


# The last columns of every table, in this order.
_TAIL = ("feasible", "over_budget", COLLAPSED_EPOCH, "collapsed_layer", "message")
# The statuses of trials that finished (with metrics at a best epoch).
_FINISHED = ("COMPLETED", COLLAPSED)


def collapse(trial: Trial) -> Collapse | None:
    """How a finished ``trial`` collapsed, or ``None`` (the layer is ``"?"`` when unrecorded)."""
    if trial.status != "COMPLETED" or not trial.metrics.exists(COLLAPSED_EPOCH):
        return None
    recorded = Collapse.from_message(trial.message)
    return recorded or Collapse("?", int(trial.metrics.get_last_value(COLLAPSED_EPOCH)))


def _budgets(tuner: keras_tuner.Tuner) -> Objective | None:
    """The tuner's ``regsearch.Objective`` when it sets a size budget, else ``None``."""
    objective = tuner.oracle.objective
    return objective if isinstance(objective, Objective) and objective.budgets else None


def _mark_budget(row: dict[str, Any], objective: Objective | None) -> None:
    """Set ``row``'s ``feasible`` and ``over_budget`` (from its best epoch's sizes)."""
    if row["status"] not in _FINISHED:
        row["feasible"], row["over_budget"] = None, None
        return
    over = [] if objective is None else objective.over_budget(row)
    row["feasible"] = not over
    row["over_budget"] = ", ".join(over) if over else None


def usable(row: dict[str, Any]) -> bool:
    """Whether a results row may be selected: it completed (not collapsed), within budget."""
    return row["status"] == "COMPLETED" and row.get("feasible") is not False


def _rows(tuner: keras_tuner.Tuner) -> list[dict[str, Any]]:
    objective = _budgets(tuner)
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        collapsed = collapse(trial)
        status = trial.status if collapsed is None else COLLAPSED
        row: dict[str, Any] = {"trial_id": trial_id, "status": status}
        row.update(trial.hyperparameters.values)
        for name, history in trial.metrics.metrics.items():
            value = history.get_last_value()
            row[name] = None if value is None else float(value)
        _mark_budget(row, objective)
        row["collapsed_layer"] = None if collapsed is None else collapsed.layer
        row["message"] = failure_reason(trial.message)
        rows.append(row)
    return rows


def results(tuner: keras_tuner.Tuner, *, include_collapsed: bool = True) -> pd.DataFrame:
    """One row per trial: id, status, hyperparameters, every objective part, score, failure.

    The metric values are those of the trial's best epoch (the one keras-tuner
    checkpointed), so a row describes the model ``best_model`` would load.

    ``status`` is keras-tuner's (``"COMPLETED"``, ``"FAILED"``, ``"INVALID"``,
    ``"RUNNING"``), or ``"COLLAPSED"`` for a trial whose penalties emptied a layer
    (every output channel counted as zero): it stopped at the end of epoch
    ``collapsed_epoch`` (1-based), ``collapsed_layer`` names the layer (``"?"``
    for a trial run by a distributed worker), and ``message`` says so. Its
    metrics are scored without size credit, ``best_model(trimmed=True)`` may be
    unable to trim it, and ``select``, ``best_model`` and ``pareto_front`` leave
    it out.

    ``feasible`` says whether the trial's best epoch is within every size budget
    of the ``regsearch.Objective`` (``max_params``, ``max_macs``,
    ``max_trimmed_params``, ``max_trimmed_macs``; always ``True`` without
    budgets; ``<NA>`` for a trial that did not finish), and ``over_budget`` names
    the budgets it exceeds (``"max_trimmed_params"``, or several joined by
    ``", "``). ``select``, ``best_model`` (unless given that ``trial_id``),
    ``pareto_front`` and ``hypervolume`` leave over-budget trials out.

    Args:
        tuner: A keras-tuner tuner whose hypermodel is a ``RegSearchHyperModel``.
        include_collapsed: Keep the rows of collapsed trials; ``False`` leaves them
            out (e.g. before loading every trial's trimmed model).

    Returns:
        A ``pandas.DataFrame``: columns in first-seen order, then ``feasible``
        (pandas' nullable ``boolean``) and ``over_budget``, ``collapsed_epoch`` and
        ``collapsed_layer`` (missing, ``NaN``, unless the trial collapsed) and
        ``message`` (why a trial failed or collapsed); a metric a trial did not
        log is ``NaN``.

    Examples:
        >>> table = regsearch.results(tuner)  # doctest: +SKIP
        >>> table.sort_values("score").head()  # doctest: +SKIP
        >>> usable = regsearch.results(tuner, include_collapsed=False)  # doctest: +SKIP
        >>> within_budget = table[table["feasible"]]  # doctest: +SKIP
    """
    include_collapsed = check_bool("include_collapsed", include_collapsed)
    rows = _rows(_check_tuner(tuner))
    if not include_collapsed:
        rows = [row for row in rows if row["status"] != COLLAPSED]
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame: columns in first-seen order, ``_TAIL`` last, index 0..n-1."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns and key not in _TAIL)
    frame = pd.DataFrame(rows, columns=[*(columns or ["trial_id", "status"]), *_TAIL])
    frame["feasible"] = frame["feasible"].astype("boolean")
    return frame


def format_table(table: pd.DataFrame) -> str:
    """A results table as aligned text (4 significant digits, ``-`` for missing).

    The collapse columns are left out when no trial collapsed, the budget columns
    when no trial is over budget.
    """
    if table.empty:
        return "(no trials)"
    unused = [c for c in _TAIL[1:4] if c in table and table[c].isna().all()]
    if "feasible" in table and not table["feasible"].eq(False).any():
        unused.append("feasible")
    table = table.drop(columns=unused)
    return str(table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-"))


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
) -> pd.DataFrame:
    """The finished trials that no other finished trial beats on every objective.

    ``"val_loss"`` means the data loss (``val_data_loss``) where it was logged,
    as in ``regsearch.Objective``. Directions are inferred (losses and sizes are
    minimized, accuracy-like metrics maximized).

    Args:
        tuner: The tuner of a regsearch search.
        objectives: Two or more metric names from the results table.

    Returns:
        The front's rows of ``results`` (a ``pandas.DataFrame``), sorted by
        the first objective. Collapsed trials and trials over a size budget of
        the ``regsearch.Objective`` are left out.
    """
    tuner = _check_tuner(tuner)
    rows = [row for row in _rows(tuner) if usable(row)]
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
    return _frame(front)


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
    tolerance: float | None = None,
    metric: str | None = None,
    size: str | None = None,
    relative: bool = False,
    round_to: int | None = None,
) -> keras.Model:
    """Load the best trial's model at its best epoch, trimmed by default.

    The best trial is the one with the lowest ``score``; with ``tolerance`` it is
    the one ``select`` picks (the smallest model whose metric is within
    ``tolerance`` of the best), with the same ``metric``, ``size`` and
    ``relative``. Neither is ever a collapsed trial nor a trial over a size budget
    of the ``regsearch.Objective`` (see ``results``). A trial asked for by
    ``trial_id`` is loaded as asked, even one over budget: ``results`` says which
    are (its ``feasible`` column).

    Args:
        tuner: The tuner of a regsearch search.
        trimmed: Return the model that ``regsearch.trim`` builds (stock Keras
            layers, no regularizers; compiled with the search's loss and
            metrics) instead of the trained model.
        trial_id: Load this trial instead of the best one (for example a trial
            picked from ``pareto_front``).
        tolerance: Load the trial ``select(tuner, tolerance, ...)`` picks.
        metric: See ``select`` (only with ``tolerance``).
        size: See ``select`` (only with ``tolerance``).
        relative: See ``select`` (only with ``tolerance``).
        round_to: With ``trimmed=True``: round the trimmed layers' channel counts
            up to multiples of it, as ``regsearch.trim(..., round_to=...)`` does
            (e.g. 4 or 8 for XNNPack). The search itself measured sizes without
            rounding.

    Returns:
        A compiled Keras model.

    Raises:
        RuntimeError: when no trial finished, every finished trial collapsed, or
            every finished trial is over a size budget (the message names the
            budget and the smallest size reached); the message quotes why.
        ValueError: for a ``trial_id`` that did not finish, or that collapsed at
            its best epoch with ``trimmed=True`` (it cannot be trimmed: the error
            names the emptied layer and its epoch).
    """
    tuner = _check_tuner(tuner)
    hypermodel = _regsearch_hypermodel(tuner)
    round_to = _check_round_to(round_to, trimmed)
    if tolerance is not None:
        if trial_id is not None:
            raise ValueError(
                f"Pass either `trial_id` or `tolerance` to best_model, not both; received "
                f"trial_id={trial_id!r} and tolerance={tolerance!r}."
            )
        trial_id = select(tuner, tolerance, metric=metric, size=size, relative=relative)
    trial = best_trial(tuner) if trial_id is None else _finished_trial(tuner, trial_id)
    with warnings.catch_warnings():
        # keras-tuner's checkpoints carry optimizer slots a fresh model lacks.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model = tuner.load_model(trial)
    if not trimmed:
        return model
    try:
        return trim_compiled(hypermodel, model, round_to=round_to)[0]
    except EmptiedLayerError as error:
        collapsed = collapse(trial)
        if collapsed is None:
            raise
        raise ValueError(
            f"Trial {trial.trial_id!r} collapsed: {collapsed}, so its trimmed model would "
            f"have no output channel there ({error}). Search with weaker strengths "
            f"(SearchSpace(strength=...)), or load the untrimmed model with "
            f"best_model(tuner, trimmed=False, trial_id={trial.trial_id!r})."
        ) from error


def best_trial(tuner: keras_tuner.Tuner) -> Trial:
    """The finished trial with the best objective that neither collapsed nor is over a
    size budget (``best_model``'s trial).

    Raises:
        RuntimeError: when no trial finished, every finished trial collapsed, or
            every finished trial is over budget.
    """
    # keras-tuner pads the best trials with unfinished ones when too few finished.
    ranked = tuner.oracle.get_best_trials(len(tuner.oracle.trials))
    allowed = {row["trial_id"] for row in _rows(tuner) if usable(row)}
    best = [t for t in ranked if t.trial_id in allowed]
    if not best:
        raise _no_finished_trial(tuner)
    return best[0]


def _finished_trial(tuner: keras_tuner.Tuner, trial_id: str) -> Trial:
    trials = tuner.oracle.trials
    if trial_id not in trials:
        raise ValueError(
            f"Argument `trial_id`: no trial {trial_id!r}; trials: {sorted(trials)}."
            f"{did_you_mean(trial_id, list(trials))}"
        )
    trial = trials[trial_id]
    if trial.status != "COMPLETED":
        raise ValueError(
            f"Trial {trial_id!r} did not finish (status {trial.status}); pick a COMPLETED trial."
        )
    return trial


def _no_finished_trial(tuner: keras_tuner.Tuner) -> RuntimeError:
    """The error ``best_model`` and ``select`` raise when no trial is usable: none
    finished, every finished one collapsed, or every other one is over budget."""
    objective = _budgets(tuner)
    over = [row for row in _rows(tuner) if row["status"] == "COMPLETED" and not row["feasible"]]
    if objective is not None and over:
        return _over_budget_error(objective, over)
    trials = tuner.oracle.trials
    collapsed = {t.trial_id: c for t in trials.values() if (c := collapse(t)) is not None}
    if collapsed:
        listed = "; ".join(f"trial {trial_id}: {c}" for trial_id, c in sorted(collapsed.items()))
        return RuntimeError(
            f"Every trial of this search that finished collapsed ({len(collapsed)} of "
            f"{len(trials)} trials; {listed}). Search with weaker strengths "
            f"(SearchSpace(strength=...)), or load a collapsed trial's untrimmed model "
            f"with best_model(tuner, trimmed=False, trial_id=...)."
        )
    reasons = sorted(
        {reason for trial in trials.values() if (reason := failure_reason(trial.message))}
    )
    return RuntimeError(
        f"No trial of this search finished ({len(trials)} trials). "
        + (f"Reasons: {'; '.join(reasons)}" if reasons else "")
    )


def _over_budget_error(objective: Objective, rows: list[dict[str, Any]]) -> RuntimeError:
    """Every finished trial (``rows``) is over a budget: name each and the smallest size."""
    parts = []
    for name, limit in objective.budgets.items():
        column = BUDGET_COLUMNS[name]
        reached = sorted((row[column], row["trial_id"]) for row in rows if _finite(row.get(column)))
        smallest = (
            f"the smallest {column} reached is {reached[0][0]:,.0f}, by trial {reached[0][1]!r}"
            if reached
            else f"no trial logged {column}"
        )
        parts.append(f"{name}={limit:,} ({smallest})")
    return RuntimeError(
        f"No finished trial of this search is within its size budget: all "
        f"{len(rows)} are over it. {'; '.join(parts)}. Raise the budget "
        f"(regsearch.Objective({', '.join(objective.budgets)}=...)), search stronger "
        f"penalties or narrower widths (SearchSpace(strength=..., width=...)), or load "
        f"an over-budget trial as it is with best_model(tuner, trial_id=...)."
    )


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _select_columns(
    tuner: keras_tuner.Tuner, metric: str | None, size: str | None
) -> tuple[str, str]:
    """The metric and size names ``select`` compares; defaults from the tuner's objective."""
    objective = tuner.oracle.objective
    if metric is None:
        if not isinstance(objective, Objective):
            raise ValueError(
                f"This tuner's objective is {objective!r}, not a regsearch.Objective: pass "
                f"the metric to compare, e.g. metric='val_accuracy'."
            )
        metric = objective.metric
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"Argument `metric` must be a metric name; received {metric!r}.")
    if size is None:
        size = objective.size if isinstance(objective, Objective) else "params"
    if size not in _SIZE_COLUMNS:
        raise ValueError(
            f"Invalid value for argument `size`: received {size!r}; expected one of "
            f"{sorted(_SIZE_COLUMNS)}.{did_you_mean(size, _SIZE_COLUMNS)}"
        )
    return metric, _SIZE_COLUMNS[size]


def select(
    tuner: keras_tuner.Tuner,
    tolerance: float,
    *,
    metric: str | None = None,
    size: str | None = None,
    relative: bool = False,
    reference: float | None = None,
) -> str:
    """The id of the smallest finished trial whose metric is within ``tolerance`` of the best.

    "The best" is the best ``metric`` over the finished trials (each trial at its
    best epoch, as in ``results``; collapsed trials and trials over a size budget
    of the ``regsearch.Objective`` are left out). Among the
    trials whose metric is within ``tolerance`` of it, the one with the smallest
    trimmed size wins; ties go to the better metric, so the trial is on the
    (metric, size) Pareto front.

    ``tolerance`` is absolute, in the metric's own units, unless ``relative=True``:

    - ``select(tuner, 0.01, metric="val_accuracy")``: at most one accuracy point
      below the best trial (0.97 when the best is 0.98);
    - ``select(tuner, 0.1, metric="val_loss", relative=True)``: a data loss at most
      1.1 times the best trial's;
    - ``tolerance=0`` picks the smallest among the trials with the best metric.

    Unlike ``size_weight`` in ``regsearch.Objective``, the tolerance is a
    statement about the result a user accepts ("at most one point of accuracy"),
    chosen after the search and changeable without searching again.

    Args:
        tuner: The tuner of a regsearch search (any tuner whose trials logged
            ``metric`` and the size).
        tolerance: How much worse than the best the metric may be (>= 0).
        metric: The metric to compare; defaults to the ``regsearch.Objective``'s.
            ``"val_loss"`` means the data loss where it was logged.
        size: ``"trimmed_params"`` (``"params"``), ``"trimmed_macs"``
            (``"macs"``), ``"latency_ms"`` (``"latency"``) or ``"file_bytes"``
            (the last two where the search measured them: ``Objective(size=
            "latency")`` or ``"file_bytes"``); defaults to the objective's ``size``.
        relative: Read ``tolerance`` as a fraction of the best metric's magnitude.
        reference: Measure ``tolerance`` from this value of ``metric`` (for example
            the base model's own validation accuracy) instead of the best trial's.

    Returns:
        The trial id, for ``best_model`` (``trial_id=``) or ``tuner.oracle.trials``.

    Raises:
        RuntimeError: when no trial finished, every finished trial collapsed, or
            every finished trial is over a size budget (the message names the
            budget and the smallest size reached); the message quotes why.
        LookupError: when ``reference`` is given and no trial is within ``tolerance``
            of it.

    Examples:
        >>> trial_id = regsearch.select(tuner, 0.01, metric="val_accuracy")  # doctest: +SKIP
        >>> small = regsearch.best_model(tuner, trial_id=trial_id)  # doctest: +SKIP
    """
    tuner = _check_tuner(tuner)
    tolerance = check_float("tolerance", tolerance)
    metric, size_key = _select_columns(tuner, metric, size)
    rows = [row for row in _rows(tuner) if usable(row)]
    if not rows:
        raise _no_finished_trial(tuner)
    key = metric_column(metric, rows)
    available = sorted({k for row in rows for k, v in row.items() if isinstance(v, float)})
    for name in (key, size_key):
        if name not in available:
            raise ValueError(
                f"{name!r} was not logged by any finished trial; available: "
                f"{available}.{did_you_mean(name, available)}"
            )
    sign = 1.0 if _direction(key) == "min" else -1.0
    scored = [
        (sign * row[key], row[size_key], row["trial_id"])
        for row in rows
        if all(isinstance(row.get(k), float) and math.isfinite(row[k]) for k in (key, size_key))
    ]
    if not scored:
        raise ValueError(f"No finished trial has a finite {key!r} and {size_key!r}.")
    if reference is None:
        reference = sign * min(value for value, _, _ in scored)
    reference = check_float("reference", reference, minimum=None)
    within = [
        (size_value, value, trial_id)
        for value, size_value, trial_id in scored
        if within_tolerance(sign * value, reference, tolerance, relative=relative, metric=key)
    ]
    if not within:
        raise LookupError(
            f"No finished trial has {key} within {tolerance} of the reference {reference}; "
            f"the best is {sign * min(v for v, _, _ in scored)}."
        )
    return min(within)[2]


def within_tolerance(
    value: float, reference: float, tolerance: float, *, relative: bool, metric: str
) -> bool:
    """Whether ``value`` of ``metric`` is at most ``tolerance`` worse than ``reference``.

    ``select``'s test: "worse" follows the metric's direction, and ``relative``
    reads ``tolerance`` as a fraction of ``abs(reference)``.
    """
    sign = 1.0 if _direction(metric) == "min" else -1.0
    limit = sign * reference + (tolerance * abs(reference) if relative else tolerance)
    limit += 1e-9 * max(1.0, abs(limit))  # 0.98 - 0.01 must admit a 0.97
    return sign * value <= limit


def _check_round_to(round_to: object, trimmed: object) -> int | None:
    """``best_model``'s ``round_to``: an int >= 1 or ``None``, and only with ``trimmed``."""
    if round_to is None:
        return None
    if not trimmed:
        raise ValueError(
            f"Argument `round_to` rounds the channel counts of the trimmed model; "
            f"received round_to={round_to!r} with trimmed=False. Pass trimmed=True, "
            f"or drop round_to."
        )
    return check_int("round_to", round_to, minimum=1)


def trim_compiled(
    hypermodel: RegSearchHyperModel, model: keras.Model, *, round_to: int | None = None
) -> tuple[keras.Model, TrimReport]:
    """``regsearch.trim`` with the search's threshold, compiled as the search compiled.

    Returns:
        ``(trimmed_model, TrimReport)``.
    """
    trimmed_model, report = trim(
        model, hypermodel.trim_threshold, relative=hypermodel.relative_threshold, round_to=round_to
    )
    trimmed_model.compile(**hypermodel._compile_kwargs(model))
    return trimmed_model, report
