"""The per-epoch callback that writes ``score`` and its parts into the logs."""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import weakref
from typing import Any

import keras
from keras_tuner.errors import FailedTrialError

from regsearch.deploy import DeploymentCost, deployment_cost
from regsearch.search._objective import BUDGET_EXCESS, Objective
from regsearch.trimming import EmptiedLayerError, TrimmedSize, snap_to_zero, trim, trimmed_size

# What identifies a trimmed architecture: per layer, its kernel, filters and parameters.
Architecture = tuple[tuple[str, tuple[int, ...] | None, int | None, int], ...]


@dataclasses.dataclass(frozen=True)
class Collapse:
    """Every output channel of ``layer`` counted as zero at the end of ``epoch`` (1-based)."""

    layer: str
    epoch: int

    def __str__(self) -> str:
        return f"layer {self.layer!r} emptied at epoch {self.epoch}"

    def message(self) -> str:
        """The trial message that records the collapse (``from_message`` reads it back)."""
        return f"Collapsed: {self} (every output channel counted as zero); the trial stopped there."

    @classmethod
    def from_message(cls, message: str | None) -> Collapse | None:
        """The collapse a trial message records, or ``None``."""
        match = _MESSAGE.match(message or "")
        if match is None:
            return None
        return cls(ast.literal_eval(match.group(1)), int(match.group(2)))


_MESSAGE = re.compile(
    r"Collapsed: layer ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\") emptied at epoch (\d+)"
)


# The collapse of each model a ScoreCallback stopped, for the code that ran its fit.
_COLLAPSES: weakref.WeakKeyDictionary[keras.Model, Collapse] = weakref.WeakKeyDictionary()


def collapse_of(model: keras.Model) -> Collapse | None:
    """How ``model``'s last ``fit`` with a ``ScoreCallback`` collapsed, or ``None``."""
    return _COLLAPSES.get(model)


def architecture(size: TrimmedSize) -> Architecture:
    """The trimmed architecture ``size`` describes (equal for models of equal cost)."""
    return tuple(
        (layer.name, layer.kernel_after, layer.filters_after, layer.params_after)
        for layer in size.layers
    )


