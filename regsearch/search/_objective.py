"""The composite objective: validation metric, trimmed size and output sparsity."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import keras_tuner
from keras_tuner.engine.metrics_tracking import infer_metric_direction

from regsearch._validation import check_choice, check_float

SCORE = "score"
# Each `size` and the log entry that holds it.
SIZE_COLUMNS = {
    "params": "trimmed_params",
    "macs": "trimmed_macs",
    "latency": "latency_ms",
    "file_bytes": "file_bytes",
}
# The sizes measured on the trimmed model's LiteRT file (regsearch.deployment_cost).
DEPLOYED_SIZES = ("latency", "file_bytes")
_TRADEOFFS = ("sum", "product")
# The smallest size ratio the product form uses, so that a ratio of 0 gives a finite score.
_MIN_RATIO = 1e-6


# Each hard size budget of an Objective and the log entry it limits.
BUDGET_COLUMNS = {
    "max_params": "untrimmed_params",
    "max_macs": "untrimmed_macs",
    "max_trimmed_params": "trimmed_params",
    "max_trimmed_macs": "trimmed_macs",
}
# What an epoch over a budget adds to its score, per unit of (1 + relative excess): far
# above any score a trial within budget reaches, so keras-tuner never ranks it first.
OVER_BUDGET_PENALTY = 1e12
# The epoch log entry with the largest relative excess over the budgets (<= 0: within).
BUDGET_EXCESS = "budget_excess"

# Objective parts regsearch logs; smaller is better for each.
SIZE_PARTS = (
    "trimmed_params",
    "trimmed_macs",
    "untrimmed_params",
    "untrimmed_macs",
    "latency_ms",
    "file_bytes",
    "size_ratio",
    "active_outputs",
)


def infer_direction(metric: str) -> str | None:
    """``"min"`` or ``"max"`` for a logged metric name, or ``None`` when unknown."""
    base = metric.removeprefix("val_")
    if metric in (SCORE, BUDGET_EXCESS) or base in SIZE_PARTS:
        return "min"
    if base in {"data_loss", "loss"} or base.endswith(("_loss", "_error")):
        return "min"
    direction = infer_metric_direction(metric)
    if direction is None and "_" in base:
        # A metric of one output of several: Keras logs it as "<output>_<metric>".
        return infer_direction(base.split("_", 1)[1])
    return None if direction is None else str(direction)


_BUDGETED = frozenset(BUDGET_COLUMNS.values())


def _check_budget(name: str, value: Any) -> float | None:
    """A size budget: ``None`` or a finite number > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"Argument `{name}` must be a positive number (a size limit) or None; "
            f"received {value!r} of type {type(value).__name__}."
        )
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(
            f"Argument `{name}` must be a finite number > 0 (a size limit) or None for no "
            f"limit; received {value!r}."
        )
    return int(number) if number.is_integer() else number


