"""``TrialProgress``: one line per finished trial of a search."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import keras

from regsearch.search._objective import BUDGET_EXCESS
from regsearch.search._score import collapse_of


class TrialProgress(keras.callbacks.Callback):
    """Print one line per finished trial: its metric and trimmed size at its best epoch.

    A trial whose penalties emptied a layer ends its line with
    ``collapsed: layer 'conv1' emptied at epoch 2``; a trial whose best epoch is
    over a size budget of the ``regsearch.Objective`` (``max_params`` and the
    like) with ``over budget by 23%`` (its ``budget_excess``).

    Pass it to ``tuner.search(callbacks=[...])``. keras-tuner copies callbacks for
    every trial; the copies share one counter, so the lines are numbered.

    Args:
        metric: The metric to print, e.g. ``"val_accuracy"``.
        total: The number of trials, printed as "trial 3 of ``total``".
        size: The size to print: ``"trimmed_macs"`` or ``"trimmed_params"``.
        stream: Where to print; ``sys.stdout`` by default.

    Examples:
        >>> import regsearch
        >>> progress = regsearch.search.TrialProgress("val_accuracy", total=8)
    """

    def __init__(
        self,
        metric: str,
        *,
        total: int | None = None,
        size: str = "trimmed_macs",
        stream: TextIO | None = None,
    ) -> None:
        super().__init__()
        self.metric = metric
        self.total = total
        self.size = size
        self.stream = stream
        self._shared: dict[str, Any] = {"done": 0, "started": time.perf_counter()}
        self._best: dict[str, float] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> TrialProgress:
        copy = TrialProgress(self.metric, total=self.total, size=self.size, stream=self.stream)
        copy._shared = self._shared
        return copy

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._best = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        score = logs.get("score")
        if score is not None and (self._best is None or score < self._best["score"]):
            self._best = {k: float(v) for k, v in logs.items() if _is_number(v)}

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._shared["done"] += 1
        of = f" of {self.total}" if self.total else ""
        elapsed = time.perf_counter() - self._shared["started"]
        head = f"trial {self._shared['done']:>2}{of}:"
        best = self._best
        if best is None:
            line = f"{head} no score logged"
        else:
            value = best.get(self.metric, math.nan)
            size = best.get(self.size, math.nan)
            size_text = f"{int(size):,}" if math.isfinite(size) else "?"
            line = f"{head} {self.metric} {value:.4f}  {self.size} {size_text}"
        excess = math.nan if best is None else best.get(BUDGET_EXCESS, math.nan)
        if excess > 0:
            line = f"{line}  over budget by {excess:.0%}"
        collapse = collapse_of(self.model)
        if collapse is not None:
            line = f"{line}  collapsed: {collapse}"
        print(f"{line}  ({elapsed:.0f} s)", file=self.stream or sys.stdout, flush=True)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