class ScoreCallback(keras.callbacks.Callback):
    """Write ``score``, ``trimmed_params``, ``trimmed_macs``, ``size_ratio`` into logs.

    It also writes ``untrimmed_params`` and ``untrimmed_macs``, the size of the
    model as it trains (before trimming), and, when the objective sets a size
    budget (``Objective(max_params=...)`` and the like), ``budget_excess``: the
    largest relative excess over the budgets (``<= 0``: within every budget).

    With ``Objective(size="latency")`` or ``size="file_bytes"`` it also writes
    ``latency_ms`` and ``file_bytes``: the ``regsearch.deployment_cost`` of the
    trimmed model, measured once per trimmed architecture (see
    ``regsearch.Objective``).

    Before every validation pass inside ``fit`` it sets the kernel weights that
    count as zero for trimming to exactly zero, so the validation metrics are those
    of the trimmed model: the size a trial reports is the size
    ``regsearch.trim`` delivers, at the validation loss it reports. A training
    loss that turns NaN or infinite ends the trial at once as failed
    (``keras_tuner.errors.FailedTrialError``), with the epoch and batch.

    An epoch that ends with every output channel of some layer counting as zero
    (a penalty emptied the layer, so ``regsearch.trim`` refuses the model) is a
    collapse: the epoch is scored without size credit and training stops there
    (``model.stop_training``). ``RegSearchHyperModel`` records it on the trial
    (``regsearch.results`` shows it as ``status == "COLLAPSED"``).

    Args:
        objective: The ``regsearch.Objective`` that defines the score.
        trim_threshold: Weights with ``|w| <= trim_threshold`` count as zero.
        relative: Interpret ``trim_threshold`` relative to each layer's largest
            ``|w|``.
        n_outputs: The number of model outputs per sample (for the sparsity term).
        reference: ``(params, MACs)`` that ``size_ratio`` divides by; ``None``: the
            model's own untrimmed size when training starts. ``RegSearchHyperModel``
            passes the size of the model it built the trial from (before a
            ``SearchSpace`` width or kernel size resized it), so a narrower trial
            gets credit for being narrower, and a trial whose fine-tuning starts
            with a layer emptied is scored rather than failed.
        deployment_reference: The ``DeploymentCost`` that a ``"latency"`` or
            ``"file_bytes"`` size divides by; ``None``: the model's own untrimmed
            cost, measured at the first epoch end.
        measure_deployment: Measure the trimmed model's deployment cost. ``False``
            logs ``deployment_reference``'s cost at ratio 1 (no size credit):
            ``RegSearchHyperModel`` passes it for the penalized epochs of a
            fine-tuned trial, which keras-tuner never sees.
    """

    def __init__(
        self,
        objective: Objective,
        *,
        trim_threshold: float = 1e-3,
        relative: bool = False,
        n_outputs: int = 1,
        reference: tuple[int, int] | None = None,
        deployment_reference: DeploymentCost | None = None,
        measure_deployment: bool = True,
    ) -> None:
        super().__init__()
        self.reference = reference
        self.deployment_reference = deployment_reference
        self.measure_deployment = measure_deployment
        self._costs: dict[Architecture, DeploymentCost] = {}
        self.objective = objective
        self.trim_threshold = trim_threshold
        self.relative = relative
        self.n_outputs = n_outputs
        self._in_fit = False
        self._snapped_this_epoch = False
        self._epoch = 0
        self._before = (0, 0)  # the (params, MACs) size_ratio divides by; set at train begin
        # the model's own (params, MACs), measured when training begins and at every epoch
        self._untrimmed: tuple[int, int] | None = None

    def _snap(self) -> None:
        snap_to_zero(self.model, self.trim_threshold, relative=self.relative)
        self._snapped_this_epoch = True

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = True
        _COLLAPSES.pop(self.model, None)
        try:
            size = trimmed_size(self.model, self.trim_threshold, relative=self.relative)
        except ValueError as error:  # e.g. a layer initialized to all zeros
            if self.reference is None:
                raise FailedTrialError(
                    f"The model cannot be measured for trimming: {error}"
                ) from error
            # measured against the reference; it collapses at its first epoch
        else:
            self._untrimmed = (size.params_before, size.macs_before)
        self._before = self.reference or self._untrimmed or (0, 0)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._snapped_this_epoch = False

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._in_fit:
            self._snap()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise FailedTrialError(
                f"The training loss became {float(loss)} at epoch {self._epoch + 1}, "
                f"batch {batch + 1}; the trial was stopped. A smaller regularizer strength "
                f"or learning rate usually avoids this."
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        if not self._snapped_this_epoch:  # no validation pass this epoch
            self._snap()
        size_ratio = self._log_sizes(logs)
        logs["size_ratio"] = float(size_ratio)
        if self.objective.budgets:
            logs[BUDGET_EXCESS] = max(self.objective.budget_excess(logs).values())
        active = None
        if self.objective.measures_outputs:
            key = "val_active_outputs" if "val_active_outputs" in logs else "active_outputs"
            active = logs.get(key)
            if active is not None:
                logs["active_outputs"] = float(active)
        name = self.objective.logged_metric
        if name not in logs and self.objective.metric not in logs:
            raise ValueError(
                f"The objective metric {self.objective.metric!r} is not in the epoch logs. "
                f"Logged metrics: {sorted(logs)}."
            )
        logs["score"] = self.objective.score(
            logs,
            size_ratio=size_ratio,
            active_outputs=None if active is None else float(active),
            n_outputs=self.n_outputs,
        )

    def _log_sizes(self, logs: dict[str, Any]) -> float:
        """Log the trimmed sizes (and deployment costs); return the objective's size ratio."""
        size: TrimmedSize | None = None
        try:
            size = trimmed_size(self.model, self.trim_threshold, relative=self.relative)
            params, macs = size.params, size.macs
            self._untrimmed = (size.params_before, size.macs_before)
        except ValueError as error:
            # Every filter of some layer counts as zero: the model computes a constant
            # there and trim() refuses it. Such a trial keeps its (poor) metric and
            # gets no size credit, rather than failing, and trains no further.
            if isinstance(error, EmptiedLayerError):
                _COLLAPSES[self.model] = Collapse(error.layer, self._epoch + 1)
                self.model.stop_training = True
            params, macs = self._before
        untrimmed_params, untrimmed_macs = self._untrimmed or (self.model.count_params(), macs)
        logs["trimmed_params"] = float(params)
        logs["trimmed_macs"] = float(macs)
        logs["untrimmed_params"] = float(untrimmed_params)
        logs["untrimmed_macs"] = float(untrimmed_macs)
        if self.objective.measures_deployment:
            return self._deployment_ratio(size, logs)
        before = self._before[0] if self.objective.size == "params" else self._before[1]
        after = params if self.objective.size == "params" else macs
        return after / before if before else 1.0

    def _deployment_ratio(self, size: TrimmedSize | None, logs: dict[str, Any]) -> float:
        """Log ``latency_ms`` and ``file_bytes``; return the objective's size ratio."""
        if self.deployment_reference is None:
            self.deployment_reference = deployment_cost(self.model)
        reference = cost = self.deployment_reference
        if size is not None and self.measure_deployment:
            cost = self._measured(size)
        logs["latency_ms"] = float(cost.latency_ms)
        logs["file_bytes"] = float(cost.file_bytes)
        if self.objective.size == "latency":
            return cost.latency_ms / reference.latency_ms
        return cost.file_bytes / reference.file_bytes

    def _measured(self, size: TrimmedSize) -> DeploymentCost:
        """The deployment cost of the model trimmed as ``size`` says, once per architecture."""
        key = architecture(size)
        if key not in self._costs:
            trimmed, _ = trim(self.model, self.trim_threshold, relative=self.relative)
            try:
                self._costs[key] = deployment_cost(trimmed)
            except Exception as error:  # the converter's own errors have no common base
                raise FailedTrialError(
                    f"The trimmed model could not be measured in LiteRT at epoch "
                    f"{self._epoch + 1}: {error}"
                ) from error
        return self._costs[key]
