"""Failed trials: one clear error when every trial of a search failed.

keras-tuner ends a search quietly when fewer trials than its
``max_consecutive_failed_trials`` failed (the caller only learns of it when
``best_model`` finds nothing), and otherwise stops with a traceback of the last
failure only. A tuner with ``ReportsFailures`` ends both cases with one
``RuntimeError`` that quotes every distinct reason, through keras-tuner's public
hooks ``on_trial_end`` and ``on_search_end``:

- regsearch's own tuners inherit the mixin;
- ``RegSearchHyperModel.fit`` gives a stock keras-tuner tuner (``RandomSearch``,
  ``BayesianOptimization``, ...) the mixin with ``report_failures``, which
  changes the class of that one tuner instance (never the tuner class itself).
"""

from __future__ import annotations

from typing import Any

import keras_tuner
from keras_tuner.engine.trial import Trial

_ENDED = ("COMPLETED", "FAILED", "INVALID")


def failure_reason(message: str | None) -> str | None:
    """The last line of a failed trial's message (its error), or ``None`` without one."""
    if not message:
        return None
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else None


def failures_message(oracle: keras_tuner.Oracle) -> str | None:
    """The error text when every ended trial failed, quoting the reasons; else ``None``."""
    ended = [t for t in oracle.trials.values() if t.status in _ENDED]
    if not ended or any(t.status == "COMPLETED" for t in ended):
        return None
    reasons = sorted({r for t in ended if (r := failure_reason(t.message))})
    return f"Every trial of this search failed ({len(ended)} trials). Reasons: " + "; ".join(
        reasons
    )


def _stopped_for_failures(oracle: keras_tuner.Oracle) -> bool:
    """Whether the last ended trials reach the oracle's consecutive-failure limit."""
    limit = oracle.max_consecutive_failed_trials
    last = [oracle.trials[t].status for t in oracle.end_order[-limit:]]
    return len(last) == limit and all(status == "FAILED" for status in last)


class ReportsFailures:
    """A ``keras_tuner.Tuner`` mixin: a search where every trial failed ends with one error.

    Put it before the tuner class in the bases
    (``class MyTuner(ReportsFailures, keras_tuner.RandomSearch)``), or give one
    tuner instance the mixin with ``report_failures``. A distributed worker
    (its oracle is the chief's) is left alone: the trials are the chief's.

    Examples:
        >>> import keras_tuner
        >>> from regsearch.search._failures import ReportsFailures
        >>> class MyTuner(ReportsFailures, keras_tuner.RandomSearch):
        ...     pass
    """

    oracle: Any

    def on_trial_end(self, trial: Trial) -> None:
        try:
            super().on_trial_end(trial)  # type: ignore[misc]
        except RuntimeError as error:
            # keras-tuner's oracle raises when max_consecutive_failed_trials failed in a row.
            local = isinstance(self.oracle, keras_tuner.Oracle)
            if not local or not _stopped_for_failures(self.oracle):
                raise
            message = failures_message(self.oracle)
            if message is None:
                raise
            raise RuntimeError(
                f"{message} (the search stopped after "
                f"{self.oracle.max_consecutive_failed_trials} consecutive failures)"
            ) from error

    def on_search_end(self) -> None:
        super().on_search_end()  # type: ignore[misc]
        if isinstance(self.oracle, keras_tuner.Oracle):
            message = failures_message(self.oracle)
            if message is not None:
                raise RuntimeError(message)


_WITH_MIXIN: dict[type, type] = {}


def report_failures(tuner: keras_tuner.Tuner) -> keras_tuner.Tuner:
    """Give this one ``tuner`` the ``ReportsFailures`` behaviour; return it.

    The instance's class becomes a subclass of its class with the mixin (one
    subclass per tuner class, cached, with the same name), so ``isinstance``
    checks and everything else about the tuner stay as they were; other
    instances of the class are untouched. A tuner that has the mixin already is
    returned as it is.
    """
    cls = type(tuner)
    if not issubclass(cls, ReportsFailures):
        if cls not in _WITH_MIXIN:
            _WITH_MIXIN[cls] = type(
                cls.__name__,
                (ReportsFailures, cls),
                {"__qualname__": cls.__qualname__, "__module__": cls.__module__},
            )
        tuner.__class__ = _WITH_MIXIN[cls]
    return tuner