class Objective(keras_tuner.Objective):
    """A keras-tuner objective named ``"score"`` that weighs accuracy against size.

    The score is minimized. With ``tradeoff="sum"`` (the default) it is::

        score = sign * metric
              + size_weight * size_ratio
              + sparsity_weight * excess

    where ``sign`` is +1 when ``metric`` is minimized and -1 when it is maximized,
    ``size_ratio = trimmed_size / untrimmed_size`` counts parameters
    (``size="params"``) or multiply-accumulates (``size="macs"``) of the model once
    near-zero kernel edges and dead filters are trimmed, or measures the trimmed
    model where it runs (``size="latency"``, ``size="file_bytes"``: see below), and
    ``excess = max(0, active_outputs - max_active_outputs) / n_outputs``, with
    ``active_outputs`` the mean number of non-zero outputs per sample on the
    validation data (measured only when ``max_active_outputs`` is set). The sum
    depends on the metric's scale: ``size_weight=0.5`` means a lot next to an MSE
    of 0.04 and little next to an MSE of 40.

    ``tradeoff="product"`` is scale-free (the MnasNet form, Tan et al. 2019): it
    weighs the *relative* change of the metric against the relative change of
    size. For a minimized metric (a loss, an error rate)::

        score = metric * size_ratio ** size_weight * (1 + sparsity_weight * excess)

    and for a maximized one (accuracy, AUC), ``-(metric * size_ratio ** -size_weight
    / (1 + sparsity_weight * excess))``, which ranks trials as MnasNet's reward
    ``metric * size_ratio ** -size_weight`` does. Multiplying the metric by a
    constant does not change which trial wins. ``size_weight`` is then an exponent:
    halving the size is worth as much as a factor ``2 ** size_weight`` on the
    metric. To accept a loss ``r`` times higher (or an accuracy ``r`` times lower)
    for a model ``k`` times smaller, use ``size_weight = log(r) / log(k)``: for
    example ``log(1.1) / log(4) = 0.069`` for 10% more loss at a quarter of the
    size. The product form needs a metric that is >= 0 (losses, errors, accuracy,
    AUC); a negative value fails the trial with a message.

    Either score is a fixed function of one epoch's own results, as keras-tuner
    needs (it records each trial's score once). To pick "the smallest model within
    a tolerance of the best metric" after a search, use ``regsearch.select``.

    ``"val_loss"`` and ``"loss"`` are scored on the *data* loss: the compiled loss
    without regularization penalties (logged as ``val_data_loss``). Keras adds the
    penalties to ``val_loss``; comparing trials on it would favour weak
    regularizers, and the trimmed model (which carries no penalties) could not
    reproduce the reported value.

    Every part is written into the epoch logs next to ``score``, so keras-tuner's
    best-epoch checkpoint, Hyperband, TensorBoard and ``trial.metrics`` see them.

    ``size="latency"`` and ``size="file_bytes"`` convert the trimmed model to LiteRT
    (float32, batch 1) and measure it with ``regsearch.deployment_cost`` (one
    thread): its latency (``latency_ms``, the fastest of its timed samples) or its file size
    (``file_bytes``), divided by those of the untrimmed model the trial was built
    from (measured once per search). Both are logged. A conversion takes a second or
    more, so a trimmed architecture is measured once, at the first epoch
    keras-tuner sees it: with ``RegSearchHyperModel(finetune_epochs=...)``, where
    the architecture is fixed, that is once per trial; the penalized epochs before
    the fine-tune are not measured. An epoch that is not measured (a penalized
    one, or one where a whole layer was emptied) gets no size credit: the untrimmed
    model's cost is logged and ``size_ratio`` is 1. These sizes need the
    TensorFlow backend and a LiteRT runtime (``pip install "regsearch[litert]"``);
    latencies are wall-clock times, so run the search on a machine that is
    otherwise quiet.

    **Hard size budgets.** ``max_params`` and ``max_macs`` limit the parameters and
    multiply-accumulates of the model each trial builds (after a ``SearchSpace``
    width or kernel size, before trimming: logged as ``untrimmed_params`` and
    ``untrimmed_macs``); ``max_trimmed_params`` and ``max_trimmed_macs`` limit the
    model ``regsearch.trim`` returns (``trimmed_params``, ``trimmed_macs``). A
    budget never stops a search or fails a trial:

    - every epoch logs ``budget_excess``, the largest relative excess
      ``size / limit - 1`` over the budgets (``<= 0``: within every budget);
    - an epoch over a budget scores ``score + 1e12 * (1 + budget_excess)``, so
      keras-tuner's tuners (``RandomSearch``, ``BayesianOptimization``,
      ``Hyperband``) rank it below every epoch within budget: a trial's best
      epoch (its checkpoint, its metrics) is one within budget when it has one,
      and a trial over budget is never ``get_best_trials``' first while a trial
      within budget exists;
    - ``regsearch.ParetoSearch`` tells its Optuna sampler each budget as a
      constraint (feasible when ``<= 0``), next to ``max_active_outputs``'s;
    - ``regsearch.results`` marks each trial ``feasible`` (and ``over_budget``
      names the limits it exceeds); ``select``, ``best_model`` (without a
      ``trial_id``), ``pareto_front`` and ``hypervolume`` leave over-budget
      trials out.

    Args:
        metric: The validation metric to score, as it appears in the logs.
        direction: ``"min"`` or ``"max"`` for ``metric``; inferred for losses and
            for accuracy/AUC-like metrics when ``None``.
        size_weight: Weight of the trimmed-size ratio (0 ignores size); the
            exponent of the size ratio with ``tradeoff="product"``.
        size: ``"params"``, ``"macs"``, ``"latency"`` or ``"file_bytes"``.
        max_active_outputs: Allowed mean number of active outputs per sample;
            ``None`` does not measure output sparsity.
        sparsity_weight: Weight of the excess of active outputs.
        tradeoff: ``"sum"`` (weighted sum, in the metric's units) or
            ``"product"`` (scale-free, relative changes).
        max_params: The most parameters a trial's model may have, untrimmed
            (``None``: no limit).
        max_macs: The most multiply-accumulates per sample a trial's model may
            have, untrimmed (``None``: no limit).
        max_trimmed_params: The most parameters a trial's trimmed model may have.
        max_trimmed_macs: The most multiply-accumulates per sample a trial's
            trimmed model may have.

    Examples:
        >>> import regsearch
        >>> objective = regsearch.Objective("val_loss", size_weight=0.5)
        >>> objective.score({"val_data_loss": 0.2}, size_ratio=0.4)
        0.4
        >>> scale_free = regsearch.Objective("val_loss", size_weight=0.5, tradeoff="product")
        >>> round(scale_free.score({"val_data_loss": 0.2}, size_ratio=0.25), 6)
        0.1
        >>> budget = regsearch.Objective("val_accuracy", max_trimmed_params=5_000)
        >>> budget.budget_excess({"trimmed_params": 7_500})
        {'max_trimmed_params': 0.5}
        >>> budget.score({"val_accuracy": 0.9, "trimmed_params": 4_000})
        -0.9
    """

    def __init__(
        self,
        metric: str = "val_loss",
        *,
        direction: str | None = None,
        size_weight: float = 0.0,
        size: str = "params",
        max_active_outputs: float | None = None,
        sparsity_weight: float = 1.0,
        tradeoff: str = "sum",
        max_params: float | None = None,
        max_macs: float | None = None,
        max_trimmed_params: float | None = None,
        max_trimmed_macs: float | None = None,
    ) -> None:
        super().__init__(SCORE, "min")
        if not isinstance(metric, str) or not metric:
            raise TypeError(
                f"Argument `metric` must be a metric name such as 'val_loss'; received {metric!r}."
            )
        if metric == SCORE:
            raise ValueError("Argument `metric` cannot be 'score': that is the objective itself.")
        self.metric = metric
        if direction is None:
            direction = infer_direction(metric)
            if direction is None:
                raise ValueError(
                    f"Cannot infer whether metric {metric!r} should be minimized or "
                    f"maximized; pass direction='min' or direction='max' to regsearch.Objective."
                )
        self.metric_direction = check_choice("direction", direction, ("min", "max"))
        self.size_weight = check_float("size_weight", size_weight)
        self.size = check_choice("size", size, SIZE_COLUMNS)
        self.max_active_outputs = (
            None
            if max_active_outputs is None
            else check_float("max_active_outputs", max_active_outputs)
        )
        self.sparsity_weight = check_float("sparsity_weight", sparsity_weight)
        self.tradeoff = check_choice("tradeoff", tradeoff, _TRADEOFFS)
        self.max_params = _check_budget("max_params", max_params)
        self.max_macs = _check_budget("max_macs", max_macs)
        self.max_trimmed_params = _check_budget("max_trimmed_params", max_trimmed_params)
        self.max_trimmed_macs = _check_budget("max_trimmed_macs", max_trimmed_macs)

    @property
    def logged_metric(self) -> str:
        """The log entry the metric part is read from."""
        if self.metric in ("val_loss", "loss"):
            return self.metric.replace("loss", "data_loss")
        return self.metric

    @property
    def measures_outputs(self) -> bool:
        return self.max_active_outputs is not None

    @property
    def size_column(self) -> str:
        """The log entry (and results column) that holds the trial's size."""
        return SIZE_COLUMNS[self.size]

    @property
    def budgets(self) -> dict[str, float]:
        """The hard size budgets that are set: ``{"max_params": limit, ...}``."""
        limits = {name: getattr(self, name) for name in BUDGET_COLUMNS}
        return {name: limit for name, limit in limits.items() if limit is not None}

    def budget_excess(self, sizes: Mapping[str, Any]) -> dict[str, float]:
        """The relative excess ``size / limit - 1`` over each budget that is set.

        A value ``<= 0`` is within that budget. ``sizes`` holds logged entries
        (``untrimmed_params``, ``trimmed_macs``, ...); a budgeted size missing from
        it (or not a finite number) counts as over budget (``inf``).
        """
        excess = {}
        for name, limit in self.budgets.items():
            value = sizes.get(BUDGET_COLUMNS[name])
            try:
                size = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                size = math.nan
            excess[name] = size / limit - 1.0 if math.isfinite(size) else math.inf
        return excess

    def over_budget(self, sizes: Mapping[str, Any]) -> list[str]:
        """The names of the budgets ``sizes`` exceeds (empty: within every budget)."""
        return [name for name, excess in self.budget_excess(sizes).items() if excess > 0]

    @property
    def measures_deployment(self) -> bool:
        """Whether the size is measured on the trimmed model's LiteRT file."""
        return self.size in DEPLOYED_SIZES

    def score(
        self,
        logs: Mapping[str, Any],
        *,
        size_ratio: float = 1.0,
        active_outputs: float | None = None,
        n_outputs: int = 1,
    ) -> float:
        """Compute the score from the epoch logs and the measured parts.

        With size budgets, the sizes are read from ``logs`` (a budgeted size that
        is not there is not checked): over a budget, the score gains
        ``1e12 * (1 + the largest relative excess)``.
        """
        name = self.logged_metric if self.logged_metric in logs else self.metric
        value = float(logs[name])
        excess = 0.0
        if self.max_active_outputs is not None and active_outputs is not None:
            excess = max(0.0, active_outputs - self.max_active_outputs) / max(n_outputs, 1)
        if self.tradeoff == "sum":
            total = value if self.metric_direction == "min" else -value
            total += self.size_weight * size_ratio + self.sparsity_weight * excess
        else:
            total = self._product(value, size_ratio, 1.0 + self.sparsity_weight * excess)
        over = self.budget_excess({k: v for k, v in logs.items() if k in _BUDGETED})
        over = {name: value for name, value in over.items() if math.isfinite(value)}
        if over and max(over.values()) > 0:
            total += OVER_BUDGET_PENALTY * (1.0 + max(over.values()))
        return total if math.isfinite(total) else math.inf

    def _product(self, value: float, size_ratio: float, sparsity_factor: float) -> float:
        if value < 0:
            raise ValueError(
                f"regsearch.Objective(tradeoff='product') needs a metric >= 0; {self.metric!r} "
                f"is {value}. Use tradeoff='sum' for metrics that can be negative."
            )
        size_factor = max(size_ratio, _MIN_RATIO) ** self.size_weight
        if self.metric_direction == "min":
            return value * size_factor * sparsity_factor
        return -value / size_factor / sparsity_factor

    def get_config(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "direction": self.metric_direction,
            "size_weight": self.size_weight,
            "size": self.size,
            "max_active_outputs": self.max_active_outputs,
            "sparsity_weight": self.sparsity_weight,
            "tradeoff": self.tradeoff,
            **{name: getattr(self, name) for name in BUDGET_COLUMNS},
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Objective:
        return cls(**config)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Objective):
            return self.get_config() == other.get_config()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"regsearch.Objective({args})"

    __str__ = __repr__
